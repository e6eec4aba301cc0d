//! Who takes in whose records ([`crate::group::policy`]), over random
//! groups: three to five companies with random receive sets and companies
//! kept out, a random connected topology (so records relay through members
//! that may keep their creator out), random writes from every company, pulls
//! along random links, and authorisations given midway (each resets the
//! company's checkpoints, as the rescan a running node is told of does).
//! Real redb stores, the real serve and pull, requests and answers encoded
//! as on the wire; no network, no processes, no sleeps.
//!
//! Once every link has been walked both ways until nothing moves, for every
//! link Y → X and every document Y holds of a category X receives:
//! - if X holds the record, or takes in one of its creators, X holds the
//!   document with exactly Y's heads: every edit, by anyone, arrived (an
//!   authorised company's edit is never frozen behind another's), and two
//!   companies with the same policy hold the same record;
//! - otherwise X holds none of it and lists the record as withheld, with
//!   its creators.
//!
//! And every record X holds was created by a company X takes in (itself
//! included).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use elo_crdt::{ChangeHash, DocId, Kind, Sharing};
use elo_net::PeerId;
use elo_net::protocol::{RequestBody, ResponseBody};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::error::PullError;
use super::link::Link;
use super::log::Source;
use super::pull::pull_records;
use super::serve::{self, Serving};
use super::tests::TestNode;
use crate::group::{Authorizations, Member, ReceivePolicy, Roster};
use crate::store::StoreHandle;

const COMPANIES: [&str; 5] = [
    "11222333000181",
    "11444777000161",
    "45723174000110",
    "33000167000101",
    "60701190000104",
];

/// The receive sets a company may have: everything, or a part of it (a
/// main category without its parts, or parts with their records).
const RECEIVES: [&str; 4] = [
    "all",
    "customers,credit_limit",
    "products,sale_price",
    "customers,products",
];

const SKUS: [&str; 3] = ["SKU-A", "SKU-B", "SKU-C"];
const CPFS: [&str; 3] = ["52998224725", "11144477735", "39053344705"];

/// The group as the test sees it: every member record, shared by the
/// serving side of every link (the sender's view of the roster).
type Members = Arc<Mutex<Vec<Member>>>;

fn members_now(members: &Members) -> Vec<Member> {
    members.lock().expect("members").clone()
}

/// One link's asking side: the request goes through the wire encoding to
/// the member's real `serve::answer`, with the roster as it is now.
#[derive(Clone)]
struct DirectLink {
    asker: PeerId,
    member: PeerId,
    serving: Serving,
    members: Members,
}

impl Link for DirectLink {
    async fn request(&self, _peer: PeerId, body: RequestBody) -> Result<ResponseBody, PullError> {
        let bytes = cbor4ii::serde::to_vec(Vec::new(), &body)
            .map_err(|e| PullError::Link(e.to_string()))?;
        let body: RequestBody =
            cbor4ii::serde::from_slice(&bytes).map_err(|e| PullError::Link(e.to_string()))?;
        let roster = Roster::new(self.member, &members_now(&self.members));
        let answer = serve::answer(&self.serving, &roster, self.asker, body).await;
        let bytes = cbor4ii::serde::to_vec(Vec::new(), &answer)
            .map_err(|e| PullError::Link(e.to_string()))?;
        match cbor4ii::serde::from_slice::<ResponseBody>(&bytes) {
            Ok(ResponseBody::Refused { reason }) => Err(PullError::Refused(reason)),
            Ok(body) => Ok(body),
            Err(e) => Err(PullError::Link(format!("undecodable answer: {e}"))),
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    /// Company `node` sets field `field` of record `record` to `value`
    /// (creating the record when it holds none of it).
    Write {
        node: usize,
        record: usize,
        field: usize,
        value: u8,
    },
    /// One end of link `link` walks the other's log.
    Pull { link: usize, reverse: bool },
    /// Company `node` takes in what company `other` creates, from now on.
    Authorize { node: usize, other: usize },
}

#[derive(Clone, Debug)]
struct Case {
    n: usize,
    receives: Vec<usize>,
    /// `keeps_out[i][j]`: company i keeps company j out.
    keeps_out: Vec<Vec<bool>>,
    links: Vec<(usize, usize)>,
    steps: Vec<Step>,
}

fn step(n: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0..n, 0..6usize, 0..3usize, any::<u8>()).prop_map(|(node, record, field, value)| {
            Step::Write { node, record, field, value }
        }),
        5 => (0..16usize, any::<bool>()).prop_map(|(link, reverse)| Step::Pull { link, reverse }),
        1 => (0..n, 0..n).prop_map(|(node, other)| Step::Authorize { node, other }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (3usize..=5)
        .prop_flat_map(|n| {
            (
                Just(n),
                proptest::collection::vec(0..RECEIVES.len(), n),
                proptest::collection::vec(
                    proptest::collection::vec(proptest::bool::weighted(0.35), n),
                    n,
                ),
                // A spanning tree (each company linked to one before it)
                // and a few more links.
                proptest::collection::vec(any::<proptest::sample::Index>(), n - 1),
                proptest::collection::vec((0..n, 0..n), 0..3),
                proptest::collection::vec(step(n), 10..40),
            )
        })
        .prop_map(|(n, receives, keeps_out, parents, extra, steps)| {
            let mut links: Vec<(usize, usize)> =
                (1..n).map(|i| (parents[i - 1].index(i), i)).collect();
            for (a, b) in extra {
                let (a, b) = (a.min(b), a.max(b));
                if a != b && !links.contains(&(a, b)) {
                    links.push((a, b));
                }
            }
            Case {
                n,
                receives,
                keeps_out,
                links,
                steps,
            }
        })
}

/// The record a write names, and the body that writes it.
fn write_body(record: usize, field: usize, value: u8) -> (Kind, Value) {
    if record < SKUS.len() {
        let sku = SKUS[record];
        let body = match field {
            0 => json!({ "sku": sku, "description": format!("Parafuso {value}") }),
            _ => json!({ "sku": sku, "sale_price": format!("{value}.50") }),
        };
        (Kind::Product, body)
    } else {
        let cpf = CPFS[record - SKUS.len()];
        let body = match field {
            0 => json!({ "cpf": cpf, "name": format!("Cliente {value}") }),
            1 => json!({ "cpf": cpf, "credit_limit": format!("{value}00.00") }),
            _ => json!({ "cpf": cpf, "city": format!("Cidade {value}") }),
        };
        (Kind::Customer, body)
    }
}

/// Every document a store holds, with its heads.
async fn documents(store: &StoreHandle) -> BTreeMap<String, HashSet<ChangeHash>> {
    store
        .changes_since(0, 100_000)
        .await
        .expect("change log")
        .into_iter()
        .map(|e| (e.id, e.heads.into_iter().collect()))
        .collect()
}

struct Group {
    nodes: Vec<TestNode>,
    members: Members,
}

impl Group {
    fn open(case: &Case) -> Group {
        let nodes: Vec<TestNode> = COMPANIES[..case.n]
            .iter()
            .map(|c| TestNode::open(c))
            .collect();
        let members = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let mut authorizes = Authorizations::default();
                for (j, other) in nodes.iter().enumerate() {
                    if i != j && case.keeps_out[i][j] {
                        authorizes.revoke(&other.cnpj);
                    }
                }
                Member {
                    cnpj: node.cnpj.clone(),
                    name: format!("Empresa {i}"),
                    peer_id: Some(node.peer),
                    addresses: Vec::new(),
                    sends: Sharing::all(),
                    receives: Sharing::parse(RECEIVES[case.receives[i]]).expect("receive set"),
                    authorizes,
                }
            })
            .collect();
        Group {
            nodes,
            members: Arc::new(Mutex::new(members)),
        }
    }

    fn policy_of(&self, i: usize) -> ReceivePolicy {
        Roster::new(self.nodes[i].peer, &members_now(&self.members)).receive_policy()
    }

    /// Company `node` takes in what company `other` creates, and walks its
    /// members' logs again, as the rescan it is told of makes it do.
    async fn authorize(&self, node: usize, other: usize) {
        let cnpj = self.nodes[other].cnpj.clone();
        self.members.lock().expect("members")[node]
            .authorizes
            .grant(cnpj, Sharing::all());
        self.nodes[node]
            .store
            .reset_checkpoints(None)
            .await
            .expect("reset");
    }

    /// Company `x` walks company `y`'s log; returns the documents stored.
    async fn pull(&self, x: usize, y: usize) -> u64 {
        let (asker, member) = (&self.nodes[x], &self.nodes[y]);
        let link = DirectLink {
            asker: asker.peer,
            member: member.peer,
            serving: Serving {
                store: member.store.clone(),
                group: "grupo-teste".into(),
                company: member.cnpj.clone(),
            },
            members: self.members.clone(),
        };
        let source = Source::new(&link, &asker.store, member.peer, &self.policy_of(x));
        pull_records(&source, &member.cnpj, |_| {})
            .await
            .expect("a walk between two healthy stores")
    }

    async fn run(&self, case: &Case) {
        self.run_steps(case).await;
        self.settle(case).await;
    }

    async fn run_steps(&self, case: &Case) {
        for s in &case.steps {
            match *s {
                Step::Write {
                    node,
                    record,
                    field,
                    value,
                } => {
                    let (kind, mut body) = write_body(record, field, value);
                    let store = &self.nodes[node].store;
                    let id = elo_crdt::RecordPatch::from_json(kind, &body)
                        .and_then(|p| p.doc_id(kind))
                        .expect("the test's keys are valid");
                    if store.get(id).await.expect("read").is_none() {
                        // A new record needs its required field.
                        let (_, required) = write_body(record, 0, value);
                        for (k, v) in required.as_object().expect("object") {
                            body[k] = v.clone();
                        }
                    }
                    crate::records::put(store, kind, None, &body, false)
                        .await
                        .expect("a valid write");
                }
                Step::Pull { link, reverse } => {
                    let (a, b) = case.links[link % case.links.len()];
                    let (x, y) = if reverse { (b, a) } else { (a, b) };
                    self.pull(x, y).await;
                }
                Step::Authorize { node, other } if node != other => {
                    self.authorize(node, other).await;
                }
                Step::Authorize { .. } => {}
            }
        }
    }

    /// Walks every link both ways until nothing moves.
    async fn settle(&self, case: &Case) {
        for _ in 0..4 * case.n {
            let mut moved = 0;
            for &(a, b) in &case.links {
                moved += self.pull(a, b).await + self.pull(b, a).await;
            }
            if moved == 0 {
                return;
            }
        }
        panic!("the group did not settle");
    }

    /// Whether company `x`'s copy of a document has every change of `y`'s.
    async fn holds_all_of(&self, x: usize, y: usize, id: &str) -> bool {
        let whole = |node: usize| {
            let store = self.nodes[node].store.clone();
            let id = id.to_owned();
            async move {
                match store
                    .docs_for_peer(vec![(id, Vec::new())])
                    .await
                    .expect("read")
                    .pop()
                {
                    Some((_, elo_crdt::DocPayload::Whole(bytes))) => bytes,
                    other => panic!("a held document comes whole: {other:?}"),
                }
            }
        };
        let doc = DocId::parse(id).expect("id");
        let mut mine = elo_crdt::RecordDoc::load(&whole(x).await, b"test", &doc).expect("load");
        let before: HashSet<ChangeHash> = mine.heads().into_iter().collect();
        mine.merge_bytes(&whole(y).await).expect("merge");
        before == mine.heads().into_iter().collect()
    }

    /// The checks of the module's doc; the first one broken, if any.
    async fn broken(&self, case: &Case) -> Option<String> {
        let mut held = Vec::new();
        let mut withheld = Vec::new();
        for node in &self.nodes {
            held.push(documents(&node.store).await);
            let ids: HashSet<String> = node
                .store
                .withheld()
                .await
                .expect("withheld")
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            withheld.push(ids);
        }
        for &(a, b) in &case.links {
            for (x, y) in [(a, b), (b, a)] {
                let policy = self.policy_of(x);
                for (id, heads) in &held[y] {
                    let doc = DocId::parse(id).expect("stored ids parse");
                    if !policy.covers_doc(&doc) {
                        continue;
                    }
                    let record = doc.record().to_string();
                    let origins = self.nodes[y]
                        .store
                        .origins_of(vec![id.clone()])
                        .await
                        .expect("origins")
                        .remove(0)
                        .unwrap_or_default();
                    let takes = held[x].contains_key(&record) || policy.takes(&doc, &origins);
                    let here = held[x].get(id);
                    // Y may not receive what X holds (it wrote a category it
                    // does not receive): then X must hold all of Y's.
                    let both_ways = self.policy_of(y).covers_doc(&doc);
                    let contained = match here {
                        Some(_) if !both_ways => self.holds_all_of(x, y, id).await,
                        here => here == Some(heads),
                    };
                    if takes && !contained {
                        return Some(format!(
                            "{id} (created by {origins:?}) differs between company {y} and company {x}, which takes it in"
                        ));
                    }
                    if !takes && here.is_some() {
                        return Some(format!(
                            "company {x} holds {id}, created by {origins:?}, which it keeps out"
                        ));
                    }
                    if !takes && doc.part_category().is_none() && !withheld[x].contains(id) {
                        return Some(format!(
                            "company {x} lacks {id} and does not list it as withheld"
                        ));
                    }
                }
            }
        }
        for (x, node) in self.nodes.iter().enumerate() {
            let policy = self.policy_of(x);
            let records: Vec<String> = held[x]
                .keys()
                .filter(|id| DocId::parse(id).is_some_and(|d| d.part_category().is_none()))
                .cloned()
                .collect();
            let origins = node
                .store
                .origins_of(records.clone())
                .await
                .expect("origins");
            for (id, origins) in records.iter().zip(origins) {
                let doc = DocId::parse(id).expect("id");
                let origins = origins.unwrap_or_default();
                if doc.kind() != Kind::Company && !policy.takes(&doc, &origins) {
                    return Some(format!(
                        "company {x} holds {id}, created by {origins:?}, which it keeps out"
                    ));
                }
            }
        }
        None
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_company_holds_whole_the_records_it_takes_in(case in case()) {
        let rt = runtime();
        let broken = rt.block_on(async {
            let group = Group::open(&case);
            group.run(&case).await;
            group.broken(&case).await
        });
        prop_assert!(broken.is_none(), "{}", broken.unwrap_or_default());
    }
}

/// M (company 0), A (1) and B (2), everything received everywhere; A
/// keeps B out and reaches B only through M.
fn a_keeps_b_out(steps: Vec<Step>) -> Case {
    Case {
        n: 3,
        receives: vec![0, 0, 0],
        keeps_out: vec![vec![false; 3], vec![false, false, true], vec![false; 3]],
        links: vec![(0, 1), (0, 2)],
        steps,
    }
}

/// The scenario: M (the matriz), A and B; A keeps B out, and
/// reaches B only through M. M creates a customer, B edits it, M edits it
/// again on top: A holds every edit. B's own customer is listed at A as
/// withheld, with what to do, and arrives once A takes B in.
#[test]
fn an_edit_built_on_a_kept_out_companys_edit_still_arrives() {
    runtime().block_on(async {
        let case = a_keeps_b_out(Vec::new());
        let group = Group::open(&case);
        let (m, a, b) = (0, 1, 2);
        let write = |node: usize, body: Value| {
            let store = group.nodes[node].store.clone();
            async move {
                crate::records::put(&store, Kind::Customer, None, &body, false)
                    .await
                    .expect("write");
            }
        };
        write(
            m,
            json!({"cpf": "52998224725", "name": "Ana", "city": "Natal"}),
        )
        .await;
        group.pull(b, m).await;
        write(
            b,
            json!({"cpf": "52998224725", "mobile_phone": "84999990000"}),
        )
        .await;
        write(b, json!({"cpf": "11144477735", "name": "Bruno"})).await;
        group.pull(m, b).await;
        write(m, json!({"cpf": "52998224725", "city": "Recife"})).await;
        group.pull(a, m).await;

        let ana = DocId::from_key(Kind::Customer, "52998224725").expect("cpf");
        let at_a = group.nodes[a]
            .store
            .get(ana.clone())
            .await
            .expect("read")
            .expect("at A");
        let at_m = group.nodes[m]
            .store
            .get(ana)
            .await
            .expect("read")
            .expect("at M");
        assert_eq!(at_a.values, at_m.values, "A holds the record as M does");
        assert_eq!(
            at_a.values.get("city"),
            Some(&elo_crdt::FieldValue::Text("Recife".into()))
        );

        let bruno = DocId::from_key(Kind::Customer, "11144477735").expect("cpf");
        assert!(
            group.nodes[a]
                .store
                .get(bruno.clone())
                .await
                .expect("read")
                .is_none()
        );
        let withheld = crate::group::sharing::withheld(
            &group.nodes[a].store,
            &members_now(&group.members),
            &group.nodes[a].cnpj,
        )
        .await
        .expect("withheld");
        assert_eq!(withheld.len(), 1, "{withheld:?}");
        assert_eq!(withheld[0].company, group.nodes[b].cnpj);
        assert_eq!(withheld[0].examples, vec![bruno.to_string()]);
        assert!(
            withheld[0].what_to_do.contains("elo authorize --from"),
            "{withheld:?}"
        );

        // A takes B in: the rescan brings Bruno through M.
        group.authorize(a, b).await;
        group.pull(a, m).await;
        assert!(
            group.nodes[a]
                .store
                .get(bruno)
                .await
                .expect("read")
                .is_some()
        );
    });
}

/// The checks catch what they claim to: a copy that lost one change, a
/// record held against the policy, a record missing without a note.
#[test]
fn the_checks_fail_on_a_tampered_result() {
    runtime().block_on(async {
        let case = a_keeps_b_out(vec![
            Step::Write {
                node: 0,
                record: 3,
                field: 0,
                value: 1,
            },
            Step::Write {
                node: 2,
                record: 4,
                field: 0,
                value: 2,
            },
        ]);
        let group = Group::open(&case);
        group.run(&case).await;
        assert_eq!(group.broken(&case).await, None);

        // An edit at M that A never walks: A's copy lacks a change.
        crate::records::put(
            &group.nodes[0].store,
            Kind::Customer,
            None,
            &json!({"cpf": CPFS[0], "city": "Olinda"}),
            false,
        )
        .await
        .expect("write");
        let lost = group.broken(&case).await.unwrap_or_default();
        assert!(lost.contains("differs"), "{lost}");
        group.pull(1, 0).await;
        group.pull(2, 0).await;
        assert_eq!(group.broken(&case).await, None);

        // A walk left half done: A lacks B's record and has no note of it.
        let case = Case {
            steps: vec![case.steps[1].clone()],
            ..case
        };
        let again = Group::open(&case);
        again.run_steps(&case).await;
        again.pull(0, 2).await;
        let missing = again.broken(&case).await.unwrap_or_default();
        assert!(
            missing.contains("does not list it as withheld"),
            "{missing}"
        );
        again.settle(&case).await;
        assert_eq!(again.broken(&case).await, None);

        // A takes in B's record behind the policy's back.
        let a = &again.nodes[1].store;
        let bruno = DocId::from_key(Kind::Customer, CPFS[1]).expect("cpf");
        let sent = again.nodes[2]
            .store
            .docs_for_peer(vec![(bruno.to_string(), Vec::new())])
            .await
            .expect("read");
        let (_, payload) = sent.into_iter().next().expect("payload");
        let op = a
            .prepare_received(&bruno, payload, true, &again.nodes[2].cnpj)
            .expect("prepare")
            .expect("an op");
        a.write(vec![op]).await.expect("write");
        let held = again.broken(&case).await.unwrap_or_default();
        assert!(held.contains("keeps out"), "{held}");
    });
}

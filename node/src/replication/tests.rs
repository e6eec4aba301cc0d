//! Pull against serve in one process: real redb stores in temporary files,
//! requests and answers encoded as on the wire and carried over an
//! in-memory channel, no network, no spawned `elo`, no sleeps. A fault can
//! be set on a member's side of the channel: it stalls, answers garbage, or
//! refuses the Nth fetch.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use elo_crdt::{DocId, FieldValue, Kind, Sharing};
use elo_net::PeerId;
use elo_net::protocol::{RequestBody, ResponseBody};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::error::PullError;
use super::link::Link;
use super::log::Source;
use super::pull::pull_records;
use super::serve::{self, Serving};
use super::stock::pull_stock;
use crate::group::{Authorizations, Member, ReceivePolicy, Roster};
use crate::store::stock::StockEntry;
use crate::store::{ReplicatedLog, Store, StoreHandle};

/// How long the in-memory link waits for an answer (the network's request
/// timeout plays this part in a running node): long enough for a page of
/// 2,000 entries in a debug build on a loaded machine, short enough that
/// the stalled-answer test stays quick.
const ANSWER_WAIT: Duration = Duration::from_secs(2);

/// What a member's side of the channel does wrong, if anything.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    /// Never answers.
    Stall,
    /// Answers bytes that decode to nothing.
    Garbage,
    /// Refuses the fetch with this number (counted from 1), once.
    RefuseFetch(usize),
}

/// One company's node in the test: a real store and its roster.
pub(super) struct TestNode {
    pub peer: PeerId,
    pub cnpj: String,
    pub store: StoreHandle,
    _dir: tempfile::TempDir,
}

impl TestNode {
    pub(super) fn open(cnpj: &str) -> TestNode {
        let dir = tempfile::tempdir().expect("temporary directory");
        let keypair = elo_net::Keypair::generate_ed25519();
        let peer = keypair.public().to_peer_id();
        let store = Store::open(
            &dir.path().join("store.redb"),
            peer.to_bytes(),
            cnpj.to_owned(),
        )
        .expect("open store");
        TestNode {
            peer,
            cnpj: cnpj.to_owned(),
            store: StoreHandle::spawn(store),
            _dir: dir,
        }
    }
}

/// A member record that sends and receives everything and authorises all
/// the others.
pub(super) fn member(node: &TestNode, all: &[&TestNode]) -> Member {
    let mut authorizes = Authorizations::default();
    for other in all.iter().filter(|o| o.cnpj != node.cnpj) {
        authorizes.grant(other.cnpj.clone(), Sharing::all());
    }
    Member {
        cnpj: node.cnpj.clone(),
        name: format!("Empresa {}", node.cnpj),
        peer_id: Some(node.peer),
        addresses: Vec::new(),
        sends: Sharing::all(),
        receives: Sharing::all(),
        authorizes,
    }
}

pub(super) fn roster_of(local: &TestNode, members: &[Member]) -> Roster {
    Roster::new(local.peer, members)
}

/// A request in flight on the channel: who asks, the encoded request, where
/// the encoded answer goes.
type Envelope = (PeerId, Vec<u8>, oneshot::Sender<Vec<u8>>);

/// The asking side of a member's channel.
#[derive(Clone)]
struct MemoryLink {
    asker: PeerId,
    to: mpsc::UnboundedSender<Envelope>,
}

impl Link for MemoryLink {
    async fn request(&self, _peer: PeerId, body: RequestBody) -> Result<ResponseBody, PullError> {
        let bytes = cbor4ii::serde::to_vec(Vec::new(), &body)
            .map_err(|e| PullError::Link(e.to_string()))?;
        let (reply, answer) = oneshot::channel();
        self.to
            .send((self.asker, bytes, reply))
            .map_err(|_| PullError::Link("the member is gone".into()))?;
        let answer = tokio::time::timeout(ANSWER_WAIT, answer)
            .await
            .map_err(|_| PullError::Timeout(ANSWER_WAIT))?
            .map_err(|_| PullError::Link("the member hung up".into()))?;
        match cbor4ii::serde::from_slice::<ResponseBody>(&answer) {
            Ok(ResponseBody::Refused { reason }) => Err(PullError::Refused(reason)),
            Ok(body) => Ok(body),
            Err(e) => Err(PullError::Link(format!("undecodable answer: {e}"))),
        }
    }
}

/// A member's serving side: answers on its own task, as a node's request
/// tasks do, with the fault set (if any).
struct Server {
    fault: Arc<Mutex<Fault>>,
    fetches: Arc<AtomicUsize>,
    to: mpsc::UnboundedSender<Envelope>,
}

impl Server {
    fn start(node: &TestNode, roster: Roster) -> Server {
        let (to, mut requests) = mpsc::unbounded_channel::<Envelope>();
        let fault = Arc::new(Mutex::new(Fault::None));
        let fetches = Arc::new(AtomicUsize::new(0));
        let serving = Serving {
            store: node.store.clone(),
            group: "grupo-teste".into(),
            company: node.cnpj.clone(),
        };
        let (f, n) = (fault.clone(), fetches.clone());
        tokio::spawn(async move {
            let mut stalled = Vec::new();
            while let Some((asker, bytes, reply)) = requests.recv().await {
                let fault = *f.lock().expect("fault");
                let body: RequestBody =
                    cbor4ii::serde::from_slice(&bytes).expect("the puller encodes its requests");
                let is_fetch = matches!(body, RequestBody::Fetch { .. });
                let nth = if is_fetch {
                    n.fetch_add(1, Ordering::SeqCst) + 1
                } else {
                    0
                };
                let answer = match fault {
                    Fault::Stall => {
                        stalled.push(reply);
                        continue;
                    }
                    Fault::Garbage => vec![0xff, 0x00, 0x13, 0x37],
                    Fault::RefuseFetch(k) if is_fetch && nth == k => {
                        let refused = ResponseBody::Refused {
                            reason: "refused for the test".into(),
                        };
                        cbor4ii::serde::to_vec(Vec::new(), &refused).expect("encode")
                    }
                    _ => {
                        let answer = serve::answer(&serving, &roster, asker, body).await;
                        cbor4ii::serde::to_vec(Vec::new(), &answer).expect("encode")
                    }
                };
                let _ = reply.send(answer);
            }
        });
        Server { fault, fetches, to }
    }

    fn link_for(&self, asker: &TestNode) -> MemoryLink {
        MemoryLink {
            asker: asker.peer,
            to: self.to.clone(),
        }
    }

    fn set_fault(&self, fault: Fault) {
        *self.fault.lock().expect("fault") = fault;
    }
}

fn product(i: usize) -> serde_json::Value {
    json!({ "sku": format!("SKU-{i:05}"), "description": format!("Parafuso {i}"),
        "sale_price": format!("{}.{:02}", 1 + i % 90, i % 100) })
}

pub(super) async fn write_products(node: &TestNode, from: usize, to: usize) {
    let rows: Vec<_> = (from..to).map(product).collect();
    for chunk in rows.chunks(1000) {
        let report = crate::records::put_many(&node.store, Kind::Product, chunk)
            .await
            .expect("store products");
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    }
}

pub(super) async fn product_at(node: &TestNode, i: usize) -> Option<elo_crdt::Record> {
    let id = DocId::from_key(Kind::Product, &format!("SKU-{i:05}")).expect("sku");
    node.store.get(id).await.expect("read")
}

/// Two companies, A serving B, A holding `products` products.
struct Pair {
    a: TestNode,
    b: TestNode,
    served: Server,
    link: MemoryLink,
}

async fn pair(products: usize) -> Pair {
    let (a, b) = (
        TestNode::open("11222333000181"),
        TestNode::open("11444777000161"),
    );
    let members = vec![member(&a, &[&a, &b]), member(&b, &[&a, &b])];
    write_products(&a, 0, products).await;
    let served = Server::start(&a, roster_of(&a, &members));
    let link = served.link_for(&b);
    Pair { a, b, served, link }
}

async fn pull(
    link: &MemoryLink,
    node: &TestNode,
    from: &TestNode,
    policy: &ReceivePolicy,
) -> Result<u64, PullError> {
    pull_records(
        &Source::new(link, &node.store, from.peer, policy),
        &from.cnpj,
        |_| {},
    )
    .await
}

pub(super) async fn checkpoint(node: &TestNode, of: &TestNode, log: ReplicatedLog) -> u64 {
    node.store
        .checkpoint(log, of.peer.to_string())
        .await
        .expect("checkpoint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_relay_from_one_member_through_another() {
    let (a, b, c) = (
        TestNode::open("11222333000181"),
        TestNode::open("11444777000161"),
        TestNode::open("45723174000110"),
    );
    let members: Vec<Member> = [&a, &b, &c]
        .iter()
        .map(|n| member(n, &[&a, &b, &c]))
        .collect();
    // More than one page of A's change log (2,000 entries a page).
    write_products(&a, 0, 1_500).await;
    let served_a = Server::start(&a, roster_of(&a, &members));
    let served_b = Server::start(&b, roster_of(&b, &members));
    let everything = ReceivePolicy::everything();

    let got = pull(&served_a.link_for(&b), &b, &a, &everything)
        .await
        .expect("B pulls from A");
    assert_eq!(got, 3_000, "1,500 products and their sale-price parts");
    // C cannot reach A: it gets A's records from B.
    pull(&served_b.link_for(&c), &c, &b, &everything)
        .await
        .expect("C pulls from B");
    for i in [0, 777, 1_499] {
        let at_a = product_at(&a, i).await.expect("at A");
        let at_c = product_at(&c, i).await.expect("relayed to C");
        assert_eq!(at_a.values, at_c.values, "product {i}");
    }
    assert_eq!(
        checkpoint(&b, &a, ReplicatedLog::Records).await,
        a.store.last_seq().await.expect("seq")
    );
    // A second walk finds nothing new and stores nothing.
    let again = pull(&served_a.link_for(&b), &b, &a, &everything)
        .await
        .expect("again");
    assert_eq!(again, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_never_passes_what_is_not_committed() {
    // 2,500 products are 5,000 documents: three pages, ten fetches.
    let Pair { a, b, served, link } = pair(2_500).await;
    let everything = ReceivePolicy::everything();
    // The seventh fetch (past the first page's four) is refused.
    served.set_fault(Fault::RefuseFetch(7));
    let failed = pull(&link, &b, &a, &everything).await;
    assert!(matches!(failed, Err(PullError::Refused(_))), "{failed:?}");
    let kept = checkpoint(&b, &a, ReplicatedLog::Records).await;
    assert!(
        kept > 0,
        "the first page was committed, its checkpoint kept"
    );
    assert!(kept < a.store.last_seq().await.expect("seq"));
    // Everything the checkpoint covers is stored here.
    let covered = a.store.changes_since(0, kept as usize).await.expect("log");
    for entry in covered.iter().filter(|e| e.seq <= kept) {
        let id = DocId::parse(&entry.id).expect("id");
        let here = b.store.heads_of(vec![id.to_string()]).await.expect("heads");
        assert!(
            here[0].is_some(),
            "{} is under the checkpoint but not here",
            entry.id
        );
    }
    // The retry picks up at the checkpoint and completes.
    served.set_fault(Fault::None);
    let fetches_before = served.fetches.load(Ordering::SeqCst);
    pull(&link, &b, &a, &everything).await.expect("retry");
    assert!(product_at(&b, 2_499).await.is_some());
    assert_eq!(
        checkpoint(&b, &a, ReplicatedLog::Records).await,
        a.store.last_seq().await.expect("seq")
    );
    let refetched = served.fetches.load(Ordering::SeqCst) - fetches_before;
    assert!(
        refetched < 10,
        "the retry started from the checkpoint, not from the start ({refetched} fetches)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_or_garbage_answer_fails_one_pull_and_the_next_succeeds() {
    let Pair { a, b, served, link } = pair(10).await;
    let everything = ReceivePolicy::everything();

    served.set_fault(Fault::Stall);
    let stalled = pull(&link, &b, &a, &everything).await;
    assert!(matches!(stalled, Err(PullError::Timeout(_))), "{stalled:?}");
    served.set_fault(Fault::Garbage);
    let garbage = pull(&link, &b, &a, &everything).await;
    assert!(
        matches!(&garbage, Err(PullError::Link(m)) if m.contains("undecodable")),
        "{garbage:?}"
    );
    assert!(product_at(&b, 0).await.is_none(), "nothing half-stored");
    assert_eq!(checkpoint(&b, &a, ReplicatedLog::Records).await, 0);

    served.set_fault(Fault::None);
    assert_eq!(pull(&link, &b, &a, &everything).await.expect("retry"), 20);
    let p = product_at(&b, 3).await.expect("arrived");
    assert_eq!(
        p.values.get("description"),
        Some(&FieldValue::Text("Parafuso 3".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stock_log_has_its_own_checkpoint_and_keeps_the_newest_figures() {
    let Pair { a, b, link, .. } = pair(0).await;
    let figures = |qty: i64| -> Vec<StockEntry> {
        (0..3)
            .map(|i| StockEntry {
                sku: format!("SKU-{i:05}"),
                company: a.cnpj.clone(),
                deposit: String::new(),
                quantity: qty + i,
                reserved: 0,
                version: 0,
                updated_ms: 0,
            })
            .collect()
    };
    a.store.write_stock(figures(10), true).await.expect("stock");
    let everything = ReceivePolicy::everything();
    let got = pull_stock(&Source::new(&link, &b.store, a.peer, &everything), |_| {})
        .await
        .expect("stock pull");
    assert_eq!(got, 3);
    let first = checkpoint(&b, &a, ReplicatedLog::Stock).await;
    assert!(first > 0);
    assert_eq!(checkpoint(&b, &a, ReplicatedLog::Records).await, 0);

    a.store.write_stock(figures(20), true).await.expect("stock");
    pull_stock(&Source::new(&link, &b.store, a.peer, &everything), |_| {})
        .await
        .expect("again");
    assert!(checkpoint(&b, &a, ReplicatedLog::Stock).await > first);
    let held = b.store.stock_of("SKU-00002".into()).await.expect("read");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].quantity, 22, "the newest figure");

    // A member the sender serves, but which does not receive products,
    // drops the figures it is sent (the receiver's own check): the same
    // walk with every category takes them.
    let c = TestNode::open("45723174000110");
    let members: Vec<Member> = [&a, &b, &c]
        .iter()
        .map(|n| member(n, &[&a, &b, &c]))
        .collect();
    let serves_c = Server::start(&a, roster_of(&a, &members));
    let mut no_products = everything.clone();
    no_products.receives = Sharing::parse("customers").expect("sharing");
    let from_a = |policy| Source::new(&serves_c.link_for(&c), &c.store, a.peer, policy);
    let got = pull_stock(&from_a(&no_products), |_| {})
        .await
        .expect("pull");
    assert_eq!(got, 0);
    assert!(
        c.store
            .stock_of("SKU-00002".into())
            .await
            .expect("read")
            .is_empty()
    );
    c.store.reset_checkpoints(None).await.expect("walk again");
    let got = pull_stock(&from_a(&everything), |_| {})
        .await
        .expect("pull");
    assert_eq!(got, 3, "the sender did send them");
}

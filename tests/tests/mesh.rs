//! The mesh: real `elo node` processes replicating over libp2p on
//! 127.0.0.1. Create at one company, read at the others; edits made apart
//! converge; records relay along a line; a wrong key or an outsider gets
//! nothing; an invite works once; a restart resumes from its checkpoint.

use std::time::Duration;

use elo_tests::{Company, cnpj, digits, wait_until};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);
const UNIT: &str = r#"{"description":"Unidade"}"#;

/// Runs `elo join` for a new company in a fresh directory, expecting it to
/// be refused; returns its output and the directory's parent.
fn join_attempt(invite: &str, cnpj: &str) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(elo_tests::elo_bin())
        .arg("--data")
        .arg(dir.path().join("new"))
        .args(["join", invite, "--company", cnpj, "--name", "New"])
        .output()
        .unwrap();
    (out, dir)
}

#[test]
fn three_companies_replicate_and_converge_after_editing_apart() {
    let a = Company::init(&cnpj(1), "Matriz");
    let node_a = a.start_node();
    let b = Company::join(&node_a.invite(), &cnpj(2), "Filial B");
    let c = Company::join(&node_a.invite(), &cnpj(3), "Filial C");
    let node_b = b.start_node();
    let node_c = c.start_node();

    // Created at A, read at B and C.
    let put = node_a.put(
        "/v1/records/customer/52998224725",
        r#"{"name":"Ana","city":"Recife"}"#,
    );
    assert_eq!(put.status, 201);
    for (who, n) in [("B", &node_b), ("C", &node_c)] {
        let took = wait_until(&format!("customer at {who}"), LIMIT, || {
            n.record("customer", "52998224725").is_some()
        });
        assert!(took < Duration::from_secs(5), "{who} took {took:?}");
    }
    assert_eq!(
        node_c.record("customer", "52998224725").unwrap()["city"],
        "Recife"
    );

    // B's change feed tells its ERP which company the change came from.
    let feed = node_b.get("/v1/changes?since=0&limit=1000").body;
    let entry = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "customer/cpf:52998224725")
        .cloned()
        .unwrap();
    assert_eq!(entry["company"], digits(&cnpj(1)));

    // B stops; A and B edit different fields of the same customer; both add records.
    assert!(node_b.stop().success());
    assert_eq!(
        node_a
            .put(
                "/v1/records/customer/52998224725",
                r#"{"city":"Natal","state":"RN"}"#
            )
            .status,
        200
    );
    assert_eq!(
        node_a
            .put(
                "/v1/records/product/A-1",
                r#"{"description":"Feito na matriz"}"#
            )
            .status,
        201
    );
    let offline = b.elo(&[
        "put",
        "customer",
        r#"{"mobile_phone":"(84) 99999-1111"}"#,
        "--key",
        "52998224725",
    ]);
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    assert!(
        b.elo(&[
            "put",
            "product",
            r#"{"sku":"B-1","description":"Feito na filial"}"#
        ])
        .status
        .success()
    );

    // B restarts and everyone converges to the same fields.
    let node_b = b.start_node();
    let nodes = [&node_a, &node_b, &node_c];
    wait_until("convergence", LIMIT, || {
        nodes.iter().all(|n| {
            n.record("customer", "52998224725")
                .is_some_and(|r| r["city"] == "Natal" && r["mobile_phone"] == "(84) 99999-1111")
                && n.record("product", "A-1").is_some()
                && n.record("product", "B-1").is_some()
        })
    });
    let strip = |mut v: Value| {
        v.as_object_mut().map(|m| m.remove("seq"));
        v
    };
    let ra = strip(node_a.record("customer", "52998224725").unwrap());
    assert_eq!(ra, strip(node_b.record("customer", "52998224725").unwrap()));
    assert_eq!(ra, strip(node_c.record("customer", "52998224725").unwrap()));
    assert_eq!(ra["state"], "RN");

    // Every member sees the others connected, nothing behind.
    wait_until("status settles", LIMIT, || {
        let m = node_a.member(&digits(&cnpj(2)));
        m["connected"] == true && m["behind"] == 0
    });
}

#[test]
fn records_relay_along_a_line() {
    let a = Company::init(&cnpj(11), "A");
    let node_a = a.start_node();
    let b = Company::join(&node_a.invite(), &cnpj(12), "B");
    let node_b = b.start_node();
    let c = Company::join(&node_b.invite(), &cnpj(13), "C");
    // A and C dial nobody but B: the only path from A to C is through B.
    drop(node_a);
    let node_b_addr = node_b.p2p_addr();
    let node_a = a.start_node_with(&[
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--no-mdns",
        "--only-peers",
        "--peer",
        &node_b_addr,
    ]);
    let node_c = c.start_node_with(&[
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--no-mdns",
        "--only-peers",
        "--peer",
        &node_b_addr,
    ]);
    assert_eq!(
        node_a
            .put("/v1/records/unit/CX", r#"{"description":"Caixa"}"#)
            .status,
        201
    );
    wait_until("A's record at C through B", LIMIT, || {
        node_c.record("unit", "CX").is_some()
    });
    assert_eq!(
        node_c
            .put("/v1/records/unit/KG", r#"{"description":"Quilo"}"#)
            .status,
        201
    );
    // C joined through B: one invite is enough, A takes in C's records
    // with no step of its own, relayed by B.
    wait_until("C's record at A through B", LIMIT, || {
        node_a.record("unit", "KG").is_some()
    });
    assert_eq!(
        node_a.get("/v1/status").body["pending_authorizations"],
        serde_json::json!([])
    );
    // A and C never connected to each other.
    assert_eq!(node_a.member(&digits(&cnpj(13)))["connected"], false);
}

#[test]
fn an_invite_works_once() {
    let a = Company::init(&cnpj(21), "A");
    let node_a = a.start_node();
    let invite = node_a.invite();
    let _b = Company::join(&invite, &cnpj(22), "B");
    let (out, dir) = join_attempt(&invite, &cnpj(23));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already used"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dir.path().join("new").exists(),
        "a refused join leaves no half-made directory"
    );
    // A damaged invite is refused before any network use.
    let (out, _dir) = join_attempt(&invite[..invite.len() / 2], &cnpj(24));
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged"));
}

#[test]
fn a_join_with_no_reachable_member_names_the_addresses_it_tried() {
    let a = Company::init(&cnpj(31), "A");
    let node_a = a.start_node();
    let invite = node_a.invite();
    let addr = node_a.p2p_addr();
    drop(node_a);
    let (out, _dir) = join_attempt(&invite, &cnpj(32));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("could not reach") && err.contains(&addr),
        "{err}"
    );
}

#[test]
fn a_node_with_another_groups_key_gets_nothing_and_is_logged() {
    let a = Company::init(&cnpj(41), "A");
    let node_a = a.start_node();
    assert_eq!(node_a.put("/v1/records/unit/UN", UNIT).status, 201);
    let addr = node_a.p2p_addr();
    // Another group: its own key.
    let stranger = Company::init(&cnpj(42), "Stranger");
    let node_s = stranger.start_node_with(&[
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--no-mdns",
        "--peer",
        &addr,
    ]);
    wait_until("A logs the node of another group", LIMIT, || {
        a.log().contains("is of another group")
    });
    assert!(node_s.record("unit", "UN").is_none());
    assert_eq!(
        node_s.get("/v1/records/unit").body["records"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}

#[test]
fn a_restart_resumes_from_its_checkpoint() {
    let a = Company::init(&cnpj(51), "A");
    let node_a = a.start_node();
    for i in 0..50 {
        assert_eq!(
            node_a
                .put(
                    &format!("/v1/records/product/P-{i}"),
                    r#"{"description":"x"}"#
                )
                .status,
            201
        );
    }
    let b = Company::join(&node_a.invite(), &cnpj(52), "B");
    let node_b = b.start_node();
    wait_until("B caught up", LIMIT, || {
        node_b.record("product", "P-49").is_some()
    });
    // (The join already brought the 50; wait for B's node to reach A too.)
    let a_cnpj = digits(&cnpj(51));
    wait_until("B connected to A", LIMIT, || {
        node_b.member(&a_cnpj)["connected"] == true
    });
    assert!(node_b.stop().success());
    // B remembers the address it reached A at, for the next start.
    {
        let (store, _, _) = elo_node::DataDir::new(b.data()).open().unwrap();
        let db = store.database();
        let a_peer = node_a.get("/v1/status").body["company"]["peer_id"]
            .as_str()
            .unwrap()
            .to_string();
        let remembered =
            elo_node::store::read::meta(&db, &format!("remembered_addr/{a_peer}")).unwrap();
        let remembered = String::from_utf8(
            remembered.unwrap_or_else(|| panic!("no remembered address; log:\n{}", b.log())),
        )
        .unwrap();
        assert!(node_a.p2p_addr().starts_with(&remembered), "{remembered}");
    }
    for i in 50..55 {
        assert_eq!(
            node_a
                .put(
                    &format!("/v1/records/product/P-{i}"),
                    r#"{"description":"y"}"#
                )
                .status,
            201
        );
    }
    let node_b = b.start_node();
    wait_until("B has the new records", LIMIT, || {
        node_b.record("product", "P-54").is_some()
    });
    wait_until("B settles", LIMIT, || node_b.member(&a_cnpj)["behind"] == 0);
    // Only what changed while B was away crossed the wire, not the 50 it had.
    let received = node_b.member(&a_cnpj)["docs_received"].as_u64().unwrap();
    assert!(
        (5..=7).contains(&received),
        "B received {received} documents after its restart"
    );

    // `elo resync` forgets the checkpoint and walks A's log again, and
    // `elo sync --wait` returns once caught up.
    b.elo_ok(&["resync"]);
    b.elo_ok(&["sync", "--wait", "--timeout", "20"]);
    assert_eq!(node_b.member(&a_cnpj)["behind"], 0);
}

#[test]
fn a_node_with_the_key_but_not_in_the_roster_is_refused() {
    let a = Company::init(&cnpj(61), "A");
    let node_a = a.start_node();
    assert_eq!(node_a.put("/v1/records/unit/UN", UNIT).status, 201);
    // An outsider holding the group secret (a copied invite) but never admitted.
    let invite = elo_net::invite::Invite::decode(&node_a.invite()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outsider = elo_node::DataDir::new(dir.path().join("x"));
    outsider
        .init_joining(&cnpj(62), "Outsider", &invite.group, &invite.secret)
        .unwrap();
    {
        // It believes A is a member (say it copied A's roster record) and tries to pull.
        let (mut store, _, _) = outsider.open().unwrap();
        let a_peer = node_a.get("/v1/status").body["company"]["peer_id"]
            .as_str()
            .unwrap()
            .to_string();
        let body = serde_json::json!({"cnpj": cnpj(61), "name": "A", "peer_id": a_peer});
        let patch = elo_crdt::RecordPatch::from_json(elo_crdt::Kind::Company, &body).unwrap();
        let id = patch.doc_id(elo_crdt::Kind::Company).unwrap();
        store
            .write_batch(
                vec![elo_node::WriteOp::Put {
                    id,
                    patch,
                    return_record: false,
                }],
                0,
            )
            .unwrap();
    }
    let out = std::process::Command::new(elo_tests::elo_bin())
        .arg("--data")
        .arg(outsider.root())
        .args([
            "--json",
            "node",
            "--api",
            "127.0.0.1:0",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--peer",
        ])
        .arg(node_a.p2p_addr())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let mut child = out.unwrap();
    wait_until("A logs the refusal", LIMIT, || {
        a.log().contains("not in the group roster")
    });
    let _ = child.kill();
    let _ = child.wait();
    let store = outsider.open().unwrap().0.database();
    assert_eq!(
        elo_node::store::read::doc_count(&store).unwrap(),
        2,
        "only the two roster records it wrote itself"
    );
}

/// An invite that lasts no time is refused when asked for (an expired
/// one is refused at the join: `group::invite`'s tests).
#[test]
fn an_invite_that_lasts_no_time_is_refused() {
    let a = Company::init(&cnpj(81), "A");
    let node_a = a.start_node();
    let out = a.elo(&["invite", "--ttl-hours", "0"]);
    assert_eq!(out.status.code(), Some(2), "a bad command line");
    let api = node_a.request("POST", "/v1/invites", Some(r#"{"ttl_hours":0}"#), None);
    assert!(api.status >= 400, "{:?}", api.body);
    assert!(
        api.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("1 to 720 hours")),
        "{:?}",
        api.body
    );
}

#[test]
fn a_company_sends_and_receives_only_the_categories_it_shares() {
    let a = Company::init(&cnpj(91), "A");
    let node_a = a.start_node();
    a.elo_ok(&["share", "--send", "products,units"]);
    assert_eq!(
        node_a
            .put("/v1/records/customer/52998224725", r#"{"name":"Ana"}"#)
            .status,
        201
    );
    assert_eq!(
        node_a
            .put("/v1/records/product/P-1", r#"{"description":"Um"}"#)
            .status,
        201
    );

    // The initial load brings the product, not the customer A does not send.
    let b = Company::join(&node_a.invite(), &cnpj(92), "B");
    let node_b = b.start_node();
    assert!(node_b.record("product", "P-1").is_some());
    assert!(node_b.record("customer", "52998224725").is_none());

    // Live: the same. And B still counts as caught up, since what A left
    // out of its log is skipped, not waited for.
    assert_eq!(
        node_a
            .put("/v1/records/customer/11144477735", r#"{"name":"Bruno"}"#)
            .status,
        201
    );
    assert_eq!(
        node_a
            .put("/v1/records/product/P-2", r#"{"description":"Dois"}"#)
            .status,
        201
    );
    wait_until("P-2 at B", LIMIT, || {
        node_b.record("product", "P-2").is_some()
    });
    let a_cnpj = digits(&cnpj(91));
    wait_until("B settles", LIMIT, || {
        let m = node_b.member(&a_cnpj);
        m["connected"] == true && m["behind"] == 0 && m["pulling"] == false
    });
    assert!(node_b.record("customer", "11144477735").is_none());

    // B now receives customers only: A's next product does not come.
    b.elo_ok(&["share", "--receive", "customers"]);
    wait_until("A knows what B receives", LIMIT, || {
        node_a
            .record("company", &digits(&cnpj(92)))
            .is_some_and(|r| r["receives"] == "customers")
    });
    assert_eq!(
        node_a
            .put("/v1/records/product/P-3", r#"{"description":"Três"}"#)
            .status,
        201
    );
    assert_eq!(
        node_a
            .put("/v1/records/unit/CX", r#"{"description":"Caixa"}"#)
            .status,
        201
    );
    let a_latest = node_a.get("/v1/status").body["last_seq"].as_u64().unwrap();
    wait_until("B walks past them", LIMIT, || {
        node_b.member(&a_cnpj)["checkpoint"].as_u64() >= Some(a_latest)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(node_b.record("product", "P-3").is_none());
    assert!(node_b.record("unit", "CX").is_none());
}

#[test]
fn a_removed_company_is_cut_off_and_the_network_key_changes() {
    let a = Company::init(&cnpj(51), "A");
    let node_a = a.start_node();
    let b = Company::join(&node_a.invite(), &cnpj(52), "B");
    let node_b = b.start_node();
    let c = Company::join(&node_a.invite(), &cnpj(53), "C");
    let node_c = c.start_node();
    // An invite made before the removal, never used.
    let old_invite = node_a.invite();
    let (b_id, c_id) = (digits(&cnpj(52)), digits(&cnpj(53)));
    wait_until("A connected to B and C", LIMIT, || {
        node_a.member(&b_id)["connected"] == true && node_a.member(&c_id)["connected"] == true
    });

    // Only the primary (A, the founder) removes a company.
    let not_primary = node_b.request("DELETE", &format!("/v1/members/{c_id}"), None, None);
    assert_eq!(not_primary.status, 422, "{:?}", not_primary.body);
    assert!(
        not_primary.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("only the primary")),
        "{:?}",
        not_primary.body
    );
    let removed = node_a.request("DELETE", &format!("/v1/members/{c_id}"), None, None);
    assert_eq!(removed.status, 200, "{:?}", removed.body);
    assert_eq!(removed.body["reached"], serde_json::json!([b_id]));

    // A and B reconnect under the new key and go on replicating.
    assert_eq!(
        node_a
            .put("/v1/records/unit/NEW", r#"{"description":"After removal"}"#)
            .status,
        201
    );
    wait_until("A's record at B under the new key", LIMIT, || {
        node_b.record("unit", "NEW").is_some()
    });
    // C gets nothing written after its removal, and is no member at B.
    std::thread::sleep(Duration::from_secs(2));
    assert!(node_c.record("unit", "NEW").is_none());
    assert!(node_b.record("company", &c_id).is_none());
    assert_eq!(node_a.member(&c_id), Value::Null);
    // The old key no longer opens the network: an invite from before fails.
    let (out, _dir) = join_attempt(&old_invite, &cnpj(54));
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A company that has just joined hears of the next write at once. Its
/// `elo join` process leaves while the member that admitted it is telling
/// it of the roster's change; that announcement fails, and the member
/// waits a while before it tries again. The node that then starts under the
/// same identity is a new connection: what is written from then on must
/// reach it with no wait left over from the process that left.
#[test]
fn a_write_right_after_a_join_reaches_the_new_member_at_once() {
    let a = Company::init(&cnpj(41), "Matriz");
    let node_a = a.start_node();
    let c = Company::join(&node_a.invite(), &cnpj(42), "Filial");
    let node_c = c.start_node();
    wait_until("C connected to A", LIMIT, || {
        node_a.member(&digits(&cnpj(42)))["connected"] == true
            && node_c.get("/v1/sync").body["connected"] == 1
    });
    // C's own walk of A's log, which it starts when it connects, is over.
    wait_until("C caught up with A", LIMIT, || {
        node_c.get("/v1/sync").body["caught_up"] == true
    });
    for (n, code) in ["CX", "KG", "PC"].into_iter().enumerate() {
        let written = std::time::Instant::now();
        assert_eq!(
            node_a.put(&format!("/v1/records/unit/{code}"), UNIT).status,
            201
        );
        wait_until(&format!("write {n} at C"), LIMIT, || {
            node_c.record("unit", code).is_some()
        });
        let took = written.elapsed();
        assert!(
            took < Duration::from_millis(700),
            "write {n} took {took:?} to reach the member that just joined"
        );
    }
}

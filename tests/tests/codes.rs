//! Codes are never issued twice, whatever happens to a company's data
//! directory, with real `elo` processes on 127.0.0.1: a restored backup, a
//! stale copy of the store, a company removed and invited again; codes
//! given by hand are checked on every write path; records stored without
//! a code get one once a block arrives; a company that just joined, and
//! one whose primary just restarted, get their blocks without a long wait.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use elo_tests::{Company, RunningNode, cnpj, customer, digits, wait_until};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(30);

fn start(c: &Company, block: &str) -> RunningNode {
    c.start_node_with_block_size(block)
}

/// A matriz (CNPJ number `n`) and a filial (`n + 1`) that joined it, both
/// running; the filial has drawn `draws` codes into `issued`.
fn matriz_and_filial(
    n: u64,
    draws: usize,
    issued: &mut BTreeSet<i64>,
) -> (Company, RunningNode, Company, RunningNode) {
    let m = Company::init(&cnpj(n), "Matriz");
    let node_m = start(&m, "100000");
    let b = Company::join(&node_m.invite(), &cnpj(n + 1), "Filial");
    let node_b = start(&b, "100000");
    draw_new(&node_b, draws, issued);
    (m, node_m, b, node_b)
}

fn log_of(node: &RunningNode) -> String {
    std::fs::read_to_string(&node.log).unwrap_or_default()
}

/// Draws one code of `table` through the API.
fn draw(node: &RunningNode, table: &str) -> i64 {
    let a = node.request("POST", &format!("/v1/ids/{table}/next"), None, None);
    assert_eq!(a.status, 200, "{:?}\nlog: {}", a.body, log_of(node));
    a.body["code"].as_i64().expect("a code")
}

/// Draws `n` codes into `issued`, failing on a repeat.
fn draw_new(node: &RunningNode, n: usize, issued: &mut BTreeSet<i64>) {
    for _ in 0..n {
        let code = draw(node, "customer");
        assert!(
            issued.insert(code),
            "code {code} issued twice: {issued:?}\nlog: {}",
            log_of(node)
        );
    }
}

/// Creates customer `n` without a code; returns the code it got.
fn create(node: &RunningNode, n: u64) -> Option<i64> {
    let body = customer(n);
    let key = body["cpf"].as_str().expect("cpf").to_owned();
    let a = node.put(&format!("/v1/records/customer/{key}"), &body.to_string());
    assert_eq!(a.status, 201, "{:?}", a.body);
    a.body["code"].as_i64()
}

/// Whether `node` knows that `company` issued customer code `code`: the
/// range holding it counts it as used. (A count is a position in the
/// range, not a number of codes: a restart after a crash skips codes.)
fn knows_issued(node: &RunningNode, company: &str, code: i64) -> bool {
    node.get("/v1/ranges").body["ranges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["company"] == company && r["table"] == "customer")
        .any(|r| {
            let (Some(from), Some(to), Some(used)) =
                (r["from"].as_i64(), r["to"].as_i64(), r["used"].as_i64())
            else {
                return false;
            };
            (from..=to).contains(&code) && from + used > code
        })
}

#[test]
fn a_restored_backup_never_draws_a_code_again() {
    let m = Company::init(&cnpj(11), "Matriz");
    let mut issued = BTreeSet::new();
    let node = start(&m, "100000");
    draw_new(&node, 3, &mut issued);
    node.stop();
    let backup = m.data().join("before.redb");
    m.elo_ok(&["backup", backup.to_str().expect("path")]);
    let node = start(&m, "100000");
    draw_new(&node, 3, &mut issued);
    node.stop();
    m.elo_ok(&["restore", backup.to_str().expect("path")]);
    let node = start(&m, "100000");
    let after = draw(&node, "customer");
    assert!(
        !issued.contains(&after) && after > *issued.last().expect("codes"),
        "after the restore, code {after} was drawn again (issued before: {issued:?})"
    );
}

/// A branch started from a stale copy of its store (a copy made while it
/// ran, or a backup put back where the current store was lost) hears from
/// the group which codes it had issued, and the records it receives carry
/// theirs: it never issues one again.
#[test]
fn a_stale_store_learns_its_codes_from_the_group() {
    let mut issued = BTreeSet::new();
    let (_m, node_m, b, node_b) = matriz_and_filial(12, 3, &mut issued);
    let b_id = digits(&b.cnpj);
    node_b.stop();
    let stale = b.data().join("stale.redb");
    std::fs::copy(b.data().join("store.redb"), &stale).expect("copy the store");
    let node_b = start(&b, "100000");
    draw_new(&node_b, 3, &mut issued);
    let code = create(&node_b, 1).expect("the record got a code");
    assert!(issued.insert(code), "the record got an issued code {code}");
    let last = *issued.last().expect("codes");
    wait_until("the primary knows the branch's last code", LIMIT, || {
        knows_issued(&node_m, &b_id, last)
    });
    node_b.stop();
    std::fs::copy(&stale, b.data().join("store.redb")).expect("put the stale copy back");
    let node_b = start(&b, "100000");
    draw_new(&node_b, 3, &mut issued);
    let code = create(&node_b, 2).expect("the record got a code");
    assert!(issued.insert(code), "the record got an issued code {code}");
}

/// A company removed from the group and invited again starts from a fresh
/// directory: the group's usage of its old blocks keeps it from reusing
/// them.
#[test]
fn a_company_invited_again_never_reuses_a_code() {
    let mut issued = BTreeSet::new();
    let (_m, node_m, b, node_b) = matriz_and_filial(14, 2, &mut issued);
    let b_id = digits(&b.cnpj);
    let code = create(&node_b, 3).expect("the record got a code");
    assert!(issued.insert(code));
    let last = *issued.last().expect("codes");
    wait_until("the primary knows the branch's last code", LIMIT, || {
        knows_issued(&node_m, &b_id, last)
    });
    let removed = node_m.request("DELETE", &format!("/v1/members/{b_id}"), None, None);
    assert_eq!(removed.status, 200, "{:?}", removed.body);
    node_b.stop();
    let again = Company::join(&node_m.invite(), &b.cnpj, "Filial");
    let node_b = start(&again, "100000");
    draw_new(&node_b, 3, &mut issued);
    let code = create(&node_b, 4).expect("the record got a code");
    assert!(
        issued.insert(code),
        "the record got an issued code {code}: {issued:?}"
    );
}

#[test]
fn codes_given_by_hand_are_checked_on_every_write_path() {
    let m = Company::init(&cnpj(16), "Matriz");
    let node = start(&m, "100000");
    let drawn = draw(&node, "customer");
    let ahead = drawn + 10;
    let mut body = customer(1);
    body["code"] = json!(ahead);
    let key = body["cpf"].as_str().expect("cpf").to_owned();
    let a = node.put(&format!("/v1/records/customer/{key}"), &body.to_string());
    assert_eq!(
        a.status, 201,
        "a free code of this company's block: {:?}",
        a.body
    );
    // Written again with the code it has: not a new claim.
    let a = node.put(&format!("/v1/records/customer/{key}"), &body.to_string());
    assert_eq!(a.status, 200, "{:?}", a.body);
    let mut later = BTreeSet::new();
    for _ in 0..15 {
        later.insert(draw(&node, "customer"));
    }
    assert!(
        !later.contains(&ahead),
        "code {ahead} given by hand was drawn"
    );
    let other = customer(2);
    let other_key = other["cpf"].as_str().expect("cpf").to_owned();
    assert_eq!(
        node.put(
            &format!("/v1/records/customer/{other_key}"),
            &other.to_string()
        )
        .status,
        201
    );
    for bad in [
        json!(drawn),
        json!(ahead),
        json!(3_000_000_000i64),
        json!(0),
        json!(-4),
        json!(null),
    ] {
        let a = node.request(
            "PATCH",
            &format!("/v1/records/customer/{other_key}"),
            Some(&json!({ "code": bad }).to_string()),
            None,
        );
        assert_eq!(a.status, 422, "code {bad}: {:?}", a.body);
        assert_eq!(a.body["fields"][0]["field"], "code", "{:?}", a.body);
    }
    // On a new record, `null` asks for a code like no `code` at all.
    let mut fresh = customer(6);
    fresh["code"] = Value::Null;
    let fresh_key = fresh["cpf"].as_str().expect("cpf").to_owned();
    let a = node.put(
        &format!("/v1/records/customer/{fresh_key}"),
        &fresh.to_string(),
    );
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert!(
        a.body["code"].as_i64().is_some_and(|c| c != ahead),
        "{:?}",
        a.body
    );
    let stored = node.record("customer", &other_key).expect("stored");
    assert!(
        stored["code"]
            .as_i64()
            .is_some_and(|c| c != drawn && c != ahead)
    );
    // Bulk: the bad row is refused by index, the good one stored.
    let mut good = customer(3);
    good["code"] = json!(ahead + 100);
    let mut bad = customer(4);
    bad["code"] = json!(drawn);
    let a = node.request(
        "POST",
        "/v1/records/customer",
        Some(&Value::Array(vec![good, bad.clone()]).to_string()),
        None,
    );
    assert_eq!(a.status, 422, "{:?}", a.body);
    assert_eq!(a.body["stored"], 1, "{:?}", a.body);
    assert_eq!(a.body["rejected"][0]["index"], 1, "{:?}", a.body);
    // A CSV import goes the same way.
    let csv = m.data().join("customers.csv");
    let bad_cpf = bad["cpf"].as_str().expect("cpf");
    std::fs::write(&csv, format!("cpf,name,code\n{bad_cpf},Ana,{drawn}\n")).expect("csv");
    let out = m.elo(&["import", "customer", csv.to_str().expect("path")]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(node.record("customer", bad_cpf).is_none());
}

/// With its blocks used up and the primary down, a branch stores a new
/// record at once, without a code, and says so; when the primary returns
/// the record gets a code, the same everywhere.
#[test]
fn records_stored_without_a_code_are_numbered_once_a_block_arrives() {
    let m = Company::init(&cnpj(17), "Matriz");
    let node_m = start(&m, "3");
    let b = Company::join(&node_m.invite(), &cnpj(18), "Filial");
    let node_b = start(&b, "3");
    let mut issued = BTreeSet::new();
    draw_new(&node_b, 1, &mut issued);
    node_m.stop();
    // Use up what the branch holds.
    loop {
        let a = node_b.request("POST", "/v1/ids/customer/next", None, None);
        if a.status != 200 {
            assert_eq!(a.status, 503, "{:?}", a.body);
            break;
        }
        assert!(issued.insert(a.body["code"].as_i64().expect("code")));
    }
    let body = customer(5);
    let key = body["cpf"].as_str().expect("cpf").to_owned();
    let began = Instant::now();
    let a = node_b.put(&format!("/v1/records/customer/{key}"), &body.to_string());
    let took = began.elapsed();
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert!(a.body["code"].is_null(), "{:?}", a.body);
    assert!(
        a.body["code_pending"]
            .as_str()
            .is_some_and(|r| r.contains("no codes left")),
        "{:?}",
        a.body
    );
    assert!(took < Duration::from_secs(2), "the create waited {took:?}");
    let ranges = node_b.get("/v1/ranges").body;
    assert_eq!(ranges["awaiting_code"]["customer"], 1, "{ranges}");
    println!("a create with no code to be had answered in {took:?}");
    let node_m = start(&m, "3");
    wait_until("the record got a code", LIMIT, || {
        node_b
            .record("customer", &key)
            .is_some_and(|r| r["code"].is_i64())
    });
    let code = node_b.record("customer", &key).expect("record")["code"]
        .as_i64()
        .expect("code");
    assert!(issued.insert(code), "the record got an issued code {code}");
    wait_until("the primary has the record with its code", LIMIT, || {
        node_m
            .record("customer", &key)
            .is_some_and(|r| r["code"] == code)
    });
    assert!(
        node_b.get("/v1/ranges").body["awaiting_code"]
            .as_object()
            .is_none_or(|o| o.is_empty())
    );
}

/// A company that just joined draws its first code at once, and a primary
/// that restarts hands out blocks again within a few seconds (it used to
/// wait out a 15 s idle delay before it acted as primary again).
#[test]
fn blocks_come_soon_after_a_join_and_after_the_primary_restarts() {
    let m = Company::init(&cnpj(19), "Matriz");
    let mut node_m = start(&m, "3");
    let mut issued = BTreeSet::new();
    let mut branches = Vec::new();
    for n in 0..3 {
        let b = Company::join(&node_m.invite(), &cnpj(20 + n), "Filial");
        let node_b = start(&b, "3");
        draw_new(&node_b, 1, &mut issued);
        branches.push((b, node_b));
    }
    let node_b = &branches[0].1;
    for _ in 0..2 {
        node_m.stop();
        // Use up the branch's blocks: the next needs the primary.
        loop {
            let a = node_b.request("POST", "/v1/ids/customer/next", None, None);
            if a.status != 200 {
                break;
            }
            assert!(issued.insert(a.body["code"].as_i64().expect("code")));
        }
        node_m = start(&m, "3");
        let began = Instant::now();
        wait_until("a new block after the primary restarted", LIMIT, || {
            let a = node_b.request("POST", "/v1/ids/customer/next", None, None);
            let code = a.body["code"].as_i64();
            code.is_some_and(|c| {
                assert!(issued.insert(c), "code {c} issued twice");
                true
            })
        });
        let took = began.elapsed();
        println!("a block {took:?} after the primary restarted");
        assert!(
            took < Duration::from_secs(10),
            "{took:?}\nlog: {}",
            log_of(&node_m)
        );
    }
}

/// The store counts codes as used a little ahead of the draws (so a new
/// record costs one durable commit, not two): a node killed mid-run never
/// draws a code again, with a gap of at most that reserve; a node stopped
/// cleanly goes on from the next code, with no gap.
#[test]
fn a_killed_node_never_draws_a_code_again_and_a_clean_stop_leaves_no_gap() {
    let m = Company::init(&cnpj(15), "Matriz");
    let mut issued = BTreeSet::new();
    let mut node = start(&m, "100000");
    draw_new(&node, 5, &mut issued);
    let last = *issued.last().expect("codes");
    // SIGKILL: nothing runs at the stop.
    node.child.kill().expect("kill the node");
    let _ = node.child.wait();
    drop(node);
    let node = start(&m, "100000");
    let after_kill = draw(&node, "customer");
    assert!(
        issued.insert(after_kill) && after_kill > last,
        "after SIGKILL, code {after_kill} (issued before: {issued:?})"
    );
    assert!(
        after_kill <= last + 1 + 64,
        "after SIGKILL the gap is past the reserve: {last} then {after_kill}"
    );
    draw_new(&node, 3, &mut issued);
    let last = *issued.last().expect("codes");
    assert!(node.stop().success());
    let node = start(&m, "100000");
    assert_eq!(draw(&node, "customer"), last + 1, "a clean stop left a gap");
}

//! The primary and the ID ranges with real `elo node` processes on
//! 127.0.0.1: the founding company is primary; every company draws codes
//! from its own blocks; the primary is stopped and a branch is elected;
//! the others keep drawing and get new blocks from the new primary; the
//! old primary comes back and steps down. No code is ever issued twice.

use std::collections::BTreeSet;
use std::time::Duration;

use elo_tests::{Company, RunningNode, cnpj, digits, wait_until};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);
/// Small blocks, so a few dozen codes cross block boundaries.
const BLOCK: &str = "10";

fn start(c: &Company) -> RunningNode {
    c.start_node_with(&[
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--no-mdns",
        "-v",
        "--id-block-size",
        BLOCK,
    ])
}

fn primary_of(node: &RunningNode) -> (Option<String>, u64) {
    let v = node.get("/v1/primary").body;
    (
        v["primary"]["company"].as_str().map(str::to_owned),
        v["primary"]["term"].as_u64().unwrap_or(0),
    )
}

/// Draws one code of `table`, expecting success.
fn next_code(node: &RunningNode, table: &str) -> i64 {
    let a = node.request("POST", &format!("/v1/ids/{table}/next"), None, None);
    assert_eq!(
        a.status,
        200,
        "{:?}\nlog: {}",
        a.body,
        std::fs::read_to_string(&node.log).unwrap_or_default()
    );
    a.body["code"].as_i64().expect("a code")
}

/// Draws `n` codes one by one into `issued`, failing on a repeat.
fn draw(node: &RunningNode, table: &str, n: usize, issued: &mut BTreeSet<i64>) {
    for _ in 0..n {
        let code = next_code(node, table);
        assert!(issued.insert(code), "code {code} of {table} issued twice");
        assert!(code >= 1 && code <= i64::from(i32::MAX));
    }
}

fn ranges(node: &RunningNode) -> Vec<Value> {
    node.get("/v1/ranges").body["ranges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn assert_no_overlap(rows: &[Value]) {
    let committed: Vec<&Value> = rows.iter().filter(|r| r["committed"] == true).collect();
    for (i, r) in committed.iter().enumerate() {
        for s in &committed[i + 1..] {
            if r["table"] != s["table"] {
                continue;
            }
            let (rf, rt) = (r["from"].as_i64().unwrap(), r["to"].as_i64().unwrap());
            let (sf, st) = (s["from"].as_i64().unwrap(), s["to"].as_i64().unwrap());
            assert!(rt < sf || st < rf, "ranges overlap: {r} and {s}");
        }
    }
}

#[test]
fn a_branch_is_elected_while_the_primary_is_down_and_codes_never_collide() {
    let a = Company::init(&cnpj(1), "Matriz");
    let node_a = start(&a);
    // The founding company is the primary from the start.
    wait_until("A primary of itself", LIMIT, || {
        primary_of(&node_a).0 == Some(digits(&a.cnpj))
    });
    let b = Company::join(&node_a.invite(), &cnpj(2), "Filial B");
    let c = Company::join(&node_a.invite(), &cnpj(3), "Filial C");
    let (ida, idb, idc) = (digits(&a.cnpj), digits(&b.cnpj), digits(&c.cnpj));
    let node_b = start(&b);
    let node_c = start(&c);
    for n in [&node_b, &node_c] {
        wait_until("the branches know the primary", LIMIT, || {
            primary_of(n).0.as_deref() == Some(ida.as_str())
        });
    }
    let (_, first_term) = primary_of(&node_a);

    // Every company draws codes: more than a block each, so blocks are
    // allocated while the codes are being drawn.
    let mut customers = BTreeSet::new();
    for n in [&node_a, &node_b, &node_c] {
        draw(n, "customer", 12, &mut customers);
    }
    // A new customer sent without a code gets the next one of its table.
    let put = node_b.put(
        "/v1/records/customer/52998224725",
        r#"{"name":"Ana","city":"Recife"}"#,
    );
    assert_eq!(put.status, 201, "{:?}", put.body);
    let code = put.body["code"].as_i64().expect("the new customer's code");
    assert!(customers.insert(code), "the record got an issued code");
    // An update without a code keeps it and burns none.
    let again = node_b.put("/v1/records/customer/52998224725", r#"{"city":"Olinda"}"#);
    assert_eq!(again.body["code"].as_i64(), Some(code));
    // ...and the code travels with the record.
    wait_until("the numbered customer at C", LIMIT, || {
        node_c
            .record("customer", "52998224725")
            .is_some_and(|r| r["code"].as_i64() == Some(code))
    });
    let at_a = ranges(&node_a);
    assert_no_overlap(&at_a);
    for company in [&ida, &idb, &idc] {
        assert!(
            at_a.iter()
                .any(|r| r["company"] == company.as_str() && r["committed"] == true),
            "{company} has a committed range: {at_a:?}"
        );
    }

    // The primary goes down; a branch is elected by a majority (B and C).
    node_a.stop();
    let elected = b.elo_json(&["primary", "elect"]);
    assert_eq!(elected["primary"]["company"], idb.as_str(), "{elected}");
    let new_term = elected["primary"]["term"].as_u64().unwrap();
    assert!(new_term > first_term);
    wait_until("C learns of the new primary", LIMIT, || {
        primary_of(&node_c) == (Some(idb.clone()), new_term)
    });

    // The others keep drawing, past their blocks: the new blocks come from
    // the new primary, in its term.
    draw(&node_c, "customer", 25, &mut customers);
    draw(&node_b, "customer", 15, &mut customers);
    let at_c = ranges(&node_c);
    assert_no_overlap(&at_c);
    assert!(
        at_c.iter().any(|r| r["company"] == idc.as_str()
            && r["committed"] == true
            && r["term"].as_u64() == Some(new_term)),
        "C got a block from the new primary: {at_c:?}"
    );

    // Every company reports its usage: the primary sees how far C got.
    wait_until("C's usage reported to B", LIMIT, || {
        let used: i64 = ranges(&node_b)
            .iter()
            .filter(|r| r["company"] == idc.as_str() && r["table"] == "customer")
            .filter_map(|r| r["used"].as_i64())
            .sum();
        used >= 12 + 25
    });

    // The manual form, at the new primary: a range of another table, then
    // an overlapping one, which is refused.
    let set = b.elo_json(&[
        "ranges",
        "set",
        "--company",
        &c.cnpj,
        "--table",
        "product",
        "--from",
        "500",
        "--to",
        "599",
    ]);
    assert_eq!(set["from"], 500);
    let overlap = b.elo(&[
        "ranges",
        "set",
        "--company",
        &a.cnpj,
        "--table",
        "product",
        "--from",
        "590",
        "--to",
        "700",
    ]);
    assert!(!overlap.status.success());
    let stderr = String::from_utf8_lossy(&overlap.stderr);
    assert!(stderr.contains("overlaps"), "{stderr}");
    // Only the primary gives ranges by hand.
    let not_primary = c.elo(&[
        "ranges",
        "set",
        "--company",
        &c.cnpj,
        "--table",
        "unit_code",
        "--from",
        "1",
        "--to",
        "9",
    ]);
    assert!(!not_primary.status.success());

    // The old primary comes back: it learns of the newer term and steps
    // down, and its own codes never repeat anyone's.
    let node_a = start(&a);
    wait_until("A steps down", LIMIT, || {
        primary_of(&node_a) == (Some(idb.clone()), new_term)
    });
    let view = a.elo_json(&["primary"]);
    assert_eq!(view["acting"], false, "{view}");
    draw(&node_a, "customer", 12, &mut customers);
    assert_no_overlap(&ranges(&node_a));

    // With no majority reachable, an election says so and changes nothing.
    node_a.stop();
    node_c.stop();
    let lonely = b.elo(&["primary", "elect"]);
    assert!(!lonely.status.success());
    let stderr = String::from_utf8_lossy(&lonely.stderr);
    assert!(stderr.contains("no majority"), "{stderr}");
    assert_eq!(primary_of(&node_b).0.as_deref(), Some(idb.as_str()));
    let view = b.elo_json(&["primary"]);
    assert_eq!(view["acting"], true, "B still acts as primary: {view}");
    // B still draws from the blocks it holds, offline.
    draw(&node_b, "customer", 1, &mut customers);
}

#[test]
fn codes_survive_a_crash_and_exhaustion_names_the_primary() {
    let a = Company::init(&cnpj(7), "Matriz");
    let node_a = start(&a);
    wait_until("A primary of itself", LIMIT, || {
        primary_of(&node_a).0.is_some()
    });
    let b = Company::join(&node_a.invite(), &cnpj(8), "Filial");
    let mut node_b = start(&b);
    wait_until("B knows the primary", LIMIT, || {
        primary_of(&node_b).0.is_some()
    });
    let mut issued = BTreeSet::new();
    draw(&node_b, "order", 5, &mut issued);
    // A crash (SIGKILL) right after handing out codes: none repeats.
    let _ = node_b.child.kill();
    let _ = node_b.child.wait();
    drop(node_b);
    node_b = start(&b);
    draw(&node_b, "order", 3, &mut issued);

    // Without the primary, B draws until its blocks run out, then gets a
    // clear error naming what is left and who the primary is.
    node_a.stop();
    let mut exhausted = None;
    for _ in 0..40 {
        let a = node_b.request("POST", "/v1/ids/order/next", None, None);
        if a.status != 200 {
            exhausted = Some(a);
            break;
        }
        let code = a.body["code"].as_i64().unwrap();
        assert!(issued.insert(code), "code {code} issued twice");
    }
    let e = exhausted.expect("B's blocks ran out");
    assert_eq!(e.status, 503, "{:?}", e.body);
    assert_eq!(e.body["error"], "codes_exhausted");
    let message = e.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("0 remaining") && message.contains(&digits(&a.cnpj)),
        "{message}"
    );
    // A bad table name is a clear 400.
    let bad = node_b.request("POST", "/v1/ids/Bad%20Table/next", None, None);
    assert_eq!(bad.status, 400);
}

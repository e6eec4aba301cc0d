//! Every pair of members connected, once: a member that connected before
//! this node's roster named it is taken as connected when the roster
//! arrives (not left "not connected", never pulled from, for as long as
//! that connection lasts), and two members that dial each other end up
//! with one connection between them.

use std::time::Duration;

use elo_tests::bench_mesh20::MeshPlan;
use elo_tests::{Company, RunningNode, cnpj, digits, wait_until};

const LIMIT: Duration = Duration::from_secs(40);

/// The members `node` sees connected, and over how many connections each.
fn seen(node: &RunningNode) -> Vec<(String, bool, u64)> {
    node.get("/v1/status").body["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["company"].as_str().unwrap_or("?").to_owned(),
                m["connected"] == true,
                m["connections"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn members_that_met_before_their_rosters_named_each_other_end_connected_once() {
    // A admits B and C; B admits D. C and D do not know of each other.
    let a = Company::init(&cnpj(301), "A");
    let node_a = a.start_node();
    let b = Company::join(&node_a.invite(), &cnpj(302), "B");
    let c = Company::join(&node_a.invite(), &cnpj(303), "C");
    assert!(node_a.stop().success());
    let node_b = b.start_node();
    let d = Company::join(&node_b.invite(), &cnpj(304), "D");
    assert!(node_b.stop().success());
    let companies = [a, b, c, d];
    let plan = MeshPlan::new(&companies);
    // C and D dial each other while each is outside the other's roster;
    // they learn of each other from A and B, started a moment later,
    // while that connection is up.
    let node_c = plan.start(2, &companies[2]);
    let node_d = plan.start(3, &companies[3]);
    std::thread::sleep(Duration::from_secs(2));
    let node_a = plan.start(0, &companies[0]);
    let node_b = plan.start(1, &companies[1]);
    let nodes = [node_a, node_b, node_c, node_d];
    let full = || {
        nodes.iter().all(|n| {
            let members = seen(n);
            members.len() == 3 && members.iter().all(|(_, up, open)| *up && *open == 1)
        })
    };
    let settled = std::time::Instant::now();
    while !full() && settled.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    let views: Vec<_> = nodes.iter().map(seen).collect();
    assert!(
        full(),
        "every member sees the three others connected, over one connection each: {views:#?}"
    );
    // Still so a while later (nothing closed the last connection of a pair).
    std::thread::sleep(Duration::from_secs(2));
    assert!(full(), "{:#?}", nodes.iter().map(seen).collect::<Vec<_>>());
    // A write at D reaches C.
    let r = nodes[3].put("/v1/records/unit/CD", r#"{"description":"Caixa"}"#);
    assert_eq!(r.status, 201, "{:?}", r.body);
    wait_until("D's record at C", LIMIT, || {
        nodes[2].record("unit", "CD").is_some()
    });
    assert_eq!(nodes[2].member(&digits(&cnpj(304)))["connected"], true);
}

//! Removals with real `elo node` processes: every member that is online
//! gets the new network key, again and again; a member that was stopped
//! during a removal gets back in by itself when it returns; the removed
//! company never does.
//!
//! `ELO_REMOVAL_ROUNDS=N` runs the loop N times (8 by default, as in CI).

use std::time::Duration;

use elo_tests::{Company, RunningNode, cnpj, digits, wait_until};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(30);

fn rounds() -> usize {
    std::env::var("ELO_REMOVAL_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(8)
}

/// Who does not see whom connected; empty when every node lists every
/// other one as a connected member.
fn disconnections(nodes: &[(&Company, &RunningNode)]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (me, n)) in nodes.iter().enumerate() {
        for (j, (c, _)) in nodes.iter().enumerate() {
            if i != j && n.member(&digits(&c.cnpj))["connected"] != true {
                out.push(format!("{} does not see {}", me.cnpj, c.cnpj));
            }
        }
    }
    out
}

fn all_connected(nodes: &[(&Company, &RunningNode)]) -> bool {
    disconnections(nodes).is_empty()
}

/// A unit written at `writer` arrives at every node.
fn write_converges(writer: &RunningNode, nodes: &[(&Company, &RunningNode)], code: &str) {
    let put = writer.put(
        &format!("/v1/records/unit/{code}"),
        r#"{"description":"after a removal"}"#,
    );
    assert_eq!(put.status, 201, "{:?}", put.body);
    let start = std::time::Instant::now();
    while !nodes.iter().all(|(_, n)| n.record("unit", code).is_some()) {
        if start.elapsed() > LIMIT {
            let state: Vec<String> = nodes
                .iter()
                .map(|(c, n)| {
                    format!(
                        "{}: has it {}, status {}",
                        c.cnpj,
                        n.record("unit", code).is_some(),
                        n.get("/v1/status").body["members"]
                    )
                })
                .collect();
            let companies: Vec<&Company> = nodes.iter().map(|(c, _)| *c).collect();
            panic!(
                "unit {code} not everywhere after {LIMIT:?}:\n{}\n{}",
                state.join("\n"),
                logs(&companies)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The removed company's node, once the members moved on: it connects to
/// none of them for a while (it keeps dialing), and got nothing written
/// after its removal.
fn shut_out(removed: &Company, node: &RunningNode, code: &str) {
    let since = removed.log().len();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        node.record("unit", code).is_none(),
        "{code} reached the removed company"
    );
    let log = removed.log();
    let after = log.get(since..).unwrap_or("");
    assert!(
        !after.contains("member connected"),
        "the removed company connected to a member:\n{after}"
    );
}

/// Starts a node that logs, besides warnings, when members connect.
fn start(c: &Company) -> RunningNode {
    c.start_node_with_env(
        &["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"],
        &[("ELO_LOG", std::path::Path::new("warn,elo_node=info"))],
    )
}

fn logs(companies: &[&Company]) -> String {
    companies
        .iter()
        .map(|c| format!("--- {} ---\n{}", c.cnpj, c.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_online_member_gets_the_new_key_removal_after_removal() {
    let p = Company::init(&cnpj(301), "Matriz");
    let node_p = start(&p);
    let members: Vec<Company> = (302..305)
        .map(|n| Company::join(&node_p.invite(), &cnpj(n), &format!("Filial {n}")))
        .collect();
    let member_nodes: Vec<RunningNode> = members.iter().map(start).collect();
    let mut group: Vec<(&Company, &RunningNode)> = vec![(&p, &node_p)];
    group.extend(members.iter().zip(member_nodes.iter()));
    let companies: Vec<&Company> = group.iter().map(|(c, _)| *c).collect();
    wait_until("the group connected", LIMIT, || all_connected(&group));

    for round in 0..rounds() {
        let x = Company::join(&node_p.invite(), &cnpj(400 + round as u64), "Removida");
        let node_x = start(&x);
        let x_id = digits(&x.cnpj);
        wait_until("the newcomer connected to every member", LIMIT, || {
            group
                .iter()
                .all(|(_, n)| n.member(&x_id)["connected"] == true)
        });

        let removed = node_p.request("DELETE", &format!("/v1/members/{x_id}"), None, None);
        assert_eq!(removed.status, 200, "{:?}", removed.body);
        assert_eq!(
            removed.body["not_reached"],
            Value::Array(Vec::new()),
            "round {round}: {:?}\n{}",
            removed.body,
            logs(&companies)
        );
        let limit = LIMIT;
        let start = std::time::Instant::now();
        while !all_connected(&group) {
            assert!(
                start.elapsed() < limit,
                "round {round}: {:?}\n{}",
                disconnections(&group),
                logs(&companies)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let code = format!("R{round}");
        // Written at the primary, whose records every member receives
        // without a further authorisation.
        write_converges(&node_p, &group, &code);
        shut_out(&x, &node_x, &code);
        for (_, n) in &group {
            assert_eq!(n.member(&x_id), Value::Null, "round {round}");
        }
        drop(node_x);
    }
}

/// This node's mesh port, to start it again where the others look for it.
fn listen_port(node: &RunningNode) -> String {
    let listen = node.get("/v1/status").body["listen"][0]
        .as_str()
        .expect("a listen address")
        .to_string();
    listen.rsplit('/').next().unwrap_or_default().to_string()
}

#[test]
fn a_member_stopped_during_a_removal_gets_back_in_by_itself() {
    let p = Company::init(&cnpj(311), "Matriz");
    let node_p = start(&p);
    let a = Company::join(&node_p.invite(), &cnpj(312), "Filial A");
    let b = Company::join(&node_p.invite(), &cnpj(313), "Filial B");
    let x = Company::join(&node_p.invite(), &cnpj(314), "Removida");
    let (node_a, node_b, node_x) = (start(&a), start(&b), start(&x));
    let everyone = [(&p, &node_p), (&a, &node_a), (&b, &node_b), (&x, &node_x)];
    wait_until("the group connected", LIMIT, || all_connected(&everyone));

    // B stops; X is removed meanwhile: only A can be given the new key.
    let b_port = listen_port(&node_b);
    assert!(node_b.stop().success());
    let x_id = digits(&x.cnpj);
    let removed = node_p.request("DELETE", &format!("/v1/members/{x_id}"), None, None);
    assert_eq!(removed.status, 200, "{:?}", removed.body);
    assert_eq!(
        removed.body["reached"],
        serde_json::json!([digits(&a.cnpj)])
    );
    assert_eq!(
        removed.body["not_reached"],
        serde_json::json!([digits(&b.cnpj)])
    );
    let online = [(&p, &node_p), (&a, &node_a)];
    write_converges(&node_p, &online, "WHILE-B-WAS-AWAY");

    // B comes back where it was, still under the old key: it is handed the
    // new one, rejoins, and catches up on what was written meanwhile.
    let listen = format!("/ip4/127.0.0.1/tcp/{b_port}");
    let node_b = b.start_node_with_env(
        &["--listen", &listen, "--no-mdns"],
        &[("ELO_LOG", std::path::Path::new("warn,elo_node=info"))],
    );
    let group = [(&p, &node_p), (&a, &node_a), (&b, &node_b)];
    let companies = [&p, &a, &b, &x];
    let start = std::time::Instant::now();
    while !all_connected(&group) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "B did not get back in: {:?}\n{}",
            disconnections(&group),
            logs(&companies)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_until("what was written while B was away, at B", LIMIT, || {
        node_b.record("unit", "WHILE-B-WAS-AWAY").is_some()
    });
    write_converges(&node_p, &group, "AFTER-B-CAME-BACK");
    assert_eq!(node_b.member(&x_id), Value::Null, "B still lists X");
    // The removed company reaches no one, B included.
    shut_out(&x, &node_x, "AFTER-B-CAME-BACK");
}

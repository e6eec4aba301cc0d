//! Links that die and peers that stall: a member whose link goes dark is
//! shown disconnected within tens of seconds and gets what was written
//! meanwhile once the link returns, without a restart; a member frozen
//! (SIGSTOP) while another writes thousands of records converges when it
//! resumes, and neither node piles up streams behind it.
//!
//! The link test runs nodes in network namespaces joined by a bridge (made
//! here, removed at the end); without root or iproute2 it prints why it
//! skips.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use elo_tests::netns::Lan;
use elo_tests::{Company, RunningNode, cnpj, digits, wait_until};
use serde_json::Value;

/// How soon a member that stopped answering must show as disconnected.
const DETECT_WITHIN: Duration = Duration::from_secs(30);
/// How soon a write made while a member was cut off must reach it once its
/// link is back.
const ARRIVE_WITHIN: Duration = Duration::from_secs(30);

/// What the logs must never say: requests queued without bound behind a peer.
const PILE_UP: [&str; 3] = [
    "maximum number of streams",
    "at capacity",
    "max sub-streams",
];

fn assert_no_pile_up(who: &str, log: &str) {
    for line in log.lines() {
        assert!(
            !PILE_UP.iter().any(|p| line.contains(p)),
            "{who} piled up streams: {line}\n(full log: {} lines)",
            log.lines().count()
        );
    }
}

fn signal(node: &RunningNode, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid, which it still is (not yet waited for).
    let rc = unsafe { libc::kill(node.child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({sig}) failed");
}

/// How many units the node holds.
fn units(node: &RunningNode) -> usize {
    let mut count = 0;
    let mut after = String::new();
    loop {
        let page = node
            .get(&format!("/v1/records/unit?limit=1000&after={after}"))
            .body;
        count += page["records"].as_array().map_or(0, Vec::len);
        match page["next_after"].as_str() {
            Some(next) if !next.is_empty() => after = next.to_string(),
            _ => return count,
        }
    }
}

/// Writes units `U{from}`… `U{to - 1}` at the node, four at a time, each
/// its own PUT (its own commit and announcement).
fn write_units(node: &RunningNode, from: u64, to: u64) {
    let next = AtomicU64::new(from);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= to {
                        return;
                    }
                    let put = node.put(
                        &format!("/v1/records/unit/U{n:05}"),
                        r#"{"description":"Unidade"}"#,
                    );
                    assert_eq!(put.status, 201, "{:?}", put.body);
                }
            });
        }
    });
}

#[test]
fn a_frozen_member_converges_and_no_streams_pile_up() {
    const WRITES: u64 = 1_000;
    let a = Company::init(&cnpj(81), "Matriz");
    let node_a = a.start_node();
    let b = Company::join(&node_a.invite(), &cnpj(82), "Filial");
    let node_b = b.start_node();
    let b_at_a = || node_a.member(&digits(&b.cnpj))["connected"].clone();
    wait_until("B connected at A", Duration::from_secs(20), || {
        b_at_a() == true
    });

    // A short freeze: B resumes while A still counts it connected, and
    // what A sent meanwhile waits for it, bounded.
    signal(&node_b, libc::SIGSTOP);
    let started = Instant::now();
    write_units(&node_a, 0, WRITES);
    eprintln!(
        "{WRITES} writes at A during a short freeze took {:?}",
        started.elapsed()
    );
    signal(&node_b, libc::SIGCONT);
    let took = wait_until("the first writes at B", Duration::from_secs(120), || {
        units(&node_b) == WRITES as usize
    });
    eprintln!("B converged {took:?} after the short freeze");

    // A long one: a frozen node answers nothing, and A cuts it off within
    // tens of seconds.
    signal(&node_b, libc::SIGSTOP);
    let started = Instant::now();
    write_units(&node_a, WRITES, 2 * WRITES);
    wait_until("frozen B disconnected at A", DETECT_WITHIN, || {
        b_at_a() == false
    });
    eprintln!(
        "A saw frozen B disconnected {:?} after the freeze",
        started.elapsed()
    );
    signal(&node_b, libc::SIGCONT);
    let took = wait_until("every write at B", Duration::from_secs(120), || {
        units(&node_b) == 2 * WRITES as usize
    });
    eprintln!("B converged {took:?} after resuming");
    wait_until("B connected at A again", ARRIVE_WITHIN, || b_at_a() == true);
    // Time for whatever was queued to surface in the logs.
    std::thread::sleep(Duration::from_secs(2));
    assert_no_pile_up("A", &a.log());
    assert_no_pile_up("B", &b.log());
}

/// `elo --json status` on a machine: the member with this CNPJ.
fn member_at(lan: &Lan, i: usize, company: &Company, cnpj: &str) -> Value {
    let out = lan.elo(i, company.data(), &["--json", "status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let status: Value = serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or_default();
    status["members"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["company"] == digits(cnpj)).cloned())
        .unwrap_or(Value::Null)
}

fn elo_ok(lan: &Lan, i: usize, company: &Company, args: &[&str]) -> String {
    let out = lan.elo(i, company.data(), args);
    assert!(
        out.status.success(),
        "elo {args:?} on machine {i}: {}\nlog: {}",
        String::from_utf8_lossy(&out.stderr),
        company.log()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn node_ready(company: &Company) {
    wait_until("the node is up", Duration::from_secs(15), || {
        company.data().join("node.json").exists()
    });
}

#[test]
fn a_dead_link_is_noticed_and_what_was_written_meanwhile_arrives_when_it_returns() {
    let mut lan = match Lan::new(3) {
        Ok(lan) => lan,
        Err(why) => {
            eprintln!(
                "SKIPPED: cannot make a LAN of network namespaces ({why}; needs root and iproute2)"
            );
            return;
        }
    };
    let a = Company::init(&cnpj(91), "Matriz");
    lan.start_node(0, a.data());
    node_ready(&a);
    let mut branches = Vec::new();
    for (i, n) in [(1, 92), (2, 93)] {
        let invite = elo_ok(&lan, 0, &a, &["invite"]);
        let mut b = Company::init_empty();
        b.cnpj = cnpj(n);
        let name = format!("Filial {i}");
        elo_ok(
            &lan,
            i,
            &b,
            &["join", &invite, "--company", &b.cnpj, "--name", &name],
        );
        lan.start_node(i, b.data());
        node_ready(&b);
        branches.push(b);
    }
    let (b, c) = (&branches[0], &branches[1]);
    let everyone = [(0, &a), (1, b), (2, c)];
    for (i, at) in everyone {
        for (_, other) in everyone.iter().filter(|(j, _)| *j != i) {
            wait_until(
                &format!("{} connected at machine {i}", other.cnpj),
                Duration::from_secs(30),
                || member_at(&lan, i, at, &other.cnpj)["connected"] == true,
            );
        }
    }

    // C's link goes dark: A and B must see it go within tens of seconds.
    // A writes at once, while its connection to C still looks up.
    lan.cut(2);
    let cut = Instant::now();
    elo_ok(
        &lan,
        0,
        &a,
        &["put", "unit", r#"{"code":"CX","description":"Caixa"}"#],
    );
    for (i, at) in [(0, &a), (1, b)] {
        wait_until(
            &format!("C disconnected at machine {i}"),
            DETECT_WITHIN,
            || member_at(&lan, i, at, &c.cnpj)["connected"] == false,
        );
    }
    let detected = cut.elapsed();
    eprintln!("A and B saw C's dead link after {detected:?}");
    let seen = member_at(&lan, 0, &a, &c.cnpj);
    assert!(seen["last_error"].is_string(), "status names why: {seen}");

    wait_until("A's write at B", Duration::from_secs(10), || {
        lan.elo(1, b.data(), &["get", "unit", "CX"])
            .status
            .success()
    });
    assert!(
        !lan.elo(2, c.data(), &["get", "unit", "CX"])
            .status
            .success(),
        "C got the record with its link down"
    );

    lan.heal(2);
    let healed = Instant::now();
    wait_until(
        "A's write at C once the link is back",
        ARRIVE_WITHIN,
        || {
            lan.elo(2, c.data(), &["get", "unit", "CX"])
                .status
                .success()
        },
    );
    let arrived = healed.elapsed();
    eprintln!("the write made meanwhile reached C {arrived:?} after the link came back");
    wait_until("C connected at A again", ARRIVE_WITHIN, || {
        member_at(&lan, 0, &a, &c.cnpj)["connected"] == true
    });
    for (who, company) in [("A", &a), ("B", b), ("C", c)] {
        assert_no_pile_up(who, &company.log());
    }
}

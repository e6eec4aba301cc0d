//! `elo-bench link [RECORDS] [--runs R]`: a branch on a slow link (issue
//! 15, item 2). The head office and the branch each run `elo node` in a
//! network namespace of their own, joined by a veth pair shaped to 20
//! Mbit/s each way with a 50 ms round trip ([`elo_tests::slow_link`]), on
//! the peers' records (default 100,000):
//!
//! - W1: the branch joins (`elo join` in its namespace) and holds them all;
//! - W2: its node stops; every 10th record gets a new `extra.balance` and
//!   1% are added at the head office; time from its restart until caught
//!   up.
//!
//! Each with the bytes sent each way: as the proxy delivered them (libp2p's
//! frames) and as the veth sent them (IP packets, acknowledgements too).

use std::time::{Duration, Instant};

use elo_tests::slow_link::{BRANCH_LINK, HeadOffice, SlowLink, WireBytes};
use elo_tests::{Company, cnpj, peer_records, wait_until};
use serde_json::{Value, json};

use super::bench_peers::{Figures, post_all, records_and_runs, summarize, write_records};

pub fn run(args: &[String]) {
    let (n, runs) = records_and_runs(args);
    if let Some(why) = elo_tests::slow_link::cannot_make() {
        eprintln!("elo-bench link: cannot make the slow link: {why}");
        std::process::exit(1);
    }
    let mut all = Vec::new();
    for i in 0..runs {
        println!(
            "-- run {} of {runs}: {n} peer records, {} Mbit/s, {} ms round trip",
            i + 1,
            BRANCH_LINK.mbit,
            BRANCH_LINK.one_way.as_millis() * 2
        );
        let figures = one_run(n).unwrap_or_else(|why| {
            eprintln!("elo-bench link: {why}");
            std::process::exit(1);
        });
        for (name, v, unit) in &figures {
            println!("  {name}: {v:.2} {unit}");
        }
        all.push(figures);
    }
    println!("-- {n} peer records over the slow link, {runs} run(s): min / median / max");
    summarize(&all);
}

/// Bytes sent each way since `before`, by the proxy and by the veth, in MB.
fn traffic(
    f: &mut Figures,
    w: &'static [&'static str; 4],
    link: &SlowLink,
    head: &HeadOffice,
    before: (WireBytes, (u64, u64)),
) {
    let (wire, proxy) = (link.wire_bytes(), head.proxy.bytes());
    let mb = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1e6;
    f.push((w[0], mb(proxy.1, before.1.1), "MB"));
    f.push((w[1], mb(proxy.0, before.1.0), "MB"));
    f.push((w[2], mb(wire.head_to_branch, before.0.head_to_branch), "MB"));
    f.push((w[3], mb(wire.branch_to_head, before.0.branch_to_head), "MB"));
}

fn one_run(n: u64) -> Result<Figures, String> {
    let mut f: Figures = Vec::new();
    let link = SlowLink::new(BRANCH_LINK)?;
    let a = Company::init(&cnpj(901), "Matriz");
    let (customers, products) = write_records(a.data(), 0, n);
    for (kind, file) in [("customer", &customers), ("product", &products)] {
        a.elo_ok(&["import", kind, file]);
    }
    let _ = std::fs::remove_file(&customers);
    let _ = std::fs::remove_file(&products);
    let head = link.start_head(&a);

    // W1: the branch joins over the link and receives everything.
    let before = (link.wire_bytes(), head.proxy.bytes());
    let (b, process, joined) = link.join(&head, &cnpj(902));
    let w1 = joined["seconds"].as_f64().unwrap_or(f64::NAN);
    f.push(("W1 branch holds all", w1, "s"));
    f.push(("W1 `elo join` process", process.as_secs_f64(), "s"));
    traffic(
        &mut f,
        &[
            "W1 bytes head → branch (proxy)",
            "W1 bytes branch → head (proxy)",
            "W1 bytes head → branch (veth)",
            "W1 bytes branch → head (veth)",
        ],
        &link,
        &head,
        before,
    );
    let sent = f[2].1;
    f.push(("W1 rate head → branch", sent * 8.0 / w1, "Mbit/s"));

    let node_b = link.start_branch(&b, &head);
    let held = link.in_branch(|| node_b.get("/v1/status")).body["records"]
        .as_u64()
        .unwrap_or(0);
    if held < n {
        return Err(format!(
            "the branch holds {held} of {n} records after joining"
        ));
    }
    wait_until("the branch settles", Duration::from_secs(300), || {
        link.in_branch(|| node_b.get("/v1/sync")).body["caught_up"] == true
    });
    if !node_b.stop().success() {
        return Err("the branch's node did not stop cleanly".into());
    }

    // W2: every 10th record edited and 1% added at the head office.
    let adds = n / 100;
    let edits: Vec<(&str, Value)> = (0..n)
        .step_by(10)
        .map(|i| {
            let (kind, rec) = peer_records::record(i);
            let key = if kind == "customer" { "cnpj" } else { "sku" };
            let balance = format!("{}.{:02}", i + 11, i % 100);
            (
                kind,
                json!({ key: rec[key], "extra": { "balance": balance } }),
            )
        })
        .collect();
    let last_balance = edits.last().map(|e| e.1["extra"]["balance"].clone());
    link.in_head(|| {
        post_all(&head.node, edits);
        post_all(
            &head.node,
            (n..n + adds).map(peer_records::record).collect(),
        );
    });
    let (edit_kind, edit_key) = peer_records::key((n - 1) / 10 * 10);
    let (add_kind, add_key) = peer_records::key(n + adds - 1);
    let before = (link.wire_bytes(), head.proxy.bytes());
    let start = Instant::now();
    let node_b = link.start_branch(&b, &head);
    wait_until("the branch caught up", Duration::from_secs(300), || {
        link.in_branch(|| {
            node_b.record(add_kind, &add_key).is_some()
                && node_b
                    .record(edit_kind, &edit_key)
                    .is_some_and(|r| Some(&r["extra"]["balance"]) == last_balance.as_ref())
                && node_b.get("/v1/sync").body["caught_up"] == true
        })
    });
    f.push((
        "W2 catch-up after 10% edits + 1% new",
        start.elapsed().as_secs_f64(),
        "s",
    ));
    traffic(
        &mut f,
        &[
            "W2 bytes head → branch (proxy)",
            "W2 bytes branch → head (proxy)",
            "W2 bytes head → branch (veth)",
            "W2 bytes branch → head (veth)",
        ],
        &link,
        &head,
        before,
    );
    drop(node_b);
    drop(head);
    Ok(f)
}

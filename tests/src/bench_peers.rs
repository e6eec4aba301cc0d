//! `elo-bench peers [RECORDS] [--runs R]`: the workloads the peers were
//! measured with (`../shared/notes/peers.md`), on their records
//! ([`elo_tests::peer_records`], default 100,000), with three `elo`
//! processes on 127.0.0.1:
//!
//! - import: `elo import` of the customers, then of the products;
//! - W1: a new member joins and holds every record;
//! - W2: it stops; every 10th record gets a new `extra.balance` and 1%
//!   are added; time from its restart until caught up;
//! - W3: a third member joins; 1,000 new records written at the first,
//!   10 ms apart: p50/p99 until each is visible at both others;
//! - W4: the new member's data directory, closed and with its node
//!   running, and every process's peak RSS.
//!
//! Each figure is printed per run, then min / median / max over the runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use elo_tests::peer_records::write_jsonl;
use elo_tests::slow_link_workloads::balance_edits;
use elo_tests::{Company, Figures, RunningNode, cnpj, peer_records, wait_until};

use super::{join_measured, peak_rss_mib, records, run_measured, third_member_followed};

pub fn run(args: &[String]) {
    let (n, runs) = records_and_runs(args);
    let mut all: Vec<Figures> = Vec::new();
    for i in 0..runs {
        println!("-- run {} of {runs}: {n} peer records", i + 1);
        let figures = one_run(n);
        for (name, v, unit) in &figures {
            println!("  {name}: {v:.2} {unit}");
        }
        all.push(figures);
    }
    println!("-- {n} peer records, {runs} run(s): min / median / max");
    summarize(&all);
}

/// `[RECORDS] [--runs R]`: (RECORDS, default 100,000; R, default 1).
pub(super) fn records_and_runs(args: &[String]) -> (u64, usize) {
    let mut n = 100_000u64;
    let mut runs = 1usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => runs = it.next().and_then(|s| s.parse().ok()).unwrap_or(1).max(1),
            other => n = other.parse().unwrap_or(n),
        }
    }
    (n, runs)
}

/// Min / median / max of each figure over the runs.
pub(super) fn summarize(all: &[Figures]) {
    let mut by_name: BTreeMap<usize, (&str, &str, Vec<f64>)> = BTreeMap::new();
    for figures in all {
        for (i, (name, v, unit)) in figures.iter().enumerate() {
            by_name
                .entry(i)
                .or_insert((name, unit, Vec::new()))
                .2
                .push(*v);
        }
    }
    for (name, unit, mut v) in by_name.into_values() {
        v.sort_by(f64::total_cmp);
        println!(
            "{name}: {:.2} / {:.2} / {:.2} {unit}",
            v[0],
            v[v.len() / 2],
            v[v.len() - 1]
        );
    }
}

/// `elo-bench peer-records N DIR`: the records as `peer_records.py` writes
/// them, `DIR/customers.jsonl` and `DIR/products.jsonl`, to import by hand.
pub fn write_files(args: &[String]) {
    let n = args.first().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let dir = args.get(1).map_or(".", String::as_str);
    let (c, p) = write_jsonl(Path::new(dir), 0, n);
    println!("{c}\n{p}");
}

/// Bytes of a data directory: as listed, and as allocated on disk, in MB.
fn dir_mb(dir: &Path) -> (f64, f64) {
    use std::os::unix::fs::MetadataExt;
    let (mut len, mut blocks) = (0u64, 0u64);
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                todo.push(e.path());
            } else {
                len += m.len();
                blocks += m.blocks() * 512;
            }
        }
    }
    (len as f64 / 1e6, blocks as f64 / 1e6)
}

fn one_run(n: u64) -> Figures {
    let mut f: Figures = Vec::new();
    let a = Company::init(&cnpj(901), "Matriz");
    let (customers, products) = write_jsonl(a.data(), 0, n);
    let start = Instant::now();
    let mut import_rss: f64 = 0.0;
    for (kind, file) in [("customer", &customers), ("product", &products)] {
        let (ok, rss, _) = run_measured(a.command(&["import", kind, file]));
        assert!(ok, "import of {kind} failed");
        import_rss = import_rss.max(rss);
    }
    f.push(("import (customers then products)", secs(start), "s"));
    f.push(("import peak RSS", import_rss, "MiB"));
    let _ = std::fs::remove_file(&customers);
    let _ = std::fs::remove_file(&products);
    let node_a = a.start_node();

    // W1: a new member joins and receives everything.
    let (b, process, join_rss, joined) = join_measured(&node_a, &cnpj(902));
    let process = process.as_secs_f64();
    f.push((
        "W1 new member holds all",
        joined["seconds"].as_f64().unwrap_or(f64::NAN),
        "s",
    ));
    f.push(("W1 `elo join` process", process, "s"));
    f.push(("W1 `elo join` peak RSS", join_rss, "MiB"));
    let (closed, closed_alloc) = dir_mb(b.data());
    let node_b = b.start_node();
    assert!(records(&node_b) >= n, "B holds {} of {n}", records(&node_b));
    wait_until("B settles", Duration::from_secs(120), || {
        node_b.get("/v1/sync").body["caught_up"] == true
    });
    let (open, open_alloc) = dir_mb(b.data());
    f.push(("W4 new member's data directory, closed", closed, "MB"));
    f.push(("W4 … closed, allocated", closed_alloc, "MB"));
    f.push(("W4 … node running", open, "MB"));
    f.push(("W4 … node running, allocated", open_alloc, "MB"));

    // W2: B stops; every 10th record edited and 1% added at A.
    assert!(node_b.stop().success());
    let adds = n / 100;
    let (edits, (edit_kind, edit_key, last_balance)) = balance_edits(n);
    node_a.post_all(edits);
    node_a.post_all((n..n + adds).map(peer_records::record).collect());
    let (add_kind, add_key) = peer_records::key(n + adds - 1);
    let start = Instant::now();
    let node_b = b.start_node();
    wait_until("B caught up", Duration::from_secs(300), || {
        node_b.record(add_kind, &add_key).is_some()
            && node_b
                .record(edit_kind, &edit_key)
                .is_some_and(|r| r["extra"]["balance"] == last_balance)
            && node_b.get("/v1/sync").body["caught_up"] == true
    });
    f.push(("W2 catch-up after 10% edits + 1% new", secs(start), "s"));

    // W3: three members live; 1,000 new records written at A 10 ms apart.
    let (_c, node_c, seen_b, seen_c) =
        third_member_followed(&node_a, &node_b, Duration::from_secs(300));
    let mut sent = Vec::new();
    for i in n + adds..n + adds + 1000 {
        let (kind, rec) = peer_records::record(i);
        let (_, key) = peer_records::key(i);
        let t = Instant::now();
        let r = node_a.put(&format!("/v1/records/{kind}/{key}"), &rec.to_string());
        assert_eq!(r.status, 201, "{:?}", r.body);
        sent.push((format!("{kind}/{key}"), t));
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_until(
        "W3 writes visible at B and C",
        Duration::from_secs(60),
        || {
            seen_b.lock().map_or(0, |s| s.len()) >= 1000
                && seen_c.lock().map_or(0, |s| s.len()) >= 1000
        },
    );
    let mut lat = Vec::new();
    let mut slowest = Vec::new();
    for (i, (id, t)) in sent.iter().enumerate() {
        for (node, seen) in [("B", &seen_b), ("C", &seen_c)] {
            if let Some(at) = seen.lock().ok().and_then(|s| s.get(id).copied()) {
                let ms = at.saturating_duration_since(*t).as_secs_f64() * 1e3;
                lat.push(ms);
                slowest.push((ms, i, node));
            }
        }
    }
    // Which writes were slow says whether the tail is one stall (a run of
    // neighbours) or spread out.
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    let listed: Vec<String> = slowest
        .iter()
        .take(12)
        .map(|(ms, i, node)| format!("#{i} at {node} {ms:.0} ms"))
        .collect();
    println!("  W3 slowest: {}", listed.join(", "));
    lat.sort_by(f64::total_cmp);
    let at = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    f.push(("W3 propagation p50", at(0.5), "ms"));
    f.push(("W3 propagation p99", at(0.99), "ms"));
    let rss = |node: &RunningNode| peak_rss_mib(node.child.id());
    f.push(("W4 peak RSS node A", rss(&node_a), "MiB"));
    f.push(("W4 peak RSS node B (new member)", rss(&node_b), "MiB"));
    f.push(("W4 peak RSS node C", rss(&node_c), "MiB"));
    f
}

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

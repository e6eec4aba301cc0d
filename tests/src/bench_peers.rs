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

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use elo_tests::{Company, RunningNode, cnpj, peer_records, wait_until};
use serde_json::{Value, json};

use super::{join_measured, peak_rss_mib, records, run_measured, third_member_followed};

/// One run's figures: name → (value, unit), in the order measured.
pub(super) type Figures = Vec<(&'static str, f64, &'static str)>;

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
    let (c, p) = write_records(Path::new(dir), 0, n);
    println!("{c}\n{p}");
}

/// Writes records `from..to` of each kind as JSON lines; the files' paths.
pub(super) fn write_records(dir: &Path, from: u64, to: u64) -> (String, String) {
    let paths = (dir.join("customers.jsonl"), dir.join("products.jsonl"));
    let open = |p: &Path| std::io::BufWriter::new(std::fs::File::create(p).expect("create file"));
    let (mut c, mut p) = (open(&paths.0), open(&paths.1));
    for i in from..to {
        let (kind, rec) = peer_records::record(i);
        let w = if kind == "customer" { &mut c } else { &mut p };
        writeln!(w, "{rec}").expect("write");
    }
    c.flush().expect("flush");
    p.flush().expect("flush");
    let s = |p: &Path| p.to_string_lossy().to_string();
    (s(&paths.0), s(&paths.1))
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

/// Sends records to a node's bulk route, 1,000 a request, by kind.
pub(super) fn post_all(node: &RunningNode, rows: Vec<(&'static str, Value)>) {
    let mut by_kind: HashMap<&str, Vec<Value>> = HashMap::new();
    for (kind, v) in rows {
        by_kind.entry(kind).or_default().push(v);
    }
    for (kind, rows) in by_kind {
        for chunk in rows.chunks(1000) {
            let body = Value::Array(chunk.to_vec()).to_string();
            let r = node.request("POST", &format!("/v1/records/{kind}"), Some(&body), None);
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
    }
}

fn one_run(n: u64) -> Figures {
    let mut f: Figures = Vec::new();
    let a = Company::init(&cnpj(901), "Matriz");
    let (customers, products) = write_records(a.data(), 0, n);
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
    let edits: Vec<(&str, Value)> = (0..n)
        .step_by(10)
        .map(|i| {
            let (kind, rec) = peer_records::record(i);
            let key = if kind == "customer" { "cnpj" } else { "sku" };
            let balance = format!("{}.{:02}", i + 7, i % 100);
            (
                kind,
                json!({ key: rec[key], "extra": { "balance": balance } }),
            )
        })
        .collect();
    let last_edit = (n - 1) / 10 * 10;
    let last_balance = edits.last().map(|e| e.1["extra"]["balance"].clone());
    post_all(&node_a, edits);
    post_all(&node_a, (n..n + adds).map(peer_records::record).collect());
    let (edit_kind, edit_key) = peer_records::key(last_edit);
    let (add_kind, add_key) = peer_records::key(n + adds - 1);
    let start = Instant::now();
    let node_b = b.start_node();
    wait_until("B caught up", Duration::from_secs(300), || {
        node_b.record(add_kind, &add_key).is_some()
            && node_b
                .record(edit_kind, &edit_key)
                .is_some_and(|r| Some(&r["extra"]["balance"]) == last_balance.as_ref())
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
    for (id, t) in &sent {
        for seen in [&seen_b, &seen_c] {
            if let Some(at) = seen.lock().ok().and_then(|s| s.get(id).copied()) {
                lat.push(at.saturating_duration_since(*t).as_secs_f64() * 1e3);
            }
        }
    }
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

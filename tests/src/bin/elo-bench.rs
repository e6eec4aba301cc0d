//! elo's benchmark: the figures the issues name, measured with real `elo`
//! processes and real redb files. Build and run it in release:
//!
//! ```text
//! cargo build --release -p elo-cli -p elo-tests
//! target/release/elo-bench import [RECORDS]     # default 100000
//! ```
//!
//! `mesh`: the replication figures on loopback (W1–W4): a new member joins
//! a group holding RECORDS customers (W1, time until it holds them all);
//! with everyone in sync it stops, 10% are edited and 1% added elsewhere,
//! and it restarts (W2, time until caught up); three members live, 1,000
//! single-record writes 10 ms apart at one (W3, p50/p99 until visible at
//! both others, from their change streams); disk bytes and peak RSS of the
//! nodes (W4).
//!
//! `peers`: the peers' workloads on their records (see `bench_peers.rs`).
//!
//! `stock`: 1,000,000 single-writer stock updates over 10,000 SKUs sent in
//! bulk to one company while another replicates them: write rate, catch-up
//! time and the size of both stores (issue: under 50 MB).
//!
//! `orders`: ORDERS sales orders of 5 lines each (default 10,000) through
//! `POST /v1/orders` at a branch, in requests of 1,000 (orders per
//! second); then 20 orders sent to the head office, each invoiced there
//! once it arrived: p50 and p99 from the invoice until the branch's order
//! shows invoiced.
//!
//! `import`: a JSON-lines file of ~1 KB customers imported by `elo import`:
//! wall time, peak RSS of the importing process, bytes on disk per record;
//! then `elo node` is started and 1,000 PUTs and 1,000 GETs go through its
//! API one at a time: p50 and p99 latency.

use std::io::Write;
use std::time::{Duration, Instant};

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use elo_tests::{Company, RunningNode, cnpj, customer, wait_until};

#[path = "../bench_link.rs"]
mod bench_link;
#[path = "../bench_peers.rs"]
mod bench_peers;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("import") | None => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
            import(n);
        }
        Some("mesh") => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
            mesh(n);
        }
        Some("peers") => bench_peers::run(&args[2..]),
        Some("link") => bench_link::run(&args[2..]),
        Some("peer-records") => bench_peers::write_files(&args[2..]),
        Some("stock") => {
            let updates = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or(1_000_000);
            let skus = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10_000);
            stock(updates, skus);
        }
        Some("orders") => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
            orders(n);
        }
        Some("mesh20") => elo_tests::bench_mesh20::run(&args[2..]),
        Some(other) => {
            eprintln!(
                "unknown benchmark {other:?}; known: import [RECORDS], mesh [RECORDS], peers [RECORDS] [--runs R], link [RECORDS] [--runs R], peer-records [RECORDS] [DIR], stock [UPDATES] [SKUS], orders [ORDERS]"
            );
            std::process::exit(2);
        }
    }
}

fn import(n: u64) {
    let company = Company::init("11.222.333/0001-81", "Bench Matriz");
    let file = company.data().join("customers.jsonl");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).expect("create file"));
    let mut bytes = 0usize;
    for i in 0..n {
        let line = customer(i).to_string();
        bytes += line.len() + 1;
        writeln!(w, "{line}").expect("write");
    }
    w.flush().expect("flush");
    drop(w);
    println!(
        "input: {n} customers, {:.1} MB, {:.0} B per record",
        bytes as f64 / 1e6,
        bytes as f64 / n as f64
    );

    let file_arg = file.to_string_lossy().to_string();
    let start = Instant::now();
    let (ok, peak_rss, _) = run_measured(company.command(&["import", "customer", &file_arg]));
    let took = start.elapsed();
    assert!(ok, "import failed");
    println!(
        "import: {n} records in {:.2} s ({:.0} records/s), peak RSS {:.1} MiB",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        peak_rss
    );
    let store = std::fs::metadata(company.data().join("store.redb"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "disk: store.redb {:.1} MB, {:.0} bytes per record",
        store as f64 / 1e6,
        store as f64 / n as f64
    );

    let node = company.start_node();
    let mut put_lat = Vec::new();
    let mut get_lat = Vec::new();
    for i in 0..1000u64 {
        let c = customer(i * 97 % n);
        let key = c["cpf"].as_str().unwrap_or("").to_string();
        let body = serde_json::json!({ "notes": format!("nota {i}") }).to_string();
        let t = Instant::now();
        let a = node.put(&format!("/v1/records/customer/{key}"), &body);
        put_lat.push(t.elapsed());
        assert_eq!(a.status, 200, "{:?}", a.body);
        let t = Instant::now();
        let a = node.get(&format!("/v1/records/customer/{key}"));
        get_lat.push(t.elapsed());
        assert_eq!(a.status, 200);
    }
    println!("api put: {}", percentiles(&mut put_lat));
    println!("api get: {}", percentiles(&mut get_lat));
    node.stop();
}

/// Single-writer stock: UPDATES figures over SKUS products, sent in bulk
/// (10,000 rows per call) to one company while a second replicates them;
/// then the size of both stores, which must not grow with the updates.
fn stock(updates: u64, skus: u64) {
    let a = Company::init(&cnpj(1), "Matriz");
    let node_a = a.start_node();
    let b = Company::join(&node_a.invite(), &cnpj(2), "Filial");
    let node_b = b.start_node();
    let per_call = 10_000u64;
    let started = Instant::now();
    let mut sent = 0u64;
    let mut round = 0u64;
    while sent < updates {
        let rows: Vec<String> = (0..per_call.min(updates - sent))
            .map(|i| {
                let sku = (sent + i) % skus;
                format!(
                    r#"{{"sku":"SKU-{sku}","quantity":"{}.{:03}","reserved":"1"}}"#,
                    round,
                    i % 1000
                )
            })
            .collect();
        let body = format!("[{}]", rows.join(","));
        let a = node_a.request("POST", "/v1/stock", Some(&body), None);
        assert_eq!(a.status, 200, "{:?}", a.body);
        sent += rows.len() as u64;
        round += 1;
    }
    let wrote = started.elapsed();
    // The last figure of the last SKU written, as seen at the replica.
    let last = updates - 1;
    let expected =
        serde_json::Value::String(format!("{}.{:03}", round - 1, (last % per_call) % 1000));
    let sku = last % skus;
    let took = wait_until("the replica caught up", Duration::from_secs(300), || {
        node_b.get(&format!("/v1/stock/SKU-{sku}")).body["companies"][0]["quantity"] == expected
    });
    println!(
        "stock: {updates} updates over {skus} SKUs written in {:.2} s ({:.0} updates/s); replica caught up {:.2} s after the last write",
        wrote.as_secs_f64(),
        updates as f64 / wrote.as_secs_f64(),
        took.as_secs_f64()
    );
    node_a.stop();
    node_b.stop();
    for (who, c) in [("writer", &a), ("replica", &b)] {
        let size = std::fs::metadata(c.data().join("store.redb"))
            .map(|m| m.len())
            .unwrap_or(0);
        println!("stock: {who} store.redb {:.1} MB", size as f64 / 1e6);
    }
}

fn percentiles(v: &mut [Duration]) -> String {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    format!(
        "p50 {:.2} ms, p99 {:.2} ms (n={})",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        v.len()
    )
}

/// Runs a command to its end; returns whether it succeeded, its own peak
/// RSS in MiB (from `wait4`, so other children do not count) and its
/// standard output (small: read after it ends).
fn run_measured(mut cmd: std::process::Command) -> (bool, f64, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 writes into the zeroed rusage and the status we own; the
    // child is ours and is reaped here (its `Child` is then only dropped).
    let (ok, rss_kib) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let r = libc::wait4(pid, &mut status, 0, &mut usage);
        (
            r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            usage.ru_maxrss,
        )
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
    }
    drop(child);
    (ok, rss_kib as f64 / 1024.0, out)
}

fn write_customers(company: &Company, n: u64) -> String {
    let file = company.data().join("customers.jsonl");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).expect("create file"));
    for i in 0..n {
        writeln!(w, "{}", customer(i)).expect("write");
    }
    w.flush().expect("flush");
    file.to_string_lossy().to_string()
}

/// Peak RSS of a running process, in MiB (VmHWM).
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(-1.0, |kib| kib / 1024.0)
}

/// Bytes the store file takes on disk (allocated blocks: redb grows the file
/// sparsely while it is open), in MB.
fn store_mb(c: &Company) -> f64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(c.data().join("store.redb")).map_or(0.0, |m| (m.blocks() * 512) as f64 / 1e6)
}

fn records(node: &RunningNode) -> u64 {
    node.get("/v1/status").body["records"].as_u64().unwrap_or(0)
}

/// Follows a node's change stream, noting when each document id arrives.
fn follow(node: &RunningNode, seen: Arc<Mutex<HashMap<String, Instant>>>) {
    let addr = node.base.trim_start_matches("http://").to_string();
    let token = node.token.clone();
    let since = node.get("/v1/status").body["last_seq"]
        .as_u64()
        .unwrap_or(0);
    std::thread::spawn(move || {
        let Ok(mut stream) = TcpStream::connect(&addr) else {
            return;
        };
        let _ = write!(
            stream,
            "GET /v1/changes/stream?since={since} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        let reader = BufReader::new(stream);
        for line in reader.lines() {
            let Ok(line) = line else { return };
            let Some(data) = line.strip_prefix("data: ") else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
                continue;
            };
            if let Some(id) = v["id"].as_str() {
                seen.lock()
                    .unwrap()
                    .entry(id.to_string())
                    .or_insert_with(Instant::now);
            }
        }
    });
}

/// A new company (`company`, named "Filial B") joins through `node`'s
/// invite: the company, how long `elo join` ran, its peak RSS in MiB, and
/// its JSON answer.
fn join_measured(node: &RunningNode, company: &str) -> (Company, Duration, f64, serde_json::Value) {
    let invite = node.invite();
    let b = Company::init_empty();
    let start = Instant::now();
    let args = [
        "--json",
        "join",
        &invite,
        "--company",
        company,
        "--name",
        "Filial B",
    ];
    let (ok, rss, out) = run_measured(b.command(&args));
    let process = start.elapsed();
    assert!(ok, "join failed");
    let joined = serde_json::from_str(out.trim()).expect("join's JSON");
    (b, process, rss, joined)
}

/// When each document id arrived at a node (see [`follow`]).
type Seen = Arc<Mutex<HashMap<String, Instant>>>;

/// A third member, C, joins through A and runs; once B and C are caught up
/// (within `settle`), both change streams are followed.
fn third_member_followed(
    node_a: &RunningNode,
    node_b: &RunningNode,
    settle: Duration,
) -> (Company, RunningNode, Seen, Seen) {
    let c = Company::join(&node_a.invite(), &cnpj(903), "Filial C");
    let node_c = c.start_node();
    // Settled: each of B and C connected to both others and caught up
    // with them, so the walks of the others' logs that follow a join are
    // over before the writes start.
    let settled = |node: &RunningNode| {
        let sync = node.get("/v1/sync").body;
        sync["caught_up"] == true && sync["connected"] == 2
    };
    wait_until("C settles", settle, || settled(&node_c) && settled(node_b));
    let seen_b: Seen = Arc::new(Mutex::new(HashMap::new()));
    let seen_c: Seen = Arc::new(Mutex::new(HashMap::new()));
    follow(node_b, seen_b.clone());
    follow(&node_c, seen_c.clone());
    std::thread::sleep(Duration::from_millis(300));
    (c, node_c, seen_b, seen_c)
}

fn mesh(n: u64) {
    let a = Company::init(&cnpj(901), "Matriz");
    let file = write_customers(&a, n);
    let out = a.elo(&["import", "customer", &file]);
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node_a = a.start_node();

    // W1: a new member joins and receives everything.
    let (b, process, join_rss, joined) = join_measured(&node_a, &cnpj(902));
    let w1 = Duration::from_secs_f64(joined["seconds"].as_f64().unwrap_or(f64::NAN));
    let at_rest = store_mb(&b);
    let node_b = b.start_node();
    assert!(records(&node_b) >= n, "B holds {} of {n}", records(&node_b));
    println!(
        "W1 initial load: {n} customers stored in {:.2} s ({:.0} records/s); `elo join` ran {:.2} s with compaction; its peak RSS {join_rss:.1} MiB",
        w1.as_secs_f64(),
        n as f64 / w1.as_secs_f64(),
        process.as_secs_f64()
    );
    println!(
        "W4 footprint: B store {at_rest:.1} MB on disk after joining ({:.0} B/record), {:.1} MB with its node running; A {:.1} MB",
        at_rest * 1e6 / n as f64,
        store_mb(&b),
        store_mb(&a)
    );

    // W2: B stops; 10% edited and 1% added at A; B restarts and catches up.
    wait_until("B settles", Duration::from_secs(60), || {
        node_b.get("/v1/sync").body["caught_up"] == true
    });
    assert!(node_b.stop().success());
    let edits = n / 10;
    let adds = n / 100;
    let edited: Vec<serde_json::Value> = (0..edits)
        .map(|i| serde_json::json!({"cpf": customer(i)["cpf"], "notes": format!("editado {i}")}))
        .collect();
    let added: Vec<serde_json::Value> = (n..n + adds).map(customer).collect();
    for chunk in edited.chunks(1000).chain(added.chunks(1000)) {
        let body = serde_json::Value::Array(chunk.to_vec()).to_string();
        let r = node_a.request("POST", "/v1/records/customer", Some(&body), None);
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let last_key = customer(n + adds - 1)["cpf"].as_str().unwrap().to_string();
    let last_edit = customer(edits - 1)["cpf"].as_str().unwrap().to_string();
    let start = Instant::now();
    let node_b = b.start_node();
    wait_until("B caught up", Duration::from_secs(120), || {
        node_b.record("customer", &last_key).is_some()
            && node_b
                .record("customer", &last_edit)
                .is_some_and(|r| r["notes"] == format!("editado {}", edits - 1))
            && node_b.get("/v1/sync").body["caught_up"] == true
    });
    let w2 = start.elapsed();
    println!(
        "W2 catch-up: {edits} edited + {adds} added while away, caught up {:.2} s after restart (process start included)",
        w2.as_secs_f64()
    );

    // W3: three members live; 1,000 writes 10 ms apart at A.
    let (_c, node_c, seen_b, seen_c) =
        third_member_followed(&node_a, &node_b, Duration::from_secs(120));
    let mut sent = Vec::new();
    for i in 0..1000u64 {
        let key = format!("W3-{i:04}");
        let t = Instant::now();
        let r = node_a.put(
            &format!("/v1/records/product/{key}"),
            r#"{"description":"propagação"}"#,
        );
        assert_eq!(r.status, 201);
        sent.push((format!("product/sku:{key}"), t));
        std::thread::sleep(Duration::from_millis(10));
    }
    wait_until(
        "W3 writes visible at B and C",
        Duration::from_secs(60),
        || seen_b.lock().unwrap().len() >= 1000 && seen_c.lock().unwrap().len() >= 1000,
    );
    let mut lat = Vec::new();
    for (id, t) in &sent {
        for seen in [&seen_b, &seen_c] {
            if let Some(at) = seen.lock().unwrap().get(id) {
                lat.push(at.saturating_duration_since(*t));
            }
        }
    }
    println!("W3 propagation: {}", percentiles(&mut lat));
    println!(
        "W4 peak RSS: node A {:.1} MiB, node B {:.1} MiB, node C {:.1} MiB",
        peak_rss_mib(node_a.child.id()),
        peak_rss_mib(node_b.child.id()),
        peak_rss_mib(node_c.child.id())
    );
}

/// One order of five lines, numbered `n` by the ERP.
fn bench_order(n: u64) -> serde_json::Value {
    let items: Vec<serde_json::Value> = (0..5)
        .map(|i| {
            serde_json::json!({"sku": format!("SKU-{}", (n * 5 + i) % 5000),
            "description": "Produto de teste", "unit": "UN",
            "quantity": format!("{}", 1 + i), "unit_price": "12,34", "discount": "0"})
        })
        .collect();
    serde_json::json!({"erp_code": format!("PV-{n}"), "date": "2026-12-01",
        "customer": elo_tests::cpf(n + 1), "status": "approved",
        "customer_record": {"name": format!("Cliente {n}")},
        "delivery": {"name": "Cliente", "street": "Rua A", "number": "10", "city": "Recife",
                     "state": "PE", "zip_code": "50010000"},
        "freight": {"amount": "15.00", "paid_by": "cif"},
        "channel": {"id": "site", "name": "Loja"}, "items": items})
}

fn orders(n: u64) {
    let (mc, fc) = (cnpj(91), cnpj(92));
    let m = Company::init(&mc, "Matriz");
    let m_node = m.start_node();
    let f = Company::join(&m_node.invite(), &fc, "Filial");
    let f_node = f.start_node();
    let md = elo_tests::digits(&mc);
    wait_until("connected", Duration::from_secs(30), || {
        f_node.member(&md)["connected"] == true
    });
    let start = Instant::now();
    let mut done = 0;
    // The keys the branch gave (numbers from its range for `order`).
    let mut keys: Vec<String> = Vec::new();
    while done < n {
        let batch: Vec<serde_json::Value> = (done..(done + 1000).min(n)).map(bench_order).collect();
        let body = serde_json::Value::Array(batch).to_string();
        let r = f_node.request("POST", "/v1/orders", Some(&body), None);
        assert_eq!(r.status, 200, "{:?}", r.body);
        keys.extend(
            r.body["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str().map(str::to_string)),
        );
        done = (done + 1000).min(n);
    }
    let took = start.elapsed();
    println!(
        "POST /v1/orders: {n} orders of 5 lines in {:.2} s, {:.0} orders/s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    let mut lags = Vec::new();
    for (i, key) in keys.iter().take(20).enumerate() {
        let i = i as u64;
        let to = serde_json::json!({"to": mc}).to_string();
        let sent = f_node.request("POST", &format!("/v1/orders/{key}/send"), Some(&to), None);
        assert_eq!(sent.status, 200, "{:?}", sent.body);
        let mut m_key = None;
        wait_until("the order at the matriz", Duration::from_secs(30), || {
            let o = f_node.get(&format!("/v1/orders/{key}")).body;
            m_key = o["link"]["destination_key"].as_str().map(str::to_string);
            m_key.is_some()
        });
        let m_key = m_key.unwrap_or_default();
        let invoice = serde_json::json!({"number": i + 1, "series": 1,
            "access_key": elo_tests::access_key(&md, (i + 1) as u32), "issued_at": "2026-12-02"});
        let t = Instant::now();
        let r = m_node.request(
            "POST",
            &format!("/v1/orders/{m_key}/invoice"),
            Some(&invoice.to_string()),
            None,
        );
        assert_eq!(r.status, 200, "{:?}", r.body);
        wait_until("invoiced at the branch", Duration::from_secs(30), || {
            f_node.get(&format!("/v1/orders/{key}")).body["status"] == "invoiced"
        });
        lags.push(t.elapsed());
    }
    lags.sort();
    println!(
        "invoice at the destination → invoiced at the origin: p50 {:.1} ms, p99 {:.1} ms (20 orders)",
        lags[lags.len() / 2].as_secs_f64() * 1e3,
        lags[lags.len() - 1].as_secs_f64() * 1e3
    );
}

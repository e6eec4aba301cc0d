//! elo's benchmark: the figures the issues name, measured with real `elo`
//! processes and real redb files. Build and run it in release:
//!
//! ```text
//! cargo build --release -p elo-cli -p elo-tests
//! target/release/elo-bench import [RECORDS]     # default 100000
//! ```
//!
//! `import`: a JSON-lines file of ~1 KB customers imported by `elo import`:
//! wall time, peak RSS of the importing process, bytes on disk per record;
//! then `elo node` is started and 1,000 PUTs and 1,000 GETs go through its
//! API one at a time: p50 and p99 latency.

use std::io::Write;
use std::time::{Duration, Instant};

use elo_tests::{Company, customer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("import") | None => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
            import(n);
        }
        Some(other) => {
            eprintln!("unknown benchmark {other:?}; known: import [RECORDS]");
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
    let out = company.elo(&["import", "customer", &file_arg]);
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak_rss_kib = children_peak_rss_kib();
    println!(
        "import: {n} records in {:.2} s ({:.0} records/s), peak RSS {:.1} MiB",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        peak_rss_kib as f64 / 1024.0
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

/// The largest peak RSS among this process's finished children, in KiB.
fn children_peak_rss_kib() -> i64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) == 0 {
            usage.ru_maxrss
        } else {
            -1
        }
    }
}

//! Durability: a node or an import killed with SIGKILL reopens cleanly and
//! holds every write that was acknowledged before the kill.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use elo_tests::{Company, cpf, customer};
use serde_json::Value;

#[test]
fn an_import_killed_mid_way_keeps_every_acknowledged_batch() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let n = 30_000u64;
    let file = c.data().join("customers.jsonl");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for i in 0..n {
        writeln!(w, "{}", customer(i)).unwrap();
    }
    w.flush().unwrap();
    drop(w);

    let mut child = c
        .command(&[
            "--json",
            "import",
            "customer",
            file.to_str().unwrap(),
            "--batch",
            "500",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acknowledged = 0u64;
    // Kill it after a few acknowledged batches, well before the end.
    while acknowledged < 2_000 {
        let Some(Ok(line)) = lines.next() else { break };
        let v: Value = serde_json::from_str(&line).unwrap();
        if let Some(k) = v["committed"].as_u64() {
            acknowledged = k;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        acknowledged >= 2_000 && acknowledged < n,
        "acknowledged {acknowledged}"
    );

    // Reopens cleanly; every acknowledged row is there, with its fields.
    let status = c.elo_json(&["status"]);
    let stored = status["records"].as_u64().unwrap() - 1;
    assert!(
        stored >= acknowledged,
        "stored {stored} < acknowledged {acknowledged}"
    );
    for i in [0, acknowledged / 2, acknowledged - 1] {
        let expected = customer(i);
        let got = c.elo_json(&["get", "customer", expected["cpf"].as_str().unwrap()]);
        assert_eq!(got["name"], expected["name"]);
        assert_eq!(got["notes"], expected["notes"]);
    }
    // Running the import again finishes the job without duplicates.
    c.elo_ok(&["import", "customer", file.to_str().unwrap()]);
    // Every customer once, plus the company's own roster record.
    assert_eq!(c.elo_json(&["status"])["records"].as_u64(), Some(n + 1));
}

#[test]
fn a_node_killed_during_api_writes_keeps_every_2xx() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let node = c.start_node();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for t in 0..4u64 {
        let (acked, stop, base, token) = (
            acked.clone(),
            stop.clone(),
            node.base.clone(),
            node.token.clone(),
        );
        writers.push(std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .proxy(None)
                .build()
                .into();
            for i in 0..100_000u64 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let key = cpf(500_000 + t * 100_000 + i);
                let r = agent
                    .put(&format!("{base}/v1/records/customer/{key}"))
                    .header("Authorization", &format!("Bearer {token}"))
                    .send(format!(r#"{{"name":"Cliente {t}-{i}"}}"#));
                match r {
                    Ok(resp) if resp.status().is_success() => acked.lock().unwrap().push(key),
                    _ => return,
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 300 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut node = node;
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.join();
    }
    let acked = acked.lock().unwrap().clone();
    // Restart and check every acknowledged write.
    let node = c.start_node();
    for key in &acked {
        let a = node.get(&format!("/v1/records/customer/{key}"));
        assert_eq!(a.status, 200, "acknowledged write {key} lost");
    }
    assert!(node.stop().success());
}

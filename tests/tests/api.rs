//! The local HTTP API of a running `elo node` process, as an ERP uses it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use elo_tests::Company;
use serde_json::Value;

#[test]
fn records_through_the_api() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let node = c.start_node();

    // No token, wrong token: 401, and nothing else answers.
    assert_eq!(
        node.request("GET", "/v1/status", None, Some("")).status,
        401
    );
    assert_eq!(
        node.request("GET", "/v1/records/customer", None, Some("wrong"))
            .status,
        401
    );

    // Create (201), update one field (200), read back both.
    let a = node.put(
        "/v1/records/customer/529.982.247-25",
        r#"{"name":"Ana","city":"Recife"}"#,
    );
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.body["cpf"], "52998224725");
    let a = node.put(
        "/v1/records/customer/52998224725",
        r#"{"mobile_phone":"(81) 99999-0000"}"#,
    );
    assert_eq!(a.status, 200);
    let got = node.get("/v1/records/customer/52998224725");
    assert_eq!(got.body["city"], "Recife");
    assert_eq!(got.body["mobile_phone"], "(81) 99999-0000");

    // PATCH only updates; a missing record is 404.
    assert_eq!(
        node.request(
            "PATCH",
            "/v1/records/customer/11144477735",
            Some(r#"{"name":"X"}"#),
            None
        )
        .status,
        404
    );
    assert_eq!(
        node.request(
            "PATCH",
            "/v1/records/customer/52998224725",
            Some(r#"{"name":"Ana Maria"}"#),
            None
        )
        .status,
        200
    );

    // Malformed JSON: 400 saying where. Invalid field: 422 naming it. Nothing stored.
    let bad = node.put(
        "/v1/records/customer/11144477735",
        "{\"name\": \"B\",\n \"city\": }",
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["message"].as_str().unwrap().contains("line 2"),
        "{:?}",
        bad.body
    );
    let bad = node.put(
        "/v1/records/customer/11144477735",
        r#"{"name":"B","state":"XX","credit_limit":"-3"}"#,
    );
    assert_eq!(bad.status, 422);
    let fields: Vec<&str> = bad.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"state") && fields.contains(&"credit_limit"),
        "{fields:?}"
    );
    let key_clash = node.put(
        "/v1/records/customer/11144477735",
        r#"{"name":"B","cpf":"52998224725"}"#,
    );
    assert_eq!(key_clash.status, 422);
    assert_eq!(node.get("/v1/records/customer/11144477735").status, 404);

    // Oversized body: 413. Over a raw socket: the node answers as soon as the
    // body passes the limit, and a client still writing the rest could see
    // the connection close before it reads the answer.
    {
        let addr = node.base.trim_start_matches("http://").to_string();
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "PUT /v1/records/customer/11144477735 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            node.token,
            2 * 1024 * 1024
        )
        .unwrap();
        // A little more than the 1 MiB limit, not the whole declared body.
        stream.write_all(&vec![b'a'; 1024 * 1024 + 4096]).unwrap();
        let mut status_line = String::new();
        BufReader::new(stream).read_line(&mut status_line).unwrap();
        assert!(status_line.contains(" 413 "), "{status_line}");
    }

    // Pagination with after.
    for i in 0..5 {
        let a = node.put(
            &format!("/v1/records/product/SKU-{i}"),
            &format!(r#"{{"description":"Item {i}"}}"#),
        );
        assert_eq!(a.status, 201);
    }
    let p1 = node.get("/v1/records/product?limit=2");
    assert_eq!(p1.body["records"].as_array().unwrap().len(), 2);
    let after = p1.body["next_after"].as_str().unwrap().to_string();
    let p2 = node.get(&format!("/v1/records/product?limit=10&after={after}"));
    let skus: Vec<&str> = p2.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["sku"].as_str())
        .collect();
    assert_eq!(skus, vec!["SKU-2", "SKU-3", "SKU-4"]);

    // Bulk write: valid rows stored, invalid ones reported by index.
    let bulk = node.request(
        "POST",
        "/v1/records/unit",
        Some(r#"[{"code":"un","description":"Unidade"},{"code":"KG"},{"code":"CX","description":"Caixa"}]"#),
        None,
    );
    assert_eq!(bulk.status, 422);
    assert_eq!(bulk.body["stored"], 2);
    assert_eq!(bulk.body["rejected"][0]["index"], 1);
    assert_eq!(
        node.get("/v1/records/unit/UN").body["description"],
        "Unidade"
    );

    // Delete, then 404; the change feed lists it as deleted.
    assert_eq!(
        node.request("DELETE", "/v1/records/product/SKU-0", None, None)
            .status,
        200
    );
    assert_eq!(node.get("/v1/records/product/SKU-0").status, 404);
    let feed = node.get("/v1/changes?since=0&limit=100");
    let last = feed.body["changes"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["id"], "product/sku:SKU-0");
    assert_eq!(last["deleted"], true);

    // History over the API.
    let h = node.get("/v1/records/customer/52998224725/history");
    assert_eq!(h.body["history"].as_array().unwrap().len(), 3);

    // The OpenAPI document parses and names the routes; it needs no token.
    let doc = node.request("GET", "/v1/openapi.json", None, Some(""));
    assert_eq!(doc.status, 200);
    for path in [
        "/v1/records/{kind}/{key}",
        "/v1/changes",
        "/v1/changes/stream",
        "/v1/status",
    ] {
        assert!(
            doc.body["paths"].get(path).is_some(),
            "{path} missing from openapi.json"
        );
    }

    // While the node runs, the CLI goes through it (the store is the node's).
    let s = c.elo_json(&["status"]);
    assert_eq!(s["node_running"], true);
    let r = c.elo_json(&[
        "put",
        "customer",
        r#"{"cpf":"111.444.777-35","name":"Bruno"}"#,
    ]);
    assert_eq!(r["id"], "customer/cpf:11144477735");
    assert_eq!(
        node.get("/v1/records/customer/11144477735").body["name"],
        "Bruno"
    );

    // SIGTERM stops it cleanly; node.json goes away; the CLI then opens the store itself.
    let status = node.stop();
    assert!(status.success(), "{status:?}");
    assert!(!c.data().join("node.json").exists());
    assert_eq!(
        c.elo_json(&["get", "customer", "11144477735"])["name"],
        "Bruno"
    );
}

#[test]
fn the_change_stream_delivers_new_changes_as_they_happen() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let node = c.start_node();
    assert_eq!(
        node.put("/v1/records/unit/UN", r#"{"description":"Unidade"}"#)
            .status,
        201
    );

    let addr = node.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /v1/changes/stream?since=0 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        node.token
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut seen: Vec<Value> = Vec::new();
    let mut wrote_second = false;
    let started = Instant::now();
    let mut line = String::new();
    while seen.len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "stream gave {seen:?}"
        );
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("stream closed after {seen:?}");
        }
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            let change: Value = serde_json::from_str(data).unwrap();
            // The node's own roster record changes too; follow the units.
            if change["kind"] != "unit" {
                continue;
            }
            seen.push(change);
            if !wrote_second {
                // The backlog arrived; a change made now must follow live.
                wrote_second = true;
                assert_eq!(
                    node.put("/v1/records/unit/KG", r#"{"description":"Quilo"}"#)
                        .status,
                    201
                );
            }
        }
    }
    assert_eq!(seen[0]["id"], "unit/code:UN");
    assert_eq!(seen[1]["id"], "unit/code:KG");
    assert!(seen[1]["seq"].as_u64() > seen[0]["seq"].as_u64());
    // A node with an open stream still stops promptly.
    assert!(node.stop().success());
}

#[test]
fn the_api_stays_on_loopback_unless_told_otherwise() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let out = c.elo(&["node", "--api", "0.0.0.0:0", "--offline"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("loopback") && err.contains("--api-insecure-public"),
        "{err}"
    );
}

/// The TCP ports a process listens on, from /proc: its socket inodes
/// matched against the kernel's table of listening sockets.
#[cfg(target_os = "linux")]
fn listening(pid: u32) -> Vec<String> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().to_string();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // State 0A is LISTEN; column 9 is the inode.
            if cols.len() > 9 && cols[3] == "0A" && inodes.iter().any(|i| i == cols[9]) {
                out.push(cols[1].to_string());
            }
        }
    }
    out
}

/// `elo node --offline` is the API only: it listens on its API address and
/// nowhere else (no mesh port, on loopback or any other address).
#[cfg(target_os = "linux")]
#[test]
fn an_offline_node_listens_only_on_its_api_address() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let node = c.start_node_with(&["--offline"]);
    let api_port: u16 = node
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    // 127.0.0.1:PORT as /proc/net/tcp writes it.
    let api = format!("0100007F:{api_port:04X}");
    let sockets = listening(node.child.id());
    assert_eq!(
        sockets,
        vec![api],
        "an offline node listens only on its API"
    );
}

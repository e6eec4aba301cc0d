//! Running a node for real, as an operator sees it: the figures at
//! `/metrics` (per member bytes that grow as records replicate, the
//! separate loopback address), the logs (JSON lines, a file), and the
//! systemd unit `elo service install` writes, checked by systemd itself.

use std::time::Duration;

use elo_tests::{Company, cnpj, digits, free_ports, wait_until};

const LIMIT: Duration = Duration::from_secs(30);

/// The value of the one sample of `text` whose series starts with
/// `series` (its name and the labels up to the point given).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

/// The figures at a `--metrics` address: no token needed there.
fn scrape(addr: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .proxy(None)
        .build()
        .into();
    agent
        .get(format!("http://{addr}/metrics"))
        .call()
        .expect("the figures answer")
        .body_mut()
        .read_to_string()
        .expect("text")
}

#[test]
fn each_members_bytes_grow_as_a_record_replicates() {
    let a = Company::init(&cnpj(1), "Matriz");
    let metrics = format!("127.0.0.1:{}", free_ports(1)[0]);
    let node_a = a.start_node_with(&[
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--no-mdns",
        "--metrics",
        &metrics,
    ]);
    let b = Company::join(&node_a.invite(), &cnpj(2), "Filial B");
    let node_b = b.start_node();
    let b_digits = digits(&cnpj(2));
    let connected = format!("elo_member_connected{{company=\"{b_digits}\"");
    wait_until("B connected at A", LIMIT, || {
        sample(&scrape(&metrics), &connected) == Some(1.0)
    });
    let sent = format!("elo_member_sent_bytes_total{{company=\"{b_digits}\"");
    let received = format!("elo_member_received_bytes_total{{company=\"{b_digits}\"");
    let before = scrape(&metrics);
    let (sent_before, received_before) = (
        sample(&before, &sent).expect("bytes sent to B"),
        sample(&before, &received).expect("bytes received from B"),
    );

    // A record of 19 KB of digits that do not repeat (automerge compresses
    // its columns): far more than the pings between two scrapes.
    let mut state = 7u64;
    let mut digit = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        char::from(b'0' + u8::try_from((state >> 33) % 10).unwrap_or(0))
    };
    let extra: serde_json::Map<String, serde_json::Value> = (0..10)
        .map(|i| {
            (
                format!("notes{i}"),
                (0..1900).map(|_| digit()).collect::<String>().into(),
            )
        })
        .collect();
    let body = serde_json::json!({ "name": "Ana", "extra": extra });
    let put = node_a.put("/v1/records/customer/52998224725", &body.to_string());
    assert_eq!(put.status, 201, "{:?}", put.body);
    wait_until("the record at B", LIMIT, || {
        node_b.record("customer", "52998224725").is_some()
    });
    let after = scrape(&metrics);
    let sent_after = sample(&after, &sent).expect("bytes sent to B");
    assert!(
        sent_after >= sent_before + 8_000.0,
        "sent to B: {sent_before} then {sent_after}\n{after}"
    );
    assert!(sample(&after, &received).expect("bytes received") > received_before);
    // Pulled by B: its pull latency is counted at B, behind the token.
    let at_b = node_b.get("/metrics");
    assert_eq!(at_b.status, 200);
    let text = at_b.body.as_str().expect("text").to_owned();
    assert!(
        sample(&text, "elo_pull_duration_seconds_count{outcome=\"stored\"}").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    let a_digits = digits(&cnpj(1));
    let from_a = format!("elo_member_received_bytes_total{{company=\"{a_digits}\"");
    assert!(sample(&text, &from_a).unwrap_or(0.0) >= 8_000.0, "{text}");
    // Without the token, the API's /metrics refuses.
    assert_eq!(
        node_a.request("GET", "/metrics", None, Some("")).status,
        401
    );
}

#[test]
fn the_figures_are_not_served_without_the_token_off_loopback() {
    let a = Company::init(&cnpj(3), "Matriz");
    let out = a.elo(&[
        "node",
        "--offline",
        "--api",
        "127.0.0.1:0",
        "--metrics",
        "0.0.0.0:9464",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--metrics 0.0.0.0:9464") && err.contains("loopback"),
        "{err}"
    );
}

//! Running a node for real, as an operator sees it: the figures at
//! `/metrics` (per member bytes that grow as records replicate, the
//! separate loopback address), the logs (JSON lines, a file), and the
//! systemd unit `elo service install` writes, checked by systemd itself.

use std::time::Duration;

use elo_tests::{Company, cnpj, digits, elo_bin, free_ports, wait_until};

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
    let public = ["--metrics", "0.0.0.0:9464"];
    let out = a.elo(&[&["node", "--offline", "--api", "127.0.0.1:0"][..], &public].concat());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--metrics 0.0.0.0:9464") && err.contains("loopback"),
        "{err}"
    );
}

#[test]
fn json_logs_are_one_object_a_line() {
    let a = Company::init(&cnpj(4), "Matriz");
    let node = a.start_node_with(&["--offline", "--log-format", "json", "-v"]);
    assert!(node.stop().success());
    let log = a.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "node running" && l["level"] == "INFO"),
        "{log}"
    );
}

#[test]
fn a_log_file_gets_the_log_and_a_new_one_each_day() {
    let a = Company::init(&cnpj(5), "Matriz");
    let folder = a.data().join("logs");
    let path = folder.join("node.log");
    let node = a.start_node_with(&["--offline", "-v", "--log-file", path.to_str().unwrap()]);
    assert!(node.stop().success());
    let files: Vec<_> = std::fs::read_dir(&folder)
        .expect("the folder was made")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .into_string()
                .expect("a UTF-8 name")
        })
        .collect();
    let [file] = files.as_slice() else {
        panic!("one file of today expected: {files:?}")
    };
    // node.log.YYYY-MM-DD
    let date = file
        .strip_prefix("node.log.")
        .unwrap_or_else(|| panic!("{file}"));
    assert_eq!(date.len(), 10, "{file}");
    let text = std::fs::read_to_string(folder.join(file)).expect("the log");
    assert!(text.contains("node running"), "{text}");
    assert!(
        !a.log().contains("node running"),
        "also on standard error: {}",
        a.log()
    );
}

#[test]
fn the_service_unit_passes_systemds_own_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let units = dir.path().join("units");
    let data = dir.path().join("data");
    let (data_arg, units_arg) = (data.to_str().unwrap(), units.to_str().unwrap());
    let out = elo_ok(&[
        "--json",
        "--data",
        data_arg,
        "service",
        "install",
        "--user",
        "elo-test",
        "--unit-dir",
        units_arg,
        "--",
        "--no-mdns",
    ]);
    let told: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        told["enable"],
        "systemctl daemon-reload && systemctl enable --now elo"
    );
    let unit_path = units.join("elo.service");
    let unit = std::fs::read_to_string(&unit_path).expect("the unit");
    assert!(
        unit.contains(&format!("ReadWritePaths={}", data.display())),
        "{unit}"
    );
    assert!(unit.contains(" node --no-mdns\n"), "{unit}");

    // systemd's own reading: the file parses, every setting is known and
    // valid (an unknown or bad one is only a warning: any output fails),
    // and ExecStart is an executable.
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_path)
        .output()
        .expect("systemd-analyze (Debian's systemd package; .ci/run installs it)");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "{said}\n{unit}"
    );

    let out = elo_ok(&["service", "uninstall", "--unit-dir", units_arg]);
    assert!(!unit_path.exists());
    assert!(String::from_utf8_lossy(&out.stdout).contains("data directory and the user are kept"));
}

/// Runs `elo` without a data directory of its own and expects success.
fn elo_ok(args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(elo_bin())
        .args(args)
        .env_remove("ELO_DATA")
        .output()
        .expect("elo runs");
    assert!(
        out.status.success(),
        "elo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

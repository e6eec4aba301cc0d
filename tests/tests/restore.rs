//! A lost machine: a company's data directory is gone, and `elo restore`
//! of a backup on an empty directory brings the company back as the member
//! it was, with real `elo node` processes on loopback.

use std::time::Duration;

use elo_tests::{Company, cnpj, digits, wait_until};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(30);

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_company_restored_on_an_empty_directory_is_back_in_the_group() {
    let p = Company::init(&cnpj(321), "Matriz");
    let node_p = p.start_node();
    let b = Company::join(&node_p.invite(), &cnpj(322), "Filial B");
    let node_b = b.start_node();
    let (p_id, b_id) = (digits(&p.cnpj), digits(&b.cnpj));
    wait_until("P and B connected", LIMIT, || {
        node_p.member(&b_id)["connected"] == true && node_b.member(&p_id)["connected"] == true
    });
    let drawn = node_b.request("POST", "/v1/ids/customer/next", None, None);
    assert_eq!(drawn.status, 200, "{:?}", drawn.body);
    let before = drawn.body["code"].as_u64().expect("a code");
    let token = node_b.token.clone();

    // A backup, kept off the machine; then the machine is lost.
    let made = node_b.request("POST", "/v1/backup", Some(r#"{"name":"b.redb"}"#), None);
    assert_eq!(made.status, 200, "{:?}", made.body);
    let kept = tempfile::tempdir().unwrap();
    let backup = kept.path().join("b.redb");
    std::fs::copy(b.data().join("backups/b.redb"), &backup).unwrap();
    assert!(node_b.stop().success());
    std::fs::remove_dir_all(b.data()).unwrap();

    // Written elsewhere while B is gone.
    let put = node_p.put(
        "/v1/records/unit/WHILE-B-WAS-LOST",
        r#"{"description":"x"}"#,
    );
    assert_eq!(put.status, 201, "{:?}", put.body);

    // Restored on an empty directory: no `elo init`, the same company.
    let mut fresh = Company::init_empty();
    fresh.cnpj = b.cnpj.clone();
    let restored = fresh.elo_json(&["restore", backup.to_str().unwrap()]);
    assert_eq!(restored["identity_restored"], true, "{restored}");
    #[cfg(unix)]
    {
        assert_eq!(mode(fresh.data()), 0o700);
        assert_eq!(mode(&fresh.data().join("identity.key")), 0o600);
        assert_eq!(mode(&fresh.data().join("api-token")), 0o600);
    }
    assert_eq!(fresh.api_token(), token, "the ERP's token works again");
    let node_b = fresh.start_node();
    let status = node_b.get("/v1/status").body;
    assert_eq!(status["company"]["cnpj"], b_id, "{status}");

    // Back in the group: connected both ways, caught up, writing, drawing.
    wait_until("P and the restored B connected", LIMIT, || {
        node_p.member(&b_id)["connected"] == true && node_b.member(&p_id)["connected"] == true
    });
    wait_until("what was written meanwhile, at B", LIMIT, || {
        node_b.record("unit", "WHILE-B-WAS-LOST").is_some()
    });
    let put = node_b.put("/v1/records/unit/FROM-RESTORED-B", r#"{"description":"y"}"#);
    assert_eq!(put.status, 201, "{:?}", put.body);
    wait_until("B's new record at P", LIMIT, || {
        node_p.record("unit", "FROM-RESTORED-B").is_some()
    });
    let drawn = node_b.request("POST", "/v1/ids/customer/next", None, None);
    assert_eq!(drawn.status, 200, "{:?}", drawn.body);
    let after = drawn.body["code"].as_u64().expect("a code");
    assert!(
        after > before,
        "drew {after} after restoring, {before} before"
    );
    assert_eq!(node_p.member(&b_id)["last_error"], Value::Null);
}

#[test]
fn restore_on_an_empty_directory_refuses_what_is_not_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.redb");
    std::fs::write(&junk, b"not a store").unwrap();
    let fresh = Company::init_empty();
    let out = fresh.elo(&["restore", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an elo store"), "{err}");
    // Nothing half-made is left: a later restore or init starts clean.
    for f in ["identity.key", "api-token", "store.redb"] {
        assert!(!fresh.data().join(f).exists(), "{f} was left behind");
    }
}

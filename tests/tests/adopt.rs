//! A company that joins with data it already has, with real `elo node`
//! processes: identical data adds only what is new, different data is
//! reported and not written, the link rule decides what a GTIN links, a
//! product without SKU is never duplicated, and a backup restores.

use std::time::Duration;

use elo_tests::{Company, RunningNode, cnpj, digits, wait_until};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);

fn products(node: &RunningNode) -> Vec<Value> {
    node.get("/v1/records/product?limit=1000").body["records"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `elo --json adopt ARGS`: its exit code and report.
fn adopt(c: &Company, args: &[&str]) -> (i32, Value) {
    let mut full = vec!["--json", "adopt"];
    full.extend_from_slice(args);
    let out = c.elo(&full);
    let text = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(text.lines().last().unwrap_or("null")).unwrap_or_else(|e| {
        panic!(
            "adopt printed {text:?} ({e}); stderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

#[test]
fn a_branch_adopts_its_data_without_duplicates_and_restores_a_backup() {
    let a = Company::init(&cnpj(41), "Matriz");
    let node_a = a.start_node();
    for body in [
        r#"{"sku":"A1","description":"Parafuso 10 mm","gtin":"7891234567895"}"#,
        r#"{"sku":"A2","description":"Porca 10 mm","gtin":"7891234567901"}"#,
    ] {
        let v: Value = serde_json::from_str(body).unwrap();
        let sku = v["sku"].as_str().unwrap();
        assert_eq!(
            node_a
                .put(&format!("/v1/records/product/{sku}"), body)
                .status,
            201
        );
    }
    let put = node_a.put(
        "/v1/records/customer/52998224725",
        r#"{"name":"Ana Souza"}"#,
    );
    assert_eq!(put.status, 201);
    let b = Company::join(&node_a.invite(), &cnpj(42), "Filial");
    let node_b = b.start_node();
    wait_until("the group's products at B", LIMIT, || {
        products(&node_b).len() == 2
    });
    let files = tempfile::tempdir().unwrap();

    // Identical data (typed a little differently) plus one new product.
    let same = write(
        files.path(),
        "same.jsonl",
        concat!(
            r#"{"sku":"A1","description":"PARAFUSO 10 mm","gtin":"7891234567895"}"#,
            "\n",
            r#"{"sku":"A2","description":"Porca 10 mm"}"#,
            "\n",
            r#"{"sku":"A3","description":"Arruela"}"#,
            "\n",
        ),
    );
    let (code, r) = adopt(&b, &["product", same.to_str().unwrap(), "--rule", "sku"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["matched"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(r["new"], serde_json::json!(["product/sku:A3"]));
    assert_eq!(r["written"], 1);
    wait_until("the new product at A", LIMIT, || {
        products(&node_a).len() == 3
    });
    // Adopting the same file again adds nothing twice.
    let (code, r) = adopt(&b, &["product", same.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["matched"].as_array().unwrap().len(), 3, "{r}");
    assert_eq!(r["written"], 0);

    // Different data: a conflicting description, a product without SKU,
    // and a product whose SKU differs but whose GTIN is the group's A2.
    let different = write(
        files.path(),
        "different.jsonl",
        concat!(
            r#"{"sku":"A1","description":"Prego 15 mm"}"#,
            "\n",
            r#"{"description":"Rebite"}"#,
            "\n",
            r#"{"sku":"B9","description":"Porca 10 mm","gtin":"7891234567901"}"#,
            "\n",
        ),
    );
    let (code, r) = adopt(
        &b,
        &["product", different.to_str().unwrap(), "--rule", "sku+gtin"],
    );
    assert_eq!(code, 3, "{r}");
    assert_eq!(r["conflicting"][0]["record"], "product/sku:A1", "{r}");
    assert_eq!(
        r["conflicting"][0]["differences"][0]["field"],
        "description"
    );
    assert!(
        r["unlinkable"][0]["reason"]
            .as_str()
            .is_some_and(|m| m.contains("without SKU")),
        "{r}"
    );
    assert_eq!(r["matched"][0]["by"], "gtin", "{r}");
    assert_eq!(r["matched"][0]["record"], "product/sku:A2");
    assert_eq!(r["written"], 0);
    // With the SKU rule alone, B9 is new.
    let (_, r) = adopt(
        &b,
        &[
            "product",
            different.to_str().unwrap(),
            "--rule",
            "sku",
            "--dry-run",
        ],
    );
    assert_eq!(r["new"], serde_json::json!(["product/sku:B9"]), "{r}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        products(&node_a).len(),
        3,
        "nothing of the different data was written"
    );
    assert_eq!(
        node_a.record("product", "A1").unwrap()["description"],
        "Parafuso 10 mm"
    );

    // Contacts link by CPF and name (CSV this time).
    let contacts = write(
        files.path(),
        "customers.csv",
        "cpf,name\n529.982.247-25,ANA SOUZA\n529.982.247-25,Beatriz\n",
    );
    let (code, r) = adopt(&b, &["customer", contacts.to_str().unwrap()]);
    assert_eq!(code, 3, "{r}");
    assert_eq!(r["matched"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(
        r["conflicting"][0]["reason"],
        "the same CPF/CNPJ with another name"
    );

    // Different data, taken over by the group's: a backup first, the
    // group's records out for the ERP, nothing of the file written.
    let backup = files.path().join("filial.backup");
    let group_out = files.path().join("group.jsonl");
    let replace = |out: &std::path::Path| {
        let file = different.to_str().unwrap().to_owned();
        let (backup, out) = (backup.display().to_string(), out.display().to_string());
        [
            "product",
            &file,
            "--replace",
            "--backup",
            &backup,
            "--out",
            &out,
        ]
        .map(str::to_owned)
    };
    let args = replace(&group_out);
    let (_, r) = adopt(&b, &args.each_ref().map(String::as_str));
    assert_eq!(r["replace"], true, "{r}");
    let exported = std::fs::read_to_string(&group_out).unwrap();
    assert_eq!(exported.lines().count(), 3, "{exported}");
    assert!(backup.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a backup holds the group secret");
    }
    // Neither a backup nor the export replaces a file that is there.
    let kept = std::fs::read(&backup).unwrap();
    let args = replace(&files.path().join("other.jsonl"));
    let mut again = vec!["adopt"];
    again.extend(args.each_ref().map(String::as_str));
    let again = b.elo(&again);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let refused = b.elo(&["backup", group_out.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert_eq!(std::fs::read(&backup).unwrap(), kept);
    assert_eq!(std::fs::read_to_string(&group_out).unwrap(), exported);

    // A product written after the backup is gone once the backup is
    // restored (the node stopped); a damaged backup is refused and the
    // store is left as it was.
    assert_eq!(
        node_b
            .put("/v1/records/product/Z9", r#"{"description":"Depois"}"#)
            .status,
        201
    );
    node_b.stop();
    let damaged = files.path().join("damaged.backup");
    let bytes = std::fs::read(&backup).unwrap();
    std::fs::write(&damaged, &bytes[..bytes.len() / 3]).unwrap();
    let refused = b.elo(&["restore", damaged.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        b.elo(&["get", "product", "Z9"]).status.success(),
        "store untouched"
    );
    b.elo_ok(&["restore", backup.to_str().unwrap()]);
    assert!(!b.elo(&["get", "product", "Z9"]).status.success());
    assert!(b.elo(&["get", "product", "A3"]).status.success());
}

#[test]
fn each_company_keeps_its_own_codes_and_is_answered_in_them() {
    let a = Company::init(&cnpj(43), "Matriz");
    let node_a = a.start_node();
    let b = Company::join(&node_a.invite(), &cnpj(44), "Filial");
    let node_b = b.start_node();
    let (ida, idb) = (digits(&a.cnpj), digits(&b.cnpj));
    let created = node_a.put(
        "/v1/records/customer/52998224725",
        r#"{"name":"Ana","erp_code":"A-77"}"#,
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["erp_code"], "A-77");
    let group_code = created.body["code"].clone();
    assert!(group_code.is_i64(), "the group's code: {:?}", created.body);
    wait_until("Ana at B", LIMIT, || {
        node_b.record("customer", "52998224725").is_some()
    });

    // B's ERP numbers Ana 5001: it says so once, then uses its own code.
    let linked = node_b.put("/v1/records/customer/52998224725", r#"{"erp_code":5001}"#);
    assert_eq!(linked.status, 200, "{:?}", linked.body);
    let by_code = node_b.get("/v1/records/customer/erp:5001");
    assert_eq!(by_code.status, 200, "{:?}", by_code.body);
    assert_eq!(by_code.body["name"], "Ana");
    assert_eq!(by_code.body["erp_code"], "5001");
    assert_eq!(
        by_code.body["code"], group_code,
        "the group's code beside it"
    );
    let renamed = node_b.request(
        "PATCH",
        "/v1/records/customer/erp:5001",
        Some(r#"{"city":"Recife"}"#),
        None,
    );
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(node_b.get("/v1/records/customer/erp:9999").status, 404);
    // B's change feed names the record by B's code.
    let feed = node_b.get("/v1/changes?since=0&limit=1000").body;
    assert!(
        feed["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "customer/cpf:52998224725" && c["erp_code"] == "5001"),
        "{feed}"
    );
    // A answers in A's code, and keeps B's as a cross-reference.
    wait_until("B's code at A", LIMIT, || {
        node_a
            .record("customer", "52998224725")
            .is_some_and(|r| r["codes"][&idb] == "5001")
    });
    let at_a = node_a.get("/v1/records/customer/erp:A-77").body;
    assert_eq!(at_a["erp_code"], "A-77");
    let codes = a.elo_json(&["codes", "customer", "52998224725"]);
    assert_eq!(codes["codes"][&ida], "A-77", "{codes}");
    assert_eq!(codes["codes"][&idb], "5001", "{codes}");
    assert_eq!(codes["code"], group_code);

    // Adopting a file keeps the file's codes for matched records.
    let files = tempfile::tempdir().unwrap();
    let file = write(
        files.path(),
        "customers.jsonl",
        "{\"cpf\":\"52998224725\",\"name\":\"Ana\",\"erp_code\":\"B-1\"}\n",
    );
    let (code, r) = adopt(&b, &["customer", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        node_b.get("/v1/records/customer/erp:B-1").body["name"],
        "Ana"
    );
}

/// `--dry-run` with `--replace` writes nothing (neither the backup nor the
/// group's file), and `--out` gets the format its name says, whatever the
/// input's.
#[test]
fn a_dry_run_replace_writes_nothing_and_out_follows_its_name() {
    let c = Company::init(&cnpj(45), "Filial");
    c.elo_ok(&["put", "product", r#"{"sku":"A1","description":"Parafuso"}"#]);
    let files = tempfile::tempdir().unwrap();
    let input = write(files.path(), "mine.csv", "sku,description\nA1,Porca\n");
    let backup = files.path().join("b.redb");
    let out = files.path().join("group.jsonl");
    let args = |dry: bool| {
        let mut v = vec![
            "product".to_string(),
            input.display().to_string(),
            "--replace".into(),
            "--backup".into(),
            backup.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        if dry {
            v.push("--dry-run".into());
        }
        v
    };
    let dry = args(true);
    let (_, r) = adopt(&c, &dry.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r["conflicting"].as_array().map(Vec::len), Some(1), "{r}");
    assert!(!backup.exists(), "a dry run makes no backup");
    assert!(!out.exists(), "a dry run writes no file");

    let real = args(false);
    adopt(&c, &real.iter().map(String::as_str).collect::<Vec<_>>());
    let text = std::fs::read_to_string(&out).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap_or(""))
        .unwrap_or_else(|e| panic!("group.jsonl holds {text:?}: {e}"));
    assert_eq!(first["sku"], "A1");
    assert!(backup.exists());
}

//! The `elo` command line on a company with no node running: records go
//! straight into the redb file. Real processes, real files.

use elo_tests::{Company, cpf};
use serde_json::Value;

#[test]
fn put_get_list_delete_history() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let r = c.elo_json(&[
        "put",
        "customer",
        r#"{"cpf":"529.982.247-25","name":"Ana Souza","state":"pe","credit_limit":"1.500,50"}"#,
    ]);
    assert_eq!(r["id"], "customer/cpf:52998224725");
    assert_eq!(r["state"], "PE");
    assert_eq!(r["credit_limit"], "1500.50");

    // A field-level update keeps the other fields.
    c.elo_json(&[
        "put",
        "customer",
        r#"{"city":"Recife"}"#,
        "--key",
        "52998224725",
    ]);
    let got = c.elo_json(&["get", "customer", "529.982.247-25"]);
    assert_eq!(got["name"], "Ana Souza");
    assert_eq!(got["city"], "Recife");

    let list = c.elo_json(&["list", "customers"]);
    assert_eq!(list["records"].as_array().map(Vec::len), Some(1));

    let h = c.elo_json(&["history", "customer", "52998224725"]);
    let entries = h["history"].as_array().expect("history");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["company"], "11222333000181");
    assert!(
        entries[1]["fields"]
            .as_array()
            .unwrap()
            .contains(&Value::from("city"))
    );

    c.elo_json(&["delete", "customer", "52998224725"]);
    let out = c.elo(&["get", "customer", "52998224725"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no customer"));
    let changes = c.elo_json(&["changes"]);
    let last = changes["changes"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["id"], "customer/cpf:52998224725");
    assert_eq!(last["deleted"], true);
}

#[test]
fn an_invalid_record_is_refused_whole_with_field_and_reason() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let out = c.elo(&[
        "put",
        "customer",
        r#"{"cpf":"529.982.247-25","name":"Ana","email":"not-an-email","zip_code":"123"}"#,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("email") && err.contains("zip_code"), "{err}");
    assert!(
        !c.elo(&["get", "customer", "52998224725"]).status.success(),
        "nothing stored"
    );

    let out = c.elo(&["put", "customer", r#"{"cpf": "52998224725", "name": }"#]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("column"));
}

#[test]
fn csv_import_reports_bad_rows_by_line_and_exports_round_trip() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let csv = "sku,description,gtin,ncm,sale_price,extra.cor\n\
         P-1,Parafuso,7891000315507,7318.15.00,\"1,50\",azul\n\
         P-2,Porca,7891000315508,73181600,0.30,\n\
         P-3,Arruela,,73182200,-1,\n\
         P-4,\"Bucha, 8 mm\",,,2.00,branca\n";
    let file = c.data().join("produtos.csv");
    std::fs::write(&file, csv).unwrap();
    let out = c.elo(&["import", "product", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "rejected rows make the exit code non-zero"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3: gtin"), "{err}");
    assert!(err.contains("line 4: sale_price"), "{err}");
    let list = c.elo_json(&["list", "product"]);
    let skus: Vec<&str> = list["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["sku"].as_str())
        .collect();
    assert_eq!(skus, vec!["P-1", "P-4"]);
    assert_eq!(
        c.elo_json(&["get", "product", "P-4"])["description"],
        "Bucha, 8 mm"
    );

    // Export as CSV and JSON lines, import both into another company: same records.
    for format in ["csv", "jsonl"] {
        let export = c.data().join(format!("export.{format}"));
        c.elo_ok(&[
            "export",
            "product",
            "--format",
            format,
            "-o",
            export.to_str().unwrap(),
        ]);
        let other = Company::init("11.444.777/0001-61", "Filial");
        other.elo_ok(&["import", "product", export.to_str().unwrap()]);
        for sku in ["P-1", "P-4"] {
            let mut a = c.elo_json(&["get", "product", sku]);
            let mut b = other.elo_json(&["get", "product", sku]);
            a.as_object_mut().unwrap().remove("seq");
            b.as_object_mut().unwrap().remove("seq");
            assert_eq!(a, b, "{format}");
        }
    }
}

/// Money in a CSV as a pt-BR spreadsheet writes it: grouped amounts are
/// read whole, an amount that can be read two ways is a rejected row that
/// says so, and quantities as elo exports them import again.
#[test]
fn csv_money_is_read_one_way_or_the_row_is_refused() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let csv = "sku,description,sale_price,cost_price,weight\n\
         M-1,Martelo,\"1.500,50\",\"1.200.000,00\",2.500\n\
         M-2,Marreta,\"1,500.50\",1500,\"0,750\"\n\
         M-3,Malho,\"1.500\",10,1\n";
    let file = c.data().join("precos.csv");
    std::fs::write(&file, csv).unwrap();
    let out = c.elo(&["import", "product", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "one row is rejected");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 4: sale_price") && err.contains("two ways"),
        "{err}"
    );
    let m1 = c.elo_json(&["get", "product", "M-1"]);
    assert_eq!(m1["sale_price"], "1500.50");
    assert_eq!(m1["cost_price"], "1200000.00");
    assert_eq!(m1["weight"], "2.500");
    let m2 = c.elo_json(&["get", "product", "M-2"]);
    assert_eq!(m2["sale_price"], "1500.50");
    assert_eq!(m2["weight"], "0.750");
    assert!(!c.elo(&["get", "product", "M-3"]).status.success());
}

#[test]
fn jsonl_import_is_idempotent() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let lines: String = (0..300)
        .map(|i| {
            format!(
                "{{\"cpf\":\"{}\",\"name\":\"Cliente {i}\"}}\n",
                cpf(10_000 + i)
            )
        })
        .collect();
    let file = c.data().join("c.jsonl");
    std::fs::write(&file, format!("{lines}not json\n")).unwrap();
    let first = c.elo(&["--json", "import", "customer", file.to_str().unwrap()]);
    assert_eq!(first.status.code(), Some(3));
    let summary: Value = serde_json::from_str(
        String::from_utf8_lossy(&first.stdout)
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["stored"], 300);
    assert_eq!(summary["rejected"][0]["line"], 301);
    let second = c.elo(&["--json", "import", "customer", file.to_str().unwrap()]);
    let summary: Value = serde_json::from_str(
        String::from_utf8_lossy(&second.stdout)
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["changed"], 0, "an identical import adds no changes");
    // 300 customers after the company's own roster record.
    assert_eq!(c.elo_json(&["status"])["last_seq"], 301);
}

#[test]
fn init_refuses_a_bad_cnpj_and_a_used_directory() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(elo_tests::elo_bin())
            .arg("--data")
            .arg(dir.path().join("x"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["init", "--company", "11.222.333/0001-82", "--name", "X"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CNPJ"));
    // A name the roster record cannot hold is refused before anything is
    // made, not left as a broken group.
    let long = "Comércio ".repeat(15);
    let out = run(&["init", "--company", "11.222.333/0001-81", "--name", &long]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("longer than 120"), "{err}");
    assert!(!dir.path().join("x").exists(), "nothing was made");
    assert!(
        run(&["init", "--company", "11.222.333/0001-81", "--name", "X"])
            .status
            .success()
    );
    let out = run(&["init", "--company", "11.222.333/0001-81", "--name", "X"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("x/api-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the API token is readable only by its owner"
        );
    }
}

/// `elo list | head`: the command ends quietly when its reader stops,
/// and its log carries no colour codes when it is not a terminal.
#[cfg(unix)]
#[test]
fn output_to_a_closed_pipe_or_a_file_stays_clean() {
    use std::io::Read;
    use std::process::Stdio;
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let rows: String = (0..3000)
        .map(|i| format!("{{\"sku\":\"P-{i}\",\"description\":\"Parafuso {i}\"}}\n"))
        .collect();
    let file = c.data().join("p.jsonl");
    std::fs::write(&file, rows).unwrap();
    c.elo_ok(&["import", "product", file.to_str().unwrap()]);
    let mut child = c
        .command(&["list", "product", "--limit", "3000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .as_mut()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(status.code(), Some(101), "{err}");

    let out = c.elo(&["-v", "status"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains('\u{1b}'), "colour codes in a log: {log:?}");
}

//! Files in and out of `elo` as an operator has them: every export imports
//! back, in both formats and for every kind; CSV files as Excel in pt-BR
//! writes them (`;`, Latin-1, CRLF, a BOM) import with the right line
//! numbers; a broken file is refused with its line. Real processes, real
//! files, no node running.

use std::process::Output;

use elo_tests::Company;
use serde_json::Value;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The import's JSON summary (its last line).
fn summary(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or(Value::Null)
}

/// One record of every kind, with what only elo writes on them: a code
/// drawn, a credit used by a charge, this company's own code, a kit's
/// components.
fn company_with_every_kind() -> Company {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    for (kind, json) in [
        (
            "customer",
            r#"{"cpf":"529.982.247-25","name":"Ana Souza","credit_limit":"1.500,00","erp_code":"C-1","extra":{"rota":"7"},"addresses":{"billing":{"city":"Recife"}}}"#,
        ),
        (
            "supplier",
            r#"{"cnpj":"11.444.777/0001-61","name":"Parafusos SA","erp_code":"F-1"}"#,
        ),
        (
            "carrier",
            r#"{"cnpj":"45.723.174/0001-10","name":"Transportes"}"#,
        ),
        ("unit", r#"{"code":"UN","description":"Unidade"}"#),
        (
            "product_group",
            r#"{"code":"FER","description":"Ferragens"}"#,
        ),
        (
            "product",
            r#"{"sku":"P1","description":"Parafuso","sale_price":"1,50","erp_code":"77"}"#,
        ),
        (
            "product",
            r#"{"sku":"K1","description":"Kit","structure":"kit","components":{"P1":"2"}}"#,
        ),
    ] {
        c.elo_ok(&["put", kind, json]);
    }
    c.elo_ok(&["credit", "charge", "52998224725", "100,00"]);
    c
}

#[test]
fn every_export_imports_back_in_both_formats() {
    let c = company_with_every_kind();
    let kinds = [
        "customer",
        "supplier",
        "carrier",
        "unit",
        "product_group",
        "product",
        "company",
    ];
    for kind in kinds {
        for ext in ["jsonl", "csv"] {
            let file = c.data().join(format!("{kind}.{ext}"));
            c.elo_ok(&["export", kind, "-o", file.to_str().unwrap()]);
            let content = std::fs::read_to_string(&file).unwrap();
            if ext == "csv" {
                assert!(!content.starts_with('{'), "{kind}.csv holds CSV");
            } else {
                assert!(content.starts_with('{'), "{kind}.jsonl holds JSON lines");
            }
            let out = c.elo(&["--json", "import", kind, file.to_str().unwrap()]);
            let report = summary(&out);
            assert!(out.status.success(), "{kind}.{ext}: {}", text(&out));
            assert_eq!(report["rejected"], serde_json::json!([]), "{kind}.{ext}");
            assert!(report["rows"].as_u64() >= Some(1), "{kind}.{ext}: {report}");
            assert_eq!(report["rows"], report["stored"], "{kind}.{ext}: {report}");
        }
    }
    // What elo writes itself is left as it was, and the import says so.
    let file = c.data().join("customer.jsonl");
    let out = c.elo(&["import", "customer", file.to_str().unwrap()]);
    assert!(text(&out).contains("credit_used"), "{}", text(&out));
    let credit = c.elo_json(&["credit", "show", "52998224725"]);
    assert_eq!(credit["used"], "100.00", "{credit}");
    let ana = c.elo_json(&["get", "customer", "52998224725"]);
    assert_eq!(ana["erp_code"], "C-1");
    assert_eq!(ana["credit_limit"], "1500.00");
}

#[test]
fn an_export_format_that_contradicts_the_file_name_is_refused() {
    let c = company_with_every_kind();
    let file = c.data().join("customers.jsonl");
    let out = c.elo(&[
        "export",
        "customer",
        "--format",
        "csv",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--format csv"), "{}", text(&out));
    assert!(!file.exists(), "nothing written");
}

#[test]
fn csv_from_excel_in_pt_br_imports() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    // Latin-1, `;` between fields, CRLF line endings: "João" and "São
    // Paulo" in single bytes, a decimal comma inside a field.
    let file = c.data().join("clientes.csv");
    std::fs::write(
        &file,
        b"cpf;name;city;credit_limit\r\n529.982.247-25;Jo\xE3o Souza;S\xE3o Paulo;1.500,50\r\n111.444.777-35;Maria;Recife;10\r\n",
    )
    .unwrap();
    let out = c.elo(&["--json", "import", "customer", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let report = summary(&out);
    assert_eq!(report["stored"], 2, "{report}");
    assert_eq!(report["encoding"], "windows-1252");
    assert_eq!(report["delimiter"], ";");
    assert!(text(&out).contains("not UTF-8"), "the guess is told");
    let joao = c.elo_json(&["get", "customer", "52998224725"]);
    assert_eq!(joao["name"], "João Souza");
    assert_eq!(joao["city"], "São Paulo");
    assert_eq!(joao["credit_limit"], "1500.50");

    // Told it is UTF-8, the same file is refused before anything is
    // written, naming the line and the flag that reads it.
    let out = c.elo(&[
        "import",
        "customer",
        file.to_str().unwrap(),
        "--encoding",
        "utf-8",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("line 2"), "{}", text(&out));
    assert!(
        text(&out).contains("--encoding windows-1252"),
        "{}",
        text(&out)
    );

    // UTF-8 with a BOM, tabs, CRLF: the refused rows are named by their
    // real line; the row with a field too many is malformed.
    let file = c.data().join("tabs.csv");
    std::fs::write(
        &file,
        "\u{feff}cpf\tname\r\n390.533.447-05\tBia\r\n000.000.000-01\tNinguém\r\n529.982.247-25\tAna\textra\r\n",
    )
    .unwrap();
    let out = c.elo(&["import", "customer", file.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "some rows refused: {}",
        text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3: "), "{err}");
    assert!(err.contains("line 4: malformed CSV row"), "{err}");
    assert_eq!(
        c.elo_json(&["get", "customer", "39053344705"])["name"],
        "Bia"
    );
}

#[test]
fn a_quote_never_closed_stops_the_import_with_its_line() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let file = c.data().join("broken.csv");
    std::fs::write(
        &file,
        "cpf,name\n529.982.247-25,Ana\n111.444.777-35,\"Maria\n390.533.447-05,Bia\n",
    )
    .unwrap();
    let out = c.elo(&["import", "customer", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("line 3: malformed CSV row"),
        "{}",
        text(&out)
    );
    let list = c.elo_json(&["list", "customer"]);
    assert_eq!(list["records"], serde_json::json!([]), "nothing imported");
}

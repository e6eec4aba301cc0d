//! A data directory written by an earlier elo (schema 2, `elo` at commit
//! c25eb34: customers with a credit limit, a credit charge and an
//! additional field, products with a restricted cost price and an
//! additional field, a deleted product, stock in two deposits, ranges, an
//! order) opens with this build, is migrated in place, and every read
//! answers as the earlier build answered (`expected/`, written by it).

use std::path::Path;

use elo_tests::Company;
use serde_json::Value;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/store-schema-2");

/// A copy of the fixture's data directory (the fixture itself is never
/// opened: opening migrates it).
fn copy_of_fixture() -> Company {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["store.redb", "identity.key", "api-token"] {
        std::fs::copy(Path::new(FIXTURE).join(name), dir.path().join(name)).expect("copy");
    }
    Company {
        dir,
        cnpj: "11222333000181".into(),
    }
}

fn expected(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(Path::new(FIXTURE).join("expected").join(name))
        .expect("expected output");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("expected JSON"))
        .collect()
}

fn answers(company: &Company, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = company.elo_ok(&all);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON answer"))
        .collect()
}

#[test]
fn a_store_of_the_earlier_format_reads_back_whole() {
    let company = copy_of_fixture();
    let reads: [(&str, &[&str]); 10] = [
        ("export-customer.jsonl", &["export", "customer"]),
        ("export-product.jsonl", &["export", "product"]),
        ("product-ABC-1.json", &["get", "product", "ABC-1"]),
        ("history.json", &["history", "customer", "cpf:11144477735"]),
        ("credit.json", &["credit", "show", "52998224725"]),
        ("stock-ABC-1.json", &["stock", "ABC-1"]),
        ("stock-KIT-2.json", &["stock", "KIT-2"]),
        ("ranges.json", &["ranges"]),
        ("orders.json", &["orders", "list"]),
        ("changes.json", &["changes"]),
    ];
    for (file, args) in reads {
        assert_eq!(answers(&company, args), expected(file), "elo {args:?}");
    }
    let deleted = company.elo(&["get", "product", "OLD-3"]);
    assert!(
        !deleted.status.success(),
        "the deleted product stays deleted"
    );

    // Opened twice (already migrated): still the same.
    assert_eq!(
        answers(&company, &["export", "customer"]),
        expected("export-customer.jsonl")
    );
    // And the migrated store takes writes as any other.
    company.elo_ok(&[
        "put",
        "customer",
        r#"{"cpf":"529.982.247-25","notes":"migrada"}"#,
    ]);
    let maria = answers(&company, &["get", "customer", "52998224725"]);
    assert_eq!(maria[0]["notes"], "migrada");
    assert_eq!(maria[0]["credit_limit"], "1500.50");
    assert_eq!(maria[0]["extra"]["segmento"], "varejo");
}

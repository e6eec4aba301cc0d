//! The command line's edges, as a person or a script meets them: JSON
//! errors with `--json`, exit codes that tell a bad command line from
//! refused rows, keys typed as the README says, commands that work with
//! no node running, tables that stay tables, arguments checked. Real
//! `elo` processes on real data directories.

use std::process::Output;

use elo_tests::{Company, cnpj};
use serde_json::Value;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one JSON value a `--json` command printed on standard output.
fn json_line(out: &Output) -> Value {
    let text = stdout(out);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "not one JSON value: {text:?} ({e}); stderr {:?}",
            stderr(out)
        )
    })
}

#[test]
fn with_json_every_outcome_is_json_and_exit_codes_differ() {
    let c = Company::init("11.222.333/0001-81", "Matriz");

    // A record that is not there: a JSON error with the API's code.
    let out = c.elo(&["--json", "get", "customer", "111.444.777-35"]);
    assert_eq!(out.status.code(), Some(1));
    let err = json_line(&out);
    assert_eq!(err["error"], "not_found", "{err}");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("no customer"))
    );

    // An invalid record: the fields and their reasons.
    let out = c.elo(&[
        "--json",
        "put",
        "customer",
        r#"{"cpf":"529.982.247-25","email":"x"}"#,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = json_line(&out);
    assert_eq!(err["error"], "invalid", "{err}");
    let fields: Vec<&str> = err["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert!(fields.contains(&"email"), "{err}");

    // A command line clap refuses: exit 2, as JSON too when asked.
    let out = c.elo(&["--json", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_line(&out)["error"], "usage");
    assert_eq!(c.elo(&["list"]).status.code(), Some(2));

    // A command that printed nothing with --json now answers.
    let out = c.elo(&["--json", "stock", "consider", "no"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_line(&out)["consider_stock"], false);

    // Rows refused by an import: exit 3, not the command line's 2.
    let file = c.data().join("c.csv");
    std::fs::write(&file, "cpf,name\n529.982.247-25,Ana\n000.000.000-01,X\n").unwrap();
    let out = c.elo(&["import", "customer", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    // `elo --help` lists them.
    let help = stdout(&c.elo(&["--help"]));
    assert!(help.contains("3  some rows"), "{help}");
}

#[test]
fn keys_are_read_as_the_readme_says() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    // A company by its CNPJ with punctuation, as a supplier is.
    let me = c.elo_json(&["get", "company", "11.222.333/0001-81"]);
    assert_eq!(me["cnpj"], "11222333000181");
    // A record by its group code, in every command that takes a key.
    let ana = c.elo_json(&[
        "put",
        "customer",
        r#"{"cpf":"529.982.247-25","name":"Ana"}"#,
    ]);
    let code = ana["code"].as_i64().expect("a code drawn").to_string();
    assert_eq!(c.elo_json(&["get", "customer", &code])["name"], "Ana");
    assert_eq!(c.elo_json(&["codes", "customer", &code])["id"], ana["id"]);
    assert!(c.elo_json(&["history", "customer", &code])["history"].is_array());
    assert_eq!(
        c.elo_json(&["credit", "show", &code])["customer"],
        "customer/cpf:52998224725"
    );
    let out = c.elo(&["get", "customer", "999"]);
    assert!(stderr(&out).contains("no customer with key or group code 999"));
}

#[test]
fn offline_commands_open_the_store_and_tables_stay_tables() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    // No node runs: the primary, the ranges and codes come from the store.
    let primary = c.elo_json(&["primary"]);
    assert_eq!(primary["primary"]["company"], "11222333000181", "{primary}");
    let codes = c.elo_json(&["id", "next", "customer", "--count", "2"]);
    assert_eq!(codes["codes"].as_array().map(Vec::len), Some(2), "{codes}");
    let out = c.elo_ok(&["ranges"]);
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines.len() >= 2, "{table}");
    // Every column ends where its heading ends.
    let ends = |line: &str| -> Vec<usize> {
        let mut out = Vec::new();
        let b = line.as_bytes();
        for i in 0..b.len() {
            if b[i] != b' ' && (i + 1 == b.len() || b[i + 1] == b' ') {
                out.push(i);
            }
        }
        out
    };
    let heading = ends(lines[0]);
    for row in &lines[1..] {
        // The right-aligned number columns: from, to, used, term.
        assert_eq!(ends(row)[2..6], heading[2..6], "{table}");
    }

    // A name with a newline stays on its row, escaped.
    c.elo_ok(&[
        "put",
        "customer",
        r#"{"cpf":"529.982.247-25","name":"Ana\nSouza"}"#,
    ]);
    let list = stdout(&c.elo_ok(&["list", "customer"]));
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains(r"Ana\nSouza"), "{list}");
}

#[test]
fn arguments_are_checked() {
    let c = Company::init("11.222.333/0001-81", "Matriz");
    let out = c.elo(&[
        "invite",
        "--ttl-hours",
        "0",
        "--addr",
        "/ip4/127.0.0.1/tcp/4712",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = c.elo(&["invite", "--addr", "garbage"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a multiaddress"),
        "{}",
        stderr(&out)
    );

    // The demo's --data is a folder it uses, not one it ignores: one that
    // holds files is refused.
    let out = c.elo(&["demo"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("new or empty folder"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn with_a_node_by_host_name_resync_names_the_members() {
    let a = Company::init(&cnpj(61), "Matriz");
    let node = a.start_node_at(
        "localhost:0",
        &["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"],
        &[],
    );
    let b = Company::join(&node.invite(), &cnpj(62), "Filial");
    let out = a.elo(&["resync", "--peer", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("\"nope\""), "{err}");
    assert!(err.contains(&b.cnpj.replace(['.', '/', '-'], "")), "{err}");
    // A member named by its formatted CNPJ is found.
    let ok = a.elo_json(&["resync", "--peer", &b.cnpj]);
    assert_eq!(ok["members"], 1, "{ok}");
    node.stop();
}

#[test]
fn fields_describes_orders_too_and_types_in_words() {
    let c = Company::init(&cnpj(71), "Matriz");
    let out = c.elo_ok(&["fields", "order"]);
    let text = stdout(&out);
    assert!(text.contains("items[].quantity"), "{text}");
    assert!(text.contains("Quantidade"), "{text}");
    let customer = json_line(&c.elo(&["--json", "fields", "customer"]));
    let name = customer[0]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "name")
        .cloned()
        .expect("name");
    assert!(
        name["type"].as_str().is_some_and(|t| t.starts_with("text")),
        "{name}"
    );
    let unknown = c.elo(&["fields", "pedido"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("order"), "{}", stderr(&unknown));
}

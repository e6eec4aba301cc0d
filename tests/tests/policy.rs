//! What a company shares, with whom, and what never leaves it, checked on
//! real `elo` processes and on the bytes that cross the stream: the sending
//! node writes every message it sends (answers, and announcements that
//! carry changes) to an audit file (`ELO_WIRE_CAPTURE`), and the test reads
//! it back.

use std::time::Duration;

use elo_net::audit::Sent;
use elo_net::protocol::{ChangeSummary, DocBytes, RequestBody, ResponseBody};
use elo_tests::{Company, cnpj, wait_until};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);

/// Every map key the automerge changes in `bytes` write: a whole saved
/// document or one change.
fn keys_written(bytes: &[u8], out: &mut Vec<String>) {
    if bytes.is_empty() {
        return;
    }
    let mut doc = automerge::AutoCommit::load(bytes).expect("a document that loads");
    for change in doc.get_changes(&[]) {
        for op in change.decode().operations {
            if let automerge::legacy::Key::Map(k) = op.key {
                out.push(k.to_string());
            }
        }
    }
}

#[test]
fn restricted_fields_and_unreceived_categories_never_cross_the_wire() {
    let audit = tempfile::NamedTempFile::new().unwrap();
    let a = Company::init(&cnpj(21), "Matriz");
    let node_a = a.start_node_with_env(
        &["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"],
        &[("ELO_WIRE_CAPTURE", audit.path())],
    );
    // A keeps its location and cost price to itself.
    let r = node_a.request(
        "PUT",
        "/v1/restricted",
        Some(r#"{"fields":["location","cost_price"]}"#),
        None,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["restricted"],
        serde_json::json!(["location", "cost_price"])
    );

    let b = Company::join(&node_a.invite(), &cnpj(22), "Filial");
    // B does not receive credit limits, sale prices or additional fields.
    let b_node = b.start_node();
    let r = b_node.request(
        "PUT",
        "/v1/share",
        Some(r#"{"receives":"customers,suppliers,products,product_parameters,tax_rates,units"}"#),
        None,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    // A must know B's choice before it writes, or it would rightly send.
    let b_digits = cnpj(22)
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    wait_until("B's receive set known at A", LIMIT, || {
        node_a.record("company", &b_digits).is_some_and(|c| {
            c["receives"]
                .as_str()
                .is_some_and(|r| !r.contains("sale_price"))
        })
    });

    let product = r#"{"description":"Parafuso DESC-MARKER-55","ncm":"7318.15.00",
        "location":"SHELF-SECRET-42","cost_price":"12.34","sale_price":"99.99",
        "extra":{"note":"EXTRA-MARKER-77"}}"#;
    assert_eq!(node_a.put("/v1/records/product/P1", product).status, 201);
    let customer = r#"{"name":"Ana","credit_limit":"777.00"}"#;
    assert_eq!(
        node_a
            .put("/v1/records/customer/52998224725", customer)
            .status,
        201
    );

    // A reads its own values, restricted ones included.
    let at_a = node_a.record("product", "P1").unwrap();
    assert_eq!(at_a["location"], "SHELF-SECRET-42");
    assert_eq!(at_a["cost_price"], "12.34");
    assert_eq!(at_a["sale_price"], "99.99");

    // B gets what it receives, and nothing else.
    wait_until("the product and customer at B", LIMIT, || {
        b_node.record("product", "P1").is_some()
            && b_node.record("customer", "52998224725").is_some()
    });
    let at_b = b_node.record("product", "P1").unwrap();
    assert_eq!(at_b["description"], "Parafuso DESC-MARKER-55");
    assert_eq!(at_b["ncm"], "73181500");
    for absent in ["location", "cost_price", "sale_price", "extra"] {
        assert_eq!(at_b[absent], Value::Null, "{absent} reached B: {at_b}");
    }
    let customer_at_b = b_node.record("customer", "52998224725").unwrap();
    assert_eq!(customer_at_b["name"], "Ana");
    assert_eq!(customer_at_b["credit_limit"], Value::Null);

    // B does not receive prices, so it cannot write one blind.
    assert_eq!(
        b_node
            .request(
                "PATCH",
                "/v1/records/product/P1",
                Some(r#"{"cost_price":"50.00"}"#),
                None
            )
            .status,
        422
    );
    // B writes its own location; A's restricted value still stands at A.
    assert_eq!(
        b_node
            .request(
                "PATCH",
                "/v1/records/product/P1",
                Some(r#"{"location":"SHELF-B-7"}"#),
                None
            )
            .status,
        200
    );
    wait_until("B's change in A's history", LIMIT, || {
        node_a.get("/v1/records/product/P1/history").body["history"]
            .as_array()
            .is_some_and(|h| h.iter().any(|e| e["company"] == b_digits.as_str()))
    });
    assert_eq!(
        node_a.record("product", "P1").unwrap()["location"],
        "SHELF-SECRET-42"
    );
    assert_eq!(
        node_a.record("product", "P1").unwrap()["cost_price"],
        "12.34"
    );

    // What crossed the stream from A: no restricted value, no part of a
    // category B does not receive, not even listed.
    drop(node_a);
    let bytes = std::fs::read(audit.path()).unwrap();
    let (sent, damaged) = elo_net::audit::read_capture(&bytes);
    assert_eq!(damaged, None);
    // Entries are listed in answers to a walk and in the announcements
    // that carry changes; documents go in answers to a fetch and in those
    // announcements.
    let mut listed: Vec<ChangeSummary> = Vec::new();
    let mut docs: Vec<DocBytes> = Vec::new();
    for message in &sent {
        match message {
            Sent::Answer(answer) => match &answer.body {
                body @ (ResponseBody::Changes { .. } | ResponseBody::PackedChanges { .. }) => {
                    listed.extend(
                        body.clone()
                            .changes_page()
                            .expect("a page")
                            .expect("that unpacks")
                            .entries,
                    )
                }
                body @ (ResponseBody::Docs { .. } | ResponseBody::PackedDocs { .. }) => docs
                    .extend(
                        body.clone()
                            .documents()
                            .expect("documents")
                            .expect("that unpack"),
                    ),
                _ => {}
            },
            Sent::Request(request) => {
                if let RequestBody::Announce {
                    push: Some(push), ..
                } = &request.body
                {
                    listed.extend(push.entries.iter().cloned());
                    docs.extend(push.docs.iter().cloned());
                }
            }
        }
    }
    for e in listed {
        for part in ["/credit_limit", "/sale_price", "/additional_fields"] {
            assert!(!e.id.ends_with(part), "listed {} to B", e.id);
        }
    }
    let docs_sent = docs.len();
    let mut keys = Vec::new();
    for d in &docs {
        keys_written(&d.bytes, &mut keys);
        for c in &d.changes {
            keys_written(c, &mut keys);
        }
    }
    assert!(docs_sent >= 2, "the audit saw {docs_sent} documents sent");
    assert!(
        keys.iter().any(|k| k == "description"),
        "the audit reads values: {keys:?}"
    );
    for secret in ["location", "cost_price", "sale_price", "credit_limit"] {
        assert!(
            !keys.iter().any(|k| k == secret),
            "{secret} crossed the wire"
        );
    }
    assert!(
        !keys.iter().any(|k| k.starts_with("extra.")),
        "an extra field crossed the wire"
    );
    let raw = String::from_utf8_lossy(&bytes);
    assert!(
        raw.contains("DESC-MARKER-55"),
        "shared text is visible in the audit"
    );
    assert!(!raw.contains("SHELF-SECRET-42"));
    assert!(!raw.contains("EXTRA-MARKER-77"));

    // B does not hold units any more once it neither sends nor receives
    // them: its API refuses them.
    let r = b_node.request(
        "PUT",
        "/v1/share",
        Some(r#"{"sends":"customers,products","receives":"customers,products"}"#),
        None,
    );
    assert_eq!(r.status, 200);
    let refused = b_node.get("/v1/records/unit");
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "category_not_held");
    assert_eq!(b_node.get("/v1/records/product").status, 200);
}

/// Issue 12's scenario on real processes: M (the matriz), A, then B. A
/// keeps B out. M creates a customer, B edits it, M edits it on top of B's
/// edit: A holds every edit (a record taken in comes whole). B's own
/// customer is withheld from A, `elo status` says so and what to do, and it
/// arrives once A takes B in. B's stock counts at A all along: stock views
/// do not wait for authorisation.
#[test]
fn an_edit_built_on_a_kept_out_companys_edit_still_arrives() {
    let m = Company::init(&cnpj(51), "Matriz");
    let node_m = m.start_node();
    let a = Company::join(&node_m.invite(), &cnpj(52), "Filial A");
    let node_a = a.start_node();
    let b = Company::join(&node_m.invite(), &cnpj(53), "Filial B");
    let node_b = b.start_node();
    let b_digits = elo_tests::digits(&cnpj(53));

    let kept_out = node_a.request(
        "DELETE",
        &format!("/v1/authorizations/{b_digits}"),
        None,
        None,
    );
    assert_eq!(kept_out.status, 200, "{:?}", kept_out.body);
    wait_until("M sees that A keeps B out", LIMIT, || {
        node_m.record("company", &b_digits).is_some()
            && node_m
                .record("company", &elo_tests::digits(&cnpj(52)))
                .is_some_and(|c| {
                    c["authorizes"]
                        .as_str()
                        .is_some_and(|t| t.contains(&b_digits))
                })
    });

    // B publishes stock while A keeps it out: A counts it all the same.
    let sku = r#"{"sku":"SKU-1","description":"Parafuso"}"#;
    assert_eq!(node_m.put("/v1/records/product/SKU-1", sku).status, 201);
    wait_until("the product at B", LIMIT, || {
        node_b.record("product", "SKU-1").is_some()
    });
    b.elo_ok(&["stock", "set", "SKU-1", "20"]);
    wait_until("B's stock in A's group total", LIMIT, || {
        node_a.get("/v1/stock/SKU-1").body["total"]["quantity"] == "20.000"
    });

    let cpf = "52998224725";
    let ana = r#"{"name":"Ana","city":"Natal"}"#;
    assert_eq!(
        node_m
            .put(&format!("/v1/records/customer/{cpf}"), ana)
            .status,
        201
    );
    wait_until("Ana at B", LIMIT, || {
        node_b.record("customer", cpf).is_some()
    });
    let phone = node_b.request(
        "PATCH",
        &format!("/v1/records/customer/{cpf}"),
        Some(r#"{"mobile_phone":"(84) 99999-1111"}"#),
        None,
    );
    assert_eq!(phone.status, 200, "{:?}", phone.body);
    wait_until("B's edit at M", LIMIT, || {
        node_m
            .record("customer", cpf)
            .is_some_and(|r| r["mobile_phone"] == "(84) 99999-1111")
    });
    let recife = node_m.request(
        "PATCH",
        &format!("/v1/records/customer/{cpf}"),
        Some(r#"{"city":"Recife"}"#),
        None,
    );
    assert_eq!(recife.status, 200, "{:?}", recife.body);
    wait_until("M's edit, built on B's, at A", LIMIT, || {
        node_a
            .record("customer", cpf)
            .is_some_and(|r| r["city"] == "Recife")
    });
    let at_a = node_a.record("customer", cpf).expect("at A");
    assert_eq!(
        at_a["mobile_phone"], "(84) 99999-1111",
        "the record came whole"
    );

    // B's own customer stays out of A, and A is told.
    let bruno = elo_tests::cpf(7);
    let body = r#"{"name":"Bruno"}"#;
    assert_eq!(
        node_b
            .put(&format!("/v1/records/customer/{bruno}"), body)
            .status,
        201
    );
    wait_until("Bruno at M", LIMIT, || {
        node_m.record("customer", &bruno).is_some()
    });
    wait_until("A lists Bruno as withheld", LIMIT, || {
        let s = node_a.get("/v1/status").body;
        s["withheld"].as_array().is_some_and(|w| {
            w.iter().any(|w| {
                w["company"] == b_digits
                    && w["examples"].as_array().is_some_and(|e| {
                        e.iter()
                            .any(|e| e.as_str().is_some_and(|e| e.ends_with(&bruno)))
                    })
                    && w["what_to_do"]
                        .as_str()
                        .is_some_and(|t| t.contains("elo authorize --from"))
            })
        })
    });
    assert!(node_a.record("customer", &bruno).is_none());
    let shown = String::from_utf8_lossy(&a.elo_ok(&["status"]).stdout).to_string();
    assert!(
        shown.contains("withheld") && shown.contains(&b_digits),
        "{shown}"
    );

    // A takes B in: Bruno arrives, and nothing is listed as withheld.
    let granted = node_a.request(
        "POST",
        "/v1/authorizations",
        Some(&format!(r#"{{"from":"{}"}}"#, cnpj(53))),
        None,
    );
    assert_eq!(granted.status, 200, "{:?}", granted.body);
    wait_until("Bruno at A once B is taken in", LIMIT, || {
        node_a.record("customer", &bruno).is_some()
    });
    wait_until("nothing withheld", LIMIT, || {
        node_a.get("/v1/withheld").body["withheld"] == serde_json::json!([])
    });
}

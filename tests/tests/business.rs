//! Business features on records, with real `elo node` processes on
//! 127.0.0.1: a customer's shared credit limit, charged at two companies
//! while they cannot talk.

use std::time::Duration;

use elo_tests::{Company, RunningNode, cnpj, digits, wait_until};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);
const CPF: &str = "52998224725";

fn credit(node: &RunningNode) -> Value {
    node.get(&format!("/v1/customers/{CPF}/credit")).body
}

#[test]
fn credit_charged_at_two_companies_apart_adds_up_after_they_merge() {
    let a = Company::init(&cnpj(21), "Matriz");
    let node_a = a.start_node();
    let b = Company::join(&node_a.invite(), &cnpj(22), "Filial");
    let node_b = b.start_node();
    let put = node_a.put(
        &format!("/v1/records/customer/{CPF}"),
        r#"{"name":"Ana","credit_limit":"1000.00"}"#,
    );
    assert_eq!(put.status, 201, "{:?}", put.body);
    wait_until("the customer at B", LIMIT, || {
        node_b.record("customer", CPF).is_some()
    });

    // B goes offline and charges 300 there; A charges 400 meanwhile.
    node_b.stop();
    let offline = b.elo_json(&["credit", "charge", CPF, "300"]);
    assert_eq!(offline["used"], "300.00", "{offline}");
    let at_a = node_a.request(
        "POST",
        &format!("/v1/customers/{CPF}/credit"),
        Some(r#"{"charge":"400.00"}"#),
        None,
    );
    assert_eq!(at_a.status, 200, "{:?}", at_a.body);
    assert_eq!(at_a.body["used"], "400.00");

    // Together again: both charges count, at both companies.
    let node_b = b.start_node();
    for (who, node) in [("A", &node_a), ("B", &node_b)] {
        wait_until(&format!("both charges at {who}"), LIMIT, || {
            credit(node)["used"] == "700.00"
        });
        let c = credit(node);
        assert_eq!(c["available"], "300.00", "{c}");
        assert_eq!(c["limit"], "1000.00");
        assert_eq!(c["by_company"][digits(&a.cnpj)], "400.00", "{c}");
        assert_eq!(c["by_company"][digits(&b.cnpj)], "300.00", "{c}");
    }
    // The record shows it too.
    let record = node_b.record("customer", CPF).unwrap();
    assert_eq!(record["credit_used"][digits(&b.cnpj)], "300.00", "{record}");

    // A charge over what is available is refused with the figures.
    let over = node_a.request(
        "POST",
        &format!("/v1/customers/{CPF}/credit"),
        Some(r#"{"charge":"300.01"}"#),
        None,
    );
    assert_eq!(over.status, 409, "{:?}", over.body);
    assert_eq!(over.body["error"], "over_limit");
    assert!(
        over.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("300.00")),
        "{:?}",
        over.body
    );
    // A payment at B releases credit for everyone.
    let paid = b.elo_json(&["credit", "release", CPF, "100,00"]);
    assert_eq!(paid["used"], "600.00", "{paid}");
    wait_until("the payment at A", LIMIT, || {
        credit(&node_a)["used"] == "600.00"
    });
    // Bad amounts are clear errors.
    for bad in [r#"{"charge":"-5"}"#, r#"{"charge":"abc"}"#, r#"{}"#] {
        let r = node_a.request(
            "POST",
            &format!("/v1/customers/{CPF}/credit"),
            Some(bad),
            None,
        );
        assert_eq!(r.status, 422, "{bad}: {:?}", r.body);
    }
    let missing = node_a.get("/v1/customers/11144477735/credit");
    assert_eq!(missing.status, 404);
}

fn stock(node: &RunningNode, sku: &str, scope: &str) -> Value {
    node.get(&format!("/v1/stock/{sku}?scope={scope}")).body
}

#[test]
fn each_company_publishes_its_stock_and_sees_the_group_total() {
    let a = Company::init(&cnpj(31), "Matriz");
    let node_a = a.start_node();
    let b = Company::join(&node_a.invite(), &cnpj(32), "Filial");
    let node_b = b.start_node();
    let (ida, idb) = (digits(&a.cnpj), digits(&b.cnpj));

    // A has two deposits; bulk update from its ERP.
    let bulk = node_a.request(
        "POST",
        "/v1/stock",
        Some(
            r#"[{"sku":"PAR-10","quantity":"10","reserved":"2"},
                {"sku":"PAR-10","quantity":5.5,"deposit":"loja"},
                {"sku":"PAR-12","quantity":"1"},
                {"sku":"","quantity":"1"},
                {"sku":"PAR-13","quantity":"abc"}]"#,
        ),
        None,
    );
    assert_eq!(bulk.status, 422, "{:?}", bulk.body);
    assert_eq!(bulk.body["stored"], 3);
    let rejected: Vec<i64> = bulk.body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["index"].as_i64())
        .collect();
    assert_eq!(rejected, vec![3, 4]);
    // B's operator sets its figures from the command line.
    b.elo_ok(&["stock", "set", "PAR-10", "7", "--reserved", "1"]);

    for (who, node) in [("A", &node_a), ("B", &node_b)] {
        wait_until(&format!("both companies' stock at {who}"), LIMIT, || {
            stock(node, "PAR-10", "all")["companies"]
                .as_array()
                .is_some_and(|c| c.len() == 2)
        });
        let v = stock(node, "PAR-10", "all");
        assert_eq!(v["total"]["quantity"], "22.500", "{v}");
        assert_eq!(v["total"]["reserved"], "3.000", "{v}");
        assert_eq!(v["total"]["available"], "19.500", "{v}");
        let at_a = v["companies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["company"] == ida.as_str())
            .unwrap()
            .clone();
        assert_eq!(at_a["deposits"].as_array().unwrap().len(), 2, "{at_a}");
    }
    // Only this company's figures, when the ERP asks so.
    let own = stock(&node_b, "PAR-10", "own");
    assert_eq!(own["companies"].as_array().unwrap().len(), 1);
    assert_eq!(own["total"]["quantity"], "7.000");

    // B stops counting in the group totals; its figures stay visible.
    b.elo_ok(&["stock", "consider", "no"]);
    wait_until("B no longer counted at A", LIMIT, || {
        stock(&node_a, "PAR-10", "all")["total"]["quantity"] == "15.500"
    });
    let v = stock(&node_a, "PAR-10", "all");
    let at_b = v["companies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["company"] == idb.as_str())
        .unwrap()
        .clone();
    assert_eq!(at_b["counted"], false);
    assert_eq!(at_b["quantity"], "7.000");

    // Offline updates at B: the latest one wins everywhere once back.
    node_b.stop();
    b.elo_ok(&["stock", "set", "PAR-10", "9"]);
    b.elo_ok(&["stock", "set", "PAR-10", "4"]);
    let node_b = b.start_node();
    wait_until("B's latest figure at A", LIMIT, || {
        stock(&node_a, "PAR-10", "all")["companies"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["company"] == idb.as_str() && c["quantity"] == "4.000")
    });
    // B does not count in totals, even its own view's.
    let own = stock(&node_b, "PAR-10", "own");
    assert_eq!(own["companies"][0]["quantity"], "4.000", "{own}");
    assert_eq!(own["total"]["quantity"], "0.000", "{own}");
}

#[test]
fn a_kit_balance_counts_assembled_kits_or_the_group_components() {
    let a = Company::init(&cnpj(51), "Matriz");
    let node_a = a.start_node();
    let b = Company::join(&node_a.invite(), &cnpj(52), "Filial");
    let node_b = b.start_node();
    for (sku, body) in [
        ("C1", r#"{"description":"Caneca"}"#),
        ("C2", r#"{"description":"Caixa"}"#),
        (
            "K1",
            r#"{"description":"Kit presente","structure":"kit","components":{"C1":2,"C2":"1"}}"#,
        ),
    ] {
        let r = node_a.put(&format!("/v1/records/product/{sku}"), body);
        assert_eq!(r.status, 201, "{sku}: {:?}", r.body);
    }
    // Components belong to kits only.
    let not_kit = node_a.put(
        "/v1/records/product/C3",
        r#"{"description":"Fita","components":{"C1":1}}"#,
    );
    assert_eq!(not_kit.status, 422, "{:?}", not_kit.body);
    // A has 3 kits assembled and 10 mugs; B has 1 kit, 5 mugs, 4 boxes.
    let r = node_a.request(
        "POST",
        "/v1/stock",
        Some(r#"[{"sku":"K1","quantity":3},{"sku":"C1","quantity":10}]"#),
        None,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    wait_until("the kit at B", LIMIT, || {
        node_b.record("product", "K1").is_some()
    });
    let r = node_b.request(
        "POST",
        "/v1/stock",
        Some(r#"[{"sku":"K1","quantity":1},{"sku":"C1","quantity":5},{"sku":"C2","quantity":4}]"#),
        None,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    wait_until("B's figures at A", LIMIT, || {
        stock(&node_a, "C2", "all")["total"]["quantity"] == "4.000"
            && stock(&node_a, "K1", "all")["total"]["quantity"] == "4.000"
            && stock(&node_a, "C1", "all")["total"]["quantity"] == "15.000"
    });
    let kit = stock(&node_a, "K1", "all")["kit"].clone();
    // Assembled: 3 + 1. From components: 15 mugs / 2 = 7, 4 boxes / 1 = 4.
    assert_eq!(kit["assembled"], "4.000", "{kit}");
    assert_eq!(kit["from_components"], "4", "{kit}");
    // Only A's own stock: 10 mugs make 5, but A has no boxes.
    let own = stock(&node_a, "K1", "own")["kit"].clone();
    assert_eq!(own["from_components"], "0", "{own}");

    // B's ERP has K1 as a simple product: refused, clearly.
    let clash = node_b.put(
        "/v1/records/product/K1",
        r#"{"description":"Kit presente","structure":"simple"}"#,
    );
    assert_eq!(clash.status, 422, "{:?}", clash.body);
    assert_eq!(clash.body["fields"][0]["field"], "structure");
    assert!(
        clash.body["fields"][0]["reason"]
            .as_str()
            .is_some_and(|m| m.contains("\"kit\" in the group")),
        "{:?}",
        clash.body
    );
    // On purpose, from one company, it may change.
    let changed = node_b.put(
        "/v1/records/product/K1",
        r#"{"structure":"simple","change_structure":true,"components":{"C1":null,"C2":null}}"#,
    );
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    wait_until("the change at A", LIMIT, || {
        node_a
            .record("product", "K1")
            .is_some_and(|r| r["structure"] == "simple" && r.get("components").is_none())
    });
}

fn charge(node: &RunningNode, amount: &str) -> elo_tests::Answer {
    node.request(
        "POST",
        &format!("/v1/customers/{CPF}/credit"),
        Some(&format!(r#"{{"charge":"{amount}"}}"#)),
        None,
    )
}

#[test]
fn in_escrow_a_company_charges_within_its_rights_asks_for_more_and_never_goes_over() {
    let a = Company::init(&cnpj(61), "Matriz");
    let node_a = a.start_node();
    let b = Company::join(&node_a.invite(), &cnpj(62), "Filial B");
    let c = Company::join(&node_a.invite(), &cnpj(63), "Filial C");
    let node_b = b.start_node();
    let node_c = c.start_node();
    // B joined before C: it receives from C once it authorises it, which it
    // can do once C's roster record has reached it.
    wait_until("B knows C", LIMIT, || {
        node_b.record("company", &digits(&c.cnpj)).is_some()
    });
    b.elo_ok(&["authorize", "--from", &c.cnpj]);
    let idb = digits(&b.cnpj);
    let put = node_a.put(
        &format!("/v1/records/customer/{CPF}"),
        r#"{"name":"Ana","credit_limit":"900.00"}"#,
    );
    assert_eq!(put.status, 201);
    for n in [&node_b, &node_c] {
        wait_until("the customer everywhere", LIMIT, || {
            n.record("customer", CPF).is_some()
        });
    }
    // Only the founding company switches escrow on.
    assert!(!b.elo(&["credit", "escrow", "on"]).status.success());
    let on = a.elo_json(&["credit", "escrow", "on"]);
    assert_eq!(on["customers"], 1, "{on}");
    wait_until("B holds its part", LIMIT, || {
        credit(&node_b)["rights"][&idb] == "300.00"
    });

    // Within its rights: no one is asked.
    let r = charge(&node_b, "250");
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Beyond them: the others hand over what is missing.
    let r = charge(&node_b, "200");
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["used"], "450.00", "{:?}", r.body);
    assert_eq!(r.body["limit"], "900.00");

    // With no one reachable, a charge beyond this company's rights is
    // refused instead of going over the limit; within them it still works.
    node_a.stop();
    node_c.stop();
    let holds = credit(&node_b)["rights"][&idb].as_str().unwrap().to_owned();
    assert_eq!(holds, "0.00", "B used all it held");
    let r = charge(&node_b, "1");
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(r.body["error"], "escrow_short");
    // C, offline too, charges only what it holds (its 300 less what it gave).
    let at_c = c.elo_json(&["credit", "show", CPF]);
    let c_holds = at_c["rights"][digits(&c.cnpj)].as_str().unwrap().to_owned();
    let over = c.elo(&["credit", "charge", CPF, "900"]);
    assert!(!over.status.success());
    if c_holds != "0.00" {
        c.elo_ok(&["credit", "charge", CPF, &c_holds]);
    }
    // Once all merge, the used credit is within the limit.
    let node_a = a.start_node();
    let node_c = c.start_node();
    for n in [&node_a, &node_b, &node_c] {
        wait_until("everyone merged", LIMIT, || {
            let v = credit(n);
            let used: f64 = v["used"].as_str().unwrap_or("0").parse().unwrap_or(0.0);
            used >= 450.0 && v["by_company"].as_object().is_some_and(|m| m.len() >= 2)
        });
    }
    wait_until("the same figures at A and C", LIMIT, || {
        credit(&node_a)["used"] == credit(&node_c)["used"]
    });
    let v = credit(&node_a);
    let used: f64 = v["used"].as_str().unwrap().parse().unwrap();
    assert!(used <= 900.0, "{v}");
}

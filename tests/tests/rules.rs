//! The business rules of issue 13 against real `elo node` processes on
//! 127.0.0.1: a branch never writes blind a category it does not receive,
//! an ERP's code names one record, kits are made of other products, and
//! escrow follows the credit limit as it changes.

use std::time::Duration;

use elo_tests::{Company, RunningNode, cnpj, wait_until};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);
const CPF: &str = "52998224725";
const OTHER_CPF: &str = "11144477735";

fn send(node: &RunningNode, method: &str, path: &str, body: &str) -> (u16, Value) {
    let a = node.request(method, path, Some(body), None);
    (a.status, a.body)
}

fn patch_customer(node: &RunningNode, cpf: &str, body: &str) -> (u16, Value) {
    send(node, "PATCH", &format!("/v1/records/customer/{cpf}"), body)
}

fn charge(node: &RunningNode, cpf: &str, amount: &str) -> (u16, Value) {
    let body = format!(r#"{{"charge":"{amount}"}}"#);
    send(node, "POST", &format!("/v1/customers/{cpf}/credit"), &body)
}

#[test]
fn a_branch_does_not_write_blind_a_category_it_does_not_receive() {
    let a = Company::init(&cnpj(91), "Matriz");
    let node_a = a.start_node();
    let b = Company::join(&node_a.invite(), &cnpj(92), "Filial");
    let node_b = b.start_node();
    let (status, body) = send(
        &node_b,
        "PUT",
        "/v1/share",
        r#"{"receives":"customers,suppliers,products,units"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(
        &node_a,
        "PUT",
        &format!("/v1/records/customer/{CPF}"),
        r#"{"name":"Ana","credit_limit":"700.00"}"#,
    );
    assert_eq!(status, 201, "{body}");
    wait_until("the customer at B", LIMIT, || {
        node_b.record("customer", CPF).is_some()
    });

    let (status, body) = patch_customer(&node_b, CPF, r#"{"credit_limit":"1.00"}"#);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"][0]["field"], "credit_limit", "{body}");
    let reason = body["fields"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("does not receive credit_limit") && reason.contains("elo share"),
        "{reason}"
    );
    // Nor can it charge against a limit it cannot see.
    let (status, body) = charge(&node_b, CPF, "10");
    assert_eq!(status, 409, "{body}");
    // The rest of the record it writes as usual; the matriz keeps 700.00.
    let (status, body) = patch_customer(&node_b, CPF, r#"{"contact":"Bia"}"#);
    assert_eq!(status, 200, "{body}");
    wait_until("B's edit at A", LIMIT, || {
        node_a
            .record("customer", CPF)
            .is_some_and(|c| c["contact"] == "Bia")
    });
    assert_eq!(
        node_a.record("customer", CPF).unwrap()["credit_limit"],
        "700.00"
    );
}

#[test]
fn codes_kits_and_escrow_follow_the_rules() {
    let a = Company::init(&cnpj(93), "Matriz");
    let node = a.start_node();

    // An ERP's code names one record: refused for a second, by PUT, PATCH
    // and bulk rows, naming the holder; erp:CODE answers the first.
    let put =
        |cpf: &str, body: &str| send(&node, "PUT", &format!("/v1/records/customer/{cpf}"), body);
    let (status, body) = put(CPF, r#"{"name":"Ana","erp_code":"4521"}"#);
    assert_eq!(status, 201, "{body}");
    let (status, body) = put(OTHER_CPF, r#"{"name":"Bia","erp_code":"4521"}"#);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"][0]["field"], "erp_code", "{body}");
    assert!(
        body["message"].as_str().unwrap_or_default().contains(CPF),
        "{body}"
    );
    let (status, body) = put(OTHER_CPF, r#"{"name":"Bia","erp_code":"4522"}"#);
    assert_eq!(status, 201, "{body}");
    let (status, body) = patch_customer(&node, OTHER_CPF, r#"{"erp_code":"4521"}"#);
    assert_eq!(status, 422, "{body}");
    let (status, body) = send(
        &node,
        "POST",
        "/v1/records/customer",
        r#"[{"cpf":"39053344705","name":"Cid","erp_code":"4521"}]"#,
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["rejected"][0]["fields"][0]["field"], "erp_code",
        "{body}"
    );
    let by_code = node.get("/v1/records/customer/erp:4521");
    assert_eq!(by_code.body["name"], "Ana", "{:?}", by_code.body);

    // Kits: not of themselves, not in a cycle, not of unknown SKUs, and
    // their components change only on purpose.
    let product =
        |sku: &str, body: &str| send(&node, "PUT", &format!("/v1/records/product/{sku}"), body);
    let kit = |sku: &str, components: &str| {
        let body =
            format!(r#"{{"description":"Kit","structure":"kit","components":{components}}}"#);
        product(sku, &body)
    };
    let (status, body) = product("PARAF-1", r#"{"description":"Parafuso"}"#);
    assert_eq!(status, 201, "{body}");
    let (status, body) = kit("KIT-A", r#"{"KIT-A":1}"#);
    assert_eq!(status, 422, "{body}");
    let (status, body) = kit("KIT-A", r#"{"NADA-9":1}"#);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"][0]["field"], "component.NADA-9", "{body}");
    let (status, body) = kit("KIT-A", r#"{"PARAF-1":4}"#);
    assert_eq!(status, 201, "{body}");
    let (status, body) = kit("KIT-B", r#"{"KIT-A":2}"#);
    assert_eq!(status, 201, "{body}");
    let (status, body) = product(
        "KIT-A",
        r#"{"components":{"KIT-B":1},"change_structure":true}"#,
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("KIT-A → KIT-B → KIT-A"), "{body}");
    let (status, body) = product("KIT-A", r#"{"components":{"PARAF-1":5}}"#);
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("change_structure"), "{body}");

    // Escrow follows the limit: a customer given a limit after it was
    // switched on is charged, a raise counts at once, and no charge takes
    // the customer over the limit.
    let on = a.elo_json(&["credit", "escrow", "on"]);
    assert_eq!(on["escrow"], true, "{on}");
    let (status, body) = put(CPF, r#"{"name":"Ana","credit_limit":"100.00"}"#);
    assert_eq!(status, 200, "{body}");
    let (status, body) = charge(&node, CPF, "80");
    assert_eq!(status, 200, "{body}");
    let (status, body) = charge(&node, CPF, "30");
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("over_limit")),
        "{body}"
    );
    let (status, body) = put(CPF, r#"{"credit_limit":"150.00"}"#);
    assert_eq!(status, 200, "{body}");
    let (status, body) = charge(&node, CPF, "70");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["used"], "150.00", "{body}");
    assert_eq!(body["limit"], "150.00", "{body}");
}

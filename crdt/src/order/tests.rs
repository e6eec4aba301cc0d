use serde_json::json;

use super::doc::OrderDoc;
use super::*;

fn sample() -> Json {
    json!({
        "number": 17,
        "erp_code": "PV-4521",
        "date": "2026-12-01",
        "customer": "529.982.247-25",
        "status": "approved",
        "delivery": {"name": "Ana", "street": "Rua A", "number": "10", "district": "Centro",
                     "city": "Recife", "state": "pe", "zip_code": "50010-000"},
        "freight": {"amount": "15,00", "paid_by": "cif"},
        "channel": {"id": "ml", "name": "Mercado Livre", "intermediary_cnpj": "03.007.331/0001-41",
                    "intermediary_user": "LOJA123"},
        "items": [
            {"sku": "CAN-01", "description": "Caneta", "unit": "UN", "quantity": "1.000,000",
             "unit_price": "1,50", "discount": "0"},
            {"sku": "CAD-02", "quantity": 2, "unit_price": 10.25}
        ],
        "installments": [
            {"due_date": "2026-12-31", "amount": "1.535,50", "method": "boleto"}
        ]
    })
}

fn create(input: &Json) -> Result<OrderBody, ValidationError> {
    OrderBody::default().apply_json(input, WriteMode::Create, LineBlock::Origin)
}

#[test]
fn a_full_order_is_checked_and_rendered_exactly() {
    let body = create(&sample()).expect("valid order");
    let out = body.to_json();
    assert_eq!(out["customer"], "52998224725");
    assert_eq!(out["delivery"]["state"], "PE");
    assert_eq!(out["delivery"]["zip_code"], "50010000");
    assert_eq!(out["items"][0]["quantity"], "1000.000");
    assert_eq!(out["items"][0]["line"], 1);
    assert_eq!(out["items"][1]["unit_price"], "10.25");
    assert_eq!(out["freight"]["amount"], "15.00");
    assert_eq!(out["channel"]["intermediary_cnpj"], "03007331000141");
    // 1000 × 1.50 + 2 × 10.25 + 15.00 freight
    assert_eq!(body.total_cents(), 153_550);
    assert_eq!(body.status(), OrderStatus::Approved);
}

#[test]
fn every_bad_field_is_named_at_once() {
    let mut bad = sample();
    bad["customer"] = json!("111.111.111-11");
    bad["items"][1]["quantity"] = json!("1,500");
    bad["items"][0]["colour"] = json!("blue");
    bad["delivery"]["state"] = json!("XX");
    bad["status"] = json!("shipped");
    bad["installments"][0]["amount"] = json!("10,00");
    let err = create(&bad).expect_err("refused");
    let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
    for f in [
        "customer",
        "items[1].quantity",
        "items[0].colour",
        "delivery.state",
        "status",
    ] {
        assert!(fields.contains(&f), "{f} not named in {err}");
    }
    let missing = create(&json!({"customer": "52998224725"})).expect_err("refused");
    let fields: Vec<&str> = missing.0.iter().map(|e| e.field.as_str()).collect();
    assert!(
        fields.contains(&"date") && fields.contains(&"items"),
        "{missing}"
    );
}

#[test]
fn installments_must_add_up_and_discounts_stay_within_the_line() {
    let mut bad = sample();
    bad["installments"][0]["amount"] = json!("1000,00");
    let err = create(&bad).expect_err("refused");
    assert!(err.to_string().contains("1535.50"), "{err}");
    let mut bad = sample();
    bad["installments"] = json!([]);
    bad["items"][1]["discount"] = json!("20.51");
    let err = create(&bad).expect_err("refused");
    assert_eq!(err.0[0].field, "items[1].discount");
}

#[test]
fn a_patch_keeps_named_lines_and_numbers_new_ones_in_its_block() {
    let body = create(&sample()).expect("valid");
    let patch = json!({"items": [{"line": 2, "quantity": 3}, {"sku": "NEW", "quantity": 1, "unit_price": 1}],
                       "installments": null});
    let at_dest = body
        .apply_json(&patch, WriteMode::Patch, LineBlock::Destination)
        .expect("valid patch");
    assert_eq!(at_dest.lines("items"), vec![2, 1_000_001]);
    assert_eq!(at_dest.to_json()["items"][0]["sku"], "CAD-02");
    assert_eq!(at_dest.to_json()["items"][0]["quantity"], "3.000");
    let bad = json!({"items": [{"line": 9, "quantity": 1}]});
    let err = body
        .apply_json(&bad, WriteMode::Patch, LineBlock::Origin)
        .expect_err("unknown line");
    assert_eq!(err.0[0].field, "items[0].line");
}

#[test]
fn two_ends_editing_one_line_conflict_and_different_lines_both_stand() {
    let origin_company = "11222333000181";
    let dest_company = "11222333000262";
    let body = create(&sample()).expect("valid");
    let mut origin = OrderDoc::new(&[1; 16]);
    origin.write(&body, origin_company, 1);
    let mut dest = OrderDoc::load(&origin.save(), &[2; 16]).expect("load");
    let base = dest.heads();

    // Both change line 1's quantity; only the destination changes line 2.
    let o = body
        .apply_json(
            &json!({"items": [{"line": 1, "quantity": 5}, {"line": 2}]}),
            WriteMode::Patch,
            LineBlock::Origin,
        )
        .expect("valid");
    origin.write(&o, origin_company, 2);
    let d = body
        .apply_json(
            &json!({"items": [{"line": 1, "quantity": 7}, {"line": 2, "unit_price": "9,99"}]}),
            WriteMode::Patch,
            LineBlock::Destination,
        )
        .expect("valid");
    dest.write(&d, dest_company, 3);

    let to_origin = dest.changes_after(&base);
    assert!(origin.merge_bytes(&to_origin).expect("merge"));
    let conflicts = origin.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].field, "items.1.quantity");
    let mut by: Vec<_> = conflicts[0]
        .values
        .iter()
        .map(|v| (v.value.clone(), v.by.clone()))
        .collect();
    by.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        by,
        vec![
            (json!("5.000"), Some(origin_company.to_string())),
            (json!("7.000"), Some(dest_company.to_string()))
        ]
    );
    assert_eq!(origin.body().to_json()["items"][1]["unit_price"], "9.99");

    // Settling: the origin writes the field again; the conflict is gone at
    // both ends once merged.
    let settled = origin
        .body()
        .apply_json(
            &json!({"items": [{"line": 1, "quantity": 6}, {"line": 2}]}),
            WriteMode::Patch,
            LineBlock::Origin,
        )
        .expect("valid");
    assert_eq!(
        origin.write(&settled, origin_company, 4),
        vec!["items.1.quantity"]
    );
    assert!(origin.conflicts().is_empty());
    dest.merge_bytes(&origin.save()).expect("merge");
    assert!(dest.conflicts().is_empty());
    assert_eq!(dest.body().to_json()["items"][0]["quantity"], "6.000");
}

#[test]
fn node_keys_stay_out_of_the_body() {
    let body = create(&sample()).expect("valid");
    let mut doc = OrderDoc::new(&[1; 16]);
    doc.write(&body, "11222333000181", 1);
    doc.set_meta(&[("_link.id", "abc")], "11222333000181", 2);
    assert_eq!(doc.meta("_link.id").as_deref(), Some("abc"));
    assert_eq!(doc.body(), body);
    // Writing the same body again is no change.
    assert!(doc.write(&body, "11222333000181", 3).is_empty());
}

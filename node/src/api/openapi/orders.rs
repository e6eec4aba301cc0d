//! The order routes of the OpenAPI document, and the order schemas.

use serde_json::{Value, json};

use super::{AddPath, Op, array_of, path_param, schema};

/// The order schemas, added to the document's components.
pub(super) fn schemas() -> Value {
    let text = json!({ "type": "string" });
    let decimal = json!({ "type": "string", "description": "A decimal with fixed places, e.g. \"1500.00\"." });
    let statuses = json!({ "type": "string", "enum": ["open", "approved", "in_progress", "invoiced", "partially_invoiced", "fulfilled", "cancelled", "awaiting_payment", "payment_confirmed"] });
    json!({
        "Order": { "type": "object", "description": "A sales order (see the README's order section): the fields an ERP writes, and key, number, direction (own, sent, received), link, invoice, cancellation, invoices_here, invoicing_company, conflicts from the node.",
            "additionalProperties": true, "properties": {
                "key": text, "number": { "type": "integer" }, "erp_code": text, "date": text, "expected_date": text,
                "customer": { "type": "string", "description": "CPF or CNPJ" }, "status": statuses,
                "delivery": { "type": "object", "properties": { "name": text, "street": text, "number": text, "complement": text, "district": text, "city": text, "state": text, "zip_code": text } },
                "items": { "type": "array", "items": { "type": "object", "properties": { "line": { "type": "integer" }, "sku": text, "description": text, "unit": text, "quantity": decimal, "unit_price": decimal, "discount": decimal } } },
                "freight": { "type": "object", "properties": { "amount": decimal, "paid_by": { "type": "string", "enum": ["cif", "fob", "third_party", "own_sender", "own_recipient", "none"] } } },
                "installments": { "type": "array", "items": { "type": "object", "properties": { "due_date": text, "amount": decimal, "method": text } } },
                "channel": { "type": "object", "properties": { "id": text, "name": text, "intermediary_cnpj": text, "intermediary_user": text } },
                "operation_nature": text, "direction": { "type": "string", "enum": ["own", "sent", "received"] },
                "link": schema("OrderLink"),
                "invoice": { "type": "object", "properties": { "number": { "type": "integer" }, "series": { "type": "integer" }, "access_key": text, "issued_at": text, "by": text } },
                "invoices": { "type": "array", "description": "Every NF-e of the order, each with the lines it covers", "items": { "type": "object" } },
                "conflicts": { "type": "array", "items": { "type": "object", "properties": { "field": text, "values": { "type": "array", "items": { "type": "object", "properties": { "value": {}, "by": text } } } } } } } },
        "OrderLink": { "type": "object", "properties": { "id": text, "origin": text, "destination": text, "origin_key": text, "destination_key": text } },
        "OrderRule": { "type": "object", "required": ["to"], "properties": { "id": { "type": "integer" }, "to": text,
            "states": { "type": "array", "items": text }, "channels": { "type": "array", "items": text, "description": "Channel ids; none for orders of no channel (PDV, API)" },
            "status": statuses, "member": { "type": "boolean" }, "warning": text } },
        "OrderSettings": { "type": "object", "additionalProperties": false, "properties": {
            "cancel_at_origin": { "type": "boolean" }, "use_destination_default_nature": { "type": "boolean" }, "default_nature": { "type": ["string", "null"] },
            "natures": { "type": "array", "items": text }, "update_customer_on_send": { "type": "boolean" }, "update_products_on_send": { "type": "boolean" },
            "send_automatically": { "type": "boolean" }, "send_fiscal_data": { "type": "boolean" } } }
    })
}

pub(super) fn paths(add: &mut AddPath<'_>) {
    let key = || path_param("key", "The order's key here (its number).");
    let id = || path_param("id", "The rule's id.");
    let order = || schema("Order");
    add("/v1/orders", vec![], vec![
        ("get", Op::new("Orders: this company's own, sent and received")
            .query("status", json!({ "type": "string" }), "Only this status.")
            .query("direction", json!({ "type": "string", "enum": ["sent", "received", "own"] }), "Only these.")
            .query("after", json!({ "type": "string" }), "The last key of the previous page.")
            .query("limit", json!({ "type": "integer", "minimum": 1 }), "How many (default 100).")
            .reads_query()
            .ok("200", "A page", json!({ "type": "object", "properties": { "orders": array_of("Order"), "next_after": { "type": ["string", "null"] } } }))),
        ("post", Op::new("One order (an object), or up to 10,000 (a list) in one commit, each standing or failing alone")
            .json_body(json!({ "oneOf": [order(), array_of("Order")] }), true)
            .ok("201", "The order (one)", order())
            .ok("200", "All stored (a list)", json!({ "type": "object", "properties": { "stored": { "type": "integer" }, "keys": { "type": "array" }, "rejected": { "type": "array" } } }))
            .err("409", "An order of that number exists.")),
    ]);
    add("/v1/orders/changes", vec![], vec![("get", Op::new("Orders changed after a sequence number, here or at the other end, each once")
        .query("since", json!({ "type": "integer", "default": 0 }), "The last sequence seen.")
        .query("limit", json!({ "type": "integer", "minimum": 1 }), "How many (default 100).")
        .reads_query()
        .ok("200", "The changes", json!({ "type": "object", "properties": { "entries": { "type": "array", "items": { "type": "object", "properties": { "seq": { "type": "integer" }, "key": { "type": "string" }, "changed": { "type": "array", "items": { "type": "string" } }, "link": { "type": ["object", "null"] }, "invoices_here": { "type": "boolean" }, "own_codes": { "type": "object" }, "order": order() } } }, "last_seq": { "type": "integer" }, "latest_seq": { "type": "integer" } } })))]);
    add(
        "/v1/orders/{key}",
        vec![key()],
        vec![
            (
                "get",
                Op::new("One order")
                    .ok("200", "The order", order())
                    .err("404", "No such order."),
            ),
            (
                "patch",
                Op::new("Change some fields; a linked order's change reaches the other end")
                    .json_body(order(), true)
                    .ok("200", "The order", order())
                    .err("404", "No such order.")
                    .err(
                        "409",
                        "Invoiced (lines no longer change), or handed over to the destination.",
                    ),
            ),
        ],
    );
    add("/v1/orders/{key}/send", vec![key()], vec![("post", Op::new("Send the order to another company; without to, where the rules route it")
        .json_body(json!({ "type": "object", "additionalProperties": false, "properties": { "to": { "type": "string", "description": "A member's CNPJ" } } }), false)
        .ok("200", "The link", json!({ "type": "object", "properties": { "link": schema("OrderLink") } }))
        .err("404", "No such order, or to is not a member.").err("409", "Sent elsewhere already, or cancelled."))]);
    add("/v1/orders/{key}/invoice", vec![key()], vec![("post", Op::new("The NF-e this company issued for the order; the access key is checked")
        .json_body(json!({ "type": "object", "additionalProperties": false, "required": ["number", "series", "access_key", "issued_at"], "properties": {
            "number": { "type": "integer" }, "series": { "type": "integer" }, "access_key": { "type": "string" }, "issued_at": { "type": "string", "description": "YYYY-MM-DD" },
            "items": { "type": "array", "description": "The lines this NF-e covers (none: everything not invoiced yet)", "items": { "type": "object", "additionalProperties": false, "required": ["line"], "properties": { "line": { "type": "integer" }, "quantity": { "type": ["string", "number"], "description": "Part of the line (none: what is left of it)" } } } } } }), true)
        .ok("200", "The order, invoiced", order()).err("404", "No such order.").err("409", "Invoiced already, or cancelled."))]);
    add(
        "/v1/orders/{key}/fiscal",
        vec![key()],
        vec![(
            "post",
            Op::new("Send the invoice data held here (send_fiscal_data off) to the order's origin")
                .ok("200", "The order, its invoice data on its way", order())
                .err("404", "No such order.")
                .err("409", "No invoice data held."),
        )],
    );
    add("/v1/orders/{key}/cancel", vec![key()], vec![("post", Op::new("Cancel the order, and the linked one at the other end")
        .json_body(json!({ "type": "object", "additionalProperties": false, "required": ["reason"], "properties": { "reason": { "type": "string" }, "nfe_cancelled": { "type": "boolean" } } }), true)
        .ok("200", "The order, cancelled", order()).err("404", "No such order.").err("409", "Invoiced: cancel the NF-e first."))]);
    add("/v1/orders/{key}/split", vec![key()], vec![("post", Op::new("Which company can fulfil which lines, from the group's stock; with apply, each part its own order sent to its company")
        .json_body(json!({ "type": "object", "additionalProperties": false, "properties": { "apply": { "type": "boolean" } } }), false)
        .ok("200", "The proposal, or the order with its parts", json!({ "type": "object", "properties": { "proposal": { "type": "object" }, "order": order() } }))
        .err("404", "No such order.").err("409", "Sent, received or split already, or the stock does not cover it."))]);
    add(
        "/v1/order-settings",
        vec![],
        vec![
            (
                "get",
                Op::new("This company's order settings").ok(
                    "200",
                    "The settings",
                    schema("OrderSettings"),
                ),
            ),
            (
                "put",
                Op::new("Replace the order settings")
                    .json_body(schema("OrderSettings"), true)
                    .ok("200", "The settings", schema("OrderSettings")),
            ),
        ],
    );
    add("/v1/order-rules", vec![], vec![
        ("get", Op::new("The rules that route orders, each saying whether its destination is still a member")
            .ok("200", "The rules", json!({ "type": "object", "properties": { "rules": array_of("OrderRule") } }))),
        ("post", Op::new("Add a rule").json_body(schema("OrderRule"), true).ok("201", "The rule", schema("OrderRule")).err("404", "to is not a member.")),
    ]);
    add("/v1/order-rules/{id}", vec![id()], vec![
        ("put", Op::new("Replace a rule").json_body(schema("OrderRule"), true).ok("200", "The rule", schema("OrderRule")).err("404", "No such rule, or to is not a member.")),
        ("delete", Op::new("Delete a rule").ok("200", "Deleted", json!({ "type": "object", "properties": { "deleted": { "type": "integer" } } })).err("404", "No such rule.")),
    ]);
    add(
        "/v1/order-rules/{id}/clone",
        vec![id()],
        vec![(
            "post",
            Op::new("Copy a rule")
                .ok("201", "The copy", schema("OrderRule"))
                .err("404", "No such rule."),
        )],
    );
}

//! The customer's and the products' records going with an order (seed
//! 002: "Atualizar dados do cliente / campos do produto ao enviar
//! pedido"), so the company that invoices it has them even where it does
//! not receive those kinds from the group.
//!
//! What goes is each record's main document as the origin holds it: never
//! a part of a field-level category (credit limit, prices, fiscal
//! parameters) and never a field this company keeps to itself, so an
//! order carries nothing a member could not already be sent.

use elo_crdt::order::OrderBody;
use elo_crdt::order::doc::OrderDoc;
use elo_crdt::{DocId, Kind};
use redb::Database;
use serde_json::{Map, Value as Json};

use super::OrderError;
use super::write::invalid;
use crate::store::read::main_record;

/// The customer's record with the order (JSON text).
pub(super) const CUSTOMER: &str = "_with.customer";
/// The products' records with the order (JSON text: SKU → record).
pub(super) const PRODUCTS: &str = "_with.products";
/// A customer record given with a new order, at most this long as JSON.
const MAX_GIVEN: usize = 64 * 1024;

fn main_json(db: &Database, kind: Kind, key: &str) -> Result<Option<Json>, OrderError> {
    let Ok(id) = DocId::from_key(kind, key) else {
        return Ok(None);
    };
    Ok(main_record(db, &id)?.map(|r| r.to_json()))
}

/// A new order's customer must be a record here, or its record must come
/// with the order (`customer_record`, kept with it and sent with it).
/// Answers the record to keep with the order, if one was given.
pub(super) fn customer_of_new(
    db: &Database,
    body: &OrderBody,
    given: Option<Json>,
) -> Result<Option<String>, OrderError> {
    if let Some(record) = given {
        if !record.is_object() {
            return Err(invalid(
                "customer_record",
                "the customer's record as an object, as GET /v1/records/customer/{key} shows it",
            ));
        }
        let text = record.to_string();
        if text.len() > MAX_GIVEN {
            return Err(invalid("customer_record", "at most 64 KB"));
        }
        return Ok(Some(text));
    }
    let Some(customer) = body.text("customer") else {
        return Ok(None);
    };
    if main_json(db, Kind::Customer, customer)?.is_none() {
        return Err(invalid(
            "customer",
            format!(
                "{customer} is not a customer record here: create it first (elo put customer {customer} …) or send its record with the order as customer_record"
            ),
        ));
    }
    Ok(None)
}

/// The records to send with an order now, as the settings ask: the node
/// keys and their values (none when a setting is off or nothing is held).
pub(super) fn to_send(
    db: &Database,
    doc: &OrderDoc,
    customer: bool,
    products: bool,
) -> Result<Vec<(&'static str, String)>, OrderError> {
    let body = doc.body();
    let mut out = Vec::new();
    if customer
        && let Some(c) = body.text("customer")
        && let Some(record) = main_json(db, Kind::Customer, c)?
    {
        out.push((CUSTOMER, record.to_string()));
    }
    if products {
        let mut held = Map::new();
        for line in body.lines("items") {
            if let Some(sku) = body.text(&format!("items.{line}.sku"))
                && !held.contains_key(sku)
                && let Some(record) = main_json(db, Kind::Product, sku)?
            {
                held.insert(sku.to_string(), record);
            }
        }
        if !held.is_empty() {
            out.push((PRODUCTS, Json::Object(held).to_string()));
        }
    }
    Ok(out)
}

/// What came with the order, as the API shows it.
pub(super) fn render(doc: &OrderDoc, out: &mut Map<String, Json>) {
    let parse = |k: &str| {
        doc.meta(k)
            .and_then(|t| serde_json::from_str::<Json>(&t).ok())
    };
    if let Some(c) = parse(CUSTOMER) {
        out.insert("customer_record".into(), c);
    }
    if let Some(p) = parse(PRODUCTS) {
        out.insert("product_records".into(), p);
    }
}

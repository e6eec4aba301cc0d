//! The NF-e issued for an order: one for all its lines, or several, each
//! for some lines or part of a line's quantity. Until every quantity is
//! covered the order is partially invoiced; then it is invoiced, and a
//! further NF-e is refused (one sale, one set of invoices).
//!
//! Kept in the order's document by the company that invoices it (the
//! destination of a sent order), so the origin gets them with the order.

use std::collections::BTreeMap;

use elo_crdt::FieldValue;
use elo_crdt::order::OrderBody;
use elo_crdt::order::doc::OrderDoc;
use elo_crdt::value::{decimal_of_json, format_decimal};
use serde::{Deserialize, Serialize};

use super::OrderError;
use super::write::{InvoicedLine, invalid};

/// Every NF-e of the order (JSON list of [`Invoice`]).
pub(super) const ALL: &str = "_invoices";
/// How much of each line is invoiced (JSON: line → thousandths).
pub(super) const LINES: &str = "_invoiced.lines";
/// Quantities have three decimal places, as the order's lines.
const PLACES: u8 = 3;

/// One NF-e of an order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Invoice {
    pub number: u32,
    pub series: u32,
    pub access_key: String,
    pub issued_at: String,
    /// The company that issued it.
    pub by: String,
    pub items: Vec<Covered>,
}

/// What one NF-e covers of one line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Covered {
    pub line: u64,
    pub quantity: String,
}

/// An order's invoices so far.
pub(super) struct Invoiced {
    all: Vec<Invoice>,
    lines: BTreeMap<u64, i64>,
    /// The key of an NF-e stored before elo kept lines: it covered all.
    whole: Option<String>,
}

/// Each line of the order and its quantity (thousandths).
fn ordered(body: &OrderBody) -> BTreeMap<u64, i64> {
    body.lines("items")
        .into_iter()
        .map(|line| {
            let q = match body.get(&format!("items.{line}.quantity")) {
                Some(FieldValue::Int(q)) => *q,
                _ => 0,
            };
            (line, q)
        })
        .collect()
}

impl Invoiced {
    pub fn of(doc: &OrderDoc) -> Invoiced {
        let all: Vec<Invoice> = doc
            .meta(ALL)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let lines = doc
            .meta(LINES)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let whole = match all.is_empty() {
            true => doc.meta("_invoice.access_key"),
            false => None,
        };
        Invoiced { all, lines, whole }
    }

    /// The access key of the last NF-e when every quantity is invoiced.
    pub fn complete_by(&self, body: &OrderBody) -> Option<String> {
        if let Some(k) = &self.whole {
            return Some(k.clone());
        }
        let last = self.all.last()?;
        let left = ordered(body)
            .iter()
            .any(|(line, q)| self.lines.get(line).copied().unwrap_or(0) < *q);
        (!left).then(|| last.access_key.clone())
    }

    pub fn has_key(&self, key: &str) -> bool {
        self.all.iter().any(|i| i.access_key == key)
    }

    /// What an NF-e with these lines covers: each named line (what is left
    /// of it when no quantity is given), or everything left when none is.
    pub fn cover(
        &self,
        body: &OrderBody,
        asked: &[InvoicedLine],
    ) -> Result<Vec<Covered>, OrderError> {
        let ordered = ordered(body);
        let left = |line: u64| ordered[&line] - self.lines.get(&line).copied().unwrap_or(0);
        if asked.is_empty() {
            return Ok(ordered
                .keys()
                .filter(|l| left(**l) > 0)
                .map(|l| Covered {
                    line: *l,
                    quantity: format_decimal(left(*l), PLACES),
                })
                .collect());
        }
        let mut out: Vec<Covered> = Vec::new();
        for (i, item) in asked.iter().enumerate() {
            let at = format!("items[{i}]");
            if !ordered.contains_key(&item.line) {
                return Err(invalid(
                    &format!("{at}.line"),
                    format!("the order has no line {}", item.line),
                ));
            }
            if out.iter().any(|c| c.line == item.line) {
                return Err(invalid(&format!("{at}.line"), "named twice"));
            }
            let rest = left(item.line);
            let quantity = match &item.quantity {
                None => rest,
                Some(q) => {
                    decimal_of_json(q, PLACES).map_err(|e| invalid(&format!("{at}.quantity"), e))?
                }
            };
            if quantity <= 0 || quantity > rest {
                return Err(invalid(
                    &format!("{at}.quantity"),
                    format!(
                        "line {} has {} left to invoice",
                        item.line,
                        format_decimal(rest, PLACES)
                    ),
                ));
            }
            out.push(Covered {
                line: item.line,
                quantity: format_decimal(quantity, PLACES),
            });
        }
        Ok(out)
    }

    /// Adds an NF-e; answers the order's status with it.
    pub fn add(&mut self, invoice: Invoice, body: &OrderBody) -> &'static str {
        for c in &invoice.items {
            let q = elo_crdt::value::parse_decimal(&c.quantity, PLACES).unwrap_or(0);
            *self.lines.entry(c.line).or_insert(0) += q;
        }
        self.all.push(invoice);
        match self.complete_by(body) {
            Some(_) => "invoiced",
            None => "partially_invoiced",
        }
    }

    /// The two node keys' values: every NF-e, and the lines invoiced.
    pub fn to_meta(&self) -> (String, String) {
        let all = serde_json::to_string(&self.all).unwrap_or_default();
        let lines = serde_json::to_string(&self.lines).unwrap_or_default();
        (all, lines)
    }

    /// Every NF-e, as the API shows them.
    pub fn list(doc: &OrderDoc) -> Vec<Invoice> {
        Invoiced::of(doc).all
    }
}

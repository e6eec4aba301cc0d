//! Sales orders (pedidos de venda) between the companies of a group.
//!
//! An order is not group data: it concerns the company that took it (its
//! origin) and, once sent, its destination. This module is its model, with
//! no I/O: the fields and their checks ([`spec`]), the order as checked
//! values ([`OrderBody`]), as an automerge document both ends edit
//! ([`doc`]), its status words ([`status`]), the NF-e access key
//! ([`access_key`]) and the transfer-or-sale classification ([`fiscal`]).
//!
//! Lists (items, installments) are held as maps keyed by a line id that
//! never changes, so two ends editing different lines both stand, and two
//! editing the same field of one line show a conflict.

pub mod access_key;
pub mod doc;
pub mod fiscal;
pub mod spec;
pub mod status;

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::error::{FieldError, ValidationError};
use crate::value::FieldValue;
pub use spec::{GROUPS, LISTS, SCALARS};
pub use status::OrderStatus;

/// The ID range table orders are numbered from, at each company.
pub const ORDER_TABLE: &str = "order";

/// A leaf's path: `status`, `delivery.city`, `items.3.quantity` (3 is the
/// line id, not a position).
pub type Path = String;

/// An order's checked values, by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderBody {
    pub values: BTreeMap<Path, FieldValue>,
}

/// The block of line ids an end numbers its new lines from: the origin's
/// from 1, the destination's from 1,000,001.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineBlock {
    Origin,
    Destination,
}

impl LineBlock {
    const SIZE: u64 = 1_000_000;

    fn range(self) -> std::ops::Range<u64> {
        match self {
            LineBlock::Origin => 1..Self::SIZE + 1,
            LineBlock::Destination => Self::SIZE + 1..2 * Self::SIZE + 1,
        }
    }

    /// The next free id of this block, after every id `used` holds.
    pub(crate) fn next_after(self, used: &[u64]) -> u64 {
        let range = self.range();
        used.iter()
            .filter(|id| range.contains(id))
            .max()
            .map_or(range.start, |m| m + 1)
    }
}

/// How a write treats what it does not name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// A new order: required fields must be there.
    Create,
    /// A change: only what is named changes; `null` removes a field, and a
    /// list given replaces the list (lines named by `line` keep their id).
    Patch,
}

impl OrderBody {
    pub fn get(&self, path: &str) -> Option<&FieldValue> {
        self.values.get(path)
    }

    pub fn text(&self, path: &str) -> Option<&str> {
        match self.values.get(path) {
            Some(FieldValue::Text(t)) => Some(t),
            _ => None,
        }
    }

    pub fn status(&self) -> OrderStatus {
        self.text("status")
            .and_then(OrderStatus::parse)
            .unwrap_or(OrderStatus::Open)
    }

    /// The line ids of a list, in order.
    pub fn lines(&self, list: &str) -> Vec<u64> {
        let prefix = format!("{list}.");
        let mut ids: Vec<u64> = self
            .values
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('.').next())
            .filter_map(|id| id.parse().ok())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Renders the order as the API shows it (without `key`, `link` and the
    /// other fields the node adds).
    pub fn to_json(&self) -> Json {
        let mut out = Map::new();
        for s in SCALARS {
            if let Some(v) = self.values.get(s.name) {
                out.insert(s.name.into(), v.to_json(s.ty));
            }
        }
        for g in GROUPS {
            let mut obj = Map::new();
            for s in g.fields {
                if let Some(v) = self.values.get(&format!("{}.{}", g.name, s.name)) {
                    obj.insert(s.name.into(), v.to_json(s.ty));
                }
            }
            if !obj.is_empty() {
                out.insert(g.name.into(), Json::Object(obj));
            }
        }
        for l in LISTS {
            let mut rows = Vec::new();
            for id in self.lines(l.name) {
                let mut obj = Map::new();
                obj.insert("line".into(), Json::from(id));
                for s in l.fields {
                    if let Some(v) = self.values.get(&format!("{}.{id}.{}", l.name, s.name)) {
                        obj.insert(s.name.into(), v.to_json(s.ty));
                    }
                }
                rows.push(Json::Object(obj));
            }
            if !rows.is_empty() || l.required {
                out.insert(l.name.into(), Json::Array(rows));
            }
        }
        Json::Object(out)
    }

    /// Applies a JSON write onto this body (empty for a new order) and
    /// checks the result. Every field that fails is named in one error.
    /// New lines get ids from `lines`: each end of a linked order numbers
    /// its new lines in its own block, so lines added at both ends at once
    /// never share an id.
    pub fn apply_json(
        &self,
        input: &Json,
        mode: WriteMode,
        lines: LineBlock,
    ) -> Result<OrderBody, ValidationError> {
        let Json::Object(map) = input else {
            return Err(ValidationError::one("order", "expected a JSON object"));
        };
        let mut errors = Vec::new();
        let mut next = self.clone();
        for (name, value) in map {
            if let Some(s) = SCALARS.iter().find(|s| s.name == name) {
                set_leaf(&mut next, name.clone(), s, value, &mut errors);
            } else if let Some(g) = GROUPS.iter().find(|g| g.name == name) {
                spec::apply_group(&mut next, g, value, &mut errors);
            } else if let Some(l) = LISTS.iter().find(|l| l.name == name) {
                spec::apply_list(self, &mut next, l, value, lines, &mut errors);
            } else if !spec::NODE_FIELDS.contains(&name.as_str()) {
                errors.push(FieldError::new(
                    name,
                    "not a field of an order (see `elo fields order`)",
                ));
            }
        }
        if mode == WriteMode::Create {
            spec::check_required(&next, &mut errors);
        }
        // Installments are checked against the total when they are written:
        // an edit of one line must not be refused because the ERP keeps
        // its installments apart.
        spec::check_whole(&next, map.contains_key("installments"), &mut errors);
        if errors.is_empty() {
            Ok(next)
        } else {
            Err(ValidationError(errors))
        }
    }

    /// The order's total: lines (quantity × unit price − discount) plus
    /// freight, in cents. Quantities have 3 places, prices 2.
    pub fn total_cents(&self) -> i128 {
        let int = |p: String| match self.values.get(&p) {
            Some(FieldValue::Int(i)) => i128::from(*i),
            _ => 0,
        };
        let mut total = 0i128;
        for id in self.lines("items") {
            let q = int(format!("items.{id}.quantity"));
            let price = int(format!("items.{id}.unit_price"));
            let discount = int(format!("items.{id}.discount"));
            // q has 3 places: round half up to cents.
            total += (q * price + 500) / 1000 - discount;
        }
        total + int("freight.amount".into())
    }
}

/// Checks one leaf and sets it (or removes it on `null`).
fn set_leaf(
    body: &mut OrderBody,
    path: Path,
    spec: &spec::Leaf,
    value: &Json,
    errors: &mut Vec<FieldError>,
) {
    if value.is_null() {
        body.values.remove(&path);
        return;
    }
    match spec.parse(value) {
        Ok(v) => {
            body.values.insert(path, v);
        }
        Err(reason) => errors.push(FieldError::new(path, reason)),
    }
}

#[cfg(test)]
mod tests;

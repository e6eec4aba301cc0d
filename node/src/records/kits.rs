//! A kit's components must be products this company holds, and no kit may
//! contain itself through other kits (KIT-A ↔ KIT-B): its balance would be
//! made of itself. Likewise a variation's `parent_sku` names a product
//! held here, never the variation itself nor, through other parents, one
//! of its own variations. "Holds" means stored here and not deleted, or written in
//! the same bulk write: a kit is written where its components can be seen,
//! so a component still on its way from another member is refused until it
//! arrives (`elo sync --wait`), with a message that says so. Kits received
//! from members are not checked again: their writer checked them.

use std::collections::{BTreeMap, BTreeSet};

use elo_crdt::schema::COMPONENT;
use elo_crdt::{DocId, FieldError, FieldValue, Kind, RecordPatch, ValidationError};

use super::RecordError;
use crate::store::StoreHandle;

/// The components a kit has after a write: `stored` changed by `patch`.
fn components_after(
    stored: Option<&BTreeMap<String, FieldValue>>,
    patch: Option<&RecordPatch>,
) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = stored
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix(COMPONENT).map(str::to_owned))
        .collect();
    for (key, value) in patch.into_iter().flat_map(|p| &p.edits) {
        if let Some(sku) = key.strip_prefix(COMPONENT) {
            match value {
                Some(_) => out.insert(sku.to_owned()),
                None => out.remove(sku),
            };
        }
    }
    out
}

/// Checks the kits among `rows` (product writes); refused rows by index.
pub(super) async fn check_kits(
    store: &StoreHandle,
    kind: Kind,
    rows: &[(&DocId, &RecordPatch)],
) -> Result<BTreeMap<usize, ValidationError>, RecordError> {
    let mut refused = BTreeMap::new();
    if kind != Kind::Product {
        return Ok(refused);
    }
    let in_write: BTreeMap<&str, &RecordPatch> =
        rows.iter().map(|(id, p)| (id.key_value(), *p)).collect();
    let mut graph = Graph {
        store,
        in_write: &in_write,
        known: BTreeMap::new(),
    };
    for (index, (id, patch)) in rows.iter().enumerate() {
        if let Some(e) = graph.check_parent(id, patch).await? {
            refused.insert(index, e);
            continue;
        }
        let added: Vec<&str> = patch
            .edits
            .iter()
            .filter(|(_, v)| v.is_some())
            .filter_map(|(k, _)| k.strip_prefix(COMPONENT))
            .collect();
        if added.is_empty() {
            continue;
        }
        let mut errors = Vec::new();
        for sku in added {
            if graph.components(sku).await?.is_none() {
                errors.push(FieldError::new(
                    format!("{COMPONENT}{sku}"),
                    format!("no product {sku:?} here: a kit's components must be products this company holds; write it first, or, if another member created it, wait until it arrives (`elo sync --wait`)"),
                ));
            }
        }
        if errors.is_empty()
            && let Some(path) = graph.cycle_through(id.key_value()).await?
        {
            errors.push(FieldError::new(
                "components",
                format!("a kit cannot contain itself: {}", path.join(" → ")),
            ));
        }
        if !errors.is_empty() {
            refused.insert(index, ValidationError(errors));
        }
    }
    Ok(refused)
}

/// The products' components as they will be after the write.
struct Graph<'a> {
    store: &'a StoreHandle,
    in_write: &'a BTreeMap<&'a str, &'a RecordPatch>,
    /// SKU → its components (`None`: no such product here).
    known: BTreeMap<String, Option<BTreeSet<String>>>,
}

impl Graph<'_> {
    async fn components(&mut self, sku: &str) -> Result<Option<BTreeSet<String>>, RecordError> {
        if let Some(known) = self.known.get(sku) {
            return Ok(known.clone());
        }
        let stored = match DocId::from_key(Kind::Product, sku) {
            Ok(id) => self.store.get(id).await?.filter(|r| !r.deleted),
            Err(_) => None,
        };
        let patch = self.in_write.get(sku).copied();
        let found = (stored.is_some() || patch.is_some())
            .then(|| components_after(stored.as_ref().map(|r| &r.values), patch));
        self.known.insert(sku.to_owned(), found.clone());
        Ok(found)
    }

    /// The parent a product has after the write (stored, or set by it).
    async fn parent_of(&mut self, sku: &str) -> Result<Option<String>, RecordError> {
        let patch = self.in_write.get(sku).copied();
        if let Some(p) = patch
            && let Some((_, value)) = p.edits.iter().rev().find(|(k, _)| k == "parent_sku")
        {
            return Ok(parent_key(value.as_ref()));
        }
        let Ok(id) = DocId::from_key(Kind::Product, sku) else {
            return Ok(None);
        };
        let stored = self.store.get(id).await?.filter(|r| !r.deleted);
        Ok(stored.and_then(|r| parent_key(r.values.get("parent_sku"))))
    }

    /// A variation's parent must be another product held here, and not one
    /// of its own variations (following the parents from it).
    async fn check_parent(
        &mut self,
        id: &DocId,
        patch: &RecordPatch,
    ) -> Result<Option<ValidationError>, RecordError> {
        let Some((_, value)) = patch.edits.iter().rev().find(|(k, _)| k == "parent_sku") else {
            return Ok(None);
        };
        let Some(parent) = parent_key(value.as_ref()) else {
            return Ok(None);
        };
        let me = id.key_value();
        if self.components(&parent).await?.is_none() {
            return Ok(Some(ValidationError::one(
                "parent_sku",
                format!(
                    "no product {parent:?} here: a variation's parent must be a product this company holds; write it first, or, if another member created it, wait until it arrives (`elo sync --wait`)"
                ),
            )));
        }
        let mut path = vec![me.to_owned()];
        let mut next = Some(parent);
        while let Some(sku) = next {
            path.push(sku.clone());
            if sku == me {
                return Ok(Some(ValidationError::one(
                    "parent_sku",
                    format!("a product cannot be its own parent: {}", path.join(" → ")),
                )));
            }
            if path.len() > 64 {
                break;
            }
            next = self.parent_of(&sku).await?;
        }
        Ok(None)
    }

    /// A path of components from `kit` back to itself, if there is one.
    async fn cycle_through(&mut self, kit: &str) -> Result<Option<Vec<String>>, RecordError> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<Vec<String>> = vec![vec![kit.to_owned()]];
        while let Some(path) = stack.pop() {
            let Some(last) = path.last() else { continue };
            for next in self.components(last).await?.unwrap_or_default() {
                let mut longer = path.clone();
                longer.push(next.clone());
                if next == kit {
                    return Ok(Some(longer));
                }
                if seen.insert(next) {
                    stack.push(longer);
                }
            }
        }
        Ok(None)
    }
}

/// A `parent_sku` value as the SKU key it names (normalised as a SKU).
fn parent_key(value: Option<&FieldValue>) -> Option<String> {
    let Some(FieldValue::Text(text)) = value else {
        return None;
    };
    DocId::from_key(Kind::Product, text)
        .ok()
        .map(|id| id.key_value().to_owned())
}

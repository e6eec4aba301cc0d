//! An order as an automerge document, the one both ends of a link edit.
//!
//! The origin creates it; on a send the destination loads the origin's
//! bytes, so both hold one history and merge each other's changes. As for
//! records, every value sits on the root map under a flat key (`status`,
//! `delivery.city`, `items.3.quantity`): two ends writing the same key at
//! once leave both values, which [`OrderDoc::conflicts`] shows until one
//! end writes the key again; different keys never interfere.
//!
//! Keys starting with `_` are the node's: the link (`_link.id`, …), the
//! invoice (`_invoice.number`, …) and which company each actor is
//! (`_actor.{hex}`), so a conflict names who made each value.

use std::collections::BTreeMap;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ChangeHash, ROOT, ReadDoc};
use serde::Serialize;
use serde_json::Value as Json;

use super::{OrderBody, spec};
use crate::error::DocError;
use crate::value::FieldValue;

const ACTOR: &str = "_actor.";

/// Two values written at once to one field of a linked order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// `items[0].quantity`-style when rendered; the stored path here.
    pub field: String,
    pub values: Vec<ConflictValue>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConflictValue {
    pub value: Json,
    /// The company that wrote it (CNPJ), when known.
    pub by: Option<String>,
}

/// One order's automerge document.
pub struct OrderDoc {
    doc: AutoCommit,
    /// The heads when it was loaded or last stored: what changed since is
    /// what the order log tells the ERP. Empty for an order new here.
    stored: Vec<ChangeHash>,
}

impl OrderDoc {
    pub fn new(actor: &[u8]) -> OrderDoc {
        OrderDoc {
            doc: AutoCommit::new().with_actor(ActorId::from(actor)),
            stored: Vec::new(),
        }
    }

    pub fn load(bytes: &[u8], actor: &[u8]) -> Result<OrderDoc, DocError> {
        let mut doc = AutoCommit::load(bytes)?.with_actor(ActorId::from(actor));
        let stored = doc.get_heads();
        Ok(OrderDoc { doc, stored })
    }

    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// What changed since the order was loaded or last stored, by the
    /// names the API shows: a field's path (`status`, `items.3.quantity`),
    /// or `link`, `invoice`, `cancellation`, `operation_nature`, `control`
    /// for what the node keeps; `created` for an order new here.
    pub fn changed_since_stored(&mut self) -> Vec<String> {
        if self.stored.is_empty() {
            return vec!["created".to_string()];
        }
        let (before, after) = (self.stored.clone(), self.doc.get_heads());
        let mut out: Vec<String> = Vec::new();
        for patch in self.doc.diff(&before, &after) {
            let key = match &patch.action {
                automerge::PatchAction::PutMap { key, .. }
                | automerge::PatchAction::DeleteMap { key } => key,
                _ => continue,
            };
            if let Some(name) = changed_name(key)
                && !out.contains(&name)
            {
                out.push(name);
            }
        }
        out
    }

    /// The order is on disk as it is now.
    pub fn mark_stored(&mut self) {
        self.stored = self.doc.get_heads();
    }

    /// The order is new here (received from the other end of its link).
    pub fn mark_new(&mut self) {
        self.stored.clear();
    }

    /// Merges another copy's bytes (a whole save or changes); true if
    /// anything new arrived.
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<bool, DocError> {
        let before = self.doc.get_heads();
        self.doc.load_incremental(bytes)?;
        Ok(self.doc.get_heads() != before)
    }

    /// What changed since `heads` (the other end's), to send it.
    pub fn changes_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Writes the difference from the current values to `next`, as one
    /// change by `company`. Returns the paths written (none: no change).
    pub fn write(&mut self, next: &OrderBody, company: &str, time_ms: i64) -> Vec<String> {
        let now = self.body();
        let mut touched = Vec::new();
        for (path, value) in &next.values {
            if now.values.get(path) != Some(value) || self.conflicted(path) {
                let _ = self.doc.put(ROOT, path.as_str(), value.to_scalar());
                touched.push(path.clone());
            }
        }
        for path in now.values.keys().filter(|p| !next.values.contains_key(*p)) {
            let _ = self.doc.delete(ROOT, path.as_str());
            touched.push(path.clone());
        }
        self.commit(&touched, company, time_ms);
        touched
    }

    /// Sets node keys (`_link.id`, `_invoice.number`, …) as one change.
    pub fn set_meta(&mut self, values: &[(&str, &str)], company: &str, time_ms: i64) {
        let mut touched = Vec::new();
        for (k, v) in values {
            if self.meta(k).as_deref() != Some(*v) {
                let _ = self.doc.put(ROOT, *k, *v);
                touched.push((*k).to_string());
            }
        }
        self.commit(&touched, company, time_ms);
    }

    pub fn meta(&self, key: &str) -> Option<String> {
        match self.doc.get(ROOT, key) {
            Ok(Some((automerge::Value::Scalar(s), _))) => match FieldValue::from_scalar(&s) {
                Some(FieldValue::Text(t)) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }

    fn commit(&mut self, touched: &[String], company: &str, time_ms: i64) {
        if touched.is_empty() {
            return;
        }
        let actor = format!("{ACTOR}{}", self.doc.get_actor().to_hex_string());
        if self.meta(&actor).as_deref() != Some(company) {
            let _ = self.doc.put(ROOT, actor.as_str(), company);
        }
        self.doc.commit_with(
            CommitOptions::default()
                .with_message(company)
                .with_time(time_ms),
        );
    }

    /// The order's current values (where two were written at once,
    /// automerge's pick; [`Self::conflicts`] shows both).
    pub fn body(&self) -> OrderBody {
        let mut values = BTreeMap::new();
        for key in self.doc.keys(ROOT).filter(|k| !k.starts_with('_')) {
            if let Ok(Some((automerge::Value::Scalar(s), _))) = self.doc.get(ROOT, &key)
                && let Some(v) = FieldValue::from_scalar(&s)
            {
                values.insert(key, v);
            }
        }
        OrderBody { values }
    }

    fn conflicted(&self, path: &str) -> bool {
        self.doc.get_all(ROOT, path).is_ok_and(|all| all.len() > 1)
    }

    /// Every field two ends wrote at once, with each value and its writer.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut out = Vec::new();
        for key in self.doc.keys(ROOT).filter(|k| !k.starts_with('_')) {
            let Ok(all) = self.doc.get_all(ROOT, &key) else {
                continue;
            };
            if all.len() < 2 {
                continue;
            }
            let ty = leaf_type(&key);
            let values = all
                .into_iter()
                .filter_map(|(v, id)| {
                    let automerge::Value::Scalar(s) = v else {
                        return None;
                    };
                    let value = FieldValue::from_scalar(&s)?;
                    let by = match id {
                        automerge::ObjId::Id(_, actor, _) => {
                            self.meta(&format!("{ACTOR}{}", actor.to_hex_string()))
                        }
                        automerge::ObjId::Root => None,
                    };
                    Some(ConflictValue {
                        value: ty.map_or(Json::Null, |t| value.to_json(t)),
                        by,
                    })
                })
                .collect();
            out.push(Conflict { field: key, values });
        }
        out
    }
}

/// The name a changed key has in the order log: the node's keys by what
/// they are part of; which company an actor is, not at all.
fn changed_name(key: &str) -> Option<String> {
    if key.starts_with(ACTOR) {
        return None;
    }
    let Some(node_key) = key.strip_prefix('_') else {
        return Some(key.to_string());
    };
    let part = node_key.split('.').next().unwrap_or(node_key);
    Some(
        match part {
            "nature" => "operation_nature",
            "invoices" | "invoiced" | "fiscal" => "invoice",
            "with" => "records",
            "cancel" => "cancellation",
            "origin" => "control",
            other => other,
        }
        .to_string(),
    )
}

/// The field type of a stored path, to render its value.
fn leaf_type(path: &str) -> Option<crate::schema::FieldType> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    if let Some(s) = spec::SCALARS.iter().find(|s| s.name == first) {
        return Some(s.ty);
    }
    if let Some(g) = spec::GROUPS.iter().find(|g| g.name == first) {
        let name = parts.next()?;
        return g.fields.iter().find(|f| f.name == name).map(|f| f.ty);
    }
    let l = spec::LISTS.iter().find(|l| l.name == first)?;
    let _line = parts.next()?;
    let name = parts.next()?;
    l.fields.iter().find(|f| f.name == name).map(|f| f.ty)
}

//! A record as the node reads it: its current values keyed as stored, and
//! the JSON the API returns for it. Read-only: writes go through
//! [`crate::doc::RecordDoc`].

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::key::DocId;
use crate::kind::Kind;
use crate::schema::{self, FieldType};
use crate::value::FieldValue;

/// A record's current values, keyed as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub id: DocId,
    pub deleted: bool,
    pub values: BTreeMap<String, FieldValue>,
}

impl Record {
    pub fn kind(&self) -> Kind {
        self.id.kind()
    }

    pub(crate) fn type_of(&self, key: &str) -> FieldType {
        let kind = self.kind();
        let spec = if let Some(rest) = key.strip_prefix("address.") {
            rest.rsplit_once('.')
                .and_then(|(_, f)| schema::ADDRESS.iter().find(|s| s.name == f))
        } else if let Some(rest) = key.strip_prefix("reference.") {
            rest.rsplit_once('.')
                .and_then(|(_, f)| schema::REFERENCE.iter().find(|s| s.name == f))
        } else {
            schema::field(kind, key)
        };
        spec.map_or(FieldType::Text(usize::MAX), |s| s.ty)
    }

    /// The record as the API returns it: fields at the top, `extra`,
    /// `addresses` and `references` nested, plus `id`, `kind` and `deleted`.
    pub fn to_json(&self) -> Json {
        let mut out = Map::new();
        out.insert("id".into(), Json::String(self.id.to_string()));
        out.insert("kind".into(), Json::String(self.kind().to_string()));
        let mut extra = Map::new();
        let mut credit_used = Map::new();
        let mut components = Map::new();
        let mut codes = Map::new();
        let mut groups: BTreeMap<&str, Map<String, Json>> = BTreeMap::new();
        for (key, value) in &self.values {
            if let Some(company) = key.strip_prefix(schema::CREDIT_USED) {
                credit_used.insert(company.to_string(), value.to_json(FieldType::Decimal(2)));
                continue;
            }
            if key.starts_with(schema::CREDIT_GRANT) || key.starts_with(schema::CREDIT_GAVE) {
                // Escrow rights: shown by the credit operations, not here.
                continue;
            }
            if let Some(company) = key.strip_prefix(schema::OWN_CODE) {
                codes.insert(company.to_string(), value.to_json(FieldType::Text(30)));
                continue;
            }
            if let Some(sku) = key.strip_prefix(schema::COMPONENT) {
                components.insert(sku.to_string(), value.to_json(FieldType::Decimal(3)));
                continue;
            }
            let rendered = value.to_json(self.type_of(key));
            if let Some(name) = key.strip_prefix("extra.") {
                extra.insert(name.to_string(), rendered);
            } else if let Some((group, field)) = key.rsplit_once('.') {
                let (section, label) = group.split_once('.').unwrap_or((group, ""));
                let section = if section == "address" {
                    "addresses"
                } else {
                    "references"
                };
                let entry = groups.entry(section).or_default();
                let obj = entry
                    .entry(label.to_string())
                    .or_insert_with(|| Json::Object(Map::new()));
                if let Json::Object(o) = obj {
                    o.insert(field.to_string(), rendered);
                }
            } else {
                out.insert(key.clone(), rendered);
            }
        }
        if !extra.is_empty() {
            out.insert("extra".into(), Json::Object(extra));
        }
        if !codes.is_empty() {
            out.insert("codes".into(), Json::Object(codes));
        }
        if !components.is_empty() {
            out.insert("components".into(), Json::Object(components));
        }
        if !credit_used.is_empty() {
            out.insert("credit_used".into(), Json::Object(credit_used));
        }
        for (section, m) in groups {
            out.insert(section.into(), Json::Object(m));
        }
        if self.deleted {
            out.insert("deleted".into(), Json::Bool(true));
        }
        out.into()
    }
}

//! A patch: the fields a PUT, an import row or a CLI call sets or clears,
//! each already checked against its type.
//!
//! A patch is parsed whole before anything is written, so an invalid record
//! is refused with every bad field named and nothing of it is stored.
//!
//! Input may be nested JSON (`"extra": {"k": "v"}`, `"addresses": {"billing":
//! {…}}`) or flat dotted columns as a CSV header has them (`extra.k`,
//! `address.billing.zip_code`, `reference.Ana.phone`); both mean the same.

use serde_json::{Map, Value as Json};

use crate::error::{FieldError, ValidationError};
use crate::key::{DocId, key_field, normalise_code};
use crate::kind::{Category, Kind};
use crate::schema::{self, FieldSpec};
use crate::value::{FieldValue, parse_value};

/// Longest label of an address, name of a reference or extra-field name.
const MAX_LABEL: usize = 60;
/// Longest value of a free extra field.
const MAX_EXTRA_VALUE: usize = 2000;

/// One change of a stored key: a value, or `None` to clear it.
pub type Edit = (String, Option<FieldValue>);

/// The checked content of a write, as flat document keys
/// (`name`, `extra.color`, `address.billing.zip_code`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordPatch {
    pub edits: Vec<Edit>,
    /// Address labels and reference names removed whole (`"delivery": null`).
    pub removed_groups: Vec<String>,
    /// The writer means to change a product's structure (simple, kit,
    /// with variations): without it, such a change is refused
    /// (`"change_structure": true` in the body; not stored).
    pub change_structure: bool,
    /// The writing company's own code for the record (`"erp_code"`): the
    /// store keeps it as `codes.CNPJ` of the company that writes.
    pub erp_code: Option<String>,
}

impl RecordPatch {
    /// Parses a JSON object for a record of `kind`. `id` and `kind` keys, as
    /// a GET returns them, are accepted when they agree.
    pub fn from_json(kind: Kind, value: &Json) -> Result<RecordPatch, ValidationError> {
        let Json::Object(map) = value else {
            return Err(ValidationError::one("record", "expected a JSON object"));
        };
        let mut out = RecordPatch::default();
        let mut errors = Vec::new();
        for (name, v) in map {
            parse_entry(kind, name, v, &mut out, &mut errors);
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(ValidationError(errors))
        }
    }

    /// The value this patch sets for a key, if any.
    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.edits
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_ref())
    }

    /// Splits the patch by the document each edit lives in: the record's
    /// main document (first, always present: its key fields, address and
    /// reference removals and the fields of the kind's own category), then
    /// one part per field-level category the patch touches.
    pub fn split(self, kind: Kind) -> Vec<(Option<Category>, RecordPatch)> {
        let main_category = schema::kind_category(kind);
        let mut main = RecordPatch {
            edits: Vec::new(),
            removed_groups: self.removed_groups,
            change_structure: self.change_structure,
            erp_code: None,
        };
        let mut parts: Vec<(Option<Category>, RecordPatch)> = Vec::new();
        for (key, value) in self.edits {
            let c = schema::key_category(kind, &key);
            if c == main_category || !c.is_field_level() {
                main.edits.push((key, value));
                continue;
            }
            match parts.iter_mut().find(|(pc, _)| *pc == Some(c)) {
                Some((_, p)) => p.edits.push((key, value)),
                None => parts.push((
                    Some(c),
                    RecordPatch {
                        edits: vec![(key, value)],
                        ..RecordPatch::default()
                    },
                )),
            }
        }
        parts.sort_by_key(|(c, _)| *c);
        parts.insert(0, (None, main));
        parts
    }

    /// The document id named by the key fields of this patch (a customer's
    /// CNPJ or CPF, a product's SKU, a unit's code).
    pub fn doc_id(&self, kind: Kind) -> Result<DocId, ValidationError> {
        let text = |k: &str| match self.get(k) {
            Some(FieldValue::Text(t)) => Some(t.clone()),
            _ => None,
        };
        if kind.is_contact() {
            // A company is known by its CNPJ; a person by the CPF.
            if let Some(cnpj) = text("cnpj") {
                return Ok(DocId::from_key(kind, &format!("cnpj:{cnpj}"))?);
            }
            if let Some(cpf) = text("cpf") {
                return Ok(DocId::from_key(kind, &format!("cpf:{cpf}"))?);
            }
            return Err(ValidationError::one("cpf", "a CPF or a CNPJ is required"));
        }
        let field = key_field(kind);
        if kind == Kind::Company {
            return match text(field) {
                Some(v) => Ok(DocId::from_key(kind, &v)?),
                None => Err(ValidationError::one(field, "is required")),
            };
        }
        match text(field) {
            Some(v) => Ok(DocId::from_key(kind, &v)?),
            None => Err(ValidationError::one(field, "is required")),
        }
    }

    /// Makes the key fields agree with the document id: fills them in when
    /// the caller named the record only by its URL, refuses a body that names
    /// another record.
    pub fn bind_to(&mut self, id: &DocId) -> Result<(), ValidationError> {
        let field = id.key_field().to_string();
        let value = id.key_value().to_string();
        match self.edits.iter().find(|(k, _)| *k == field) {
            Some((_, Some(FieldValue::Text(v)))) if *v == value => Ok(()),
            Some((_, Some(FieldValue::Text(v)))) => Err(ValidationError::one(
                field,
                format!("{v:?} does not match the record's key {value:?}; a key cannot change"),
            )),
            Some(_) => Err(ValidationError::one(
                field,
                "the key field cannot be cleared",
            )),
            None => {
                self.edits.push((field, Some(FieldValue::Text(value))));
                Ok(())
            }
        }
    }
}

/// One key of a record's JSON: a meta key, a nested object (`extra`,
/// `components`, `addresses`, `references`) or a flat key.
fn parse_entry(
    kind: Kind,
    name: &str,
    v: &Json,
    out: &mut RecordPatch,
    errors: &mut Vec<FieldError>,
) {
    match name {
        "id" | "kind" => check_meta(kind, name, v, errors),
        "erp_code" if kind != Kind::Company => parse_erp_code(name, v, out, errors),
        "change_structure" if kind == Kind::Product => match v {
            Json::Bool(b) => out.change_structure = *b,
            _ => errors.push(FieldError::new(name, "expected true or false")),
        },
        "components" if kind == Kind::Product => match v {
            Json::Object(m) => {
                for (sku, qty) in m {
                    parse_component(sku, qty, out, errors);
                }
            }
            _ => errors.push(FieldError::new(
                name,
                "expected an object of component SKU to quantity",
            )),
        },
        "extra" => match v {
            Json::Object(m) => {
                for (k, v) in m {
                    parse_extra(k, v, out, errors);
                }
            }
            Json::Null => errors.push(FieldError::new(
                "extra",
                "to clear one extra field, set it to null",
            )),
            _ => errors.push(FieldError::new(
                "extra",
                "expected an object of names to text",
            )),
        },
        "addresses" | "references" => {
            let prefix = if name == "addresses" {
                "address"
            } else {
                "reference"
            };
            match v {
                Json::Object(m) => {
                    for (label, fields) in m {
                        parse_group(kind, prefix, label, fields, out, errors);
                    }
                }
                _ => errors.push(FieldError::new(name, "expected an object keyed by label")),
            }
        }
        _ => parse_flat(kind, name, v, out, errors),
    }
}

/// The writing company's own code for the record (`"erp_code"`).
fn parse_erp_code(name: &str, v: &Json, out: &mut RecordPatch, errors: &mut Vec<FieldError>) {
    let text = match v {
        Json::String(s) => s.trim().to_owned(),
        Json::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if text.is_empty()
        || text.chars().count() > 30
        || text.chars().any(|c| c.is_control() || c == '/')
    {
        errors.push(FieldError::new(
            name,
            "expected this company's code for the record: 1 to 30 characters, no '/'",
        ));
    } else {
        out.erp_code = Some(text);
    }
}

/// A key as a CSV header has it: a dotted column (`extra.k`,
/// `components.SKU`, `address.LABEL.FIELD`, `reference.NAME.FIELD`) or a
/// field of the kind.
fn parse_flat(
    kind: Kind,
    name: &str,
    v: &Json,
    out: &mut RecordPatch,
    errors: &mut Vec<FieldError>,
) {
    if let Some(k) = name.strip_prefix("extra.") {
        parse_extra(k, v, out, errors);
    } else if let Some(sku) = name.strip_prefix(schema::COMPONENT)
        && kind == Kind::Product
    {
        parse_component(sku, v, out, errors);
    } else if let Some(rest) = name
        .strip_prefix("address.")
        .map(|r| ("address", r))
        .or_else(|| name.strip_prefix("reference.").map(|r| ("reference", r)))
    {
        let (prefix, rest) = rest;
        match rest.rsplit_once('.') {
            Some((label, field)) => {
                let mut m = Map::new();
                m.insert(field.to_string(), v.clone());
                parse_group(kind, prefix, label, &Json::Object(m), out, errors);
            }
            None => errors.push(FieldError::new(
                name,
                "expected LABEL.FIELD after the prefix",
            )),
        }
    } else {
        match schema::field(kind, name) {
            Some(spec) => parse_field(spec, name.to_string(), v, out, errors),
            None => errors.push(FieldError::new(
                name,
                format!("{kind} has no field {name:?}"),
            )),
        }
    }
}

fn check_meta(kind: Kind, name: &str, v: &Json, errors: &mut Vec<FieldError>) {
    let ok = match (name, v) {
        ("kind", Json::String(s)) => s.parse::<Kind>().ok() == Some(kind),
        ("id", Json::String(s)) => s.starts_with(&DocId::kind_prefix(kind)),
        _ => false,
    };
    if !ok {
        errors.push(FieldError::new(
            name,
            format!("does not belong to a {kind}"),
        ));
    }
}

fn parse_field(
    spec: &FieldSpec,
    key: String,
    v: &Json,
    out: &mut RecordPatch,
    errors: &mut Vec<FieldError>,
) {
    if v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()) {
        out.edits.push((key, None));
        return;
    }
    match parse_value(spec.ty, v) {
        Ok(value) => out.edits.push((key, Some(value))),
        Err(reason) => errors.push(FieldError::new(key, reason)),
    }
}

/// One component of a kit: its SKU and the quantity in one kit (`null`
/// removes it).
fn parse_component(sku: &str, v: &Json, out: &mut RecordPatch, errors: &mut Vec<FieldError>) {
    let sku = match normalise_code(Kind::Product, sku) {
        Ok(s) => s,
        Err(reason) => {
            errors.push(FieldError::new(
                format!("{}{sku}", schema::COMPONENT),
                reason,
            ));
            return;
        }
    };
    let key = format!("{}{sku}", schema::COMPONENT);
    if v.is_null() {
        out.edits.push((key, None));
        return;
    }
    match parse_value(schema::FieldType::Decimal(3), v) {
        Ok(FieldValue::Int(0)) => errors.push(FieldError::new(
            key,
            "a component's quantity must be more than zero",
        )),
        Ok(q) => out.edits.push((key, Some(q))),
        Err(reason) => errors.push(FieldError::new(key, reason)),
    }
}

fn parse_extra(name: &str, v: &Json, out: &mut RecordPatch, errors: &mut Vec<FieldError>) {
    let key = format!("extra.{name}");
    if let Err(reason) = check_label(name) {
        errors.push(FieldError::new(key, reason));
        return;
    }
    match v {
        Json::Null => out.edits.push((key, None)),
        Json::String(s) if s.trim().is_empty() => out.edits.push((key, None)),
        Json::String(s) if s.chars().count() > MAX_EXTRA_VALUE => errors.push(FieldError::new(
            key,
            format!("longer than {MAX_EXTRA_VALUE} characters"),
        )),
        Json::String(s) => out
            .edits
            .push((key, Some(FieldValue::Text(s.trim().to_string())))),
        Json::Number(n) => out.edits.push((key, Some(FieldValue::Text(n.to_string())))),
        Json::Bool(b) => out.edits.push((key, Some(FieldValue::Text(b.to_string())))),
        _ => errors.push(FieldError::new(key, "an extra field holds text")),
    }
}

fn parse_group(
    kind: Kind,
    prefix: &str,
    label: &str,
    fields: &Json,
    out: &mut RecordPatch,
    errors: &mut Vec<FieldError>,
) {
    let allowed = if prefix == "address" {
        schema::has_addresses(kind)
    } else {
        schema::has_references(kind)
    };
    let group = format!("{prefix}.{label}");
    if !allowed {
        errors.push(FieldError::new(
            group,
            format!("a {kind} has no {prefix}es"),
        ));
        return;
    }
    if let Err(reason) = check_label(label) {
        errors.push(FieldError::new(group, reason));
        return;
    }
    let specs = if prefix == "address" {
        schema::ADDRESS
    } else {
        schema::REFERENCE
    };
    match fields {
        Json::Null => out.removed_groups.push(group),
        Json::Object(m) => {
            for (name, v) in m {
                let key = format!("{group}.{name}");
                match specs.iter().find(|s| s.name == name) {
                    Some(spec) => parse_field(spec, key, v, out, errors),
                    None => errors.push(FieldError::new(
                        key,
                        format!("an {prefix} has no field {name:?}"),
                    )),
                }
            }
        }
        _ => errors.push(FieldError::new(
            group,
            "expected an object of fields, or null to remove it",
        )),
    }
}

fn check_label(label: &str) -> Result<(), String> {
    normalise_code(Kind::Product, label)?;
    if label.chars().count() > MAX_LABEL {
        return Err(format!("longer than {MAX_LABEL} characters"));
    }
    if label.contains('.') {
        return Err("must not contain '.'".into());
    }
    Ok(())
}

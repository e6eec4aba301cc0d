//! Adopting the data a company already has (seed 000's three scenarios,
//! seed 002's link rules): each row of the company's file is matched with
//! the group's records, and only rows the group does not have become new
//! records. Nothing here writes: [`plan`] is a pure function of the group's
//! records and the file's rows, so what `elo adopt --dry-run` shows is what
//! `elo adopt` does.
//!
//! Products link by SKU, then (by the rule chosen) by GTIN, then by
//! description; contacts by CPF/CNPJ and name; other kinds by their key.
//! A linked row whose fields agree with the group's is *matched*; one whose
//! fields differ is *conflicting* and is not written (the group's record
//! stays as it is); a product with no SKU that links to nothing cannot be
//! linked and is not created (it would be a duplicate waiting to happen).

use std::collections::{BTreeMap, HashMap};

use elo_crdt::{FieldValue, Kind, RecordPatch};
use serde::Serialize;
use serde_json::Value;

/// How products are linked (seed 002: "SKU", "SKU, GTIN", "SKU, GTIN ou
/// Descrição").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRule {
    Sku,
    SkuGtin,
    SkuGtinDescription,
}

impl LinkRule {
    pub fn parse(text: &str) -> Result<LinkRule, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "sku" => Ok(LinkRule::Sku),
            "sku+gtin" => Ok(LinkRule::SkuGtin),
            "sku+gtin+description" => Ok(LinkRule::SkuGtinDescription),
            other => Err(format!(
                "unknown rule {other:?}: use sku, sku+gtin or sku+gtin+description"
            )),
        }
    }
}

/// A row linked to a group record whose fields agree with it.
#[derive(Clone, Debug, Serialize)]
pub struct Matched {
    pub line: u64,
    /// The group record it is linked to.
    pub record: String,
    /// What linked them: `sku`, `gtin`, `description`, `cpf+name`, `key`.
    pub by: &'static str,
    /// Fields the file has and the group's record does not (not written).
    pub only_in_file: Vec<String>,
    /// The company's own code for the record, from the file: kept beside
    /// the group's as a cross-reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erp_code: Option<String>,
}

/// One field on which a row and its group record disagree.
#[derive(Clone, Debug, Serialize)]
pub struct FieldDifference {
    pub field: String,
    pub file: Value,
    pub group: Value,
}

/// A row linked to a group record that holds different data.
#[derive(Clone, Debug, Serialize)]
pub struct Conflicting {
    pub line: u64,
    pub record: String,
    pub by: &'static str,
    pub reason: String,
    pub differences: Vec<FieldDifference>,
}

/// A row that was not adopted, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Refused {
    pub line: u64,
    pub reason: String,
}

/// What adopting a file does.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AdoptPlan {
    pub matched: Vec<Matched>,
    /// Rows the group does not have, to be created: (line, row).
    #[serde(skip)]
    pub new_rows: Vec<(u64, Value)>,
    /// The records the new rows become.
    pub new: Vec<String>,
    pub conflicting: Vec<Conflicting>,
    /// Products without a SKU that link to nothing.
    pub unlinkable: Vec<Refused>,
    /// Rows that are not valid records.
    pub invalid: Vec<Refused>,
}

/// The keys of a record's JSON that are not fields a file may carry.
const NOT_FIELDS: &[&str] = &[
    "id",
    "kind",
    "seq",
    "deleted",
    "credit_used",
    "code",
    "codes",
    "erp_code",
];

/// A record's JSON (as the API returns it) as stored keys and values.
fn values_of(kind: Kind, record: &Value) -> BTreeMap<String, FieldValue> {
    let Value::Object(map) = record else {
        return BTreeMap::new();
    };
    let fields: serde_json::Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !NOT_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    RecordPatch::from_json(kind, &Value::Object(fields))
        .map(|p| {
            p.edits
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect()
        })
        .unwrap_or_default()
}

/// Text as compared: without case or spacing differences.
fn folded(text: &str) -> String {
    text.split_whitespace()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Equal values; texts equal but for case and spacing count as equal
/// (two ERPs rarely type a name exactly alike).
fn same(a: &FieldValue, b: &FieldValue) -> bool {
    match (a, b) {
        (FieldValue::Text(x), FieldValue::Text(y)) => folded(x) == folded(y),
        _ => a == b,
    }
}

fn text_of(values: &BTreeMap<String, FieldValue>, key: &str) -> Option<String> {
    match values.get(key) {
        Some(FieldValue::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

fn json_of(v: Option<&FieldValue>) -> Value {
    match v {
        Some(FieldValue::Text(t)) => Value::String(t.clone()),
        Some(FieldValue::Int(i)) => Value::from(*i),
        Some(FieldValue::Bool(b)) => Value::Bool(*b),
        None => Value::Null,
    }
}

/// The group's records of one kind, indexed for linking.
struct Group {
    by_id: HashMap<String, BTreeMap<String, FieldValue>>,
    by_gtin: HashMap<String, String>,
    by_description: HashMap<String, String>,
}

impl Group {
    fn new(kind: Kind, records: &[Value]) -> Group {
        let mut group = Group {
            by_id: HashMap::new(),
            by_gtin: HashMap::new(),
            by_description: HashMap::new(),
        };
        for record in records {
            if record["deleted"] == true {
                continue;
            }
            let Some(id) = record["id"].as_str() else {
                continue;
            };
            let values = values_of(kind, record);
            if let Some(gtin) = text_of(&values, "gtin") {
                group.by_gtin.entry(gtin).or_insert_with(|| id.to_owned());
            }
            if let Some(d) = text_of(&values, "description") {
                group
                    .by_description
                    .entry(folded(&d))
                    .or_insert_with(|| id.to_owned());
            }
            group.by_id.insert(id.to_owned(), values);
        }
        group
    }
}

/// Matches a file's rows with the group's records of `kind`.
pub fn plan(
    kind: Kind,
    rule: LinkRule,
    group_records: &[Value],
    rows: Vec<(u64, Result<Value, String>)>,
) -> AdoptPlan {
    let group = Group::new(kind, group_records);
    let mut out = AdoptPlan::default();
    for (line, row) in rows {
        let row = match row {
            Ok(r) => r,
            Err(reason) => {
                out.invalid.push(Refused { line, reason });
                continue;
            }
        };
        let patch = match RecordPatch::from_json(kind, &row) {
            Ok(p) => p,
            Err(e) => {
                out.invalid.push(Refused {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let values: BTreeMap<String, FieldValue> = patch
            .edits
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        let id = patch.doc_id(kind).ok().map(|id| id.to_string());
        let (linked, by) = link(kind, rule, &group, id.as_deref(), &values);
        match (linked, id) {
            (Some(record), _) => {
                let linked = Linked {
                    line,
                    by,
                    erp_code: patch.erp_code.clone(),
                };
                let theirs = &group.by_id[&record];
                compare(kind, linked, record, theirs, &values, &mut out);
            }
            (None, Some(id)) => {
                out.new.push(id);
                out.new_rows.push((line, row));
            }
            (None, None) => out.unlinkable.push(Refused {
                line,
                reason: if kind == Kind::Product {
                    "a product without SKU cannot be linked: give it a SKU (it is not created, so it cannot become a duplicate)".into()
                } else {
                    format!("no {} to link it by", elo_crdt::key::key_field(kind))
                },
            }),
        }
    }
    out
}

/// A file row linked to a group record: where it was and by what.
struct Linked {
    line: u64,
    by: &'static str,
    erp_code: Option<String>,
}

/// Compares a linked row with the group's record: matched when no field
/// differs, else conflicting, with each difference.
fn compare(
    kind: Kind,
    linked: Linked,
    record: String,
    theirs: &BTreeMap<String, FieldValue>,
    values: &BTreeMap<String, FieldValue>,
    out: &mut AdoptPlan,
) {
    let Linked { line, by, erp_code } = linked;
    let mut differences = Vec::new();
    let mut only_in_file = Vec::new();
    for (field, mine) in values {
        match theirs.get(field) {
            Some(v) if same(v, mine) => {}
            Some(v) => differences.push(FieldDifference {
                field: field.clone(),
                file: json_of(Some(mine)),
                group: json_of(Some(v)),
            }),
            None => only_in_file.push(field.clone()),
        }
    }
    // The link field itself differs when linked by another one (a
    // different SKU with the same GTIN): that is the link, not a conflict.
    let key_field = elo_crdt::key::key_field(kind);
    differences.retain(|d| !(by != key_field && d.field == key_field));
    let name_differs = kind.is_contact() && differences.iter().any(|d| d.field == "name");
    if differences.is_empty() {
        out.matched.push(Matched {
            line,
            record,
            by,
            only_in_file,
            erp_code,
        });
    } else {
        let reason = if name_differs {
            "the same CPF/CNPJ with another name".to_owned()
        } else {
            format!("{} field(s) differ from the group's", differences.len())
        };
        out.conflicting.push(Conflicting {
            line,
            record,
            by,
            reason,
            differences,
        });
    }
}

/// The group record a row links to, and by what.
fn link(
    kind: Kind,
    rule: LinkRule,
    group: &Group,
    id: Option<&str>,
    values: &BTreeMap<String, FieldValue>,
) -> (Option<String>, &'static str) {
    let by_key = if kind == Kind::Product {
        "sku"
    } else if kind.is_contact() {
        "cpf+name"
    } else {
        "key"
    };
    if let Some(id) = id
        && group.by_id.contains_key(id)
    {
        return (Some(id.to_owned()), by_key);
    }
    if kind != Kind::Product {
        return (None, by_key);
    }
    if rule != LinkRule::Sku
        && let Some(found) = text_of(values, "gtin").and_then(|g| group.by_gtin.get(&g))
    {
        return (Some(found.clone()), "gtin");
    }
    if rule == LinkRule::SkuGtinDescription
        && let Some(found) =
            text_of(values, "description").and_then(|d| group.by_description.get(&folded(&d)))
    {
        return (Some(found.clone()), "description");
    }
    (None, by_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group() -> Vec<Value> {
        vec![
            json!({"id": "product/sku:A1", "kind": "product", "sku": "A1", "description": "Parafuso 10 mm", "gtin": "7891234567895"}),
            json!({"id": "product/sku:A2", "kind": "product", "sku": "A2", "description": "Porca 10 mm", "code": 7}),
        ]
    }

    fn rows(rows: Vec<Value>) -> Vec<(u64, Result<Value, String>)> {
        rows.into_iter()
            .enumerate()
            .map(|(i, r)| (i as u64 + 1, Ok(r)))
            .collect()
    }

    #[test]
    fn identical_rows_match_and_only_new_ones_are_created() {
        let plan = plan(
            Kind::Product,
            LinkRule::Sku,
            &group(),
            rows(vec![
                json!({"sku": "A1", "description": "Parafuso 10 mm", "gtin": "7891234567895"}),
                json!({"sku": "A2", "description": "PORCA  10 mm"}),
                json!({"sku": "A4", "description": "Arruela"}),
                json!({"sku": "A1", "description": "Prego"}),
            ]),
        );
        // Case and spacing do not make a difference; another description does.
        assert_eq!(plan.matched.len(), 2, "{plan:?}");
        assert_eq!(plan.conflicting.len(), 1);
        assert_eq!(plan.conflicting[0].differences[0].field, "description");
        assert_eq!(plan.new, vec!["product/sku:A4".to_owned()]);
    }

    #[test]
    fn the_rule_decides_whether_a_gtin_links_another_sku() {
        let row = json!({"sku": "B9", "description": "Parafuso 10 mm", "gtin": "7891234567895"});
        let by_sku = plan(
            Kind::Product,
            LinkRule::Sku,
            &group(),
            rows(vec![row.clone()]),
        );
        assert_eq!(by_sku.new.len(), 1);
        let by_gtin = plan(Kind::Product, LinkRule::SkuGtin, &group(), rows(vec![row]));
        assert_eq!(by_gtin.matched.len(), 1, "{by_gtin:?}");
        assert_eq!(by_gtin.matched[0].by, "gtin");
        assert_eq!(by_gtin.matched[0].record, "product/sku:A1");
    }

    #[test]
    fn a_product_without_sku_is_linked_by_description_or_refused() {
        let row = json!({"description": "porca 10 MM"});
        let refused = plan(
            Kind::Product,
            LinkRule::SkuGtin,
            &group(),
            rows(vec![row.clone()]),
        );
        assert_eq!(refused.unlinkable.len(), 1, "{refused:?}");
        assert!(refused.new.is_empty());
        let linked = plan(
            Kind::Product,
            LinkRule::SkuGtinDescription,
            &group(),
            rows(vec![row]),
        );
        assert_eq!(linked.matched.len(), 1, "{linked:?}");
        assert_eq!(linked.matched[0].by, "description");
    }

    #[test]
    fn contacts_link_by_cpf_and_name() {
        let group = vec![json!({"id": "customer/cpf:52998224725", "kind": "customer",
            "cpf": "52998224725", "name": "Ana Souza"})];
        let plan = plan(
            Kind::Customer,
            LinkRule::Sku,
            &group,
            rows(vec![
                json!({"cpf": "529.982.247-25", "name": "Ana Souza"}),
                json!({"cpf": "529.982.247-25", "name": "Bruno"}),
                json!({"cpf": "111.444.777-35", "name": "Carla"}),
                json!({"cpf": "111.444.777-00", "name": "Bad"}),
            ]),
        );
        assert_eq!(plan.matched.len(), 1);
        assert_eq!(plan.conflicting.len(), 1);
        assert_eq!(
            plan.conflicting[0].reason,
            "the same CPF/CNPJ with another name"
        );
        assert_eq!(plan.new.len(), 1);
        assert_eq!(plan.invalid.len(), 1);
    }
}

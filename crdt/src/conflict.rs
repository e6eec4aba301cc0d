//! The fields of a record where edits made apart left more than one value.
//!
//! Automerge keeps every value written concurrently to a key and shows one
//! of them (the same one at every replica); the others stay in the
//! document. An operator who sees two companies' names for one customer
//! wants to know both and who wrote each, to settle it with one more write.

use automerge::{ActorId, ObjId as ExId, ROOT, ReadDoc, Value};
use serde::Serialize;
use serde_json::Value as Json;

use crate::doc::RecordDoc;
use crate::value::FieldValue;

/// One field with more than one value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldConflict {
    pub field: String,
    /// The values, the one the record shows first.
    pub values: Vec<ConflictValue>,
}

/// One of a field's concurrent values and the company that wrote it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConflictValue {
    pub value: Json,
    /// The CNPJ of the company whose change wrote it (`None`: a change
    /// without the company's name, which elo never writes).
    pub company: Option<String>,
}

impl RecordDoc {
    /// Every field (meta keys aside) holding more than one value, by name.
    pub fn conflicts(&mut self) -> Vec<FieldConflict> {
        let Some(record) = self.record() else {
            return Vec::new();
        };
        let doc = self.automerge();
        let mut found: Vec<(String, Vec<(FieldValue, ExId)>)> = Vec::new();
        for key in doc.keys(ROOT) {
            if key.starts_with('_') {
                continue;
            }
            let values: Vec<(FieldValue, ExId)> = doc
                .get_all(ROOT, key.as_str())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(v, id)| match v {
                    Value::Scalar(s) => FieldValue::from_scalar(&s).map(|f| (f, id)),
                    Value::Object(_) => None,
                })
                .collect();
            if values.len() > 1 {
                found.push((key, values));
            }
        }
        if found.is_empty() {
            return Vec::new();
        }
        let writers = writers(doc);
        found
            .into_iter()
            .map(|(field, values)| {
                let ty = record.type_of(&field);
                let mut values: Vec<ConflictValue> = values
                    .into_iter()
                    .map(|(v, id)| ConflictValue {
                        value: v.to_json(ty),
                        company: company_of(&writers, &id),
                    })
                    .collect();
                // Automerge lists the winner last; the record shows it.
                values.reverse();
                FieldConflict { field, values }
            })
            .collect()
    }
}

/// Each change's author and the operation counters it holds.
struct Writer {
    actor: ActorId,
    first_op: u64,
    last_op: u64,
    company: Option<String>,
}

fn writers(doc: &mut automerge::AutoCommit) -> Vec<Writer> {
    doc.get_changes(&[])
        .iter()
        .map(|c| Writer {
            actor: c.actor_id().clone(),
            first_op: c.start_op().get(),
            last_op: c.max_op(),
            company: c.message().map(str::to_string),
        })
        .collect()
}

/// The company of the change that made operation `id`.
fn company_of(writers: &[Writer], id: &ExId) -> Option<String> {
    let ExId::Id(counter, actor, _) = id else {
        return None;
    };
    writers
        .iter()
        .find(|w| &w.actor == actor && (w.first_op..=w.last_op).contains(counter))
        .and_then(|w| w.company.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Author;
    use crate::key::DocId;
    use crate::kind::Kind;
    use crate::patch::RecordPatch;

    fn patch(kind: Kind, json: serde_json::Value) -> RecordPatch {
        RecordPatch::from_json(kind, &json).expect("a valid patch")
    }

    #[test]
    fn edits_made_apart_keep_both_values_with_their_companies() {
        let id = DocId::parse("customer/cpf:52998224725").expect("a key");
        let at = |company, time_ms| Author { company, time_ms };
        let mut matriz = RecordDoc::new(b"matriz");
        let created = patch(Kind::Customer, serde_json::json!({"name": "Ana"}));
        matriz
            .apply(&id, &created, at("11222333000181", 1))
            .expect("created");
        let mut filial =
            RecordDoc::load(&matriz.save(), b"filial", &id).expect("the filial's copy");
        assert!(matriz.conflicts().is_empty(), "one writer, no conflict");

        let apart = |name: &str| patch(Kind::Customer, serde_json::json!({"name": name}));
        matriz
            .apply(&id, &apart("Ana Souza"), at("11222333000181", 2))
            .expect("edit");
        filial
            .apply(&id, &apart("Ana S."), at("45723174000110", 2))
            .expect("edit");
        matriz.merge(&mut filial).expect("merged");

        let conflicts = matriz.conflicts();
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(conflicts[0].field, "name");
        let shown = matriz.record().expect("a record").values["name"].clone();
        let FieldValue::Text(shown) = shown else {
            panic!("a name")
        };
        assert_eq!(
            conflicts[0].values[0].value,
            serde_json::json!(shown),
            "the shown value first"
        );
        let mut both: Vec<(String, Option<String>)> = conflicts[0]
            .values
            .iter()
            .map(|v| {
                (
                    v.value.as_str().unwrap_or_default().to_string(),
                    v.company.clone(),
                )
            })
            .collect();
        both.sort();
        assert_eq!(
            both,
            vec![
                ("Ana S.".into(), Some("45723174000110".into())),
                ("Ana Souza".into(), Some("11222333000181".into())),
            ]
        );

        // One more write settles it.
        matriz
            .apply(&id, &apart("Ana Souza"), at("11222333000181", 3))
            .ok();
        let settle = patch(
            Kind::Customer,
            serde_json::json!({"name": "Ana Souza Lima"}),
        );
        matriz
            .apply(&id, &settle, at("11222333000181", 4))
            .expect("settled");
        assert!(matriz.conflicts().is_empty(), "{:?}", matriz.conflicts());
    }
}

//! `fields.json`: each kind's field names with their Portuguese labels, as
//! the schema names them ("Razão social", "Limite de crédito", …), so the
//! screens show a record's fields in the ERPs' own words. It is made from
//! the schema once, so a field added there is labelled here with nothing
//! else to change.

use std::sync::LazyLock;

use elo_crdt::{Kind, schema};
use serde_json::{Map, Value};

/// `{"customer": {"name": "Nome", …}, "supplier": {"name": "Razão social", …}, …}`.
pub(super) static FIELD_LABELS: LazyLock<String> = LazyLock::new(|| {
    let mut kinds = Map::new();
    for kind in Kind::ALL {
        let labels: Map<String, Value> = schema::fields(kind)
            .iter()
            .map(|f| (f.name.to_owned(), Value::from(f.label_pt)))
            .collect();
        kinds.insert(kind.as_str().to_owned(), Value::Object(labels));
    }
    Value::Object(kinds).to_string()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_the_schema_labels() {
        let v: Value = serde_json::from_str(&FIELD_LABELS).expect("json");
        assert_eq!(v["supplier"]["name"], "Razão social");
        assert_eq!(v["supplier"]["trade_name"], "Nome fantasia");
        assert_eq!(v["customer"]["credit_limit"], "Limite de crédito");
        assert_eq!(v["product"]["sale_price"], "Preço");
        assert_eq!(v.as_object().map(Map::len), Some(Kind::ALL.len()));
    }
}

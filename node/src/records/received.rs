//! A company writes only what it can see. A field-level category (credit
//! limit, fiscal parameters, sale price, additional fields, tax rates)
//! lives in a part document that a company not receiving it is never sent:
//! it sees the record but not those values. A write of such a field there
//! would replace the group's value blind (the merge keeps one value per
//! field), so it is refused, naming the category and the setting that
//! allows it. Refused rather than made deliberate with a flag: the company
//! cannot know what it would replace even when it means to, while
//! receiving the category (`elo share --receive`) lets it see the value
//! and write it like anyone. A company that sends a whole kind without
//! receiving it is the group's source of those records by its own choice
//! (`elo share`), and sees every field of the records it holds: its writes
//! are not refused.

use elo_crdt::schema::key_category;
use elo_crdt::{
    Category, DocId, FieldError, FieldValue, Kind, RecordPatch, Sharing, ValidationError,
};

use super::RecordError;
use crate::store::StoreHandle;

/// The categories this company receives, from its own roster record;
/// every category while it has none (a store not yet in a group).
pub async fn received(store: &StoreHandle) -> Result<Sharing, RecordError> {
    let Ok(me) = DocId::from_key(Kind::Company, store.company()) else {
        return Ok(Sharing::all());
    };
    let receives = store
        .get(me)
        .await?
        .and_then(|r| match r.values.get("receives") {
            Some(FieldValue::Text(t)) => Some(t.clone()),
            _ => None,
        });
    Ok(receives
        .map(|t| Sharing::parse(&t).unwrap_or_else(|_| Sharing::none()))
        .unwrap_or_else(Sharing::all))
}

/// Why a write may not be made here: each field of a field-level category
/// this company does not receive.
pub fn blind_fields(
    kind: Kind,
    patch: &RecordPatch,
    receives: &Sharing,
) -> Option<ValidationError> {
    let errors: Vec<FieldError> = patch
        .edits
        .iter()
        .filter_map(|(key, _)| {
            let category = key_category(kind, key);
            (category.is_field_level() && !receives.covers_category(category))
                .then(|| FieldError::new(key.clone(), not_received(category)))
        })
        .collect();
    (!errors.is_empty()).then_some(ValidationError(errors))
}

/// The reason given for a field of a category this company does not receive.
pub fn not_received(category: Category) -> String {
    let name = category.as_str();
    format!(
        "this company does not receive {name}, so it cannot see the value the group has and a write would replace it blind; receive it first (`elo share --receive` with {name}, or PUT /v1/share), then write it"
    )
}

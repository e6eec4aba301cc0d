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

/// What this company can see of the group's values: the categories it
/// receives, and the product fields it keeps to itself (its own values,
/// never shared, so never written over anyone's).
pub struct Visible {
    pub receives: Sharing,
    restricted: Vec<String>,
}

/// The categories this company receives, from its own roster record
/// (every category while it has none: a store not yet in a group), and the
/// fields it restricts.
pub async fn received(store: &StoreHandle) -> Result<Visible, RecordError> {
    let restricted = store.restricted().await?;
    let Ok(me) = DocId::from_key(Kind::Company, store.company()) else {
        return Ok(Visible {
            receives: Sharing::all(),
            restricted,
        });
    };
    let receives = store
        .get(me)
        .await?
        .and_then(|r| match r.values.get("receives") {
            Some(FieldValue::Text(t)) => Some(t.clone()),
            _ => None,
        });
    let receives = receives
        .map(|t| Sharing::parse(&t).unwrap_or_else(|_| Sharing::none()))
        .unwrap_or_else(Sharing::all);
    Ok(Visible {
        receives,
        restricted,
    })
}

/// Why a write may not be made here: each field of a field-level category
/// this company does not receive (and does not keep to itself).
pub fn blind_fields(kind: Kind, patch: &RecordPatch, visible: &Visible) -> Option<ValidationError> {
    let errors: Vec<FieldError> = patch
        .edits
        .iter()
        .filter(|(key, _)| kind != Kind::Product || !visible.restricted.contains(key))
        .filter_map(|(key, _)| {
            let category = key_category(kind, key);
            (category.is_field_level() && !visible.receives.covers_category(category))
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

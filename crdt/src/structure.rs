//! A product's structure (simple, kit, with variations) must be the same in
//! every company (seed 002): its `structure`, a kit's components and a
//! variation's parent change only on purpose (`change_structure`), and a
//! kit never contains itself. Checked on every write of a product's main
//! document; the checks that need other records (components that exist,
//! cycles through other kits) are the node's.

use crate::error::ValidationError;
use crate::key::DocId;
use crate::patch::RecordPatch;
use crate::schema;
use crate::value::FieldValue;

/// A product's structure (simple, kit, with variations) must be the same in
/// every company (seed 002): a write that would change the one the group has
/// is refused unless it says `change_structure`. Components belong to kits
/// only.
pub(crate) fn check(
    id: &DocId,
    stored: Option<String>,
    patch: &RecordPatch,
) -> Result<(), ValidationError> {
    let own = format!("{}{}", schema::COMPONENT, id.key_value());
    if patch.edits.iter().any(|(k, v)| *k == own && v.is_some()) {
        return Err(ValidationError::one(own, "a kit cannot contain itself"));
    }
    let wanted = match patch.get("structure") {
        Some(FieldValue::Text(s)) => Some(s.clone()),
        _ => None,
    };
    if let (Some(stored), Some(wanted)) = (&stored, &wanted)
        && stored != wanted
        && !patch.change_structure
    {
        return Err(ValidationError::one(
            "structure",
            format!(
                "this product is {stored:?} in the group and this write makes it {wanted:?}; the structure must be the same in every company. Change it on purpose, from one company, with \"change_structure\": true"
            ),
        ));
    }
    let result = wanted.or(stored);
    let adds_components = patch
        .edits
        .iter()
        .any(|(k, v)| k.starts_with(schema::COMPONENT) && v.is_some());
    if adds_components && result.as_deref() != Some("kit") {
        return Err(ValidationError::one(
            "components",
            "only a kit has components: set \"structure\": \"kit\"",
        ));
    }
    Ok(())
}

/// A kit's components are part of its structure: a write that changes
/// them (adds, removes or changes a quantity) on a kit the group has is
/// refused unless it says `change_structure`, like a change of
/// `structure` itself. Writing the components the kit has is no change.
pub(crate) fn components_kept(
    current: &dyn Fn(&str) -> Option<FieldValue>,
    patch: &RecordPatch,
) -> Result<(), ValidationError> {
    if patch.change_structure {
        return Ok(());
    }
    let changed: Vec<crate::error::FieldError> = patch
        .edits
        .iter()
        .filter(|(k, v)| k.starts_with(schema::COMPONENT) && current(k) != *v)
        .map(|(k, _)| {
            crate::error::FieldError::new(
                k.clone(),
                "this write changes the components of a kit the group has; they are its structure and must be the same in every company. Change them on purpose, from one company, with \"change_structure\": true",
            )
        })
        .collect();
    if changed.is_empty() {
        Ok(())
    } else {
        Err(ValidationError(changed))
    }
}

/// A variation's parent is part of the structure too: once set, a
/// write that moves the variation to another parent (or clears it) is
/// refused unless it says `change_structure`.
pub(crate) fn parent_kept(
    current: &dyn Fn(&str) -> Option<FieldValue>,
    patch: &RecordPatch,
) -> Result<(), ValidationError> {
    let Some(stored) = current("parent_sku") else {
        return Ok(());
    };
    let moved = patch
        .edits
        .iter()
        .any(|(k, v)| k == "parent_sku" && v.as_ref() != Some(&stored));
    if moved && !patch.change_structure {
        return Err(ValidationError::one(
            "parent_sku",
            "this write moves a variation to another parent; the structure must be the same in every company. Change it on purpose, from one company, with \"change_structure\": true",
        ));
    }
    Ok(())
}

//! What never leaves this company: its values of the product fields it
//! restricts (kept in a local table, put over the shared documents on
//! read) and its own codes for records (`erp_code`), indexed both ways.
//! Nothing here is written into a shared document or read by replication.

use std::collections::BTreeMap;

use elo_crdt::patch::Edit;
use elo_crdt::{DocId, FieldValue, Kind, Record};
use redb::{Database, ReadableDatabase, ReadableTable};

use super::batch::Batch;
use super::tables::{META, META_RESTRICTED, OWN_CODE_OF, OWN_CODES};
use super::{Store, StoreError};

type LocalValues = BTreeMap<String, FieldValue>;

/// Puts this company's restricted values over a record: for a field it
/// restricts, only its own value counts, whatever the shared document says.
pub fn overlay(
    local: &impl ReadableTable<&'static str, &'static [u8]>,
    restricted: &[String],
    record: &mut Record,
) -> Result<(), StoreError> {
    if restricted.is_empty() || record.kind() != Kind::Product {
        return Ok(());
    }
    let mut own = local_values(local, &record.id.record())?;
    for field in restricted {
        record.values.remove(field);
        if let Some(v) = own.remove(field) {
            record.values.insert(field.clone(), v);
        }
    }
    Ok(())
}

/// A record's restricted values from the local table.
pub fn local_values(
    local: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &DocId,
) -> Result<LocalValues, StoreError> {
    Ok(match local.get(id.as_str())? {
        // Written only by this node; a damaged entry reads as empty rather
        // than hiding the whole record.
        Some(v) => serde_json::from_slice(v.value()).unwrap_or_default(),
        None => LocalValues::new(),
    })
}

/// The fields this company restricts.
pub fn restricted_fields(db: &Database) -> Result<Vec<String>, StoreError> {
    let txn = db.begin_read()?;
    restricted_in(&txn.open_table(META)?)
}

/// The fields this company restricts, read in the caller's transaction.
pub(crate) fn restricted_in(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<String>, StoreError> {
    Ok(meta
        .get(META_RESTRICTED)?
        .map(|g| {
            String::from_utf8_lossy(g.value())
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}

/// The key of a code in the by-code index.
fn code_key(kind: Kind, code: &str) -> String {
    format!("{kind}\u{1}{code}")
}

/// The record this company knows by `code` (its `erp_code`), if any.
pub fn id_by_own_code(db: &Database, kind: Kind, code: &str) -> Result<Option<DocId>, StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(OWN_CODES)?;
    Ok(table
        .get(code_key(kind, code).as_str())?
        .and_then(|g| DocId::parse(g.value())))
}

/// This company's own codes for these records (`None` where it has none).
pub fn own_codes_of(db: &Database, ids: &[String]) -> Result<Vec<Option<String>>, StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(OWN_CODE_OF)?;
    ids.iter()
        .map(|id| Ok(table.get(id.as_str())?.map(|g| g.value().to_owned())))
        .collect()
}

impl Store {
    /// `WriteOp::Restrict`: keep these product fields to this company from now on.
    pub(super) fn restrict(
        &mut self,
        batch: &mut Batch<'_>,
        fields: &[String],
    ) -> Result<(), StoreError> {
        keep_local(
            &batch.docs,
            &batch.dicts,
            &mut batch.local,
            &self.restricted,
            fields,
        )?;
        batch
            .meta
            .insert(META_RESTRICTED, fields.join(",").as_bytes())?;
        self.restricted = fields.to_vec();
        Ok(())
    }
}

/// `WriteOp::Local`: this company's values of a record's restricted fields.
pub(super) fn write_local(
    batch: &mut Batch<'_>,
    id: &DocId,
    edits: &[Edit],
) -> Result<(), StoreError> {
    edit_local(&mut batch.local, id, edits)
}

/// The record of `kind` this company's `code` names in the batch, if any.
pub(super) fn holder_of_code(
    batch: &Batch<'_>,
    kind: Kind,
    code: &str,
) -> Result<Option<String>, StoreError> {
    Ok(batch
        .own_codes
        .get(code_key(kind, code).as_str())?
        .map(|g| g.value().to_owned()))
}

/// `WriteOp::OwnCode`: this company's code for a record, replacing the
/// code it had before in the by-code index. The write path refuses a code
/// that names another live record before this (see `Store::put`); one
/// taken over from a deleted record leaves that record without it.
pub(super) fn write_own_code(
    batch: &mut Batch<'_>,
    id: &DocId,
    code: &str,
) -> Result<(), StoreError> {
    let old = batch
        .own_code_of
        .insert(id.as_str(), code)?
        .map(|g| g.value().to_owned());
    let kind = id.kind();
    if let Some(old) = old
        && old != code
    {
        batch.own_codes.remove(code_key(kind, &old).as_str())?;
    }
    let previous = batch
        .own_codes
        .insert(code_key(kind, code).as_str(), id.as_str())?
        .map(|g| g.value().to_owned());
    if let Some(previous) = previous
        && previous != id.as_str()
    {
        batch.own_code_of.remove(previous.as_str())?;
    }
    Ok(())
}

/// Applies edits to a record's restricted values in the local table.
fn edit_local(
    local: &mut redb::Table<&str, &[u8]>,
    id: &DocId,
    edits: &[Edit],
) -> Result<(), StoreError> {
    let mut values = local_values(local, id)?;
    for (key, value) in edits {
        match value {
            Some(v) => values.insert(key.clone(), v.clone()),
            None => values.remove(key),
        };
    }
    if values.is_empty() {
        local.remove(id.as_str())?;
    } else {
        let bytes = serde_json::to_vec(&values).map_err(|e| StoreError::Failed(e.to_string()))?;
        local.insert(id.as_str(), bytes.as_slice())?;
    }
    Ok(())
}

/// Before fields become restricted, copies the values the shared product
/// documents hold for them into the local table, so the ERP reads the
/// same values after `elo restrict` as before it. Values already local stay.
fn keep_local(
    docs: &redb::Table<&str, &[u8]>,
    dicts: &redb::Table<&str, &[u8]>,
    local: &mut redb::Table<&str, &[u8]>,
    already: &[String],
    fields: &[String],
) -> Result<(), StoreError> {
    let newly: Vec<&String> = fields.iter().filter(|f| !already.contains(f)).collect();
    if newly.is_empty() {
        return Ok(());
    }
    let prefix = DocId::kind_prefix(Kind::Product);
    let mut copies = Vec::new();
    for item in docs.range(prefix.as_str()..)? {
        let (k, v) = item?;
        let Some(id) = DocId::parse(k.value()).filter(|_| k.value().starts_with(&prefix)) else {
            break;
        };
        let Ok(doc) = super::stored::decode_doc(&id, v.value(), dicts) else {
            continue;
        };
        let Some(record) = doc.record() else {
            continue;
        };
        let edits: Vec<Edit> = newly
            .iter()
            .filter_map(|f| {
                record
                    .values
                    .get(*f)
                    .map(|v| ((*f).clone(), Some(v.clone())))
            })
            .collect();
        if !edits.is_empty() {
            copies.push((id.record(), edits));
        }
    }
    for (id, edits) in copies {
        let current = local_values(local, &id)?;
        let edits: Vec<_> = edits
            .into_iter()
            .filter(|(k, _)| !current.contains_key(k))
            .collect();
        edit_local(local, &id, &edits)?;
    }
    Ok(())
}

//! The local write path of a record: parse and check the ERP's write with
//! crdt, draw group codes for new records ([`codes`]), build the store's
//! write. One place, so the API and the command line cannot disagree on
//! what is valid. It never touches the network nor redb directly.

mod codes;
pub mod conflicts;
mod kits;
pub mod received;
#[cfg(test)]
mod tests;

pub use codes::number_waiting_records;

use elo_crdt::{DocId, FieldError, Kind, RecordPatch, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::primary::{PrimaryError, PrimaryHandle};
use crate::store::{StoreError, StoreHandle, WriteError, WriteOp, WriteResult};

/// Why a record operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no record {0}")]
    NotFound(String),
    #[error(transparent)]
    Write(WriteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Codes(PrimaryError),
}

/// A record written, and why it has no code yet if it is new and none
/// could be had.
#[derive(Debug)]
pub struct Written {
    pub result: WriteResult,
    /// The record is stored without a code and gets one when a block
    /// arrives: why.
    pub code_pending: Option<String>,
}

impl From<FieldError> for RecordError {
    fn from(e: FieldError) -> Self {
        RecordError::Invalid(e.into())
    }
}

impl From<WriteError> for RecordError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Invalid(v) => RecordError::Invalid(v),
            WriteError::NotFound(id) => RecordError::NotFound(id),
            other => RecordError::Write(other),
        }
    }
}

/// Creates or updates one record. With `key`, the record is the one it
/// names and the body may omit its key fields; without, the body's key
/// fields name it. `must_exist` makes it an update only (PATCH).
pub async fn put(
    store: &StoreHandle,
    kind: Kind,
    key: Option<&str>,
    body: &Value,
    must_exist: bool,
) -> Result<WriteResult, RecordError> {
    Ok(put_with_codes(store, kind, key, body, must_exist, None)
        .await?
        .result)
}

/// [`put`], and a new record of a numbered kind sent without `code` gets
/// the next code of its table from this company's ID ranges; a code given
/// by hand must be one of this company's not issued yet.
pub async fn put_with_codes(
    store: &StoreHandle,
    kind: Kind,
    key: Option<&str>,
    body: &Value,
    must_exist: bool,
    codes: Option<&PrimaryHandle>,
) -> Result<Written, RecordError> {
    let mut patch = RecordPatch::from_json(kind, body)?;
    let id = match key {
        Some(k) => {
            let id = DocId::from_key(kind, k)?;
            patch.bind_to(&id)?;
            id
        }
        None => patch.doc_id(kind)?,
    };
    if must_exist && store.get(id.clone()).await?.is_none_or(|r| r.deleted) {
        return Err(RecordError::NotFound(id.to_string()));
    }
    if let Some(e) = received::blind_fields(kind, &patch, &received::received(store).await?) {
        return Err(RecordError::Invalid(e));
    }
    if let Some((_, e)) = kits::check_kits(store, kind, &[(&id, &patch)])
        .await?
        .pop_first()
    {
        return Err(RecordError::Invalid(e));
    }
    let mut code_pending = None;
    if let Some(codes) = codes {
        let refused = codes::check_given_codes(store, kind, &[(&id, &patch)], codes).await?;
        if let Some((_, e)) = refused.into_iter().next() {
            return Err(RecordError::Invalid(e));
        }
        code_pending = codes::assign_codes(store, kind, &mut [(&id, &mut patch)], codes)
            .await?
            .map(|(_, reason)| reason);
    }
    let result = store
        .write_one(WriteOp::Put {
            id,
            patch,
            return_record: true,
        })
        .await??;
    Ok(Written {
        result,
        code_pending,
    })
}

/// Deletes one record.
pub async fn delete(
    store: &StoreHandle,
    kind: Kind,
    key: &str,
) -> Result<WriteResult, RecordError> {
    let id = DocId::from_key(kind, key)?;
    Ok(store.write_one(WriteOp::Delete { id }).await??)
}

/// A row of a bulk write that was refused.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rejected {
    pub index: usize,
    pub message: String,
    pub fields: Vec<FieldError>,
}

/// What a bulk write did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BulkReport {
    /// Rows stored (changed or already identical).
    pub stored: usize,
    /// Rows that changed a record.
    pub changed: usize,
    pub rejected: Vec<Rejected>,
    /// New rows stored without a code (they get one when a block
    /// arrives), by index, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_pending: Option<CodePending>,
}

/// Rows stored without a code, and why.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodePending {
    pub rows: Vec<usize>,
    pub reason: String,
}

/// Writes many records of one kind in one transaction. Each row is checked
/// alone: valid rows are stored, invalid ones reported by their index.
pub async fn put_many(
    store: &StoreHandle,
    kind: Kind,
    rows: &[Value],
) -> Result<BulkReport, RecordError> {
    put_many_with_codes(store, kind, rows, None).await
}

/// [`put_many`], numbering new records as [`put_with_codes`] does.
pub async fn put_many_with_codes(
    store: &StoreHandle,
    kind: Kind,
    rows: &[Value],
    codes: Option<&PrimaryHandle>,
) -> Result<BulkReport, RecordError> {
    let mut report = BulkReport::default();
    let mut checked = Vec::with_capacity(rows.len());
    let receives = received::received(store).await?;
    for (index, row) in rows.iter().enumerate() {
        match RecordPatch::from_json(kind, row)
            .and_then(|p| p.doc_id(kind).map(|id| (id, p)))
            .and_then(
                |(id, p)| match received::blind_fields(kind, &p, &receives) {
                    Some(e) => Err(e),
                    None => Ok((id, p)),
                },
            ) {
            Ok((id, patch)) => checked.push((index, id, patch)),
            Err(e) => report.rejected.push(rejected(index, e)),
        }
    }
    let rows: Vec<(&DocId, &RecordPatch)> = checked.iter().map(|(_, id, p)| (id, p)).collect();
    let refused = kits::check_kits(store, kind, &rows).await?;
    drop(rows);
    retain_unrefused(&mut checked, &refused, &mut report);
    if let Some(codes) = codes {
        let given: Vec<(&DocId, &RecordPatch)> = checked.iter().map(|(_, id, p)| (id, p)).collect();
        let refused = codes::check_given_codes(store, kind, &given, codes).await?;
        retain_unrefused(&mut checked, &refused, &mut report);
        let mut numbered: Vec<(&DocId, &mut RecordPatch)> =
            checked.iter_mut().map(|(_, id, p)| (&*id, p)).collect();
        if let Some((rows, reason)) = codes::assign_codes(store, kind, &mut numbered, codes).await?
        {
            let rows = rows.into_iter().map(|i| checked[i].0).collect();
            report.code_pending = Some(CodePending { rows, reason });
        }
    }
    let mut ops = Vec::with_capacity(checked.len());
    let mut index_of_op = Vec::with_capacity(checked.len());
    for (index, id, patch) in checked {
        ops.push(WriteOp::Put {
            id,
            patch,
            return_record: false,
        });
        index_of_op.push(index);
    }
    let results = if ops.is_empty() {
        Vec::new()
    } else {
        store.write(ops).await?
    };
    for (index, result) in index_of_op.into_iter().zip(results) {
        match result {
            Ok(w) => {
                report.stored += 1;
                report.changed += usize::from(w.seq.is_some());
            }
            Err(WriteError::Invalid(e)) => report.rejected.push(rejected(index, e)),
            Err(e) => report.rejected.push(Rejected {
                index,
                message: e.to_string(),
                fields: Vec::new(),
            }),
        }
    }
    report.rejected.sort_by_key(|r| r.index);
    Ok(report)
}

/// Drops the rows refused (by their position in `checked`) and reports them.
fn retain_unrefused(
    checked: &mut Vec<(usize, DocId, RecordPatch)>,
    refused: &std::collections::BTreeMap<usize, ValidationError>,
    report: &mut BulkReport,
) {
    let mut position = 0;
    checked.retain(|(index, _, _)| {
        let keep = match refused.get(&position) {
            Some(e) => {
                report.rejected.push(rejected(*index, e.clone()));
                false
            }
            None => true,
        };
        position += 1;
        keep
    });
}

fn rejected(index: usize, e: ValidationError) -> Rejected {
    Rejected {
        index,
        message: e.to_string(),
        fields: e.0,
    }
}

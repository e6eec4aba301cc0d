//! The local write path of a record: parse and check the ERP's write with
//! crdt, draw group codes for new records ([`codes`]), build the store's
//! write. One place, so the API and the command line cannot disagree on
//! what is valid. It never touches the network nor redb directly.

mod codes;

use elo_crdt::{DocId, FieldError, Kind, RecordPatch, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::primary::PrimaryHandle;
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
    put_with_codes(store, kind, key, body, must_exist, None).await
}

/// [`put`], and a new record of a numbered kind sent without `code` gets
/// the next code of its table from this company's ID ranges.
pub async fn put_with_codes(
    store: &StoreHandle,
    kind: Kind,
    key: Option<&str>,
    body: &Value,
    must_exist: bool,
    codes: Option<&PrimaryHandle>,
) -> Result<WriteResult, RecordError> {
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
    if let Some(codes) = codes {
        codes::assign_codes(store, kind, &mut [(&id, &mut patch)], codes).await?;
    }
    Ok(store
        .write_one(WriteOp::Put {
            id,
            patch,
            return_record: true,
        })
        .await??)
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
}

/// Writes many records of one kind in one transaction. Each row is checked
/// alone: valid rows are stored, invalid ones reported by their index.
pub async fn put_many(
    store: &StoreHandle,
    kind: Kind,
    rows: &[Value],
) -> Result<BulkReport, StoreError> {
    put_many_with_codes(store, kind, rows, None).await
}

/// [`put_many`], numbering new records as [`put_with_codes`] does.
pub async fn put_many_with_codes(
    store: &StoreHandle,
    kind: Kind,
    rows: &[Value],
    codes: Option<&PrimaryHandle>,
) -> Result<BulkReport, StoreError> {
    let mut report = BulkReport::default();
    let mut ops = Vec::with_capacity(rows.len());
    let mut index_of_op = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        match RecordPatch::from_json(kind, row).and_then(|p| p.doc_id(kind).map(|id| (id, p))) {
            Ok((id, patch)) => {
                ops.push(WriteOp::Put {
                    id,
                    patch,
                    return_record: false,
                });
                index_of_op.push(index);
            }
            Err(e) => report.rejected.push(rejected(index, e)),
        }
    }
    if let Some(codes) = codes {
        let mut numbered: Vec<(&DocId, &mut RecordPatch)> = ops
            .iter_mut()
            .filter_map(|op| match op {
                WriteOp::Put { id, patch, .. } => Some((&*id, patch)),
                _ => None,
            })
            .collect();
        codes::assign_codes(store, kind, &mut numbered, codes).await?;
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

fn rejected(index: usize, e: ValidationError) -> Rejected {
    Rejected {
        index,
        message: e.to_string(),
        fields: e.0,
    }
}

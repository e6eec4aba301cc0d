//! Record operations shared by the local API and the command line when no
//! node is running: parse and check a write, then store it. One place, so
//! the two paths cannot disagree on what is valid.

use elo_crdt::{DocId, FieldError, Kind, RecordPatch, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

//! Loading what the writer stored, for every module of the store: a
//! document, a document's change-log entry, a counter in metadata.

use elo_crdt::{ChangeHash, DocId, RecordDoc};
use redb::ReadableTable;

use super::{ChangeEntry, StoreError, packed};

/// The actor id used to load documents only to read them.
pub(crate) const READER: &[u8] = b"elo-reader";

/// A stored document loaded to be read (`None`: not stored here).
pub(crate) fn load_doc(
    docs: &impl ReadableTable<&'static str, &'static [u8]>,
    dicts: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &DocId,
) -> Result<Option<RecordDoc>, StoreError> {
    let Some(value) = docs.get(id.as_str())? else {
        return Ok(None);
    };
    decode_doc(id, value.value(), dicts).map(Some)
}

/// A stored value (see [`packed`]) loaded as the document `id`.
pub(crate) fn decode_doc(
    id: &DocId,
    value: &[u8],
    dicts: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<RecordDoc, StoreError> {
    let bytes = packed::unpack(id.as_str(), value, dicts)?;
    RecordDoc::load(&bytes, READER, id).map_err(|source| StoreError::Damaged {
        id: id.to_string(),
        source,
    })
}

/// A stored document's automerge bytes (`None`: not stored here).
pub(crate) fn doc_bytes(
    docs: &impl ReadableTable<&'static str, &'static [u8]>,
    dicts: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(value) = docs.get(id)? else {
        return Ok(None);
    };
    Ok(Some(packed::unpack(id, value.value(), dicts)?.into_owned()))
}

/// A document's latest change-log entry, found through its sequence number.
pub(crate) fn entry_of(
    doc_seq: &impl ReadableTable<&'static str, u64>,
    changes: &impl ReadableTable<u64, &'static [u8]>,
    id: &str,
) -> Result<Option<ChangeEntry>, StoreError> {
    let Some(seq) = doc_seq.get(id)?.map(|g| g.value()) else {
        return Ok(None);
    };
    Ok(changes
        .get(seq)?
        .and_then(|v| ChangeEntry::decode(seq, v.value())))
}

/// A document's heads as the change log has them, without loading it.
pub(crate) fn heads_of(
    doc_seq: &impl ReadableTable<&'static str, u64>,
    changes: &impl ReadableTable<u64, &'static [u8]>,
    id: &str,
) -> Result<Option<Vec<ChangeHash>>, StoreError> {
    Ok(entry_of(doc_seq, changes, id)?.map(|e| e.heads))
}

/// A counter kept in metadata as decimal text; 0 when absent or unreadable.
pub(crate) fn meta_u64(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<u64, StoreError> {
    Ok(meta
        .get(key)?
        .and_then(|g| {
            std::str::from_utf8(g.value())
                .ok()
                .and_then(|s| s.parse().ok())
        })
        .unwrap_or(0))
}

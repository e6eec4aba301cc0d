//! The one place a document received from a member is merged into this
//! node's copy. `RecordDoc` (crdt) has the merge itself; this module
//! decides how each received document is stored:
//!
//! - off the writer thread, [`prepare_received`] checks a first copy, and
//!   [`prepare_merge`] merges a received document
//!   with the stored one (pull runs many of these in parallel) and gives
//!   the write that stores the result;
//! - on the writer thread, that write ([`WriteOp::Merged`]) is stored as is
//!   if the document has not changed meanwhile, and a document never held
//!   here ([`WriteOp::Merge`]) is stored as received once checked; anything
//!   else is merged into the writer's copy by `merge_into_stored`.

use elo_crdt::{ChangeHash, DocId, DocPayload, RecordDoc};
use redb::{Database, ReadableDatabase};

use super::batch::Batch;
use super::stored::{READER, doc_bytes, entry_of, heads_of};
use super::tables::{CHANGES, DICTS, DOC_SEQ, DOCS};
use super::{ChangeEntry, ReceivedDoc, Store, StoreError, WriteError, WriteOp, WriteResult};

/// One write's outcome: the outer error fails the batch, the inner one
/// refuses this write only.
type Applied = Result<Result<WriteResult, WriteError>, StoreError>;

/// The write for a document received from a member, prepared on the
/// caller's thread (`None`: nothing new). `first`: this node held nothing of
/// it when it asked, so a whole document is only checked, without a read of
/// the store (the writer still merges if a copy arrived meanwhile).
pub fn prepare_received(
    db: &Database,
    id: &DocId,
    payload: DocPayload,
    first: bool,
    origin: &str,
) -> Result<Option<WriteOp>, WriteError> {
    match payload {
        DocPayload::Whole(bytes) if first => {
            first_copy(id, DocPayload::Whole(bytes), origin).map(Some)
        }
        payload => prepare_merge(db, id, payload, origin),
    }
}

/// Merges what a member sent into the stored document, on the caller's
/// thread, and returns the write that stores the result (`None`: nothing
/// new). Changes that continue the stored history are appended without
/// loading the document; anything else is merged in full. A document
/// not stored here must come whole, and is checked as such.
pub fn prepare_merge(
    db: &Database,
    id: &DocId,
    payload: DocPayload,
    origin: &str,
) -> Result<Option<WriteOp>, WriteError> {
    let damaged = |source| WriteError::damaged(id, source);
    let stored = stored_with_entry(db, id).map_err(|e| {
        damaged(elo_crdt::DocError::WrongId {
            expected: id.to_string(),
            found: e.to_string(),
        })
    })?;
    let Some((stored, entry)) = stored else {
        return first_copy(id, payload, origin).map(Some);
    };
    if let (DocPayload::Changes(changes), Some(e)) = (&payload, &entry)
        && let Some((bytes, heads, deleted)) =
            RecordDoc::append_changes(&stored, &e.heads, e.deleted, changes)
    {
        let author = changes.last().and_then(|c| RecordDoc::latest_author(c));
        return Ok(Some(WriteOp::Merged {
            id: id.clone(),
            bytes,
            origin: author.unwrap_or_else(|| origin.to_string()),
            result: ReceivedDoc {
                heads,
                deleted,
                author: None,
            },
            base: e.heads.clone(),
        }));
    }
    let mut doc = RecordDoc::load(&stored, READER, id).map_err(damaged)?;
    let base = entry.map_or_else(|| doc.heads(), |e| e.heads);
    let mut changed = false;
    match payload {
        DocPayload::Whole(bytes) => changed |= doc.merge_bytes(&bytes).map_err(damaged)?,
        DocPayload::Changes(changes) => {
            for c in changes {
                changed |= doc.merge_bytes(&c).map_err(damaged)?;
            }
        }
    }
    if !changed {
        return Ok(None);
    }
    Ok(Some(WriteOp::Merged {
        id: id.clone(),
        result: ReceivedDoc {
            heads: doc.heads(),
            deleted: doc.is_deleted(),
            author: None,
        },
        origin: doc.author_at_heads().unwrap_or_else(|| origin.to_string()),
        bytes: doc.save(),
        base,
    }))
}

/// The write that stores a document this node has never held, checked.
fn first_copy(id: &DocId, payload: DocPayload, origin: &str) -> Result<WriteOp, WriteError> {
    let bytes = match payload {
        DocPayload::Whole(bytes) => bytes,
        // Changes of a document never held here: the sender withheld
        // some of it (changes this company has not authorised).
        DocPayload::Changes(changes) => RecordDoc::from_changes(&changes, READER, id)
            .map_err(|source| WriteError::damaged(id, source))?
            .save(),
    };
    ReceivedDoc::check(id, &bytes).map(|c| WriteOp::Merge {
        id: id.clone(),
        bytes,
        origin: c.author.clone().unwrap_or_else(|| origin.to_string()),
        checked: Some(c),
    })
}

/// A document's stored bytes and its change-log entry.
type StoredDoc = (Vec<u8>, Option<ChangeEntry>);

/// Reads a document's stored bytes and its change-log entry.
fn stored_with_entry(db: &Database, id: &DocId) -> Result<Option<StoredDoc>, StoreError> {
    let txn = db.begin_read()?;
    let docs = txn.open_table(DOCS)?;
    let dicts = txn.open_table(DICTS)?;
    let Some(bytes) = doc_bytes(&docs, &dicts, id.as_str())? else {
        return Ok(None);
    };
    let doc_seq = txn.open_table(DOC_SEQ)?;
    let changes = txn.open_table(CHANGES)?;
    let entry = entry_of(&doc_seq, &changes, id.as_str())?;
    Ok(Some((bytes, entry)))
}

impl Store {
    /// `WriteOp::Merge`: a document received from `origin`. One this node
    /// has never had is stored as received once checked: by the caller
    /// (`checked`, done off this thread so checks run in parallel), else
    /// here.
    pub(super) fn merge_received(
        &mut self,
        batch: &mut Batch<'_>,
        id: &DocId,
        bytes: &[u8],
        origin: &str,
        checked: Option<&ReceivedDoc>,
    ) -> Applied {
        if self.cache.contains(id.as_str()) || batch.has_doc(id)? {
            return self.merge_into_stored(batch, id, bytes, origin);
        }
        let checked = match checked {
            Some(c) => c.clone(),
            None => match ReceivedDoc::check(id, bytes) {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            },
        };
        let seq = batch.log_change(id, bytes, checked.heads, checked.deleted, origin)?;
        Ok(Ok(WriteResult::stored(id.clone(), seq, true)))
    }

    /// `WriteOp::Merged`: a document merged by [`prepare_merge`] onto
    /// `base`. Stored as is if the document still has those heads, else
    /// merged into the current copy.
    pub(super) fn store_merged(
        &mut self,
        batch: &mut Batch<'_>,
        id: &DocId,
        bytes: &[u8],
        origin: &str,
        result: &ReceivedDoc,
        base: &[ChangeHash],
    ) -> Applied {
        let current = match self.cache.peek_mut(id.as_str()) {
            Some(doc) => Some(doc.heads()),
            None => heads_of(&batch.doc_seq, &batch.changes, id.as_str())?,
        };
        if current.as_deref() != Some(base) {
            return self.merge_into_stored(batch, id, bytes, origin);
        }
        // The cached copy (if any) is older than what is stored now.
        self.cache.pop(id.as_str());
        let seq = batch.log_change(id, bytes, result.heads.clone(), result.deleted, origin)?;
        Ok(Ok(WriteResult::stored(id.clone(), seq, false)))
    }

    /// Merges received bytes into the writer's copy of the document and
    /// logs the change, made by `origin`, if it brought anything new.
    fn merge_into_stored(
        &mut self,
        batch: &mut Batch<'_>,
        id: &DocId,
        bytes: &[u8],
        origin: &str,
    ) -> Applied {
        let doc = match self.cached_doc(batch, id)? {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        let changed = match doc.merge_bytes(bytes) {
            Ok(changed) => changed,
            Err(source) => return Ok(Err(WriteError::damaged(id, source))),
        };
        let seq = if changed && !doc.heads().is_empty() {
            Some(batch.log_edited(id, doc, origin)?)
        } else {
            None
        };
        Ok(Ok(WriteResult {
            id: id.clone(),
            seq,
            created: false,
            record: None,
        }))
    }
}

//! What a caller asks the writer to do ([`WriteOp`]) and what it hears
//! back ([`WriteResult`]). A batch of writes commits in one transaction.

use elo_crdt::patch::Edit;
use elo_crdt::{ChangeHash, DocId, Record, RecordDoc, RecordPatch};

use super::checkpoint::ReplicatedLog;
use super::{ChangeEntry, WriteError};

/// One write. Four families, each applied by its own module: record edits
/// (`Put`, `Delete`: `write`), received documents (`Merge`, `Merged`:
/// `merge`), replication progress (`Checkpoint`: `checkpoint`) and what
/// stays with this company (`Restrict`, `Local`, `OwnCode`: `local`).
#[derive(Debug)]
pub enum WriteOp {
    // ---- Record edits ----
    /// Set or clear fields of a record, creating it if needed. With
    /// `return_record`, the result carries the record as stored (bulk
    /// imports skip it: rendering costs more than the write).
    Put {
        id: DocId,
        patch: RecordPatch,
        return_record: bool,
    },
    /// Mark a record deleted.
    Delete { id: DocId },

    // ---- Received documents ----
    /// Merge automerge bytes received from `origin` (a peer's company).
    /// `checked`: the result of [`ReceivedDoc::check`] on these bytes, when
    /// the caller already ran it.
    Merge {
        id: DocId,
        bytes: Vec<u8>,
        origin: String,
        checked: Option<ReceivedDoc>,
    },
    /// A received document already merged with the stored one off the
    /// writer thread (see [`super::merge::prepare_merge`]): `bytes` is the
    /// whole merged document, `base` the heads it was merged onto. Stored as
    /// is if the document still has those heads, else merged again.
    Merged {
        id: DocId,
        bytes: Vec<u8>,
        origin: String,
        result: ReceivedDoc,
        base: Vec<ChangeHash>,
    },

    // ---- Replication progress ----
    /// Record that everything of `peer`'s `log` up to `seq` is stored here.
    /// Put it after the writes it covers: it commits with them.
    Checkpoint {
        log: ReplicatedLog,
        peer: String,
        seq: u64,
    },
    /// Member `member` (a node) listed this document and this company did
    /// not take it: `origins` (its creators, CNPJs joined by `,`) are
    /// companies it keeps out.
    Withheld {
        member: String,
        id: DocId,
        origins: String,
    },
    /// A document noted as withheld has been fetched from that member since.
    NoLongerWithheld { member: String, id: DocId },

    // ---- What stays with this company ----
    /// Keep these product fields to this company from now on (replaces the
    /// list). The values it already shares are copied to its local table,
    /// so what its ERP reads does not change.
    Restrict { fields: Vec<String> },
    /// This company's values of restricted fields, kept in its local table.
    /// Written by the store itself when it splits a put.
    Local { id: DocId, edits: Vec<Edit> },
    /// This company's own code for a record, for finding it by that code.
    /// Written by the store itself when a put carries `erp_code`.
    OwnCode { id: DocId, code: String },
}

/// A received document that loaded as the record it claims to be.
#[derive(Clone, Debug)]
pub struct ReceivedDoc {
    pub heads: Vec<ChangeHash>,
    pub deleted: bool,
    /// The company that made its latest change, when the bytes name it.
    pub author: Option<String>,
}

impl ReceivedDoc {
    /// Loads received bytes to check them: a valid automerge document of a
    /// created record with the expected id.
    pub fn check(id: &DocId, bytes: &[u8]) -> Result<ReceivedDoc, WriteError> {
        RecordDoc::check_bytes(bytes, id)
            .map(|c| ReceivedDoc {
                heads: c.heads,
                deleted: c.deleted,
                author: c.author,
            })
            .map_err(|source| WriteError::damaged(id, source))
    }
}

/// What a successful write did.
#[derive(Clone, Debug)]
pub struct WriteResult {
    pub id: DocId,
    /// The new change's sequence number; `None` when nothing changed.
    pub seq: Option<u64>,
    pub created: bool,
    pub record: Option<Record>,
}

impl WriteResult {
    /// A write that stored no change of a shared document.
    pub(super) fn unchanged(id: DocId) -> WriteResult {
        WriteResult {
            id,
            seq: None,
            created: false,
            record: None,
        }
    }

    /// A write that stored a document's change at `seq`.
    pub(super) fn stored(id: DocId, seq: u64, created: bool) -> WriteResult {
        WriteResult {
            id,
            seq: Some(seq),
            created,
            record: None,
        }
    }
}

/// Per-write results of a committed batch, and the change-log entries it added.
pub type BatchOutcome = (Vec<Result<WriteResult, WriteError>>, Vec<ChangeEntry>);

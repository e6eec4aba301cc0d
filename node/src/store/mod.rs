//! The node's storage: one redb file holding record documents, the local
//! change log, per-peer checkpoints and metadata.
//!
//! # Durability contract
//! Writes go through one writer (see [`handle`]), which applies every write
//! waiting in its queue in one redb transaction and commits it with
//! `Durability::Immediate` (fsync) *before* any caller hears back. So a write
//! is on disk when its caller's future resolves: when the CLI exits 0 or the
//! API answers 2xx. A process killed at any moment reopens with every
//! acknowledged write and no half of a transaction (redb's commit is atomic).
//!
//! Memory: documents are loaded from their saved bytes on demand; the writer
//! keeps at most [`CACHE_DOCS`] of them in an LRU, so memory does not grow
//! with the number of records. Readers load, read and drop.

pub mod backup;
mod entry;
pub mod handle;
pub mod read;
pub mod stock;
pub(crate) mod tables;

use std::num::NonZeroUsize;
use std::path::Path;

use elo_crdt::{
    Author, DocError, DocId, DocPayload, HistoryEntry, Kind, Record, RecordDoc, RecordPatch,
    ValidationError,
};
use lru::LruCache;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata};

pub use entry::ChangeEntry;
pub use handle::StoreHandle;
pub use tables::ReplicatedLog;
use tables::{
    CHANGES, CHECKPOINTS, DOC_SEQ, DOCS, META, META_LAST_SEQ, META_RESTRICTED, META_SCHEMA,
    RESTRICTED,
};

/// Documents the writer keeps loaded. Small on purpose: a loaded and edited
/// 30-field document was measured holding ~0.5 MiB of allocator memory
/// (256 of them took a node to 230 MiB RSS; 32 keep it near 20 MiB), while
/// loading one again costs only ~30 µs.
pub const CACHE_DOCS: usize = 32;
/// redb's page cache. Its default (1 GiB) would let a big import grow the
/// node's memory far past what the records need.
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// The schema version this build writes.
const SCHEMA_VERSION: u64 = 1;
/// The actor id used to load documents only to read them.
const READER: &[u8] = b"elo-reader";

/// Why the store could not do what was asked. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("the data store {path} is in use by another elo process (is `elo node` running?)")]
    InUse { path: String },
    /// Boxed: redb's error is large and this one travels on every read path.
    #[error("storage error: {0}")]
    Storage(Box<redb::Error>),
    #[error("stored document {id} is damaged: {source}")]
    Damaged { id: String, source: DocError },
    #[error("the write was not stored: {0}")]
    Failed(String),
    #[error("the store has shut down")]
    Closed,
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Storage(Box::new(e.into())) }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::CompactionError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// Why one write of a batch was refused; the others of the batch stand.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no {0} record")]
    NotFound(String),
    #[error("stored document {id} is damaged: {source}")]
    Damaged { id: String, source: DocError },
}

/// One write.
#[derive(Debug)]
pub enum WriteOp {
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
    /// writer thread (see [`read::prepare_merge`]): `bytes` is the whole
    /// merged document, `base` the heads it was merged onto. Stored as is if
    /// the document still has those heads, else merged again.
    Merged {
        id: DocId,
        bytes: Vec<u8>,
        origin: String,
        result: ReceivedDoc,
        base: Vec<elo_crdt::ChangeHash>,
    },
    /// Record that everything of `peer`'s log up to `seq` is stored here.
    /// Put it after the merges it covers: it commits with them.
    Checkpoint {
        log: ReplicatedLog,
        peer: String,
        seq: u64,
    },
    /// Keep these product fields to this company from now on (replaces the
    /// list). The values it already shares are copied to its local table,
    /// so what its ERP reads does not change.
    Restrict { fields: Vec<String> },
    /// This company's values of restricted fields, kept in its local table.
    /// Written by the store itself when it splits a put.
    Local {
        id: DocId,
        edits: Vec<elo_crdt::patch::Edit>,
    },
    /// This company's own code for a record, for finding it by that code.
    /// Written by the store itself when a put carries `erp_code`.
    OwnCode { id: DocId, code: String },
}

/// A received document that loaded as the record it claims to be.
#[derive(Clone, Debug)]
pub struct ReceivedDoc {
    pub heads: Vec<elo_crdt::ChangeHash>,
    pub deleted: bool,
}

impl ReceivedDoc {
    /// Loads received bytes to check them: a valid automerge document of a
    /// created record with the expected id.
    pub fn check(id: &DocId, bytes: &[u8]) -> Result<ReceivedDoc, WriteError> {
        RecordDoc::check_bytes(bytes, id)
            .map(|(heads, deleted)| ReceivedDoc { heads, deleted })
            .map_err(|source| WriteError::Damaged {
                id: id.to_string(),
                source,
            })
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
    fn unchanged(id: DocId) -> WriteResult {
        WriteResult {
            id,
            seq: None,
            created: false,
            record: None,
        }
    }
}

/// Per-write results of a committed batch, and the change-log entries it added.
pub type BatchOutcome = (Vec<Result<WriteResult, WriteError>>, Vec<ChangeEntry>);

/// The storage core: the redb file and the writer's document cache. Only the
/// writer thread owns one; readers use [`read`] functions on the database.
pub struct Store {
    db: std::sync::Arc<Database>,
    cache: LruCache<String, RecordDoc>,
    actor: Vec<u8>,
    company: String,
    /// The product fields this company keeps to itself.
    restricted: Vec<String>,
    /// The store file (for backups).
    path: std::path::PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store file and migrates it.
    pub fn open(path: &Path, actor: Vec<u8>, company: String) -> Result<Store, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| open_error(path, e))?;
        migrate(&db)?;
        let restricted = read::restricted_fields(&db)?;
        Ok(Store {
            db: std::sync::Arc::new(db),
            cache: LruCache::new(NonZeroUsize::new(CACHE_DOCS).unwrap_or(NonZeroUsize::MIN)),
            actor,
            company,
            restricted,
            path: path.to_path_buf(),
        })
    }

    /// Compacts a store file that no process has open, and closes it again:
    /// each commit copies the pages it changes, so a bulk load leaves the
    /// file about twice its content.
    /// (redb gives the space back when the compacted database is closed; a
    /// database compacted and then kept open and written to was measured
    /// growing instead.) Returns whether anything was done.
    pub fn compact_file(path: &Path) -> Result<bool, StoreError> {
        let mut db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .open(path)
            .map_err(|e| open_error(path, e))?;
        let done = db.compact()?;
        drop(db);
        Ok(done)
    }

    /// Sets the company that authors this store's changes.
    pub fn with_company(mut self, company: String) -> Store {
        self.company = company;
        self
    }

    pub fn database(&self) -> std::sync::Arc<Database> {
        self.db.clone()
    }

    /// Applies a batch of writes in one transaction. The outer error means
    /// the transaction failed and nothing of the batch is stored; inner
    /// errors refuse single writes and leave the rest of the batch standing.
    pub fn write_batch(
        &mut self,
        ops: Vec<WriteOp>,
        now_ms: i64,
    ) -> Result<BatchOutcome, StoreError> {
        let outcome = self.write_batch_inner(ops, now_ms);
        if outcome.is_err() {
            // Documents touched by the batch were edited in the cache; the
            // commit failed, so none of those edits is on disk. Forget them all.
            self.cache.clear();
        }
        outcome
    }

    fn write_batch_inner(
        &mut self,
        ops: Vec<WriteOp>,
        now_ms: i64,
    ) -> Result<BatchOutcome, StoreError> {
        let count = ops.len();
        let want_record: Vec<bool> = ops
            .iter()
            .map(|op| {
                matches!(
                    op,
                    WriteOp::Put {
                        return_record: true,
                        ..
                    }
                )
            })
            .collect();
        let expanded = self.expand(ops);
        let (results, entries) = self.write_expanded(&expanded, now_ms)?;
        // One result per write asked for: a put's parts fold into its main
        // document's result.
        let mut out: Vec<Option<Result<WriteResult, WriteError>>> =
            (0..count).map(|_| None).collect();
        for ((group, _), result) in expanded.iter().zip(results) {
            let Some(slot) = out.get_mut(*group) else {
                continue;
            };
            match (slot.as_mut(), result) {
                (None, r) => *slot = Some(r),
                (Some(Ok(acc)), Ok(r)) => {
                    acc.seq = acc.seq.max(r.seq);
                    if let (Some(main), Some(part)) = (acc.record.as_mut(), r.record) {
                        main.values.extend(part.values);
                    }
                }
                (Some(Ok(_)), Err(e)) => *slot = Some(Err(e)),
                (Some(Err(_)), _) => {}
            }
        }
        let mut results = Vec::with_capacity(count);
        for (group, r) in out.into_iter().enumerate() {
            let mut r = r.unwrap_or_else(|| Err(WriteError::NotFound("a write".into())));
            if let Ok(w) = &mut r
                && want_record.get(group).copied().unwrap_or(false)
                && let Some(record) = w.record.as_mut()
            {
                let txn = self.db.begin_read()?;
                let local = txn.open_table(RESTRICTED)?;
                read::overlay(&local, &self.restricted, record)?;
            }
            results.push(r);
        }
        Ok((results, entries))
    }

    /// Splits each put into the writes of the record's documents: its main
    /// document, one part per field-level category, and the restricted
    /// fields for the local table. Each write keeps the index of the put it
    /// came from; parts follow their main document, so a refused main
    /// document (say, a new record without its name) stops its parts too.
    fn expand(&self, ops: Vec<WriteOp>) -> Vec<(usize, WriteOp)> {
        let mut out = Vec::with_capacity(ops.len());
        for (group, op) in ops.into_iter().enumerate() {
            let WriteOp::Put {
                id,
                mut patch,
                return_record,
            } = op
            else {
                out.push((group, op));
                continue;
            };
            if id.part_category().is_some() {
                out.push((
                    group,
                    WriteOp::Put {
                        id,
                        patch,
                        return_record,
                    },
                ));
                continue;
            }
            let own_code = patch.erp_code.take();
            if let Some(code) = &own_code {
                patch.edits.push((
                    format!("{}{}", elo_crdt::schema::OWN_CODE, self.company),
                    Some(elo_crdt::FieldValue::Text(code.clone())),
                ));
            }
            let mut local = Vec::new();
            if id.kind() == Kind::Product && !self.restricted.is_empty() {
                let (kept, shared) = std::mem::take(&mut patch.edits)
                    .into_iter()
                    .partition(|(k, _)| self.restricted.iter().any(|r| r == k));
                local = kept;
                patch.edits = shared;
            }
            for (n, (category, part)) in patch.split(id.kind()).into_iter().enumerate() {
                if n > 0 && part.edits.is_empty() {
                    continue;
                }
                let part_id = category.map_or_else(|| id.clone(), |c| id.part(c));
                out.push((
                    group,
                    WriteOp::Put {
                        id: part_id,
                        patch: part,
                        return_record,
                    },
                ));
            }
            if let Some(code) = own_code {
                out.push((
                    group,
                    WriteOp::OwnCode {
                        id: id.clone(),
                        code,
                    },
                ));
            }
            if !local.is_empty() {
                out.push((group, WriteOp::Local { id, edits: local }));
            }
        }
        out
    }

    fn write_expanded(
        &mut self,
        ops: &[(usize, WriteOp)],
        now_ms: i64,
    ) -> Result<BatchOutcome, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let mut results = Vec::with_capacity(ops.len());
        let mut entries = Vec::new();
        {
            let mut docs = txn.open_table(DOCS)?;
            let mut changes = txn.open_table(CHANGES)?;
            let mut doc_seq = txn.open_table(DOC_SEQ)?;
            let mut meta = txn.open_table(META)?;
            let mut checkpoints = txn.open_table(CHECKPOINTS)?;
            let mut local = txn.open_table(RESTRICTED)?;
            let mut last_seq = read_u64(&meta, META_LAST_SEQ)?;
            let mut refused: Option<usize> = None;
            let mut previous: Option<usize> = None;
            let company = self.company.clone();
            let author = Author {
                company: &company,
                time_ms: now_ms,
            };
            for (group, op) in ops {
                // A put whose main document was refused writes no part.
                if let Some(g) = previous.take()
                    && matches!(results.last(), Some(Err(_)))
                {
                    refused = Some(g);
                }
                previous = Some(*group);
                if refused == Some(*group) {
                    results.push(Err(WriteError::NotFound("a refused record".into())));
                    continue;
                }
                let (id, want_record) = match op {
                    WriteOp::Put {
                        id, return_record, ..
                    } => (id.clone(), *return_record),
                    WriteOp::Delete { id } => (id.clone(), false),
                    WriteOp::Merge { id, .. } => (id.clone(), false),
                    WriteOp::Merged { id, .. } => (id.clone(), false),
                    WriteOp::Checkpoint { log, peer, seq } => {
                        let peer = log.checkpoint_key(&peer);
                        checkpoints.insert(peer.as_str(), *seq)?;
                        results.push(Ok(WriteResult::unchanged(DocId::kind_root(Kind::Company))));
                        continue;
                    }
                    WriteOp::OwnCode { id, code } => {
                        let mut by_code = txn.open_table(tables::OWN_CODES)?;
                        let mut of = txn.open_table(tables::OWN_CODE_OF)?;
                        let old = of
                            .insert(id.as_str(), code.as_str())?
                            .map(|g| g.value().to_owned());
                        let kind = id.kind();
                        if let Some(old) = old {
                            by_code.remove(format!("{kind}\u{1}{old}").as_str())?;
                        }
                        by_code.insert(format!("{kind}\u{1}{code}").as_str(), id.as_str())?;
                        results.push(Ok(WriteResult::unchanged(id.clone())));
                        continue;
                    }
                    WriteOp::Local { id, edits } => {
                        write_local(&mut local, id, edits)?;
                        results.push(Ok(WriteResult::unchanged(id.clone())));
                        continue;
                    }
                    WriteOp::Restrict { fields } => {
                        keep_local(&docs, &mut local, &self.restricted, fields)?;
                        meta.insert(META_RESTRICTED, fields.join(",").as_bytes())?;
                        self.restricted = fields.clone();
                        results.push(Ok(WriteResult::unchanged(DocId::kind_root(Kind::Product))));
                        continue;
                    }
                };
                // Merged already and nothing changed since: store as is.
                if let WriteOp::Merged {
                    bytes,
                    origin,
                    result,
                    base,
                    ..
                } = &op
                {
                    let current = match self.cache.peek_mut(id.as_str()) {
                        Some(doc) => Some(doc.heads()),
                        None => match doc_seq.get(id.as_str())?.map(|g| g.value()) {
                            Some(seq) => changes
                                .get(seq)?
                                .and_then(|v| ChangeEntry::decode(seq, v.value()))
                                .map(|e| e.heads),
                            None => None,
                        },
                    };
                    if current.as_ref() == Some(base) {
                        self.cache.pop(id.as_str());
                        last_seq += 1;
                        let entry = ChangeEntry {
                            seq: last_seq,
                            id: id.to_string(),
                            heads: result.heads.clone(),
                            deleted: result.deleted,
                            company: origin.clone(),
                        };
                        docs.insert(id.as_str(), bytes.as_slice())?;
                        let old = doc_seq.insert(id.as_str(), last_seq)?.map(|g| g.value());
                        if let Some(old) = old {
                            changes.remove(old)?;
                        }
                        changes.insert(last_seq, entry.encode().as_slice())?;
                        entries.push(entry);
                        results.push(Ok(WriteResult {
                            id,
                            seq: Some(last_seq),
                            created: false,
                            record: None,
                        }));
                        continue;
                    }
                }
                // A document received whole that this node has never had is
                // stored as received once checked: by the caller (`checked`,
                // done off this thread so checks run in parallel), else here.
                if let WriteOp::Merge {
                    bytes,
                    origin,
                    checked,
                    ..
                } = &op
                    && !self.cache.contains(id.as_str())
                    && docs.get(id.as_str())?.is_none()
                {
                    let checked = match checked {
                        Some(c) => Ok(c.clone()),
                        None => ReceivedDoc::check(&id, bytes),
                    };
                    match checked {
                        Ok(c) => {
                            last_seq += 1;
                            let entry = ChangeEntry {
                                seq: last_seq,
                                id: id.to_string(),
                                heads: c.heads,
                                deleted: c.deleted,
                                company: origin.clone(),
                            };
                            docs.insert(id.as_str(), bytes.as_slice())?;
                            doc_seq.insert(id.as_str(), last_seq)?;
                            changes.insert(last_seq, entry.encode().as_slice())?;
                            entries.push(entry);
                            results.push(Ok(WriteResult {
                                id,
                                seq: Some(last_seq),
                                created: true,
                                record: None,
                            }));
                        }
                        Err(e) => results.push(Err(e)),
                    }
                    continue;
                }
                // A record that exists nowhere yet is written straight from
                // its patch (see `RecordDoc::create_bytes`): the bulk-import path.
                if let WriteOp::Put { patch, .. } = &op
                    && !self.cache.contains(id.as_str())
                    && docs.get(id.as_str())?.is_none()
                {
                    match RecordDoc::create_bytes(&id, patch, author, &self.actor) {
                        Ok((bytes, hash)) => {
                            last_seq += 1;
                            let entry = ChangeEntry {
                                seq: last_seq,
                                id: id.to_string(),
                                heads: vec![hash],
                                deleted: false,
                                company: company.clone(),
                            };
                            docs.insert(id.as_str(), bytes.as_slice())?;
                            doc_seq.insert(id.as_str(), last_seq)?;
                            changes.insert(last_seq, entry.encode().as_slice())?;
                            let record = if want_record {
                                RecordDoc::load(&bytes, &self.actor, &id)
                                    .ok()
                                    .and_then(|d| d.record())
                            } else {
                                None
                            };
                            entries.push(entry);
                            results.push(Ok(WriteResult {
                                id,
                                seq: Some(last_seq),
                                created: true,
                                record,
                            }));
                        }
                        Err(e) => results.push(Err(e.into())),
                    }
                    continue;
                }
                let doc = match self.cached_doc(&docs, &id)? {
                    Ok(d) => d,
                    Err(e) => {
                        results.push(Err(e));
                        continue;
                    }
                };
                let origin = match &op {
                    WriteOp::Merge { origin, .. } | WriteOp::Merged { origin, .. } => {
                        Some(origin.clone())
                    }
                    _ => None,
                };
                let outcome = match op {
                    WriteOp::Put { patch, .. } => {
                        let created = !doc.exists();
                        doc.apply(&id, patch, author)
                            .map(|h| (h, created))
                            .map_err(WriteError::from)
                    }
                    WriteOp::Delete { .. } if !doc.exists() || doc.is_deleted() => {
                        Err(WriteError::NotFound(id.to_string()))
                    }
                    WriteOp::Delete { .. } => Ok((doc.delete(author), false)),
                    WriteOp::Merge { bytes, .. } | WriteOp::Merged { bytes, .. } => {
                        match doc.merge_bytes(bytes) {
                            Ok(true) => Ok((doc.heads().first().copied(), false)),
                            Ok(false) => Ok((None, false)),
                            Err(source) => Err(WriteError::Damaged {
                                id: id.to_string(),
                                source,
                            }),
                        }
                    }
                    WriteOp::Checkpoint { .. }
                    | WriteOp::OwnCode { .. }
                    | WriteOp::Local { .. }
                    | WriteOp::Restrict { .. } => Ok((None, false)),
                };
                let (hash, created) = match outcome {
                    Ok(x) => x,
                    Err(e) => {
                        results.push(Err(e));
                        continue;
                    }
                };
                let mut seq = None;
                if hash.is_some() {
                    last_seq += 1;
                    let entry = ChangeEntry {
                        seq: last_seq,
                        id: id.to_string(),
                        heads: doc.heads(),
                        deleted: doc.is_deleted(),
                        company: origin.clone().unwrap_or_else(|| company.clone()),
                    };
                    docs.insert(id.as_str(), doc.save().as_slice())?;
                    let old = doc_seq.insert(id.as_str(), last_seq)?.map(|g| g.value());
                    if let Some(old) = old {
                        changes.remove(old)?;
                    }
                    changes.insert(last_seq, entry.encode().as_slice())?;
                    seq = Some(last_seq);
                    entries.push(entry);
                }
                results.push(Ok(WriteResult {
                    record: if want_record { doc.record() } else { None },
                    id,
                    seq,
                    created,
                }));
            }
            meta.insert(META_LAST_SEQ, last_seq.to_string().as_bytes())?;
        }
        txn.commit()?;
        Ok((results, entries))
    }

    /// Forgets the checkpoints of one peer, or of all, so replication
    /// starts again from the beginning ("forçar replicação").
    pub fn reset_checkpoints(&mut self, peer: Option<&str>) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut t = txn.open_table(CHECKPOINTS)?;
            match peer {
                Some(p) => {
                    for log in [ReplicatedLog::Records, ReplicatedLog::Stock] {
                        t.remove(log.checkpoint_key(p).as_str())?;
                    }
                }
                None => {
                    t.retain(|_, _| false)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Sets a metadata value, durably.
    pub fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(META)?.insert(key, value)?;
        txn.commit()?;
        Ok(())
    }

    /// The document `id` from the cache, else loaded from the table, else
    /// new; left in the cache.
    fn cached_doc(
        &mut self,
        docs: &redb::Table<&str, &[u8]>,
        id: &DocId,
    ) -> Result<Result<&mut RecordDoc, WriteError>, StoreError> {
        if !self.cache.contains(id.as_str()) {
            let doc = match docs.get(id.as_str())? {
                Some(bytes) => match RecordDoc::load(bytes.value(), &self.actor, id) {
                    Ok(d) => d,
                    Err(source) => {
                        return Ok(Err(WriteError::Damaged {
                            id: id.to_string(),
                            source,
                        }));
                    }
                },
                None => RecordDoc::new(&self.actor),
            };
            self.cache.put(id.to_string(), doc);
        }
        Ok(self
            .cache
            .get_mut(id.as_str())
            .ok_or_else(|| WriteError::NotFound(id.to_string())))
    }
}

/// Applies edits to a record's restricted values in the local table.
fn write_local(
    local: &mut redb::Table<&str, &[u8]>,
    id: &DocId,
    edits: &[elo_crdt::patch::Edit],
) -> Result<(), StoreError> {
    let mut values = read::local_values(local, id)?;
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
        let Ok(doc) = RecordDoc::load(v.value(), READER, &id) else {
            continue;
        };
        let Some(record) = doc.record() else {
            continue;
        };
        let edits: Vec<elo_crdt::patch::Edit> = newly
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
        let current = read::local_values(local, &id)?;
        let edits: Vec<_> = edits
            .into_iter()
            .filter(|(k, _)| !current.contains_key(k))
            .collect();
        write_local(local, &id, &edits)?;
    }
    Ok(())
}

fn open_error(path: &Path, e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
            path: path.display().to_string(),
        },
        other => StoreError::Storage(Box::new(other.into())),
    }
}

fn read_u64(
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

/// Creates the tables and records the schema version. Safe to run on every
/// open: each step checks whether it is already done.
fn migrate(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        txn.open_table(DOCS)?;
        txn.open_table(CHANGES)?;
        txn.open_table(DOC_SEQ)?;
        txn.open_table(CHECKPOINTS)?;
        txn.open_table(RESTRICTED)?;
        txn.open_table(stock::STOCK)?;
        txn.open_table(tables::OWN_CODES)?;
        txn.open_table(tables::OWN_CODE_OF)?;
        txn.open_table(stock::STOCK_LOG)?;
        let mut meta = txn.open_table(META)?;
        if read_u64(&meta, META_SCHEMA)? < SCHEMA_VERSION {
            meta.insert(META_SCHEMA, SCHEMA_VERSION.to_string().as_bytes())?;
        }
    }
    txn.commit()?;
    Ok(())
}

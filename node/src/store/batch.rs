//! One write transaction of the writer: the tables it has open, the
//! sequence numbers it hands out, and how a document's new state enters the
//! change log. Every family of writes (`write`, `merge`, `local`,
//! `checkpoint`) writes through it, so a batch stays one transaction.

use std::collections::HashMap;
use std::sync::Arc;

use elo_crdt::{ChangeHash, DocId, Kind, RecordDoc};
use redb::{ReadableTable, Table, WriteTransaction};

use super::learn::TRAIN_AT;
use super::packed::{self, Dictionary};
use super::stored::meta_u64;
use super::tables::{
    CHANGES, CHECKPOINTS, DICTS, DOC_SEQ, DOCS, META, META_LAST_SEQ, OWN_CODE_OF, OWN_CODES,
    RESTRICTED, WITHHELD,
};
use super::{ChangeEntry, Store, StoreError, WriteError};

/// The open tables of one write transaction and the change-log entries it
/// has added so far.
pub(super) struct Batch<'t> {
    pub docs: Table<'t, &'static str, &'static [u8]>,
    pub dicts: Table<'t, &'static str, &'static [u8]>,
    pub changes: Table<'t, u64, &'static [u8]>,
    pub doc_seq: Table<'t, &'static str, u64>,
    pub meta: Table<'t, &'static str, &'static [u8]>,
    pub checkpoints: Table<'t, (&'static str, &'static str), u64>,
    pub local: Table<'t, &'static str, &'static [u8]>,
    pub own_codes: Table<'t, &'static str, &'static str>,
    pub own_code_of: Table<'t, &'static str, &'static str>,
    pub withheld: Table<'t, &'static str, &'static str>,
    /// The last sequence number handed out, this batch's included.
    last_seq: u64,
    entries: Vec<ChangeEntry>,
    /// Each kind's dictionary, as this batch found it (`None`: none yet).
    packers: HashMap<Kind, Option<Arc<Dictionary>>>,
    /// Documents this batch stored unpacked, their kind having no
    /// dictionary yet, with the bytes of the first [`TRAIN_AT`] of each
    /// kind: what the store trains one on (it keeps no more samples).
    unpacked: Vec<(DocId, Option<Vec<u8>>)>,
    /// How many samples of each kind `unpacked` holds.
    samples: HashMap<Kind, usize>,
}

impl<'t> Batch<'t> {
    pub fn open(txn: &'t WriteTransaction) -> Result<Batch<'t>, StoreError> {
        let meta = txn.open_table(META)?;
        let last_seq = meta_u64(&meta, META_LAST_SEQ)?;
        Ok(Batch {
            docs: txn.open_table(DOCS)?,
            dicts: txn.open_table(DICTS)?,
            changes: txn.open_table(CHANGES)?,
            doc_seq: txn.open_table(DOC_SEQ)?,
            meta,
            checkpoints: txn.open_table(CHECKPOINTS)?,
            local: txn.open_table(RESTRICTED)?,
            own_codes: txn.open_table(OWN_CODES)?,
            own_code_of: txn.open_table(OWN_CODE_OF)?,
            withheld: txn.open_table(WITHHELD)?,
            last_seq,
            entries: Vec::new(),
            packers: HashMap::new(),
            unpacked: Vec::new(),
            samples: HashMap::new(),
        })
    }

    /// A stored document's automerge bytes (`None`: not stored here).
    pub fn stored_bytes(&self, id: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        super::stored::doc_bytes(&self.docs, &self.dicts, id.as_str())
    }

    /// The value that keeps `bytes` (automerge's) of `id`: packed with its
    /// kind's dictionary, or as they are while the kind has none.
    fn value_of(&mut self, id: &DocId, bytes: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let kind = id.kind();
        Ok(match self.dictionary(kind)? {
            Some(d) => Some(packed::pack(bytes, &d)),
            None => {
                let taken = self.samples.entry(kind).or_default();
                let sample = (*taken < TRAIN_AT).then(|| bytes.to_vec());
                *taken += usize::from(sample.is_some());
                self.unpacked.push((id.clone(), sample));
                None
            }
        })
    }

    /// The dictionary documents of `kind` are packed with in this batch
    /// (`None`: the kind has none yet).
    pub fn dictionary(&mut self, kind: Kind) -> Result<Option<Arc<Dictionary>>, StoreError> {
        if let Some(known) = self.packers.get(&kind) {
            return Ok(known.clone());
        }
        let found = packed::current(kind, &self.dicts)?;
        self.packers.insert(kind, found.clone());
        Ok(found)
    }

    /// Whether the table holds a document `id`.
    pub fn has_doc(&self, id: &DocId) -> Result<bool, StoreError> {
        Ok(self.docs.get(id.as_str())?.is_some())
    }

    /// Stores a document's new bytes and gives it the next sequence number
    /// in the change log, dropping its older entry. `company` made the
    /// change (this one, or the member it came from). Returns the number.
    pub fn log_change(
        &mut self,
        id: &DocId,
        bytes: &[u8],
        heads: Vec<ChangeHash>,
        deleted: bool,
        company: &str,
    ) -> Result<u64, StoreError> {
        self.log_stored(id, bytes, None, heads, deleted, company)
    }

    /// [`Batch::log_change`] of a document whose value was packed already
    /// (`value`, made with [`Batch::dictionary`]'s dictionary; `None`: pack
    /// it here).
    pub fn log_stored(
        &mut self,
        id: &DocId,
        bytes: &[u8],
        value: Option<Vec<u8>>,
        heads: Vec<ChangeHash>,
        deleted: bool,
        company: &str,
    ) -> Result<u64, StoreError> {
        self.last_seq += 1;
        let seq = self.last_seq;
        let entry = ChangeEntry {
            seq,
            id: id.to_string(),
            heads,
            deleted,
            company: company.to_string(),
        };
        let value = match value {
            Some(v) => Some(v),
            None => self.value_of(id, bytes)?,
        };
        match value {
            Some(value) => self.docs.insert(id.as_str(), value.as_slice())?,
            None => self.docs.insert(id.as_str(), bytes)?,
        };
        if let Some(old) = self.doc_seq.insert(id.as_str(), seq)?.map(|g| g.value()) {
            self.changes.remove(old)?;
        }
        self.changes.insert(seq, entry.encode().as_slice())?;
        self.entries.push(entry);
        Ok(seq)
    }

    /// [`Batch::log_change`] for a document edited in the writer's cache.
    pub fn log_edited(
        &mut self,
        id: &DocId,
        doc: &mut RecordDoc,
        company: &str,
    ) -> Result<u64, StoreError> {
        let heads = doc.heads();
        let deleted = doc.is_deleted();
        self.log_change(id, &doc.save(), heads, deleted, company)
    }

    /// Records the last sequence number; the caller commits next. Returns
    /// the change-log entries and the documents stored unpacked.
    pub fn finish(mut self) -> Result<Finished, StoreError> {
        self.meta
            .insert(META_LAST_SEQ, self.last_seq.to_string().as_bytes())?;
        Ok((self.entries, self.unpacked))
    }
}

/// What a batch leaves: its change-log entries, and the documents it
/// stored unpacked.
pub(super) type Finished = (Vec<ChangeEntry>, Vec<(DocId, Option<Vec<u8>>)>);

impl Store {
    /// The document `id` from the writer's cache, else loaded from the
    /// table, else new; left in the cache.
    pub(super) fn cached_doc(
        &mut self,
        batch: &Batch<'_>,
        id: &DocId,
    ) -> Result<Result<&mut RecordDoc, WriteError>, StoreError> {
        if !self.cache.contains(id.as_str()) {
            let doc = match batch.stored_bytes(id)? {
                Some(bytes) => match RecordDoc::load(&bytes, &self.actor, id) {
                    Ok(d) => d,
                    Err(source) => return Ok(Err(WriteError::damaged(id, source))),
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

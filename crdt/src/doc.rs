//! A record as an automerge document.
//!
//! Layout: every value sits directly on the document's root map under a
//! flat key (`name`, `extra.color`, `address.billing.zip_code`), never in a
//! nested map object. Two companies that create the same record offline each
//! make their own root puts, and automerge merges root keys one by one; had
//! the fields lived in a nested map, the two maps would conflict as wholes and
//! one company's fields would vanish.
//!
//! Meta keys: `_id` (document id), `_kind`, `_deleted` (the tombstone).
//!
//! Deletion is a tombstone: `_deleted = true`, fields kept. A concurrent edit
//! of other fields does not touch `_deleted`, so after a merge the record is
//! still deleted (delete wins), and the edit is not lost: a later put revives
//! the record with every field, the concurrent edit included.
//!
//! Every change carries the company as its message and a time in
//! milliseconds; `history` reads them back with the keys each change touched. Time is a parameter: no clock here.

use std::collections::BTreeMap;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ChangeHash, ROOT, ReadDoc};

use crate::error::{DocError, ValidationError};
use crate::key::DocId;
use crate::kind::Kind;
use crate::patch::RecordPatch;
pub use crate::record::Record;
use crate::schema;
use crate::structure;
use crate::value::FieldValue;

const ID: &str = "_id";
const KIND: &str = "_kind";
const DELETED: &str = "_deleted";

/// Who makes a change, and when (milliseconds since the Unix epoch).
#[derive(Clone, Copy, Debug)]
pub struct Author<'a> {
    pub company: &'a str,
    pub time_ms: i64,
}

pub use crate::history::HistoryEntry;
use crate::history::causal_order;

/// One record's automerge document.
pub struct RecordDoc {
    doc: AutoCommit,
}

impl RecordDoc {
    /// An empty document that will become `id` on its first `apply`.
    pub fn new(actor: &[u8]) -> RecordDoc {
        RecordDoc {
            doc: AutoCommit::new().with_actor(ActorId::from(actor)),
        }
    }

    /// Loads saved bytes, checking they are the document expected.
    pub fn load(bytes: &[u8], actor: &[u8], expected: &DocId) -> Result<RecordDoc, DocError> {
        let doc = AutoCommit::load(bytes)?.with_actor(ActorId::from(actor));
        let me = RecordDoc { doc };
        match me.id_text() {
            Some(found) if found != expected.as_str() => Err(DocError::WrongId {
                expected: expected.to_string(),
                found,
            }),
            _ => Ok(me),
        }
    }

    /// Whether the record was ever created (it may since be deleted).
    pub fn exists(&self) -> bool {
        self.id_text().is_some()
    }

    pub fn is_deleted(&self) -> bool {
        matches!(self.scalar(DELETED), Some(FieldValue::Bool(true)))
    }

    fn id_text(&self) -> Option<String> {
        match self.scalar(ID) {
            Some(FieldValue::Text(t)) => Some(t),
            _ => None,
        }
    }

    fn scalar(&self, key: &str) -> Option<FieldValue> {
        match self.doc.get(ROOT, key) {
            Ok(Some((automerge::Value::Scalar(s), _))) => FieldValue::from_scalar(&s),
            _ => None,
        }
    }

    /// Writes a patch. Only values that differ from the stored ones are
    /// written, so a repeated import adds no history. A record created by
    /// this patch must carry its required fields. Returns the new change's
    /// hash, or `None` when nothing changed.
    pub fn apply(
        &mut self,
        id: &DocId,
        patch: &RecordPatch,
        author: Author<'_>,
    ) -> Result<Option<ChangeHash>, ValidationError> {
        let kind = id.kind();
        let creating = !self.exists();
        // A part document holds some fields of a record: the record's
        // required fields live in its main document.
        if (creating || self.is_deleted()) && id.part_category().is_none() {
            let missing: Vec<_> = schema::required(kind)
                .iter()
                .filter(|f| patch.get(f).is_none() && (creating || self.scalar(f).is_none()))
                .map(|f| crate::error::FieldError::new(*f, "is required"))
                .collect();
            if !missing.is_empty() {
                return Err(ValidationError(missing));
            }
        }
        if kind == Kind::Product && id.part_category().is_none() {
            let stored = if creating {
                None
            } else {
                match self.scalar("structure") {
                    Some(FieldValue::Text(s)) => Some(s),
                    _ => None,
                }
            };
            structure::check(id, stored.clone(), patch)?;
            let current = |key: &str| self.scalar(key);
            if stored.as_deref() == Some("kit") {
                structure::components_kept(&current, patch)?;
            }
            structure::parent_kept(&current, patch)?;
        }
        let mut touched = Vec::new();
        let result = (|| -> Result<(), automerge::AutomergeError> {
            if creating {
                self.doc.put(ROOT, ID, id.as_str())?;
                self.doc.put(ROOT, KIND, kind.as_str())?;
            }
            if !creating && self.is_deleted() {
                self.doc.put(ROOT, DELETED, false)?;
                touched.push(DELETED.to_string());
            }
            for group in &patch.removed_groups {
                let prefix = format!("{group}.");
                let keys: Vec<String> = self
                    .doc
                    .keys(ROOT)
                    .filter(|k| k.starts_with(&prefix))
                    .collect();
                for k in keys {
                    self.doc.delete(ROOT, k.as_str())?;
                    touched.push(k);
                }
            }
            for (key, value) in &patch.edits {
                // A new document has no values yet: skip the lookups.
                let current = if creating { None } else { self.scalar(key) };
                match value {
                    Some(v) if current.as_ref() != Some(v) => {
                        self.doc.put(ROOT, key.as_str(), v.to_scalar())?;
                        touched.push(key.clone());
                    }
                    None if current.is_some() => {
                        self.doc.delete(ROOT, key.as_str())?;
                        touched.push(key.clone());
                    }
                    _ => {}
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            self.doc.rollback();
            return Err(ValidationError::one(
                "record",
                format!("could not write: {e}"),
            ));
        }
        Ok(self.commit(author, &touched))
    }

    /// The saved bytes of a brand-new record holding `patch`, built as one
    /// automerge change without going through an in-memory document.
    ///
    /// Why: inserting ops into automerge's in-memory op set costs ~4.6 µs per
    /// field (~150 µs for a 30-field customer), while encoding the same ops
    /// as a change costs a fraction of that. A change chunk is a valid saved
    /// document, so [`RecordDoc::load`] reads these bytes like any other;
    /// the result is the same document `new` + `apply` would make (a test
    /// checks that). Returns the bytes and the change's hash (the heads).
    pub fn create_bytes(
        id: &DocId,
        patch: &RecordPatch,
        author: Author<'_>,
        actor: &[u8],
    ) -> Result<(Vec<u8>, ChangeHash), ValidationError> {
        use automerge::legacy::{Key, ObjectId, Op, OpType, SortedVec};
        let missing: Vec<_> = schema::required(id.kind())
            .iter()
            .filter(|f| id.part_category().is_none() && patch.get(f).is_none())
            .map(|f| crate::error::FieldError::new(*f, "is required"))
            .collect();
        if !missing.is_empty() {
            return Err(ValidationError(missing));
        }
        if id.kind() == Kind::Product && id.part_category().is_none() {
            structure::check(id, None, patch)?;
        }
        let put = |key: &str, value: automerge::ScalarValue| Op {
            action: OpType::Put(value),
            obj: ObjectId::Root,
            key: Key::Map(key.into()),
            pred: SortedVec::new(),
            insert: false,
        };
        let mut ops = vec![
            put(ID, automerge::ScalarValue::Str(id.as_str().into())),
            put(KIND, automerge::ScalarValue::Str(id.kind().as_str().into())),
        ];
        for (key, v) in created_values(patch) {
            ops.push(put(key, v.to_scalar()));
        }
        let change = automerge::ExpandedChange {
            operations: ops,
            actor_id: ActorId::from(actor),
            hash: None,
            seq: 1,
            start_op: std::num::NonZeroU64::MIN,
            time: author.time_ms,
            message: Some(author.company.to_string()),
            deps: Vec::new(),
            extra_bytes: Vec::new(),
            author: None,
        };
        // Not `bytes()`: that DEFLATEs the change, which cost a quarter of an
        // import's time; the store compresses what it keeps with zstd.
        let change = automerge::Change::from(change);
        Ok((change.raw_bytes().to_vec(), change.hash()))
    }

    /// The record [`RecordDoc::create_bytes`] makes of `patch`, as loading
    /// those bytes would show it, without loading them: a write that
    /// answers with the record it created saves a document load.
    pub fn created_record(id: &DocId, patch: &RecordPatch) -> Record {
        let values = created_values(patch)
            .filter(|(key, _)| !key.starts_with('_'))
            .map(|(key, v)| (key.to_owned(), v.clone()))
            .collect();
        Record {
            id: id.clone(),
            deleted: false,
            values,
        }
    }

    /// Checks received bytes: a valid automerge document of a created record
    /// whose id is `expected`. Returns its heads, whether it is deleted and
    /// who made its latest change, from the one decoding of the bytes.
    ///
    /// A record created in one change (what [`create_bytes`] writes, and most
    /// records replicate as) is checked by decoding that change alone, which
    /// verifies its hash and costs a fraction of loading a document; anything
    /// else is loaded in full.
    ///
    /// [`create_bytes`]: RecordDoc::create_bytes
    pub fn check_bytes(bytes: &[u8], expected: &DocId) -> Result<CheckedDoc, DocError> {
        if let Ok(change) = automerge::Change::try_from(bytes)
            && change.deps().is_empty()
            && change.seq() == 1
        {
            let mut id = None;
            let mut deleted = false;
            for op in change.decode().operations {
                let automerge::legacy::Key::Map(key) = &op.key else {
                    continue;
                };
                match (key.as_str(), &op.action) {
                    (ID, automerge::legacy::OpType::Put(automerge::ScalarValue::Str(s))) => {
                        id = Some(s.to_string())
                    }
                    (
                        DELETED,
                        automerge::legacy::OpType::Put(automerge::ScalarValue::Boolean(b)),
                    ) => deleted = *b,
                    _ => {}
                }
            }
            return match id {
                Some(found) if found == expected.as_str() => Ok(CheckedDoc {
                    heads: vec![change.hash()],
                    deleted,
                    author: change.message().map(str::to_string),
                }),
                found => Err(DocError::WrongId {
                    expected: expected.to_string(),
                    found: found.unwrap_or_default(),
                }),
            };
        }
        let mut doc = RecordDoc::load(bytes, b"check", expected)?;
        if !doc.exists() {
            return Err(DocError::WrongId {
                expected: expected.to_string(),
                found: String::new(),
            });
        }
        Ok(CheckedDoc {
            heads: doc.heads(),
            deleted: doc.is_deleted(),
            author: doc.author_at_heads(),
        })
    }

    /// Marks the record deleted. Returns `None` when it already was.
    pub fn delete(&mut self, author: Author<'_>) -> Option<ChangeHash> {
        if !self.exists() || self.is_deleted() {
            return None;
        }
        if self.doc.put(ROOT, DELETED, true).is_err() {
            self.doc.rollback();
            return None;
        }
        self.commit(author, &[DELETED.to_string()])
    }

    fn commit(&mut self, author: Author<'_>, touched: &[String]) -> Option<ChangeHash> {
        if touched.is_empty() {
            self.doc.rollback();
            return None;
        }
        // The message is only the company: the fields a change touched are
        // read back from its operations, so they cost no extra bytes.
        self.doc.commit_with(
            CommitOptions::default()
                .with_message(author.company.to_string())
                .with_time(author.time_ms),
        )
    }

    /// The record as its current values.
    pub fn record(&self) -> Option<Record> {
        let id = DocId::parse(&self.id_text()?)?;
        let mut values = BTreeMap::new();
        for key in self.doc.keys(ROOT) {
            if key.starts_with('_') {
                continue;
            }
            if let Some(v) = self.scalar(&key) {
                values.insert(key, v);
            }
        }
        Some(Record {
            id,
            deleted: self.is_deleted(),
            values,
        })
    }

    /// Who changed which fields, in causal order: a change comes after
    /// every change it was built on, whatever the writers' clocks said, so
    /// the change that set a field's current value is listed after the
    /// values it replaced. Changes made apart (neither saw the other) come
    /// by their clock, then by company, then by hash, so every replica
    /// lists the same history in the same order.
    pub fn history(&mut self) -> Vec<HistoryEntry> {
        let changes = self.doc.get_changes(&[]);
        let entries: Vec<(HistoryEntry, Vec<ChangeHash>)> = changes
            .iter()
            .map(|change| {
                let mut fields: Vec<String> = Vec::new();
                for op in change.decode().operations {
                    if let automerge::legacy::Key::Map(key) = op.key {
                        let key = key.to_string();
                        if (!key.starts_with('_') || key == DELETED) && !fields.contains(&key) {
                            fields.push(key);
                        }
                    }
                }
                let entry = HistoryEntry {
                    company: change
                        .message()
                        .map_or_else(|| format!("actor {}", change.actor_id()), str::to_string),
                    time_ms: change.timestamp(),
                    fields,
                    hash: change.hash().to_string(),
                };
                (entry, change.deps().to_vec())
            })
            .collect();
        causal_order(entries, changes.iter().map(|c| c.hash()).collect())
    }

    /// The automerge document, for readers of it in this crate.
    pub(crate) fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// The document's bytes, not DEFLATEd: the store compresses what it
    /// keeps (zstd with a dictionary does better on small documents, at a
    /// fraction of the time), and a pull batch is compressed whole.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save_nocompress()
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The company that made the latest change of saved or received
    /// bytes (the author of a head; the first, when edits made apart left
    /// several). What the change log names, whichever member relayed it.
    pub fn latest_author(bytes: &[u8]) -> Option<String> {
        if let Ok(change) = automerge::Change::try_from(bytes) {
            return change.message().map(str::to_string);
        }
        let doc = AutoCommit::load(bytes).ok()?;
        RecordDoc { doc }.author_at_heads()
    }

    /// The company that made this replica's latest change (see
    /// [`RecordDoc::latest_author`]).
    pub fn author_at_heads(&mut self) -> Option<String> {
        let head = *self.doc.get_heads().first()?;
        self.doc
            .get_change_by_hash(&head)
            .and_then(|c| c.message().map(str::to_string))
    }

    /// Merges another replica of the same record into this one.
    pub fn merge(&mut self, other: &mut RecordDoc) -> Result<(), DocError> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// Applies automerge bytes received from another node: changes, or a
    /// whole saved document. Returns whether the heads moved.
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<bool, DocError> {
        let before = self.doc.get_heads();
        self.doc.load_incremental(bytes)?;
        Ok(self.doc.get_heads() != before)
    }

    /// The hashes of `have` this replica knows (others are ignored).
    fn known_of(&mut self, have: &[ChangeHash]) -> Vec<ChangeHash> {
        have.iter()
            .filter(|h| self.doc.get_change_meta_by_hash(h).is_some())
            .copied()
            .collect()
    }

    /// What another replica that has `have` lacks of this document: the
    /// changes beyond it (hashes unknown here are ignored), or the whole
    /// saved document when none of `have` is known here.
    pub fn missing_for(&mut self, have: &[ChangeHash]) -> DocPayload {
        let known = self.known_of(have);
        if known.is_empty() {
            return DocPayload::Whole(self.doc.save_nocompress());
        }
        DocPayload::Changes(
            self.doc
                .get_changes(&known)
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect(),
        )
    }

    /// The companies that created the record: the authors of its changes
    /// that depend on nothing. Usually one; two when two companies created
    /// the same record apart. A record's origin never changes, which is why
    /// the authorisation of a receiver is checked on it (whole records, with
    /// every edit anyone made) and not change by change: a causal history
    /// cannot lose a change and keep what was built on it.
    pub fn origins(&mut self) -> Vec<String> {
        let mut out: Vec<String> = self
            .doc
            .get_changes(&[])
            .into_iter()
            .filter(|c| c.deps().is_empty())
            .filter_map(|c| c.message().map(str::to_string))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The creators named in a payload: every author of a change in it that
    /// depends on nothing (none when the payload only continues a record the
    /// receiver already holds).
    pub fn origins_in(payload: &DocPayload) -> Result<Vec<String>, DocError> {
        let mut out = Vec::new();
        match payload {
            DocPayload::Whole(bytes) => {
                let mut doc = AutoCommit::load(bytes)?;
                for c in doc.get_changes(&[]) {
                    if c.deps().is_empty() {
                        out.extend(c.message().map(str::to_string));
                    }
                }
            }
            DocPayload::Changes(changes) => {
                for bytes in changes {
                    let c = automerge::Change::try_from(bytes.as_slice())
                        .map_err(|e| DocError::BadChange(e.to_string()))?;
                    if c.deps().is_empty() {
                        out.extend(c.message().map(str::to_string));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// A document this replica has never had, built from changes. Checks it is a created
    /// record with the expected id; returns its saved bytes.
    pub fn from_changes(
        changes: &[Vec<u8>],
        actor: &[u8],
        expected: &DocId,
    ) -> Result<RecordDoc, DocError> {
        let mut doc = RecordDoc::new(actor);
        for c in changes {
            doc.merge_bytes(c)?;
        }
        let bytes = doc.save();
        let doc = RecordDoc::load(&bytes, actor, expected)?;
        if !doc.exists() {
            return Err(DocError::WrongId {
                expected: expected.to_string(),
                found: "a document without a record".into(),
            });
        }
        Ok(doc)
    }

    /// Stored bytes extended by received changes without loading anything,
    /// when the changes simply continue this replica's history: a chain
    /// whose first change depends on exactly `base` (the stored heads) and
    /// each next on the one before, none touching `_id` or `_kind`. Returns
    /// the new bytes (a saved document followed by change chunks, which
    /// [`RecordDoc::load`] reads as one), heads and deleted flag; `None`
    /// when the shortcut does not apply and a full merge is needed.
    ///
    /// Why: loading, merging and saving a document costs ~85 µs; a branch
    /// catching up on 10,000 edited records pays that 10,000 times.
    pub fn append_changes(
        stored: &[u8],
        base: &[ChangeHash],
        deleted: bool,
        changes: &[Vec<u8>],
    ) -> Option<(Vec<u8>, Vec<ChangeHash>, bool)> {
        let mut heads: Vec<ChangeHash> = base.to_vec();
        let mut deleted = deleted;
        let mut out =
            Vec::with_capacity(stored.len() + changes.iter().map(Vec::len).sum::<usize>());
        out.extend_from_slice(stored);
        for bytes in changes {
            let change = automerge::Change::try_from(bytes.as_slice()).ok()?;
            let mut deps = change.deps().to_vec();
            deps.sort();
            heads.sort();
            if deps != heads {
                return None;
            }
            for op in change.decode().operations {
                let automerge::legacy::Key::Map(key) = &op.key else {
                    return None;
                };
                match (key.as_str(), &op.action) {
                    (ID | KIND, _) => return None,
                    (
                        DELETED,
                        automerge::legacy::OpType::Put(automerge::ScalarValue::Boolean(b)),
                    ) => deleted = *b,
                    (DELETED, _) => return None,
                    _ => {}
                }
            }
            heads = vec![change.hash()];
            out.extend_from_slice(bytes);
        }
        Some((out, heads, deleted))
    }
}

/// What [`RecordDoc::check_bytes`] found in received bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedDoc {
    pub heads: Vec<ChangeHash>,
    pub deleted: bool,
    /// The company that made the latest change (see [`RecordDoc::latest_author`]).
    pub author: Option<String>,
}

/// What one replica sends another of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocPayload {
    /// The whole saved document.
    Whole(Vec<u8>),
    /// Changes, in causal order.
    Changes(Vec<Vec<u8>>),
}

/// The values a new record gets from `patch`: later edits of a key win,
/// as they would in `apply`.
fn created_values(patch: &RecordPatch) -> impl Iterator<Item = (&str, &FieldValue)> {
    let mut seen = std::collections::HashSet::new();
    patch
        .edits
        .iter()
        .rev()
        .filter_map(move |(key, value)| match value {
            Some(v) if seen.insert(key.as_str()) => Some((key.as_str(), v)),
            _ => None,
        })
}

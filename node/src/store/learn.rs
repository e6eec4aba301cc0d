//! The store learning a dictionary for each kind of record (see
//! [`super::packed`]). Until a kind has one, its documents are stored as
//! automerge saves them, and the writer keeps a copy of the first of them;
//! once it holds [`TRAIN_AT`], it trains a dictionary on them and, in one
//! transaction, stores the dictionary, names it the kind's, and packs
//! every document it stored unpacked this run. Packed values never name a
//! dictionary that is not stored: both commit together, or neither.

use std::collections::HashMap;

use elo_crdt::{DocId, Kind};
use redb::ReadableTable;

use super::packed::{self, Dictionary, PACKED};
use super::tables::{DICTS, DOCS};
use super::{Store, StoreError};

/// Documents of a kind the store trains its dictionary on: enough for
/// zstd to find what repeats across records, few enough to keep in memory
/// (~1.5 MB of customers) until it does.
pub(crate) const TRAIN_AT: usize = 1_000;

/// What the writer keeps of a kind without a dictionary.
#[derive(Default)]
pub(crate) struct Learning {
    /// The first [`TRAIN_AT`] documents' bytes.
    samples: Vec<Vec<u8>>,
    /// Every document of the kind stored unpacked this run (packed once
    /// the dictionary exists).
    unpacked: Vec<DocId>,
}

/// Kinds still learning, for the writer.
pub(crate) type Lessons = HashMap<Kind, Learning>;

impl Store {
    /// Takes note of documents a committed batch stored unpacked, and
    /// trains the dictionary of each kind that now has enough of them. A
    /// failure costs only space: the documents stay readable as they are.
    pub(super) fn learn(&mut self, unpacked: Vec<(DocId, Option<Vec<u8>>)>) {
        let mut ready = Vec::new();
        for (id, sample) in unpacked {
            let kind = id.kind();
            let learning = self.lessons.entry(kind).or_default();
            if let Some(bytes) = sample
                && learning.samples.len() < TRAIN_AT
            {
                learning.samples.push(bytes);
            }
            learning.unpacked.push(id);
            if learning.samples.len() >= TRAIN_AT && !ready.contains(&kind) {
                ready.push(kind);
            }
        }
        for kind in ready {
            let Some(learning) = self.lessons.remove(&kind) else {
                continue;
            };
            match self.train(kind, &learning) {
                Ok(Some(packed)) => {
                    tracing::info!(%kind, packed, "the store packs {kind} records with a dictionary of its own from now on")
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    %kind,
                    "the store could not keep a dictionary for {kind} records ({e}); they stay unpacked, which takes more disk and nothing else; it tries again after {TRAIN_AT} more"
                ),
            }
        }
    }

    /// Trains the dictionary of `kind`, stores it and packs the documents
    /// stored unpacked; returns how many were packed (`None`: zstd found
    /// nothing to learn).
    fn train(&mut self, kind: Kind, learning: &Learning) -> Result<Option<usize>, StoreError> {
        let Some(trained) = packed::train(&learning.samples) else {
            return Ok(None);
        };
        let Some(dict) = Dictionary::prepare(&trained) else {
            return Ok(None);
        };
        let txn = self.db.begin_write()?;
        let mut packed_now = 0;
        {
            let mut dicts = txn.open_table(DICTS)?;
            let mut docs = txn.open_table(DOCS)?;
            dicts.insert(
                packed::dict_key(&dict.fingerprint).as_str(),
                packed::stored_dictionary(&trained).as_slice(),
            )?;
            dicts.insert(packed::kind_key(kind).as_str(), dict.fingerprint.as_slice())?;
            for id in &learning.unpacked {
                let Some(value) = docs.get(id.as_str())?.map(|v| v.value().to_vec()) else {
                    continue;
                };
                if value.first() == Some(&PACKED) {
                    continue;
                }
                docs.insert(id.as_str(), packed::pack(&value, &dict).as_slice())?;
                packed_now += 1;
            }
        }
        txn.commit()?;
        Ok(Some(packed_now))
    }
}

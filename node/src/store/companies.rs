//! The group's company records, kept decoded between reads.
//!
//! Every record write reads this company's own record (what it sends and
//! receives) at least twice, and a company record carries the group's
//! whole sharing history: loading it was a fifth of a single write's CPU
//! (measured with `perf` on 300 writes 10 ms apart). A company record
//! changes rarely, so a read checks the change-log sequence number of its
//! documents (one B-tree lookup each) against the copy kept here and
//! decodes it again only when one moved.
//!
//! Why sequence numbers rather than telling the cache from the writer:
//! they are read in the same read transaction as the documents, so a copy
//! can never be newer or older than what that transaction sees, with no
//! ordering between the writer and readers to get right. They suffice
//! because every change to a document takes a new number (`log_change`)
//! and no document is ever taken out of the table. The copy also
//! names the database it came from, so a store opened again (after a disk
//! error, a restore) never serves a copy of the file it replaced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use elo_crdt::{DocId, Kind, Record};
use redb::{Database, ReadableDatabase, ReadableTable};

use super::StoreError;
use super::tables::DOC_SEQ;

/// A company record as last decoded, and what it was decoded from.
struct Copy {
    db: Weak<Database>,
    seqs: Vec<Option<u64>>,
    record: Option<Record>,
}

/// Company records by id (a group has tens of companies, so this stays
/// small).
#[derive(Clone, Default)]
pub(crate) struct CompanyRecords {
    copies: Arc<Mutex<HashMap<String, Copy>>>,
}

impl CompanyRecords {
    /// The company record `id` as [`super::read::record`] gives it, from
    /// the copy kept here when none of its documents changed since.
    pub(crate) fn record(
        &self,
        db: &Arc<Database>,
        id: &DocId,
    ) -> Result<Option<Record>, StoreError> {
        let id = id.record();
        // One read transaction for the numbers and the documents, so a
        // copy kept is exactly what its numbers name.
        let txn = db.begin_read()?;
        let seqs = seqs_in(&txn.open_table(DOC_SEQ)?, &id)?;
        let this_db = Arc::downgrade(db);
        if let Ok(copies) = self.copies.lock()
            && let Some(copy) = copies.get(id.as_str())
            && Weak::ptr_eq(&copy.db, &this_db)
            && copy.seqs == seqs
        {
            return Ok(copy.record.clone());
        }
        let record = super::read::record_in(&txn, &id)?;
        if id.kind() == Kind::Company
            && let Ok(mut copies) = self.copies.lock()
        {
            copies.insert(
                id.to_string(),
                Copy {
                    db: this_db,
                    seqs,
                    record: record.clone(),
                },
            );
        }
        Ok(record)
    }
}

/// The sequence numbers of the record's main document and each part.
fn seqs_in(
    doc_seq: &impl ReadableTable<&'static str, u64>,
    id: &DocId,
) -> Result<Vec<Option<u64>>, StoreError> {
    let mut seqs = vec![doc_seq.get(id.as_str())?.map(|g| g.value())];
    for part in super::read::part_ids(id) {
        seqs.push(doc_seq.get(part.as_str())?.map(|g| g.value()));
    }
    Ok(seqs)
}

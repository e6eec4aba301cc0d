//! New documents of a big batch made on every core before the batch is
//! applied. A bulk import is mostly records that exist nowhere yet: each
//! one's automerge bytes come from its patch alone and are then packed with
//! its kind's dictionary, a third of the writer's time measured with
//! `perf`. None of it needs the transaction, so it runs beside the writer
//! thread, which then only stores the values, in the batch's order.

use std::collections::HashSet;
use std::sync::Arc;

use elo_crdt::{Author, ChangeHash, DocId, RecordPatch, ValidationError};

use super::batch::Batch;
use super::packed::{self, Dictionary};
use super::{Store, StoreError, WriteOp};

/// A new document made ahead: automerge's bytes, the hash of its one change,
/// and the value the store keeps (`None`: its kind has no dictionary yet,
/// the bytes are kept as they are).
pub(super) struct Created {
    pub bytes: Vec<u8>,
    pub hash: ChangeHash,
    pub value: Option<Vec<u8>>,
}

impl Created {
    /// A new document from its patch, packed with `dictionary` if given
    /// (else the batch packs it when it stores it).
    pub fn make(
        id: &DocId,
        patch: &RecordPatch,
        author: Author<'_>,
        actor: &[u8],
        dictionary: Option<&Dictionary>,
    ) -> Result<Created, ValidationError> {
        let (bytes, hash) = elo_crdt::RecordDoc::create_bytes(id, patch, author, actor)?;
        Ok(Created {
            value: dictionary.map(|d| packed::pack(&bytes, d)),
            bytes,
            hash,
        })
    }
}

/// What was made ahead for each write of a batch, by its index (`None`, or
/// no entry: it is applied as it comes).
pub(super) type MadeAhead = Vec<Option<Result<Created, ValidationError>>>;

/// Batches smaller than this are applied as they come: a single write from
/// an ERP gains nothing from another thread.
const AHEAD_FROM: usize = 64;
/// Threads that make documents at once, the writer's own included.
const MOST_THREADS: usize = 4;

/// Threads that make a batch's documents: asked of the system once, since
/// the answer reads the cgroup's files (a dozen system calls, which every
/// single write from an ERP paid before its commit).
fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MOST_THREADS)
    })
}

impl Store {
    /// The new documents of `ops` made ahead, when the batch is big enough.
    /// A put is made ahead only when its document is in neither the cache
    /// nor the table, and no earlier write of this batch names it: then
    /// nothing the batch does before it can make it exist, and the put
    /// stores it exactly as it would have made it in place.
    pub(super) fn make_ahead(
        &self,
        batch: &mut Batch<'_>,
        ops: &[(usize, WriteOp)],
        author: Author<'_>,
    ) -> Result<MadeAhead, StoreError> {
        if ops.len() < AHEAD_FROM {
            return Ok(Vec::new());
        }
        let threads = threads();
        if threads < 2 {
            return Ok(Vec::new());
        }
        let mut named: HashSet<&str> = HashSet::with_capacity(ops.len());
        let mut jobs: Vec<Job<'_>> = Vec::new();
        for (index, (_, op)) in ops.iter().enumerate() {
            let Some(id) = document_of(op) else {
                continue;
            };
            if !named.insert(id.as_str()) {
                continue;
            }
            if let WriteOp::Put { id, patch, .. } = op
                && !self.cache.contains(id.as_str())
                && !batch.has_doc(id)?
            {
                let dictionary = batch.dictionary(id.kind())?;
                jobs.push(Job {
                    index,
                    id,
                    patch,
                    dictionary,
                });
            }
        }
        if jobs.len() < AHEAD_FROM {
            return Ok(Vec::new());
        }
        let actor = self.actor.as_slice();
        let share = jobs.len().div_ceil(threads);
        let results: Vec<(usize, Result<Created, ValidationError>)> = std::thread::scope(|s| {
            let mut shares = jobs.chunks(share);
            let own = shares.next().unwrap_or_default();
            let others: Vec<_> = shares
                .map(|part| s.spawn(move || make_all(part, author, actor)))
                .collect();
            let mut all = make_all(own, author, actor);
            for other in others {
                // A thread that panicked leaves its documents to be made in
                // place, where the same input fails the same way.
                if let Ok(theirs) = other.join() {
                    all.extend(theirs);
                }
            }
            all
        });
        let mut made: MadeAhead = (0..ops.len()).map(|_| None).collect();
        for (index, result) in results {
            if let Some(slot) = made.get_mut(index) {
                *slot = Some(result);
            }
        }
        Ok(made)
    }
}

/// One document to make ahead.
struct Job<'o> {
    index: usize,
    id: &'o DocId,
    patch: &'o RecordPatch,
    dictionary: Option<Arc<Dictionary>>,
}

fn make_all(
    jobs: &[Job<'_>],
    author: Author<'_>,
    actor: &[u8],
) -> Vec<(usize, Result<Created, ValidationError>)> {
    jobs.iter()
        .map(|job| {
            let made = Created::make(job.id, job.patch, author, actor, job.dictionary.as_deref());
            (job.index, made)
        })
        .collect()
}

/// The document a write stores or reads, if it names one.
fn document_of(op: &WriteOp) -> Option<&DocId> {
    match op {
        WriteOp::Put { id, .. }
        | WriteOp::Delete { id }
        | WriteOp::Merge { id, .. }
        | WriteOp::Merged { id, .. } => Some(id),
        _ => None,
    }
}

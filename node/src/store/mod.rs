//! The node's storage, and the only module of the crate that opens redb:
//! one file holding record documents, the local change log, the stock
//! registers and their log, per-member checkpoints, this company's local
//! values and codes, and metadata. Nothing outside `store` names a table;
//! metadata keys are the constants of [`tables`].
//!
//! # Layout
//! - [`tables`]: every table and every metadata key, with its layout.
//! - [`migrate`]: bringing an older file to this layout (schema version).
//! - [`writer`]: the writer thread, group commit, and [`StoreHandle`].
//! - [`op`]: what a write asks ([`WriteOp`]) and what it did ([`WriteResult`]).
//! - [`write`]: applying a batch: a put split into its documents, each
//!   write to the function of its family; [`batch`]: the one transaction
//!   they all write through.
//! - [`merge`]: the one place a received document is merged.
//! - [`checkpoint`]: how far each member's replicated logs are stored here.
//! - [`local`]: what never leaves this company: restricted fields, own codes.
//! - [`read`]: reads, on any thread. [`stock`]: the stock registers.
//!   [`backup`]: copying the file whole. [`salvage`]: the records that can
//!   be read of a file redb cannot open. `reopen.rs`: the store after a
//!   disk error. `stored`, `entry`: loading what was
//!   stored, and the change log's encoding. `packed`: how a document is
//!   kept (zstd with a dictionary of its kind), `learn`: training those.
//!
//! The modules form no cycle: `writer` → `write` → `merge`, `local`,
//! `checkpoint` → `batch` → `stored` → `tables`; `read` → `local`. None of
//! them knows the network, the API or the sharing policy: callers decide
//! what may be stored, the store stores it.
//!
//! # Durability contract
//! Writes go through one writer (see [`writer`]), which applies every write
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
mod batch;
mod checkpoint;
mod companies;
mod create;
mod entry;
mod error;
mod learn;
pub(crate) mod local;
mod merge;
mod migrate;
mod op;
mod packed;
pub mod read;
mod reopen;
pub mod salvage;
pub mod stock;
mod stored;
pub mod tables;
mod write;
pub mod writer;

#[cfg(test)]
mod packed_tests;
#[cfg(test)]
mod tests;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use elo_crdt::RecordDoc;
use lru::LruCache;
use redb::{Database, Durability};

pub use checkpoint::ReplicatedLog;
pub use entry::ChangeEntry;
pub use error::{StoreError, WriteError};
pub use op::{BatchOutcome, ReceivedDoc, WriteOp, WriteResult};
pub use writer::StoreHandle;

/// Documents the writer keeps loaded. Small on purpose: a loaded and edited
/// 30-field document was measured holding ~0.5 MiB of allocator memory
/// (256 of them took a node to 230 MiB RSS; 32 keep it near 20 MiB), while
/// loading one again costs only ~30 µs.
pub const CACHE_DOCS: usize = 32;
/// redb's page cache. Its default (1 GiB) would let a big import grow the
/// node's memory far past what the records need.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// The storage core: the redb file and the writer's document cache. Only the
/// writer thread owns one; readers use [`read`] functions on the database.
pub struct Store {
    db: Arc<Database>,
    cache: LruCache<String, RecordDoc>,
    actor: Vec<u8>,
    company: String,
    /// The product fields this company keeps to itself.
    restricted: Vec<String>,
    /// The store file (for backups).
    path: PathBuf,
    /// Kinds without a dictionary yet, and what the writer keeps to train one.
    lessons: learn::Lessons,
}

impl Store {
    /// Opens (creating if needed) the store file and migrates it.
    pub fn open(path: &Path, actor: Vec<u8>, company: String) -> Result<Store, StoreError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| open_error(path, e))?;
        migrate::migrate(&db)?;
        let restricted = local::restricted_fields(&db)?;
        Ok(Store {
            db: Arc::new(db),
            cache: LruCache::new(NonZeroUsize::new(CACHE_DOCS).unwrap_or(NonZeroUsize::MIN)),
            actor,
            company,
            restricted,
            path: path.to_path_buf(),
            lessons: Default::default(),
        })
    }

    /// Compacts a store file that no process has open when that gives
    /// disk space back: when the file holds more on disk than its live
    /// pages by over a quarter (and at least [`WASTE_WORTH_COMPACTING`]),
    /// as after many records were rewritten or deleted. (redb gives the
    /// space back when the compacted database is closed; a database
    /// compacted and then kept open and written to was measured growing
    /// instead.) Returns whether it compacted.
    ///
    /// After a bulk load into a new store it does nothing: redb doubles a
    /// file's length as it grows but never writes the tail, so the file is
    /// long but no larger on disk than its pages (measured at 100,000
    /// records: 218 MB listed, 163 MB on disk, 163 MB of live pages, the
    /// same 163 MB on disk once compacted, at 1.8 s). Counting the live
    /// pages reads the trees, about 0.1 s at that size.
    pub fn compact_file_if_wasteful(path: &Path) -> Result<bool, StoreError> {
        let mut db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .open(path)
            .map_err(|e| open_error(path, e))?;
        let live = {
            let txn = db.begin_write()?;
            let stats = txn.stats()?;
            txn.abort()?;
            stats.allocated_pages() * stats.page_size() as u64
        };
        let on_disk = bytes_on_disk(path)?;
        let waste = on_disk.saturating_sub(live);
        if waste < WASTE_WORTH_COMPACTING.max(live / 4) {
            return Ok(false);
        }
        let done = db.compact()?;
        drop(db);
        Ok(done)
    }

    /// Sets the company that authors this store's changes.
    pub fn with_company(mut self, company: String) -> Store {
        self.company = company;
        self
    }

    pub fn database(&self) -> Arc<Database> {
        self.db.clone()
    }

    /// Sets a metadata value, durably.
    pub fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(tables::META)?.insert(key, value)?;
        txn.commit()?;
        Ok(())
    }
}

/// Disk space a file may waste before closing it compacts it.
pub const WASTE_WORTH_COMPACTING: u64 = 16 << 20;

/// The bytes a file takes on disk (a sparse tail takes none).
fn bytes_on_disk(path: &Path) -> Result<u64, StoreError> {
    let meta = std::fs::metadata(path).map_err(|e| StoreError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(meta.blocks() * 512)
    }
    #[cfg(not(unix))]
    {
        Ok(meta.len())
    }
}

fn open_error(path: &Path, e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
            path: path.display().to_string(),
        },
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason)) => {
            let dir = path.parent().unwrap_or_else(|| Path::new("."));
            let found = backup::newest_first(&dir.join(backup::BACKUP_DIR));
            let backups = match found.first() {
                Some(newest) => format!(
                    "; the newest backup here is {} ({} in all)",
                    newest.display(),
                    found.len()
                ),
                None => format!(
                    "; there is none in {}",
                    dir.join(backup::BACKUP_DIR).display()
                ),
            };
            StoreError::Corrupted {
                path: path.display().to_string(),
                dir: dir.display().to_string(),
                reason,
                backups,
            }
        }
        other => StoreError::Storage(Box::new(other.into())),
    }
}

//! What can go wrong in the store: a whole transaction ([`StoreError`]) or
//! one write of a batch ([`WriteError`]).

use elo_crdt::{DocError, ValidationError};

/// Why the store could not do what was asked. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("the data store {path} is in use by another elo process (is `elo node` running?)")]
    InUse { path: String },
    #[error(
        "the data store {path} is damaged and cannot be opened ({reason}); nothing was changed. To get this company back:\n  - from a backup, with the node stopped: elo restore BACKUP --data {dir} (the damaged store is kept beside it){backups}\n  - without one: elo salvage --out FILE --data {dir} writes every record that can still be read; then move {dir} aside, join the group again with a new invite (`elo invite` at a member, `elo join INVITE --company CNPJ --name NAME` here) and the members send the group's data again"
    )]
    Corrupted {
        path: String,
        dir: String,
        reason: String,
        /// The backups found in the data directory, newest first, as a
        /// sentence (empty when none).
        backups: String,
    },
    /// Boxed: redb's error is large and this one travels on every read path.
    #[error("storage error: {0}")]
    Storage(Box<redb::Error>),
    #[error("stored document {id} is damaged: {source}")]
    Damaged { id: String, source: DocError },
    /// A packed value (see `packed`) that cannot be unpacked.
    #[error(
        "stored document {id} cannot be read: {why} (restore a backup with `elo restore`, or `elo salvage`, to mend this store)"
    )]
    Unpack { id: String, why: String },
    /// The file was migrated by a newer elo: this build could misread it.
    #[error(
        "the data store was written by a newer elo (store schema {found}); this elo reads store schemas up to {known}: run the newer elo, or restore a backup made with this one"
    )]
    NewerSchema { found: u64, known: u64 },
    #[error("the write was not stored: {0}")]
    Failed(String),
    /// A file the store reads or writes whole (a backup, a copy).
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("the store has shut down")]
    Closed,
    /// The store is closed after a disk error and could not be opened again yet.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0} exists already: a backup never replaces a file")]
    BackupExists(String),
    #[error("{0}")]
    BadBackupName(String),
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
    /// The store is closed after a disk error (see `elo status`).
    #[error("{0}")]
    Unavailable(String),
}

impl WriteError {
    /// A received or stored document of `id` that does not load.
    pub(crate) fn damaged(id: &elo_crdt::DocId, source: DocError) -> WriteError {
        WriteError::Damaged {
            id: id.to_string(),
            source,
        }
    }
}

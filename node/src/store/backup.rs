//! Backing up and restoring a company's store ("elo backup", "elo
//! restore"), whole: records, change log, checkpoints, restricted values,
//! stock, ranges and counters.
//!
//! The backup is a copy of the store file taken by the writer thread
//! between two transactions: every commit is fsynced, and no write is in
//! progress while the writer copies, so the copy is a committed state. It
//! is written to a temporary name and renamed, so a half-written backup is
//! never mistaken for a whole one.

use std::path::{Path, PathBuf};

use super::{Store, StoreError};

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Failed(format!("{}: {e}", path.display()))
}

/// `FILE.partial`, where a copy is written before it gets its name.
fn partial(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Copies `from` to `to` durably, through a temporary name.
pub fn copy_file(from: &Path, to: &Path) -> Result<u64, StoreError> {
    let tmp = partial(to);
    let bytes = std::fs::copy(from, &tmp).map_err(|e| io(from, e))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, to).map_err(|e| io(to, e))?;
    Ok(bytes)
}

impl Store {
    /// Writes a copy of the store to `target`; returns its size.
    pub fn backup_to(&self, target: &Path) -> Result<u64, StoreError> {
        copy_file(&self.path, target)
    }
}

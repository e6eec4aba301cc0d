//! Backing up and restoring a company's store ("elo backup", "elo
//! restore"), whole: records, change log, checkpoints, restricted values,
//! stock, ranges and counters.
//!
//! The backup is a copy of the store file taken by the writer thread
//! between two transactions: every commit is fsynced, and no write is in
//! progress while the writer copies, so the copy is a committed state. It
//! is written to a temporary name and then given its name, so a
//! half-written backup is never mistaken for a whole one.
//!
//! A backup holds the group secret and every record: it is created
//! readable by this user only (0600). A backup the node writes on request
//! goes to the `backups/` folder beside the store, under a plain name, and
//! never replaces a file: no path from outside reaches anywhere else, the
//! live store included.

use std::path::{Path, PathBuf};

use super::{Store, StoreError};

/// The folder, beside the store file, where the node writes backups.
pub const BACKUP_DIR: &str = "backups";
/// Longest backup name.
const MAX_NAME: usize = 100;

/// Why a backup name is refused, in words for the person who gave it.
pub fn check_name(name: &str) -> Result<(), String> {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("a backup name has 1 to {MAX_NAME} characters"));
    }
    if !plain || name.starts_with('.') {
        return Err(format!(
            "{name:?} is not a plain file name: use letters, digits, '.', '-' and '_' (not first '.'); the backup goes to the data directory's {BACKUP_DIR}/ folder"
        ));
    }
    Ok(())
}

/// The files in a backups folder, newest first (none if it is not there).
pub(crate) fn newest_first(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Creates `dir` readable by this user only, if it is not there.
fn private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| io(dir, e))
}

/// Opens a new file readable by this user only; an existing one is an error.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// `FILE.partial`, where a copy is written before it gets its name.
fn partial(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Copies `from` to `to` durably, through a temporary name; the copy is
/// readable by this user only, and `to` must not exist (nothing is
/// replaced).
pub fn copy_file(from: &Path, to: &Path) -> Result<u64, StoreError> {
    let folder = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(StoreError::File {
            path: to.display().to_string(),
            reason: format!(
                "the folder {} does not exist: create it first, or choose another place",
                folder.display()
            ),
        });
    }
    let tmp = partial(to);
    // A partial copy left by a crash is ours to replace; anything at `to`
    // is not.
    let _ = std::fs::remove_file(&tmp);
    let mut source = std::fs::File::open(from).map_err(|e| io(from, e))?;
    // The copy's errors name the file asked for, not its temporary name.
    let bytes = (|| {
        let mut copy = create_private(&tmp)?;
        let bytes = std::io::copy(&mut source, &mut copy)?;
        copy.sync_all()?;
        Ok(bytes)
    })()
    .map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(to, e)
    })?;
    // A hard link fails if `to` exists, where a rename would replace it.
    let linked = std::fs::hard_link(&tmp, to);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(StoreError::BackupExists(to.display().to_string()))
        }
        Err(e) => Err(io(to, e)),
    }
}

impl Store {
    /// Writes a copy of the store as `backups/NAME` beside it; returns the
    /// file and its size.
    pub fn backup_named(&self, name: &str) -> Result<(PathBuf, u64), StoreError> {
        check_name(name).map_err(StoreError::BadBackupName)?;
        let dir = self
            .path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(BACKUP_DIR);
        private_dir(&dir)?;
        let target = dir.join(name);
        let bytes = copy_file(&self.path, &target)?;
        Ok((target, bytes))
    }
}

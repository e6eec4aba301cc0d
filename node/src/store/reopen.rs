//! The store after a disk error. Once a write fails on I/O (a full disk, a
//! disk that went away), redb refuses every later transaction ("Previous
//! I/O error occurred") until the database is closed and opened again. So
//! the writer reopens it at once, and again at the next request while that
//! fails; meanwhile [`Health`] says what happened, for `elo status`, and
//! every refusal says it too. Readers take the database from a [`DbSlot`]
//! the writer can empty and fill again.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redb::Database;

use super::{Store, StoreError};

/// The database readers use; the writer swaps it when it reopens the file.
/// `None` while the file could not be opened again.
pub(crate) type DbSlot = Arc<RwLock<Option<Arc<Database>>>>;

/// How long a reopen waits for reads in progress to let go of the file.
const READERS_WAIT: Duration = Duration::from_secs(10);
/// Least time between two tries to reopen a store that would not open.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// What is wrong with the store now, if anything, in words.
#[derive(Clone, Default)]
pub(crate) struct Health(Arc<Mutex<Option<String>>>);

impl Health {
    pub(crate) fn problem(&self) -> Option<String> {
        self.0.lock().ok().and_then(|p| p.clone())
    }

    fn set(&self, problem: Option<String>) {
        if let Ok(mut p) = self.0.lock() {
            *p = problem;
        }
    }
}

/// The database readers should use now.
pub(crate) fn current(slot: &DbSlot, health: &Health) -> Result<Arc<Database>, StoreError> {
    let db = slot.read().ok().and_then(|db| db.clone());
    db.ok_or_else(|| StoreError::Unavailable(health.problem().unwrap_or_default()))
}

/// Whether `e` is the disk's: after it redb takes no write until reopened.
fn is_io(e: &StoreError) -> bool {
    matches!(e, StoreError::Storage(inner)
        if matches!(**inner, redb::Error::Io(_) | redb::Error::PreviousIo))
}

/// The writer's store, reopened after a disk error.
pub(crate) struct Reopening {
    store: Option<Store>,
    /// What opens it again (the store's own fields, kept when it is closed).
    path: std::path::PathBuf,
    actor: Vec<u8>,
    company: String,
    slot: DbSlot,
    health: Health,
    last_try: Option<Instant>,
}

impl Reopening {
    pub(crate) fn new(store: Store, slot: DbSlot, health: Health) -> Reopening {
        Reopening {
            path: store.path.clone(),
            actor: store.actor.clone(),
            company: store.company.clone(),
            store: Some(store),
            slot,
            health,
            last_try: None,
        }
    }

    /// What is wrong now, if anything.
    pub(crate) fn problem(&self) -> Option<String> {
        self.health.problem()
    }

    /// The store, reopening it first if a disk error closed it; the error
    /// says why it cannot be had.
    pub(crate) fn store(&mut self) -> Result<&mut Store, StoreError> {
        let due = self.last_try.is_none_or(|t| t.elapsed() >= RETRY_EVERY);
        if self.store.is_none() && due {
            self.reopen();
        }
        let problem = self.health.problem().unwrap_or_default();
        self.store.as_mut().ok_or(StoreError::Unavailable(problem))
    }

    /// A request's outcome as its caller hears it: a disk error reopens
    /// the store and is told as what happened (with whether the store was
    /// opened again); a success after one clears the problem.
    pub(crate) fn told<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let disk = matches!(&result, Err(e) if is_io(e));
        self.after(&result);
        match (result, self.problem()) {
            (Err(_), Some(problem)) if disk => Err(StoreError::Failed(problem)),
            (result, _) => result,
        }
    }

    fn after<T>(&mut self, result: &Result<T, StoreError>) {
        match result {
            Err(e) if is_io(e) => {
                tracing::error!("the store failed on the disk: {e}; reopening it");
                self.health.set(Some(format!(
                    "the disk refused a write ({e}): is it full? Free space on it: the store was opened again, and writes work once there is room"
                )));
                self.reopen();
            }
            Ok(_) if self.health.problem().is_some() => {
                tracing::info!("the store writes again after the disk error");
                self.health.set(None);
            }
            _ => {}
        }
    }

    /// Gives the store up to its last reader, then opens the file again.
    /// While it does not open, the store stays closed and [`Health`] says
    /// why; [`Reopening::store`] tries again.
    fn reopen(&mut self) {
        self.last_try = Some(Instant::now());
        drop(self.store.take());
        let Ok(mut slot) = self.slot.write() else {
            return;
        };
        if let Some(mut db) = slot.take() {
            let started = Instant::now();
            loop {
                match Arc::try_unwrap(db) {
                    Ok(db) => break drop(db),
                    Err(still) if started.elapsed() > READERS_WAIT => {
                        *slot = Some(still);
                        self.health.set(Some(
                            "the store needs a restart after a disk error (reads in progress kept it open): free space, then restart `elo node`".into(),
                        ));
                        return;
                    }
                    Err(still) => {
                        db = still;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
        }
        match Store::open(&self.path, self.actor.clone(), self.company.clone()) {
            Ok(store) => {
                *slot = Some(store.database());
                self.store = Some(store);
            }
            Err(e) => {
                tracing::error!("the store could not be reopened: {e}");
                self.health.set(Some(format!(
                    "the store could not be opened again after a disk error ({e}): free space on the disk; elo tries again at the next request, or restart `elo node`"
                )));
            }
        }
    }
}

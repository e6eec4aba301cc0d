//! The store's writer thread and the cloneable handle the rest of the node
//! uses. One thread owns the [`Store`] and applies writes in batches (group
//! commit: whatever is queued when it wakes goes into one transaction);
//! reads run on tokio's blocking pool straight against the database.
//! Dropping every handle stops the writer after it drains its queue.

use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use elo_crdt::{DocId, HistoryEntry, Kind, Record};
use redb::Database;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::companies::CompanyRecords;
use super::reopen::{self, DbSlot, Health, Reopening};
use super::stock::{self, StockEntry, StockWriteReport};
use super::{
    ChangeEntry, ReplicatedLog, Store, StoreError, WriteError, WriteOp, WriteResult, checkpoint,
    local, merge, read,
};

/// Writes waiting in the queue before senders wait.
const QUEUE: usize = 1024;
/// Most writes committed in one transaction.
const MAX_BATCH_OPS: usize = 8192;

type Reply = oneshot::Sender<Result<Vec<Result<WriteResult, WriteError>>, StoreError>>;

enum Request {
    Write {
        ops: Vec<WriteOp>,
        reply: Reply,
    },
    Meta {
        key: String,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    ResetCheckpoints {
        peer: Option<String>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Backup {
        name: String,
        reply: oneshot::Sender<Result<(std::path::PathBuf, u64), StoreError>>,
    },
    Stock {
        entries: Vec<StockEntry>,
        own: bool,
        reply: oneshot::Sender<Result<StockWriteReport, StoreError>>,
    },
    /// Stop after the writes queued before it; the reply comes once the
    /// writer has let go of the store.
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// A cloneable handle to the store.
#[derive(Clone)]
pub struct StoreHandle {
    /// The database, swapped when the writer reopens it after a disk error.
    db: DbSlot,
    health: Health,
    writes: mpsc::Sender<Request>,
    changes: broadcast::Sender<ChangeEntry>,
    /// The last stock sequence number stored: members are told when it moves.
    stock_seq: watch::Sender<u64>,
    /// The company whose store this is (CNPJ digits).
    company: Arc<str>,
    /// The group's company records, decoded (see `companies`).
    companies: CompanyRecords,
}

impl StoreHandle {
    /// Starts the writer thread for `store`.
    pub fn spawn(store: Store) -> StoreHandle {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (changes, _) = broadcast::channel(4096);
        let company: Arc<str> = store.company.as_str().into();
        let db: DbSlot = Arc::new(RwLock::new(Some(store.database())));
        let health = Health::default();
        let notify = changes.clone();
        let (stock_seq, _) = watch::channel(0);
        let stock_notify = stock_seq.clone();
        let store = Reopening::new(store, db.clone(), health.clone());
        std::thread::Builder::new()
            .name("elo-store".into())
            .spawn(move || writer(store, rx, notify, stock_notify))
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!("could not start the store writer: {e}"));
        StoreHandle {
            db,
            health,
            writes: tx,
            changes,
            stock_seq,
            company,
            companies: CompanyRecords::default(),
        }
    }

    /// The company whose store this is (CNPJ digits).
    pub fn company(&self) -> &str {
        &self.company
    }

    /// What is wrong with the store now, in words (a disk error, and
    /// whether the store could be opened again); `None` when all is well.
    pub fn problem(&self) -> Option<String> {
        self.health.problem()
    }

    /// The database as it is now (the writer opens it again after a disk
    /// error), for what keeps its own tables in the same file: the order
    /// book. redb serialises its write transactions with the writer's.
    pub fn database(&self) -> Result<Arc<Database>, StoreError> {
        reopen::current(&self.db, &self.health)
    }

    /// Applies writes; resolves once they are committed to disk.
    pub async fn write(
        &self,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<Result<WriteResult, WriteError>>, StoreError> {
        let asked = std::time::Instant::now();
        let written = self.ask(|reply| Request::Write { ops, reply }).await;
        crate::metrics::write_finished(asked.elapsed());
        written
    }

    /// Stores stock entries (see [`Store::write_stock`]); resolves once
    /// they are on disk.
    pub async fn write_stock(
        &self,
        entries: Vec<StockEntry>,
        own: bool,
    ) -> Result<StockWriteReport, StoreError> {
        self.ask(|reply| Request::Stock {
            entries,
            own,
            reply,
        })
        .await
    }

    /// Copies the whole store, between two transactions, to `backups/NAME`
    /// beside it (see [`super::backup`]); returns the file and its size.
    pub async fn backup(&self, name: String) -> Result<(std::path::PathBuf, u64), StoreError> {
        self.ask(|reply| Request::Backup { name, reply }).await
    }

    /// The record this company knows by its own code.
    pub async fn id_by_own_code(
        &self,
        kind: Kind,
        code: String,
    ) -> Result<Option<DocId>, StoreError> {
        self.blocking(move |db| local::id_by_own_code(db, kind, &code))
            .await
    }

    /// This company's own codes for these records.
    pub async fn own_codes_of(&self, ids: Vec<String>) -> Result<Vec<Option<String>>, StoreError> {
        self.blocking(move |db| local::own_codes_of(db, &ids)).await
    }

    /// Every company's stock of one SKU.
    pub async fn stock_of(&self, sku: String) -> Result<Vec<StockEntry>, StoreError> {
        self.blocking(move |db| stock::stock_of(db, &sku)).await
    }

    /// Stock entries stored after `since`, and the last stock sequence number.
    pub async fn stock_since(
        &self,
        since: u64,
        limit: usize,
    ) -> Result<(Vec<(u64, StockEntry)>, u64), StoreError> {
        self.blocking(move |db| stock::stock_since(db, since, limit))
            .await
    }

    /// Moves whenever stock is stored.
    pub fn subscribe_stock(&self) -> watch::Receiver<u64> {
        self.stock_seq.subscribe()
    }

    /// Sets a metadata value; resolves once it is on disk.
    pub async fn set_meta(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let key = key.to_string();
        self.ask(|reply| Request::Meta { key, value, reply }).await
    }

    /// Closes the store after every write sent before. The file is closed
    /// once the last handle (and any read in progress) is gone too.
    pub async fn close(self) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        let writes = self.writes.clone();
        drop(self);
        writes
            .send(Request::Close { reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }

    /// Forgets replication checkpoints (of one peer, or all), in every log.
    pub async fn reset_checkpoints(&self, peer: Option<String>) -> Result<(), StoreError> {
        self.ask(|reply| Request::ResetCheckpoints { peer, reply })
            .await
    }

    pub async fn heads_of(
        &self,
        ids: Vec<String>,
    ) -> Result<Vec<Option<Vec<elo_crdt::ChangeHash>>>, StoreError> {
        self.blocking(move |db| read::heads_of(db, &ids)).await
    }

    /// See [`read::codes_held`].
    pub async fn codes_held(
        &self,
        kind: Kind,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Vec<i64>, Option<String>), StoreError> {
        self.blocking(move |db| read::codes_held(db, kind, after.as_deref(), limit))
            .await
    }

    /// See [`read::origins_of`].
    pub async fn origins_of(
        &self,
        ids: Vec<String>,
    ) -> Result<Vec<Option<Vec<String>>>, StoreError> {
        self.blocking(move |db| read::origins_of(db, &ids)).await
    }

    /// See [`read::withheld_documents`].
    pub async fn withheld_documents(
        &self,
        member: String,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.blocking(move |db| read::withheld_documents(db, &member))
            .await
    }

    /// See [`read::withheld`].
    pub async fn withheld(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.blocking(read::withheld).await
    }

    pub async fn docs_for_peer(
        &self,
        wanted: Vec<(String, Vec<elo_crdt::ChangeHash>)>,
    ) -> Result<Vec<(String, elo_crdt::DocPayload)>, StoreError> {
        self.blocking(move |db| read::docs_for_peer(db, &wanted))
            .await
    }

    /// See [`merge::prepare_received`]; runs on the caller's (blocking)
    /// thread.
    pub fn prepare_received(
        &self,
        id: &DocId,
        payload: elo_crdt::DocPayload,
        first: bool,
        origin: &str,
    ) -> Result<Option<WriteOp>, WriteError> {
        match reopen::current(&self.db, &self.health) {
            Ok(db) => merge::prepare_received(&db, id, payload, first, origin),
            Err(e) => Err(WriteError::Unavailable(e.to_string())),
        }
    }

    /// How far `peer`'s `log` is stored here (see [`checkpoint::checkpoint`]).
    pub async fn checkpoint(&self, log: ReplicatedLog, peer: String) -> Result<u64, StoreError> {
        self.blocking(move |db| checkpoint::checkpoint(db, log, &peer))
            .await
    }

    /// One write; its refusal comes back as the inner error.
    pub async fn write_one(
        &self,
        op: WriteOp,
    ) -> Result<Result<WriteResult, WriteError>, StoreError> {
        let mut results = self.write(vec![op]).await?;
        Ok(results
            .pop()
            .unwrap_or(Err(WriteError::NotFound(String::new()))))
    }

    /// Committed changes as they happen (for the change feed and replication).
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEntry> {
        self.changes.subscribe()
    }

    /// Sends the writer a request and waits for its reply.
    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Request,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writes
            .send(request(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.blocking_shared(move |db| f(db)).await
    }

    /// [`Self::blocking`] for what keeps a handle on the database itself.
    async fn blocking_shared<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Arc<Database>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = reopen::current(&self.db, &self.health)?;
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    pub async fn get(&self, id: DocId) -> Result<Option<Record>, StoreError> {
        let companies = self.companies.clone();
        self.blocking_shared(move |db| match id.kind() {
            Kind::Company => companies.record(db, &id),
            _ => read::record(db, &id),
        })
        .await
    }

    pub async fn history(&self, id: DocId) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
        self.blocking(move |db| read::history(db, &id)).await
    }

    pub async fn list(
        &self,
        kind: Kind,
        after: Option<DocId>,
        limit: usize,
        include_deleted: bool,
    ) -> Result<Vec<Record>, StoreError> {
        self.blocking(move |db| read::list(db, kind, after.as_ref(), limit, include_deleted))
            .await
    }

    pub async fn changes_since(
        &self,
        since: u64,
        limit: usize,
    ) -> Result<Vec<ChangeEntry>, StoreError> {
        self.blocking(move |db| read::changes_since(db, since, limit))
            .await
    }

    pub async fn last_seq(&self) -> Result<u64, StoreError> {
        self.blocking(read::last_seq).await
    }

    pub async fn record_count(&self) -> Result<u64, StoreError> {
        self.blocking(read::record_count).await
    }

    pub async fn doc_count(&self) -> Result<u64, StoreError> {
        self.blocking(read::doc_count).await
    }

    /// The product fields this company keeps to itself.
    pub async fn restricted(&self) -> Result<Vec<String>, StoreError> {
        self.blocking(local::restricted_fields).await
    }

    pub async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_string();
        self.blocking(move |db| read::meta(db, &key)).await
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn writer(
    mut store: Reopening,
    mut rx: mpsc::Receiver<Request>,
    notify: broadcast::Sender<ChangeEntry>,
    stock_notify: watch::Sender<u64>,
) {
    let mut pending = None;
    loop {
        let first = match pending.take() {
            Some(r) => r,
            None => match rx.blocking_recv() {
                Some(r) => r,
                None => break,
            },
        };
        if let Request::Close { reply } = first {
            drop(store);
            let _ = reply.send(());
            return;
        }
        pending = serve(&mut store, first, &mut rx, &notify, &stock_notify);
    }
    tracing::debug!("store writer stopped");
}

/// Serves one request (a write with those queued behind it); returns the
/// next request, if group commit read one that is not a write.
fn serve(
    reopening: &mut Reopening,
    request: Request,
    rx: &mut mpsc::Receiver<Request>,
    notify: &broadcast::Sender<ChangeEntry>,
    stock_notify: &watch::Sender<u64>,
) -> Option<Request> {
    let store = match reopening.store() {
        Ok(store) => store,
        Err(e) => {
            refuse(request, e);
            return None;
        }
    };
    match request {
        Request::Meta { key, value, reply } => {
            let result = store.put_meta(&key, &value);
            let _ = reply.send(reopening.told(result));
        }
        Request::ResetCheckpoints { peer, reply } => {
            let result = store.reset_checkpoints(peer.as_deref());
            let _ = reply.send(reopening.told(result));
        }
        Request::Backup { name, reply } => {
            let _ = reply.send(store.backup_named(&name));
        }
        Request::Stock {
            entries,
            own,
            reply,
        } => {
            let result = store.write_stock(entries, own, now_ms());
            if let Ok(report) = &result
                && report.stored > 0
            {
                stock_notify.send_replace(report.last_seq);
            }
            let _ = reply.send(reopening.told(result));
        }
        Request::Write { ops, reply } => return group_commit(reopening, rx, ops, reply, notify),
        Request::Close { reply } => {
            let _ = reply.send(());
        }
    }
    None
}

/// Answers a request the store cannot serve now with `e`.
fn refuse(request: Request, e: StoreError) {
    let text = e.to_string();
    let e = || StoreError::Unavailable(text.clone());
    match request {
        Request::Write { reply, .. } => drop(reply.send(Err(e()))),
        Request::Meta { reply, .. } | Request::ResetCheckpoints { reply, .. } => {
            drop(reply.send(Err(e())))
        }
        Request::Backup { reply, .. } => drop(reply.send(Err(e()))),
        Request::Stock { reply, .. } => drop(reply.send(Err(e()))),
        Request::Close { reply } => drop(reply.send(())),
    }
}

/// Commits `ops` with every write already queued behind them in one
/// transaction (group commit), answers each caller and tells subscribers
/// of the new changes. Returns the first queued request that is not a
/// write: it waits for the next turn of the writer.
fn group_commit(
    reopening: &mut Reopening,
    rx: &mut mpsc::Receiver<Request>,
    mut ops: Vec<WriteOp>,
    reply: Reply,
    notify: &broadcast::Sender<ChangeEntry>,
) -> Option<Request> {
    let mut replies = vec![(reply, ops.len())];
    let mut pending = None;
    while ops.len() < MAX_BATCH_OPS {
        match rx.try_recv() {
            Ok(Request::Write { ops: more, reply }) => {
                replies.push((reply, more.len()));
                ops.extend(more);
            }
            Ok(other) => {
                pending = Some(other);
                break;
            }
            Err(_) => break,
        }
    }
    let outcome = match reopening.store() {
        Ok(store) => store.write_batch(ops, now_ms()),
        Err(e) => Err(e),
    };
    match reopening.told(outcome) {
        Ok((results, entries)) => {
            let mut results = results.into_iter();
            for (reply, n) in replies {
                let _ = reply.send(Ok(results.by_ref().take(n).collect()));
            }
            for e in entries {
                let _ = notify.send(e);
            }
        }
        Err(e) => {
            tracing::error!("store transaction failed, nothing of it was stored: {e}");
            let text = match e {
                StoreError::Failed(text) => text,
                e => e.to_string(),
            };
            for (reply, _) in replies {
                let _ = reply.send(Err(StoreError::Failed(text.clone())));
            }
        }
    }
    pending
}

#[cfg(test)]
impl StoreHandle {
    /// The store of `company` in a temporary folder, for tests.
    pub(crate) fn spawn_in(dir: &tempfile::TempDir, company: &str) -> StoreHandle {
        let path = dir.path().join("store.redb");
        let store = Store::open(&path, company.as_bytes().to_vec(), company.into());
        StoreHandle::spawn(store.expect("a store in a temporary folder"))
    }
}

//! One kind of checkpoint for every replicated log: how far this node has
//! stored a member's log, kept per (log, member) in one table. A puller
//! reads it before asking for a page and moves it, in a write after the
//! page's entries, only once they are committed.

use redb::{Database, Durability, ReadableDatabase};

use super::tables::CHECKPOINTS;
use super::{Store, StoreError};

/// A log that members replicate from each other, each from its own
/// checkpoint per member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplicatedLog {
    /// The record log: record documents (`tables::CHANGES`).
    Records,
    /// The stock log: each company's stock figures (`tables::STOCK_LOG`).
    Stock,
}

impl ReplicatedLog {
    /// The log's name as stored in the checkpoint table's key.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicatedLog::Records => "records",
            ReplicatedLog::Stock => "stock",
        }
    }
}

/// The checkpoint kept for `peer` in `log`: its sequence number up to
/// which everything is stored here (0: nothing yet).
pub fn checkpoint(db: &Database, log: ReplicatedLog, peer: &str) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    Ok(txn
        .open_table(CHECKPOINTS)?
        .get((log.as_str(), peer))?
        .map_or(0, |g| g.value()))
}

/// Sets a checkpoint inside the caller's transaction.
pub(super) fn set(
    table: &mut redb::Table<(&str, &str), u64>,
    log: ReplicatedLog,
    peer: &str,
    seq: u64,
) -> Result<(), StoreError> {
    table.insert((log.as_str(), peer), seq)?;
    Ok(())
}

impl Store {
    /// Forgets the checkpoints of one peer, or of all, in every log, so
    /// replication starts again from the beginning ("forçar replicação").
    pub fn reset_checkpoints(&mut self, peer: Option<&str>) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut t = txn.open_table(CHECKPOINTS)?;
            match peer {
                Some(p) => t.retain(|(_, of), _| of != p)?,
                None => t.retain(|_, _| false)?,
            }
        }
        txn.commit()?;
        Ok(())
    }
}

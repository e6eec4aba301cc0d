//! Bringing a store file to the layout this build writes. Runs on every
//! open, in one transaction: each step checks whether it is already done,
//! and a file is never left half-migrated.
//!
//! - Schema 1: the tables of [`super::tables`] exist.
//! - Schema 2: one checkpoint table for every replicated log. The record
//!   log's checkpoints move from `checkpoints-1` (key: peer id) and the
//!   stock log's from `stock_checkpoint/{peer}` metadata entries into
//!   `checkpoints-2` (key: log, peer id).

use redb::{Database, ReadableTable, WriteTransaction};

use super::StoreError;
use super::checkpoint::ReplicatedLog;
use super::stored::meta_u64;
use super::tables::{
    CHANGES, CHECKPOINTS, CHECKPOINTS_V1, DOC_SEQ, DOCS, META, META_SCHEMA,
    META_STOCK_CHECKPOINT_V1, ORDER_CHANGED, ORDER_LINKS, ORDER_LOG, ORDER_OUTBOX, ORDER_SEQ,
    ORDERS, OWN_CODE_OF, OWN_CODES, RESTRICTED, STOCK, STOCK_LOG, WITHHELD,
};

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: u64 = 2;

/// Creates the tables, moves older layouts' data into them and records the
/// schema version.
pub(crate) fn migrate(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    txn.open_table(DOCS)?;
    txn.open_table(CHANGES)?;
    txn.open_table(DOC_SEQ)?;
    txn.open_table(CHECKPOINTS)?;
    txn.open_table(RESTRICTED)?;
    txn.open_table(STOCK)?;
    txn.open_table(OWN_CODES)?;
    txn.open_table(OWN_CODE_OF)?;
    txn.open_table(STOCK_LOG)?;
    txn.open_table(WITHHELD)?;
    txn.open_table(ORDERS)?;
    txn.open_table(ORDER_LINKS)?;
    txn.open_table(ORDER_CHANGED)?;
    txn.open_table(ORDER_OUTBOX)?;
    txn.open_table(ORDER_LOG)?;
    txn.open_table(ORDER_SEQ)?;
    let schema = meta_u64(&txn.open_table(META)?, META_SCHEMA)?;
    if schema < 2 {
        one_checkpoint_table(&txn)?;
    }
    if schema < SCHEMA_VERSION {
        txn.open_table(META)?
            .insert(META_SCHEMA, SCHEMA_VERSION.to_string().as_bytes())?;
    }
    txn.commit()?;
    Ok(())
}

/// Schema 2: the record log's and the stock log's checkpoints, kept in two
/// different ways by schema 1, move into the one checkpoint table.
fn one_checkpoint_table(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut checkpoints = txn.open_table(CHECKPOINTS)?;
    {
        let old = txn.open_table(CHECKPOINTS_V1)?;
        for item in old.iter()? {
            let (peer, seq) = item?;
            checkpoints.insert((ReplicatedLog::Records.as_str(), peer.value()), seq.value())?;
        }
    }
    txn.delete_table(CHECKPOINTS_V1)?;
    let mut meta = txn.open_table(META)?;
    let mut stock = Vec::new();
    for item in meta.range(META_STOCK_CHECKPOINT_V1..)? {
        let (key, value) = item?;
        let Some(peer) = key.value().strip_prefix(META_STOCK_CHECKPOINT_V1) else {
            break;
        };
        // Written by schema 1 as decimal text; anything else meant 0.
        let seq = std::str::from_utf8(value.value())
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        stock.push((key.value().to_string(), peer.to_string(), seq));
    }
    for (key, peer, seq) in stock {
        if let Some(seq) = seq {
            checkpoints.insert((ReplicatedLog::Stock.as_str(), peer.as_str()), seq)?;
        }
        meta.remove(key.as_str())?;
    }
    Ok(())
}

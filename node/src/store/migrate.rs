//! Bringing a store file to the layout this build writes: numbered
//! migrations, run on every open, each in one write transaction that also
//! records its number as the file's schema version. A process stopped
//! mid-way (a crash, a power cut) leaves the file at the last migration
//! committed, and the next open carries on from there: no step is ever
//! half done or done twice.
//!
//! 1. The tables of [`super::tables`] exist.
//! 2. One checkpoint table for every replicated log. The record log's
//!    checkpoints move from `checkpoints-1` (key: peer id) and the stock
//!    log's from `stock_checkpoint/{peer}` metadata entries into
//!    `checkpoints-2` (key: log, peer id).
//!
//! 3. Documents may be packed with zstd (see [`super::packed`]): the
//!    dictionaries' table. Nothing stored is rewritten; the number tells an
//!    older elo, which would take packed documents for damaged ones, to
//!    refuse the file.
//!
//! A file of a newer schema than this build knows is refused, naming both
//! versions: its layout may mean something this build would misread.

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use super::StoreError;
use super::checkpoint::ReplicatedLog;
use super::stored::meta_u64;
use super::tables::{
    CHANGES, CHECKPOINTS, CHECKPOINTS_V1, DICTS, DOC_SEQ, DOCS, META, META_SCHEMA,
    META_STOCK_CHECKPOINT_V1, ORDER_CHANGED, ORDER_LINKS, ORDER_LOG, ORDER_OUTBOX, ORDER_SEQ,
    ORDERS, OWN_CODE_OF, OWN_CODES, RESTRICTED, STOCK, STOCK_LOG, WITHHELD,
};

/// One step of the layout: what it brings, and the function that brings
/// it inside the given transaction.
struct Migration {
    /// The schema version the file has once this step is committed.
    to: u64,
    what: &'static str,
    run: fn(&WriteTransaction) -> Result<(), StoreError>,
}

/// Every migration, in order; the last one's number is the schema version
/// this build writes.
const MIGRATIONS: &[Migration] = &[
    Migration {
        to: 1,
        what: "the store's tables",
        run: create_tables,
    },
    Migration {
        to: 2,
        what: "one checkpoint table for every replicated log",
        run: one_checkpoint_table,
    },
    Migration {
        to: 3,
        what: "documents packed with a dictionary",
        run: dictionaries_table,
    },
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: u64 = MIGRATIONS[MIGRATIONS.len() - 1].to;

/// Brings the file to [`SCHEMA_VERSION`], one committed migration at a time.
pub(crate) fn migrate(db: &Database) -> Result<(), StoreError> {
    migrate_to(db, SCHEMA_VERSION)
}

/// Runs the migrations after the file's schema up to `target`.
pub(crate) fn migrate_to(db: &Database, target: u64) -> Result<(), StoreError> {
    let schema = schema_of(db)?;
    if schema > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found: schema,
            known: SCHEMA_VERSION,
        });
    }
    for step in MIGRATIONS
        .iter()
        .filter(|m| m.to > schema && m.to <= target)
    {
        tracing::info!(to = step.to, what = step.what, "migrating the store");
        let txn = db.begin_write()?;
        (step.run)(&txn)?;
        txn.open_table(META)?
            .insert(META_SCHEMA, step.to.to_string().as_bytes())?;
        txn.commit()?;
    }
    // Tables added since without a migration of their own (the orders'):
    // creating them is idempotent, so every open makes sure they exist.
    let txn = db.begin_write()?;
    create_tables(&txn)?;
    txn.commit()?;
    Ok(())
}

/// The file's schema version (0: a new file, or one of before schema 1).
pub(crate) fn schema_of(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    match txn.open_table(META) {
        Ok(meta) => meta_u64(&meta, META_SCHEMA),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Schema 1: every table of the store.
fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(META)?;
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
    Ok(())
}

/// Schema 3: the dictionaries documents are packed with.
fn dictionaries_table(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(DICTS)?;
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

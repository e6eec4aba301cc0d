//! The orders in this company's store: every read and write, each in one
//! redb transaction. Orders live in their own tables ([`ORDERS`] and the
//! rest), never in the record log, so replication cannot serve one.
//!
//! Every write bumps the order log (what the ERP follows) and, for a
//! linked order, marks it owed to the other end in the outbox; the courier
//! sends what is owed and clears it once answered.

use elo_crdt::order::doc::OrderDoc;
use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::OrderError;
use crate::store::StoreError;
use crate::store::tables::{
    META, META_ORDER_LOG_SEQ, META_ORDER_NUMBER, ORDER_CHANGED, ORDER_LINKS, ORDER_LOG,
    ORDER_OUTBOX, ORDER_SEQ, ORDERS,
};

/// A linked order owed to the other end.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Owed {
    /// The other end's CNPJ.
    pub to: String,
    /// The order's log sequence when it was owed.
    pub seq: u64,
    /// The order's key here.
    pub key: String,
}

pub(super) fn read_u64(txn: &WriteTransaction, key: &str) -> Result<u64, StoreError> {
    meta_number(&txn.open_table(META)?, key)
}

fn meta_number(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<u64, StoreError> {
    let v = meta.get(key)?.and_then(|g| {
        std::str::from_utf8(g.value())
            .ok()
            .and_then(|s| s.parse().ok())
    });
    Ok(v.unwrap_or(0))
}

/// The last order-log sequence handed out.
pub(super) fn last_log_seq(txn: &redb::ReadTransaction) -> Result<u64, StoreError> {
    meta_number(&txn.open_table(META)?, META_ORDER_LOG_SEQ)
}

fn write_u64(txn: &WriteTransaction, key: &str, value: u64) -> Result<(), StoreError> {
    txn.open_table(META)?
        .insert(key, value.to_string().as_bytes())?;
    Ok(())
}

/// The next order number this company gives (past `at_least`, so a
/// number the ERP gave is never given again).
pub(super) fn next_number(txn: &WriteTransaction) -> Result<u64, StoreError> {
    let n = read_u64(txn, META_ORDER_NUMBER)? + 1;
    write_u64(txn, META_ORDER_NUMBER, n)?;
    Ok(n)
}

/// Notes a number the ERP gave, so elo's own numbers stay past it.
pub(super) fn note_number(txn: &WriteTransaction, number: u64) -> Result<(), StoreError> {
    if number > read_u64(txn, META_ORDER_NUMBER)? {
        write_u64(txn, META_ORDER_NUMBER, number)?;
    }
    Ok(())
}

pub(super) fn load(
    txn: &WriteTransaction,
    key: &str,
    actor: &[u8],
) -> Result<Option<OrderDoc>, OrderError> {
    load_from(&txn.open_table(ORDERS)?, key, actor)
}

/// Loads an order from the orders table of any transaction.
pub(super) fn load_from(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    actor: &[u8],
) -> Result<Option<OrderDoc>, OrderError> {
    let Some(bytes) = table.get(key)? else {
        return Ok(None);
    };
    OrderDoc::load(bytes.value(), actor)
        .map(Some)
        .map_err(|e| OrderError::Damaged(key.to_string(), e.to_string()))
}

/// Stores an order and logs it; returns its new log sequence.
pub(super) fn store(
    txn: &WriteTransaction,
    key: &str,
    doc: &mut OrderDoc,
) -> Result<u64, StoreError> {
    let changed = doc.changed_since_stored();
    txn.open_table(ORDERS)?.insert(key, doc.save().as_slice())?;
    doc.mark_stored();
    let seq = read_u64(txn, META_ORDER_LOG_SEQ)? + 1;
    write_u64(txn, META_ORDER_LOG_SEQ, seq)?;
    let mut log = txn.open_table(ORDER_LOG)?;
    let mut seqs = txn.open_table(ORDER_SEQ)?;
    let old = seqs.insert(key, seq)?.map(|g| g.value());
    if let Some(old) = old {
        log.remove(old)?;
    }
    log.insert(seq, key)?;
    let what = serde_json::json!({ "seq": seq, "changed": changed }).to_string();
    txn.open_table(ORDER_CHANGED)?
        .insert(key, what.as_bytes())?;
    Ok(seq)
}

/// What the latest change of an order touched (see
/// `OrderDoc::changed_since_stored`); none for an order stored before
/// elo kept it.
pub(super) fn changed_of(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Vec<String>, StoreError> {
    let Some(bytes) = table.get(key)? else {
        return Ok(Vec::new());
    };
    let v: serde_json::Value = serde_json::from_slice(bytes.value()).unwrap_or_default();
    Ok(v["changed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect())
}

/// The key of the order of `link` here, if it is here, from the links
/// table of any transaction.
pub(super) fn link_key(
    links: &impl ReadableTable<&'static str, &'static str>,
    link: &str,
) -> Result<Option<String>, StoreError> {
    Ok(links.get(link)?.map(|g| g.value().to_string()))
}

/// [`link_key`] in a read transaction of its own.
pub(super) fn linked(db: &Database, link: &str) -> Result<Option<String>, StoreError> {
    link_key(&db.begin_read()?.open_table(ORDER_LINKS)?, link)
}

pub(super) fn set_link(txn: &WriteTransaction, link: &str, key: &str) -> Result<(), StoreError> {
    txn.open_table(ORDER_LINKS)?.insert(link, key)?;
    Ok(())
}

pub(super) fn owe(txn: &WriteTransaction, link: &str, owed: &Owed) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(owed).map_err(|e| StoreError::Failed(e.to_string()))?;
    txn.open_table(ORDER_OUTBOX)?
        .insert(link, bytes.as_slice())?;
    Ok(())
}

/// Everything owed, oldest link first.
pub fn owed(db: &Database) -> Result<Vec<(String, Owed)>, StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(ORDER_OUTBOX)?;
    let mut out = Vec::new();
    for item in table.iter()? {
        let (link, value) = item?;
        // An entry this build cannot read is left for the build that wrote it.
        if let Ok(owed) = serde_json::from_slice::<Owed>(value.value()) {
            out.push((link.value().to_string(), owed));
        }
    }
    Ok(out)
}

/// Clears what was owed for `link` if nothing newer was owed since.
pub(super) fn clear_owed(txn: &WriteTransaction, link: &str, seq: u64) -> Result<(), StoreError> {
    let mut table = txn.open_table(ORDER_OUTBOX)?;
    let current = table
        .get(link)?
        .and_then(|g| serde_json::from_slice::<Owed>(g.value()).ok());
    if current.is_some_and(|o| o.seq == seq) {
        table.remove(link)?;
    }
    Ok(())
}

/// One stored order's bytes.
pub fn order_bytes(db: &Database, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(ORDERS)?;
    Ok(table.get(key)?.map(|g| g.value().to_vec()))
}

/// Every order key after `after`, in the order of their numbers.
pub fn keys_after(db: &Database, after: Option<&str>) -> Result<Vec<String>, StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(ORDERS)?;
    let mut keys: Vec<String> = Vec::new();
    for item in table.iter()? {
        keys.push(item?.0.value().to_string());
    }
    // Keys are numbers: sort them as numbers, not as text.
    keys.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
    let start = match after {
        Some(a) => keys.partition_point(|k| (k.len(), k.as_str()) <= (a.len(), a)),
        None => 0,
    };
    keys.drain(..start);
    Ok(keys)
}

/// The order log after `since`: (sequence, key), at most `limit`.
pub fn log_since(
    db: &Database,
    since: u64,
    limit: usize,
) -> Result<Vec<(u64, String)>, StoreError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(ORDER_LOG)?;
    let mut out = Vec::new();
    for item in table.range(since.saturating_add(1)..)?.take(limit) {
        let (seq, key) = item?;
        out.push((seq.value(), key.value().to_string()));
    }
    Ok(out)
}

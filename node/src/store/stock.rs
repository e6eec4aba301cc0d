//! Each company's stock per SKU (and deposit), seen by every company.
//!
//! Stock is *single-writer* data: only the company that holds the goods
//! writes its figures, and only its latest figures matter. An automerge
//! document would keep every one of a million updates forever, so stock is
//! kept as registers instead: one entry per (SKU, company, deposit) with a
//! version the owner raises on every write. A node keeps the entry with the
//! highest version, whatever order the entries arrive in, so all converge.
//!
//! Replication mirrors the record log: every stored entry gets this node's
//! own stock sequence number, and an entry's older number is dropped when it
//! gets a new one. The log therefore holds one line per entry, never one
//! per update, and the store stays the size of the current stock however
//! many updates it took (benchmark: `elo-bench stock`).

use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::stored::meta_u64;
use super::tables::{META, META_STOCK_SEQ, STOCK, STOCK_LOG};
use super::{Store, StoreError};

/// One company's figures for one SKU in one deposit. Quantities are exact
/// decimals with three places, scaled (`1500` is 1.500).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockEntry {
    pub sku: String,
    /// The company that holds the goods, the only one that writes this.
    pub company: String,
    /// Empty for a company with one deposit.
    #[serde(default)]
    pub deposit: String,
    pub quantity: i64,
    #[serde(default)]
    pub reserved: i64,
    /// Raised by the owner on every write; the highest wins.
    pub version: u64,
    pub updated_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    entry: StockEntry,
    seq: u64,
}

/// What a stock write did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StockWriteReport {
    /// Entries stored (new figures, or a newer version).
    pub stored: usize,
    /// Entries that changed nothing (same figures, or an older version).
    pub unchanged: usize,
    pub last_seq: u64,
}

/// The table key: SKU, company and deposit, separated by a byte no SKU,
/// CNPJ or deposit name may hold, so one SKU's entries sort together.
pub fn stock_key(sku: &str, company: &str, deposit: &str) -> String {
    format!("{sku}\u{1}{company}\u{1}{deposit}")
}

fn sku_prefix(sku: &str) -> String {
    format!("{sku}\u{1}")
}

fn decode(bytes: &[u8]) -> Result<Stored, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Failed(format!("damaged stock entry: {e}")))
}

fn encode(stored: &Stored) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(stored).map_err(|e| StoreError::Failed(e.to_string()))
}

impl Store {
    /// Stores stock entries in one transaction. `own`: this company's new
    /// figures, whose versions are set here (above the stored one, and at
    /// least the time in milliseconds, so a company whose store was lost
    /// and rebuilt still writes newer versions than its old ones). Else the
    /// entries came from a member and replace only older versions.
    pub fn write_stock(
        &mut self,
        entries: Vec<StockEntry>,
        own: bool,
        now_ms: i64,
    ) -> Result<StockWriteReport, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let mut report = StockWriteReport::default();
        {
            let mut stock = txn.open_table(STOCK)?;
            let mut log = txn.open_table(STOCK_LOG)?;
            let mut meta = txn.open_table(META)?;
            let mut seq = meta_u64(&meta, META_STOCK_SEQ)?;
            for mut entry in entries {
                let key = stock_key(&entry.sku, &entry.company, &entry.deposit);
                let old = match stock.get(key.as_str())? {
                    Some(v) => Some(decode(v.value())?),
                    None => None,
                };
                if let Some(old) = &old {
                    let same = old.entry.quantity == entry.quantity
                        && old.entry.reserved == entry.reserved;
                    if (own && same) || (!own && entry.version <= old.entry.version) {
                        report.unchanged += 1;
                        continue;
                    }
                }
                if own {
                    let floor = old.as_ref().map_or(0, |o| o.entry.version + 1);
                    entry.version = floor.max(u64::try_from(now_ms).unwrap_or(0));
                    entry.updated_ms = now_ms;
                }
                if let Some(old) = &old {
                    log.remove(old.seq)?;
                }
                seq += 1;
                log.insert(seq, key.as_str())?;
                stock.insert(key.as_str(), encode(&Stored { entry, seq })?.as_slice())?;
                report.stored += 1;
            }
            meta.insert(META_STOCK_SEQ, seq.to_string().as_bytes())?;
            report.last_seq = seq;
        }
        txn.commit()?;
        Ok(report)
    }
}

/// Every company's entries for one SKU.
pub fn stock_of(db: &Database, sku: &str) -> Result<Vec<StockEntry>, StoreError> {
    let txn = db.begin_read()?;
    let stock = txn.open_table(STOCK)?;
    let prefix = sku_prefix(sku);
    let mut out = Vec::new();
    for item in stock.range(prefix.as_str()..)? {
        let (k, v) = item?;
        if !k.value().starts_with(&prefix) {
            break;
        }
        out.push(decode(v.value())?.entry);
    }
    Ok(out)
}

/// Entries stored after local sequence number `since`, oldest first, at
/// most `limit`; with the last sequence number handed out.
pub fn stock_since(
    db: &Database,
    since: u64,
    limit: usize,
) -> Result<(Vec<(u64, StockEntry)>, u64), StoreError> {
    let txn = db.begin_read()?;
    let log = txn.open_table(STOCK_LOG)?;
    let stock = txn.open_table(STOCK)?;
    let meta = txn.open_table(META)?;
    let latest = meta_u64(&meta, META_STOCK_SEQ)?;
    let mut out = Vec::new();
    for item in log.range(since.saturating_add(1)..)?.take(limit) {
        let (seq, key) = item?;
        if let Some(v) = stock.get(key.value())? {
            out.push((seq.value(), decode(v.value())?.entry));
        }
    }
    Ok((out, latest))
}

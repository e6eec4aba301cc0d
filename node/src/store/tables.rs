//! Every redb table of a node and every metadata key of the crate, with
//! its layout. A table's name carries a version: a layout change gets a
//! new name and a migration (see [`super::migrate`]). Code elsewhere in
//! the crate names a metadata key only through a constant of this file.

use redb::TableDefinition;

// ---- The record log ----

/// Record documents. Key: document id (`customer/cpf:52998224725`).
/// Value: the automerge document, packed with its kind's dictionary once
/// it has one (see `super::packed`), else as automerge saves it.
pub const DOCS: TableDefinition<&str, &[u8]> = TableDefinition::new("docs-1");

/// The zstd dictionaries documents are packed with (see `super::packed`).
/// Keys: `dict/{fingerprint, hex}` → the dictionary's bytes, kept for as
/// long as the store lives (a value names the one it was packed with);
/// `kind/{kind}` → the fingerprint new documents of that kind are packed
/// with.
pub const DICTS: TableDefinition<&str, &[u8]> = TableDefinition::new("dicts-1");

/// The local change log, one entry per document: its latest local sequence
/// number. Key: sequence number. Value: a [`ChangeEntry`] encoded by
/// `ChangeEntry::encode`. A document's older entry is removed when it gets a
/// new one, so walking the log from a checkpoint visits each changed
/// document once (as CouchDB's by-sequence index does).
///
/// [`ChangeEntry`]: super::ChangeEntry
pub const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes-1");

/// The latest sequence number of each document. Key: document id.
pub const DOC_SEQ: TableDefinition<&str, u64> = TableDefinition::new("doc-seq-1");

// ---- The stock log (see `super::stock`) ----

/// Current stock. Key: `stock::stock_key` (SKU, company, deposit). Value:
/// a `StockEntry` as JSON, with its local stock sequence number.
pub const STOCK: TableDefinition<&str, &[u8]> = TableDefinition::new("stock-1");

/// The stock log, one entry per stock entry: its latest local stock
/// sequence number. Key: that number. Value: the entry's `STOCK` key.
pub const STOCK_LOG: TableDefinition<u64, &str> = TableDefinition::new("stock-log-1");

// ---- Replication ----

/// How far this node has stored each member's replicated logs. Key: (the
/// log's name, [`ReplicatedLog::as_str`]; the member's peer id). Value: the
/// member's sequence number in that log up to which everything is stored
/// here. One table for every log, so a new log brings no new checkpoint.
///
/// [`ReplicatedLog::as_str`]: super::ReplicatedLog::as_str
pub const CHECKPOINTS: TableDefinition<(&str, &str), u64> = TableDefinition::new("checkpoints-2");

/// Schema 1's record-log checkpoints. Key: the member's peer id. Moved
/// into [`CHECKPOINTS`] by the migration to schema 2, then deleted.
pub const CHECKPOINTS_V1: TableDefinition<&str, u64> = TableDefinition::new("checkpoints-1");

// ---- What never leaves this company (see `super::local`) ----

/// Restricted fields (seed 002's "campos restritos"): this company's own
/// values of the fields it keeps to itself, overlaid on read and never put in
/// a shared document. Key: record id. Value: JSON object, field to
/// `FieldValue`.
pub const RESTRICTED: TableDefinition<&str, &[u8]> = TableDefinition::new("restricted-1");

/// This company's own codes for records (`erp_code`), to find a record by
/// the code its ERP knows. Key: `kind` + `\u{1}` + code. Value: record id.
pub const OWN_CODES: TableDefinition<&str, &str> = TableDefinition::new("own-codes-1");
/// The reverse: record id → this company's code for it (the change feed
/// names records by it).
pub const OWN_CODE_OF: TableDefinition<&str, &str> = TableDefinition::new("own-code-of-1");

// ---- Sales orders (see `crate::orders`): never group data ----

/// This company's orders, its own and those linked with another company.
/// Key: the order's key here (its number). Value: the order's automerge
/// document as `save()` writes it. Never in the record log, so no member
/// is ever served one.
pub const ORDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("orders-1");

/// Linked orders: the link id (the same at both ends) → the order's key
/// here. What makes a second delivery of one order change nothing.
pub const ORDER_LINKS: TableDefinition<&str, &str> = TableDefinition::new("order-links-1");

/// Orders owed to the other end of their link: link id → JSON
/// `orders::book::Owed` (the company, and the order's log sequence when
/// it was owed: an answer to an older copy does not clear a newer one).
pub const ORDER_OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("order-outbox-1");

/// The order log, one entry per order: its latest sequence number → its
/// key, as the record log; the ERP follows it with `GET /v1/orders/changes`.
pub const ORDER_LOG: TableDefinition<u64, &str> = TableDefinition::new("order-log-1");
/// The reverse: order key → its latest sequence number.
pub const ORDER_SEQ: TableDefinition<&str, u64> = TableDefinition::new("order-seq-1");
/// Order key → what its latest change touched (JSON: `seq`, `changed`),
/// for the order log's readers.
pub const ORDER_CHANGED: TableDefinition<&str, &[u8]> = TableDefinition::new("order-changed-1");

// ---- Metadata ----

/// Node metadata. Keys: the `META_*` constants below. Values: UTF-8 or JSON.
/// Documents (records and their parts) this company did not take because
/// it keeps their creators out: `member id` ([`withheld_key`], the node
/// that listed it) → the creators' CNPJs, comma-separated. Per member: what
/// one member holds of a record, another may not. What
/// `elo status` and `GET /v1/withheld` show; an entry whose record has
/// since arrived is no longer shown.
pub const WITHHELD: TableDefinition<&str, &str> = TableDefinition::new("withheld-1");

/// The key of [`WITHHELD`]: the member's node id (which has no space), a
/// space, the document id.
pub fn withheld_key(member: &str, id: &str) -> String {
    format!("{member} {id}")
}

pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta-1");

/// The last record-log sequence number handed out (decimal text).
pub const META_LAST_SEQ: &str = "last_seq";
/// The last stock-log sequence number handed out (decimal text).
pub const META_STOCK_SEQ: &str = "stock_last_seq";
/// The last order-log sequence number handed out (decimal text).
pub const META_ORDER_LOG_SEQ: &str = "order_log_seq";
/// This company's order settings (JSON `orders::OrderSettings`).
pub const META_ORDER_SETTINGS: &str = "order_settings";
/// This company's order-sending rules (JSON list of `orders::OrderRule`).
pub const META_ORDER_RULES: &str = "order_rules";
/// The last order number this company gave (decimal text).
pub const META_ORDER_NUMBER: &str = "order_number";
/// The schema version the file was migrated to (decimal text).
pub const META_SCHEMA: &str = "schema_version";
/// The product fields this company restricts, comma-separated.
pub const META_RESTRICTED: &str = "restricted_fields";
/// This node's company: CNPJ, name, peer id (JSON `Company`, `data_dir`).
pub const META_COMPANY: &str = "company";
/// The group this company belongs to: id and secret (JSON `Group`, `data_dir`).
pub const META_GROUP: &str = "group";
/// The node's identity key and API token, as in `identity.key` and
/// `api-token`: so a backup holds what the company needs to come back on a
/// new machine.
pub const META_IDENTITY: &str = "identity_key";
pub const META_API_TOKEN: &str = "api_token";
/// The listen addresses the node last advertised, with `/p2p/` (JSON list
/// of text, `membership`); invites carry them.
pub const META_LISTEN: &str = "listen_addrs";
/// The primary machine's persisted election and range state (JSON
/// `PersistentState`, `primary::driver`).
pub const META_PRIMARY: &str = "primary_state";
/// Set (`1`) by `elo restore`: the next start reads the codes the records
/// hold, and those the group sends back in its first minutes, so a code a
/// record took after the backup is never drawn again; `0` once done.
pub const META_RESTORED: &str = "restored";
/// Records this company stored without a code, to number once a block
/// arrives (JSON: table → record ids, `primary::awaiting`).
pub const META_CODES_AWAITING: &str = "codes_awaiting";
/// Prefix; `remembered_addr/{peer id}`: the address a member was last
/// reached at (text multiaddr, `mesh`), dialed first after a restart.
pub const META_REMEMBERED_ADDR: &str = "remembered_addr/";
/// Prefix; `invite/{hex sha-256 of the join secret}`: an invite this node
/// made, its expiry and whether it was used (JSON, `membership`).
pub const META_INVITE: &str = "invite/";
/// Prefix; `stock_checkpoint/{peer id}`: schema 1's stock-log checkpoints
/// (decimal text). Moved into [`CHECKPOINTS`] by the migration to schema 2;
/// no longer written.
pub const META_STOCK_CHECKPOINT_V1: &str = "stock_checkpoint/";

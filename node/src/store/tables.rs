//! Every redb table of a node, with its key and value layout. A table's name
//! carries a version: a layout change gets a new name and a migration.

use redb::TableDefinition;

/// Record documents. Key: document id (`customer/cpf:52998224725`).
/// Value: the automerge document as `save()` writes it.
pub const DOCS: TableDefinition<&str, &[u8]> = TableDefinition::new("docs-1");

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

/// Per-peer replication checkpoints. Key: the peer's id. Value: the peer's
/// sequence number up to which everything is stored here.
pub const CHECKPOINTS: TableDefinition<&str, u64> = TableDefinition::new("checkpoints-1");

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

/// Node metadata. Keys: see `META_*` below. Values: UTF-8 or JSON.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta-1");

/// The last sequence number handed out.
pub const META_LAST_SEQ: &str = "last_seq";
/// The schema version the file was migrated to.
pub const META_SCHEMA: &str = "schema_version";
/// The fields this company restricts, comma-separated.
pub const META_RESTRICTED: &str = "restricted_fields";

/// A log that members walk with a checkpoint each: the record log and the
/// stock log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplicatedLog {
    Records,
    Stock,
}

impl ReplicatedLog {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicatedLog::Records => "records",
            ReplicatedLog::Stock => "stock",
        }
    }

    /// The key of a member's checkpoint of this log.
    pub(crate) fn checkpoint_key(self, peer: &str) -> String {
        match self {
            ReplicatedLog::Records => peer.to_owned(),
            ReplicatedLog::Stock => format!("stock/{peer}"),
        }
    }
}

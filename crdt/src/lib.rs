//! elo's record model: what a group of companies shares, checked and held as
//! automerge documents. No I/O: bytes and values in, bytes and values out;
//! time comes in as a parameter.
//!
//! # Layout
//! - [`kind`]: the kinds of record and the sharing categories.
//! - [`schema`]: every kind's fields, Portuguese labels, types.
//! - [`ident`]: Brazilian identifiers (CPF, CNPJ incl. alphanumeric, GTIN,
//!   NCM, CEST, CEP, UF, CFOP) and e-mail.
//! - [`value`]: checked field values; exact decimals.
//! - [`key`]: natural keys and document ids.
//! - [`patch`]: parsing a write (JSON or CSV columns) into checked edits.
//! - [`doc`]: a record as an automerge document: apply, delete, merge.
//! - [`history`]: who changed which fields, in causal order.
//! - [`structure`]: a product's structure, kept the same in every company.
//! - [`record`]: a record's current values and the JSON the API shows.
//! - [`order`]: sales orders between two companies: fields, checks, the
//!   document both ends edit, statuses, NF-e access keys, transfer or sale.

pub mod conflict;
pub mod doc;
pub mod error;
pub mod history;
pub mod ident;
pub mod key;
pub mod kind;
pub mod order;
pub mod patch;
pub mod record;
pub mod schema;
pub mod structure;
pub mod value;

pub use automerge::ChangeHash;
pub use conflict::{ConflictValue, FieldConflict};
pub use doc::{Author, CheckedDoc, DocPayload, Record, RecordDoc};
pub use error::{DocError, FieldError, UnknownKind, ValidationError};
pub use history::HistoryEntry;
pub use key::DocId;
pub use kind::{CODE_TABLES, Category, Kind, Sharing};
pub use patch::RecordPatch;
pub use value::FieldValue;

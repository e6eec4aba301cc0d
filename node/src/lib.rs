//! A running elo company node. From the folder names alone, a record's path
//! reads one way: the ERP's write comes in at [`api`], is checked and given
//! its codes in [`records`], is committed by the [`store`]'s writer, is
//! announced and served by [`replication`] over elo-net to the members,
//! whose replication walks this node's log, has their store merge it, and
//! their [`api`] change feed tells their ERP.
//!
//! # Layout
//! - [`node`]: wiring: open the data directory, start the store, the
//!   primary, replication and the API; stop them in reverse.
//! - [`join`]: wiring of a new company entering a group with an invite.
//! - [`data_dir`]: the data directory: identity, API token, group metadata.
//! - [`api`]: the HTTP edge for the ERP (axum only here; never opens redb).
//! - [`records`]: the local write path: validate with crdt, check what
//!   needs other records (kits' components, a variation's parent) and what
//!   this company can see (categories it receives), draw codes, build the
//!   store's write.
//! - [`group`]: roster, invites and admission, the one send/receive policy,
//!   the sharing commands, removal.
//! - [`replication`]: net ↔ store: the actor that owns per-member state,
//!   serving and pulling the replicated logs.
//! - [`store`]: the only module that opens redb: tables, the writer, the
//!   one place a received document is merged, local-only data, reads.
//! - [`primary`]: the primary's election and ID ranges (a sans-I/O state
//!   machine, its driver, its simulation).
//! - [`credit`]: shared credit limits, escrow and the rights it moves.
//! - [`stock`]: stock views across companies, kits, scope.
//! - [`console`]: the screens in a browser at `/ui`: login by a one-time
//!   ticket, sessions, CSRF, embedded assets; its requests go to the API
//!   router it is handed.
//! - [`adopt`]: matching a company's existing records with the group's.
//! - [`clock`]: the wall clock in milliseconds.
//! - [`metrics`]: what the node counts as it works (API requests, pull and
//!   write latencies), for `GET /metrics`.
//!
//! The order of dependence, lowest first: clock, metrics, store, primary, records,
//! data_dir, group, credit, stock, replication, console, api, join and node. No module
//! uses one later in that list.

pub mod adopt;
pub mod api;
pub mod clock;
pub mod console;
pub mod credit;
pub mod data_dir;
pub mod group;
pub mod join;
pub mod metrics;
pub mod node;
pub mod orders;
pub mod primary;
pub mod records;
pub mod replication;
pub mod stock;
pub mod store;

pub use data_dir::{Company, DataDir, DataDirError, Group, NodeInfo};
pub use replication::{MeshConfig, PeerStatus, Replication};
pub use store::{ChangeEntry, Store, StoreError, StoreHandle, WriteError, WriteOp, WriteResult};

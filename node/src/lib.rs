//! A running elo company node: its storage, its local HTTP API for the ERP,
//! its change feed.
//!
//! # Layout
//! - [`store`]: the redb file, the change log, the writer thread and its handle.
//! - [`data_dir`]: the data directory: identity, API token, group metadata.
//! - [`api`]: the local HTTP API (axum) with bearer token and change feed.
//! - [`records`]: record writes shared by the API and the offline CLI.
//! - [`join`]: a new company entering a group with an invite.
//! - [`membership`]: the roster, invites, admitting a new company.
//! - [`mesh`]: replication with other members over elo-net.
//! - [`pull`]: the pipelined pull loop of replication.
//! - [`policy`]: what a company shares, authorises and restricts.
//! - [`primary`]: the primary's election and ID ranges (state machine).
//! - [`node`]: running a node in the foreground until told to stop.

pub mod adopt;
pub mod api;
pub mod credit;
pub mod data_dir;
pub mod escrow;
pub mod join;
pub mod membership;
pub mod mesh;
pub mod node;
pub mod policy;
pub mod primary;
pub mod pull;
pub mod records;
pub mod stock;
pub mod store;

pub use data_dir::{Company, DataDir, DataDirError, Group, NodeInfo};
pub use store::{ChangeEntry, Store, StoreError, StoreHandle, WriteError, WriteOp, WriteResult};

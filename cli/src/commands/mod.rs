//! The subcommands of `elo`, one file per area, each command a small
//! function: it reads its arguments, asks the node through
//! [`crate::api`] (one request per operation, whether or not a node runs)
//! and prints the answer with [`crate::output`].
//!
//! Commands may not open the store or call elo-node's record, policy or
//! credit code themselves: that would be a second way to perform an
//! operation. The exceptions work on the data directory itself while no
//! node holds it (`init`, `join`, `restore`, running `node`) and say why;
//! `service` writes a systemd unit and touches no data directory.

pub mod adopt;
pub mod console;
pub mod credit;
pub mod demo;
pub mod group;
pub mod orders;
pub mod primary;
pub mod records;
pub mod rows;
pub mod service;
pub mod share;
pub mod stock;
pub mod transfer;

//! The primary and the ID ranges (DESIGN decision 6): an election with
//! terms and a majority of the roster, and blocks of numeric codes per
//! table allocated by the primary after a majority stored them.
//!
//! [`machine`] is the state machine, with no I/O: the node drives it with
//! messages, ticks and commands, persists its state when told to, and
//! sends what it returns. `sim` (tests only) runs it over a simulated
//! network with drops, delays, partitions and crashes.
//!
//! [`driver`] runs it inside the node: one task, persisting before it
//! sends, with replication carrying its messages and the API its commands.
//!
//! `machine.rs` is larger than the node's other files (about 1,300 lines
//! besides its tests) on purpose: it is one state machine, election and
//! allocation together, whose invariants (one primary a term, no range
//! handed out twice) are read and checked as a whole. `sim.rs` is test
//! code. It reads the store and elo-crdt only; it knows no network.

pub mod driver;
pub mod machine;

pub use driver::{PrimaryError, PrimaryHandle, PrimarySettings, PrimaryView, RangeRow};
#[cfg(test)]
mod sim;

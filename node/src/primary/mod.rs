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
//! sends, with the mesh carrying its messages and the API its commands.

pub mod driver;
pub mod machine;

pub use driver::{PrimaryError, PrimaryHandle, PrimarySettings, PrimaryView, RangeRow};
#[cfg(test)]
mod sim;

//! The primary and the ID ranges (DESIGN decision 6): an election with
//! terms and a majority of the roster, and blocks of numeric codes per
//! table allocated by the primary after a majority stored them.
//!
//! [`machine`] is the state machine, with no I/O: the node drives it with
//! messages, ticks and commands, persists its state when told to, and
//! sends what it returns. `sim` (tests only) runs it over a simulated
//! network with drops, delays, partitions and crashes.
//!
//! Not wired into the running node yet: no command or API reaches it.

#![allow(dead_code)]

pub mod machine;
#[cfg(test)]
mod sim;

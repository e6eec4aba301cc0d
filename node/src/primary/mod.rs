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
//! `held` tells it the codes the store's records hold, so counters that
//! went back (a restore, a re-join) rise past every code already in use.
//!
//! `machine.rs` is larger than the node's other files (about 1,300 lines
//! besides its tests) on purpose: it is one state machine, election and
//! allocation together, whose invariants (one primary a term, no range
//! handed out twice) are read and checked as a whole. `sim.rs` is test
//! code. It reads the store and elo-crdt only; it knows no network.

mod awaiting;
pub mod driver;
mod handle;
mod held;
pub mod machine;
mod reserve;

pub use driver::{
    AwaitingCode, BLOCK_WAIT, CREATE_WAIT, PrimaryError, PrimaryHandle, PrimarySettings,
    PrimaryView, RangeRow,
};
pub(crate) use held::code_of;
#[cfg(test)]
mod sim;

/// Takes into a restored store the primary state of the store it
/// replaces (`current`, as stored): terms, votes, ranges and counters only
/// grow, so a restore never draws a code again nor votes twice in a term
/// ([`machine::PersistentState::carried_over`]). A damaged `current` is
/// left out, and the restored store keeps its own state.
pub fn carry_over_counters(
    restored: &mut crate::store::Store,
    current: &[u8],
) -> Result<(), crate::store::StoreError> {
    let Ok(current) = serde_json::from_slice::<machine::PersistentState>(current) else {
        tracing::warn!(
            "the primary state of the store being replaced is unreadable; the restored one keeps its own (check with `elo ranges` that no range is missing, and give one by hand at the primary with `elo ranges set` if so)"
        );
        return Ok(());
    };
    let db = restored.database();
    let state = crate::store::read::meta(&db, driver::META_PRIMARY)?
        .and_then(|b| serde_json::from_slice::<machine::PersistentState>(&b).ok())
        .unwrap_or_default();
    let bytes = serde_json::to_vec(&state.carried_over(&current))
        .map_err(|e| crate::store::StoreError::Failed(e.to_string()))?;
    restored.put_meta(driver::META_PRIMARY, &bytes)
}

//! Codes reserved on disk ahead of those drawn.
//!
//! A code may be handed out only once the store holds a counter at or past
//! it, so that no crash can make this company draw it again. Storing the
//! exact counter at each draw made every new record of a numbered kind
//! cost a second durable commit (an fsync, and a fifth of a single write's
//! CPU, measured with `perf` on 300 writes 10 ms apart). Instead the store
//! holds each counter [`AHEAD`] codes past the one drawn, and is written
//! again only when the draws pass that mark.
//!
//! The cost: a crash leaves up to [`AHEAD`] codes of each range (at most a
//! sixteenth of a small one) counted as used though no record holds them
//! (a gap in the numbering, never a repeat). A node that stops cleanly
//! stores its exact counters last, so a restart leaves no gap.

use super::machine::PersistentState;

/// How many codes past the last one drawn the store counts as used.
pub(crate) const AHEAD: i64 = 64;

/// The reserve for a range of `size` codes: [`AHEAD`], but never more than
/// a sixteenth of the range, so a crash never costs a small block more
/// than that (a block of 10 keeps exact counters, as before).
fn ahead(size: i64) -> i64 {
    (size / 16).min(AHEAD)
}

/// The state to store for `state` (the machine's), given what the store
/// holds now (`stored`): each counter of this company's ranges is kept
/// where the store has it while draws stay below it, and otherwise moved
/// [`AHEAD`] codes past the draws (less in a small range, see [`ahead`]).
/// Everything else is the machine's, as it is.
pub(crate) fn on_disk(
    me: &str,
    state: &PersistentState,
    stored: Option<&PersistentState>,
) -> PersistentState {
    let mut out = state.clone();
    for (table, counts) in &mut out.codes_used {
        for (from, used) in counts.iter_mut() {
            let held = stored
                .and_then(|s| s.codes_used.get(table))
                .and_then(|t| t.get(from))
                .copied();
            *used = match held {
                Some(mark) if mark >= *used => mark,
                _ => {
                    let size = state
                        .committed
                        .iter()
                        .find(|r| r.company == me && &r.table == table && r.from == *from)
                        .map_or(*used, |r| r.size());
                    (*used + ahead(size)).min(size.max(*used))
                }
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primary::machine::Range;

    /// A range of codes 1 to `to`, `used` of them drawn.
    fn range_of(to: i64, used: i64) -> PersistentState {
        let mut s = PersistentState::default();
        s.committed.insert(Range {
            company: "A".into(),
            table: "customer".into(),
            from: 1,
            to,
            term: 1,
        });
        s.codes_used
            .entry("customer".into())
            .or_default()
            .insert(1, used);
        s
    }

    fn state(used: i64) -> PersistentState {
        range_of(100_000, used)
    }

    fn counter(s: &PersistentState) -> i64 {
        s.codes_used["customer"][&1]
    }

    #[test]
    fn the_store_is_written_again_only_when_draws_pass_the_mark() {
        // Nothing stored yet: the mark goes AHEAD past the draws.
        let first = on_disk("A", &state(1), None);
        assert_eq!(counter(&first), 1 + AHEAD);
        // Draws below the mark leave the stored state as it is, so the
        // driver has nothing to write.
        for used in 2..=1 + AHEAD {
            assert_eq!(on_disk("A", &state(used), Some(&first)), first);
        }
        // Past it, a new mark.
        let second = on_disk("A", &state(2 + AHEAD), Some(&first));
        assert_eq!(counter(&second), 2 + 2 * AHEAD);
        // Never past the range's end.
        assert_eq!(counter(&on_disk("A", &range_of(2_000, 1_990), None)), 2_000);
        // A small range keeps a small reserve, a block of 10 none at all.
        assert_eq!(counter(&on_disk("A", &range_of(320, 1), None)), 21);
        assert_eq!(counter(&on_disk("A", &range_of(10, 3), None)), 3);
    }

    #[test]
    fn a_stored_mark_is_never_below_a_code_drawn() {
        let mut stored: Option<PersistentState> = None;
        for used in 1..=100 {
            let disk = on_disk("A", &range_of(100, used), stored.as_ref());
            assert!(
                counter(&disk) >= used,
                "{used} drawn, {} stored",
                counter(&disk)
            );
            stored = Some(disk);
        }
    }
}

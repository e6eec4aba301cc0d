//! A branch on a slow link (20 Mbit/s, 50 ms round trip: a shaped veth
//! pair between two network namespaces and a delaying proxy) joins, holds
//! every record, and catches up after edits made while it was stopped.
//! Needs root and iproute2 (as CI has); skipped, saying why, without them.

use elo_tests::slow_link::cannot_make;
use elo_tests::slow_link_workloads::w1_w2;

#[test]
fn a_branch_on_a_slow_link_joins_holds_every_record_and_catches_up() {
    if let Some(why) = cannot_make() {
        eprintln!("skipped: {why}");
        return;
    }
    let figures = w1_w2(2_000).unwrap_or_else(|why| panic!("{why}"));
    for (name, v, unit) in &figures {
        eprintln!("{name}: {v:.2} {unit}");
    }
    // Every step is bounded (a stalled one fails saying which). The bytes
    // show the records went across the link and not some other way (no
    // compression gets 2,000 records under 300 B each), and that they
    // went packed (unpacked, they took ~1,800 B a record).
    let w1_sent = figures
        .iter()
        .find(|f| f.0 == "W1 bytes head → branch (veth)")
        .map_or(0.0, |f| f.1);
    assert!(
        (0.6..2.0).contains(&w1_sent),
        "2,000 records of ~1.4 KB crossed the link in {w1_sent} MB"
    );
}

//! `elo-bench link [RECORDS] [--runs R]`: a branch on a slow link (issue
//! 15, item 2). The head office and the branch each run `elo node` in a
//! network namespace of their own, joined by a veth pair shaped to 20
//! Mbit/s each way with a 50 ms round trip ([`elo_tests::slow_link`]), on
//! the peers' records (default 100,000): W1 and W2 with the bytes each way
//! ([`elo_tests::slow_link_workloads`]).

use elo_tests::slow_link::BRANCH_LINK;
use elo_tests::slow_link_workloads::w1_w2;

use super::bench_peers::{records_and_runs, summarize};

pub fn run(args: &[String]) {
    let (n, runs) = records_and_runs(args);
    if let Some(why) = elo_tests::slow_link::cannot_make() {
        eprintln!("elo-bench link: cannot make the slow link: {why}");
        std::process::exit(1);
    }
    let mut all = Vec::new();
    for i in 0..runs {
        println!(
            "-- run {} of {runs}: {n} peer records, {} Mbit/s, {} ms round trip",
            i + 1,
            BRANCH_LINK.mbit,
            BRANCH_LINK.one_way.as_millis() * 2
        );
        let figures = w1_w2(n.max(100)).unwrap_or_else(|why| {
            eprintln!("elo-bench link: {why}");
            std::process::exit(1);
        });
        for (name, v, unit) in &figures {
            println!("  {name}: {v:.2} {unit}");
        }
        all.push(figures);
    }
    println!("-- {n} peer records over the slow link, {runs} run(s): min / median / max");
    summarize(&all);
}

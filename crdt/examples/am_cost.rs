use automerge::{ActorId, AutoCommit, Automerge, ROOT, transaction::Transactable};
use std::time::Instant;
fn main() {
    let n = 5000;
    let t = Instant::now();
    let mut docs: Vec<AutoCommit> = (0..n)
        .map(|_| AutoCommit::new().with_actor(ActorId::from(b"abc".as_slice())))
        .collect();
    let new = t.elapsed();
    let t = Instant::now();
    for d in docs.iter_mut() {
        for k in 0..30 {
            d.put(ROOT, format!("field_{k}"), "some value text")
                .unwrap();
        }
    }
    let puts = t.elapsed();
    let t = Instant::now();
    for d in docs.iter_mut() {
        d.commit();
    }
    let commit = t.elapsed();
    let t = Instant::now();
    for _ in 0..n {
        let mut d = Automerge::new();
        d.set_actor(ActorId::from(b"abc".as_slice()));
        let mut tx = d.transaction();
        for k in 0..30 {
            tx.put(ROOT, format!("field_{k}"), "some value text")
                .unwrap();
        }
        tx.commit();
    }
    let raw = t.elapsed();
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "new {:.1} µs, 30 puts {:.1} µs, commit {:.1} µs, Automerge+tx total {:.1} µs",
        per(new),
        per(puts),
        per(commit),
        per(raw)
    );
}

//! Compacts a store file and prints its size before and after:
//! `cargo run --release -p elo-node --example compact -- DIR/store.redb`.
fn main() {
    let path = std::env::args().nth(1).expect("path to store.redb");
    let before = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let t = std::time::Instant::now();
    let mut db = redb::Database::builder()
        .set_cache_size(32 * 1024 * 1024)
        .open(&path)
        .expect("open");
    let did = db.compact().expect("compact");
    drop(db);
    let after = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "compacted={did} {:.1} MB -> {:.1} MB in {:.2} s",
        before as f64 / 1e6,
        after as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
}

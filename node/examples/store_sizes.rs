//! Bytes of keys and values per table of a store file (closed):
//! `cargo run --release -p elo-node --example store_sizes -- DIR/store.redb`.
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

fn main() {
    let path = std::env::args().nth(1).expect("path to store.redb");
    let db = redb::Database::open(&path).expect("open");
    let r = db.begin_read().expect("read");
    let docs: TableDefinition<&str, &[u8]> = TableDefinition::new("docs-1");
    let changes: TableDefinition<u64, &[u8]> = TableDefinition::new("changes-1");
    let doc_seq: TableDefinition<&str, u64> = TableDefinition::new("doc-seq-1");
    let (mut n, mut k, mut v) = (0u64, 0u64, 0u64);
    for e in r.open_table(docs).expect("docs").iter().expect("iter") {
        let (a, b) = e.expect("entry");
        n += 1;
        k += a.value().len() as u64;
        v += b.value().len() as u64;
    }
    println!(
        "docs: {n} entries, keys {k} B, values {v} B ({} B avg)",
        v / n.max(1)
    );
    let (mut n2, mut v2) = (0u64, 0u64);
    for e in r
        .open_table(changes)
        .expect("changes")
        .iter()
        .expect("iter")
    {
        let (_, b) = e.expect("entry");
        n2 += 1;
        v2 += b.value().len() as u64;
    }
    println!(
        "changes: {n2} entries, values {v2} B ({} B avg)",
        v2 / n2.max(1)
    );
    let n3 = r
        .open_table(doc_seq)
        .expect("doc_seq")
        .iter()
        .expect("iter")
        .count();
    println!("doc-seq: {n3} entries");
    println!(
        "file: {} B",
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
    );
}

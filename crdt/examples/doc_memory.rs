//! Memory of loaded record documents: `cargo run --release -p elo-crdt --example doc_memory`.
use elo_crdt::{Author, Kind, RecordDoc, RecordPatch};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let rows: Vec<serde_json::Value> = std::fs::read_to_string("/tmp/c20k.jsonl")
        .unwrap_or_default()
        .lines()
        .take(1000)
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let author = Author {
        company: "11222333000181",
        time_ms: 1,
    };
    let saved: Vec<_> = rows
        .iter()
        .map(|r| {
            let p = RecordPatch::from_json(Kind::Customer, r).unwrap();
            let id = p.doc_id(Kind::Customer).unwrap();
            let (b, _) = RecordDoc::create_bytes(&id, &p, author, b"a").unwrap();
            (id, b)
        })
        .collect();
    let before = rss_kib();
    let mut docs = Vec::new();
    for (id, b) in &saved {
        docs.push(RecordDoc::load(b, b"a", id).unwrap());
    }
    let loaded = rss_kib();
    let edit =
        RecordPatch::from_json(Kind::Customer, &serde_json::json!({"notes": "editado"})).unwrap();
    for ((id, _), d) in saved.iter().zip(docs.iter_mut()) {
        d.apply(id, &edit, author).unwrap();
    }
    let edited = rss_kib();
    for d in docs.iter_mut() {
        let _ = d.save();
    }
    let after_save = rss_kib();
    println!(
        "1000 docs: loaded +{} KiB, edited +{} KiB, saved +{} KiB",
        loaded - before,
        edited - loaded,
        after_save - edited
    );
}

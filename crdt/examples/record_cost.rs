//! What one record costs to build, save and load (release build):
//! `cargo run --release -p elo-crdt --example record_cost`.

use std::time::Instant;

use elo_crdt::{Author, Kind, RecordDoc, RecordPatch};

fn main() {
    let n = 5000u64;
    // Customers shaped like an ERP's, ~1 KB each (the CPFs need not be
    // distinct for this measure, only valid).
    let rows: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "cpf": "52998224725", "name": format!("Cliente {i} da Silva"), "zip_code": "01310-100",
                "street": "Avenida Paulista", "number": "1000", "district": "Bela Vista", "city": "São Paulo",
                "state": "SP", "email": format!("c{i}@exemplo.com.br"), "mobile_phone": "(11) 98765-4321",
                "credit_limit": "1500.00", "birth_date": "1985-06-15", "notes": "x".repeat(300),
                "extra": {"segmento": "varejo"}, "addresses": {"delivery": {"zip_code": "04538-132", "state": "SP"}}
            })
        })
        .collect();
    let n = rows.len();
    let t = Instant::now();
    let patches: Vec<_> = rows
        .iter()
        .map(|r| RecordPatch::from_json(Kind::Customer, r).unwrap())
        .collect();
    let parse = t.elapsed();
    let t = Instant::now();
    let mut docs: Vec<_> = patches
        .iter()
        .map(|p| {
            let id = p.doc_id(Kind::Customer).unwrap();
            let mut d = RecordDoc::new(b"actor-actor-actor-actor-actor-actor-12");
            d.apply(
                &id,
                p,
                Author {
                    company: "11222333000181",
                    time_ms: 1,
                },
            )
            .unwrap();
            (id, d)
        })
        .collect();
    let build = t.elapsed();
    let t = Instant::now();
    let fast: Vec<_> = patches
        .iter()
        .map(|p| {
            let id = p.doc_id(Kind::Customer).unwrap();
            RecordDoc::create_bytes(
                &id,
                p,
                Author {
                    company: "11222333000181",
                    time_ms: 1,
                },
                b"actor-actor-actor-actor-actor-actor-12",
            )
            .unwrap()
        })
        .collect();
    let fast_t = t.elapsed();
    println!(
        "create_bytes {:.1} µs ({} B avg)",
        fast_t.as_secs_f64() * 1e6 / n as f64,
        fast.iter().map(|f| f.0.len()).sum::<usize>() / n
    );
    let t = Instant::now();
    for (_, d) in docs.iter_mut() {
        d.heads();
    }
    let heads = t.elapsed();
    let t = Instant::now();
    let saved: Vec<Vec<u8>> = docs.iter_mut().map(|(_, d)| d.save()).collect();
    let save = t.elapsed();
    let t = Instant::now();
    for ((id, _), b) in docs.iter().zip(&saved) {
        RecordDoc::load(b, b"x", id).unwrap();
    }
    let load = t.elapsed();
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "{n} records: parse {:.1} µs, build {:.1} µs, heads {:.1} µs, save {:.1} µs ({} B avg), load {:.1} µs",
        per(parse),
        per(build),
        per(heads),
        per(save),
        saved.iter().map(Vec::len).sum::<usize>() / n,
        per(load)
    );
}

//! Documents packed with a dictionary the store trained (see `packed`,
//! `learn`), against real redb files.

use elo_crdt::{DocId, DocPayload, Kind, RecordDoc, RecordPatch};
use redb::{ReadableDatabase, ReadableTable};
use serde_json::json;

use super::learn::TRAIN_AT;
use super::packed::PACKED;
use super::tables::DOCS;
use super::{Store, StoreError, WriteOp, read};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(
        &dir.path().join("store.redb"),
        b"matriz".to_vec(),
        "A".into(),
    )
    .unwrap()
}

/// A product with fields that vary as a catalogue's do.
fn product(n: usize) -> (DocId, RecordPatch) {
    let patch = RecordPatch::from_json(
        Kind::Product,
        &json!({
            "sku": format!("SKU-{n:06}"),
            "description": format!("Parafuso sextavado {n} mm aço inox, caixa com {} unidades", n % 97),
            "unit": "CX",
            "reference": format!("REF{:08}", n * 7919 % 100_000_000),
            "ncm": "73181500",
            "sale_price": (n % 1000) as f64 + 0.5,
        }),
    )
    .unwrap();
    (patch.doc_id(Kind::Product).unwrap(), patch)
}

fn put_products(store: &mut Store, range: std::ops::Range<usize>) {
    let ops = range
        .map(|n| {
            let (id, patch) = product(n);
            WriteOp::Put {
                id,
                patch,
                return_record: false,
            }
        })
        .collect();
    let (results, _) = store.write_batch(ops, 1_000).unwrap();
    assert!(results.iter().all(Result::is_ok));
}

/// Every stored value, raw.
fn values(store: &Store) -> Vec<(String, Vec<u8>)> {
    let txn = store.database().begin_read().unwrap();
    let docs = txn.open_table(DOCS).unwrap();
    docs.iter()
        .unwrap()
        .map(|i| {
            let (k, v) = i.unwrap();
            (k.value().to_string(), v.value().to_vec())
        })
        .collect()
}

#[test]
fn documents_are_packed_once_their_kind_has_a_dictionary_and_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let total = TRAIN_AT + 300;
    // A product is a main document and a part per price category: a sixth
    // of TRAIN_AT products stays below it.
    put_products(&mut store, 0..TRAIN_AT / 6);
    // Not enough to learn from yet: stored as automerge saves them.
    assert!(values(&store).iter().all(|(_, v)| v[0] != PACKED));
    for start in (TRAIN_AT / 6..total).step_by(100) {
        put_products(&mut store, start..(start + 100).min(total));
    }
    let stored = values(&store);
    assert!(stored.len() >= total);
    assert!(
        stored.iter().all(|(_, v)| v[0] == PACKED),
        "those stored before the dictionary are packed with it too"
    );
    let db = store.database();
    // The main documents' sizes, packed and as members get them.
    let mains: Vec<&(String, Vec<u8>)> = stored
        .iter()
        .filter(|(k, _)| k.matches('/').count() == 1)
        .collect();
    assert_eq!(mains.len(), total);
    let packed: usize = mains.iter().map(|(_, v)| v.len()).sum();
    let mut plain = 0;
    for n in [0, 1, TRAIN_AT - 1, TRAIN_AT, total - 1] {
        let (id, _) = product(n);
        let record = read::record(&db, &id).unwrap().unwrap();
        assert_eq!(record.to_json()["sku"], format!("SKU-{n:06}"));
        let got = read::docs_for_peer(&db, &[(id.to_string(), Vec::new())]).unwrap();
        let DocPayload::Whole(bytes) = &got[0].1 else {
            panic!("a whole document")
        };
        plain += bytes.len();
        assert!(
            RecordDoc::load(bytes, b"x", &id).is_ok(),
            "members get automerge's bytes"
        );
    }
    assert!(
        packed / total < plain / 5 * 2 / 3,
        "packed {} B a document against {} B unpacked",
        packed / total,
        plain / 5
    );
    assert_eq!(
        read::list(&db, Kind::Product, None, total + 10, false)
            .unwrap()
            .len(),
        total
    );
    // An edit of a packed document, and a store opened again.
    let (id, _) = product(3);
    let edit =
        RecordPatch::from_json(Kind::Product, &json!({"sku": "SKU-000003", "unit": "UN"})).unwrap();
    let (results, _) = store
        .write_batch(
            vec![WriteOp::Put {
                id: id.clone(),
                patch: edit,
                return_record: false,
            }],
            2_000,
        )
        .unwrap();
    assert!(results[0].is_ok());
    drop((store, db));
    let store = open(&dir);
    let record = read::record(&store.database(), &id).unwrap().unwrap();
    assert_eq!(record.to_json()["unit"], "UN");
    assert!(
        record.to_json()["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Parafuso sextavado 3 mm"))
    );
}

#[test]
fn a_value_that_does_not_unpack_is_an_error_naming_its_record_and_the_rest_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    put_products(&mut store, 0..TRAIN_AT + 10);
    let db = store.database();
    let (broken, _) = product(5);
    let (unknown, _) = product(6);
    let good = values(&store)
        .into_iter()
        .find(|(k, _)| k == broken.as_str())
        .unwrap()
        .1;
    {
        let txn = db.begin_write().unwrap();
        {
            let mut docs = txn.open_table(DOCS).unwrap();
            let mut cut = good.clone();
            cut.truncate(good.len() - 7);
            docs.insert(broken.as_str(), cut.as_slice()).unwrap();
            let mut other = good.clone();
            other[1] ^= 0xff;
            docs.insert(unknown.as_str(), other.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    match read::record(&db, &broken) {
        Err(e @ StoreError::Unpack { .. }) => {
            assert!(e.to_string().contains(broken.as_str()), "{e}")
        }
        other => panic!("expected an unpack error, got {other:?}"),
    }
    match read::record(&db, &unknown) {
        Err(e) => assert!(e.to_string().contains("does not hold"), "{e}"),
        other => panic!("expected an unpack error, got {other:?}"),
    }
    assert!(read::record(&db, &product(7).0).unwrap().is_some());
}

#[test]
fn salvage_reads_packed_documents() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    put_products(&mut store, 0..TRAIN_AT + 50);
    let stored = values(&store);
    assert!(stored.iter().all(|(_, v)| v[0] == PACKED));
    drop(store);
    let out = dir.path().join("salvaged.jsonl");
    let found = super::salvage::salvage(&dir.path().join("store.redb"), &out).unwrap();
    assert_eq!(found.documents, stored.len());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("SKU-001049"));
}

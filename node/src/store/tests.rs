//! Unit tests of the store against real redb files in temporary folders.

use elo_crdt::{DocId, DocPayload, Kind, RecordPatch};
use redb::{Database, ReadableDatabase, TableDefinition};
use serde_json::json;

use super::checkpoint::checkpoint;
use super::merge::prepare_merge;
use super::tables::{CHECKPOINTS_V1, META, META_SCHEMA, META_STOCK_CHECKPOINT_V1};
use super::{ReplicatedLog, Store, StoreHandle, WriteOp, read};

const PEER_A: &str = "12D3KooWPeerA";
const PEER_B: &str = "12D3KooWPeerB";

fn open(dir: &tempfile::TempDir, company: &str) -> Store {
    Store::open(
        &dir.path().join("store.redb"),
        company.as_bytes().to_vec(),
        company.to_string(),
    )
    .unwrap()
}

fn product(sku: &str, description: &str) -> (DocId, RecordPatch) {
    let patch = RecordPatch::from_json(
        Kind::Product,
        &json!({"sku": sku, "description": description}),
    )
    .unwrap();
    (patch.doc_id(Kind::Product).unwrap(), patch)
}

fn put(store: &mut Store, sku: &str, description: &str) -> DocId {
    let (id, patch) = product(sku, description);
    let (results, _) = store
        .write_batch(
            vec![WriteOp::Put {
                id: id.clone(),
                patch,
                return_record: false,
            }],
            1_000,
        )
        .unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
    id
}

fn set_checkpoint(store: &mut Store, log: ReplicatedLog, peer: &str, seq: u64) {
    let (results, entries) = store
        .write_batch(
            vec![WriteOp::Checkpoint {
                log,
                peer: peer.to_string(),
                seq,
            }],
            1_000,
        )
        .unwrap();
    assert!(results[0].is_ok());
    assert!(entries.is_empty(), "a checkpoint is not a change");
}

/// Schema 1 kept record checkpoints in `checkpoints-1` and stock
/// checkpoints as `stock_checkpoint/{peer}` metadata text.
fn write_schema_1(path: &std::path::Path) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut old = txn.open_table(CHECKPOINTS_V1).unwrap();
        old.insert(PEER_A, 7).unwrap();
        old.insert(PEER_B, 3).unwrap();
        let mut meta = txn.open_table(META).unwrap();
        meta.insert(META_SCHEMA, b"1".as_slice()).unwrap();
        let key = format!("{META_STOCK_CHECKPOINT_V1}{PEER_A}");
        meta.insert(key.as_str(), b"5".as_slice()).unwrap();
        meta.insert("listen_addrs", b"[]".as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn schema_1_checkpoints_survive_the_move_to_one_table() {
    let dir = tempfile::tempdir().unwrap();
    write_schema_1(&dir.path().join("store.redb"));
    let store = open(&dir, "11222333000181");
    let db = store.database();
    assert_eq!(checkpoint(&db, ReplicatedLog::Records, PEER_A).unwrap(), 7);
    assert_eq!(checkpoint(&db, ReplicatedLog::Records, PEER_B).unwrap(), 3);
    assert_eq!(checkpoint(&db, ReplicatedLog::Stock, PEER_A).unwrap(), 5);
    assert_eq!(checkpoint(&db, ReplicatedLog::Stock, PEER_B).unwrap(), 0);
    let stock_key = format!("{META_STOCK_CHECKPOINT_V1}{PEER_A}");
    assert_eq!(read::meta(&db, &stock_key).unwrap(), None);
    assert_eq!(
        read::meta(&db, META_SCHEMA).unwrap(),
        Some(super::migrate::SCHEMA_VERSION.to_string().into_bytes())
    );
    // Other metadata stays, and the old table is gone.
    assert_eq!(
        read::meta(&db, "listen_addrs").unwrap(),
        Some(b"[]".to_vec())
    );
    let txn = db.begin_read().unwrap();
    let old: TableDefinition<&str, u64> = CHECKPOINTS_V1;
    assert!(txn.open_table(old).is_err());
    drop(txn);
    drop(db);
    drop(store);
    // Opening again migrates nothing twice.
    assert_schema_1_checkpoints_moved(&dir);
}

/// Opens the store of `write_schema_1` and finds its checkpoints moved.
fn assert_schema_1_checkpoints_moved(dir: &tempfile::TempDir) {
    let store = open(dir, "11222333000181");
    let db = store.database();
    let schema = super::migrate::schema_of(&db).unwrap();
    assert_eq!(schema, super::migrate::SCHEMA_VERSION);
    assert_eq!(checkpoint(&db, ReplicatedLog::Records, PEER_A).unwrap(), 7);
    assert_eq!(checkpoint(&db, ReplicatedLog::Stock, PEER_A).unwrap(), 5);
}

#[test]
fn a_migration_stopped_midway_carries_on_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    write_schema_1(&path);
    {
        // As after a crash between migrations 1 and 2: 1 is committed.
        let db = Database::create(&path).unwrap();
        super::migrate::migrate_to(&db, 1).unwrap();
        assert_eq!(super::migrate::schema_of(&db).unwrap(), 1);
        let txn = db.begin_read().unwrap();
        assert!(txn.open_table(CHECKPOINTS_V1).is_ok(), "step 2 not begun");
    }
    assert_schema_1_checkpoints_moved(&dir);
}

#[test]
fn a_store_of_a_newer_schema_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(META_SCHEMA, b"99".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let Err(e) = Store::open(&path, b"a".to_vec(), "11222333000181".into()) else {
        panic!("a newer store opened");
    };
    let message = e.to_string();
    assert!(message.contains("schema 99"), "{message}");
    let known = format!("up to {}", super::migrate::SCHEMA_VERSION);
    assert!(message.contains(&known), "{message}");
}

#[test]
fn the_logs_of_one_peer_have_independent_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir, "11222333000181");
    set_checkpoint(&mut store, ReplicatedLog::Records, PEER_A, 40);
    set_checkpoint(&mut store, ReplicatedLog::Stock, PEER_A, 9);
    set_checkpoint(&mut store, ReplicatedLog::Records, PEER_A, 41);
    let db = store.database();
    assert_eq!(checkpoint(&db, ReplicatedLog::Records, PEER_A).unwrap(), 41);
    assert_eq!(checkpoint(&db, ReplicatedLog::Stock, PEER_A).unwrap(), 9);
    assert_eq!(checkpoint(&db, ReplicatedLog::Stock, PEER_B).unwrap(), 0);
}

#[test]
fn a_reset_clears_every_log_of_the_peer_or_of_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir, "11222333000181");
    for peer in [PEER_A, PEER_B] {
        set_checkpoint(&mut store, ReplicatedLog::Records, peer, 12);
        set_checkpoint(&mut store, ReplicatedLog::Stock, peer, 4);
    }
    let db = store.database();
    store.reset_checkpoints(Some(PEER_A)).unwrap();
    for log in [ReplicatedLog::Records, ReplicatedLog::Stock] {
        assert_eq!(checkpoint(&db, log, PEER_A).unwrap(), 0);
    }
    assert_eq!(checkpoint(&db, ReplicatedLog::Records, PEER_B).unwrap(), 12);
    assert_eq!(checkpoint(&db, ReplicatedLog::Stock, PEER_B).unwrap(), 4);
    store.reset_checkpoints(None).unwrap();
    for log in [ReplicatedLog::Records, ReplicatedLog::Stock] {
        assert_eq!(checkpoint(&db, log, PEER_B).unwrap(), 0);
    }
}

/// The same through the handle the node uses, across the writer thread.
#[tokio::test]
async fn the_handle_reads_writes_and_resets_checkpoints_per_log() {
    let dir = tempfile::tempdir().unwrap();
    let handle = StoreHandle::spawn(open(&dir, "11222333000181"));
    let checkpoint_of = |log| handle.checkpoint(log, PEER_A.to_string());
    handle
        .write(vec![
            WriteOp::Checkpoint {
                log: ReplicatedLog::Records,
                peer: PEER_A.to_string(),
                seq: 3,
            },
            WriteOp::Checkpoint {
                log: ReplicatedLog::Stock,
                peer: PEER_A.to_string(),
                seq: 8,
            },
        ])
        .await
        .unwrap();
    assert_eq!(checkpoint_of(ReplicatedLog::Records).await.unwrap(), 3);
    assert_eq!(checkpoint_of(ReplicatedLog::Stock).await.unwrap(), 8);
    handle
        .reset_checkpoints(Some(PEER_A.to_string()))
        .await
        .unwrap();
    assert_eq!(checkpoint_of(ReplicatedLog::Records).await.unwrap(), 0);
    assert_eq!(checkpoint_of(ReplicatedLog::Stock).await.unwrap(), 0);
    handle.close().await.unwrap();
}

#[test]
fn a_refused_main_document_stops_its_parts_and_not_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir, "11222333000181");
    let (good, good_patch) = product("A-1", "Parafuso");
    let bad_patch = RecordPatch::from_json(Kind::Product, &json!({"sku": "B-2"})).unwrap();
    let bad = bad_patch.doc_id(Kind::Product).unwrap();
    let (results, entries) = store
        .write_batch(
            vec![
                WriteOp::Put {
                    id: bad.clone(),
                    patch: bad_patch,
                    return_record: true,
                },
                WriteOp::Put {
                    id: good.clone(),
                    patch: good_patch,
                    return_record: true,
                },
            ],
            1_000,
        )
        .unwrap();
    assert!(results[0].is_err(), "a new product needs its description");
    let stored = results[1].as_ref().unwrap();
    assert!(stored.created);
    assert_eq!(stored.seq, Some(1));
    assert!(stored.record.is_some());
    assert_eq!(entries.len(), 1);
    let db = store.database();
    assert!(read::record(&db, &bad).unwrap().is_none());
    assert!(read::record(&db, &good).unwrap().is_some());
}

/// A document edited at one company reaches another through
/// `prepare_merge` and the writer, whether or not the receiver changed it
/// in between.
#[test]
fn a_received_document_merges_into_the_stored_one() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = open(&dir_a, "11222333000181");
    let mut b = open(&dir_b, "44555666000172");
    let id = put(&mut a, "A-1", "Parafuso");
    let whole = |s: &Store| {
        read::docs_for_peer(&s.database(), &[(id.to_string(), vec![])])
            .unwrap()
            .remove(0)
            .1
    };
    // First copy: stored as received.
    let op = prepare_merge(&b.database(), &id, whole(&a), "11222333000181")
        .unwrap()
        .unwrap();
    assert!(matches!(op, WriteOp::Merge { .. }));
    let (results, entries) = b.write_batch(vec![op], 2_000).unwrap();
    assert!(results[0].as_ref().unwrap().created);
    assert_eq!(entries[0].company, "11222333000181");
    // A's edit, merged off the writer while B edits the same record: the
    // writer merges again and both edits stand.
    put(&mut a, "A-1", "Parafuso sextavado");
    let have = read::heads_of(&b.database(), &[id.to_string()]).unwrap()[0]
        .clone()
        .unwrap();
    let payload = read::docs_for_peer(&a.database(), &[(id.to_string(), have)])
        .unwrap()
        .remove(0)
        .1;
    assert!(matches!(payload, DocPayload::Changes(_)));
    let op = prepare_merge(&b.database(), &id, payload, "11222333000181")
        .unwrap()
        .unwrap();
    assert!(matches!(op, WriteOp::Merged { .. }));
    let reference =
        RecordPatch::from_json(Kind::Product, &json!({"sku": "A-1", "reference": "R9"})).unwrap();
    b.write_batch(
        vec![WriteOp::Put {
            id: id.clone(),
            patch: reference,
            return_record: false,
        }],
        3_000,
    )
    .unwrap();
    let (results, _) = b.write_batch(vec![op], 4_000).unwrap();
    assert!(results[0].as_ref().unwrap().seq.is_some());
    let record = read::record(&b.database(), &id).unwrap().unwrap();
    assert_eq!(
        record.values.get("description"),
        Some(&elo_crdt::FieldValue::Text("Parafuso sextavado".into()))
    );
    assert_eq!(
        record.values.get("reference"),
        Some(&elo_crdt::FieldValue::Text("R9".into()))
    );
}

/// A node whose clock was set back: its second write, made after the
/// first, is listed after it, as the one that set the current value.
#[test]
fn history_follows_the_changes_not_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir, "11222333000181");
    let (id, patch) = product("KIT-H", "first");
    let op = |patch| WriteOp::Put {
        id: id.clone(),
        patch,
        return_record: false,
    };
    store.write_batch(vec![op(patch)], 9_000_000).unwrap();
    let (_, second) = product("KIT-H", "second");
    store.write_batch(vec![op(second)], 1_000).unwrap();
    let history = read::history(&store.database(), &id).unwrap().unwrap();
    let times: Vec<i64> = history.iter().map(|e| e.time_ms).collect();
    assert_eq!(times, [9_000_000, 1_000], "{history:?}");
}

fn customer(cpf: &str, erp_code: &str) -> WriteOp {
    let patch = RecordPatch::from_json(
        Kind::Customer,
        &json!({"cpf": cpf, "name": "Ana", "erp_code": erp_code}),
    )
    .unwrap();
    WriteOp::Put {
        id: patch.doc_id(Kind::Customer).unwrap(),
        patch,
        return_record: false,
    }
}

/// An ERP's code names one record per company and kind: a second record
/// given the same code is refused (alone or in one bulk write) naming the
/// holder, and `erp:CODE` keeps answering the holder.
#[test]
fn an_erp_code_names_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir, "11222333000181");
    let first = DocId::from_key(Kind::Customer, "52998224725").unwrap();
    let second = DocId::from_key(Kind::Customer, "11144477735").unwrap();
    let (r, _) = store
        .write_batch(vec![customer("52998224725", "4521")], 1_000)
        .unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    let (r, _) = store
        .write_batch(vec![customer("11144477735", "4521")], 2_000)
        .unwrap();
    let refused = format!("{:?}", r[0].as_ref().unwrap_err());
    assert!(
        refused.contains("erp_code") && refused.contains(first.as_str()),
        "{refused}"
    );
    assert!(
        read::record(&store.database(), &second).unwrap().is_none(),
        "nothing stored"
    );
    let db = store.database();
    assert_eq!(
        super::local::id_by_own_code(&db, Kind::Customer, "4521").unwrap(),
        Some(first.clone())
    );
    // The same record again with its code is fine.
    let (r, _) = store
        .write_batch(vec![customer("52998224725", "4521")], 3_000)
        .unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    // Two new rows with one code in one batch: the second is refused.
    let (r, _) = store
        .write_batch(
            vec![customer("11144477735", "77"), customer("39053344705", "77")],
            4_000,
        )
        .unwrap();
    assert!(r[0].is_ok() && r[1].is_err(), "{r:?}");
    // A deleted record's code may be given to another.
    store
        .write_batch(vec![WriteOp::Delete { id: first.clone() }], 5_000)
        .unwrap();
    let (r, _) = store
        .write_batch(vec![customer("39053344705", "4521")], 6_000)
        .unwrap();
    assert!(r[0].is_ok(), "{r:?}");
    let third = DocId::from_key(Kind::Customer, "39053344705").unwrap();
    assert_eq!(
        super::local::id_by_own_code(&db, Kind::Customer, "4521").unwrap(),
        Some(third)
    );
    assert_eq!(
        super::local::own_codes_of(&db, &[first.to_string()]).unwrap(),
        vec![None]
    );
}

fn put_json(kind: Kind, body: serde_json::Value) -> WriteOp {
    let patch = RecordPatch::from_json(kind, &body).unwrap();
    WriteOp::Put {
        id: patch.doc_id(kind).unwrap(),
        patch,
        return_record: true,
    }
}

/// Company records are kept decoded between reads (`companies`): every
/// change to one, written here or received, shows at the next read.
#[tokio::test]
async fn a_company_record_read_again_shows_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let handle = StoreHandle::spawn(open(&dir, "11222333000181"));
    let id = DocId::from_key(Kind::Company, "11444777000161").unwrap();
    let name = |r: Option<elo_crdt::Record>| r.and_then(|r| r.values.get("name").cloned());
    assert_eq!(handle.get(id.clone()).await.unwrap(), None);
    for n in ["Filial", "Filial Natal", "Filial Natal II"] {
        let op = put_json(Kind::Company, json!({"cnpj": "11444777000161", "name": n}));
        handle.write_one(op).await.unwrap().unwrap();
        // Twice: the second read is served from the copy kept.
        for _ in 0..2 {
            assert_eq!(
                name(handle.get(id.clone()).await.unwrap()),
                Some(elo_crdt::FieldValue::Text(n.into()))
            );
        }
    }
    // A change made at another company and merged here shows too.
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = open(&other_dir, "11444777000161");
    let whole = |db: &Database| match read::docs_for_peer(db, &[(id.to_string(), vec![])])
        .unwrap()
        .pop()
    {
        Some((_, DocPayload::Whole(bytes))) => bytes,
        other => panic!("no whole document: {other:?}"),
    };
    let copy = whole(&handle.database().unwrap());
    other
        .write_batch(
            vec![WriteOp::Merge {
                id: id.clone(),
                bytes: copy,
                origin: "11222333000181".into(),
                checked: None,
            }],
            1_000,
        )
        .unwrap();
    let op = put_json(
        Kind::Company,
        json!({"cnpj": "11444777000161", "listen_addrs": "/ip4/127.0.0.1/tcp/4001"}),
    );
    other.write_batch(vec![op], 2_000).unwrap();
    let bytes = whole(&other.database());
    handle
        .write(vec![WriteOp::Merge {
            id: id.clone(),
            bytes,
            origin: "11444777000161".into(),
            checked: None,
        }])
        .await
        .unwrap();
    let record = handle.get(id.clone()).await.unwrap().unwrap();
    assert_eq!(
        record.values.get("listen_addrs"),
        Some(&elo_crdt::FieldValue::Text(
            "/ip4/127.0.0.1/tcp/4001".into()
        ))
    );
    handle.close().await.unwrap();
}

/// A write answers with the whole record, parts it did not touch included,
/// as a read after it shows.
#[tokio::test]
async fn a_write_answers_with_the_parts_it_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let handle = StoreHandle::spawn(open(&dir, "11222333000181"));
    let first = put_json(
        Kind::Customer,
        json!({"cpf": "52998224725", "name": "Ana", "credit_limit": "1500.00"}),
    );
    let created = handle.write_one(first).await.unwrap().unwrap();
    let id = created.id.clone();
    assert_eq!(created.record, handle.get(id.clone()).await.unwrap());
    let edit = put_json(
        Kind::Customer,
        json!({"cpf": "52998224725", "city": "Natal"}),
    );
    let edited = handle.write_one(edit).await.unwrap().unwrap();
    let read_back = handle.get(id).await.unwrap();
    assert_eq!(edited.record, read_back);
    let record = read_back.unwrap();
    assert!(record.values.contains_key("credit_limit"), "{record:?}");
    assert!(record.values.contains_key("city"), "{record:?}");
    handle.close().await.unwrap();
}

/// Products `P{from}`..`P{to}` as puts.
fn products(from: usize, to: usize) -> Vec<WriteOp> {
    (from..to)
        .map(|i| {
            put_json(
                Kind::Product,
                json!({"sku": format!("P{i}"), "description": format!("product {i}")}),
            )
        })
        .collect()
}

#[test]
fn a_big_batch_made_on_every_core_stores_what_small_batches_store() {
    let (dir_big, dir_small) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut big = open(&dir_big, "11222333000181");
    let mut small = open(&dir_small, "11222333000181");
    // Enough products for the kind's dictionary, so the later batch packs
    // its new documents off the writer thread too.
    for start in (0..1_200).step_by(300) {
        let (r, _) = big
            .write_batch(products(start, start + 300), 1_000)
            .unwrap();
        assert!(r.iter().all(|r| r.is_ok()));
    }
    for start in (0..1_200).step_by(40) {
        let (r, _) = small
            .write_batch(products(start, start + 40), 1_000)
            .unwrap();
        assert!(r.iter().all(|r| r.is_ok()));
    }
    // New records, one of them twice, one refused (no description), and an
    // existing one edited.
    let mut mixed = products(2_000, 2_100);
    mixed.insert(
        50,
        put_json(
            Kind::Product,
            json!({"sku": "P2005", "description": "again"}),
        ),
    );
    mixed.insert(60, put_json(Kind::Product, json!({"sku": "NO-NAME"})));
    mixed.push(put_json(
        Kind::Product,
        json!({"sku": "P7", "description": "edited"}),
    ));
    let copy = |ops: &[WriteOp]| -> Vec<WriteOp> {
        ops.iter()
            .map(|op| match op {
                WriteOp::Put { id, patch, .. } => WriteOp::Put {
                    id: id.clone(),
                    patch: patch.clone(),
                    return_record: false,
                },
                _ => unreachable!("only puts here"),
            })
            .collect()
    };
    let (in_big, _) = big.write_batch(copy(&mixed), 2_000).unwrap();
    let mut in_small = Vec::new();
    for chunk in mixed.chunks(40) {
        in_small.extend(small.write_batch(copy(chunk), 2_000).unwrap().0);
    }
    assert_eq!(in_big.len(), in_small.len());
    for (b, s) in in_big.iter().zip(&in_small) {
        assert_eq!(b.is_ok(), s.is_ok(), "{b:?} / {s:?}");
    }
    assert!(
        in_big[60].is_err(),
        "a product without description is refused"
    );
    let (big_db, small_db) = (big.database(), small.database());
    for sku in ["P2000", "P2005", "P2099", "P7", "P1199"] {
        let id = DocId::from_key(Kind::Product, sku).unwrap();
        let (b, s) = (
            read::record(&big_db, &id).unwrap().expect("stored"),
            read::record(&small_db, &id).unwrap().expect("stored"),
        );
        assert_eq!(b.values, s.values, "{sku}");
    }
    let again = read::record(&big_db, &DocId::from_key(Kind::Product, "P2005").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        again.values.get("description"),
        Some(&elo_crdt::FieldValue::Text("again".into()))
    );
    assert!(
        read::record(&big_db, &DocId::from_key(Kind::Product, "NO-NAME").unwrap())
            .unwrap()
            .is_none()
    );
    // The new documents were packed with the dictionary.
    let txn = big_db.begin_read().unwrap();
    let docs = txn.open_table(super::tables::DOCS).unwrap();
    let value = docs
        .get(DocId::from_key(Kind::Product, "P2099").unwrap().as_str())
        .unwrap()
        .expect("stored");
    assert_eq!(value.value().first(), Some(&super::packed::PACKED));
}

/// Bytes the file takes on disk.
fn on_disk(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn a_new_store_is_not_compacted_and_one_with_freed_space_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    {
        let mut store = open(&dir, "11222333000181");
        let ops = (0..3000)
            .map(|i| {
                let (id, patch) = product(
                    &format!("P{i}"),
                    &format!("product {i} {}", "x".repeat(100)),
                );
                WriteOp::Put {
                    id,
                    patch,
                    return_record: false,
                }
            })
            .collect();
        let (results, _) = store.write_batch(ops, 1_000).unwrap();
        assert!(results.iter().all(|r| r.is_ok()));
    }
    // A store just loaded has nothing to give back.
    let loaded = on_disk(&path);
    assert!(!Store::compact_file_if_wasteful(&path).unwrap());
    assert_eq!(on_disk(&path), loaded);

    // 64 MB written and dropped again in the middle of the file: free pages
    // redb keeps for itself until compacted.
    const SCRATCH: TableDefinition<u64, &[u8]> = TableDefinition::new("scratch");
    {
        let db = Database::open(&path).unwrap();
        let blob = vec![7u8; 1 << 20];
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(SCRATCH).unwrap();
            for i in 0..64 {
                t.insert(i, blob.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("after the scratch", blob.as_slice())
            .unwrap();
        txn.commit().unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(SCRATCH).unwrap();
        txn.commit().unwrap();
    }
    let wasteful = on_disk(&path);
    assert!(wasteful > loaded + (40 << 20), "{loaded} then {wasteful}");
    assert!(Store::compact_file_if_wasteful(&path).unwrap());
    let compacted = on_disk(&path);
    assert!(
        compacted < loaded + (8 << 20),
        "{loaded}, {wasteful}, then {compacted}"
    );
    // And every record is still there.
    let store = open(&dir, "11222333000181");
    let id = DocId::from_key(Kind::Product, "P2999").unwrap();
    assert!(read::record(&store.database(), &id).unwrap().is_some());
}

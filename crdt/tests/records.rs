//! Records as automerge documents: field-level merges, concurrent creation of
//! one natural key, tombstones, validation refusing a record whole.

use elo_crdt::{Author, DocId, FieldValue, Kind, RecordDoc, RecordPatch};
use proptest::prelude::*;
use serde_json::json;

fn author(company: &str, t: i64) -> Author<'_> {
    Author {
        company,
        time_ms: t,
    }
}

fn put(doc: &mut RecordDoc, kind: Kind, body: serde_json::Value, company: &str) -> DocId {
    let patch = RecordPatch::from_json(kind, &body).expect("valid patch");
    let id = patch.doc_id(kind).expect("key");
    doc.apply(&id, &patch, author(company, 1_700_000_000_000))
        .expect("apply");
    id
}

fn reload(doc: &mut RecordDoc, actor: &[u8], id: &DocId) -> RecordDoc {
    RecordDoc::load(&doc.save(), actor, id).expect("load")
}

#[test]
fn same_key_created_offline_at_two_companies_is_one_record() {
    let mut a = RecordDoc::new(b"matriz");
    let mut b = RecordDoc::new(b"filial");
    let id_a = put(
        &mut a,
        Kind::Customer,
        json!({"cpf": "529.982.247-25", "name": "Ana", "city": "Recife"}),
        "A",
    );
    let id_b = put(
        &mut b,
        Kind::Customer,
        json!({"cpf": "52998224725", "name": "Ana", "email": "ana@example.com.br"}),
        "B",
    );
    assert_eq!(id_a, id_b);
    a.merge(&mut b).unwrap();
    b.merge(&mut a).unwrap();
    let ra = a.record().unwrap();
    assert_eq!(ra, b.record().unwrap());
    let j = ra.to_json();
    assert_eq!(j["city"], "Recife");
    assert_eq!(j["email"], "ana@example.com.br");
    assert_eq!(j["cpf"], "52998224725");
}

#[test]
fn concurrent_edits_of_different_fields_both_survive() {
    let mut a = RecordDoc::new(b"matriz");
    let id = put(
        &mut a,
        Kind::Product,
        json!({"sku": "ABC-1", "description": "Parafuso", "sale_price": "1.50"}),
        "A",
    );
    let mut b = reload(&mut a, b"filial", &id);
    put(
        &mut a,
        Kind::Product,
        json!({"sku": "ABC-1", "sale_price": 1.75}),
        "A",
    );
    put(
        &mut b,
        Kind::Product,
        json!({"sku": "ABC-1", "ncm": "7318.15.00"}),
        "B",
    );
    a.merge(&mut b).unwrap();
    let j = a.record().unwrap().to_json();
    assert_eq!(j["sale_price"], "1.75");
    assert_eq!(j["ncm"], "73181500");
    assert_eq!(j["description"], "Parafuso");
}

#[test]
fn delete_wins_over_a_concurrent_edit_which_returns_on_revival() {
    let mut a = RecordDoc::new(b"matriz");
    let id = put(
        &mut a,
        Kind::Customer,
        json!({"cpf": "11144477735", "name": "Bruno"}),
        "A",
    );
    let mut b = reload(&mut a, b"filial", &id);
    assert!(a.delete(author("A", 2)).is_some());
    put(
        &mut b,
        Kind::Customer,
        json!({"cpf": "11144477735", "city": "Natal"}),
        "B",
    );
    a.merge(&mut b).unwrap();
    b.merge(&mut a).unwrap();
    assert!(a.record().unwrap().deleted);
    assert!(b.record().unwrap().deleted);
    // A later put revives it, and B's concurrent edit is still there.
    put(
        &mut b,
        Kind::Customer,
        json!({"cpf": "11144477735", "mobile_phone": "(81) 99999-0000"}),
        "B",
    );
    let r = b.record().unwrap();
    assert!(!r.deleted);
    assert_eq!(r.to_json()["city"], "Natal");
}

#[test]
fn invalid_record_is_refused_whole_naming_every_field() {
    let err = RecordPatch::from_json(
        Kind::Customer,
        &json!({"cpf": "529.982.247-26", "name": "X", "state": "XX", "credit_limit": -5, "colour": "red"}),
    )
    .unwrap_err();
    let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"cpf"), "{err}");
    assert!(fields.contains(&"state"), "{err}");
    assert!(fields.contains(&"credit_limit"), "{err}");
    assert!(fields.contains(&"colour"), "{err}");
}

#[test]
fn creation_needs_required_fields_and_unchanged_puts_add_no_history() {
    let mut d = RecordDoc::new(b"a");
    let patch = RecordPatch::from_json(Kind::Product, &json!({"sku": "X1"})).unwrap();
    let id = patch.doc_id(Kind::Product).unwrap();
    let err = d.apply(&id, &patch, author("A", 1)).unwrap_err();
    assert_eq!(err.0[0].field, "description");
    assert!(!d.exists());
    put(
        &mut d,
        Kind::Product,
        json!({"sku": "X1", "description": "Caneta"}),
        "A",
    );
    put(
        &mut d,
        Kind::Product,
        json!({"sku": "X1", "description": "Caneta"}),
        "A",
    );
    let h = d.history();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].company, "A");
    assert!(h[0].fields.contains(&"description".to_string()));
}

#[test]
fn addresses_references_and_extra_fields_round_trip() {
    let mut d = RecordDoc::new(b"a");
    put(
        &mut d,
        Kind::Customer,
        json!({"cnpj": "11.222.333/0001-81", "name": "Loja", "extra": {"segmento": "varejo"},
               "addresses": {"delivery": {"zip_code": "01310-100", "state": "sp"}},
               "references": {"Maria": {"phone": "(11) 3333-4444"}}}),
        "A",
    );
    let j = d.record().unwrap().to_json();
    assert_eq!(j["extra"]["segmento"], "varejo");
    assert_eq!(j["addresses"]["delivery"]["zip_code"], "01310100");
    assert_eq!(j["addresses"]["delivery"]["state"], "SP");
    assert_eq!(j["references"]["Maria"]["phone"], "(11) 3333-4444");
    // Flat CSV columns mean the same thing.
    let flat = RecordPatch::from_json(
        Kind::Customer,
        &json!({"address.delivery.city": "São Paulo"}),
    )
    .unwrap();
    assert_eq!(flat.edits[0].0, "address.delivery.city");
}

/// One step of a random edit program.
#[derive(Clone, Debug)]
enum Step {
    Put {
        replica: usize,
        field: usize,
        value: u16,
    },
    Clear {
        replica: usize,
        field: usize,
    },
    Delete {
        replica: usize,
    },
    Sync {
        from: usize,
        to: usize,
    },
}

const FIELDS: [&str; 4] = ["name", "city", "notes", "credit_limit"];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..3usize, 0..4usize, any::<u16>()).prop_map(|(replica, field, value)| Step::Put { replica, field, value }),
        1 => (0..3usize, 1..4usize).prop_map(|(replica, field)| Step::Clear { replica, field }),
        1 => (0..3usize).prop_map(|replica| Step::Delete { replica }),
        2 => (0..3usize, 0..3usize).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random edits at three companies, merged in any order, end with the
    /// same heads and the same record everywhere.
    #[test]
    fn three_replicas_converge_whatever_the_merge_order(steps in proptest::collection::vec(step(), 1..40), order in Just([0usize, 1, 2]).prop_shuffle()) {
        let mut docs: Vec<RecordDoc> = (0..3u8).map(|i| RecordDoc::new(&[b'r', i])).collect();
        let base = json!({"cpf": "52998224725", "name": "base"});
        let id = put(&mut docs[0], Kind::Customer, base, "C0");
        let saved = docs[0].save();
        for (i, d) in docs.iter_mut().enumerate().skip(1) {
            *d = RecordDoc::load(&saved, &[b'r', i as u8], &id).unwrap();
        }
        for (t, s) in steps.iter().enumerate() {
            let company = "C";
            match *s {
                Step::Put { replica, field, value } => {
                    let v = if FIELDS[field] == "credit_limit" { json!(value) } else { json!(format!("v{value}")) };
                    let mut body = serde_json::Map::new();
                    body.insert(FIELDS[field].into(), v);
                    let patch = RecordPatch::from_json(Kind::Customer, &body.into()).unwrap();
                    docs[replica].apply(&id, &patch, author(company, t as i64)).unwrap();
                }
                Step::Clear { replica, field } => {
                    let mut body = serde_json::Map::new();
                    body.insert(FIELDS[field].into(), serde_json::Value::Null);
                    let patch = RecordPatch::from_json(Kind::Customer, &body.into()).unwrap();
                    docs[replica].apply(&id, &patch, author(company, t as i64)).unwrap();
                }
                Step::Delete { replica } => { docs[replica].delete(author(company, t as i64)); }
                Step::Sync { from, to } if from != to => {
                    let mut src = RecordDoc::load(&docs[from].save(), b"tmp", &id).unwrap();
                    docs[to].merge(&mut src).unwrap();
                }
                Step::Sync { .. } => {}
            }
        }
        // Everyone receives everyone's changes, in a shuffled order.
        for &i in &order {
            for j in 0..3 {
                if i != j {
                    let mut src = RecordDoc::load(&docs[i].save(), b"tmp", &id).unwrap();
                    docs[j].merge(&mut src).unwrap();
                }
            }
        }
        for &i in &order {
            for j in 0..3 {
                if i != j {
                    let mut src = RecordDoc::load(&docs[i].save(), b"tmp", &id).unwrap();
                    docs[j].merge(&mut src).unwrap();
                }
            }
        }
        let heads: Vec<_> = docs.iter_mut().map(|d| { let mut h = d.heads(); h.sort(); h }).collect();
        prop_assert_eq!(&heads[0], &heads[1]);
        prop_assert_eq!(&heads[1], &heads[2]);
        let r0 = docs[0].record();
        prop_assert_eq!(&r0, &docs[1].record());
        prop_assert_eq!(&r0, &docs[2].record());
    }
}

#[test]
fn fast_creation_makes_the_same_document_as_apply() {
    let body = json!({"cnpj": "11.222.333/0001-81", "name": "Loja", "city": "Natal", "credit_limit": "10.5",
                      "extra": {"k": "v"}, "addresses": {"billing": {"zip_code": "59000-000"}}});
    let patch = RecordPatch::from_json(Kind::Supplier, &body).unwrap();
    let id = patch.doc_id(Kind::Supplier).unwrap();
    let (bytes, hash) = RecordDoc::create_bytes(&id, &patch, author("A", 5), b"matriz").unwrap();
    let mut fast = RecordDoc::load(&bytes, b"matriz", &id).unwrap();
    let mut slow = RecordDoc::new(b"matriz");
    slow.apply(&id, &patch, author("A", 5)).unwrap();
    assert_eq!(fast.record(), slow.record());
    assert_eq!(fast.record(), Some(RecordDoc::created_record(&id, &patch)));
    assert_eq!(fast.heads(), vec![hash]);
    assert_eq!(fast.history()[0].company, "A");
    // It goes on like any document: edits, and merges with another
    // company's independent creation of the same supplier.
    put(
        &mut fast,
        Kind::Supplier,
        json!({"cnpj": "11222333000181", "city": "Mossoró"}),
        "A",
    );
    let mut other = RecordDoc::new(b"filial");
    put(
        &mut other,
        Kind::Supplier,
        json!({"cnpj": "11222333000181", "name": "Loja", "email": "a@b.com.br"}),
        "B",
    );
    fast.merge(&mut other).unwrap();
    let j = fast.record().unwrap().to_json();
    assert_eq!(j["city"], "Mossoró");
    assert_eq!(j["email"], "a@b.com.br");
    // Received bytes are checked: the fast path (one change) and the full
    // load (a saved document) agree, and a wrong id or garbage is refused.
    let checked = RecordDoc::check_bytes(&bytes, &id).unwrap();
    assert_eq!(
        (checked.heads, checked.deleted, checked.author.as_deref()),
        (vec![hash], false, Some("A"))
    );
    let mut saved = RecordDoc::load(&bytes, b"x", &id).unwrap();
    let whole = saved.save();
    let checked = RecordDoc::check_bytes(&whole, &id).unwrap();
    assert_eq!(
        (checked.heads, checked.deleted, checked.author.as_deref()),
        (saved.heads(), false, Some("A"))
    );
    let other = DocId::from_key(Kind::Supplier, "11444777000161").unwrap();
    assert!(RecordDoc::check_bytes(&bytes, &other).is_err());
    assert!(RecordDoc::check_bytes(&whole, &other).is_err());
    assert!(RecordDoc::check_bytes(b"garbage", &id).is_err());
    assert!(RecordDoc::check_bytes(&bytes[..bytes.len() - 3], &id).is_err());
    // Required fields are still required.
    let bare = RecordPatch::from_json(Kind::Product, &json!({"sku": "Z"})).unwrap();
    let zid = bare.doc_id(Kind::Product).unwrap();
    assert!(RecordDoc::create_bytes(&zid, &bare, author("A", 1), b"a").is_err());
}

#[test]
fn a_created_record_is_what_loading_its_bytes_shows() {
    // A key written twice (the later wins), a field cleared after it was
    // set (a creation writes no clearing), and a key of the document's own
    // bookkeeping (they start with '_'), which a record does not show.
    let body =
        json!({"cnpj": "11222333000181", "name": "Loja", "city": "Natal", "email": "a@b.com.br"});
    let mut patch = RecordPatch::from_json(Kind::Customer, &body).unwrap();
    patch
        .edits
        .push(("city".into(), Some(FieldValue::Text("Mossoró".into()))));
    patch.edits.push(("email".into(), None));
    patch
        .edits
        .push(("_note".into(), Some(FieldValue::Text("C-1".into()))));
    let id = patch.doc_id(Kind::Customer).unwrap();
    let (bytes, _) = RecordDoc::create_bytes(&id, &patch, author("A", 5), b"matriz").unwrap();
    let loaded = RecordDoc::load(&bytes, b"matriz", &id)
        .unwrap()
        .record()
        .unwrap();
    let created = RecordDoc::created_record(&id, &patch);
    assert_eq!(loaded, created);
    assert_eq!(created.values["city"], FieldValue::Text("Mossoró".into()));
    assert!(created.values.keys().all(|k| !k.starts_with('_')));
}

#[test]
fn received_changes_that_continue_the_history_are_appended_without_a_load() {
    let mut a = RecordDoc::new(b"matriz");
    let id = put(
        &mut a,
        Kind::Customer,
        json!({"cpf": "52998224725", "name": "Ana"}),
        "A",
    );
    let stored = a.save();
    let base = a.heads();
    let mut b = reload(&mut a, b"filial", &id);
    put(
        &mut a,
        Kind::Customer,
        json!({"cpf": "52998224725", "city": "Natal"}),
        "A",
    );
    a.delete(author("A", 3));
    let elo_crdt::DocPayload::Changes(changes) = a.missing_for(&base) else {
        panic!("expected changes")
    };
    assert_eq!(changes.len(), 2);
    let (bytes, heads, deleted) =
        RecordDoc::append_changes(&stored, &base, false, &changes).expect("a fast-forward");
    assert!(deleted);
    assert_eq!(heads, a.heads());
    let mut appended = RecordDoc::load(&bytes, b"x", &id).unwrap();
    assert_eq!(appended.heads(), a.heads());
    assert_eq!(appended.record(), a.record());
    let checked = RecordDoc::check_bytes(&bytes, &id).unwrap();
    assert_eq!((checked.heads, checked.deleted), (a.heads(), true));
    // Changes made concurrently are not a fast-forward: a full merge is needed.
    put(
        &mut b,
        Kind::Customer,
        json!({"cpf": "52998224725", "email": "a@b.com.br"}),
        "B",
    );
    assert!(RecordDoc::append_changes(&b.save(), &b.heads(), false, &changes).is_none());
    // A change that rewrites the id is never appended.
    assert!(RecordDoc::append_changes(&stored, &base, false, &[b"garbage".to_vec()]).is_none());
    // A replica that knows nothing gets the whole document.
    assert!(matches!(a.missing_for(&[]), elo_crdt::DocPayload::Whole(_)));
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("cpf".to_string()),
                    Just("name".to_string()),
                    Just("credit_limit".to_string()),
                    Just("extra".to_string()),
                    Just("addresses".to_string()),
                    Just("birth_date".to_string()),
                    Just("state".to_string()),
                    "\\PC{0,12}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Any JSON an ERP might send parses to a patch or an error naming
    /// fields; it never panics, and a parsed patch always applies or is refused.
    #[test]
    fn arbitrary_json_never_panics_the_record_parser(v in json_value()) {
        for kind in Kind::ALL {
            if let Ok(patch) = RecordPatch::from_json(kind, &v)
                && let Ok(id) = patch.doc_id(kind)
            {
                let mut d = RecordDoc::new(b"p");
                let _ = d.apply(&id, &patch, author("A", 1));
                let _ = RecordDoc::create_bytes(&id, &patch, author("A", 1), b"p");
            }
        }
    }

    /// Received bytes of any shape are refused cleanly.
    #[test]
    fn arbitrary_bytes_never_panic_the_document_check(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let id = DocId::from_key(Kind::Unit, "UN").unwrap();
        let _ = RecordDoc::check_bytes(&bytes, &id);
        let _ = RecordDoc::load(&bytes, b"x", &id);
    }
}

//! The business rules of the write path, against a real store in a
//! temporary folder.

use elo_crdt::{DocId, FieldValue, Kind};
use serde_json::{Value, json};

use super::{RecordError, put, put_many};
use crate::store::StoreHandle;

const ME: &str = "11222333000181";

fn store(dir: &tempfile::TempDir) -> StoreHandle {
    StoreHandle::spawn_in(dir, ME)
}

async fn receives(store: &StoreHandle, categories: &str) {
    let company = json!({"cnpj": ME, "name": "Filial", "receives": categories});
    put(store, Kind::Company, None, &company, false)
        .await
        .unwrap();
}

fn refusal(result: Result<impl std::fmt::Debug, RecordError>) -> String {
    match result {
        Err(RecordError::Invalid(e)) => format!("{e} {:?}", e.0),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn refused(store: &StoreHandle, kind: Kind, body: &Value) -> String {
    refusal(put(store, kind, None, body, false).await)
}

async fn put_ok(store: &StoreHandle, kind: Kind, body: &Value) {
    put(store, kind, None, body, false).await.unwrap();
}

async fn value(store: &StoreHandle, kind: Kind, key: &str, field: &str) -> Option<FieldValue> {
    let id = DocId::from_key(kind, key).unwrap();
    store
        .get(id)
        .await
        .unwrap()
        .and_then(|r| r.values.get(field).cloned())
}

/// A branch that does not receive credit limits cannot write one: it would
/// replace the group's value without seeing it. Single writes and bulk
/// rows alike; the rest of the record is written as usual.
#[tokio::test]
async fn a_category_not_received_is_not_written_blind() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    receives(&store, "customers,products").await;
    let customer = json!({"cpf": "52998224725", "name": "Ana", "credit_limit": "1.00"});
    let message = refused(&store, Kind::Customer, &customer).await;
    assert!(
        message.contains("credit_limit") && message.contains("does not receive"),
        "{message}"
    );
    assert_eq!(
        value(&store, Kind::Customer, "52998224725", "name").await,
        None,
        "nothing stored"
    );
    let rows: Vec<Value> = vec![customer, json!({"cpf": "11144477735", "name": "Bia"})];
    let report = put_many(&store, Kind::Customer, &rows).await.unwrap();
    assert_eq!(report.stored, 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].fields[0].field, "credit_limit");
    // Receiving it, the company sees the value and may write it.
    receives(&store, "customers,products,credit_limit").await;
    let customer = json!({"cpf": "52998224725", "name": "Ana", "credit_limit": "700.00"});
    put_ok(&store, Kind::Customer, &customer).await;
    assert_eq!(
        value(&store, Kind::Customer, "52998224725", "credit_limit").await,
        Some(FieldValue::Int(70000))
    );
}

fn product(sku: &str, components: Value) -> Value {
    json!({"sku": sku, "description": sku, "structure": "kit", "components": components})
}

/// Kits whose components are themselves, a cycle or unknown SKUs are
/// refused; a branch changes a kit's components only on purpose.
#[tokio::test]
async fn kits_are_made_of_other_products_that_exist() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let part = json!({"sku": "PART-1", "description": "Parafuso"});
    put_ok(&store, Kind::Product, &part).await;

    let itself = product("KIT-A", json!({"KIT-A": 1}));
    let message = refused(&store, Kind::Product, &itself).await;
    assert!(message.contains("itself"), "{message}");

    let unknown = product("KIT-A", json!({"NOPE-9": 1}));
    let message = refused(&store, Kind::Product, &unknown).await;
    assert!(
        message.contains("NOPE-9") && message.contains("sync"),
        "{message}"
    );

    let kit_a = product("KIT-A", json!({"PART-1": 2}));
    put_ok(&store, Kind::Product, &kit_a).await;
    let kit_b = product("KIT-B", json!({"KIT-A": 1}));
    put_ok(&store, Kind::Product, &kit_b).await;
    // KIT-A ↔ KIT-B, even on purpose.
    let cycle = json!({"sku": "KIT-A", "components": {"KIT-B": 1}, "change_structure": true});
    let message = refused(&store, Kind::Product, &cycle).await;
    assert!(message.contains("KIT-A → KIT-B → KIT-A"), "{message}");
    // A cycle within one bulk write.
    let rows = vec![
        product("KIT-C", json!({"KIT-D": 1})),
        product("KIT-D", json!({"KIT-C": 1})),
    ];
    let report = put_many(&store, Kind::Product, &rows).await.unwrap();
    assert_eq!(report.rejected.len(), 2, "{report:?}");

    // Changing a kit's components needs change_structure; the same ones do not.
    let changed = json!({"sku": "KIT-A", "components": {"PART-1": 3}});
    let message = refused(&store, Kind::Product, &changed).await;
    assert!(message.contains("change_structure"), "{message}");
    put_ok(&store, Kind::Product, &kit_a).await;
    let on_purpose = json!({"sku": "KIT-A", "components": {"PART-1": 3}, "change_structure": true});
    put_ok(&store, Kind::Product, &on_purpose).await;
    assert_eq!(
        value(&store, Kind::Product, "KIT-A", "component.PART-1").await,
        Some(FieldValue::Int(3000))
    );
}

/// A variation's parent exists, is not itself nor one of its variations,
/// and changes only on purpose.
#[tokio::test]
async fn a_variation_has_another_product_for_parent() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let parent = json!({"sku": "CAMISA", "description": "Camisa", "structure": "variations"});
    put_ok(&store, Kind::Product, &parent).await;
    let variation =
        |sku: &str, parent: &str| json!({"sku": sku, "description": sku, "parent_sku": parent});
    let message = refused(&store, Kind::Product, &variation("CAMISA-P", "NADA")).await;
    assert!(
        message.contains("parent_sku") && message.contains("NADA"),
        "{message}"
    );
    let message = refused(&store, Kind::Product, &variation("CAMISA-P", "CAMISA-P")).await;
    assert!(message.contains("its own parent"), "{message}");
    put_ok(&store, Kind::Product, &variation("CAMISA-P", "CAMISA")).await;
    let cycle = json!({"sku": "CAMISA", "parent_sku": "CAMISA-P", "change_structure": true});
    let message = refused(&store, Kind::Product, &cycle).await;
    assert!(message.contains("CAMISA → CAMISA-P → CAMISA"), "{message}");
    put_ok(
        &store,
        Kind::Product,
        &json!({"sku": "CALCA", "description": "Calça"}),
    )
    .await;
    let message = refused(&store, Kind::Product, &variation("CAMISA-P", "CALCA")).await;
    assert!(message.contains("change_structure"), "{message}");
}

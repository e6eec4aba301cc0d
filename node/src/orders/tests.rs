//! The order book on real redb stores: two companies' books exchanging an
//! order as the courier and the request handler do, without the network.

use serde_json::{Value as Json, json};

use super::{InvoiceInput, OrderError, OrderFilter, Orders};
use crate::store::{Store, StoreHandle};

const FILIAL: &str = "11222333000262";
const MATRIZ: &str = "11222333000181";

struct Book {
    orders: Orders,
    _dir: tempfile::TempDir,
}

fn book(cnpj: &str, actor: u8) -> Book {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("store.redb"), vec![actor; 16], cnpj.into())
        .expect("store opens");
    let orders = Orders::new(
        StoreHandle::spawn(store),
        cnpj.into(),
        vec![actor; 16],
        None,
    );
    Book { orders, _dir: dir }
}

fn order() -> Json {
    json!({"date": "2026-12-01", "customer": "52998224725",
           "customer_record": {"name": "Ana"},
           "delivery": {"city": "Recife", "state": "PE"},
           "items": [{"sku": "CAN-01", "quantity": 10, "unit_price": "1,50"},
                     {"sku": "CAD-02", "quantity": 1, "unit_price": "12.00"}]})
}

/// The filial's order 1, sent to the matriz (owed, not delivered yet).
async fn sent_from_the_filial() -> (Book, Book) {
    let filial = book(FILIAL, 1);
    let matriz = book(MATRIZ, 2);
    one(filial.orders.create(vec![order()]).await);
    filial
        .orders
        .send("1".into(), Some(MATRIZ.into()))
        .await
        .expect("sent");
    (filial, matriz)
}

/// The filial's order 1, sent to the matriz and delivered there.
async fn sent_to_the_matriz() -> (Book, Book) {
    let (filial, matriz) = sent_from_the_filial().await;
    deliver(&filial, &matriz).await;
    (filial, matriz)
}

/// What the courier does once: deliver everything owed by `from` to `to`.
async fn deliver(from: &Book, to: &Book) -> usize {
    let mut n = 0;
    for (link, owed) in from.orders.owed().await.expect("outbox") {
        if owed.to != to.orders.company() {
            continue;
        }
        let doc = from
            .orders
            .order_bytes(owed.key.clone())
            .await
            .expect("read")
            .expect("there");
        let their = to
            .orders
            .receive(
                from.orders.company().into(),
                link.clone(),
                owed.key.clone(),
                doc,
            )
            .await
            .expect("taken");
        from.orders
            .delivered(link, owed.seq, their)
            .await
            .expect("noted");
        n += 1;
    }
    n
}

fn one(results: Result<Vec<Result<Json, OrderError>>, OrderError>) -> Json {
    results
        .expect("stored")
        .into_iter()
        .next()
        .expect("one")
        .expect("created")
}

/// A valid access key for the matriz's NF-e 42, series 1, December 2026.
fn matriz_key() -> String {
    matriz_access_key(42)
}

/// A valid access key for the matriz's NF-e `number`, series 1.
fn matriz_access_key(number: u32) -> String {
    use elo_crdt::order::access_key::{KeyParts, compose};
    compose(KeyParts {
        uf: "35",
        aamm: "2612",
        emitter_cnpj: MATRIZ,
        model: "55",
        series: 1,
        number,
    })
}

#[tokio::test]
async fn a_sent_order_arrives_once_comes_back_invoiced_and_edits_travel_both_ways() {
    let filial = book(FILIAL, 1);
    let matriz = book(MATRIZ, 2);
    let created = one(filial.orders.create(vec![order()]).await);
    assert_eq!(
        (created["key"].as_str(), created["direction"].as_str()),
        (Some("1"), Some("own"))
    );

    let link = filial
        .orders
        .send("1".into(), Some(MATRIZ.into()))
        .await
        .expect("sent");
    assert_eq!(link["destination"], MATRIZ);
    assert_eq!(deliver(&filial, &matriz).await, 1);
    // Sending again and delivering twice make no second order.
    let again = filial
        .orders
        .send("1".into(), Some(MATRIZ.into()))
        .await
        .expect("sent again");
    assert_eq!(again["id"], link["id"]);
    assert_eq!(deliver(&filial, &matriz).await, 1);
    assert_eq!(
        deliver(&filial, &matriz).await,
        0,
        "nothing owed once answered"
    );
    let received = matriz
        .orders
        .list(OrderFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["direction"], "received");
    assert_eq!(received[0]["link"]["origin_key"], "1");
    let at_filial = filial.orders.get("1".into()).await.expect("get");
    assert_eq!(at_filial["link"]["destination_key"], received[0]["key"]);
    assert_eq!(at_filial["invoices_here"], false);

    // The origin may not invoice what it sent; a bad key stores nothing.
    let invoice = |key: String| InvoiceInput {
        number: 42,
        series: 1,
        access_key: key,
        issued_at: "2026-12-02".into(),
        items: Vec::new(),
    };
    let refused = filial
        .orders
        .invoice("1".into(), invoice(matriz_key()))
        .await;
    assert!(
        matches!(refused, Err(OrderError::Refused(_))),
        "{refused:?}"
    );
    let mkey = received[0]["key"].as_str().expect("key").to_string();
    let mut bad = matriz_key();
    bad.replace_range(43..44, if bad.ends_with('0') { "1" } else { "0" });
    let refused = matriz.orders.invoice(mkey.clone(), invoice(bad)).await;
    assert!(
        matches!(refused, Err(OrderError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(
        matriz.orders.get(mkey.clone()).await.expect("get")["status"],
        "open"
    );

    // An edit at the destination reaches the origin.
    matriz
        .orders
        .edit(
            mkey.clone(),
            json!({"items": [{"line": 1, "quantity": 12}, {"line": 2}]}),
        )
        .await
        .expect("edited");
    deliver(&matriz, &filial).await;
    let at_filial = filial.orders.get("1".into()).await.expect("get");
    assert_eq!(at_filial["items"][0]["quantity"], "12.000");

    matriz
        .orders
        .invoice(mkey.clone(), invoice(matriz_key()))
        .await
        .expect("invoiced");
    let twice = matriz
        .orders
        .invoice(mkey.clone(), invoice(matriz_key()))
        .await;
    assert!(matches!(twice, Err(OrderError::Conflict(_))), "{twice:?}");
    deliver(&matriz, &filial).await;
    let at_filial = filial.orders.get("1".into()).await.expect("get");
    assert_eq!(at_filial["status"], "invoiced");
    assert_eq!(at_filial["invoice"]["access_key"], matriz_key());
    assert_eq!(at_filial["invoice"]["number"], 42);
    // Once invoiced, lines no longer change.
    let edit = filial.orders.edit("1".into(), json!({"items": []})).await;
    assert!(matches!(edit, Err(OrderError::Conflict(_))), "{edit:?}");
}

#[tokio::test]
async fn concurrent_edits_of_one_line_show_a_conflict_at_both_ends() {
    let (filial, matriz) = sent_to_the_matriz().await;
    let mkey = matriz
        .orders
        .list(OrderFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("list")[0]["key"]
        .as_str()
        .expect("key")
        .to_string();
    let line = |q: u32| json!({"items": [{"line": 1, "quantity": q}, {"line": 2}]});
    filial.orders.edit("1".into(), line(3)).await.expect("edit");
    matriz
        .orders
        .edit(mkey.clone(), line(4))
        .await
        .expect("edit");
    deliver(&filial, &matriz).await;
    deliver(&matriz, &filial).await;
    for view in [
        filial.orders.get("1".into()).await.expect("get"),
        matriz.orders.get(mkey.clone()).await.expect("get"),
    ] {
        let conflicts = view["conflicts"].as_array().expect("list");
        assert_eq!(conflicts.len(), 1, "{view}");
        assert_eq!(conflicts[0]["field"], "items.1.quantity");
        let by: Vec<&str> = conflicts[0]["values"]
            .as_array()
            .expect("values")
            .iter()
            .filter_map(|v| v["by"].as_str())
            .collect();
        assert!(by.contains(&FILIAL) && by.contains(&MATRIZ), "{view}");
    }
}

#[tokio::test]
async fn an_order_from_a_company_that_is_not_its_origin_is_refused() {
    let (filial, matriz) = sent_from_the_filial().await;
    let (link, owed) = filial.orders.owed().await.expect("outbox").remove(0);
    let doc = filial
        .orders
        .order_bytes(owed.key.clone())
        .await
        .expect("read")
        .expect("there");
    let other = "45723174000110";
    let r = matriz
        .orders
        .receive(other.into(), link.clone(), "1".into(), doc.clone())
        .await;
    assert!(matches!(r, Err(OrderError::Refused(_))), "{r:?}");
    let r = matriz
        .orders
        .receive(FILIAL.into(), link, "1".into(), b"not an order".to_vec())
        .await;
    assert!(matches!(r, Err(OrderError::Refused(_))), "{r:?}");
    assert!(
        matriz
            .orders
            .list(OrderFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list")
            .is_empty()
    );
}

/// The latest change of an order in the order log, at `book`.
async fn latest_change(book: &Book, key: &str) -> Json {
    let log = book.orders.changes(0, 100).await.expect("log");
    log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["key"] == key)
        .cloned()
        .expect("logged")
}

#[tokio::test]
async fn the_order_log_says_what_changed_at_each_end() {
    let filial = book(FILIAL, 1);
    let matriz = book(MATRIZ, 2);
    one(filial.orders.create(vec![order()]).await);
    assert_eq!(
        latest_change(&filial, "1").await["changed"],
        json!(["created"])
    );
    filial
        .orders
        .send("1".into(), Some(MATRIZ.into()))
        .await
        .expect("sent");
    assert_eq!(
        latest_change(&filial, "1").await["changed"],
        json!(["link"])
    );
    deliver(&filial, &matriz).await;
    let at_matriz = latest_change(&matriz, "1").await;
    assert_eq!(at_matriz["changed"], json!(["created"]));
    assert_eq!(at_matriz["link"]["origin"], FILIAL);
    assert_eq!(at_matriz["invoices_here"], true);

    // The destination edits a line's quantity: the origin's log names it.
    matriz
        .orders
        .edit(
            "1".into(),
            json!({"items": [{"line": 1, "quantity": 12}, {"line": 2}]}),
        )
        .await
        .expect("edited");
    deliver(&matriz, &filial).await;
    let at_filial = latest_change(&filial, "1").await;
    // (The destination's own link keys, its key for the order, come too.)
    let changed = at_filial["changed"].as_array().expect("changed");
    assert!(changed.contains(&json!("items.1.quantity")), "{at_filial}");
    assert!(!changed.contains(&json!("status")), "{at_filial}");
    assert_eq!(
        at_filial["invoices_here"], false,
        "the origin must not invoice it"
    );

    matriz
        .orders
        .invoice(
            "1".into(),
            InvoiceInput {
                number: 42,
                series: 1,
                access_key: matriz_key(),
                issued_at: "2026-12-02".into(),
                items: Vec::new(),
            },
        )
        .await
        .expect("invoiced");
    deliver(&matriz, &filial).await;
    let mut changed: Vec<String> =
        serde_json::from_value(latest_change(&filial, "1").await["changed"].clone())
            .expect("names");
    changed.sort();
    assert_eq!(changed, ["invoice", "status"]);
}

fn nfe(number: u32, lines: Json) -> InvoiceInput {
    InvoiceInput {
        number,
        series: 1,
        access_key: matriz_access_key(number),
        issued_at: "2026-12-02".into(),
        items: serde_json::from_value(lines).expect("lines"),
    }
}

#[tokio::test]
async fn an_invoice_of_some_lines_makes_the_order_partially_invoiced_at_both_ends() {
    let (filial, matriz) = sent_to_the_matriz().await;

    // Line 1 has 10: more than that, or a line the order lacks, is refused.
    for (lines, field) in [
        (
            json!([{"line": 1, "quantity": "10,5"}]),
            "items[0].quantity",
        ),
        (json!([{"line": 9}]), "items[0].line"),
    ] {
        let refused = matriz.orders.invoice("1".into(), nfe(7, lines)).await;
        match refused {
            Err(OrderError::Invalid(e)) => assert_eq!(e.0[0].field, field, "{e:?}"),
            other => panic!("{other:?}"),
        }
    }
    let part = matriz
        .orders
        .invoice("1".into(), nfe(7, json!([{"line": 1, "quantity": "4"}])))
        .await
        .expect("part invoiced");
    assert_eq!(part["status"], "partially_invoiced");
    deliver(&matriz, &filial).await;
    let at_filial = filial.orders.get("1".into()).await.expect("get");
    assert_eq!(at_filial["status"], "partially_invoiced");
    assert_eq!(
        at_filial["invoices"][0]["items"],
        json!([{"line": 1, "quantity": "4.000"}])
    );

    // The same NF-e twice is refused; the rest (no lines named) completes it.
    let again = matriz
        .orders
        .invoice("1".into(), nfe(7, json!([{"line": 2}])))
        .await;
    assert!(matches!(again, Err(OrderError::Conflict(_))), "{again:?}");
    let rest = matriz
        .orders
        .invoice("1".into(), nfe(8, json!([])))
        .await
        .expect("the rest invoiced");
    assert_eq!(rest["status"], "invoiced");
    assert_eq!(
        rest["invoices"][1]["items"],
        json!([{"line": 1, "quantity": "6.000"}, {"line": 2, "quantity": "1.000"}])
    );
    let third = matriz.orders.invoice("1".into(), nfe(9, json!([]))).await;
    assert!(matches!(third, Err(OrderError::Conflict(_))), "{third:?}");
    deliver(&matriz, &filial).await;
    let at_filial = filial.orders.get("1".into()).await.expect("get");
    assert_eq!(at_filial["status"], "invoiced");
    assert_eq!(at_filial["invoice"]["number"], 8);
}

#[tokio::test]
async fn an_order_for_a_customer_that_is_not_a_record_here_is_refused_unless_its_record_comes() {
    let filial = book(FILIAL, 1);
    let mut bare = order();
    bare.as_object_mut()
        .expect("object")
        .remove("customer_record");
    let refused = filial.orders.create(vec![bare]).await.expect("stored");
    match &refused[0] {
        Err(OrderError::Invalid(e)) => assert_eq!(e.0[0].field, "customer", "{e:?}"),
        other => panic!("{other:?}"),
    }
    let created = one(filial.orders.create(vec![order()]).await);
    assert_eq!(created["customer_record"]["name"], "Ana");
}

#[tokio::test]
async fn with_send_fiscal_data_off_the_invoice_waits_at_the_destination_until_released() {
    let (filial, matriz) = sent_to_the_matriz().await;
    let mut settings = matriz.orders.settings().await.expect("settings");
    settings.send_fiscal_data = false;
    matriz.orders.set_settings(settings).await.expect("set");

    let invoiced = matriz
        .orders
        .invoice("1".into(), nfe(42, json!([])))
        .await
        .expect("invoiced");
    assert_eq!(invoiced["status"], "invoiced");
    assert_eq!(invoiced["fiscal_data"]["sent"], false);
    assert_eq!(
        deliver(&matriz, &filial).await,
        0,
        "nothing owed while held"
    );
    assert_eq!(
        filial.orders.get("1".into()).await.expect("get")["status"],
        "open"
    );

    let released = matriz
        .orders
        .send_fiscal("1".into())
        .await
        .expect("released");
    assert_eq!(released["fiscal_data"]["sent"], true);
    assert_eq!(deliver(&matriz, &filial).await, 1);
    let at_filial = filial.orders.get("1".into()).await.expect("get");
    assert_eq!(at_filial["status"], "invoiced");
    assert_eq!(at_filial["invoice"]["number"], 42);
    let twice = matriz.orders.send_fiscal("1".into()).await;
    assert!(matches!(twice, Err(OrderError::Conflict(_))), "{twice:?}");
}

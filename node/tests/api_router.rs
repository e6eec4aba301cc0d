//! The local API as an ERP sees it, in one process: the node's router
//! driven request by request (`tower::ServiceExt::oneshot`) over a real
//! redb store in a temporary directory, without a mesh. No server, no
//! spawned `elo`, no sleeps.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use elo_node::api::{self, ApiState, MAX_BULK_BODY, MAX_RECORD_BODY};
use elo_node::primary::{PrimaryHandle, PrimarySettings};
use elo_node::{DataDir, StoreHandle};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const CNPJ: &str = "11.222.333/0001-81";
/// A valid CPF, and the same digits with a wrong check digit.
const CPF: &str = "52998224725";
const BAD_CPF: &str = "52998224726";

/// A company's node as the router sees it: its store, token and primary.
/// The temporary directory lives as long as the node.
struct Node {
    app: Router,
    token: String,
    store: StoreHandle,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

/// What the ERP reads of an answer.
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Node {
    async fn start() -> Node {
        Node::start_as(CNPJ).await
    }

    async fn start_as(cnpj: &str) -> Node {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data = DataDir::new(dir.path().join("data"));
        data.init(cnpj, "Empresa").expect("a new data directory");
        let (store, company, group) = data.open().expect("the store opens");
        let token = data.api_token().expect("the API token");
        let store = StoreHandle::spawn(store);
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let (primary, _no_network) = PrimaryHandle::start(
            store.clone(),
            company.cnpj.clone(),
            &group.primary,
            vec![company.cnpj.clone()],
            PrimarySettings {
                offline: true,
                ..PrimarySettings::default()
            },
            stopping.clone(),
        )
        .await
        .expect("the primary task starts");
        let orders = elo_node::orders::Orders::of(&store, &company, primary.clone());
        let app = api::router(ApiState {
            orders,
            store: store.clone(),
            token: token.clone(),
            company,
            group,
            stopping,
            mesh: None,
            primary,
        });
        Node {
            app,
            token,
            store,
            _dir: dir,
            _stop: stop,
        }
    }

    /// Sends one request with `token` as the bearer token (`None`: no
    /// `Authorization` header at all).
    async fn send_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: impl Into<Body>,
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req.body(body.into()).expect("a well-formed request");
        let res = self
            .app
            .clone()
            .oneshot(req)
            .await
            .expect("the router always answers");
        let status = res.status();
        let bytes = res
            .into_body()
            .collect()
            .await
            .expect("the whole answer")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer { status, body }
    }

    async fn send(&self, method: &str, path: &str, body: impl Into<Body>) -> Answer {
        let token = self.token.clone();
        self.send_as(Some(&token), method, path, body).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, Body::empty()).await
    }

    async fn put(&self, path: &str, body: impl Into<Body>) -> Answer {
        self.send("PUT", path, body).await
    }

    /// A refused write left nothing behind: the record is not there.
    async fn assert_no_record(&self, path: &str) {
        let got = self.get(path).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND, "{path}: {:?}", got.body);
        assert_error_shape(&got, "not_found");
    }
}

/// The record path of the customer with the valid CPF.
fn customer_path() -> String {
    format!("/v1/records/customer/{CPF}")
}

/// The fields an error answer names.
fn named_fields(a: &Answer) -> Vec<String> {
    a.body["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["field"].as_str().map(str::to_owned))
        .collect()
}

/// The error shape every refusal has: `{"error", "message", "fields"}`.
fn assert_error_shape(a: &Answer, code: &str) {
    assert_eq!(a.body["error"], code, "{:?}", a.body);
    assert!(a.body["message"].is_string(), "{:?}", a.body);
    assert!(a.body["fields"].is_array(), "{:?}", a.body);
}

#[tokio::test]
async fn without_the_token_nothing_but_the_openapi_document_answers() {
    let node = Node::start().await;
    for token in [None, Some("wrong"), Some("")] {
        let a = node
            .send_as(token, "GET", "/v1/status", Body::empty())
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "token {token:?}");
        assert_error_shape(&a, "unauthorized");
        let a = node
            .send_as(token, "PUT", &customer_path(), r#"{"name":"Ana"}"#)
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "token {token:?}");
    }
    node.assert_no_record(&customer_path()).await;

    let doc = node
        .send_as(None, "GET", "/v1/openapi.json", Body::empty())
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert!(doc.body["paths"]["/v1/records/{kind}/{key}"].is_object());

    // The scheme's name in any case, as HTTP allows.
    let lower = Request::builder()
        .uri("/v1/status")
        .header(header::AUTHORIZATION, format!("bearer {}", node.token))
        .body(Body::empty())
        .expect("request");
    let res = node.app.clone().oneshot(lower).await.expect("answer");
    assert_eq!(res.status(), StatusCode::OK);

    // With the token, the route refused above answers.
    let status = node.get("/v1/status").await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body["company"]["cnpj"], "11222333000181");
    assert_eq!(status.body["store"]["ok"], true, "{:?}", status.body);
}

#[tokio::test]
async fn a_record_put_is_read_back_and_updated() {
    let node = Node::start().await;
    // The key as an ERP may type it, punctuation and all.
    let created = node
        .put(
            "/v1/records/customer/529.982.247-25",
            r#"{"name":"Ana","city":"Recife"}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["cpf"], CPF);
    assert!(created.body["seq"].as_u64().is_some_and(|s| s > 0));

    let got = node.get(&customer_path()).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["name"], "Ana");
    assert_eq!(got.body["city"], "Recife");

    // A second PUT sets one field and keeps the others; the answer is the
    // whole record, the credit limit (a part) included.
    let limit = node
        .put(&customer_path(), r#"{"credit_limit":"700.00"}"#)
        .await;
    assert_eq!(limit.status, StatusCode::OK, "{:?}", limit.body);
    let updated = node.put(&customer_path(), r#"{"city":"Olinda"}"#).await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
    assert_eq!(updated.body["credit_limit"], "700.00", "{:?}", updated.body);
    assert_eq!(updated.body["name"], "Ana");
    assert!(updated.body["seq"].as_u64().is_some());
    let got = node.get(&customer_path()).await;
    assert_eq!(got.body["name"], "Ana");
    assert_eq!(got.body["city"], "Olinda");
}

#[tokio::test]
async fn malformed_json_is_400_saying_where() {
    let node = Node::start().await;
    let a = node
        .put(&customer_path(), "{\"name\": \"Ana\",\n \"city\": }")
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_error_shape(&a, "malformed_json");
    let message = a.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("line 2") && message.contains("column 10"),
        "{message}"
    );
    node.assert_no_record(&customer_path()).await;
}

#[tokio::test]
async fn an_invalid_field_is_422_naming_it_and_stores_nothing() {
    let node = Node::start().await;
    // A CPF whose check digit is wrong, as the record's key.
    let a = node
        .put(
            &format!("/v1/records/customer/{BAD_CPF}"),
            r#"{"name":"Ana"}"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", a.body);
    assert_error_shape(&a, "invalid");
    assert_eq!(named_fields(&a), ["key"]);
    let reason = a.body["fields"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("check digit"), "{reason}");

    // A valid key with invalid fields: each named, nothing stored.
    let a = node
        .put(
            &customer_path(),
            r#"{"name":"Ana","state":"XX","credit_limit":"-3"}"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", a.body);
    assert_error_shape(&a, "invalid");
    let named = named_fields(&a);
    assert!(
        named.iter().any(|f| f == "state") && named.iter().any(|f| f == "credit_limit"),
        "{named:?}"
    );
    node.assert_no_record(&customer_path()).await;
}

/// A JSON string of `len` bytes in all: `"aaaa…"`.
fn json_string_of(len: usize) -> Vec<u8> {
    let mut body = vec![b'a'; len];
    body[0] = b'"';
    body[len - 1] = b'"';
    body
}

#[tokio::test]
async fn a_record_body_over_1_mib_is_413() {
    let node = Node::start().await;
    let a = node
        .put(&customer_path(), json_string_of(MAX_RECORD_BODY + 1))
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    // In the error shape like every refusal, though axum refuses it.
    assert_error_shape(&a, "too_large");
    assert_message_has(&a, "1 MiB");
    node.assert_no_record(&customer_path()).await;
}

#[tokio::test]
async fn a_bulk_body_takes_more_than_1_mib_and_over_32_mib_is_413() {
    let node = Node::start().await;
    let bulk = "/v1/records/customer";
    // Over the single-record limit, within the bulk one: read, and refused
    // for what it says (not an array), not for its size.
    let a = node
        .send("POST", bulk, json_string_of(2 * MAX_RECORD_BODY))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert_error_shape(&a, "malformed_json");

    let a = node
        .send("POST", bulk, json_string_of(MAX_BULK_BODY + 1))
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);

    // A bulk write within the limit stores its rows.
    let rows = format!(r#"[{{"cpf":"{CPF}","name":"Ana"}}]"#);
    let a = node.send("POST", bulk, rows).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(node.get(&customer_path()).await.body["name"], "Ana");
}

#[tokio::test]
async fn an_unknown_route_is_404_in_the_error_shape() {
    let node = Node::start().await;
    let a = node.get("/v1/nothing-here").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_error_shape(&a, "not_found");
}

/// A backup is written only under the data directory's `backups/` folder,
/// by a plain name, readable by the node's user only, and never replaces a
/// file: not the live store, not a file outside, not an earlier backup.
#[tokio::test]
async fn a_backup_goes_only_to_the_backups_folder_and_replaces_nothing() {
    let node = Node::start().await;
    let data = node._dir.path().join("data");
    let put = node.put(&customer_path(), r#"{"name":"Ana"}"#).await;
    assert_eq!(put.status, StatusCode::CREATED, "{:?}", put.body);
    // The file the node writes into: a backup must never put another in its
    // place (the node would go on writing into an unlinked file).
    let live = inode(&data.join("store.redb"));

    // A path from outside is refused, and nothing is written there.
    let outside = node._dir.path().join("elsewhere.redb");
    let body = format!(r#"{{"file": "{}"}}"#, outside.display());
    let refused = node.send("POST", "/v1/backup", body).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("backups/")
    );
    assert!(!outside.exists());
    // So is a name that is a path, or one that climbs out.
    for name in ["../store.redb", "/etc/passwd", "a/b", ".hidden", ""] {
        let body = serde_json::json!({ "name": name }).to_string();
        let refused = node.send("POST", "/v1/backup", body).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name:?}: {:?}",
            refused.body
        );
    }

    // The live store's own name lands in backups/, not on the live store.
    let made = node
        .send("POST", "/v1/backup", r#"{"name": "store.redb"}"#)
        .await;
    assert_eq!(made.status, StatusCode::OK, "{:?}", made.body);
    let copy = data.join("backups").join("store.redb");
    assert_eq!(made.body["file"], copy.display().to_string());
    assert!(made.body["bytes"].as_u64().unwrap_or(0) > 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy)
            .expect("the backup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "a backup holds the group secret");
    }
    // The live store still takes writes and keeps them.
    let later = node.put(&customer_path(), r#"{"city":"Natal"}"#).await;
    assert_eq!(later.status, StatusCode::OK, "{:?}", later.body);
    assert_eq!(node.get(&customer_path()).await.body["city"], "Natal");
    assert_eq!(
        inode(&data.join("store.redb")),
        live,
        "the live store was not replaced"
    );

    // The same name again is refused, and the first backup is untouched.
    let before = std::fs::read(&copy).expect("the backup");
    let again = node
        .send("POST", "/v1/backup", r#"{"name": "store.redb"}"#)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    assert_error_shape(&again, "backup_exists");
    assert_eq!(std::fs::read(&copy).expect("the backup"), before);
}

/// A file's inode (0 where there are none).
fn inode(path: &std::path::Path) -> u64 {
    let meta = std::fs::metadata(path).expect("the file");
    #[cfg(unix)]
    return std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    return {
        let _ = meta;
        0
    };
}

/// Money as ERPs and people write it, through the API, in every money and
/// decimal field: each accepted form read the one way it can be, each form
/// that can be read two ways refused with the accepted forms shown, and
/// nothing stored on a refusal.
#[tokio::test]
async fn money_is_read_one_way_or_refused() {
    let node = Node::start().await;
    let accepted = [
        (r#""1.500,50""#, "1500.50"),
        (r#""1.500.000,00""#, "1500000.00"),
        (r#""1.500.000""#, "1500000.00"),
        (r#""1,500.50""#, "1500.50"),
        (r#""1,500,000""#, "1500000.00"),
        (r#""1500,5""#, "1500.50"),
        (r#""1500.50""#, "1500.50"),
        (r#""1.5""#, "1.50"),
        ("1500.5", "1500.50"),
        ("1500", "1500.00"),
    ];
    for (written, stored) in accepted {
        let body = format!(r#"{{"name":"Ana","credit_limit":{written}}}"#);
        let a = node.put(&customer_path(), body).await;
        assert!(a.status.is_success(), "{written}: {:?}", a.body);
        let got = node.get(&customer_path()).await;
        assert_eq!(got.body["credit_limit"], stored, "{written}");
    }
    for (kind, key, field) in [
        ("customer", CPF, "credit_limit"),
        ("product", "SKU-1", "sale_price"),
        ("product", "SKU-1", "cost_price"),
        ("product", "SKU-1", "wholesale_price"),
    ] {
        for written in ["1.500", "1,500", "2.000", "10,250"] {
            let named = if kind == "customer" {
                "name"
            } else {
                "description"
            };
            let body = format!(r#"{{"{named}":"Ana","{field}":"{written}"}}"#);
            let path = format!("/v1/records/{kind}/{key}");
            let a = node.put(&path, body).await;
            assert_eq!(
                a.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{field} {written}: {:?}",
                a.body
            );
            assert_eq!(named_fields(&a), [field]);
            let reason = a.body["fields"][0]["reason"].as_str().unwrap_or_default();
            assert!(
                reason.contains("two ways") && reason.contains("1.500,50"),
                "{reason}"
            );
        }
    }
    // The refused writes changed nothing.
    let got = node.get(&customer_path()).await;
    assert_eq!(got.body["credit_limit"], "1500.00");
    node.assert_no_record("/v1/records/product/SKU-1").await;
}

/// The change feed names records, once per write; `limit=0` is refused;
/// a `since` past the log's end answers where the log ends.
#[tokio::test]
async fn the_feed_names_records_once_per_write() {
    let node = Node::start().await;
    let body = r#"{"name":"Ana","credit_limit":"700.00","extra":{"cor":"azul"}}"#;
    assert!(node.put(&customer_path(), body).await.status.is_success());
    let feed = node.get("/v1/changes?since=0").await;
    let ids: Vec<&str> = feed.body["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str())
        .filter(|id| id.starts_with("customer/"))
        .collect();
    assert_eq!(ids, [format!("customer/cpf:{CPF}")], "{:?}", feed.body);
    let last = feed.body["last_seq"].as_u64().expect("last_seq");

    let past = node.get("/v1/changes?since=99999999").await;
    assert_eq!(past.body["changes"], serde_json::json!([]));
    assert_eq!(past.body["last_seq"].as_u64(), Some(last));

    for path in ["/v1/changes?limit=0", "/v1/records/customer?limit=0"] {
        let a = node.get(path).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {:?}",
            a.body
        );
    }
}

/// Keys a route does not know are refused, not ignored; the command line's
/// words for the share sets are understood.
#[tokio::test]
async fn unknown_keys_are_refused() {
    let node = Node::start().await;
    let a = node
        .send("PUT", "/v1/share", r#"{"sned":"customers"}"#)
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", a.body);
    let a = node
        .send("PUT", "/v1/share", r#"{"send":"customers"}"#)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["sends"], "customers");
    let a = node.send("POST", "/v1/resync", r#"{"peers":"x"}"#).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", a.body);
    let a = node
        .send(
            "POST",
            "/v1/stock",
            r#"[{"sku":"SKU-1","quantity":1,"qty":2}]"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", a.body);
}

/// A stock figure is what a company holds: not negative, and no more
/// reserved than held.
#[tokio::test]
async fn stock_is_never_negative_nor_more_reserved_than_held() {
    let node = Node::start().await;
    let sku = r#"{"description":"Parafuso"}"#;
    assert!(
        node.put("/v1/records/product/SKU-1", sku)
            .await
            .status
            .is_success()
    );
    let rows = r#"[{"sku":"SKU-1","quantity":-5},
        {"sku":"SKU-1","quantity":"2","reserved":"3"},
        {"sku":"SKU-1","quantity":"1.500,000","reserved":"2"}]"#;
    let a = node.send("POST", "/v1/stock", rows).await;
    let rejected: Vec<u64> = a.body["rejected"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["index"].as_u64())
        .collect();
    assert_eq!(rejected, [0, 1], "{:?}", a.body);
    let view = node.get("/v1/stock/SKU-1").await;
    assert_eq!(
        view.body["total"]["quantity"], "1500.000",
        "{:?}",
        view.body
    );
}

/// The error's message says `what`.
fn assert_message_has(a: &Answer, what: &str) {
    let message = a.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(what), "{what:?} not in {:?}", a.body);
}

/// Every error the router gives, axum's own refusals included, is in the
/// error shape: a body over the limit (above), a method the route does not take,
/// an unknown route, a query string or a path that does not read.
#[tokio::test]
async fn every_refusal_of_the_router_is_in_the_error_shape() {
    let node = Node::start().await;

    let a = node.send("DELETE", "/v1/status", Body::empty()).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_shape(&a, "method_not_allowed");
    assert_message_has(&a, "GET");

    let a = node.send("PUT", "/v1/nothing-here", "{}").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_error_shape(&a, "not_found");

    let a = node.send("PUT", &customer_path(), "{\"name\": ").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_error_shape(&a, "malformed_json");

    for path in [
        "/v1/records/customer?limit=ten",
        "/v1/changes?since=-1",
        "/v1/stock/SKU-1?scope=everything",
    ] {
        let a = node.get(path).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert_error_shape(&a, "invalid");
    }

    // A path segment that is not UTF-8 once decoded.
    let a = node.get("/v1/records/customer/%FF%FE").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert_error_shape(&a, "bad_request");

    // A body without a content type is read as JSON all the same (ERPs
    // and scripts leave it out), so it is not refused for that.
    let req = Request::builder()
        .method("PUT")
        .uri(customer_path())
        .header(header::AUTHORIZATION, format!("Bearer {}", node.token))
        .body(Body::from(r#"{"name":"Ana"}"#))
        .expect("request");
    let res = node.app.clone().oneshot(req).await.expect("answer");
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// A key no route knows is refused with 422 naming it, in bodies and in
/// query strings alike, on every route that reads either.
#[tokio::test]
async fn an_unknown_key_is_422_naming_it_everywhere() {
    let node = Node::start().await;
    let bodies = [
        (
            "POST",
            "/v1/primary/elect",
            r#"{"candidat":"11222333000181"}"#,
            "candidat",
        ),
        (
            "POST",
            "/v1/ranges",
            r#"{"company":"11222333000181","table":"customer","from":1,"to":9,"step":1}"#,
            "step",
        ),
        ("POST", "/v1/backup", r#"{"nome":"x.redb"}"#, "nome"),
        ("POST", "/v1/invites", r#"{"ttl":1}"#, "ttl"),
        (
            "PUT",
            "/v1/credit/escrow",
            r#"{"on":true,"off":false}"#,
            "off",
        ),
        (
            "PUT",
            "/v1/restricted",
            r#"{"fields":[],"campos":[]}"#,
            "campos",
        ),
    ];
    // Query strings: no body.
    let queries = [
        ("GET", "/v1/records/customer?limt=5", "", "limt"),
        ("GET", "/v1/changes?snce=3", "", "snce"),
        ("GET", "/v1/changes/stream?from=3", "", "from"),
        ("GET", "/v1/stock/SKU-1?scop=own", "", "scop"),
        ("POST", "/v1/ids/customer/next?cont=2", "", "cont"),
    ];
    for (method, path, body, key) in bodies.into_iter().chain(queries) {
        let a = node.send(method, path, body).await;
        assert_eq!(
            a.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {:?}",
            a.body
        );
        assert_eq!(named_fields(&a), [key], "{path}: {:?}", a.body);
    }
}

/// The OpenAPI document describes exactly the routes the router serves,
/// each method of each path, every one with its answers and the error
/// shape for its refusals.
#[tokio::test]
async fn the_openapi_document_lists_every_route_and_no_other() {
    let node = Node::start().await;
    let doc = node.get("/v1/openapi.json").await.body;
    let mut described: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if method == "parameters" {
                continue;
            }
            described.push((method.clone(), path.clone()));
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} has no success answer"
            );
            if path != "/v1/openapi.json" {
                assert!(responses.contains_key("401"), "{method} {path}: no 401");
            }
        }
    }
    described.sort();
    let served: Vec<(String, String)> = api::routes()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(described, served);
    assert!(served.contains(&("get".into(), "/v1/withheld".into())));
    assert!(served.len() >= 30, "{served:?}");

    // Every reference in it points at something it defines.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/").skip(1) {
        let target = reference.split('"').next().unwrap_or_default();
        let pointer = format!("/{target}");
        assert!(doc.pointer(&pointer).is_some(), "dangling $ref {target}");
    }
}

/// The change stream picks up where an ERP that reconnects left off: from
/// its `Last-Event-ID`, not from the `since` of the URL it reconnects to.
#[tokio::test]
async fn the_change_stream_resumes_from_last_event_id() {
    let node = Node::start().await;
    for name in ["Ana", "Bia", "Cris"] {
        let cpf = match name {
            "Ana" => "52998224725",
            "Bia" => "11144477735",
            _ => "39053344705",
        };
        let a = node
            .put(
                &format!("/v1/records/customer/{cpf}"),
                format!(r#"{{"name":"{name}"}}"#),
            )
            .await;
        assert!(a.status.is_success(), "{:?}", a.body);
    }
    let all = node.get("/v1/changes?since=0").await.body;
    let seqs: Vec<u64> = all["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["kind"] == "customer")
        .filter_map(|c| c["seq"].as_u64())
        .collect();
    assert_eq!(seqs.len(), 3, "{all:?}");

    let first_event_after = |last_event_id: Option<String>| {
        let mut req = Request::builder()
            .uri("/v1/changes/stream?since=0")
            .header(header::AUTHORIZATION, format!("Bearer {}", node.token));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let req = req.body(Body::empty()).expect("request");
        let app = node.app.clone();
        async move {
            let res = app.oneshot(req).await.expect("answer");
            let status = res.status();
            let mut body = res.into_body();
            let mut text = String::new();
            while !text.contains("\n\n") {
                let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
                    .await
                    .expect("an event within 5 s");
                let Some(Ok(frame)) = frame else { break };
                if let Ok(data) = frame.into_data() {
                    text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            (status, text)
        }
    };
    // Without it, from `since`: the log's first change (the company).
    let (_, text) = first_event_after(None).await;
    assert!(text.contains("id: 1\n"), "{text}");
    // Seen up to the second customer: the third is next.
    let (status, text) = first_event_after(Some(seqs[1].to_string())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains(&format!("id: {}", seqs[2])), "{text}");
    assert!(text.contains("39053344705"), "{text}");

    let (status, _) = first_event_after(Some("yesterday".into())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// What a person is told when a request names the wrong thing: this
/// company itself for an authorisation, a range that overlaps another.
#[tokio::test]
async fn refusals_say_what_is_wrong_in_words() {
    let node = Node::start().await;
    let myself = format!(r#"{{"from":"{CNPJ}"}}"#);
    let a = node.send("POST", "/v1/authorizations", myself).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", a.body);
    let message = a.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("is this company"), "{message}");
    assert!(!message.contains("not a member"), "{message}");

    let range = |from: i64, to: i64| {
        format!(r#"{{"company":"{CNPJ}","table":"supplier","from":{from},"to":{to}}}"#)
    };
    let a = node
        .send("POST", "/v1/ranges", range(500_000, 500_999))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    let a = node
        .send("POST", "/v1/ranges", range(500_500, 501_000))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{:?}", a.body);
    assert_error_shape(&a, "range_overlaps");
    let message = a.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("codes 500000..=500999 of table supplier"),
        "{message}"
    );
    assert!(
        !message.contains('{') && !message.contains("Range"),
        "{message}"
    );
}

/// One line of the Prometheus text format: a comment (`# HELP`, `# TYPE`,
/// `# UNIT`, `# EOF`) or `name{label="value",…} number`. Returns the
/// sample's name, or why the line does not read.
fn exposition_line(line: &str) -> Result<Option<&str>, String> {
    let is_name = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    if let Some(comment) = line.strip_prefix("# ") {
        let mut words = comment.splitn(3, ' ');
        return match (words.next(), words.next()) {
            (Some("EOF"), None) => Ok(None),
            (Some("HELP" | "TYPE" | "UNIT"), Some(name)) if is_name(name) => Ok(None),
            _ => Err(format!("not a known comment: {line:?}")),
        };
    }
    let (series, value) = line
        .rsplit_once(' ')
        .ok_or_else(|| format!("no value: {line:?}"))?;
    let number_reads = value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value);
    if !number_reads {
        return Err(format!("value {value:?} is not a number: {line:?}"));
    }
    let name = match series.split_once('{') {
        None => series,
        Some((name, labels)) => {
            let labels = labels
                .strip_suffix('}')
                .ok_or_else(|| format!("labels not closed: {line:?}"))?;
            // Each pair ends in `"` and a comma (one added after the last).
            let closed = format!("{labels},");
            let mut pairs: Vec<&str> = closed.split("\",").collect();
            if pairs.pop() != Some("") {
                return Err(format!("a label value not closed: {line:?}"));
            }
            for pair in pairs.into_iter().filter(|p| !p.is_empty()) {
                let (key, value) = pair
                    .split_once("=\"")
                    .ok_or_else(|| format!("label {pair:?} is not key=\"value\": {line:?}"))?;
                if !is_name(key) || value.replace("\\\"", "").contains('"') {
                    return Err(format!("label {pair:?} does not read: {line:?}"));
                }
            }
            name
        }
    };
    if is_name(name) {
        Ok(Some(name))
    } else {
        Err(format!("{name:?} is not a metric name: {line:?}"))
    }
}

#[tokio::test]
async fn metrics_are_in_the_text_format_behind_the_token() {
    let node = Node::start().await;
    let refused = node.send_as(None, "GET", "/metrics", Body::empty()).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let put = node.put(&customer_path(), r#"{"name":"Ana"}"#).await;
    assert_eq!(put.status, StatusCode::CREATED, "{:?}", put.body);
    assert_eq!(node.get(&customer_path()).await.status, StatusCode::OK);

    let got = node.get("/metrics").await;
    assert_eq!(got.status, StatusCode::OK);
    let text = got.body.as_str().expect("a text answer");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let mut names = std::collections::BTreeSet::new();
    for line in text.lines() {
        match exposition_line(line) {
            Ok(Some(name)) => {
                names.insert(name);
            }
            Ok(None) => {}
            Err(why) => panic!("{why}\n{text}"),
        }
    }
    for name in [
        "elo_records",
        "elo_documents",
        "elo_last_sequence",
        "elo_write_duration_seconds_count",
        "elo_codes_left",
        "elo_api_requests_total",
    ] {
        assert!(names.contains(name), "{name} missing in\n{text}");
    }
    // The same counts as the status (the company's own record and Ana).
    let status = node.get("/v1/status").await.body;
    let records = format!("elo_records {}\n", status["records"]);
    assert!(text.contains(&records), "{records} missing in\n{text}");
    // By route template and status, the refusal included; never the raw
    // path. (The counts are the process's: other tests add to them.)
    for series in [
        r#"elo_api_requests_total{route="/v1/records/{kind}/{key}",method="PUT",status="201"} "#,
        r#"elo_api_requests_total{route="/v1/records/{kind}/{key}",method="GET",status="200"} "#,
        r#"elo_api_requests_total{route="/metrics",method="GET",status="401"} "#,
        // How long each took, by template and method alone.
        r#"elo_api_request_duration_seconds_count{route="/v1/records/{kind}/{key}",method="PUT"} "#,
        r#"elo_api_request_duration_seconds_bucket{le="+Inf",route="/v1/records/{kind}/{key}",method="GET"} "#,
    ] {
        assert!(text.contains(series), "{series} missing in\n{text}");
    }
    assert!(!text.contains(CPF), "a raw path in\n{text}");
    assert!(exposition_line("elo_records one").is_err());
    assert!(exposition_line(r#"elo_x{a="b} 1"#).is_err());
}

/// The filial's copy of a document, merged into `into` as replication does.
async fn merge_from(from: &Node, into: &Node, id: &str) {
    let docs = from
        .store
        .docs_for_peer(vec![(id.to_string(), Vec::new())])
        .await
        .expect("the filial's document");
    for (doc, payload) in docs {
        let doc = elo_crdt::DocId::parse(&doc).expect("a document id");
        let op = into
            .store
            .prepare_received(&doc, payload, false, "45723174000110")
            .expect("a valid document")
            .expect("something new");
        into.store
            .write_one(op)
            .await
            .expect("stored")
            .expect("merged");
    }
}

#[tokio::test]
async fn a_field_edited_apart_shows_both_values_and_who_wrote_each() {
    let matriz = Node::start().await;
    let filial = Node::start_as("45.723.174/0001-10").await;
    let path = customer_path();
    let created = matriz.put(&path, r#"{"name": "Ana"}"#).await;
    assert!(created.status.is_success(), "{:?}", created.body);
    merge_from(&matriz, &filial, "customer/cpf:52998224725").await;
    let none = matriz.get(&format!("{path}/conflicts")).await;
    assert_eq!(none.status, StatusCode::OK, "{:?}", none.body);
    assert_eq!(none.body["conflicts"], serde_json::json!([]));

    // Apart: each company renames the customer, then the filial's reaches the matriz.
    matriz.put(&path, r#"{"name": "Ana Souza"}"#).await;
    filial.put(&path, r#"{"name": "Ana S."}"#).await;
    merge_from(&filial, &matriz, "customer/cpf:52998224725").await;

    let got = matriz.get(&format!("{path}/conflicts")).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    let conflicts = got.body["conflicts"].as_array().expect("a list");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["field"], "name");
    let mut both: Vec<(String, String)> = conflicts[0]["values"]
        .as_array()
        .expect("the values")
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap_or("").into(),
                v["company"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    both.sort();
    assert_eq!(
        both,
        vec![
            ("Ana S.".into(), "45723174000110".into()),
            ("Ana Souza".into(), "11222333000181".into())
        ]
    );
    let shown = matriz.get(&path).await;
    assert_eq!(
        conflicts[0]["values"][0]["value"], shown.body["name"],
        "the value shown comes first"
    );
    let unknown = matriz
        .get("/v1/records/customer/39053344705/conflicts")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{:?}", unknown.body);
}

/// `elo import` names each batch (`X-Elo-Import: ID; done=D; total=T`):
/// once a batch is stored, `GET /v1/imports` shows how far that import
/// went; a batch refused before it is stored moves nothing.
#[tokio::test]
async fn an_import_names_its_batches_and_the_node_shows_how_far_it_went() {
    let node = Node::start().await;
    let batch = |header: Option<&'static str>, token: Option<String>, cpf: &'static str| {
        let mut req = Request::builder()
            .method("POST")
            .uri("/v1/records/customer")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(h) = header {
            req = req.header("X-Elo-Import", h);
        }
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = format!(r#"[{{"cpf": "{cpf}", "name": "Ana"}}]"#);
        let app = node.app.clone();
        async move {
            app.oneshot(req.body(Body::from(body)).expect("a request"))
                .await
                .expect("an answer")
                .status()
        }
    };
    let token = || Some(node.token.clone());
    assert_eq!(
        node.get("/v1/imports").await.body["imports"],
        serde_json::json!([])
    );
    let first = batch(Some("imp-7; done=400; total=1000"), token(), CPF).await;
    assert_eq!(first, StatusCode::OK);
    // Without the token: refused, and no progress from it.
    let refused = batch(Some("imp-7; done=900; total=1000"), None, CPF).await;
    assert_eq!(refused, StatusCode::UNAUTHORIZED);
    // A batch without the header, or with one that does not read, is stored as ever.
    assert_eq!(batch(None, token(), "39053344705").await, StatusCode::OK);
    assert_eq!(
        batch(Some("imp 8"), token(), "39053344705").await,
        StatusCode::OK
    );
    let shown = node.get("/v1/imports").await.body["imports"].clone();
    assert_eq!(shown.as_array().map(Vec::len), Some(1), "{shown}");
    assert_eq!(
        (
            &shown[0]["id"],
            &shown[0]["kind"],
            &shown[0]["done"],
            &shown[0]["total"]
        ),
        (
            &"imp-7".into(),
            &"customer".into(),
            &400.into(),
            &1000.into()
        )
    );
    assert_eq!(shown[0]["finished"], false);
    let last = batch(Some("imp-7; done=1000; total=1000"), token(), CPF).await;
    assert_eq!(last, StatusCode::OK);
    let shown = node.get("/v1/imports").await.body["imports"].clone();
    assert_eq!(
        (&shown[0]["done"], &shown[0]["batches"]),
        (&1000.into(), &2.into())
    );
    assert_eq!(shown[0]["finished"], true);
}

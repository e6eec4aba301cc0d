//! The local HTTP API an ERP talks to: records, the change feed (paged and
//! streaming), status and an OpenAPI document.
//!
//! Every route but `/v1/openapi.json` needs `Authorization: Bearer TOKEN`
//! with the token from the data directory, compared in constant time.
//! Errors are JSON `{"error": CODE, "message": TEXT, "fields": [...]}`:
//! malformed JSON is 400 with the line and column, an invalid field 422
//! naming it, an oversized body 413. A refused write stores nothing.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use elo_crdt::{DocId, FieldError, Kind, ValidationError};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::data_dir::{Company, Group};
use crate::records::{self, RecordError};
use crate::store::{ChangeEntry, StoreError, StoreHandle, WriteResult};
use crate::{api_business, api_primary};

/// Largest body of a single-record request.
pub const MAX_RECORD_BODY: usize = 1024 * 1024;
/// Largest body of a bulk write (`POST /v1/records/{kind}`).
pub const MAX_BULK_BODY: usize = 32 * 1024 * 1024;
/// Most records in one bulk write.
pub const MAX_BULK_RECORDS: usize = 10_000;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 10_000;

/// What the API's handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: StoreHandle,
    pub token: String,
    pub company: Company,
    pub group: Group,
    /// Turns true when the node stops, ending change streams so the server
    /// can finish its graceful shutdown.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The mesh, when the node replicates with others.
    pub mesh: Option<crate::replication::Replication>,
    /// The election and ID-range task.
    pub primary: crate::primary::PrimaryHandle,
}

/// The API's routes.
pub fn router(state: ApiState) -> Router {
    let records = Router::new()
        .route("/v1/records/{kind}", get(list_records).post(bulk_write))
        .route("/v1/stock", post(api_business::stock_update))
        .layer(DefaultBodyLimit::max(MAX_BULK_BODY));
    let record = Router::new()
        .route(
            "/v1/records/{kind}/{key}",
            get(get_record)
                .put(put_record)
                .patch(patch_record)
                .delete(delete_record),
        )
        .route("/v1/records/{kind}/{key}/history", get(record_history))
        .route("/v1/changes", get(changes))
        .route("/v1/changes/stream", get(change_stream))
        .route("/v1/status", get(status))
        .route("/v1/invites", post(create_invite))
        .route("/v1/sync", get(sync_state))
        .route("/v1/resync", post(resync))
        .route("/v1/share", get(share_show).put(share_set))
        .route("/v1/authorizations", get(share_show).post(authorize))
        .route("/v1/authorizations/{company}", delete(revoke))
        .route("/v1/restricted", get(share_show).put(restrict))
        .route("/v1/members/{company}", delete(remove_company))
        .route(
            "/v1/customers/{key}/credit",
            get(api_business::credit_show).post(api_business::credit_change),
        )
        .route("/v1/stock/{sku}", get(api_business::stock_show))
        .route("/v1/backup", post(api_business::backup))
        .route(
            "/v1/credit/escrow",
            axum::routing::put(api_business::escrow_set),
        )
        .route("/v1/primary", get(api_primary::show))
        .route("/v1/primary/elect", post(api_primary::elect))
        .route("/v1/ranges", get(api_primary::list).post(api_primary::set))
        .route("/v1/ids/{table}/next", post(api_primary::next))
        .layer(DefaultBodyLimit::max(MAX_RECORD_BODY));
    Router::new()
        .merge(records)
        .merge(record)
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .route("/v1/openapi.json", get(openapi))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(state)
}

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: Vec<FieldError>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    fn invalid(e: ValidationError) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            message: e.to_string(),
            fields: e.0,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "message": self.message, "fields": self.fields });
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!("store: {e}");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string())
    }
}

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Invalid(v) => ApiError::invalid(v),
            RecordError::NotFound(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no record {id}"),
            ),
            RecordError::Store(s) => s.into(),
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "damaged",
                other.to_string(),
            ),
        }
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

async fn require_token(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if token_matches(given, &state.token) {
        next.run(req).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer TOKEN, with the token from the data directory's api-token file",
        )
        .into_response()
    }
}

/// Constant-time comparison, so response timing says nothing of the token.
fn token_matches(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

fn parse_kind(kind: &str) -> ApiResult<Kind> {
    kind.parse().map_err(|e: elo_crdt::UnknownKind| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_kind", e.to_string())
    })
}

/// A kind of record this company holds: one of the categories it sends or
/// receives (`elo share`). Others are refused, whatever the request.
pub(crate) async fn held_kind(state: &ApiState, kind: &str) -> ApiResult<Kind> {
    let kind = parse_kind(kind)?;
    if kind == Kind::Company {
        return Ok(kind);
    }
    let me = DocId::from_key(Kind::Company, &state.company.cnpj)
        .map_err(|e| ApiError::invalid(e.into()))?;
    let Some(own) = state.store.get(me).await? else {
        return Ok(kind);
    };
    let text = |f: &str| match own.values.get(f) {
        Some(elo_crdt::FieldValue::Text(t)) => t.clone(),
        _ => String::new(),
    };
    let sharing =
        |f: &str| elo_crdt::Sharing::parse(&text(f)).unwrap_or_else(|_| elo_crdt::Sharing::none());
    if sharing("sends").covers(kind) || sharing("receives").covers(kind) {
        return Ok(kind);
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "category_not_held",
        format!(
            "this company neither sends nor receives {} (see `elo share`)",
            elo_crdt::schema::kind_category(kind).as_str()
        ),
    ))
}

fn parse_id(kind: Kind, key: &str) -> ApiResult<DocId> {
    DocId::from_key(kind, key).map_err(|e| ApiError::invalid(e.into()))
}

/// A record named in a URL: by its key, or by this company's own code as
/// `erp:CODE` (ERPs that number records their own way).
async fn resolve_id(state: &ApiState, kind: Kind, key: &str) -> ApiResult<DocId> {
    match key.strip_prefix("erp:") {
        Some(code) => state
            .store
            .id_by_own_code(kind, code.to_owned())
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no {kind} with this company's code {code:?}"),
                )
            }),
        None => parse_id(kind, key),
    }
}

/// Adds `erp_code`, this company's own code for the record, to its JSON.
fn with_own_code(mut v: Value, me: &str) -> Value {
    let code = v["codes"][me].clone();
    if let Value::Object(m) = &mut v
        && !code.is_null()
    {
        m.insert("erp_code".into(), code);
    }
    v
}

/// Parses a body as JSON, saying where it is malformed.
fn parse_json(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!(
                "malformed JSON at line {}, column {}: {e}",
                e.line(),
                e.column()
            ),
        )
    })
}

#[derive(Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    deleted: bool,
}

async fn list_records(
    State(state): State<ApiState>,
    Path(kind): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let kind = held_kind(&state, &kind).await?;
    let after = match q.after.as_deref() {
        Some(a) if !a.is_empty() => Some(parse_id(kind, a)?),
        _ => None,
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let records = state.store.list(kind, after, limit, q.deleted).await?;
    let next = if records.len() == limit {
        records.last().map(|r| r.id.key().to_string())
    } else {
        None
    };
    let items: Vec<Value> = records
        .iter()
        .map(|r| with_own_code(r.to_json(), &state.company.cnpj))
        .collect();
    Ok(Json(json!({ "records": items, "next_after": next })))
}

async fn get_record(
    State(state): State<ApiState>,
    Path((kind, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let kind = held_kind(&state, &kind).await?;
    let id = resolve_id(&state, kind, &key).await?;
    match state.store.get(id.clone()).await? {
        Some(r) if !r.deleted => Ok(Json(with_own_code(r.to_json(), &state.company.cnpj))),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no record {id}"),
        )),
    }
}

async fn write_record(
    state: &ApiState,
    kind: &str,
    key: &str,
    body: &[u8],
    must_exist: bool,
) -> ApiResult<Response> {
    let kind = held_kind(state, kind).await?;
    let value = parse_json(body)?;
    let id = resolve_id(state, kind, key).await?;
    let result = records::put_with_codes(
        &state.store,
        kind,
        Some(id.key()),
        &value,
        must_exist,
        Some(&state.primary),
    )
    .await?;
    let (status, Json(body)) = written(result);
    Ok((status, Json(with_own_code(body, &state.company.cnpj))).into_response())
}

fn written(result: WriteResult) -> (StatusCode, Json<Value>) {
    let status = if result.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = result.record.map(|r| r.to_json()).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut body {
        m.insert("seq".into(), json!(result.seq));
    }
    (status, Json(body))
}

async fn put_record(
    State(state): State<ApiState>,
    Path((kind, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    write_record(&state, &kind, &key, &body, false).await
}

async fn patch_record(
    State(state): State<ApiState>,
    Path((kind, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    write_record(&state, &kind, &key, &body, true).await
}

async fn delete_record(
    State(state): State<ApiState>,
    Path((kind, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let kind = held_kind(&state, &kind).await?;
    let id = resolve_id(&state, kind, &key).await?;
    let result = records::delete(&state.store, kind, id.key()).await?;
    Ok(Json(
        json!({ "id": result.id.to_string(), "deleted": true, "seq": result.seq }),
    ))
}

async fn record_history(
    State(state): State<ApiState>,
    Path((kind, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let kind = held_kind(&state, &kind).await?;
    let id = resolve_id(&state, kind, &key).await?;
    match state.store.history(id.clone()).await? {
        Some(h) => Ok(Json(json!({ "id": id.to_string(), "history": h }))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no record {id}"),
        )),
    }
}

/// Writes many records of one kind: a JSON array of records, each checked
/// alone. 200 when all were stored; 422 listing the refused rows by index
/// when some were not (the others are stored).
async fn bulk_write(
    State(state): State<ApiState>,
    Path(kind): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let kind = held_kind(&state, &kind).await?;
    let Value::Array(items) = parse_json(&body)? else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "expected a JSON array of records",
        ));
    };
    if items.len() > MAX_BULK_RECORDS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many",
            format!(
                "at most {MAX_BULK_RECORDS} records per request, got {}",
                items.len()
            ),
        ));
    }
    let report =
        records::put_many_with_codes(&state.store, kind, &items, Some(&state.primary)).await?;
    Ok(bulk_answer(report.rejected.is_empty(), json!(report)))
}

/// A bulk write's answer: 200 when every row was stored, 422 listing the
/// refused rows when some were not (the others are stored).
pub(crate) fn bulk_answer(all_stored: bool, report: Value) -> Response {
    let status = if all_stored {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(report)).into_response()
}

#[derive(Deserialize)]
struct ChangesQuery {
    #[serde(default)]
    since: u64,
    limit: Option<usize>,
}

async fn changes(
    State(state): State<ApiState>,
    Query(q): Query<ChangesQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let entries = state.store.changes_since(q.since, limit).await?;
    let last = entries.last().map_or(q.since, |e| e.seq);
    // Each change also names the record by this company's own code.
    let codes = state
        .store
        .own_codes_of(entries.iter().map(|e| e.id.clone()).collect())
        .await?;
    let items: Vec<Value> = entries
        .iter()
        .zip(codes)
        .map(|(e, code)| feed_item(e, code))
        .collect();
    Ok(Json(json!({ "changes": items, "last_seq": last })))
}

/// A change as the feed shows it: enough for an ERP to fetch the record.
fn feed_item(e: &ChangeEntry, erp_code: Option<String>) -> Value {
    let (kind, key) = e.id.split_once('/').unwrap_or(("", &e.id));
    let mut item = json!({ "seq": e.seq, "id": e.id, "kind": kind, "key": key, "deleted": e.deleted, "company": e.company });
    if let (Some(code), Value::Object(m)) = (erp_code, &mut item) {
        m.insert("erp_code".into(), Value::String(code));
    }
    item
}

/// The change feed as server-sent events: first every change after
/// `since`, then each new one as it is committed. An ERP that reconnects
/// with the last `seq` it saw misses nothing.
async fn change_stream(
    State(state): State<ApiState>,
    Query(q): Query<ChangesQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    struct Feed {
        store: StoreHandle,
        live: tokio::sync::broadcast::Receiver<ChangeEntry>,
        last: u64,
        backlog: std::collections::VecDeque<ChangeEntry>,
        catching_up: bool,
        stopping: tokio::sync::watch::Receiver<bool>,
    }
    // Subscribe before reading the backlog, so nothing falls between the two.
    let feed = Feed {
        live: state.store.subscribe(),
        store: state.store.clone(),
        last: q.since,
        backlog: Default::default(),
        catching_up: true,
        stopping: state.stopping.clone(),
    };
    let stream = futures::stream::unfold(feed, |mut f| async move {
        loop {
            if let Some(e) = f.backlog.pop_front() {
                f.last = e.seq;
                // Named by this company's own code too, when it has one.
                let code = f
                    .store
                    .own_codes_of(vec![e.id.clone()])
                    .await
                    .ok()
                    .and_then(|c| c.into_iter().next().flatten());
                return Some((Ok(change_event(&e, code)), f));
            }
            if f.catching_up {
                match f.store.changes_since(f.last, 1000).await {
                    Ok(page) if !page.is_empty() => {
                        f.backlog.extend(page);
                        continue;
                    }
                    Ok(_) => f.catching_up = false,
                    Err(e) => {
                        tracing::warn!("change feed: {e}");
                        return None;
                    }
                }
            }
            let next = tokio::select! {
                next = f.live.recv() => next,
                _ = f.stopping.wait_for(|stop| *stop) => return None,
            };
            match next {
                Ok(e) if e.seq > f.last => f.backlog.push_back(e),
                Ok(_) => {}
                // Fell behind the live channel: read the gap from the store.
                Err(RecvError::Lagged(_)) => f.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn change_event(e: &ChangeEntry, erp_code: Option<String>) -> Event {
    Event::default()
        .event("change")
        .id(e.seq.to_string())
        .data(feed_item(e, erp_code).to_string())
}

async fn status(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let last_seq = state.store.last_seq().await?;
    let records = state.store.record_count().await?;
    let documents = state.store.doc_count().await?;
    let (members, listen) = match &state.mesh {
        Some(m) => (json!(m.status().await), json!(m.listen_addrs().await)),
        None => (json!([]), json!([])),
    };
    let roster = crate::group::roster(&state.store).await?;
    let pending = crate::group::pending_authorizations(&roster, &state.company.cnpj);
    let (primary, _) = state.primary.view().await?;
    Ok(Json(json!({
        "company": state.company,
        "pending_authorizations": pending,
        "group": { "id": state.group.id,
            "primary": primary.primary.as_ref().map(|p| p.company.clone()),
            "term": primary.primary.as_ref().map_or(0, |p| p.term) },
        "members": members,
        "listen": listen,
        "last_seq": last_seq,
        "records": records,
        "documents": documents,
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

#[derive(Deserialize, Default)]
struct InviteRequest {
    #[serde(default)]
    addrs: Vec<String>,
    ttl_hours: Option<u64>,
}

/// Makes a one-time invite for a new company.
async fn create_invite(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: InviteRequest = if body.is_empty() {
        InviteRequest::default()
    } else {
        serde_json::from_value(parse_json(&body)?).map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
        })?
    };
    let ttl = req.ttl_hours.unwrap_or(crate::group::DEFAULT_INVITE_HOURS);
    // The running mesh knows its addresses now; what it remembered may be stale.
    let addrs = match (&state.mesh, req.addrs.is_empty()) {
        (Some(mesh), true) => mesh.p2p_addrs().await,
        _ => req.addrs,
    };
    // The group secret may have changed since the node started (a member
    // was removed): invites carry the current one.
    let group = match state.store.meta(crate::data_dir::META_GROUP).await? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_else(|_| state.group.clone()),
        None => state.group.clone(),
    };
    let invite = crate::group::create_invite(&state.store, &group, addrs, ttl)
        .await
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "invite", e.to_string()))?;
    Ok(Json(
        json!({ "invite": invite.encode(), "expires_ms": invite.expires_ms, "addrs": invite.addrs }),
    ))
}

/// Replication state: how far behind each member this node is.
async fn sync_state(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let peers = match &state.mesh {
        Some(m) => m.status().await,
        None => Vec::new(),
    };
    let caught_up = peers
        .iter()
        .filter(|p| p.connected)
        .all(|p| p.behind == 0 && !p.pulling);
    Ok(Json(json!({ "peers": peers, "caught_up": caught_up,
        "connected": peers.iter().filter(|p| p.connected).count() })))
}

#[derive(Deserialize, Default)]
struct ResyncRequest {
    peer: Option<String>,
}

/// Forgets checkpoints and replicates from scratch.
async fn resync(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: ResyncRequest = if body.is_empty() {
        ResyncRequest::default()
    } else {
        serde_json::from_value(parse_json(&body)?).map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
        })?
    };
    let Some(mesh) = &state.mesh else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_mesh",
            "this node runs without the mesh",
        ));
    };
    let n = mesh
        .resync(req.peer)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "mesh", e.to_string()))?;
    Ok(Json(json!({ "members": n })))
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::api_doc::OPENAPI,
    )
}

impl From<crate::group::sharing::PolicyError> for ApiError {
    fn from(e: crate::group::sharing::PolicyError) -> Self {
        use crate::group::sharing::PolicyError as P;
        match e {
            P::Record(r) => r.into(),
            P::Store(s) => s.into(),
            P::NotMember(_) => ApiError::new(StatusCode::NOT_FOUND, "not_member", e.to_string()),
            other => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                other.to_string(),
            ),
        }
    }
}

/// Reads a JSON object body into `T`.
pub(crate) fn body_as<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_value(parse_json(body)?)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()))
}

/// This company's sharing policy: what it sends and receives, whom it
/// receives from, who is waiting for its authorisation, what it restricts.
async fn share_show(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let policy = crate::group::sharing::show(&state.store, &state.company.cnpj).await?;
    Ok(Json(json!(policy)))
}

#[derive(Deserialize)]
struct ShareRequest {
    sends: Option<String>,
    receives: Option<String>,
}

async fn share_set(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: ShareRequest = body_as(&body)?;
    let policy = crate::group::sharing::share(
        &state.store,
        &state.company.cnpj,
        req.sends.as_deref(),
        req.receives.as_deref(),
    )
    .await?;
    Ok(Json(json!(policy)))
}

#[derive(Deserialize)]
struct AuthorizeRequest {
    from: String,
    #[serde(default)]
    categories: Option<String>,
}

async fn authorize(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: AuthorizeRequest = body_as(&body)?;
    let policy = crate::group::sharing::authorize(
        &state.store,
        &state.company.cnpj,
        &req.from,
        req.categories.as_deref().unwrap_or("all"),
    )
    .await?;
    Ok(Json(json!(policy)))
}

async fn revoke(
    State(state): State<ApiState>,
    Path(company): Path<String>,
) -> ApiResult<Json<Value>> {
    let policy = crate::group::sharing::revoke(&state.store, &state.company.cnpj, &company).await?;
    Ok(Json(json!(policy)))
}

#[derive(Deserialize)]
struct RestrictRequest {
    fields: Vec<String>,
}

async fn restrict(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: RestrictRequest = body_as(&body)?;
    let policy =
        crate::group::sharing::restrict(&state.store, &state.company.cnpj, &req.fields).await?;
    Ok(Json(json!(policy)))
}

/// Takes a company out of the group and changes the network key.
async fn remove_company(
    State(state): State<ApiState>,
    Path(company): Path<String>,
) -> ApiResult<Json<Value>> {
    let Some(mesh) = &state.mesh else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_mesh",
            "removing a company must reach the members: run the node with the mesh",
        ));
    };
    match mesh.remove_company(&company).await {
        Ok(r) => Ok(Json(json!(r))),
        Err(
            e @ (crate::replication::ReplicationError::Removal(_)
            | crate::replication::ReplicationError::Primary(_)),
        ) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            e.to_string(),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "mesh",
            e.to_string(),
        )),
    }
}

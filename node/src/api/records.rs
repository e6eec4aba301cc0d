//! Records: read, list, write (one or many at once), delete, and who
//! changed what. Writes go through [`crate::records`], which validates them
//! and draws codes; a refused write stores nothing.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use elo_crdt::{DocId, Kind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::request::{
    ApiQuery, MAX_BULK_RECORDS, held_kind, page_size, parse_id, parse_json, resolve_id,
};
use super::routes::Routes;
use super::state::ApiState;
use crate::records;
use crate::store::WriteResult;

/// The record routes; the bulk write takes up to
/// [`MAX_BULK_BODY`](super::request::MAX_BULK_BODY).
pub(super) fn router() -> Routes {
    const RECORD: &str = "/v1/records/{kind}/{key}";
    Routes::new()
        .get("/v1/records/{kind}", list_records)
        .post_bulk("/v1/records/{kind}", bulk_write)
        .get(RECORD, get_record)
        .put(RECORD, write_record)
        .patch(RECORD, write_record)
        .delete(RECORD, delete_record)
        .get("/v1/records/{kind}/{key}/history", record_history)
        .get("/v1/records/{kind}/{key}/conflicts", record_conflicts)
}

/// The kind and record a URL names, the kind one this company holds.
async fn named_record(state: &ApiState, kind: &str, key: &str) -> ApiResult<(Kind, DocId)> {
    let kind = held_kind(state, kind).await?;
    let id = resolve_id(state, kind, key).await?;
    Ok((kind, id))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    deleted: bool,
}

async fn list_records(
    State(state): State<ApiState>,
    Path(kind): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let kind = held_kind(&state, &kind).await?;
    let after = match q.after.as_deref() {
        Some(a) if !a.is_empty() => Some(parse_id(kind, a)?),
        _ => None,
    };
    let limit = page_size(q.limit)?;
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
    let (_, id) = named_record(&state, &kind, &key).await?;
    match state.store.get(id.clone()).await? {
        Some(r) if !r.deleted => Ok(Json(with_own_code(r.to_json(), &state.company.cnpj))),
        _ => Err(ApiError::no_record(id)),
    }
}

/// `PUT` creates the record or sets some of its fields; `PATCH` only
/// updates one that exists.
async fn write_record(
    method: Method,
    State(state): State<ApiState>,
    Path((kind, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let must_exist = method == Method::PATCH;
    let kind = held_kind(&state, &kind).await?;
    // Malformed JSON is told before a bad key, as it always was.
    let value = parse_json(&body)?;
    let id = resolve_id(&state, kind, &key).await?;
    let result = records::put_with_codes(
        &state.store,
        kind,
        Some(id.key()),
        &value,
        must_exist,
        Some(&state.primary),
    )
    .await?;
    // The answer is the record as a GET shows it, the fields this write did
    // not touch and the parts (credit limit, prices, rates) included. The
    // store answers a write with the whole record; it is read again only
    // when it did not (the write changed nothing, or left it deleted).
    let whole = result.result.record.as_ref().is_some_and(|r| !r.deleted);
    let (status, Json(mut body)) = written(result.result);
    if !whole && let Some(record) = state.store.get(id).await?.filter(|r| !r.deleted) {
        let seq = body["seq"].clone();
        body = record.to_json();
        if let Value::Object(m) = &mut body {
            m.insert("seq".into(), seq);
        }
    }
    if let (Some(reason), Value::Object(m)) = (result.code_pending, &mut body) {
        m.insert("code_pending".into(), json!(reason));
    }
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

async fn delete_record(
    State(state): State<ApiState>,
    Path((kind, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (kind, id) = named_record(&state, &kind, &key).await?;
    let result = records::delete(&state.store, kind, id.key()).await?;
    Ok(Json(
        json!({ "id": result.id.to_string(), "deleted": true, "seq": result.seq }),
    ))
}

async fn record_history(
    State(state): State<ApiState>,
    Path((kind, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (_, id) = named_record(&state, &kind, &key).await?;
    match state.store.history(id.clone()).await? {
        Some(h) => Ok(Json(json!({ "id": id.to_string(), "history": h }))),
        None => Err(ApiError::no_record(id)),
    }
}

async fn record_conflicts(
    State(state): State<ApiState>,
    Path((kind, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (_, id) = named_record(&state, &kind, &key).await?;
    match records::conflicts::of_record(&state.store, id.clone()).await? {
        Some(c) => Ok(Json(json!({ "id": id.to_string(), "conflicts": c }))),
        None => Err(ApiError::no_record(id)),
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
        return Err(ApiError::too_many("records", MAX_BULK_RECORDS, items.len()));
    }
    let report =
        records::put_many_with_codes(&state.store, kind, &items, Some(&state.primary)).await?;
    Ok(bulk_answer(report.rejected.is_empty(), json!(report)))
}

/// A bulk write's answer: 200 when every row was stored, 422 listing the
/// refused rows when some were not (the others are stored).
pub(super) fn bulk_answer(all_stored: bool, report: Value) -> Response {
    let status = if all_stored {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(report)).into_response()
}

//! The API of the primary and the ID ranges: who is primary, elections,
//! ranges, and codes drawn from this company's blocks.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::request::{ApiQuery, body_as, body_or_default};
use super::routes::Routes;
use super::state::ApiState;
use crate::primary::BLOCK_WAIT;
use crate::primary::driver::MAX_CODES_PER_REQUEST;

/// Longest table name.
const MAX_TABLE_NAME: usize = 40;

pub(super) fn router() -> Routes {
    Routes::new()
        .get("/v1/primary", show)
        .post("/v1/primary/elect", elect)
        .get("/v1/ranges", list)
        .post("/v1/ranges", set)
        .post("/v1/ids/{table}/next", next)
}

/// A table name as ranges know it: lower-case letters, digits and `_`.
fn table_name(table: &str) -> ApiResult<String> {
    let ok = !table.is_empty()
        && table.len() <= MAX_TABLE_NAME
        && table
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(table.to_owned())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_table",
            format!(
                "table {table:?}: use 1 to {MAX_TABLE_NAME} lower-case letters, digits or '_' (e.g. customer, product)"
            ),
        ))
    }
}

/// A CNPJ as the primary protocol names companies: its 14 digits.
fn company_id(cnpj: &str) -> ApiResult<String> {
    elo_crdt::ident::cnpj(cnpj).map_err(|e| ApiError::unprocessable(format!("company: {e}")))
}

/// `GET /v1/primary`
async fn show(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let (view, _) = state.primary.view().await?;
    Ok(Json(json!(view)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ElectRequest {
    candidate: Option<String>,
}

/// `POST /v1/primary/elect`: runs an election and waits for its outcome.
async fn elect(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: ElectRequest = body_or_default(&body)?;
    let candidate = req.candidate.as_deref().map(company_id).transpose()?;
    let view = state.primary.elect(candidate).await?;
    Ok(Json(json!(view)))
}

/// `GET /v1/ranges`
async fn list(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let (view, ranges) = state.primary.view().await?;
    Ok(Json(json!({
        "primary": view.primary,
        "ranges": ranges,
        "awaiting_code": view.awaiting_code,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeRequest {
    company: String,
    table: String,
    from: i64,
    to: i64,
}

/// `POST /v1/ranges`: the primary gives a range by hand.
async fn set(State(state): State<ApiState>, body: Bytes) -> ApiResult<Response> {
    let req: RangeRequest = body_as(&body)?;
    let company = company_id(&req.company)?;
    let table = table_name(&req.table)?;
    let row = state
        .primary
        .set_range(company, table, req.from, req.to)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(row))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NextQuery {
    count: Option<usize>,
}

/// `POST /v1/ids/{table}/next[?count=N]`: the next code(s) of a table from
/// this company's blocks, stored as used before they are returned.
async fn next(
    State(state): State<ApiState>,
    Path(table): Path<String>,
    ApiQuery(q): ApiQuery<NextQuery>,
) -> ApiResult<Json<Value>> {
    let table = table_name(&table)?;
    let count = q.count.unwrap_or(1);
    if count == 0 || count > MAX_CODES_PER_REQUEST {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_count",
            format!("count must be 1 to {}", MAX_CODES_PER_REQUEST),
        ));
    }
    let codes = state.primary.codes(&table, count, BLOCK_WAIT).await?;
    Ok(Json(json!({
        "table": table,
        "company": state.company.cnpj,
        "code": codes.first(),
        "codes": codes,
    })))
}

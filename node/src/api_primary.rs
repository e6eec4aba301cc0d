//! The API of the primary and the ID ranges: who is primary, elections,
//! ranges, and codes drawn from this company's blocks.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiError, ApiResult, ApiState, body_as};
use crate::primary::PrimaryError;
use crate::primary::machine::RangeError;

/// Longest table name.
const MAX_TABLE_NAME: usize = 40;

impl From<PrimaryError> for ApiError {
    fn from(e: PrimaryError) -> Self {
        let (status, code) = match &e {
            PrimaryError::Elect(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not_member"),
            PrimaryError::Range(RangeError::NotPrimary { .. }) => {
                (StatusCode::CONFLICT, "not_primary")
            }
            PrimaryError::Range(RangeError::Overlaps { .. }) => {
                (StatusCode::CONFLICT, "range_overlaps")
            }
            PrimaryError::Range(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_range"),
            PrimaryError::Exhausted(_) => (StatusCode::SERVICE_UNAVAILABLE, "codes_exhausted"),
            PrimaryError::NoMajority { .. } => (StatusCode::SERVICE_UNAVAILABLE, "no_majority"),
            PrimaryError::NotElected { .. } => (StatusCode::SERVICE_UNAVAILABLE, "not_elected"),
            PrimaryError::NotCommitted { .. } => (StatusCode::SERVICE_UNAVAILABLE, "not_committed"),
            _ => (StatusCode::SERVICE_UNAVAILABLE, "primary"),
        };
        ApiError::new(status, code, e.to_string())
    }
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
    elo_crdt::ident::cnpj(cnpj).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("company: {e}"),
        )
    })
}

/// `GET /v1/primary`
pub async fn show(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let (view, _) = state.primary.view().await?;
    Ok(Json(json!(view)))
}

#[derive(Deserialize, Default)]
struct ElectRequest {
    candidate: Option<String>,
}

/// `POST /v1/primary/elect`: runs an election and waits for its outcome.
pub async fn elect(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: ElectRequest = if body.is_empty() {
        ElectRequest::default()
    } else {
        body_as(&body)?
    };
    let candidate = req.candidate.as_deref().map(company_id).transpose()?;
    let view = state.primary.elect(candidate).await?;
    Ok(Json(json!(view)))
}

/// `GET /v1/ranges`
pub async fn list(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let (view, ranges) = state.primary.view().await?;
    Ok(Json(json!({ "primary": view.primary, "ranges": ranges })))
}

#[derive(Deserialize)]
struct RangeRequest {
    company: String,
    table: String,
    from: i64,
    to: i64,
}

/// `POST /v1/ranges`: the primary gives a range by hand.
pub async fn set(State(state): State<ApiState>, body: Bytes) -> ApiResult<Response> {
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
pub struct NextQuery {
    count: Option<usize>,
}

/// `POST /v1/ids/{table}/next[?count=N]`: the next code(s) of a table from
/// this company's blocks, stored as used before they are returned.
pub async fn next(
    State(state): State<ApiState>,
    Path(table): Path<String>,
    Query(q): Query<NextQuery>,
) -> ApiResult<Json<Value>> {
    let table = table_name(&table)?;
    let count = q.count.unwrap_or(1);
    if count == 0 || count > crate::primary::driver::MAX_CODES_PER_REQUEST {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_count",
            format!(
                "count must be 1 to {}",
                crate::primary::driver::MAX_CODES_PER_REQUEST
            ),
        ));
    }
    let codes = state.primary.codes(&table, count, true).await?;
    Ok(Json(json!({
        "table": table,
        "company": state.company.cnpj,
        "code": codes.first(),
        "codes": codes,
    })))
}

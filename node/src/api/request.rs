//! What every resource reads from a request the same way: the size limits,
//! JSON bodies (saying where they are malformed), pages, kinds of record
//! and the record a URL names.

use axum::extract::{FromRequestParts, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use elo_crdt::{DocId, Kind};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use super::state::ApiState;

/// Largest body of a single-record request.
pub const MAX_RECORD_BODY: usize = 1024 * 1024;
/// Largest body of a bulk write (`POST /v1/records/{kind}`).
pub const MAX_BULK_BODY: usize = 32 * 1024 * 1024;
/// Most records in one bulk write.
pub const MAX_BULK_RECORDS: usize = 10_000;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 10_000;

/// How many items a page holds when the ERP asks for `limit`: 1 to
/// 10,000 (more is cut to 10,000); 0 is refused, not read as 1.
pub(super) fn page_size(limit: Option<usize>) -> ApiResult<usize> {
    match limit {
        Some(0) => Err(ApiError::unprocessable(format!(
            "limit must be from 1 to {MAX_PAGE}"
        ))),
        limit => Ok(limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE)),
    }
}

/// Parses a body as JSON, saying where it is malformed.
pub(super) fn parse_json(body: &[u8]) -> ApiResult<Value> {
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

/// Reads a JSON object body into `T`.
pub(super) fn body_as<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_value(parse_json(body)?).map_err(|e| ApiError::refused_keys(&e.to_string()))
}

/// `?since=&limit=`: a page of a log after a sequence number (the change
/// feed, the order log).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SincePage {
    #[serde(default)]
    pub since: u64,
    pub limit: Option<usize>,
}

/// A query string read into `T`: an unknown key is 422 naming it, a value
/// that does not read (`limit=ten`) 422 saying which, both in the API's
/// error shape.
pub(super) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(ApiQuery(q)),
            Err(e) => {
                let text = e.body_text();
                let why = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                Err(ApiError::refused_keys(&format!("query string: {why}")))
            }
        }
    }
}

/// Reads a JSON object body into `T`; an empty body is `T::default()`.
pub(super) fn body_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    if body.is_empty() {
        Ok(T::default())
    } else {
        body_as(body)
    }
}

fn parse_kind(kind: &str) -> ApiResult<Kind> {
    kind.parse().map_err(|e: elo_crdt::UnknownKind| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_kind", e.to_string())
    })
}

/// A kind of record this company holds: one of the categories it sends or
/// receives (`elo share`). Others are refused, whatever the request.
pub(super) async fn held_kind(state: &ApiState, kind: &str) -> ApiResult<Kind> {
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

/// A record's id from its key.
pub(super) fn parse_id(kind: Kind, key: &str) -> ApiResult<DocId> {
    DocId::from_key(kind, key).map_err(|e| ApiError::invalid(e.into()))
}

/// A record named in a URL: by its key, or by this company's own code as
/// `erp:CODE` (ERPs that number records their own way).
pub(super) async fn resolve_id(state: &ApiState, kind: Kind, key: &str) -> ApiResult<DocId> {
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

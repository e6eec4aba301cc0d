//! The local HTTP API an ERP talks to: records, the change feed (paged and
//! streaming), the group, credit, stock, the primary, backups and an
//! OpenAPI document.
//!
//! Owns: axum. This folder is the only place in the node that knows HTTP,
//! and nothing outside it sees axum types but [`router`]. It never opens
//! redb: it talks to the store only through [`StoreHandle`](crate::store::StoreHandle)
//! and to the rest of the node through that module's functions (records,
//! policy, membership, credit, stock, primary, mesh).
//!
//! Every route but `/v1/openapi.json` needs `Authorization: Bearer TOKEN`
//! with the token from the data directory, compared in constant time.
//! Errors are JSON `{"error": CODE, "message": TEXT, "fields": [...]}`:
//! malformed JSON is 400 with the line and column, an invalid field 422
//! naming it, an oversized body 413. A refused write stores nothing.
//!
//! # Layout
//! - `state.rs`: [`ApiState`], what every handler shares.
//! - `error.rs`: the error answer and every error → status mapping.
//! - `request.rs`: what every resource reads the same way (JSON bodies,
//!   kinds, record keys, pages) and the size limits.
//! - one file per resource, each owning its `router()`: `records.rs`,
//!   `feed.rs`, `group.rs`, `credit.rs`, `stock.rs`, `primary.rs`,
//!   `backup.rs`, `orders.rs`, `openapi.rs`.
//!
//! No resource file imports from this one, so the folder has no cycle:
//! this file only puts the resources' routers together behind the token.

mod backup;
mod credit;
mod error;
mod feed;
mod group;
mod openapi;
mod orders;
mod primary;
mod records;
mod request;
mod state;
mod stock;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use error::ApiError;
pub use request::{MAX_BULK_BODY, MAX_BULK_RECORDS, MAX_RECORD_BODY};
pub use state::ApiState;

/// The API's routes. Every body is limited to [`MAX_RECORD_BODY`] but on
/// the bulk routes, which take up to [`MAX_BULK_BODY`].
pub fn router(state: ApiState) -> Router {
    Router::new()
        .merge(records::router())
        .merge(feed::router())
        .merge(group::router())
        .merge(credit::router())
        .merge(stock::router())
        .merge(primary::router())
        .merge(backup::router())
        .merge(orders::router())
        .layer(DefaultBodyLimit::max(MAX_RECORD_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .merge(openapi::router())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(state)
}

async fn require_token(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme's name is case-insensitive (RFC 9110): `bearer` too.
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim());
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

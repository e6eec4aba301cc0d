//! The local HTTP API an ERP talks to: records, the change feed (paged and
//! streaming), the group, credit, stock, the primary, backups and an
//! OpenAPI document.
//!
//! Owns: axum. This folder and [`console`](crate::console) (the browser
//! screens at `/ui`, which it mounts and hands this router to) are the
//! only places in the node that know HTTP, and nothing outside them sees
//! axum types but [`router`]. It never opens
//! redb: it talks to the store only through [`StoreHandle`](crate::store::StoreHandle)
//! and to the rest of the node through that module's functions (records,
//! policy, membership, credit, stock, primary, mesh).
//!
//! Every route but `/v1/openapi.json` needs `Authorization: Bearer TOKEN`
//! with the token from the data directory, compared in constant time.
//! Errors are JSON `{"error": CODE, "message": TEXT, "fields": [...]}`:
//! malformed JSON is 400 with the line and column, an invalid field or an
//! unknown key 422 naming it, an oversized body 413; axum's own refusals
//! (405, 404, a path that does not read) are given the same shape. A
//! refused write stores nothing.
//!
//! # Layout
//! - `state.rs`: [`ApiState`], what every handler shares.
//! - `error.rs`: the error answer and every error → status mapping.
//! - `request.rs`: what every resource reads the same way (JSON bodies,
//!   query strings, kinds, record keys, pages) and the size limits.
//! - `routes.rs`: the routes as one list, from which both the router and
//!   [`routes`] (what the OpenAPI document is checked against) come.
//! - one file per resource, each owning its `router()`: `records.rs`,
//!   `feed.rs`, `group.rs`, `credit.rs`, `stock.rs`, `primary.rs`,
//!   `backup.rs`, `orders.rs`, `openapi.rs`, `metrics.rs` (`GET /metrics`
//!   and the layer counting every request), `imports.rs` (imports in
//!   progress, from the header `elo import` names its batches with).
//!
//! No resource file imports from this one, so the folder has no cycle:
//! this file only puts the resources' routers together behind the token.

mod backup;
mod credit;
mod error;
mod feed;
mod group;
mod imports;
mod metrics;
mod openapi;
mod orders;
mod primary;
mod records;
mod request;
mod routes;
mod state;
mod stock;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use error::ApiError;
pub use request::{MAX_BULK_BODY, MAX_BULK_RECORDS, MAX_RECORD_BODY};
use routes::Routes;
pub use state::ApiState;

/// Every route behind the token, from each resource.
fn token_routes() -> Routes {
    records::router()
        .merge(feed::router())
        .merge(group::router())
        .merge(credit::router())
        .merge(stock::router())
        .merge(primary::router())
        .merge(backup::router())
        .merge(orders::router())
        .merge(metrics::router())
        .merge(imports::router())
}

/// The API's routes. Every body is limited to [`MAX_RECORD_BODY`] but on
/// the bulk routes, which take up to [`MAX_BULK_BODY`]. Every error answer
/// is in the error shape, axum's own included (`json_errors`).
pub fn router(state: ApiState) -> Router {
    let (guarded, _) = token_routes().into_parts();
    let (open, _) = openapi::router().into_parts();
    let token = state.token.clone();
    let api = guarded
        .layer(DefaultBodyLimit::max(MAX_RECORD_BODY))
        .layer(middleware::from_fn(imports::track))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .merge(open)
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route (see /v1/openapi.json)",
            )
        })
        // Outside the token check, so refusals are counted too.
        .layer(middleware::from_fn(metrics::count_requests))
        // The imports in progress, for `imports::track` and `GET /v1/imports`.
        .layer(axum::Extension(imports::Imports::default()))
        .with_state(state);
    // Around the whole router, not inside each route (where a layer of
    // `api` would go): a 405 is given its `Allow` header after the route's
    // layers ran, and the error shape names the methods from it.
    let api = Router::new()
        .fallback_service(api)
        .layer(middleware::map_response(json_errors));
    // The console at /ui, handing its screens' requests to this very router.
    crate::console::router(token, api.clone()).fallback_service(api)
}

/// `GET /metrics` alone, without the token: what `elo node --metrics
/// HOST:PORT` serves on its own loopback address for a local scraper.
pub fn metrics_router(state: ApiState) -> Router {
    Router::new()
        .route(metrics::PATH, axum::routing::get(metrics::metrics))
        .with_state(state)
}

/// Every (method, path) the router serves, methods in lower case and paths
/// as the OpenAPI document writes them (`/v1/records/{kind}`).
pub fn routes() -> Vec<(&'static str, &'static str)> {
    let (_, mut served) = token_routes().merge(openapi::router()).into_parts();
    served.sort_unstable();
    served
}

/// An error answer that is not JSON (axum's rejections before a handler
/// runs: a body over the limit, a method the route does not take, a path
/// it cannot read) is given the error shape, so an ERP reads every error
/// the same way.
async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    // axum's own texts are short; a longer one is cut, not read whole.
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let allowed = parts
        .headers
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok());
    let mut answer =
        ApiError::from_router(status, &String::from_utf8_lossy(&text), allowed).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        answer.headers_mut().insert(header::ALLOW, allow.clone());
    }
    answer
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

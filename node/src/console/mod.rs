//! The console: the node's screens in a browser, at `/ui` on the API's
//! address (loopback by default, as the API).
//!
//! A person logs in with a link from `elo console`, which asks the node for
//! a one-time ticket with the API token; the link trades the ticket for a
//! session cookie (HttpOnly, SameSite=Strict, Path=/ui) and the token never
//! reaches the browser. The screens are plain HTML, CSS and JS inside the
//! binary; they call `/ui/api/v1/…`, which this module hands to the API's
//! own router in this process with the token added, so every answer and
//! every field-by-field error is the API's: the console has no business
//! rule of its own. Whatever changes something (any method but GET/HEAD)
//! must carry the session's CSRF token and come from the console's own
//! origin.
//!
//! # Layout
//! - `session.rs`: tickets and sessions, in memory.
//! - `pages.rs`: login, logout, the page, the "session ended" page, the
//!   assets, the invite's QR code.
//! - `fields.rs`: the fields' Portuguese labels, from the schema.
//! - `proxy.rs`: `/ui/api/…` to the API router, and the checks every
//!   request of a session passes.
//!
//! It does not import the API module: the API router mounts this one and
//! hands it itself, so there is no cycle.

mod fields;
mod pages;
mod proxy;
mod session;
#[cfg(test)]
mod tests;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::{any, get, post};

pub use session::{SESSION_IDLE, TICKET_TTL};

/// What the console's handlers share.
#[derive(Clone)]
struct Console {
    sessions: session::Sessions,
    /// The API token, added to the requests handed to `api`.
    token: String,
    /// The API's router, whole (token check and error shape included).
    api: Router,
}

/// The console's routes, all under `/ui`; `api` is the API router the
/// screens' requests are handed to, `token` the API token.
pub fn router(token: String, api: Router) -> Router {
    let state = Console {
        sessions: session::Sessions::default(),
        token,
        api,
    };
    Router::new()
        .route("/ui", get(pages::page))
        .route("/ui/", get(pages::page))
        .route("/ui/tickets", post(pages::ticket))
        .route("/ui/login", get(pages::login))
        .route("/ui/logout", post(pages::logout))
        .route("/ui/ended", get(pages::ended))
        .route("/ui/assets/{name}", get(pages::asset))
        .route("/ui/qr", post(pages::qr))
        .route("/ui/api/{*rest}", any(proxy::to_api))
        // Any other path under /ui is the console's own "not found"; the
        // rest of the node's paths are the API's.
        .route("/ui/{*rest}", any(pages::not_found))
        .layer(middleware::map_response(guard_headers))
        .with_state(state)
}

/// Every answer of the console: nothing from elsewhere runs or loads in
/// it (no CDN, no inline script), it is never framed, the address bar's
/// ticket never leaks as a referrer, and nothing is cached.
async fn guard_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::CACHE_CONTROL, "no-store");
    res
}

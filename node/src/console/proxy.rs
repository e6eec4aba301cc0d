//! `/ui/api/v1/…`: the screens' requests, handed to the API's router in
//! this process with the API token added, so the console answers exactly
//! as the API does. Before that, every request must come with a live
//! session, and one that changes something with the session's CSRF token
//! from the console's own origin.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower::ServiceExt;

use super::Console;
use super::session::{COOKIE, Session, cookie, same_secret};

/// The header the screens send the CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";

/// The headers of the browser's request the API reads; no other (its
/// cookies above all) is passed on.
const PASSED_ON: [header::HeaderName; 3] = [
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::HeaderName::from_static("last-event-id"),
];

/// An error in the API's shape (`{"error", "message", "fields"}`), so the
/// screens read the console's refusals as they read the API's.
pub(super) fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": code, "message": message, "fields": [] });
    (status, axum::Json(body)).into_response()
}

/// Why a request of the console was turned away before the API.
#[derive(Debug)]
pub(super) enum Refused {
    /// No live session: never logged in, logged out, or expired.
    SessionEnded,
    /// A change from a page of another origin.
    CrossOrigin,
    /// A change without the session's CSRF token.
    Csrf,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SessionEnded => refusal(
                StatusCode::UNAUTHORIZED,
                "session_ended",
                "sessão encerrada: rode `elo console` para entrar de novo (the session ended: run `elo console` to log in again)",
            ),
            Refused::CrossOrigin => refusal(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "a change must come from the console's own page (Origin differs)",
            ),
            Refused::Csrf => refusal(
                StatusCode::FORBIDDEN,
                "csrf",
                "a change must carry the session's CSRF token: reload the console's page",
            ),
        }
    }
}

/// The session the request's cookie names, if it is live.
pub(super) fn session_of(console: &Console, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie(h, COOKIE))?;
    let session = console.sessions.get(id)?;
    Some((id.to_owned(), session))
}

/// The session of a request that changes something: live, with its CSRF
/// token, sent by a page of this very origin (a page elsewhere can make a
/// browser send the cookie, never the token nor this Origin).
pub(super) fn changing_session(
    console: &Console,
    headers: &HeaderMap,
) -> Result<(String, Session), Refused> {
    let (id, session) = session_of(console, headers).ok_or(Refused::SessionEnded)?;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text("host").unwrap_or_default();
    let same_origin =
        text("origin").is_some_and(|o| !host.is_empty() && o == format!("http://{host}"));
    let fetched_here = text("sec-fetch-site").is_none_or(|s| s == "same-origin");
    if !same_origin || !fetched_here {
        return Err(Refused::CrossOrigin);
    }
    if !same_secret(text(CSRF_HEADER).unwrap_or_default(), &session.csrf) {
        return Err(Refused::Csrf);
    }
    Ok((id, session))
}

/// Any method on `/ui/api/v1/…`: the same request to `/v1/…` of the API.
pub(super) async fn to_api(State(console): State<Console>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let checked = if matches!(parts.method, Method::GET | Method::HEAD) {
        session_of(&console, &parts.headers).ok_or(Refused::SessionEnded)
    } else {
        changing_session(&console, &parts.headers)
    };
    if let Err(refused) = checked {
        return refused.into_response();
    }
    // The raw path, as the browser wrote it (escapes kept for the API's
    // own reading, `%2A` for `*` among them).
    let path = parts.uri.path().strip_prefix("/ui/api").unwrap_or_default();
    if !path.starts_with("/v1/") {
        return refusal(
            StatusCode::NOT_FOUND,
            "not_found",
            "the console reaches /v1/… only",
        );
    }
    let target = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut inner = Request::builder().method(parts.method.clone()).uri(target);
    for name in &PASSED_ON {
        if let Some(v) = parts.headers.get(name) {
            inner = inner.header(name, v);
        }
    }
    let auth = HeaderValue::from_str(&format!("Bearer {}", console.token));
    let inner = match auth {
        Ok(auth) => inner.header(header::AUTHORIZATION, auth).body(body),
        Err(_) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, "internal", "bad token"),
    };
    match inner {
        Ok(request) => match console.api.clone().oneshot(request).await {
            Ok(res) => res,
            Err(never) => match never {},
        },
        Err(e) => refusal(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
    }
}

//! The console's own routes: the login link, logout, the page (its CSRF
//! token written in), the "session ended" page, the embedded assets and
//! the invite's QR code.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::Console;
use super::proxy::{changing_session, refusal, session_of};
use super::session::{COOKIE, TICKET_TTL, same_secret};

/// The files of the console, inside the binary: no build step, nothing
/// fetched from outside.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css", include_str!("../../console/app.css")),
    (
        "words.json",
        "application/json",
        include_str!("../../console/words.json"),
    ),
    (
        "core.js",
        "text/javascript",
        include_str!("../../console/core.js"),
    ),
    (
        "group.js",
        "text/javascript",
        include_str!("../../console/group.js"),
    ),
    (
        "sharing.js",
        "text/javascript",
        include_str!("../../console/sharing.js"),
    ),
    (
        "ranges.js",
        "text/javascript",
        include_str!("../../console/ranges.js"),
    ),
    (
        "activity.js",
        "text/javascript",
        include_str!("../../console/activity.js"),
    ),
    (
        "records.js",
        "text/javascript",
        include_str!("../../console/records.js"),
    ),
    (
        "business.js",
        "text/javascript",
        include_str!("../../console/business.js"),
    ),
    (
        "orders.js",
        "text/javascript",
        include_str!("../../console/orders.js"),
    ),
];

const PAGE: &str = include_str!("../../console/index.html");
const MESSAGE: &str = include_str!("../../console/message.html");

/// The longest text the QR code is drawn of (an invite line is far shorter).
const MAX_QR_TEXT: usize = 2048;

/// `POST /ui/tickets` with the API token: a one-time login ticket.
pub(super) async fn ticket(State(console): State<Console>, headers: HeaderMap) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim());
    if !same_secret(given, &console.token) {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send Authorization: Bearer TOKEN, with the token from the data directory's api-token file",
        );
    }
    let ticket = console.sessions.ticket();
    Json(json!({
        "login": format!("/ui/login?ticket={ticket}"),
        "expires_in_s": TICKET_TTL.as_secs(),
    }))
    .into_response()
}

/// `GET /ui/login?ticket=T`: the session cookie, and on to the screens
/// without the ticket in the address bar.
pub(super) async fn login(
    State(console): State<Console>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let session = q.get("ticket").and_then(|t| console.sessions.login(t));
    let Some(id) = session else {
        return message(
            StatusCode::UNAUTHORIZED,
            "Link inválido ou já usado",
            "Este link de entrada já foi usado ou expirou (vale uma vez, por 2 minutos). \
             Rode <code>elo console</code> de novo para receber outro.",
            "This login link was used already or expired (it works once, for 2 minutes). \
             Run <code>elo console</code> again for a new one.",
        );
    };
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/ui");
    let mut res = (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/")]).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// `GET /ui`: the screens, with the session's CSRF token in the page (read
/// by the scripts, sent back on every change).
pub(super) async fn page(State(console): State<Console>, headers: HeaderMap) -> Response {
    match session_of(&console, &headers) {
        Some((_, session)) => Html(PAGE.replace("{{csrf}}", &session.csrf)).into_response(),
        None => (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/ended")]).into_response(),
    }
}

/// `POST /ui/logout`: the session ends here, at the node, and its cookie
/// is cleared.
pub(super) async fn logout(State(console): State<Console>, headers: HeaderMap) -> Response {
    let id = match changing_session(&console, &headers) {
        Ok((id, _)) => id,
        Err(refused) => return refused.into_response(),
    };
    console.sessions.logout(&id);
    let clear = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0");
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&clear) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// `GET /ui/ended`: where a request without a live session lands.
pub(super) async fn ended() -> Response {
    message(
        StatusCode::UNAUTHORIZED,
        "Sessão encerrada",
        "Sua sessão no console terminou. Para entrar de novo, rode <code>elo console</code> \
         no computador da empresa e abra o link que ele mostra.",
        "Your console session ended. To log in again, run <code>elo console</code> on the \
         company's computer and open the link it prints.",
    )
}

pub(super) async fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Página não encontrada",
        "Esta página não existe no console. Volte para <a href=\"/ui/\">o início</a>.",
        "There is no such page in the console. Go back to <a href=\"/ui/\">the start</a>.",
    )
}

/// A page saying one thing, in Portuguese and in English.
fn message(status: StatusCode, title: &str, pt: &str, en: &str) -> Response {
    let html = MESSAGE
        .replace("{{title}}", title)
        .replace("{{pt}}", pt)
        .replace("{{en}}", en);
    (status, Html(html)).into_response()
}

/// `GET /ui/assets/NAME`: one of the embedded files.
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    if name == "fields.json" {
        let body = super::fields::FIELD_LABELS.as_str();
        return (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body,
        )
            .into_response();
    }
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => {
            let content_type = format!("{mime}; charset=utf-8");
            ([(header::CONTENT_TYPE, content_type)], *body).into_response()
        }
        None => not_found().await,
    }
}

/// `POST /ui/qr` (`{"text": …}`): the text as a QR code in SVG, drawn
/// here so that the invite never leaves the machine to be drawn.
pub(super) async fn qr(
    State(console): State<Console>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = changing_session(&console, &headers) {
        return refused.into_response();
    }
    let text = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["text"].as_str().map(str::to_owned));
    let Some(text) = text.filter(|t| !t.is_empty() && t.len() <= MAX_QR_TEXT) else {
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "send {\"text\": TEXT}, 1 to 2048 bytes",
        );
    };
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(220, 220)
                .build();
            Json(json!({ "svg": svg })).into_response()
        }
        Err(e) => refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            &format!("no QR code of this text: {e}"),
        ),
    }
}

//! The console's own rules, in one process, in front of a stand-in for the
//! API router that echoes what reached it: a ticket works once, the
//! cookie's flags, reads with the cookie, changes only with the CSRF token
//! from the same origin, the token added on the way, logout.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::routing::any;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "the-api-token";
const HOST: &str = "127.0.0.1:4711";

/// Answers with the method, path and Authorization header it was given.
fn echo_api() -> Router {
    Router::new().route(
        "/{*path}",
        any(|req: Request<Body>| async move {
            let auth = req.headers().get(header::AUTHORIZATION).cloned();
            axum::Json(json!({
                "method": req.method().as_str(),
                "uri": req.uri().to_string(),
                "auth": auth.and_then(|a| a.to_str().ok().map(str::to_owned)),
            }))
        }),
    )
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    /// A header's text, empty when absent.
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn send(app: &Router, method: &str, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, HOST);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("a request"))
        .await
        .expect("an answer");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.expect("a body").to_bytes();
    Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Logs in through a ticket and returns the session cookie and CSRF token.
async fn logged_in(app: &Router) -> (String, String) {
    let auth = format!("Bearer {TOKEN}");
    let t = send(app, "POST", "/ui/tickets", &[("authorization", &auth)]).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    let login = t.json()["login"].as_str().expect("a login path").to_owned();
    let res = send(app, "GET", &login, &[]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.headers[header::LOCATION], "/ui/");
    let set = res.headers[header::SET_COOKIE].to_str().expect("ascii");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(flag), "{set}");
    }
    let cookie = set.split(';').next().expect("name=value").to_owned();
    let again = send(app, "GET", &login, &[]).await;
    assert_eq!(
        again.status,
        StatusCode::UNAUTHORIZED,
        "a ticket works once"
    );
    let page = send(app, "GET", "/ui/", &[("cookie", &cookie)]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.text.contains(TOKEN),
        "the token never reaches the page"
    );
    let csrf = page
        .text
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the CSRF token in the page")
        .to_owned();
    (cookie, csrf)
}

#[tokio::test]
async fn tickets_need_the_token() {
    let app = super::router(TOKEN.into(), echo_api());
    let none = send(&app, "POST", "/ui/tickets", &[]).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let wrong = send(
        &app,
        "POST",
        "/ui/tickets",
        &[("authorization", "Bearer x")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let bogus = send(&app, "GET", "/ui/login?ticket=made-up", &[]).await;
    assert_eq!(bogus.status, StatusCode::UNAUTHORIZED);
    assert!(bogus.headers.get(header::SET_COOKIE).is_none());
    let page = send(&app, "GET", "/ui/", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers[header::LOCATION], "/ui/ended");
}

#[tokio::test]
async fn a_session_reads_and_changes_only_with_its_csrf_token_from_its_origin() {
    let app = super::router(TOKEN.into(), echo_api());
    let (cookie, csrf) = logged_in(&app).await;
    let origin = format!("http://{HOST}");
    let read = send(&app, "GET", "/ui/api/v1/status?x=1", &[("cookie", &cookie)]).await;
    assert_eq!(read.status, StatusCode::OK);
    let seen = read.json();
    assert_eq!(seen["uri"], "/v1/status?x=1");
    assert_eq!(
        seen["auth"],
        format!("Bearer {TOKEN}"),
        "the token is added"
    );
    let post = |headers: Vec<(&'static str, String)>| {
        let app = app.clone();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            send(&app, "POST", "/ui/api/v1/resync", &h).await
        }
    };
    let c = || ("cookie", cookie.clone());
    let no_csrf = post(vec![c(), ("origin", origin.clone())]).await;
    assert_eq!(
        (no_csrf.status, no_csrf.json()["error"].clone()),
        (StatusCode::FORBIDDEN, json!("csrf"))
    );
    let elsewhere = post(vec![
        c(),
        ("origin", "http://evil.example".into()),
        ("x-csrf-token", csrf.clone()),
    ])
    .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    let no_origin = post(vec![c(), ("x-csrf-token", csrf.clone())]).await;
    assert_eq!(no_origin.status, StatusCode::FORBIDDEN);
    let cross_site = post(vec![
        c(),
        ("origin", origin.clone()),
        ("x-csrf-token", csrf.clone()),
        ("sec-fetch-site", "cross-site".into()),
    ])
    .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    let ok = post(vec![
        c(),
        ("origin", origin.clone()),
        ("x-csrf-token", csrf.clone()),
    ])
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json()["method"], "POST");
    let outside = send(&app, "GET", "/ui/api/ui/tickets", &[("cookie", &cookie)]).await;
    assert_eq!(
        outside.status,
        StatusCode::NOT_FOUND,
        "only /v1/… is reached"
    );

    let logout = send(
        &app,
        "POST",
        "/ui/logout",
        &[
            ("cookie", &cookie),
            ("origin", &origin),
            ("x-csrf-token", &csrf),
        ],
    )
    .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert!(logout.header(header::SET_COOKIE).contains("Max-Age=0"));
    let after = send(&app, "GET", "/ui/api/v1/status", &[("cookie", &cookie)]).await;
    assert_eq!(
        (after.status, after.json()["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("session_ended"))
    );
    let page = send(&app, "GET", "/ui/", &[("cookie", &cookie)]).await;
    assert_eq!(page.headers[header::LOCATION], "/ui/ended");
}

#[tokio::test]
async fn every_answer_keeps_the_page_to_itself() {
    let app = super::router(TOKEN.into(), echo_api());
    let ended = send(&app, "GET", "/ui/ended", &[]).await;
    assert!(ended.text.contains("Sessão encerrada"));
    let css = send(&app, "GET", "/ui/assets/app.css", &[]).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header(header::CONTENT_TYPE).starts_with("text/css"));
    let csp = css.header(header::CONTENT_SECURITY_POLICY);
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let missing = send(&app, "GET", "/ui/assets/nope.js", &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

//! Imports in progress, for the console's Atividade screen: `elo import`
//! names each batch it sends with `X-Elo-Import: ID; done=D; total=T`
//! (the bytes of its file read through this batch, of the file's size),
//! and the node keeps, per import, how far the last stored batch went.
//! `GET /v1/imports` lists them. The progress is the importer's own
//! measure of its file, reported only once a batch is stored, so a bar
//! never runs ahead of what is on disk.
//!
//! Kept in memory only: an import lasts one `elo import`; a node that
//! restarts has none in progress. An import not heard of for
//! [`FORGOTTEN_AFTER`] (stopped, killed) is dropped, and a finished one is
//! shown for [`SHOWN_DONE`] so the bar is seen at its end.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Extension, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::{Json, http::HeaderMap};
use serde::Serialize;
use serde_json::{Value, json};

use super::routes::Routes;

/// The header `elo import` names its batches with.
pub(super) const HEADER: &str = "x-elo-import";

/// An import not heard of for this long is no longer listed.
const FORGOTTEN_AFTER: Duration = Duration::from_secs(300);

/// How long a finished import stays listed.
const SHOWN_DONE: Duration = Duration::from_secs(60);

/// The most imports kept at once (one per `elo import` running).
const MOST: usize = 64;

/// The longest import id taken.
const MAX_ID: usize = 64;

pub(super) fn router() -> Routes {
    Routes::new().get("/v1/imports", list)
}

/// One import, as listed.
#[derive(Clone, Debug, Serialize)]
struct Progress {
    id: String,
    /// The kind of record, from the route (`customer`, …).
    kind: String,
    done: u64,
    total: u64,
    /// Batches stored so far.
    batches: u64,
    finished: bool,
    #[serde(skip)]
    heard: Option<Instant>,
}

/// The imports this node hears of.
#[derive(Clone, Default)]
pub(super) struct Imports(Arc<Mutex<BTreeMap<String, Progress>>>);

impl Imports {
    fn stored(&self, id: &str, kind: &str, done: u64, total: u64, now: Instant) {
        let Ok(mut map) = self.0.lock() else { return };
        forget_old(&mut map, now);
        if map.len() >= MOST && !map.contains_key(id) {
            return;
        }
        let entry = map.entry(id.to_owned()).or_insert_with(|| Progress {
            id: id.to_owned(),
            kind: kind.to_owned(),
            done: 0,
            total,
            batches: 0,
            finished: false,
            heard: None,
        });
        // Batches are sent one after another, but a retried one must not
        // move the bar back.
        entry.done = entry.done.max(done.min(total));
        entry.total = total;
        entry.batches += 1;
        entry.finished = entry.done >= entry.total;
        entry.heard = Some(now);
    }

    fn listed(&self, now: Instant) -> Vec<Progress> {
        let Ok(mut map) = self.0.lock() else {
            return Vec::new();
        };
        forget_old(&mut map, now);
        map.values().cloned().collect()
    }
}

fn forget_old(map: &mut BTreeMap<String, Progress>, now: Instant) {
    map.retain(|_, p| {
        let quiet = p.heard.map_or(Duration::ZERO, |t| now.duration_since(t));
        quiet
            < if p.finished {
                SHOWN_DONE
            } else {
                FORGOTTEN_AFTER
            }
    });
}

/// `ID; done=D; total=T`, or `None` for anything else (the batch is
/// stored as ever; only its progress is not shown).
fn parse(value: &str) -> Option<(String, u64, u64)> {
    let mut parts = value.split(';').map(str::trim);
    let id = parts.next().filter(|id| {
        !id.is_empty()
            && id.len() <= MAX_ID
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })?;
    let (mut done, mut total) = (None, None);
    for part in parts {
        match part.split_once('=') {
            Some(("done", n)) => done = n.parse().ok(),
            Some(("total", n)) => total = n.parse().ok(),
            _ => {}
        }
    }
    Some((id.to_owned(), done?, total?))
}

/// Around the routes: a bulk write of records naming an import, once
/// stored (a 2xx answer, or 422 with the valid rows stored), moves that
/// import's progress.
pub(super) async fn track(
    Extension(imports): Extension<Imports>,
    req: Request,
    next: Next,
) -> Response {
    let named = (req.method() == Method::POST)
        .then(|| bulk_kind(req.uri().path()))
        .flatten()
        .zip(header(req.headers()).and_then(|v| parse(&v)));
    let res = next.run(req).await;
    if let Some((kind, (id, done, total))) = named {
        let status = res.status();
        if status.is_success() || status.as_u16() == 422 {
            imports.stored(&id, &kind, done, total, Instant::now());
        }
    }
    res
}

fn header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `customer` of `/v1/records/customer`; `None` for any other path.
fn bulk_kind(path: &str) -> Option<String> {
    let kind = path.strip_prefix("/v1/records/")?;
    (!kind.is_empty() && !kind.contains('/')).then(|| kind.to_owned())
}

/// `GET /v1/imports`: the imports in progress (and those just finished).
async fn list(Extension(imports): Extension<Imports>) -> Json<Value> {
    Json(json!({ "imports": imports.listed(Instant::now()) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_names_an_import_and_how_far_it_went() {
        assert_eq!(
            parse("imp-1; done=10; total=40"),
            Some(("imp-1".into(), 10, 40))
        );
        assert_eq!(parse("imp-1; total=40"), None);
        assert_eq!(parse("a b; done=1; total=2"), None);
        assert_eq!(parse("; done=1; total=2"), None);
        assert_eq!(bulk_kind("/v1/records/customer"), Some("customer".into()));
        assert_eq!(bulk_kind("/v1/records/customer/123"), None);
    }

    #[test]
    fn progress_never_goes_back_and_finished_ones_are_dropped_later() {
        let imports = Imports::default();
        let t0 = Instant::now();
        imports.stored("a", "customer", 30, 100, t0);
        imports.stored("a", "customer", 10, 100, t0);
        let now = imports.listed(t0);
        assert_eq!(
            (now[0].done, now[0].batches, now[0].finished),
            (30, 2, false)
        );
        imports.stored("a", "customer", 100, 100, t0);
        assert!(imports.listed(t0)[0].finished);
        assert!(imports.listed(t0 + SHOWN_DONE).is_empty());
        imports.stored("b", "product", 1, 100, t0);
        assert_eq!(imports.listed(t0 + SHOWN_DONE).len(), 1);
        assert!(imports.listed(t0 + FORGOTTEN_AFTER).is_empty());
    }
}

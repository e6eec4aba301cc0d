//! The change feed: records changed after a sequence number, paged
//! (`/v1/changes`) or streamed as server-sent events (`/v1/changes/stream`).
//! Each change also names the record by this company's own code.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use super::error::{ApiError, ApiResult};
use super::request::{ApiQuery, SincePage, page_size};
use super::routes::Routes;
use super::state::ApiState;
use crate::store::{ChangeEntry, StoreHandle};

/// How many changes the stream reads from the store at a time while it
/// catches up.
const CATCH_UP_PAGE: usize = 1000;

pub(super) fn router() -> Routes {
    Routes::new()
        .get("/v1/changes", changes)
        .get("/v1/changes/stream", change_stream)
}

async fn changes(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<SincePage>,
) -> ApiResult<Json<Value>> {
    let limit = page_size(q.limit)?;
    let entries = state.store.changes_since(q.since, limit).await?;
    // Where to go on from: past this page, and never past the log's end.
    let last = match entries.last() {
        Some(e) => e.seq,
        None => q.since.min(state.store.last_seq().await?),
    };
    let entries = by_record(entries);
    let codes = state
        .store
        .own_codes_of(entries.iter().map(|e| e.id.clone()).collect())
        .await?;
    let items: Vec<Value> = entries
        .iter()
        .zip(codes)
        .map(|(e, code)| feed_item(e, code))
        .collect();
    Ok(Json(json!({ "changes": items, "last_seq": last })))
}

/// The page's changes by record: a part document's change
/// (`customer/cpf:…/credit_limit`) names its record, and a record changed
/// more than once in the page is listed once, at its last change. A write
/// of a customer with a credit limit is one item, not two.
fn by_record(entries: Vec<ChangeEntry>) -> Vec<ChangeEntry> {
    let mut last_of: std::collections::HashMap<String, usize> = Default::default();
    let mut out: Vec<Option<ChangeEntry>> = Vec::with_capacity(entries.len());
    for mut e in entries {
        e.id = record_of(&e.id);
        if let Some(earlier) = last_of.insert(e.id.clone(), out.len()) {
            out[earlier] = None;
        }
        out.push(Some(e));
    }
    out.into_iter().flatten().collect()
}

/// The record a document belongs to (itself, unless it is a part).
fn record_of(id: &str) -> String {
    elo_crdt::DocId::parse(id).map_or_else(|| id.to_owned(), |d| d.record().to_string())
}

/// A change as the feed shows it: enough for an ERP to fetch the record.
fn feed_item(e: &ChangeEntry, erp_code: Option<String>) -> Value {
    let (kind, key) = e.id.split_once('/').unwrap_or(("", &e.id));
    let mut item = json!({ "seq": e.seq, "id": e.id, "kind": kind, "key": key, "deleted": e.deleted, "company": e.company });
    if let (Some(code), Value::Object(m)) = (erp_code, &mut item) {
        m.insert("erp_code".into(), Value::String(code));
    }
    item
}

/// Where one ERP's change stream is: what it has been sent, what is read
/// but not yet sent, and whether it is still reading the past.
struct Feed {
    store: StoreHandle,
    live: broadcast::Receiver<ChangeEntry>,
    last: u64,
    backlog: VecDeque<ChangeEntry>,
    catching_up: bool,
    stopping: watch::Receiver<bool>,
}

impl Feed {
    /// The next change to send, or `None` when the stream ends (the node
    /// stops, the store fails or the live channel closes).
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(mut e) = self.backlog.pop_front() {
                self.last = e.seq;
                // Named by its record, once when the next change is the
                // same record's (a write of a record and its parts).
                e.id = record_of(&e.id);
                if self
                    .backlog
                    .front()
                    .is_some_and(|next| record_of(&next.id) == e.id)
                {
                    continue;
                }
                // Named by this company's own code too, when it has one.
                let code = self
                    .store
                    .own_codes_of(vec![e.id.clone()])
                    .await
                    .ok()
                    .and_then(|c| c.into_iter().next().flatten());
                return Some(change_event(&e, code));
            }
            if self.catching_up {
                match self.store.changes_since(self.last, CATCH_UP_PAGE).await {
                    Ok(page) if !page.is_empty() => {
                        self.backlog.extend(page);
                        continue;
                    }
                    Ok(_) => self.catching_up = false,
                    Err(e) => {
                        tracing::warn!(
                            "change feed: {e}; the stream was closed and the ERP reconnects with Last-Event-ID (if `elo status` shows a store problem, see to the disk)"
                        );
                        return None;
                    }
                }
            }
            let next = tokio::select! {
                next = self.live.recv() => next,
                _ = self.stopping.wait_for(|stop| *stop) => return None,
            };
            match next {
                Ok(e) if e.seq > self.last => self.backlog.push_back(e),
                Ok(_) => {}
                // Fell behind the live channel: read the gap from the store.
                Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// The change feed as server-sent events: first every change after
/// `since`, then each new one as it is committed. An ERP that reconnects
/// misses nothing and sees nothing twice: its `Last-Event-ID` (the `seq` of
/// the last event it had, which an `EventSource` sends by itself) is where
/// the stream resumes, when it is past `since`.
async fn change_stream(
    State(state): State<ApiState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SincePage>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let since = match headers.get("last-event-id") {
        None => q.since,
        Some(v) => {
            let seen = v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok());
            let Some(seen) = seen else {
                return Err(ApiError::unprocessable(format!(
                    "Last-Event-ID {v:?} is not a change's seq (a number this stream sent as an event id)"
                )));
            };
            q.since.max(seen)
        }
    };
    // Subscribe before reading the backlog, so nothing falls between the two.
    let feed = Feed {
        live: state.store.subscribe(),
        store: state.store.clone(),
        last: since,
        backlog: VecDeque::new(),
        catching_up: true,
        stopping: state.stopping.clone(),
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        let event = feed.next_event().await?;
        Some((Ok(event), feed))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn change_event(e: &ChangeEntry, erp_code: Option<String>) -> Event {
    Event::default()
        .event("change")
        .id(e.seq.to_string())
        .data(feed_item(e, erp_code).to_string())
}

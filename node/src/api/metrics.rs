//! `GET /metrics`: the node's figures in the Prometheus (OpenMetrics) text
//! format, behind the token like every route, and on a separate loopback
//! address without it when `elo node --metrics` asks. What the node
//! counts as it works comes from [`crate::metrics`]; what is read at the
//! scrape (records, documents, the log, members, codes left) is gathered
//! here, so a scrape costs a few reads and no bookkeeping in between.
//!
//! The layer [`count_requests`] counts every request by its route's
//! template (`/v1/records/{kind}/{key}`), method and status, and times it
//! by template and method (a histogram). A streamed answer (the change
//! stream) is timed to its head, not to its end.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::error::ApiResult;
use super::routes::Routes;
use super::state::ApiState;

/// The route, with the token check around it like every other.
pub(super) fn router() -> Routes {
    Routes::new().get(PATH, metrics)
}

/// Where the figures are served.
pub(super) const PATH: &str = "/metrics";

/// What Prometheus asks for and is answered with.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Counts a request once it is answered. A request no route matched is
/// counted as `unmatched`, so a client probing paths makes one series, not
/// one per path.
pub(super) async fn count_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    crate::metrics::api_request(&route, &method, res.status().as_u16(), started.elapsed());
    res
}

pub(super) async fn metrics(State(state): State<ApiState>) -> ApiResult<Response> {
    let now = gather(&state).await?;
    let mut out = String::new();
    let encoded = crate::metrics::encode(&mut out)
        .and_then(|()| prometheus_client::encoding::text::encode_registry(&mut out, &now))
        .and_then(|()| prometheus_client::encoding::text::encode_eof(&mut out));
    if encoded.is_err() {
        // Writing into a String fails only if a figure's encoder does.
        return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], out).into_response())
}

/// A member, as its figures are labelled: its CNPJ (empty while the roster
/// does not name it) and its node's peer id.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Member {
    company: String,
    peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Table {
    table: String,
}

/// A gauge registered under `name` with one value.
fn single(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let gauge = Gauge::<i64>::default();
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, gauge);
}

/// The figures read now: the store's, each member's, the codes left.
async fn gather(state: &ApiState) -> ApiResult<Registry> {
    let mut now = Registry::with_prefix(crate::metrics::PREFIX);
    let store = &state.store;
    let records = store.record_count().await?;
    single(&mut now, "records", "Records in the store", records);
    let documents = store.doc_count().await?;
    single(
        &mut now,
        "documents",
        "Documents in the store (a record and its parts)",
        documents,
    );
    let last = store.last_seq().await?;
    single(
        &mut now,
        "last_sequence",
        "The latest sequence number of this node's change log",
        last,
    );
    if let Some(mesh) = &state.mesh {
        members(&mut now, mesh).await;
    }
    codes_left(&mut now, state).await?;
    Ok(now)
}

/// Per member: connected, how far behind, last seen, bytes in and out.
async fn members(now: &mut Registry, mesh: &crate::replication::Replication) {
    let connected = Family::<Member, Gauge>::default();
    let behind = Family::<Member, Gauge>::default();
    let last_seen = Family::<Member, Gauge>::default();
    let received = Family::<Member, Counter>::default();
    let sent = Family::<Member, Counter>::default();
    let traffic = mesh.traffic();
    for m in mesh.status().await {
        let labels = Member {
            company: m.company.clone().unwrap_or_default(),
            peer: m.peer_id.clone(),
        };
        connected.get_or_create(&labels).set(i64::from(m.connected));
        behind
            .get_or_create(&labels)
            .set(i64::try_from(m.behind).unwrap_or(i64::MAX));
        if let Some(ms) = m.last_seen_ms {
            last_seen.get_or_create(&labels).set(ms / 1000);
        }
        let bytes = traffic.get(&m.peer_id).copied().unwrap_or_default();
        received.get_or_create(&labels).inc_by(bytes.received);
        sent.get_or_create(&labels).inc_by(bytes.sent);
    }
    now.register(
        "member_connected",
        "1 while the member answers, else 0",
        connected,
    );
    now.register(
        "member_behind",
        "Changes of the member's log not yet stored here",
        behind,
    );
    now.register(
        "member_last_seen_timestamp_seconds",
        "When the member last answered (Unix time)",
        last_seen,
    );
    now.register(
        "member_received_bytes",
        "Bytes received from the member since the node started",
        received,
    );
    now.register(
        "member_sent_bytes",
        "Bytes sent to the member since the node started",
        sent,
    );
}

/// Codes this company has left in its committed ranges, per table.
async fn codes_left(now: &mut Registry, state: &ApiState) -> ApiResult<()> {
    let left = Family::<Table, Gauge>::default();
    let (_, ranges) = state.primary.view().await?;
    for r in ranges
        .iter()
        .filter(|r| r.committed && r.company == state.company.cnpj)
    {
        let size = r.to.saturating_sub(r.from).saturating_add(1).max(0);
        let unused = size.saturating_sub(r.used.unwrap_or(0)).max(0);
        left.get_or_create(&Table {
            table: r.table.clone(),
        })
        .inc_by(unused);
    }
    now.register(
        "codes_left",
        "Codes this company can still draw from its ranges, per table",
        left,
    );
    Ok(())
}

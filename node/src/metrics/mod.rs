//! What the node counts as it works, for `GET /metrics`: API requests by
//! route and status and how long they take by route, how long replication pulls and store writes take.
//! Each figure is recorded where it is measured (the API's layer, the
//! replication actor, the store's handle) into one registry of the
//! process; what is read at a scrape (records, members, codes left) is
//! the API's to gather (`api/metrics.rs`).
//!
//! Owns: prometheus-client. Depends on nothing else in the node, so every
//! module may record into it.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The names' prefix: `elo_api_requests_total`, …
pub const PREFIX: &str = "elo";

/// One API request's route (the router's template, such as
/// `/v1/records/{kind}/{key}`, never the raw path, which would make a
/// series per record), method and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiRequest {
    route: String,
    method: String,
    status: u16,
}

/// One API route (its template) and method, as its durations are kept:
/// without the status, so that a route's latency is one histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiRoute {
    route: String,
    method: String,
}

/// Whether a pull ended with everything stored or with an error.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PullOutcome {
    outcome: &'static str,
}

struct Measured {
    registry: Registry,
    api_requests: Family<ApiRequest, Counter>,
    api_durations: Family<ApiRoute, Histogram>,
    pulls: Family<PullOutcome, Histogram>,
    writes: Histogram,
}

/// Latency buckets from 0.5 ms to about 16 s, doubling: a local write is
/// a millisecond or two, a first load of a new member many seconds.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0005, 2.0, 16)
}

/// A family of latency histograms, one per label set, registered as `name`.
fn latencies<L>(registry: &mut Registry, name: &str, help: &str) -> Family<L, Histogram>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<L, Histogram>::new_with_constructor(
        (|| Histogram::new(latency_buckets())) as fn() -> Histogram,
    );
    registry.register(name, help, family.clone());
    family
}

static MEASURED: LazyLock<Measured> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix(PREFIX);
    let api_requests = Family::<ApiRequest, Counter>::default();
    registry.register(
        "api_requests",
        "API requests answered, by route template, method and status",
        api_requests.clone(),
    );
    let api_durations = latencies(
        &mut registry,
        "api_request_duration_seconds",
        "API requests, from arriving to the answer's head, by route template and method",
    );
    let pulls = latencies(
        &mut registry,
        "pull_duration_seconds",
        "Replication pulls from a member, from the first request to the last document stored",
    );
    let writes = Histogram::new(latency_buckets());
    registry.register(
        "write_duration_seconds",
        "Store writes (local and received), from being queued to being on disk",
        writes.clone(),
    );
    Measured {
        registry,
        api_requests,
        api_durations,
        pulls,
        writes,
    }
});

/// An API request was answered after `took`.
pub fn api_request(route: &str, method: &str, status: u16, took: Duration) {
    let labels = ApiRequest {
        route: route.to_owned(),
        method: method.to_owned(),
        status,
    };
    MEASURED.api_requests.get_or_create(&labels).inc();
    let route = ApiRoute {
        route: labels.route,
        method: labels.method,
    };
    MEASURED
        .api_durations
        .get_or_create(&route)
        .observe(took.as_secs_f64());
}

/// A pull from a member ended after `took`.
pub fn pull_finished(took: Duration, ok: bool) {
    let outcome = if ok { "stored" } else { "failed" };
    MEASURED
        .pulls
        .get_or_create(&PullOutcome { outcome })
        .observe(took.as_secs_f64());
}

/// A write to the store was committed (or refused) after `took`.
pub fn write_finished(took: Duration) {
    MEASURED.writes.observe(took.as_secs_f64());
}

/// Appends the measured figures to `out` in the text exposition format
/// (without the closing `# EOF`, which the caller writes after its own).
pub fn encode(out: &mut String) -> std::fmt::Result {
    prometheus_client::encoding::text::encode_registry(out, &MEASURED.registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_figures_are_in_the_text() {
        api_request(
            "/v1/records/{kind}/{key}",
            "GET",
            200,
            Duration::from_millis(4),
        );
        pull_finished(Duration::from_millis(3), true);
        write_finished(Duration::from_millis(2));
        let mut out = String::new();
        encode(&mut out).unwrap();
        assert!(
            out.contains(
                r#"elo_api_requests_total{route="/v1/records/{kind}/{key}",method="GET",status="200"}"#
            ),
            "{out}"
        );
        assert!(
            out.contains(
                r#"elo_api_request_duration_seconds_bucket{le="0.008",route="/v1/records/{kind}/{key}",method="GET"}"#
            ),
            "{out}"
        );
        assert!(
            out.contains(r#"elo_pull_duration_seconds_count{outcome="stored"}"#),
            "{out}"
        );
        assert!(out.contains("elo_write_duration_seconds_bucket"), "{out}");
    }
}

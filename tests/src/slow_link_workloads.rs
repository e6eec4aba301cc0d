//! W1 and W2 of `../shared/notes/peers.md` for a branch on a slow link
//! ([`crate::slow_link`]), on the peers' records: what `elo-bench link`
//! measures and `tests/tests/slow_link.rs` checks.
//!
//! - W1: the branch joins (`elo join` in its namespace) and holds them all;
//! - W2: its node stops; every 10th record gets a new `extra.balance` and
//!   1% are added at the head office; time from its restart until caught
//!   up, holding every record.
//!
//! Each with the bytes sent each way: as the proxy delivered them (libp2p's
//! frames) and as the veth sent them (IP packets, acknowledgements too).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::slow_link::{BRANCH_LINK, HeadOffice, SlowLink, WireBytes};
use crate::{Company, Figures, cnpj, peer_records, wait_until};

/// How long each step may take before the run fails saying which.
pub const STEP_LIMIT: Duration = Duration::from_secs(300);

/// Bytes sent each way since `before`, by the proxy and by the veth, in MB.
fn traffic(
    f: &mut Figures,
    w: &'static [&'static str; 4],
    link: &SlowLink,
    head: &HeadOffice,
    before: (WireBytes, (u64, u64)),
) {
    let (wire, proxy) = (link.wire_bytes(), head.proxy.bytes());
    let mb = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1e6;
    f.push((w[0], mb(proxy.1, before.1.1), "MB"));
    f.push((w[1], mb(proxy.0, before.1.0), "MB"));
    f.push((w[2], mb(wire.head_to_branch, before.0.head_to_branch), "MB"));
    f.push((w[3], mb(wire.branch_to_head, before.0.branch_to_head), "MB"));
}

/// Rows for the bulk route, each with its kind.
pub type Rows = Vec<(&'static str, Value)>;

/// The last record edited: its kind, its key and its new balance.
pub type LastEdit = (&'static str, String, Value);

/// W2's edits: every 10th of `n` records with a new balance; the rows to
/// send, and the last one edited.
pub fn balance_edits(n: u64) -> (Rows, LastEdit) {
    let edits: Rows = (0..n)
        .step_by(10)
        .map(|i| {
            let (kind, rec) = peer_records::record(i);
            let key = if kind == "customer" { "cnpj" } else { "sku" };
            let balance = format!("{}.{:02}", i + 11, i % 100);
            (
                kind,
                json!({ key: rec[key], "extra": { "balance": balance } }),
            )
        })
        .collect();
    let (kind, key) = peer_records::key((n - 1) / 10 * 10);
    let balance = edits
        .last()
        .map(|e| e.1["extra"]["balance"].clone())
        .unwrap_or(Value::Null);
    (edits, (kind, key, balance))
}

/// One run of W1 and W2 over [`BRANCH_LINK`] with `n` records (n ≥ 100).
pub fn w1_w2(n: u64) -> Result<Figures, String> {
    let mut f: Figures = Vec::new();
    let link = SlowLink::new(BRANCH_LINK)?;
    let a = Company::init(&cnpj(901), "Matriz");
    let (customers, products) = peer_records::write_jsonl(a.data(), 0, n);
    for (kind, file) in [("customer", &customers), ("product", &products)] {
        a.elo_ok(&["import", kind, file]);
    }
    let _ = std::fs::remove_file(&customers);
    let _ = std::fs::remove_file(&products);
    let head = link.start_head(&a);

    // W1: the branch joins over the link and receives everything.
    let before = (link.wire_bytes(), head.proxy.bytes());
    let (b, process, joined) = link.join(&head, &cnpj(902), STEP_LIMIT)?;
    let w1 = joined["seconds"].as_f64().unwrap_or(f64::NAN);
    f.push(("W1 branch holds all", w1, "s"));
    f.push(("W1 `elo join` process", process.as_secs_f64(), "s"));
    traffic(
        &mut f,
        &[
            "W1 bytes head → branch (proxy)",
            "W1 bytes branch → head (proxy)",
            "W1 bytes head → branch (veth)",
            "W1 bytes branch → head (veth)",
        ],
        &link,
        &head,
        before,
    );
    let sent = f[2].1;
    f.push(("W1 rate head → branch", sent * 8.0 / w1, "Mbit/s"));
    f.push((
        "W1 bytes a record head → branch",
        sent * 1e6 / n as f64,
        "B",
    ));

    let node_b = link.start_branch(&b, &head);
    let held = link.in_branch(|| records_held(&node_b));
    if held < n {
        return Err(format!(
            "the branch holds {held} of {n} records after joining"
        ));
    }
    wait_until("the branch settles after joining", STEP_LIMIT, || {
        link.in_branch(|| node_b.get("/v1/sync")).body["caught_up"] == true
    });
    if !node_b.stop().success() {
        return Err("the branch's node did not stop cleanly".into());
    }

    // W2: every 10th record edited and 1% added at the head office.
    let adds = n / 100;
    let (edits, (edit_kind, edit_key, last_balance)) = balance_edits(n);
    link.in_head(|| {
        head.node.post_all(edits);
        head.node
            .post_all((n..n + adds).map(peer_records::record).collect());
    });
    let (add_kind, add_key) = peer_records::key(n + adds - 1);
    let before = (link.wire_bytes(), head.proxy.bytes());
    let start = Instant::now();
    let node_b = link.start_branch(&b, &head);
    wait_until("the branch caught up after the edits", STEP_LIMIT, || {
        link.in_branch(|| {
            node_b.record(add_kind, &add_key).is_some()
                && node_b
                    .record(edit_kind, &edit_key)
                    .is_some_and(|r| r["extra"]["balance"] == last_balance)
                && node_b.get("/v1/sync").body["caught_up"] == true
        })
    });
    f.push((
        "W2 catch-up after 10% edits + 1% new",
        start.elapsed().as_secs_f64(),
        "s",
    ));
    traffic(
        &mut f,
        &[
            "W2 bytes head → branch (proxy)",
            "W2 bytes branch → head (proxy)",
            "W2 bytes head → branch (veth)",
            "W2 bytes branch → head (veth)",
        ],
        &link,
        &head,
        before,
    );
    let held = link.in_branch(|| records_held(&node_b));
    if held < n + adds {
        return Err(format!(
            "the branch holds {held} of {} records after catching up",
            n + adds
        ));
    }
    Ok(f)
}

fn records_held(node: &crate::RunningNode) -> u64 {
    node.get("/v1/status").body["records"].as_u64().unwrap_or(0)
}

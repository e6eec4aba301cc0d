//! Delivers what the outbox owes: each linked order to the other end of
//! its link, and to no one else, only while that company's node is
//! connected (orders between companies that are apart wait until they
//! meet). Sending the whole order each time makes a retry harmless: the
//! other end merges it, or finds the link and changes nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use elo_net::protocol::{RequestBody, ResponseBody};
use elo_net::{NetClient, PeerId};
use serde_bytes::ByteBuf;
use tokio::sync::watch;

use super::Orders;
use crate::group::policy::Roster;

/// How often the outbox is looked at when nothing rings: a member that
/// connects is served within this.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How long a refused delivery waits before it is tried again (the other
/// end may be on an older build, or its store full).
const AFTER_REFUSAL: Duration = Duration::from_secs(30);

/// Runs until `stopping` turns true.
pub async fn run(
    orders: Orders,
    net: NetClient,
    roster: watch::Receiver<Arc<Roster>>,
    mut stopping: watch::Receiver<bool>,
) {
    let mut refused: HashMap<String, Instant> = HashMap::new();
    let mut unknown_told: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            () = orders.wait_owed() => {}
            () = tokio::time::sleep(LOOK_EVERY) => {}
            _ = stopping.changed() => {}
        }
        if *stopping.borrow() {
            return;
        }
        let owed = match orders.owed().await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(
                    "cannot read the order outbox: {e}; orders are tried again shortly (if `elo status` shows a store problem, see to the disk)"
                );
                continue;
            }
        };
        if owed.is_empty() {
            continue;
        }
        let connected: HashSet<PeerId> = net
            .connected_peers()
            .await
            .unwrap_or_default()
            .into_iter()
            .collect();
        let roster = roster.borrow().clone();
        for (link, o) in owed {
            if refused
                .get(&link)
                .is_some_and(|t| t.elapsed() < AFTER_REFUSAL)
            {
                continue;
            }
            let Some(peer) = roster.peer_of(&o.to) else {
                if unknown_told.insert(link.clone()) {
                    tracing::warn!(to = %o.to, order = %o.key, "an order is owed to a company that is not a member; it waits (check the company's CNPJ in the order, or invite the company with `elo invite`)");
                }
                continue;
            };
            if !connected.contains(&peer) {
                continue;
            }
            let Ok(Some(doc)) = orders.order_bytes(o.key.clone()).await else {
                continue;
            };
            let body = RequestBody::Order {
                link: link.clone(),
                key: o.key.clone(),
                doc: ByteBuf::from(doc),
            };
            match net.request(peer, body).await {
                Ok(ResponseBody::OrderTaken { key }) => {
                    crash_point("exit-before-order-ack");
                    refused.remove(&link);
                    if let Err(e) = orders.delivered(link, o.seq, key).await {
                        tracing::warn!(
                            "cannot note an order delivered: {e}; it may be sent again, and the other end takes it once (if `elo status` shows a store problem, see to the disk)"
                        );
                    }
                }
                Ok(ResponseBody::Refused { reason }) => {
                    tracing::warn!(to = %o.to, order = %o.key, "the other end refused an order: {reason}; it is tried again later (correct the order if the reason names a field, or ask that company to check its order settings)");
                    refused.insert(link, Instant::now());
                }
                Ok(_) => {
                    refused.insert(link, Instant::now());
                }
                Err(e) => {
                    tracing::debug!(to = %o.to, "an order delivery failed; it is tried again: {e}")
                }
            }
        }
    }
}

/// Where a test crashes the node on purpose (`ELO_FAULT=NAME`): at once,
/// with no clean-up, as a power cut or a kill there would. A node started
/// without `ELO_FAULT` never stops here.
fn crash_point(name: &str) {
    if std::env::var("ELO_FAULT").is_ok_and(|v| v == name) {
        eprintln!("ELO_FAULT={name}: stopping here on purpose");
        std::process::abort();
    }
}

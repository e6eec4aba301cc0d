//! Carrying the group's new network key to every member.
//!
//! At a removal the primary keeps the new secret first, hands it to every
//! member at once (each keeps it and moves a moment after answering), and
//! moves last. A member that was offline, or missed it for any reason,
//! still listens under an older key and can reach no one; every member that
//! moved keeps the few secrets the group moved away from and, for each
//! member of the roster it cannot see, dials that member's node under them
//! ([`elo_net::once`]: dial-only, the noise handshake proves the identity
//! the roster names) and hands it the current secret. A removed company is
//! not in the roster, so it is never dialed and never handed anything.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use elo_net::protocol::{RequestBody, ResponseBody};
use elo_net::{Keypair, Multiaddr, NetClient, PeerId};
use tokio::sync::{mpsc, oneshot, watch};

use super::command::Command;
use super::peers::{PeerStatus, peer_of};
use crate::group::{self, Member, removal};
use crate::store::StoreHandle;

/// How often members not seen are considered for a handover.
const CATCH_UP_EVERY: Duration = Duration::from_secs(3);
/// The wait before trying a member again, doubling up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(3);
const MAX_WAIT: Duration = Duration::from_secs(60);
/// How long one handover under one old key may take (a node under another
/// key leaves the handshake hanging until the transport gives up).
const HANDOVER_LIMIT: Duration = Duration::from_secs(8);
/// How many of the previous secrets are tried per member, newest first.
const KEYS_TRIED: usize = 3;

/// Hands `secret` to every member at once over the connections of the
/// current key. Returns the CNPJs that took it and those that did not.
pub(super) async fn deliver(
    net: &NetClient,
    members: Vec<(PeerId, String)>,
    secret: &str,
    removed: &str,
) -> (Vec<String>, Vec<String>) {
    let asks = members.into_iter().map(|(peer, member)| {
        let body = RequestBody::Rekey {
            secret: secret.to_string(),
            removed: removed.to_string(),
        };
        async move {
            let answer = net.request(peer, body).await;
            if !matches!(answer, Ok(ResponseBody::Ack)) {
                tracing::warn!(%peer, %member, "a member did not take the new network key now (it is handed it when seen again; nothing to do unless it lasts, then check that its node runs): {answer:?}");
            }
            (member, matches!(answer, Ok(ResponseBody::Ack)))
        }
    });
    let (mut reached, mut not_reached) = (Vec::new(), Vec::new());
    for (member, took) in futures::future::join_all(asks).await {
        if took {
            reached.push(member);
        } else {
            not_reached.push(member);
        }
    }
    (reached, not_reached)
}

/// What the catch-up task needs.
pub(super) struct CatchUp {
    pub store: StoreHandle,
    pub keypair: Keypair,
    pub commands: mpsc::UnboundedSender<Command>,
}

/// Runs until the node stops: hands the current secret to members not
/// seen, under the secrets the group moved away from.
pub(super) async fn catch_up(task: CatchUp, mut stopping: watch::Receiver<bool>) {
    let mut waits: HashMap<PeerId, (Instant, Duration)> = HashMap::new();
    loop {
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => break,
            () = tokio::time::sleep(CATCH_UP_EVERY) => {}
        }
        let Ok(group) = removal::stored_group(&task.store).await else {
            continue;
        };
        if group.previous_secrets.is_empty() {
            continue;
        }
        let (reply, answer) = oneshot::channel();
        if task.commands.send(Command::Status(reply)).is_err() {
            break;
        }
        let Ok(status) = answer.await else { break };
        // Read after the secret, from the store: a removal deletes the
        // company's record before it keeps the new secret, so a secret seen
        // here comes with a roster that no longer names the removed company.
        let Ok(members) = group::roster(&task.store).await else {
            continue;
        };
        let local = task.keypair.public().to_peer_id();
        let now = Instant::now();
        waits.retain(|p, _| !is_connected(&status, p));
        let due: Vec<(PeerId, Vec<Multiaddr>)> = unseen(local, &members, &status)
            .into_iter()
            .filter(|(peer, _)| waits.get(peer).is_none_or(|(at, _)| *at <= now))
            .collect();
        for (peer, _) in &due {
            let wait = waits
                .get(peer)
                .map_or(FIRST_WAIT, |(_, w)| (*w * 2).min(MAX_WAIT));
            waits.insert(*peer, (now + wait, wait));
        }
        let removed = group.last_removed.clone().unwrap_or_default();
        let handovers = due.into_iter().map(|(peer, addrs)| {
            let (keypair, group, removed) = (&task.keypair, &group, &removed);
            async move {
                for old in group.previous_secrets.iter().take(KEYS_TRIED) {
                    let body = RequestBody::Rekey {
                        secret: group.secret.clone(),
                        removed: removed.clone(),
                    };
                    let answer = elo_net::once::request_under_key(
                        keypair,
                        &removal::secret_bytes(old),
                        peer,
                        addrs.clone(),
                        body,
                        HANDOVER_LIMIT,
                    )
                    .await;
                    match answer {
                        Ok(ResponseBody::Ack) => {
                            tracing::warn!(%peer, "handed the group's current network key to a member that had missed it (nothing to do)");
                            return;
                        }
                        other => tracing::debug!(%peer, "no handover under an old key: {other:?}"),
                    }
                }
            }
        });
        futures::future::join_all(handovers).await;
    }
}

fn is_connected(status: &[PeerStatus], peer: &PeerId) -> bool {
    status
        .iter()
        .any(|s| s.connected && s.peer_id == peer.to_string())
}

/// The members not connected now, with every address known for them: the
/// roster's and the one they were last reached at.
fn unseen(
    local: PeerId,
    members: &[Member],
    status: &[PeerStatus],
) -> Vec<(PeerId, Vec<Multiaddr>)> {
    let mut out = Vec::new();
    for member in members {
        let Some(peer) = member.peer_id else { continue };
        if peer == local || is_connected(status, &peer) {
            continue;
        }
        let mut addrs: Vec<Multiaddr> = member.addresses.clone();
        let last = status
            .iter()
            .find(|s| s.peer_id == peer.to_string())
            .and_then(|s| s.address.as_deref())
            .and_then(|a| a.parse::<Multiaddr>().ok());
        addrs.extend(last);
        // Dialed as this peer: an address naming another identity is no use.
        addrs.retain(|a| peer_of(a).is_none_or(|p| p == peer));
        addrs.dedup();
        if !addrs.is_empty() {
            out.push((peer, addrs));
        }
    }
    out
}

//! Nodes of another group: the private-network handshake itself checks
//! nothing (each side sends a nonce), so a node whose key differs gets
//! through it, and then each side reads the other's bytes as noise: the
//! negotiation after it fails or times out. A connection that failed after
//! passing that handshake is therefore a node of another group (or a
//! program that is not an elo node); it is told once per address, in the
//! log and in the list
//! [`NetClient::other_groups`](crate::NetClient::other_groups) gives, so an
//! operator reads "a node at ADDR is of another group" instead of a libp2p
//! message every few seconds.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use libp2p::Multiaddr;
use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use serde::Serialize;

/// How long a node of another group stays listed after its last attempt.
const FORGET_AFTER_MS: i64 = 10 * 60 * 1000;
/// Most connections remembered as past the handshake and not yet ended.
const MAX_PENDING: usize = 4096;

/// The connections (by remote address) that passed the private-network
/// handshake and have not yet become connections or failed. Shared between
/// the transport, which marks them, and the event loop, which reads them
/// when a connection fails.
#[derive(Clone, Default)]
pub(crate) struct Handshakes(Arc<Mutex<HashSet<Multiaddr>>>);

impl Handshakes {
    /// The connection at `endpoint` passed the handshake.
    pub(crate) fn passed(&self, endpoint: &ConnectedPoint) {
        if let Ok(mut set) = self.0.lock() {
            // Connections that ended unheard of (a dial given up) are
            // forgotten all at once rather than let the set grow.
            if set.len() >= MAX_PENDING {
                set.clear();
            }
            set.insert(endpoint.get_remote_address().clone());
        }
    }

    /// Whether the connection with `addr`, which just ended, had passed it.
    pub(crate) fn take(&self, addr: &Multiaddr) -> bool {
        self.0.lock().is_ok_and(|mut set| set.remove(addr))
    }
}

/// A node met whose network key differs from this node's.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OtherGroup {
    /// Where it is: the address dialed, or the host that dialed in (its
    /// port changes with every attempt).
    pub address: String,
    /// `dialed` when this node dialed it, `dialed in` when it dialed here.
    pub direction: &'static str,
    pub attempts: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// The sentence an operator reads.
    pub message: String,
}

/// Every node of another group met, by address.
pub(crate) struct OtherGroups {
    seen: BTreeMap<String, OtherGroup>,
    handshakes: Handshakes,
}

impl OtherGroups {
    /// Reads what the transport marks in `handshakes`.
    pub(crate) fn new(handshakes: Handshakes) -> OtherGroups {
        OtherGroups {
            seen: BTreeMap::new(),
            handshakes,
        }
    }

    /// Notes a failed connection with `addr` (dialed when `outbound`);
    /// returns whether it was a node of another group. The first failure at
    /// an address is logged as a warning, the others at debug level only.
    pub(crate) fn failed(&mut self, addr: &Multiaddr, outbound: bool) -> bool {
        if !self.handshakes.take(addr) {
            return false;
        }
        let address = place(addr, outbound);
        let now = now_ms();
        let entry = self.seen.entry(address.clone()).or_insert_with(|| {
            let message = message(&address, outbound);
            tracing::warn!("{message}");
            OtherGroup {
                address,
                direction: if outbound { "dialed" } else { "dialed in" },
                attempts: 0,
                first_seen_ms: now,
                last_seen_ms: now,
                message,
            }
        });
        entry.attempts += 1;
        entry.last_seen_ms = now;
        if entry.attempts > 1 {
            tracing::debug!(address = %entry.address, "again a node of another group");
        }
        true
    }

    /// A connection with `addr` went through. One this node dialed: what
    /// is at that address moved to this group's key (or a member took its
    /// place). One that dialed in says nothing of other nodes on its host.
    pub(crate) fn connected(&mut self, addr: &Multiaddr, outbound: bool) {
        self.handshakes.take(addr);
        if outbound {
            self.seen.remove(&place(addr, true));
        }
    }

    /// The nodes of another group met within the last [`FORGET_AFTER_MS`]
    /// (one that stopped trying is no longer news).
    pub(crate) fn list(&mut self) -> Vec<OtherGroup> {
        let now = now_ms();
        self.seen
            .retain(|_, o| now.saturating_sub(o.last_seen_ms) < FORGET_AFTER_MS);
        self.seen.values().cloned().collect()
    }
}

/// An address as the list keeps it: whole (without `/p2p/`) when dialed,
/// the host alone when it dialed in.
fn place(addr: &Multiaddr, outbound: bool) -> String {
    if outbound {
        let kept: Multiaddr = addr
            .iter()
            .filter(|p| !matches!(p, Protocol::P2p(_)))
            .collect();
        return kept.to_string();
    }
    let host: Multiaddr = addr
        .iter()
        .filter(|p| matches!(p, Protocol::Ip4(_) | Protocol::Ip6(_) | Protocol::Dns(_)))
        .collect();
    host.to_string()
}

fn message(address: &str, outbound: bool) -> String {
    let how = if outbound {
        "this node dialed it"
    } else {
        "it dialed this node"
    };
    format!(
        "a node at {address} is of another group ({how}): its network key differs from this group's, so they cannot connect. If it should be a member, it joins with an invite of this group (`elo invite` here, `elo join` there); a member that missed a key change gets the new key when a member that has it reaches it"
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

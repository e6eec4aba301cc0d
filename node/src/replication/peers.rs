//! What this node knows of each member's node: connected or not, how far
//! its logs were walked, the last error, the addresses it was reached at,
//! and when to dial it next. Owned by the replication actor alone.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use elo_net::protocol::Push;
use elo_net::{Multiaddr, PeerId};
use serde::Serialize;

use super::push::Told;
use crate::group::Roster;

/// Longest wait between dial attempts to an unreachable member: also how
/// long a member whose link came back may wait to be dialed again (it dials
/// too, so usually less). A dial of a dead address costs one SYN.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The first wait after a failed dial.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// What this node knows of one member, as `elo status` shows it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PeerStatus {
    /// The member's node.
    pub peer_id: String,
    /// Its CNPJ and name, from the roster.
    pub company: Option<String>,
    pub name: Option<String>,
    /// Whether a connection is open now, and when one last was.
    pub connected: bool,
    /// Connections open to it now: 1 once the pair settled.
    pub connections: usize,
    pub last_seen_ms: Option<i64>,
    /// Where it was reached.
    pub address: Option<String>,
    /// The member's latest sequence number, as last heard.
    pub their_latest_seq: u64,
    /// How far this node has stored the member's log.
    pub checkpoint: u64,
    /// Changes of the member's log not yet walked here.
    pub behind: u64,
    /// Documents received from it since this node started.
    pub docs_received: u64,
    pub last_error: Option<String>,
    pub pulling: bool,
}

/// One member's node.
#[derive(Default)]
pub(super) struct PeerState {
    pub status: PeerStatus,
    /// Woken while a pull ran: pull again when it ends.
    pub again: bool,
    /// The member asked for its log to be walked again from the start; done
    /// before the next pull (not during one, whose checkpoint would then
    /// overwrite the reset).
    pub rescan: bool,
    /// A failed pull waits before the next; wakes meanwhile only set `again`.
    pub backing_off: bool,
    /// The wait after the last failed pull (zero after a success).
    pub retry_wait: Duration,
    /// Counts the member's connections: every task started for it carries
    /// the count of its time, so what ends after the member connected again
    /// (a failed announcement's wait, a pull over the closed connection)
    /// leaves the new connection's state alone.
    pub connection: u64,
    /// An announcement to the member is on its way (or waits to be tried
    /// again); what is committed meanwhile goes with the next one.
    pub announcing: bool,
    /// Something was committed since the announcement on its way.
    pub announce_owed: bool,
    /// The primary's messages to the member not yet answered.
    pub primary_in_flight: usize,
    /// How far the member was told of this node's logs over its
    /// connection, once it took an announcement (`None`: it is to pull).
    pub told: Option<Told>,
    /// The member's pushes (with its latest sequence number) waiting for
    /// its pull slot.
    pub pushes: Vec<(u64, Box<Push>)>,
}

/// Every member's node, and the dialing state.
pub(super) struct Peers {
    states: HashMap<PeerId, PeerState>,
    /// The address each member was last reached at (kept in metadata too).
    remembered: HashMap<PeerId, Multiaddr>,
    /// Per address: when it may be dialed next, and the wait after that.
    backoff: HashMap<String, (Instant, Duration)>,
    /// Addresses to dial besides the roster's and the remembered ones.
    extra: Vec<Multiaddr>,
    /// Dial the addresses the roster and memory hold (off: only `extra`).
    dial_roster: bool,
    /// Nodes connected now that are not in the roster (yet): where, and
    /// whether this node dialed. One named by a roster that arrives later
    /// is taken as a member connected then (see [`Peers::now_members`]).
    outside: HashMap<PeerId, (Multiaddr, bool)>,
}

impl Peers {
    pub fn new(
        remembered: HashMap<PeerId, Multiaddr>,
        extra: Vec<Multiaddr>,
        dial_roster: bool,
    ) -> Peers {
        Peers {
            states: HashMap::new(),
            remembered,
            backoff: HashMap::new(),
            extra,
            dial_roster,
            outside: HashMap::new(),
        }
    }

    /// A node outside the roster connected: kept in mind, since the
    /// roster that names it may arrive while this connection lasts (a
    /// company that joined after this node last heard of the group).
    pub fn connected_outside(&mut self, peer: PeerId, addr: Multiaddr, outbound: bool) {
        self.outside.insert(peer, (addr, outbound));
    }

    /// A node's last connection closed.
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.outside.remove(peer);
        let state = self.state(*peer);
        state.told = None;
        state.pushes.clear();
        state.status.connected = false;
    }

    /// The nodes connected while outside the roster that `roster` names:
    /// forgotten here, for the caller to take as members connected now.
    pub fn now_members(&mut self, roster: &Roster) -> Vec<(PeerId, Multiaddr, bool)> {
        let named: Vec<PeerId> = self
            .outside
            .keys()
            .filter(|p| roster.member(p).is_some())
            .copied()
            .collect();
        named
            .into_iter()
            .filter_map(|p| self.outside.remove(&p).map(|(a, o)| (p, a, o)))
            .collect()
    }

    pub fn state(&mut self, peer: PeerId) -> &mut PeerState {
        self.states.entry(peer).or_default()
    }

    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.states.get(peer).is_some_and(|s| s.status.connected)
    }

    /// The nodes connected now.
    pub fn connected(&self) -> Vec<PeerId> {
        self.states
            .iter()
            .filter(|(_, s)| s.status.connected)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Remembers where a member was reached; true if that is news (then it
    /// is worth keeping on disk).
    pub fn remember(&mut self, peer: PeerId, addr: &Multiaddr) -> bool {
        self.remembered.insert(peer, addr.clone()).as_ref() != Some(addr)
    }

    /// A member connected: its addresses may be dialed at once next time.
    pub fn reached(&mut self, peer: &PeerId) {
        let peer = peer.to_string();
        self.backoff.retain(|a, _| !a.contains(&peer));
    }

    /// Every member but this node, with what is known of it.
    pub fn status(&self, roster: &Roster) -> Vec<PeerStatus> {
        let mut out: Vec<PeerStatus> = roster
            .members
            .iter()
            .filter(|(p, _)| **p != roster.local)
            .map(|(p, m)| {
                let mut s = self
                    .states
                    .get(p)
                    .map(|s| s.status.clone())
                    .unwrap_or_default();
                s.peer_id = p.to_string();
                s.company = Some(m.cnpj.clone());
                s.name = Some(m.name.clone());
                s.behind = s.their_latest_seq.saturating_sub(s.checkpoint);
                s
            })
            .collect();
        out.sort_by(|a, b| a.company.cmp(&b.company));
        out
    }

    /// The addresses due for a dial now: every known address of members not
    /// connected, and the extra ones, each with exponential backoff.
    pub fn due_dials(&mut self, roster: &Roster) -> Vec<(Option<PeerId>, Multiaddr)> {
        let now = Instant::now();
        let mut due = Vec::new();
        for (peer, addr) in self.dial_targets(roster) {
            let key = format!("{addr}|{}", peer.map(|p| p.to_string()).unwrap_or_default());
            let entry = self.backoff.entry(key).or_insert((now, FIRST_BACKOFF));
            if entry.0 <= now {
                entry.0 = now + entry.1;
                entry.1 = (entry.1 * 2).min(MAX_BACKOFF);
                due.push((peer, addr));
            }
        }
        due
    }

    fn dial_targets(&self, roster: &Roster) -> Vec<(Option<PeerId>, Multiaddr)> {
        let local = roster.local;
        let mut targets = Vec::new();
        for (p, m) in roster.members.iter().filter(|_| self.dial_roster) {
            if *p == local || self.is_connected(p) {
                continue;
            }
            for a in m.addresses.iter().chain(self.remembered.get(p)) {
                targets.push((Some(*p), a.clone()));
            }
        }
        let connected_addrs: HashSet<String> = self
            .states
            .values()
            .filter(|s| s.status.connected)
            .filter_map(|s| s.status.address.clone())
            .collect();
        for a in &self.extra {
            let peer = peer_of(a);
            let connected = match peer {
                Some(p) => p == local || self.is_connected(&p),
                None => connected_addrs.contains(&a.to_string()),
            };
            if !connected {
                targets.push((peer, a.clone()));
            }
        }
        targets
    }
}

/// The peer id at the end of a multiaddress (`…/p2p/12D3…`), if any.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        elo_net::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

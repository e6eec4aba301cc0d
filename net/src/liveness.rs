//! Whether the peer at the other end of each connection still answers.
//!
//! TCP alone never tells: when a link goes dark (a pulled cable, a VPN that
//! drops) frames vanish and neither end hears anything, and a connection
//! with nothing to send stays "up" for ever. So every connection is pinged
//! every [`PING_EVERY`]; one whose peer has not answered for
//! [`SILENT_LIMIT`] is closed, and the node hears of the member as
//! disconnected, with why. A frozen node (its process stopped, its kernel
//! still acknowledging) is cut off the same way: it answers nothing.
//!
//! The limit is three ping rounds, so one ping delayed behind a large page
//! on a slow link does not cut a member off; it is well inside "tens of
//! seconds", and the member is dialed again as soon as it answers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::swarm::ConnectionId;
use libp2p::{PeerId, ping};

/// How often each connection is pinged.
pub(crate) const PING_EVERY: Duration = Duration::from_secs(5);
/// How long one ping waits for its answer.
pub(crate) const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a peer may answer nothing before its connection is closed.
pub(crate) const SILENT_LIMIT: Duration = Duration::from_secs(15);
/// A check this long after the one before means this node itself was
/// stalled (frozen, starved of CPU): its peers' answers may be waiting
/// unread, so they get a fresh limit rather than being cut off.
const OWN_STALL: Duration = Duration::from_secs(3);

/// Per connection: whose it is and when its peer last answered.
#[derive(Default)]
pub(crate) struct Liveness {
    answered: HashMap<ConnectionId, (PeerId, Instant)>,
    /// Why a peer's connection was closed here, for its disconnection.
    why_closed: HashMap<PeerId, String>,
    /// When [`Liveness::silent`] last looked.
    last_check: Option<Instant>,
}

/// A connection to close.
pub(crate) struct Silent {
    pub connection: ConnectionId,
    pub peer: PeerId,
}

impl Liveness {
    /// A connection is up: its peer counts as having answered now.
    pub fn established(&mut self, connection: ConnectionId, peer: PeerId, now: Instant) {
        self.answered.insert(connection, (peer, now));
    }

    /// A connection closed; returns why, when it was closed here for
    /// silence and it was the peer's last.
    pub fn closed(&mut self, connection: ConnectionId, peer: PeerId, last: bool) -> Option<String> {
        self.answered.remove(&connection);
        if last {
            self.why_closed.remove(&peer)
        } else {
            None
        }
    }

    /// A ping's outcome; returns the connection to close when it failed.
    pub fn on_ping(&mut self, event: &ping::Event, now: Instant) -> Option<Silent> {
        match &event.result {
            Ok(_) => {
                if let Some((_, at)) = self.answered.get_mut(&event.connection) {
                    *at = now;
                }
                None
            }
            // A node that does not speak ping (an older elo) is judged by
            // its requests alone, as before.
            Err(ping::Failure::Unsupported) => {
                self.answered.remove(&event.connection);
                None
            }
            Err(e) => {
                self.answered.remove(&event.connection)?;
                self.why_closed
                    .insert(event.peer, format!("the member stopped answering ({e})"));
                Some(Silent {
                    connection: event.connection,
                    peer: event.peer,
                })
            }
        }
    }

    /// The connections whose peer has said nothing for [`SILENT_LIMIT`],
    /// forgotten here: the caller closes them.
    pub fn silent(&mut self, now: Instant) -> Vec<Silent> {
        let stalled = self
            .last_check
            .is_some_and(|then| now.saturating_duration_since(then) > OWN_STALL);
        self.last_check = Some(now);
        if stalled {
            for (_, at) in self.answered.values_mut() {
                *at = now;
            }
            return Vec::new();
        }
        let quiet: Vec<Silent> = self
            .answered
            .iter()
            .filter(|(_, (_, at))| now.saturating_duration_since(*at) > SILENT_LIMIT)
            .map(|(connection, (peer, _))| Silent {
                connection: *connection,
                peer: *peer,
            })
            .collect();
        for s in &quiet {
            self.answered.remove(&s.connection);
            self.why_closed.insert(
                s.peer,
                format!(
                    "no answer for {} s: the link is down or the member's node is stalled",
                    SILENT_LIMIT.as_secs()
                ),
            );
        }
        quiet
    }

    /// Every connection went with the old swarm.
    pub fn clear(&mut self) {
        self.answered.clear();
        self.why_closed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_connections() -> (ConnectionId, ConnectionId) {
        (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
        )
    }

    fn peer() -> PeerId {
        libp2p::identity::Keypair::generate_ed25519()
            .public()
            .to_peer_id()
    }

    #[test]
    fn a_connection_silent_past_the_limit_is_named_once_with_why() {
        let mut l = Liveness::default();
        let (quiet, chatty) = two_connections();
        let (p, q) = (peer(), peer());
        let start = Instant::now();
        l.established(quiet, p, start);
        l.established(chatty, q, start);
        assert!(l.silent(start + SILENT_LIMIT).is_empty());
        let ping = ping::Event {
            peer: q,
            connection: chatty,
            result: Ok(Duration::from_millis(1)),
        };
        assert!(l.on_ping(&ping, start + PING_EVERY).is_none());
        // Only the connection whose peer answered nothing is closed, once.
        let later = start + SILENT_LIMIT + Duration::from_millis(1);
        let closed: Vec<ConnectionId> = l.silent(later).iter().map(|s| s.connection).collect();
        assert_eq!(closed, vec![quiet]);
        assert!(l.silent(later).is_empty());
        let why = l.closed(quiet, p, true).expect("why it was closed");
        assert!(why.contains("no answer"), "{why}");
        // A connection closed by the peer carries no reason of ours.
        assert!(l.closed(chatty, q, true).is_none());
    }

    #[test]
    fn after_this_node_itself_stalled_its_peers_get_a_fresh_limit() {
        let mut l = Liveness::default();
        let (c, p) = (ConnectionId::new_unchecked(1), peer());
        let start = Instant::now();
        l.established(c, p, start);
        assert!(l.silent(start).is_empty());
        // Nothing was checked for a minute: this node was frozen.
        let resumed = start + Duration::from_secs(60);
        assert!(l.silent(resumed).is_empty());
        let mut t = resumed;
        while t < resumed + SILENT_LIMIT {
            t += Duration::from_secs(1);
            if t <= resumed + SILENT_LIMIT {
                assert!(
                    l.silent(t).is_empty(),
                    "cut off {:?} after resuming",
                    t - resumed
                );
            }
        }
        t += Duration::from_secs(1);
        assert_eq!(
            l.silent(t).len(),
            1,
            "still silent a full limit after resuming"
        );
    }

    #[test]
    fn a_failed_ping_closes_the_connection_but_not_lacking_ping() {
        let mut l = Liveness::default();
        let (c, old) = two_connections();
        let p = peer();
        let start = Instant::now();
        l.established(c, p, start);
        l.established(old, p, start);
        let failed = ping::Event {
            peer: p,
            connection: c,
            result: Err(ping::Failure::Timeout),
        };
        assert!(l.on_ping(&failed, start).is_some_and(|s| s.connection == c));
        let unsupported = ping::Event {
            peer: p,
            connection: old,
            result: Err(ping::Failure::Unsupported),
        };
        assert!(l.on_ping(&unsupported, start).is_none());
        // Neither is watched any more.
        assert!(l.silent(start + SILENT_LIMIT * 2).is_empty());
        assert!(
            l.closed(c, p, true)
                .is_some_and(|why| why.contains("stopped answering"))
        );
    }
}

//! One connection per pair of nodes. Both members of a pair dial each
//! other (each holds the other's address), so two connections often come
//! up at once: twice the handshakes, the pings and the buffers, and
//! requests spread over both. Both ends apply the same rule to the same
//! facts (which end dialed each connection), so they close the same
//! extra connection without a word between them, and never the last one:
//!
//! - connections dialed by the node with the lower peer id are kept over
//!   those dialed by the other (both ends close the latter);
//! - of several dialed by the same end, that end keeps the oldest and
//!   closes the others (the other end closes none of them).
//!
//! A pair where only the higher end can dial (the lower one is behind a
//! NAT, or lacks the address) keeps the higher end's connection.

use std::collections::HashMap;

use libp2p::PeerId;
use libp2p::swarm::ConnectionId;

/// Every open connection of each peer, oldest first, with whether this
/// node dialed it.
#[derive(Default)]
pub(crate) struct Pairs {
    open: HashMap<PeerId, Vec<(ConnectionId, bool)>>,
}

impl Pairs {
    /// A connection came up: returns the connections of that peer this
    /// node closes (possibly the new one).
    pub fn established(
        &mut self,
        local: PeerId,
        peer: PeerId,
        connection: ConnectionId,
        dialed_here: bool,
    ) -> Vec<ConnectionId> {
        let open = self.open.entry(peer).or_default();
        open.push((connection, dialed_here));
        let extra = extra_connections(local < peer, open);
        open.retain(|(c, _)| !extra.contains(c));
        extra
    }

    /// A connection closed.
    pub fn closed(&mut self, peer: PeerId, connection: ConnectionId) {
        if let Some(open) = self.open.get_mut(&peer) {
            open.retain(|(c, _)| *c != connection);
            if open.is_empty() {
                self.open.remove(&peer);
            }
        }
    }

    /// How many connections each peer has open (1 once settled).
    pub fn counts(&self) -> HashMap<PeerId, usize> {
        self.open.iter().map(|(p, c)| (*p, c.len())).collect()
    }

    /// Every connection went with the old swarm.
    pub fn clear(&mut self) {
        self.open.clear();
    }
}

/// Of one peer's connections (oldest first; `true` where this node
/// dialed), the ones this node closes; `lower_here` when this node's peer
/// id is the lower of the pair. Never all of them.
fn extra_connections(lower_here: bool, open: &[(ConnectionId, bool)]) -> Vec<ConnectionId> {
    // Which end's connections are kept: the lower end's, if it has any.
    let lower_dialed = |dialed_here: bool| dialed_here == lower_here;
    let kept_end_is_lower = open.iter().any(|(_, d)| lower_dialed(*d));
    let mut extra = Vec::new();
    let mut kept_one = false;
    for (c, dialed_here) in open {
        if lower_dialed(*dialed_here) != kept_end_is_lower {
            // Dialed by the end whose connections give way: both ends close it.
            extra.push(*c);
        } else if kept_one {
            // A younger one of the kept end: closed by the end that dialed it.
            if *dialed_here {
                extra.push(*c);
            }
        } else {
            kept_one = true;
        }
    }
    extra
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> ConnectionId {
        ConnectionId::new_unchecked(n)
    }

    /// What each end closes, given the connections in the order each end
    /// saw them come up (as dialed by the lower end or not).
    fn both_ends(lower_saw: &[(usize, bool)], higher_saw: &[(usize, bool)]) -> Vec<usize> {
        let at_lower: Vec<(ConnectionId, bool)> = lower_saw
            .iter()
            .map(|(c, by_lower)| (id(*c), *by_lower))
            .collect();
        let at_higher: Vec<(ConnectionId, bool)> = higher_saw
            .iter()
            .map(|(c, by_lower)| (id(*c), !*by_lower))
            .collect();
        let mut closed: Vec<usize> = extra_connections(true, &at_lower)
            .into_iter()
            .chain(extra_connections(false, &at_higher))
            .map(|c| format!("{c}").parse().unwrap_or(usize::MAX))
            .collect();
        closed.sort_unstable();
        closed.dedup();
        closed
    }

    #[test]
    fn of_two_crossing_dials_both_ends_close_the_higher_ends() {
        // Connection 1 dialed by the lower end, 2 by the higher; each end
        // saw them come up in another order.
        assert_eq!(
            both_ends(&[(1, true), (2, false)], &[(2, false), (1, true)]),
            vec![2]
        );
        assert_eq!(
            both_ends(&[(2, false), (1, true)], &[(1, true), (2, false)]),
            vec![2]
        );
    }

    #[test]
    fn the_only_connection_stays_whoever_dialed_it() {
        assert!(both_ends(&[(1, false)], &[(1, false)]).is_empty());
        assert!(both_ends(&[(1, true)], &[(1, true)]).is_empty());
    }

    #[test]
    fn of_two_from_one_end_that_end_closes_the_younger() {
        assert_eq!(
            both_ends(&[(1, true), (2, true)], &[(1, true), (2, true)]),
            vec![2]
        );
        // Only the higher end could dial: it keeps its oldest.
        assert_eq!(
            both_ends(&[(1, false), (2, false)], &[(1, false), (2, false)]),
            vec![2]
        );
    }

    /// Both ends of one pair, fed the same connections, each closing what
    /// the rule tells it to; after every connection (and whichever end has
    /// the lower peer id) each end holds exactly one.
    #[test]
    fn a_pair_is_never_left_without_a_connection() {
        let mut ids: Vec<PeerId> = (0..2)
            .map(|_| {
                libp2p::identity::Keypair::generate_ed25519()
                    .public()
                    .to_peer_id()
            })
            .collect();
        ids.sort();
        let (lower, higher) = (ids[0], ids[1]);
        // Who dialed each connection, by the lower end or not: crossing
        // dials, then a run from one end, then from the other.
        let dialed_by_lower = [true, false, true, false, false, false, true, true];
        let (mut at_lower, mut at_higher) = (Pairs::default(), Pairs::default());
        for (n, by_lower) in dialed_by_lower.iter().enumerate() {
            let mut closed = at_lower.established(lower, higher, id(n), *by_lower);
            closed.extend(at_higher.established(higher, lower, id(n), !*by_lower));
            for c in closed {
                at_lower.closed(higher, c);
                at_higher.closed(lower, c);
            }
            assert_eq!(at_lower.counts().get(&higher), Some(&1), "lower, after {n}");
            assert_eq!(
                at_higher.counts().get(&lower),
                Some(&1),
                "higher, after {n}"
            );
        }
    }
}

//! The actor's side of announcements: telling members what is new here
//! (one announcement per member on its way at a time; what is committed
//! meanwhile goes with the next), and taking what members tell (a push is
//! stored in the member's pull slot, so it never runs beside a pull of the
//! same member; what a push cannot do is left to a pull).

use elo_net::PeerId;
use elo_net::protocol::{Push, RequestBody, ResponseBody};

use super::actor::{Actor, Finished};
use super::command::Command;
use super::error::PullError;
use super::log::Source;
use super::push::{self, Taken};
use crate::clock::now_ms;

/// Pushes of one member that may wait while its pull or push runs; past
/// them, a pull after it takes everything instead.
const PUSHES_WAITING: usize = 16;

impl Actor {
    /// Tells the connected members this node has something new.
    pub(super) fn announce(&mut self) {
        for peer in self.peers.connected() {
            self.announce_to(peer);
        }
    }

    /// Tells one member what is new since it was last told, unless an
    /// announcement is already on its way: then the next one, sent when it
    /// ends, carries what was committed meanwhile.
    pub(super) fn announce_to(&mut self, peer: PeerId) {
        let state = self.peers.state(peer);
        if !state.status.connected {
            // It pulls when it connects again.
            state.announce_owed = false;
            return;
        }
        if state.announcing {
            state.announce_owed = true;
            return;
        }
        state.announcing = true;
        state.announce_owed = false;
        let (told, connection) = (state.told, state.connection);
        let (net, context, roster) = (self.net.clone(), self.context.clone(), self.roster.clone());
        self.work.spawn(async move {
            let (delivered, told) =
                match push::announcement(&context.serving, &roster, peer, told).await {
                    Ok(None) => (true, told),
                    Ok(Some((body, now))) => match net.request(peer, body).await {
                        // Only a member that took it is in step with it.
                        Ok(ResponseBody::Ack) => (true, Some(now)),
                        Ok(_) => (true, None),
                        Err(_) => (false, None),
                    },
                    Err(_) => (false, None),
                };
            Finished::Announced {
                peer,
                connection,
                delivered,
                told,
            }
        });
    }

    /// Sends the owed rescans to the members connected now; the others hear
    /// it when they connect.
    pub(super) async fn tell_rescans(&mut self) {
        let now: Vec<PeerId> = self
            .rescan_owed
            .iter()
            .filter(|p| self.peers.is_connected(p))
            .copied()
            .collect();
        if now.is_empty() {
            return;
        }
        self.rescan_owed.retain(|p| !now.contains(p));
        let Ok(latest_seq) = self.store.last_seq().await else {
            return;
        };
        for peer in now {
            let net = self.net.clone();
            let commands = self.context.commands.clone();
            tokio::spawn(async move {
                let body = RequestBody::Announce {
                    latest_seq,
                    rescan: true,
                    push: None,
                };
                if net.request(peer, body).await.is_err() {
                    let _ = commands.send(Command::RescanOwed(peer));
                }
            });
        }
    }

    /// A member has something new (carried in `push`, or to be pulled), or
    /// asks for a walk from the start.
    pub(super) fn on_announced(
        &mut self,
        peer: PeerId,
        latest_seq: u64,
        rescan: bool,
        push: Option<Box<Push>>,
    ) {
        let state = self.peers.state(peer);
        // The member answers: a pull that failed before (refused while
        // this node was outside its roster) may work now.
        state.backing_off = false;
        state.rescan |= rescan;
        state.status.their_latest_seq = state.status.their_latest_seq.max(latest_seq);
        state.status.last_seen_ms = Some(now_ms());
        match push {
            Some(push) if !state.rescan && state.pushes.len() < PUSHES_WAITING => {
                state.pushes.push((latest_seq, push));
                self.take_pushes(peer);
            }
            _ => {
                state.pushes.clear();
                self.wake(peer);
            }
        }
    }

    /// Stores the member's waiting pushes, in order, in its pull slot (once
    /// the pull or push running ends, if one does).
    pub(super) fn take_pushes(&mut self, peer: PeerId) {
        let state = self.peers.state(peer);
        if !state.status.connected || state.status.pulling || state.pushes.is_empty() {
            return;
        }
        state.status.pulling = true;
        let connection = state.connection;
        let pushes = std::mem::take(&mut state.pushes);
        let member = self
            .roster
            .company_of(&peer)
            .unwrap_or_else(|| peer.to_string());
        let from = Source::new(&self.net, &self.store, peer, &self.roster.receive_policy());
        self.work.spawn(async move {
            let mut all = Taken::default();
            for (latest_seq, push) in pushes {
                let taken = match push::take(&from, &member, latest_seq, &push).await {
                    Ok(t) => t,
                    Err(e) => {
                        return Finished::Pushed {
                            peer,
                            connection,
                            result: Err(e),
                        };
                    }
                };
                all.stored += taken.stored;
                all.pull |= taken.pull;
                if taken.checkpoint.is_none() && taken.pull {
                    // A gap: the pushes after it follow on from nothing here.
                    break;
                }
                all.checkpoint = taken.checkpoint.or(all.checkpoint);
            }
            Finished::Pushed {
                peer,
                connection,
                result: Ok(all),
            }
        });
    }

    /// Pushes were stored (or not): a pull if they left something for one,
    /// else the pushes that arrived meanwhile.
    pub(super) fn on_pushed(&mut self, peer: PeerId, result: Result<Taken, PullError>) {
        let state = self.peers.state(peer);
        state.status.pulling = false;
        match result {
            Ok(taken) => {
                if let Some(seq) = taken.checkpoint {
                    state.status.checkpoint = seq;
                }
                state.status.docs_received += taken.stored;
                if taken.pull || std::mem::take(&mut state.again) {
                    self.wake(peer);
                } else {
                    self.take_pushes(peer);
                }
            }
            Err(e) => {
                tracing::debug!(%peer, "could not store what a member pushed: {e}; walking its log instead");
                state.pushes.clear();
                self.wake(peer);
            }
        }
    }
}

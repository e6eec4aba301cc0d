//! The one task that owns replication's state: every member's node (status,
//! pulls, rescans, dialing), the roster as replication sees it, and the
//! primary's outbox. It waits on one `select!` over the network's events,
//! the store's new commits, commands (from the handle, the request tasks
//! and the pulls), the primary's messages, the pulls it runs and a dial
//! tick. Nothing else holds per-member state, so nothing needs a lock.
//!
//! Pulls run in a `JoinSet`: one per member at a time; a wake during a pull
//! makes another when it ends (coalesced), and a failed one is retried
//! after a pause that doubles with each failure.
//!
//! Nothing queues without bound behind a member that does not answer: one
//! announcement per member is on its way at a time (commits meanwhile go
//! with the next), at most [`PRIMARY_IN_FLIGHT`] of the primary's messages
//! (it sends them again on its tick), and the network refuses more than
//! `MAX_REQUESTS_PER_PEER` waiting requests. A member that stops answering
//! is disconnected by the network; when it connects again both sides pull.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use elo_net::protocol::RequestBody;
use elo_net::{NetClient, NetEvent, PeerId};
use serde_bytes::ByteBuf;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::command::Command;
use super::dispatch::{self, Context};
use super::error::PullError;
use super::log::Source;
use super::peers::Peers;
use super::pull::pull_records;
use super::push::{Taken, Told};
use super::stock::pull_stock;
use crate::clock::now_ms;
use crate::data_dir::Company;
use crate::group::{self, Roster};
use crate::primary::PrimaryHandle;
use crate::primary::machine::Outgoing;
use crate::store::tables::{META_LISTEN, META_REMEMBERED_ADDR};
use crate::store::{ChangeEntry, StoreError, StoreHandle};

/// Pause before a failed pull is tried again; doubled after each failure
/// in a row, up to [`MAX_RETRY_AFTER`].
const RETRY_AFTER: Duration = Duration::from_secs(1);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Pause before an announcement that failed is tried again.
const ANNOUNCE_RETRY_AFTER: Duration = Duration::from_secs(2);
/// The primary's messages to one member that may wait for its answer.
const PRIMARY_IN_FLIGHT: usize = 16;
/// Longest wait before changes merged from a member are announced to the
/// others (see `Actor::on_local_commit`).
const RELAY_AFTER: Duration = Duration::from_secs(1);
/// How often members not connected are considered for a dial.
const DIAL_EVERY: Duration = Duration::from_millis(500);

/// Why a task of the actor's ended.
/// `connection`: the member's connection the task was started for (see
/// `PeerState::connection`).
pub(super) enum Finished {
    Pulled {
        peer: PeerId,
        connection: u64,
        result: Result<u64, PullError>,
    },
    RetryDue(PeerId, u64),
    /// An announcement ended: the member took it, or not; how far it is
    /// told now over its connection (`None`: not in step).
    Announced {
        peer: PeerId,
        connection: u64,
        delivered: bool,
        told: Option<Told>,
    },
    /// Pushes of the member were stored, or not.
    Pushed {
        peer: PeerId,
        connection: u64,
        result: Result<Taken, PullError>,
    },
    AnnounceDue(PeerId, u64),
    /// One of the primary's messages to the member ended.
    PrimarySent(PeerId),
}

/// The channels the actor listens on.
pub(super) struct Inputs {
    pub events: mpsc::Receiver<NetEvent>,
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub primary: mpsc::UnboundedReceiver<Outgoing>,
    pub stopping: watch::Receiver<bool>,
}

pub(super) struct Actor {
    pub net: NetClient,
    pub store: StoreHandle,
    pub me: Company,
    pub roster: Arc<Roster>,
    pub roster_tx: watch::Sender<Arc<Roster>>,
    pub peers: Peers,
    /// Members owed a rescan: what they may have from this node widened
    /// since they last walked its log. Told when they are connected.
    pub rescan_owed: HashSet<PeerId>,
    pub primary: PrimaryHandle,
    pub context: Arc<Context>,
    pub work: JoinSet<Finished>,
    /// When the changes merged from members are due to be announced.
    pub relay_at: Option<Instant>,
}

impl Actor {
    /// Runs until the node stops.
    pub async fn run(mut self, mut inputs: Inputs) {
        let mut changes = self.store.subscribe();
        let mut stock = self.store.subscribe_stock();
        let mut dial_tick = tokio::time::interval(DIAL_EVERY);
        let mut stopping = inputs.stopping.clone();
        let stopped = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                () = &mut stopped => break,
                e = inputs.events.recv() => match e {
                    Some(e) => self.on_net_event(e).await,
                    None => break,
                },
                c = inputs.commands.recv() => match c {
                    Some(c) => self.on_command(c).await,
                    None => break,
                },
                c = changes.recv() => {
                    let (roster_changed, own) = match c {
                        Ok(e) => (is_roster(&e), e.company == self.me.cnpj),
                        Err(RecvError::Lagged(_)) => (true, true),
                        Err(RecvError::Closed) => break,
                    };
                    self.on_local_commit(roster_changed, own, &mut changes).await;
                }
                () = relay_due(self.relay_at) => {
                    self.relay_at = None;
                    self.announce();
                }
                // New stock figures: the same announce makes members pull.
                s = stock.changed() => match s {
                    Ok(()) => self.announce(),
                    Err(_) => break,
                },
                Some(m) = inputs.primary.recv() => self.send_primary(m),
                Some(done) = self.work.join_next() => match done {
                    Ok(f) => self.on_finished(f),
                    Err(e) => tracing::error!("a replication task failed: {e}"),
                },
                _ = dial_tick.tick() => self.dial(),
            }
        }
        self.work.shutdown().await;
        tracing::debug!("replication stopped");
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Status(reply) => {
                let _ = reply.send(self.peers.status(&self.roster));
            }
            Command::Resync { who, reply } => {
                let _ = reply.send(self.resync(who).await);
            }
            Command::ConnectedMembers(reply) => {
                let members = self
                    .peers
                    .connected()
                    .into_iter()
                    .filter(|p| self.roster.member(p).is_some())
                    .collect();
                let _ = reply.send(members);
            }
            Command::RefreshRoster(reply) => {
                self.refresh_roster().await;
                let _ = reply.send(());
            }
            Command::Wake(peer) => self.wake(peer),
            Command::Heard { peer, latest_seq } => {
                self.peers.state(peer).status.their_latest_seq = latest_seq;
            }
            Command::Announced {
                peer,
                latest_seq,
                rescan,
                push,
            } => self.on_announced(peer, latest_seq, rescan, push),
            Command::Progress { peer, progress } => {
                let status = &mut self.peers.state(peer).status;
                status.their_latest_seq = progress.their_latest;
                status.checkpoint = progress.checkpoint;
                status.docs_received += progress.stored;
            }
            Command::RescanOwed(peer) => {
                self.rescan_owed.insert(peer);
            }
        }
    }

    async fn on_net_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::Request { peer, body, reply } => {
                tokio::spawn(dispatch::answer(self.context.clone(), peer, body, reply));
            }
            NetEvent::Connected {
                peer,
                addr,
                outbound,
            } => self.on_connected(peer, addr, outbound).await,
            NetEvent::Disconnected { peer, reason } => {
                if let Some(reason) = &reason {
                    tracing::warn!(%peer, "member disconnected: {reason}; it is dialed again by itself (if it lasts, check that its node runs and the link or VPN to it is up)");
                }
                self.peers.disconnected(&peer);
                if let Some(company) = self.roster.company_of(&peer) {
                    self.primary.disconnected(company);
                }
                let status = &mut self.peers.state(peer).status;
                status.last_seen_ms = Some(now_ms());
                if reason.is_some() {
                    status.last_error = reason;
                }
            }
            NetEvent::Discovered { peer, addr } => {
                if self.roster.member(&peer).is_some() && !self.peers.is_connected(&peer) {
                    tracing::debug!(%peer, %addr, "found a member on the LAN");
                    self.dial_one(Some(peer), addr);
                }
            }
            NetEvent::DialFailed {
                peer: Some(peer),
                reason,
            } => {
                self.peers.state(peer).status.last_error = Some(format!("dial: {reason}"));
            }
            NetEvent::DialFailed { peer: None, reason } => tracing::debug!("dial failed: {reason}"),
            NetEvent::Listening { .. } => self.remember_listen_addrs().await,
        }
    }

    async fn on_connected(&mut self, peer: PeerId, addr: elo_net::Multiaddr, outbound: bool) {
        let Some(company) = self.roster.company_of(&peer) else {
            self.peers.connected_outside(peer, addr, outbound);
            return;
        };
        // Across a VPN that carries no multicast, the address this node
        // last reached a member at is the one that works: keep it.
        if outbound && self.peers.remember(peer, &addr) {
            let key = format!("{META_REMEMBERED_ADDR}{peer}");
            let _ = self
                .store
                .set_meta(&key, addr.to_string().into_bytes())
                .await;
        }
        tracing::info!(%peer, %addr, outbound, "member connected");
        let state = self.peers.state(peer);
        // A new connection: what failed before may work now, and the
        // member walks this node's logs before it is pushed to. Nothing
        // waits on the last connection: an announcement that failed on it
        // (say, to the `elo join` process that left just before this node
        // started) would otherwise hold every announcement until its retry.
        state.connection += 1;
        state.backing_off = false;
        state.told = None;
        state.retry_wait = Duration::ZERO;
        state.announcing = false;
        let owed = std::mem::take(&mut state.announce_owed);
        let status = &mut state.status;
        status.connected = true;
        status.address = Some(addr.to_string());
        status.last_seen_ms = Some(now_ms());
        status.last_error = None;
        self.peers.reached(&peer);
        self.wake(peer);
        if owed {
            self.announce_to(peer);
        }
        self.tell_rescans().await;
        self.primary.connected(company);
    }

    /// Asks for a pull from `peer`: started now if none runs, else once the
    /// running one ends.
    pub(super) fn wake(&mut self, peer: PeerId) {
        let state = self.peers.state(peer);
        if !state.status.connected {
            return;
        }
        if state.status.pulling || state.backing_off {
            state.again = true;
            return;
        }
        state.status.pulling = true;
        let connection = state.connection;
        let rescan = std::mem::take(&mut state.rescan);
        let member = self
            .roster
            .company_of(&peer)
            .unwrap_or_else(|| peer.to_string());
        let policy = self.roster.receive_policy();
        let (net, store) = (self.net.clone(), self.store.clone());
        let commands = self.context.commands.clone();
        self.work.spawn(async move {
            if rescan && let Err(e) = store.reset_checkpoints(Some(peer.to_string())).await {
                tracing::warn!(%peer, "could not restart the walk of the member's log: {e}; replication goes on from the checkpoint (run `elo resync` again once `elo status` shows no store problem)");
            }
            let report = |progress| {
                let _ = commands.send(Command::Progress { peer, progress });
            };
            let from = Source::new(&net, &store, peer, &policy);
            let began = std::time::Instant::now();
            let result = match pull_records(&from, &member, report).await {
                Ok(docs) => pull_stock(&from, |_| {}).await.map(|_| docs),
                Err(e) => Err(e),
            };
            crate::metrics::pull_finished(began.elapsed(), result.is_ok());
            Finished::Pulled {
                peer,
                connection,
                result,
            }
        });
    }

    fn on_finished(&mut self, finished: Finished) {
        match finished {
            // The member connected again meanwhile: its state is new. A walk
            // begun over the closed connection is done again over the open
            // one; the old connection's waits and answers are dropped.
            Finished::Pulled {
                peer, connection, ..
            }
            | Finished::Pushed {
                peer, connection, ..
            } if !self.is_current(peer, connection) => self.walk_again(peer),
            Finished::Announced {
                peer, connection, ..
            }
            | Finished::RetryDue(peer, connection)
            | Finished::AnnounceDue(peer, connection)
                if !self.is_current(peer, connection) => {}
            Finished::Pulled { peer, result, .. } => self.on_pulled(peer, result),
            Finished::RetryDue(peer, _) => {
                self.peers.state(peer).backing_off = false;
                self.wake(peer);
            }
            Finished::Pushed { peer, result, .. } => self.on_pushed(peer, result),
            Finished::Announced {
                peer,
                connection,
                delivered,
                told,
            } => {
                let state = self.peers.state(peer);
                state.told = told;
                if delivered {
                    state.announcing = false;
                    if state.announce_owed {
                        self.announce_to(peer);
                    }
                } else {
                    // Still `announcing`: commits meanwhile go with the retry.
                    state.announce_owed = true;
                    self.work.spawn(async move {
                        tokio::time::sleep(ANNOUNCE_RETRY_AFTER).await;
                        Finished::AnnounceDue(peer, connection)
                    });
                }
            }
            Finished::AnnounceDue(peer, _) => {
                self.peers.state(peer).announcing = false;
                self.announce_to(peer);
            }
            Finished::PrimarySent(peer) => {
                let state = self.peers.state(peer);
                state.primary_in_flight = state.primary_in_flight.saturating_sub(1);
            }
        }
    }

    /// Whether `connection` is the member's connection now.
    fn is_current(&mut self, peer: PeerId, connection: u64) -> bool {
        self.peers.state(peer).connection == connection
    }

    /// A pull or push begun over a connection since closed ended: whatever
    /// it did, the member's log is walked again over the one open now (its
    /// failure is the old connection's, not a reason to wait).
    fn walk_again(&mut self, peer: PeerId) {
        let state = self.peers.state(peer);
        state.status.pulling = false;
        state.again = false;
        self.wake(peer);
    }

    /// A pull ended: another if woken meanwhile; after a failure, a pause
    /// that doubles with each failure in a row.
    fn on_pulled(&mut self, peer: PeerId, result: Result<u64, PullError>) {
        let state = self.peers.state(peer);
        state.status.pulling = false;
        match result {
            Ok(_) => {
                state.status.last_error = None;
                state.retry_wait = Duration::ZERO;
                if std::mem::take(&mut state.again) {
                    self.wake(peer);
                } else {
                    self.take_pushes(peer);
                }
            }
            Err(e) => {
                let wait = (state.retry_wait * 2).clamp(RETRY_AFTER, MAX_RETRY_AFTER);
                state.retry_wait = wait;
                tracing::warn!(%peer, "replication stalled: {e}; trying again in {wait:?} by itself (if it lasts, `elo status` shows the member's last error)");
                // A member cut off keeps the reason it was cut off: the
                // failed pull only follows from it.
                if state.status.connected || state.status.last_error.is_none() {
                    state.status.last_error = Some(e.to_string());
                }
                state.again = false;
                state.backing_off = true;
                let connection = state.connection;
                self.work.spawn(async move {
                    tokio::time::sleep(wait).await;
                    Finished::RetryDue(peer, connection)
                });
            }
        }
    }

    async fn resync(&mut self, who: Option<String>) -> Result<usize, StoreError> {
        let targets: Vec<PeerId> = self
            .roster
            .members
            .iter()
            .filter(|(p, m)| {
                who.as_deref()
                    .is_none_or(|w| p.to_string() == w || m.cnpj == w)
            })
            .map(|(p, _)| *p)
            .collect();
        for p in &targets {
            self.store.reset_checkpoints(Some(p.to_string())).await?;
            self.wake(*p);
        }
        Ok(targets.len())
    }

    /// A local commit: members hear of it (coalesced: whatever else is
    /// queued goes with it), and a change of the roster is applied first.
    /// What this company wrote is announced at once; what it only merged
    /// from a member, within [`RELAY_AFTER`] (with the next announcement,
    /// if sooner): its author told the members it reaches itself, and
    /// telling all of them again at once would make every write cost a
    /// walk of every pair of members.
    async fn on_local_commit(
        &mut self,
        mut roster_changed: bool,
        mut own: bool,
        changes: &mut tokio::sync::broadcast::Receiver<ChangeEntry>,
    ) {
        loop {
            match changes.try_recv() {
                Ok(e) => {
                    roster_changed |= is_roster(&e);
                    own |= e.company == self.me.cnpj;
                }
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                    roster_changed = true
                }
                Err(_) => break,
            }
        }
        if roster_changed {
            self.refresh_roster().await;
        }
        if own || roster_changed {
            self.relay_at = None;
            self.announce();
        } else if self.relay_at.is_none() {
            self.relay_at = Some(Instant::now() + RELAY_AFTER);
        }
    }

    /// Reloads the roster from the company records and tells the network,
    /// the primary and the request tasks.
    async fn refresh_roster(&mut self) {
        let members = match group::roster(&self.store).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(
                    "could not read the roster: {e}; the members known so far stay as they are (if `elo status` shows a store problem, see to the disk and restart the node)"
                );
                return;
            }
        };
        let roster = Arc::new(Roster::new(self.roster.local, &members));
        let owed = roster.widened_since(&self.roster);
        self.roster = roster.clone();
        self.roster_tx.send_replace(roster);
        self.primary
            .set_roster(members.iter().map(|m| m.cnpj.clone()).collect())
            .await;
        let _ = self.net.set_roster(self.roster.others()).await;
        if !owed.is_empty() {
            self.rescan_owed.extend(owed);
            self.tell_rescans().await;
        }
        // Nodes that connected before this roster named them are members
        // connected now: without this they would stay "not connected" for
        // as long as that connection lasts, never pulled from nor told of
        // commits (a dial to a node connected already does nothing).
        for (peer, addr, outbound) in self.peers.now_members(&self.roster) {
            tracing::info!(%peer, "a node connected before the roster named it is a member");
            self.on_connected(peer, addr, outbound).await;
            // It may have been refused here meanwhile and be waiting to
            // try again: it pulls now.
            self.announce_to(peer);
        }
    }

    /// Sends one of the primary's messages to the member it is for. Only a
    /// connected member, and only while fewer than [`PRIMARY_IN_FLIGHT`]
    /// wait for its answer: the protocol retransmits on its tick, and
    /// messages to a member that does not answer would only queue up.
    fn send_primary(&mut self, message: Outgoing) {
        let Some(peer) = self.roster.peer_of(&message.to) else {
            return;
        };
        let state = self.peers.state(peer);
        if !state.status.connected {
            return;
        }
        if state.primary_in_flight >= PRIMARY_IN_FLIGHT {
            tracing::debug!(%peer, "a member has not answered the primary's last messages: this one waits for the next tick");
            return;
        }
        let Ok(bytes) = serde_json::to_vec(&message.message) else {
            return;
        };
        state.primary_in_flight += 1;
        let net = self.net.clone();
        self.work.spawn(async move {
            let body = RequestBody::Primary {
                message: ByteBuf::from(bytes),
            };
            if let Err(e) = net.request(peer, body).await {
                tracing::debug!(%peer, "a member did not take a primary message: {e}");
            }
            Finished::PrimarySent(peer)
        });
    }

    /// Dials the members that are not connected, where due.
    fn dial(&mut self) {
        for (peer, addr) in self.peers.due_dials(&self.roster) {
            self.dial_one(peer, addr);
        }
    }

    /// Starts a dial without waiting for it: one to a dead link takes the
    /// transport's whole timeout, and the actor must go on answering
    /// meanwhile. A failure comes back as a network event.
    fn dial_one(&self, peer: Option<PeerId>, addr: elo_net::Multiaddr) {
        let net = self.net.clone();
        tokio::spawn(async move {
            // Dialing an address of a peer already connected is a no-op for libp2p.
            let _ = net.dial(addr, peer).await;
        });
    }

    /// Keeps this node's own addresses in its roster record (so members can
    /// dial it) and in metadata (so `elo invite` can name them).
    async fn remember_listen_addrs(&mut self) {
        let local = self.net.local_peer_id();
        let addrs: Vec<String> = self
            .net
            .listen_addrs()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|a| format!("{a}/p2p/{local}"))
            .collect();
        let _ = self
            .store
            .set_meta(META_LISTEN, serde_json::to_vec(&addrs).unwrap_or_default())
            .await;
        let body = serde_json::json!({ "cnpj": self.me.cnpj, "name": self.me.name,
            "peer_id": local.to_string(), "listen_addrs": addrs.join(" ") });
        if let Err(e) =
            crate::records::put(&self.store, elo_crdt::Kind::Company, None, &body, false).await
        {
            tracing::warn!(
                "could not record this node's addresses: {e}; members still reach it by mDNS or --peer (if `elo status` shows a store problem, see to the disk)"
            );
        }
    }
}

/// Resolves when merged changes are due to be relayed; never if none wait.
async fn relay_due(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn is_roster(e: &ChangeEntry) -> bool {
    e.id.starts_with("company/")
}

//! The swarm and the one task that owns it.
//!
//! [`start`] builds a libp2p swarm (TCP, a private-network handshake keyed
//! by the group, noise, yamux; no QUIC, which would bypass the private
//! network) and spawns [`EventLoop::run`]. The rest of the node holds a
//! cloneable [`NetClient`] that sends commands with `oneshot` replies, and
//! reads [`NetEvent`]s. Dropping every client stops the loop.
//!
//! Gating: a peer outside the roster may only send `Join`; anything else
//! from it is answered `Refused` and its connection closed.
//!
//! Bounds: a peer that stops answering is cut off (see [`crate::liveness`]),
//! and at most [`MAX_REQUESTS_PER_PEER`] requests wait for one peer's
//! answers; more fail at once with [`NetError::Busy`] instead of queueing
//! behind it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::pnet::PreSharedKey;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, mdns};
use tokio::sync::{mpsc, oneshot};

use crate::client::Command;
pub use crate::client::{NetClient, ReplyHandle};
pub use crate::error::NetError;
use crate::liveness::Liveness;
use crate::pairs::Pairs;
use crate::protocol::{Request, RequestBody, Response, ResponseBody, VERSION};
use crate::strangers::{Handshakes, OtherGroups};
pub use crate::swarm::network_key;
use crate::swarm::{Behaviour, BehaviourEvent, build_swarm};
use crate::traffic::Traffic;

/// How long a refused peer keeps its connection, so the refusal reaches it.
const REFUSAL_GRACE: Duration = Duration::from_millis(500);
/// How long a peer outside the roster may stay connected to present a join.
const JOIN_WINDOW: Duration = Duration::from_secs(10);
/// Requests that may wait at once for one peer's answers. A pull keeps
/// about eight in flight, announcements and the primary's messages a few
/// more; a peer with this many unanswered is not answering, and a request
/// more would only open another stream behind the others.
pub const MAX_REQUESTS_PER_PEER: usize = 64;

/// How to start the network.
pub struct NetConfig {
    pub keypair: Keypair,
    /// The group secret; the private-network key is derived from it.
    pub group_secret: Vec<u8>,
    pub listen: Vec<Multiaddr>,
    pub mdns: bool,
    /// Peers allowed to speak more than `Join`.
    pub roster: HashSet<PeerId>,
}

/// Something the network tells the node.
#[derive(Debug)]
pub enum NetEvent {
    /// A request the node must answer with [`NetClient::respond`].
    Request {
        peer: PeerId,
        body: RequestBody,
        reply: ReplyHandle,
    },
    /// A connection is up; `outbound` when this node dialed `addr`.
    Connected {
        peer: PeerId,
        addr: Multiaddr,
        outbound: bool,
    },
    /// The peer's last connection closed; `reason` when this node closed
    /// it because the peer stopped answering.
    Disconnected {
        peer: PeerId,
        reason: Option<String>,
    },
    /// A peer this node could reach on the LAN (mDNS).
    Discovered { peer: PeerId, addr: Multiaddr },
    /// A connection attempt failed.
    DialFailed {
        peer: Option<PeerId>,
        reason: String,
    },
    /// A listen address became active.
    Listening { addr: Multiaddr },
}

/// Builds the swarm, listens, and spawns the event loop. Returns the client
/// and the event stream.
pub fn start(config: NetConfig) -> Result<(NetClient, mpsc::Receiver<NetEvent>), NetError> {
    let psk = PreSharedKey::new(network_key(&config.group_secret));
    let handshakes = Handshakes::default();
    let traffic = Traffic::default();
    let mut swarm = build_swarm(
        &config.keypair,
        psk,
        config.mdns,
        handshakes.clone(),
        traffic.clone(),
    )?;
    for addr in &config.listen {
        crate::swarm::port_is_free(addr)?;
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Listen {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (ev_tx, ev_rx) = mpsc::channel(4096);
    let local = *swarm.local_peer_id();
    let event_loop = EventLoop {
        swarm,
        keypair: config.keypair,
        mdns: config.mdns,
        commands: cmd_rx,
        events: ev_tx,
        roster: config.roster,
        pending: HashMap::new(),
        dialing: HashMap::new(),
        outsiders: HashMap::new(),
        closing: HashMap::new(),
        liveness: Liveness::default(),
        pairs: Pairs::default(),
        other_groups: OtherGroups::new(handshakes.clone()),
        handshakes,
        traffic: traffic.clone(),
    };
    tokio::spawn(event_loop.run());
    Ok((NetClient::new(cmd_tx, local, traffic), ev_rx))
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    /// Kept to build the swarm again with a new key.
    keypair: Keypair,
    mdns: bool,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    roster: HashSet<PeerId>,
    pending: HashMap<OutboundRequestId, (PeerId, oneshot::Sender<Result<ResponseBody, NetError>>)>,
    dialing: HashMap<libp2p::swarm::ConnectionId, oneshot::Sender<Result<(), NetError>>>,
    /// Peers outside the roster that connected, and when.
    outsiders: HashMap<PeerId, std::time::Instant>,
    /// Refused peers, and when: disconnected once their refusal had time to arrive.
    closing: HashMap<PeerId, std::time::Instant>,
    /// Whether each connection's peer still answers.
    liveness: Liveness,
    /// Each peer's open connections: one kept per pair.
    pairs: Pairs,
    /// Nodes met under another network key.
    other_groups: OtherGroups,
    /// Given to every swarm built, for [`OtherGroups`] to read.
    handshakes: Handshakes,
    /// Bytes per peer, kept across a new key's swarm.
    traffic: Traffic,
}

impl EventLoop {
    /// Replaces the swarm with one under the new key, on the same
    /// addresses. Connections of the old one close with it; the node hears
    /// of each as a disconnection.
    fn rekey(&mut self, group_secret: &[u8]) -> Result<(), NetError> {
        let psk = PreSharedKey::new(network_key(group_secret));
        let fresh = build_swarm(
            &self.keypair,
            psk,
            self.mdns,
            self.handshakes.clone(),
            self.traffic.clone(),
        )?;
        let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
        let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        // The old swarm goes first, so its ports are free to listen on again.
        drop(std::mem::replace(&mut self.swarm, fresh));
        for (_, (peer, reply)) in self.pending.drain() {
            let _ = reply.send(Err(NetError::Request {
                peer,
                reason: "the network key changed".into(),
            }));
        }
        self.dialing.clear();
        self.outsiders.clear();
        self.closing.clear();
        self.liveness.clear();
        self.pairs.clear();
        for addr in addrs {
            if let Err(e) = self.swarm.listen_on(addr.clone()) {
                tracing::warn!(%addr, "could not listen again after the key change: {e}; members cannot dial this node until it is restarted (restart it; check that the --listen port is free)");
            }
        }
        for peer in connected {
            let _ = self
                .events
                .try_send(NetEvent::Disconnected { peer, reason: None });
        }
        tracing::info!("the private-network key changed");
        Ok(())
    }

    async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event).await,
                _ = tick.tick() => {
                    self.close_idle_outsiders();
                    self.close_silent();
                }
            }
        }
        tracing::debug!("network stopped");
    }

    /// Closes connections of peers outside the roster that did not become
    /// members within the join window.
    fn close_idle_outsiders(&mut self) {
        let now = std::time::Instant::now();
        let roster = &self.roster;
        let expired: Vec<PeerId> = self
            .outsiders
            .iter()
            .filter(|(p, since)| !roster.contains(p) && now.duration_since(**since) > JOIN_WINDOW)
            .map(|(p, _)| *p)
            .collect();
        self.outsiders
            .retain(|p, _| !roster.contains(p) && !expired.contains(p));
        for p in expired {
            tracing::warn!(peer = %p, "closed the connection of a peer outside the group roster that did not join (nothing to do; if it is a company of the group, give it a new invite)");
            let _ = self.swarm.disconnect_peer_id(p);
        }
        let refused: Vec<PeerId> = self
            .closing
            .iter()
            .filter(|(_, at)| now.duration_since(**at) > REFUSAL_GRACE)
            .map(|(p, _)| *p)
            .collect();
        for p in refused {
            self.closing.remove(&p);
            let _ = self.swarm.disconnect_peer_id(p);
        }
    }

    /// Closes the connections whose peer stopped answering.
    fn close_silent(&mut self) {
        for silent in self.liveness.silent(std::time::Instant::now()) {
            tracing::warn!(peer = %silent.peer, "a peer stopped answering: closing its connection; it is dialed again by itself (if it lasts, check that its node runs and the link to it is up)");
            self.swarm.close_connection(silent.connection);
        }
    }

    /// Sends a request, unless too many already wait for that peer.
    fn send_request(
        &mut self,
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<ResponseBody, NetError>>,
    ) {
        let waiting = self.pending.values().filter(|(p, _)| *p == peer).count();
        if waiting >= MAX_REQUESTS_PER_PEER {
            tracing::debug!(%peer, waiting, "not sending a request: too many wait for this peer");
            let _ = reply.send(Err(NetError::Busy { peer, waiting }));
            return;
        }
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        self.pending.insert(id, (peer, reply));
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Request {
                peer,
                version,
                body,
                reply,
            } => self.send_request(peer, Request { version, body }, reply),
            Command::Respond { reply, body } => {
                if self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(reply.0, Response::new(body))
                    .is_err()
                {
                    tracing::debug!("a response could not be sent: the peer's stream closed");
                }
            }
            Command::Dial { addr, peer, reply } => {
                let opts = match peer {
                    Some(p) => libp2p::swarm::dial_opts::DialOpts::peer_id(p)
                        .addresses(vec![addr.clone()])
                        .build(),
                    None => libp2p::swarm::dial_opts::DialOpts::unknown_peer_id()
                        .address(addr.clone())
                        .build(),
                };
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.dialing.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Dial {
                            addr: addr.to_string(),
                            reason: e.to_string(),
                        }));
                    }
                }
            }
            Command::Rekey {
                group_secret,
                reply,
            } => {
                let _ = reply.send(self.rekey(&group_secret));
            }
            Command::SetRoster(roster) => {
                // Only members that left the roster are cut off. A peer
                // that was never in it may be in the middle of joining; the
                // outsider timer closes it if it does not. One refused a
                // moment ago for being outside and named now keeps its
                // connection.
                self.closing.retain(|p, _| !roster.contains(p));
                let removed: Vec<PeerId> = self
                    .swarm
                    .connected_peers()
                    .filter(|p| self.roster.contains(p) && !roster.contains(p))
                    .copied()
                    .collect();
                self.roster = roster;
                for p in removed {
                    let _ = self.swarm.disconnect_peer_id(p);
                }
            }
            Command::Disconnect(peer) => {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Connected(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::Connections(reply) => {
                let _ = reply.send(self.pairs.counts());
            }
            Command::OtherGroups(reply) => {
                let _ = reply.send(self.other_groups.list());
            }
        }
    }

    async fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                emit(&self.events, NetEvent::Listening { addr: address }).await
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                connection_id,
                ..
            } => self.on_established(peer_id, connection_id, endpoint).await,
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                let last = num_established == 0;
                self.pairs.closed(peer_id, connection_id);
                let ours = self.liveness.closed(connection_id, peer_id, last);
                if last {
                    let reason = ours.or_else(|| cause.map(|c| format!("connection lost: {c}")));
                    tracing::info!(peer = %peer_id, reason = reason.as_deref().unwrap_or("closed"), "disconnected");
                    let event = NetEvent::Disconnected {
                        peer: peer_id,
                        reason,
                    };
                    emit(&self.events, event).await;
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id,
                error,
                connection_id,
            } => {
                let reason = error.to_string();
                if let libp2p::swarm::DialError::Transport(tried) = &error {
                    for (addr, _) in tried {
                        self.other_groups.failed(addr, true);
                    }
                }
                if let Some(reply) = self.dialing.remove(&connection_id) {
                    let _ = reply.send(Err(NetError::Dial {
                        addr: peer_id.map_or_else(|| "?".into(), |p| p.to_string()),
                        reason: reason.clone(),
                    }));
                }
                emit(
                    &self.events,
                    NetEvent::DialFailed {
                        peer: peer_id,
                        reason,
                    },
                )
                .await;
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                if !self.other_groups.failed(&send_back_addr, false) {
                    tracing::warn!(from = %send_back_addr, "refused an incoming connection: {error} (if it is a member, check that both nodes run the same elo version and group)");
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    emit(&self.events, NetEvent::Discovered { peer, addr }).await;
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event).await,
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => {
                if let Some(silent) = self.liveness.on_ping(&event, std::time::Instant::now()) {
                    tracing::warn!(peer = %silent.peer, "a ping failed: closing the connection; it is dialed again by itself (if it lasts, check the link to that member)");
                    self.swarm.close_connection(silent.connection);
                }
            }
            other => tracing::trace!("swarm event: {other:?}"),
        }
    }

    /// A connection is up: its dial is answered, its pings watched, an
    /// outsider's join window starts, and the node hears of it; unless it
    /// is a second connection of the pair, which is closed (see
    /// [`crate::pairs`]).
    async fn on_established(
        &mut self,
        peer: PeerId,
        connection: libp2p::swarm::ConnectionId,
        endpoint: libp2p::core::ConnectedPoint,
    ) {
        if let Some(reply) = self.dialing.remove(&connection) {
            let _ = reply.send(Ok(()));
        }
        self.liveness
            .established(connection, peer, std::time::Instant::now());
        let addr = endpoint.get_remote_address().clone();
        self.other_groups.connected(&addr, endpoint.is_dialer());
        let local = *self.swarm.local_peer_id();
        let extra = self
            .pairs
            .established(local, peer, connection, endpoint.is_dialer());
        for c in &extra {
            tracing::debug!(%peer, "closing a second connection of the pair");
            self.swarm.close_connection(*c);
        }
        if extra.contains(&connection) {
            return;
        }
        if !self.roster.contains(&peer) && endpoint.is_listener() {
            tracing::info!(%peer, %addr, "a peer outside the roster connected; it may only join");
            self.outsiders
                .entry(peer)
                .or_insert_with(std::time::Instant::now);
        }
        let outbound = endpoint.is_dialer();
        emit(
            &self.events,
            NetEvent::Connected {
                peer,
                addr,
                outbound,
            },
        )
        .await;
    }

    async fn on_sync_event(&mut self, event: request_response::Event<Request, Response>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_request(peer, request, channel).await,
            Event::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.on_response(peer, request_id, response),
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some((_, reply)) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Request {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                // A malformed or oversized message: that stream is closed, nothing else.
                tracing::warn!(%peer, "a request from this peer failed: {error}; that stream was closed, nothing else (if it repeats, update both nodes to the same elo version)");
            }
            Event::ResponseSent { .. } => {}
        }
    }

    /// A peer's request: refused when in another protocol version, or when
    /// the peer is outside the roster and does not come to join; otherwise
    /// handed to the node.
    async fn on_request(
        &mut self,
        peer: PeerId,
        request: Request,
        channel: ResponseChannel<Response>,
    ) {
        if request.version != VERSION {
            tracing::warn!(%peer, version = request.version, "refused a request of protocol version {} (this node speaks {VERSION}): update both nodes to the same elo version", request.version);
            let reason = format!(
                "protocol version {} is not spoken here (this node speaks {VERSION})",
                request.version
            );
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, Response::refused(reason));
            return;
        }
        let is_join = matches!(request.body, RequestBody::Join(_));
        if !is_join && !self.roster.contains(&peer) {
            tracing::warn!(%peer, "refused a peer that is not in the group roster (if it is a company of the group, it is taken in once the roster that names it arrives; otherwise give it an invite)");
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, Response::refused("not a member of this group"));
            // Closed a moment later, so the refusal reaches the peer first.
            self.closing.insert(peer, std::time::Instant::now());
            return;
        }
        emit(
            &self.events,
            NetEvent::Request {
                peer,
                body: request.body,
                reply: ReplyHandle(channel),
            },
        )
        .await;
    }

    /// A peer's answer to one of this node's requests, to whoever waits for
    /// it: a refusal or another protocol version is an error.
    fn on_response(&mut self, peer: PeerId, request_id: OutboundRequestId, response: Response) {
        let Some((_, reply)) = self.pending.remove(&request_id) else {
            return;
        };
        let result = if response.version != VERSION {
            tracing::warn!(%peer, version = response.version, "a peer answered in another protocol version: update both nodes to the same elo version");
            Err(NetError::Version {
                peer,
                version: response.version,
            })
        } else {
            match response.body {
                ResponseBody::Refused { reason } => Err(NetError::Refused { peer, reason }),
                body => Ok(body),
            }
        };
        let _ = reply.send(result);
    }
}

/// Hands an event to the node; borrows only the sender, so the swarm is not
/// held across the await.
async fn emit(events: &mpsc::Sender<NetEvent>, event: NetEvent) {
    let _ = events.send(event).await;
}

#[cfg(test)]
mod tests;

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
use crate::protocol::{Request, RequestBody, Response, ResponseBody, VERSION};
pub use crate::swarm::network_key;
use crate::swarm::{Behaviour, BehaviourEvent, build_swarm};

/// How long a refused peer keeps its connection, so the refusal reaches it.
const REFUSAL_GRACE: Duration = Duration::from_millis(500);
/// How long a peer outside the roster may stay connected to present a join.
const JOIN_WINDOW: Duration = Duration::from_secs(10);

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
    Disconnected {
        peer: PeerId,
    },
    /// A peer this node could reach on the LAN (mDNS).
    Discovered {
        peer: PeerId,
        addr: Multiaddr,
    },
    /// A connection attempt failed.
    DialFailed {
        peer: Option<PeerId>,
        reason: String,
    },
    /// A listen address became active.
    Listening {
        addr: Multiaddr,
    },
}

/// Builds the swarm, listens, and spawns the event loop. Returns the client
/// and the event stream.
pub fn start(config: NetConfig) -> Result<(NetClient, mpsc::Receiver<NetEvent>), NetError> {
    let psk = PreSharedKey::new(network_key(&config.group_secret));
    let mut swarm = build_swarm(&config.keypair, psk, config.mdns)?;
    for addr in &config.listen {
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
    };
    tokio::spawn(event_loop.run());
    Ok((NetClient::new(cmd_tx, local), ev_rx))
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
}

impl EventLoop {
    /// Replaces the swarm with one under the new key, on the same
    /// addresses. Connections of the old one close with it; the node hears
    /// of each as a disconnection.
    fn rekey(&mut self, group_secret: &[u8]) -> Result<(), NetError> {
        let psk = PreSharedKey::new(network_key(group_secret));
        let fresh = build_swarm(&self.keypair, psk, self.mdns)?;
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
        for addr in addrs {
            if let Err(e) = self.swarm.listen_on(addr.clone()) {
                tracing::warn!(%addr, "could not listen again after the key change: {e}");
            }
        }
        for peer in connected {
            let _ = self.events.try_send(NetEvent::Disconnected { peer });
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
                _ = tick.tick() => self.close_idle_outsiders(),
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
            tracing::warn!(peer = %p, "closed the connection of a peer outside the group roster that did not join");
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

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Request {
                peer,
                version,
                body,
                reply,
            } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_request(&peer, Request { version, body });
                self.pending.insert(id, (peer, reply));
            }
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
                // outsider timer closes it if it does not.
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
            } => {
                if let Some(reply) = self.dialing.remove(&connection_id) {
                    let _ = reply.send(Ok(()));
                }
                let addr = endpoint.get_remote_address().clone();
                if !self.roster.contains(&peer_id) && endpoint.is_listener() {
                    tracing::info!(peer = %peer_id, %addr, "a peer outside the roster connected; it may only join");
                    self.outsiders
                        .entry(peer_id)
                        .or_insert_with(std::time::Instant::now);
                }
                emit(
                    &self.events,
                    NetEvent::Connected {
                        peer: peer_id,
                        addr,
                        outbound: endpoint.is_dialer(),
                    },
                )
                .await;
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => emit(&self.events, NetEvent::Disconnected { peer: peer_id }).await,
            SwarmEvent::OutgoingConnectionError {
                peer_id,
                error,
                connection_id,
            } => {
                let reason = error.to_string();
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
                tracing::warn!(from = %send_back_addr, "refused an incoming connection: {error}");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    emit(&self.events, NetEvent::Discovered { peer, addr }).await;
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event).await,
            other => tracing::trace!("swarm event: {other:?}"),
        }
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
                tracing::warn!(%peer, "a request from this peer failed: {error}");
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
            tracing::warn!(%peer, version = request.version, "refused a request of protocol version {} (this node speaks {VERSION})", request.version);
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
            tracing::warn!(%peer, "refused a peer that is not in the group roster");
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
            tracing::warn!(%peer, version = response.version, "a peer answered in another protocol version");
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
mod tests {
    //! A peer that speaks garbage on the sync protocol: its stream fails,
    //! the node hears nothing of it, and goes on serving members.

    use super::*;
    use crate::protocol::{Hello, PROTOCOL};
    use crate::swarm::private_transport;
    use libp2p::request_response::ProtocolSupport;
    use libp2p::{StreamProtocol, SwarmBuilder};
    use serde_bytes::ByteBuf;

    const SECRET: &[u8] = b"group secret";

    fn listen_addr() -> Multiaddr {
        "/ip4/127.0.0.1/tcp/0".parse().unwrap()
    }

    #[tokio::test]
    async fn garbage_fails_one_stream_and_the_node_keeps_serving() {
        let (kb, kg, ka) = (
            Keypair::generate_ed25519(),
            Keypair::generate_ed25519(),
            Keypair::generate_ed25519(),
        );
        let (pb, pg, pa) = (
            kb.public().to_peer_id(),
            kg.public().to_peer_id(),
            ka.public().to_peer_id(),
        );
        let (b, mut b_events) = start(NetConfig {
            keypair: kb,
            group_secret: SECRET.to_vec(),
            listen: vec![listen_addr()],
            mdns: false,
            roster: HashSet::from([pg, pa]),
        })
        .unwrap();
        let b_addr = loop {
            if let Some(a) = b.listen_addrs().await.unwrap().into_iter().next() {
                break a;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };

        // A member of the roster whose requests are bytes, not `Request`s.
        let psk = PreSharedKey::new(network_key(SECRET));
        let mut garbage = SwarmBuilder::with_existing_identity(kg)
            .with_tokio()
            .with_other_transport(|key| private_transport(key, psk))
            .unwrap()
            .with_behaviour(|_| {
                request_response::cbor::Behaviour::<ByteBuf, Response>::new(
                    [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(10)),
                )
            })
            .unwrap()
            .build();
        garbage.dial(b_addr.clone()).unwrap();
        let mut sent = false;
        let failed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match garbage.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { .. } if !sent => {
                        sent = true;
                        garbage
                            .behaviour_mut()
                            .send_request(&pb, ByteBuf::from(b"\xff\x00 not a request".to_vec()));
                    }
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => {
                        return true;
                    }
                    SwarmEvent::Behaviour(request_response::Event::Message { .. }) => return false,
                    _ => {}
                }
            }
        })
        .await
        .expect("the garbage request ends in time");
        assert!(failed, "a garbage request must fail, not be answered");

        // Nothing of it reached the node behind B's network.
        while let Ok(e) = b_events.try_recv() {
            assert!(
                !matches!(e, NetEvent::Request { .. }),
                "garbage surfaced as {e:?}"
            );
        }

        // B goes on serving: a member's request gets its answer.
        let (a, _a_events) = start(NetConfig {
            keypair: ka,
            group_secret: SECRET.to_vec(),
            listen: Vec::new(),
            mdns: false,
            roster: HashSet::from([pb]),
        })
        .unwrap();
        a.dial(b_addr, Some(pb)).await.unwrap();
        let ask = tokio::spawn({
            let a = a.clone();
            async move {
                a.request(
                    pb,
                    RequestBody::Announce {
                        latest_seq: 1,
                        rescan: false,
                    },
                )
                .await
            }
        });
        let reply = loop {
            match tokio::time::timeout(Duration::from_secs(10), b_events.recv()).await {
                Ok(Some(NetEvent::Request { reply, .. })) => break reply,
                Ok(Some(_)) => continue,
                other => panic!("no request reached B: {other:?}"),
            }
        };
        let hello = Hello {
            group: "g".into(),
            company: "b".into(),
            latest_seq: 1,
        };
        b.respond(reply, ResponseBody::Hello(hello)).await.unwrap();
        assert!(matches!(ask.await.unwrap(), Ok(ResponseBody::Hello(_))));
    }
}

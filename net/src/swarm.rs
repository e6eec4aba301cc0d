//! The swarm under a private-network key: TCP, the private-network
//! handshake (a peer with another key cannot get past it), noise, yamux
//! (no QUIC, which would bypass the private network), the sync protocol,
//! ping (whether a member still answers: see [`crate::liveness`]) and mDNS.

use std::time::Duration;

use libp2p::core::Transport;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::core::transport::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::pnet::{PnetConfig, PreSharedKey};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{PeerId, StreamProtocol, Swarm, SwarmBuilder, mdns, noise, ping, tcp, yamux};
use sha2::{Digest, Sha256};

use crate::error::NetError;
use crate::liveness::{PING_EVERY, PING_TIMEOUT};
use crate::muxer::BoundedClose;
use crate::protocol::{MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, PROTOCOL};
use crate::strangers::Handshakes;
use crate::traffic::{Counting, Traffic};

/// How long a handshake may take; a peer with the wrong key otherwise hangs
/// until it fires.
const TRANSPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may wait for its answer from a member that still
/// answers pings (a slow link carrying a large page); a member that stops
/// answering is cut off sooner by [`crate::liveness`], failing its requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Streams the sync protocol keeps per connection, inbound and outbound
/// together. Each side sends at most
/// [`crate::network::MAX_REQUESTS_PER_PEER`] at a time, so this is never
/// reached by members, and stays below yamux's own limits (512 streams,
/// 256 not yet acknowledged).
const MAX_STREAMS: usize = 256;

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) sync: request_response::Behaviour<crate::codec::SyncCodec>,
    pub(crate) ping: ping::Behaviour,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
}

/// The private-network key of a group: a hash of its secret, so the secret
/// itself never serves as a key.
pub fn network_key(group_secret: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"elo private network v1\0");
    h.update(group_secret);
    h.finalize().into()
}

type BoxedError = Box<dyn std::error::Error + Send + Sync>;

/// TCP, then the private-network handshake (a peer with another key cannot
/// get past it), then noise and yamux, all within [`TRANSPORT_TIMEOUT`].
/// Closing a connection gives up after a moment when the peer is gone (see
/// [`BoundedClose`]).
/// Each connection that passes the private-network handshake is marked in
/// `handshakes`, so a failure after it can be told as a node of another
/// group (see [`crate::strangers`]). Every connection's substreams count
/// their bytes into its peer's figures in `traffic`.
pub(crate) fn private_transport(
    key: &Keypair,
    psk: PreSharedKey,
    handshakes: Handshakes,
    traffic: Traffic,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, BoxedError> {
    let noise = noise::Config::new(key)?;
    Ok(
        tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
            .and_then(move |socket, endpoint| async move {
                let stream = PnetConfig::new(psk).handshake(socket).await?;
                handshakes.passed(&endpoint);
                Ok::<_, libp2p::pnet::PnetError>(stream)
            })
            .upgrade(Version::V1)
            .authenticate(noise)
            .multiplex(yamux::Config::default())
            .timeout(TRANSPORT_TIMEOUT)
            .map(move |(peer, muxer), _| {
                let counted = Counting::new(muxer, traffic.of(peer));
                (peer, StreamMuxerBox::new(BoundedClose::new(counted)))
            })
            .boxed(),
    )
}

/// Refuses a mesh port another program listens on already. The TCP
/// transport listens with `SO_REUSEPORT`, so a second node on the same port
/// would start without an error and share the port's connections with the
/// first; a plain socket bound there for a moment (not sharing the port)
/// fails if anything listens on it, then is closed at once.
pub(crate) fn port_is_free(addr: &libp2p::Multiaddr) -> Result<(), NetError> {
    use libp2p::multiaddr::Protocol;
    let mut ip = None;
    for part in addr.iter() {
        match part {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            Protocol::Tcp(port) if port != 0 => {
                let Some(ip) = ip else { return Ok(()) };
                return match std::net::TcpListener::bind((ip, port)) {
                    Ok(_probe) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                        Err(NetError::PortInUse {
                            addr: addr.to_string(),
                            port,
                        })
                    }
                    // Any other failure is libp2p's to report, as before.
                    Err(_) => Ok(()),
                };
            }
            _ => {}
        }
    }
    Ok(())
}

/// Builds the swarm for a private-network key.
pub(crate) fn build_swarm(
    keypair: &Keypair,
    psk: PreSharedKey,
    mdns_on: bool,
    handshakes: Handshakes,
    traffic: Traffic,
) -> Result<Swarm<Behaviour>, NetError> {
    let build = |e: &dyn std::fmt::Display| NetError::Build(e.to_string());
    Ok(SwarmBuilder::with_existing_identity(keypair.clone())
        .with_tokio()
        .with_other_transport(|key| private_transport(key, psk, handshakes, traffic))
        .map_err(|e| build(&e))?
        .with_behaviour(|key| {
            let codec = crate::codec::SyncCodec::new(MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES);
            let sync = request_response::Behaviour::with_codec(
                codec,
                [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(REQUEST_TIMEOUT)
                    .with_max_concurrent_streams(MAX_STREAMS),
            );
            let ping = ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(PING_EVERY)
                    .with_timeout(PING_TIMEOUT),
            );
            let mdns = if mdns_on {
                Some(mdns::tokio::Behaviour::new(
                    mdns::Config::default(),
                    key.public().to_peer_id(),
                )?)
            } else {
                None
            };
            Ok(Behaviour {
                sync,
                ping,
                mdns: Toggle::from(mdns),
            })
        })
        .map_err(|e| build(&e))?
        // A member's connection is not closed for being quiet: it stays
        // up while the member answers pings, so `connected` in the status
        // means reachable now. Only members stay connected (outsiders are
        // closed after the join window, removed members at once).
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::MAX))
        .build())
}

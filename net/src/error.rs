//! Why the network failed, as its callers see it.

use libp2p::PeerId;

use crate::protocol::VERSION;

/// Why the network failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    #[error("the network task has stopped")]
    Shutdown,
    #[error("could not build the network: {0}")]
    Build(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error(
        "cannot listen on {addr}: another program listens on tcp port {port} already (another elo node?). Stop it, or give this node another port: --listen /ip4/0.0.0.0/tcp/OTHER_PORT"
    )]
    PortInUse { addr: String, port: u16 },
    #[error("cannot dial {addr}: {reason}")]
    Dial { addr: String, reason: String },
    #[error("request to {peer} failed: {reason}")]
    Request { peer: PeerId, reason: String },
    #[error("{peer} has {waiting} requests unanswered: not sending more until it answers")]
    Busy { peer: PeerId, waiting: usize },
    #[error("{peer} refused: {reason}")]
    Refused { peer: PeerId, reason: String },
    #[error("{peer} speaks protocol version {version}, this node speaks {VERSION}")]
    Version { peer: PeerId, version: u32 },
}

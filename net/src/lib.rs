//! elo's network: libp2p over TCP behind a private-network key derived from
//! the group secret, noise identities, yamux, mDNS discovery, gating by the
//! group roster, and the replication wire protocol. It knows nothing of
//! storage: it carries requests and answers between nodes.
//!
//! # Layout
//! - [`protocol`]: the wire messages of `/elo/sync/1` and their limits.
//! - [`network`]: the swarm, its event loop task, the client handle.
//! - [`capture`]: the protocol's codec and its audit copy of what a node sends.
//! - [`invite`]: the one-line invitation a new company joins with.

pub mod capture;
pub mod invite;
pub mod network;
pub mod protocol;

pub use libp2p::identity::Keypair;
pub use libp2p::{Multiaddr, PeerId, multiaddr};
pub use network::{NetClient, NetConfig, NetError, NetEvent, ReplyHandle, network_key, start};

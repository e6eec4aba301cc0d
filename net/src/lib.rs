//! elo's network: libp2p over TCP behind a private-network key derived from
//! the group secret, noise identities, yamux, mDNS discovery, gating by the
//! group roster, and the replication wire protocol. It knows nothing of
//! storage: it carries requests and answers between nodes.
//!
//! # Layout
//! - [`protocol`]: the wire messages of `/elo/sync/1` and their limits.
//! - [`network`]: the event loop task that owns the swarm; `client.rs` (the
//!   handle the node holds), `swarm.rs` (transport and behaviours) and
//!   `error.rs` ([`NetError`]) are re-exported from it.
//! - [`codec`]: the protocol's bytes: CBOR with size limits, for libp2p
//!   streams and in-memory channels alike.
//! - `liveness.rs`: pings say whether each connection's peer still
//!   answers; a silent one is closed. `muxer.rs`: a close that cannot hang
//!   on a dead link. `traffic.rs`: the bytes each member's connections
//!   carried. `pairs.rs`: one connection per pair of nodes.
//! - [`audit`]: the audit copy of every message a node sends (`ELO_WIRE_CAPTURE`).
//! - [`invite`]: the one-line invitation a new company joins with.
//! - `strangers.rs`: nodes of another group (another network key), told
//!   once per address.
//! - [`once`]: one request under another key (handing a new key to a
//!   member that missed it).

pub mod audit;
mod client;
pub mod codec;
mod error;
pub mod invite;
mod liveness;
mod muxer;
pub mod network;
pub mod once;
pub mod packed_docs;
mod pairs;
pub mod protocol;
mod strangers;
mod swarm;
mod traffic;

pub use libp2p::identity::Keypair;
pub use libp2p::{Multiaddr, PeerId, multiaddr};
pub use network::{NetClient, NetConfig, NetError, NetEvent, ReplyHandle, network_key, start};
pub use strangers::OtherGroup;
pub use traffic::PeerBytes;

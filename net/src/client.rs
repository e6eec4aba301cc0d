//! The handle the rest of the node holds: [`NetClient`] sends commands to
//! the network task and waits for their replies on `oneshot` channels.

use std::collections::{HashMap, HashSet};

use libp2p::request_response::ResponseChannel;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use crate::error::NetError;
use crate::protocol::{RequestBody, Response, ResponseBody, VERSION};

/// Where the answer to an inbound request goes.
#[derive(Debug)]
pub struct ReplyHandle(pub(crate) ResponseChannel<Response>);

/// What the network task is asked to do.
pub(crate) enum Command {
    Request {
        peer: PeerId,
        version: u32,
        body: RequestBody,
        reply: oneshot::Sender<Result<ResponseBody, NetError>>,
    },
    Respond {
        reply: ReplyHandle,
        body: ResponseBody,
    },
    Dial {
        addr: Multiaddr,
        peer: Option<PeerId>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    SetRoster(HashSet<PeerId>),
    Disconnect(PeerId),
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Connected(oneshot::Sender<Vec<PeerId>>),
    Connections(oneshot::Sender<HashMap<PeerId, usize>>),
    OtherGroups(oneshot::Sender<Vec<crate::OtherGroup>>),
    Rekey {
        group_secret: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
}

/// A cloneable handle to the network task.
#[derive(Clone)]
pub struct NetClient {
    commands: mpsc::Sender<Command>,
    local: PeerId,
    traffic: crate::traffic::Traffic,
}

impl NetClient {
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        local: PeerId,
        traffic: crate::traffic::Traffic,
    ) -> NetClient {
        NetClient {
            commands,
            local,
            traffic,
        }
    }

    /// The bytes received from and sent to each peer that connected since
    /// the node started.
    pub fn traffic(&self) -> HashMap<PeerId, crate::traffic::PeerBytes> {
        self.traffic.snapshot()
    }

    pub fn local_peer_id(&self) -> PeerId {
        self.local
    }

    async fn send(&self, c: Command) -> Result<(), NetError> {
        self.commands.send(c).await.map_err(|_| NetError::Shutdown)
    }

    /// Sends a request and waits for the answer. A `Refused` answer or a
    /// version mismatch comes back as an error.
    pub async fn request(&self, peer: PeerId, body: RequestBody) -> Result<ResponseBody, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Request {
            peer,
            version: VERSION,
            body,
            reply,
        })
        .await?;
        rx.await.map_err(|_| NetError::Shutdown)?
    }

    /// Sends a request claiming another protocol version: only for tests
    /// that check how a node treats a peer from another elo release.
    #[doc(hidden)]
    pub async fn request_as_version(
        &self,
        peer: PeerId,
        version: u32,
        body: RequestBody,
    ) -> Result<ResponseBody, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Request {
            peer,
            version,
            body,
            reply,
        })
        .await?;
        rx.await.map_err(|_| NetError::Shutdown)?
    }

    /// Answers an inbound request.
    pub async fn respond(&self, reply: ReplyHandle, body: ResponseBody) -> Result<(), NetError> {
        self.send(Command::Respond { reply, body }).await
    }

    /// Dials an address (with the expected peer, when known).
    pub async fn dial(&self, addr: Multiaddr, peer: Option<PeerId>) -> Result<(), NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Dial { addr, peer, reply }).await?;
        rx.await.map_err(|_| NetError::Shutdown)?
    }

    pub async fn set_roster(&self, roster: HashSet<PeerId>) -> Result<(), NetError> {
        self.send(Command::SetRoster(roster)).await
    }

    pub async fn disconnect(&self, peer: PeerId) -> Result<(), NetError> {
        self.send(Command::Disconnect(peer)).await
    }

    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::ListenAddrs(reply)).await?;
        rx.await.map_err(|_| NetError::Shutdown)
    }

    /// Moves to a new private-network key (derived from a new group
    /// secret): every connection closes, the node listens again on the same
    /// addresses, and from now on only nodes holding the new key get past
    /// the handshake. Members reconnect by the usual dialing.
    pub async fn rekey(&self, group_secret: Vec<u8>) -> Result<(), NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Rekey {
            group_secret,
            reply,
        })
        .await?;
        rx.await.map_err(|_| NetError::Shutdown)?
    }

    /// The nodes of another group (another network key) this node met,
    /// by address.
    pub async fn other_groups(&self) -> Result<Vec<crate::OtherGroup>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::OtherGroups(reply)).await?;
        rx.await.map_err(|_| NetError::Shutdown)
    }

    /// How many connections each connected peer has open: 1 once a pair
    /// settled (see `pairs.rs`).
    pub async fn connections(&self) -> Result<HashMap<PeerId, usize>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Connections(reply)).await?;
        rx.await.map_err(|_| NetError::Shutdown)
    }

    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Connected(reply)).await?;
        rx.await.map_err(|_| NetError::Shutdown)
    }
}

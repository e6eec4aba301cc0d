//! A request to a member and its answer: over the network in a running
//! node, over an in-memory channel in the protocol tests.

use std::future::Future;

use elo_net::protocol::{RequestBody, ResponseBody};
use elo_net::{NetClient, NetError, PeerId};

use super::error::PullError;

/// Sends one request to a member and waits for its answer (or the
/// transport's timeout).
pub trait Link: Clone + Send + Sync + 'static {
    fn request(
        &self,
        peer: PeerId,
        body: RequestBody,
    ) -> impl Future<Output = Result<ResponseBody, PullError>> + Send;
}

impl Link for NetClient {
    async fn request(&self, peer: PeerId, body: RequestBody) -> Result<ResponseBody, PullError> {
        match NetClient::request(self, peer, body).await {
            Ok(ResponseBody::Refused { reason }) => Err(PullError::Refused(reason)),
            Ok(answer) => Ok(answer),
            Err(NetError::Refused { reason, .. }) => Err(PullError::Refused(reason)),
            Err(e) => Err(PullError::Link(e.to_string())),
        }
    }
}

/// Asks `peer` and takes the answer `expected` picks out; any other answer
/// is the member breaking the protocol, named by what was `asked`.
pub(crate) async fn ask<L: Link, T>(
    link: &L,
    peer: PeerId,
    body: RequestBody,
    asked: &'static str,
    expected: impl FnOnce(ResponseBody) -> Option<T>,
) -> Result<T, PullError> {
    expected(link.request(peer, body).await?).ok_or(PullError::UnexpectedAnswer { asked })
}

/// Asks a member for documents, packed (see `elo_net::packed_docs`); a
/// member of an earlier version answers them as they are.
pub(crate) async fn fetch_docs<L: Link>(
    link: &L,
    peer: PeerId,
    docs: Vec<elo_net::protocol::FetchDoc>,
) -> Result<Vec<elo_net::protocol::DocBytes>, PullError> {
    let body = RequestBody::Fetch { docs, packed: true };
    let documents = ask(link, peer, body, "fetch", ResponseBody::documents).await?;
    Ok(documents?)
}

/// Heads as they travel: 32 bytes each.
pub(crate) fn heads_bytes(heads: &[elo_crdt::ChangeHash]) -> Vec<serde_bytes::ByteBuf> {
    heads
        .iter()
        .map(|h| serde_bytes::ByteBuf::from(h.0.to_vec()))
        .collect()
}

/// Heads from the wire; `None` if any is not 32 bytes.
pub(crate) fn parse_heads(heads: &[serde_bytes::ByteBuf]) -> Option<Vec<elo_crdt::ChangeHash>> {
    heads
        .iter()
        .map(|h| {
            <[u8; 32]>::try_from(h.as_slice())
                .ok()
                .map(elo_crdt::ChangeHash)
        })
        .collect()
}

//! One request under another private-network key, on a swarm of its own
//! that dials out, listens nowhere and is dropped with the answer.
//!
//! After the group moves to a new key, a member that missed the move still
//! listens under the old one and can reach no one. A member that made the
//! move reaches it this way: it dials that member's node (the noise
//! handshake proves the identity the roster names) under the old key and
//! hands over the new secret. Nothing is accepted under the old key: this
//! swarm has no listener and lives for one request.

use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::pnet::PreSharedKey;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId};

use crate::error::NetError;
use crate::protocol::{Request, RequestBody, ResponseBody, VERSION};
use crate::swarm::{BehaviourEvent, build_swarm, network_key};

/// Dials `peer` (and only that identity) at `addrs` under the key of
/// `group_secret`, sends `body` and returns the answer; gives up after
/// `limit`. A `Refused` answer is an error, as with [`crate::NetClient`].
pub async fn request_under_key(
    keypair: &Keypair,
    group_secret: &[u8],
    peer: PeerId,
    addrs: Vec<Multiaddr>,
    body: RequestBody,
    limit: Duration,
) -> Result<ResponseBody, NetError> {
    let psk = PreSharedKey::new(network_key(group_secret));
    let mut swarm = build_swarm(keypair, psk, false, Default::default(), Default::default())?;
    let failed = |reason: String| NetError::Request { peer, reason };
    swarm
        .dial(DialOpts::peer_id(peer).addresses(addrs).build())
        .map_err(|e| failed(e.to_string()))?;
    // Sent once connected: asked before, the behaviour would dial on its
    // own, without the addresses, and fail the request.
    let mut body = Some(body);
    let answer = async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == peer => {
                    if let Some(body) = body.take() {
                        swarm.behaviour_mut().sync.send_request(
                            &peer,
                            Request {
                                version: VERSION,
                                body,
                            },
                        );
                    }
                }
                SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => match event {
                    request_response::Event::Message {
                        message: request_response::Message::Response { response, .. },
                        ..
                    } => {
                        return match response.body {
                            ResponseBody::Refused { reason } => {
                                Err(NetError::Refused { peer, reason })
                            }
                            body => Ok(body),
                        };
                    }
                    request_response::Event::OutboundFailure { error, .. } => {
                        return Err(failed(error.to_string()));
                    }
                    _ => {}
                },
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    return Err(failed(error.to_string()));
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(limit, answer)
        .await
        .unwrap_or_else(|_| Err(failed(format!("no answer within {} s", limit.as_secs()))))
}

#[cfg(test)]
mod tests {
    //! A node under one key answers a one-off request made under that key,
    //! and a request made under another key gets nothing.

    use std::collections::HashSet;

    use super::*;
    use crate::network::{NetConfig, NetEvent, start};

    #[tokio::test]
    async fn a_request_under_the_nodes_key_is_answered_and_under_another_fails() {
        let (kb, ka) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let (pb, pa) = (kb.public().to_peer_id(), ka.public().to_peer_id());
        let (b, mut b_events) = start(NetConfig {
            keypair: kb,
            group_secret: b"old secret".to_vec(),
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            mdns: false,
            roster: HashSet::from([pa]),
        })
        .unwrap();
        let b_addr = loop {
            if let Some(a) = b.listen_addrs().await.unwrap().into_iter().next() {
                break a;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let answering = tokio::spawn(async move {
            while let Some(event) = b_events.recv().await {
                if let NetEvent::Request { reply, .. } = event {
                    b.respond(reply, ResponseBody::Ack).await.unwrap();
                }
            }
        });
        let ask = |secret: &'static [u8]| {
            let (ka, addr) = (ka.clone(), b_addr.clone());
            async move {
                let body = RequestBody::Announce {
                    latest_seq: 1,
                    rescan: false,
                    push: None,
                };
                request_under_key(&ka, secret, pb, vec![addr], body, Duration::from_secs(8)).await
            }
        };
        assert!(matches!(ask(b"old secret").await, Ok(ResponseBody::Ack)));
        let wrong = ask(b"another secret").await;
        assert!(wrong.is_err(), "{wrong:?}");
        answering.abort();
    }
}

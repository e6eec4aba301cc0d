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
        .with_other_transport(|key| {
            private_transport(key, psk, Default::default(), Default::default())
        })
        .unwrap()
        .with_behaviour(|_| {
            request_response::cbor::Behaviour::<ByteBuf, Response>::new(
                [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
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
                    push: None,
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

/// Two members dial each other at the same moment: both connections come
/// up, both ends close the same one, and the pair keeps exactly one,
/// which carries requests.
#[tokio::test]
async fn members_dialing_each_other_keep_one_connection() {
    let (ka, kb) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let (pa, pb) = (ka.public().to_peer_id(), kb.public().to_peer_id());
    let member = |keypair, other| {
        start(NetConfig {
            keypair,
            group_secret: SECRET.to_vec(),
            listen: vec![listen_addr()],
            mdns: false,
            roster: HashSet::from([other]),
        })
        .unwrap()
    };
    let ((a, _a_events), (b, mut b_events)) = (member(ka, pb), member(kb, pa));
    let addr_of = |net: NetClient| async move {
        loop {
            if let Some(a) = net.listen_addrs().await.unwrap().into_iter().next() {
                break a;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let (a_addr, b_addr) = (addr_of(a.clone()).await, addr_of(b.clone()).await);
    let (ab, ba) = tokio::join!(a.dial(b_addr, Some(pb)), b.dial(a_addr, Some(pa)));
    // Both dials went through: two connections came up.
    assert!(ab.is_ok() && ba.is_ok(), "{ab:?} {ba:?}");
    let one_each = || async {
        let (at_a, at_b) = (
            a.connections().await.unwrap(),
            b.connections().await.unwrap(),
        );
        (at_a.get(&pb).copied(), at_b.get(&pa).copied())
    };
    let settled = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let counts = one_each().await;
            // Never none: a pair is not left without a connection.
            assert!(counts.0.is_some() && counts.1.is_some(), "{counts:?}");
            if counts == (Some(1), Some(1)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(settled.is_ok(), "still {:?}", one_each().await);
    // It stays one, and it carries a request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(one_each().await, (Some(1), Some(1)));
    let ask = tokio::spawn({
        let a = a.clone();
        async move {
            let announce = RequestBody::Announce {
                latest_seq: 1,
                rescan: false,
                push: None,
            };
            a.request(pb, announce).await
        }
    });
    let reply = loop {
        match tokio::time::timeout(Duration::from_secs(10), b_events.recv()).await {
            Ok(Some(NetEvent::Request { reply, .. })) => break reply,
            Ok(Some(_)) => continue,
            other => panic!("no request reached B: {other:?}"),
        }
    };
    b.respond(reply, ResponseBody::Ack).await.unwrap();
    assert!(matches!(ask.await.unwrap(), Ok(ResponseBody::Ack)));
}

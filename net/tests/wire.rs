//! Two networks in one process on 127.0.0.1: requests and answers cross,
//! a peer speaking another protocol version is refused with a reason, and a
//! peer outside the roster may only join.

use std::collections::HashSet;
use std::time::Duration;

use elo_net::protocol::{Hello, RequestBody, ResponseBody};
use elo_net::{Keypair, NetClient, NetConfig, NetError, NetEvent, PeerId};
use tokio::sync::mpsc;

mod common;
use common::net;

/// Answers every request with a Hello until the channel closes.
fn answer_hellos(
    client: NetClient,
    mut events: mpsc::Receiver<NetEvent>,
    seen: mpsc::UnboundedSender<String>,
) {
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if let NetEvent::Request { body, reply, .. } = e {
                let _ = seen.send(format!("{body:?}"));
                let hello = Hello {
                    group: "g".into(),
                    company: "b".into(),
                    latest_seq: 7,
                };
                let _ = client.respond(reply, ResponseBody::Hello(hello)).await;
            }
        }
    });
}

async fn connect(a: &NetClient, b: &NetClient, b_peer: PeerId) {
    let addr = loop {
        if let Some(addr) = b.listen_addrs().await.unwrap().into_iter().next() {
            break addr;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    tokio::time::timeout(Duration::from_secs(10), a.dial(addr, Some(b_peer)))
        .await
        .expect("dial in time")
        .expect("dial");
}

fn hello() -> RequestBody {
    RequestBody::Hello(Hello {
        group: "g".into(),
        company: "a".into(),
        latest_seq: 1,
    })
}

#[tokio::test]
async fn members_talk_and_another_version_is_refused_with_a_reason() {
    let (ka, kb) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let (pa, pb) = (ka.public().to_peer_id(), kb.public().to_peer_id());
    let (a, _a_events) = net(&ka, HashSet::from([pb]));
    let (b, b_events) = net(&kb, HashSet::from([pa]));
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    answer_hellos(b.clone(), b_events, seen_tx);
    connect(&a, &b, pb).await;

    match a.request(pb, hello()).await.unwrap() {
        ResponseBody::Hello(h) => assert_eq!(h.latest_seq, 7),
        other => panic!("unexpected {other:?}"),
    }
    assert!(seen.recv().await.unwrap().contains("Hello"));

    match a.request_as_version(pb, 99, hello()).await {
        Err(NetError::Refused { reason, .. }) => assert!(reason.contains("version 99"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The refused request never reached the node behind B's network.
    assert!(seen.try_recv().is_err());
    // And the connection still serves.
    assert!(a.request(pb, hello()).await.is_ok());
}

#[tokio::test]
async fn an_outsider_may_only_join() {
    let (ka, kb) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let pb = kb.public().to_peer_id();
    let (a, _a_events) = net(&ka, HashSet::from([pb]));
    // B's roster does not hold A.
    let (b, b_events) = net(&kb, HashSet::new());
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    answer_hellos(b.clone(), b_events, seen_tx);
    connect(&a, &b, pb).await;
    match a.request(pb, hello()).await {
        Err(NetError::Refused { reason, .. }) => {
            assert!(reason.contains("not a member"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(seen.try_recv().is_err());
}

#[tokio::test]
async fn another_group_cannot_connect() {
    let (ka, kb) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let pb = kb.public().to_peer_id();
    let (a, _a_events) = elo_net::start(NetConfig {
        keypair: ka,
        group_secret: b"another group".to_vec(),
        listen: vec![],
        mdns: false,
        roster: HashSet::from([pb]),
    })
    .unwrap();
    let (b, _b_events) = net(&kb, HashSet::new());
    let addr = loop {
        if let Some(addr) = b.listen_addrs().await.unwrap().into_iter().next() {
            break addr;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let r = tokio::time::timeout(Duration::from_secs(15), a.dial(addr, Some(pb))).await;
    assert!(
        matches!(r, Ok(Err(_))),
        "a different private-network key must not connect: {r:?}"
    );
}

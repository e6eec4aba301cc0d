//! What an operator is told about the mesh's own mistakes: a node of
//! another group (another network key) is named once per address on both
//! sides, and a second node on a mesh port already taken fails to start.

use std::collections::HashSet;
use std::time::Duration;

use elo_net::{Keypair, Multiaddr, NetConfig, NetError};

fn start(
    secret: &[u8],
    listen: &str,
) -> (
    elo_net::NetClient,
    tokio::sync::mpsc::Receiver<elo_net::NetEvent>,
) {
    elo_net::start(NetConfig {
        keypair: Keypair::generate_ed25519(),
        group_secret: secret.to_vec(),
        listen: vec![listen.parse().unwrap()],
        mdns: false,
        roster: HashSet::new(),
    })
    .unwrap()
}

async fn first_listen_addr(net: &elo_net::NetClient) -> Multiaddr {
    for _ in 0..500 {
        if let Some(a) = net.listen_addrs().await.unwrap().into_iter().next() {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no listen address within 5 s");
}

fn port_of(addr: &Multiaddr) -> u16 {
    addr.iter()
        .find_map(|p| match p {
            elo_net::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .expect("a tcp port")
}

#[tokio::test]
async fn a_second_node_on_a_taken_mesh_port_fails_to_start() {
    let (first, _events) = start(b"group one", "/ip4/127.0.0.1/tcp/0");
    let port = port_of(&first_listen_addr(&first).await);
    for listen in [
        format!("/ip4/127.0.0.1/tcp/{port}"),
        format!("/ip4/0.0.0.0/tcp/{port}"),
    ] {
        let second = elo_net::start(NetConfig {
            keypair: Keypair::generate_ed25519(),
            group_secret: b"group one".to_vec(),
            listen: vec![listen.parse().unwrap()],
            mdns: false,
            roster: HashSet::new(),
        });
        let Err(e) = second else {
            panic!("a second node started on port {port} ({listen})");
        };
        assert!(matches!(e, NetError::PortInUse { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains(&format!("tcp port {port} already")), "{text}");
        assert!(text.contains("--listen"), "{text}");
    }
}

/// A node of group two dials a node of group one three times: both say a
/// node at the other's address is of another group, once each.
#[tokio::test]
async fn a_node_of_another_group_is_named_on_both_sides_once() {
    let (member, _member_events) = start(b"group one", "/ip4/127.0.0.1/tcp/0");
    let (stranger, _stranger_events) = start(b"group two", "/ip4/127.0.0.1/tcp/0");
    let member_addr = first_listen_addr(&member).await;
    for _ in 0..3 {
        let dialed = tokio::time::timeout(
            Duration::from_secs(15),
            stranger.dial(member_addr.clone(), None),
        )
        .await
        .expect("the dial ends within 15 s");
        assert!(dialed.is_err(), "a node of another group got through");
    }
    // The member hears of the failed handshakes as they end on its side.
    let mut seen_by_member = Vec::new();
    for _ in 0..100 {
        seen_by_member = member.other_groups().await.unwrap();
        if seen_by_member.first().is_some_and(|o| o.attempts >= 3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen_by_stranger = stranger.other_groups().await.unwrap();
    assert_eq!(seen_by_stranger.len(), 1, "{seen_by_stranger:?}");
    let dialed = &seen_by_stranger[0];
    assert_eq!(dialed.address, member_addr.to_string());
    assert_eq!(dialed.direction, "dialed");
    assert_eq!(dialed.attempts, 3);
    assert!(
        dialed
            .message
            .starts_with(&format!("a node at {member_addr} is of another group")),
        "{}",
        dialed.message
    );
    assert_eq!(seen_by_member.len(), 1, "{seen_by_member:?}");
    let dialed_in = &seen_by_member[0];
    assert_eq!(dialed_in.address, "/ip4/127.0.0.1");
    assert_eq!(dialed_in.direction, "dialed in");
    assert_eq!(dialed_in.attempts, 3);
    assert!(
        dialed_in.message.contains("network key differs"),
        "{}",
        dialed_in.message
    );
}

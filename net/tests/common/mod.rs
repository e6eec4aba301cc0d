//! What the network's integration tests share: a network on 127.0.0.1
//! under one test group's key.

use std::collections::HashSet;

use elo_net::{Keypair, NetClient, NetConfig, NetEvent, PeerId};
use tokio::sync::mpsc;

const SECRET: &[u8] = b"a group secret for tests";

/// A network listening on a free loopback port, with this roster.
pub fn net(key: &Keypair, roster: HashSet<PeerId>) -> (NetClient, mpsc::Receiver<NetEvent>) {
    elo_net::start(NetConfig {
        keypair: key.clone(),
        group_secret: SECRET.to_vec(),
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        mdns: false,
        roster,
    })
    .unwrap()
}

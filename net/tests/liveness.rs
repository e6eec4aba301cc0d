//! A member behind a link that goes dark: two networks in one process, one
//! reaching the other through a relay on 127.0.0.1 that can stop passing
//! bytes without closing anything (as a dead VPN, or a frozen node whose
//! kernel still takes the bytes). The node hears of the member as
//! disconnected, with why, within tens of seconds; the requests waiting
//! for it fail then, not at their timeout; and no more than the bound of
//! requests ever waits for it.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use elo_net::network::MAX_REQUESTS_PER_PEER;
use elo_net::protocol::RequestBody;
use elo_net::{Keypair, Multiaddr, NetError, NetEvent};

mod common;
use common::net;

/// A relay to `to` that passes bytes until `cut`, then holds both sockets
/// open and passes nothing, until `done`.
struct Relay {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl Relay {
    fn start(to: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (c, d) = (cut.clone(), done.clone());
        std::thread::spawn(move || {
            // One connection is all the test makes.
            let Ok((inbound, _)) = listener.accept() else {
                return;
            };
            let outbound = TcpStream::connect(to).unwrap();
            let pass = |from: TcpStream, to: TcpStream| {
                let (c, d) = (c.clone(), d.clone());
                std::thread::spawn(move || pass_until_cut(from, to, &c, &d))
            };
            let one = pass(inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
            let two = pass(outbound, inbound);
            let _ = (one.join(), two.join());
        });
        Relay { addr, cut, done }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

fn pass_until_cut(mut from: TcpStream, mut to: TcpStream, cut: &AtomicBool, done: &AtomicBool) {
    from.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 16 * 1024];
    while !done.load(Ordering::Relaxed) {
        if cut.load(Ordering::Relaxed) {
            // Bytes vanish: nothing read, nothing passed, nothing closed.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_behind_a_dead_link_is_disconnected_and_its_requests_fail() {
    let (ka, kb) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let (pa, pb) = (ka.public().to_peer_id(), kb.public().to_peer_id());
    let (a, mut a_events) = net(&ka, HashSet::from([pb]));
    // B takes requests and never answers them.
    let (b, mut b_events) = net(&kb, HashSet::from([pa]));
    let held = tokio::spawn(async move {
        let mut replies = Vec::new();
        while let Some(e) = b_events.recv().await {
            if let NetEvent::Request { reply, .. } = e {
                replies.push(reply);
            }
        }
    });
    let b_addr = loop {
        if let Some(addr) = b.listen_addrs().await.unwrap().into_iter().next() {
            break addr;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let port = b_addr
        .iter()
        .find_map(|p| match p {
            elo_net::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();
    let relay = Relay::start(([127, 0, 0, 1], port).into());
    let via: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", relay.addr.port())
        .parse()
        .unwrap();
    a.dial(via, Some(pb)).await.expect("dial through the relay");

    relay.cut.store(true, Ordering::Relaxed);
    let cut = Instant::now();
    let announce = || RequestBody::Announce {
        latest_seq: 1,
        rescan: false,
        push: None,
    };
    let mut waiting = Vec::new();
    for _ in 0..MAX_REQUESTS_PER_PEER {
        let a = a.clone();
        let body = announce();
        waiting.push(tokio::spawn(async move { a.request(pb, body).await }));
    }
    // Give them time to be handed to the network, then one more is refused at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = tokio::time::timeout(Duration::from_secs(1), a.request(pb, announce()))
        .await
        .expect("a request over the bound is refused at once");
    assert!(matches!(refused, Err(NetError::Busy { .. })), "{refused:?}");

    let reason = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match a_events.recv().await {
                Some(NetEvent::Disconnected { peer, reason }) if peer == pb => break reason,
                Some(_) => continue,
                None => panic!("A's network stopped"),
            }
        }
    })
    .await
    .expect("A hears of B as disconnected within 30 s");
    let detected = cut.elapsed();
    eprintln!("B behind the dead link was disconnected after {detected:?}");
    let reason = reason.expect("the disconnection says why");
    assert!(
        reason.contains("no answer") || reason.contains("stopped answering"),
        "{reason}"
    );
    // The requests that waited for B end with the connection, well before
    // their own timeout.
    for w in waiting {
        let ended = tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .expect("a waiting request ends with the connection")
            .unwrap();
        assert!(ended.is_err(), "{ended:?}");
    }
    drop((a, b));
    held.abort();
}

//! The bytes each member's connections carried since the node started:
//! what an operator watching a branch on a thin link wants to see. Counted
//! on every substream of the connection (the sync protocol, pings), as
//! the node reads and writes them: after yamux took its frames apart and
//! before noise encrypts them, so the figures are the messages' own bytes.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::{AsyncRead, AsyncWrite};
use libp2p::PeerId;
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};

/// Bytes received from and sent to one member, since the node started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerBytes {
    pub received: u64,
    pub sent: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    received: AtomicU64,
    sent: AtomicU64,
}

/// Every peer's counters, shared by its connections (a reconnection adds to
/// the same figures).
#[derive(Clone, Default)]
pub struct Traffic {
    peers: Arc<Mutex<HashMap<PeerId, Arc<Counters>>>>,
}

impl Traffic {
    pub(crate) fn of(&self, peer: PeerId) -> Arc<Counters> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.entry(peer).or_default().clone()
    }

    /// Every peer that connected since the node started, with its bytes.
    pub fn snapshot(&self) -> HashMap<PeerId, PeerBytes> {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers
            .iter()
            .map(|(peer, c)| {
                let bytes = PeerBytes {
                    received: c.received.load(Ordering::Relaxed),
                    sent: c.sent.load(Ordering::Relaxed),
                };
                (*peer, bytes)
            })
            .collect()
    }
}

/// A muxer whose substreams count their bytes into one peer's counters.
pub(crate) struct Counting<M> {
    inner: M,
    counters: Arc<Counters>,
}

impl<M> Counting<M> {
    pub(crate) fn new(inner: M, counters: Arc<Counters>) -> Self {
        Counting { inner, counters }
    }

    /// A substream just opened, counting into this connection's peer.
    fn counted<S, E>(&self, opened: Poll<Result<S, E>>) -> Poll<Result<Counted<S>, E>> {
        let counters = self.counters.clone();
        opened.map_ok(|inner| Counted { inner, counters })
    }
}

impl<M> StreamMuxer for Counting<M>
where
    M: StreamMuxer + Unpin,
    M::Substream: Unpin,
{
    type Substream = Counted<M::Substream>;
    type Error = M::Error;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let opened = Pin::new(&mut self.inner).poll_inbound(cx);
        self.counted(opened)
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let opened = Pin::new(&mut self.inner).poll_outbound(cx);
        self.counted(opened)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A substream that counts what goes through it.
pub(crate) struct Counted<S> {
    inner: S,
    counters: Arc<Counters>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = read {
            self.counters
                .received
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            self.counters.sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{AsyncReadExt, AsyncWriteExt};

    /// What a substream reads and writes lands in its peer's figures, and
    /// a second connection of the same peer adds to them.
    #[tokio::test]
    async fn a_substream_counts_into_its_peer() {
        let traffic = Traffic::default();
        let peer = PeerId::random();
        for _ in 0..2 {
            let mut stream = Counted {
                inner: futures::io::Cursor::new(b"hello".to_vec()),
                counters: traffic.of(peer),
            };
            let mut got = [0u8; 5];
            stream.read_exact(&mut got).await.unwrap();
            stream.write_all(b"abc").await.unwrap();
        }
        let figures = traffic.snapshot();
        assert_eq!(
            figures.get(&peer),
            Some(&PeerBytes {
                received: 10,
                sent: 6
            })
        );
    }
}

//! A connection whose close cannot hang. Closing yamux flushes what is
//! queued and says goodbye; when the member is gone (a dead link, a frozen
//! node whose receive window is full) that flush waits for TCP to give up,
//! which takes many minutes, and until then the node would not hear that
//! the member disconnected, nor dial it again. [`BoundedClose`] gives the
//! goodbye [`CLOSE_GRACE`], then drops the connection.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};

/// How long a close may try to reach the peer.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// A muxer whose close ends within [`CLOSE_GRACE`].
pub(crate) struct BoundedClose<M> {
    inner: M,
    /// Set when the close began.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<M> BoundedClose<M> {
    pub(crate) fn new(inner: M) -> Self {
        BoundedClose {
            inner,
            deadline: None,
        }
    }
}

impl<M: StreamMuxer + Unpin> StreamMuxer for BoundedClose<M> {
    type Substream = M::Substream;
    type Error = M::Error;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        Pin::new(&mut self.inner).poll_inbound(cx)
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        Pin::new(&mut self.inner).poll_outbound(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if let Poll::Ready(done) = Pin::new(&mut self.inner).poll_close(cx) {
            return Poll::Ready(done);
        }
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(CLOSE_GRACE)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                tracing::debug!(
                    "the peer did not take the goodbye in time: dropping the connection"
                );
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    /// A muxer whose close never finishes, as over a dead link.
    struct Stuck;

    impl StreamMuxer for Stuck {
        type Substream = libp2p::core::muxing::SubstreamBox;
        type Error = io::Error;
        fn poll_inbound(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Result<Self::Substream, io::Error>> {
            Poll::Pending
        }
        fn poll_outbound(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Result<Self::Substream, io::Error>> {
            Poll::Pending
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
            Poll::Pending
        }
        fn poll(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Result<StreamMuxerEvent, io::Error>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_close_that_cannot_reach_the_peer_ends_after_the_grace() {
        use libp2p::core::muxing::StreamMuxerExt;
        let started = std::time::Instant::now();
        let closed = BoundedClose::new(Stuck).close().await;
        assert!(closed.is_ok());
        let took = started.elapsed();
        assert!(
            took >= CLOSE_GRACE && took < CLOSE_GRACE + Duration::from_secs(1),
            "{took:?}"
        );
    }
}

//! The sync protocol's codec: CBOR with size limits, plus an audit copy.
//!
//! With `ELO_WIRE_CAPTURE=FILE` in its environment, a node appends every
//! answer it sends to FILE, byte for byte as it goes on the stream (before
//! encryption): a 4-byte big-endian length, then the CBOR message. An
//! auditor, or a test, reads it back with [`read_capture`] to see exactly
//! what left the node.

use std::io::Write;
use std::sync::{Arc, Mutex};

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response::{Codec, cbor};

use crate::protocol::{Request, Response};

/// The environment variable naming the audit file.
pub const CAPTURE_ENV: &str = "ELO_WIRE_CAPTURE";

#[derive(Clone)]
pub struct SyncCodec {
    inner: cbor::codec::Codec<Request, Response>,
    capture: Option<Arc<Mutex<std::fs::File>>>,
}

impl SyncCodec {
    pub fn new(max_request: u64, max_response: u64) -> SyncCodec {
        let capture = std::env::var_os(CAPTURE_ENV).and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .inspect_err(|e| {
                    tracing::warn!(path = %path.to_string_lossy(), "cannot open the wire capture file: {e}")
                })
                .ok()
        });
        SyncCodec {
            inner: cbor::codec::Codec::default()
                .set_request_size_maximum(max_request)
                .set_response_size_maximum(max_response),
            capture: capture.map(|f| Arc::new(Mutex::new(f))),
        }
    }
}

impl Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, p: &StreamProtocol, io: &mut T) -> std::io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.inner.read_request(p, io).await
    }

    async fn read_response<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.inner.read_response(p, io).await
    }

    async fn write_request<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> std::io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.inner.write_request(p, io, req).await
    }

    async fn write_response<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> std::io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let Some(capture) = &self.capture else {
            return self.inner.write_response(p, io, res).await;
        };
        let mut encoded = futures::io::Cursor::new(Vec::new());
        self.inner.write_response(p, &mut encoded, res).await?;
        let bytes = encoded.into_inner();
        if let Ok(mut f) = capture.lock() {
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            let _ = f
                .write_all(&len.to_be_bytes())
                .and_then(|()| f.write_all(&bytes));
        }
        io.write_all(&bytes).await
    }
}

/// Reads an audit file back: every answer the node sent, in order. A
/// truncated last entry (the node was stopped mid-write) is an error that
/// says so, after the complete ones.
pub fn read_capture(bytes: &[u8]) -> (Vec<Response>, Option<String>) {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return (out, Some("a truncated length".into()));
        };
        let len = u32::from_be_bytes(*len) as usize;
        let Some((msg, tail)) = tail.split_at_checked(len) else {
            return (out, Some("a truncated message".into()));
        };
        match cbor4ii::serde::from_slice::<Response>(msg) {
            Ok(r) => out.push(r),
            Err(e) => return (out, Some(format!("an undecodable message: {e}"))),
        }
        rest = tail;
    }
    (out, None)
}

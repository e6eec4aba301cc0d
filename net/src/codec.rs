//! The sync protocol's codec: one CBOR message a stream, with size limits
//! checked before decoding.
//!
//! The same functions serve the libp2p streams ([`SyncCodec`]) and anything
//! else that carries the protocol's bytes, such as a test that runs a puller
//! against a server over an in-memory channel: [`encode_request`],
//! [`decode_request`], [`encode_response`], [`decode_response`]. The limits
//! are the reader's, as on the wire: a message over the limit is refused
//! when read, not when written.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::audit::WireAudit;
use crate::protocol::{
    MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, Request, RequestBody, Response, ResponseBody, VERSION,
};

/// Why bytes did not become a message, or a message bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    #[error("a message of {size} bytes is over the limit of {max}")]
    TooLarge { size: usize, max: u64 },
    #[error("an undecodable message: {0}")]
    Malformed(String),
    #[error("a message that cannot be encoded: {0}")]
    Unencodable(String),
    #[error("a message of protocol version {version}, this node speaks {VERSION}")]
    Version { version: u32 },
}

impl From<CodecError> for std::io::Error {
    fn from(e: CodecError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, CodecError> {
    cbor4ii::serde::to_vec(Vec::new(), message).map_err(|e| CodecError::Unencodable(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8], max: u64) -> Result<T, CodecError> {
    if u64::try_from(bytes.len()).map_or(true, |n| n > max) {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            max,
        });
    }
    cbor4ii::serde::from_slice(bytes).map_err(|e| CodecError::Malformed(e.to_string()))
}

/// A message as it travels: a body with its protocol version, and the
/// limit its reader holds it to.
trait Envelope: Serialize + DeserializeOwned {
    type Body;
    const MAX_BYTES: u64;
    fn seal(body: Self::Body) -> Self;
    fn open(self) -> (u32, Self::Body);
}

impl Envelope for Request {
    type Body = RequestBody;
    const MAX_BYTES: u64 = MAX_REQUEST_BYTES;
    fn seal(body: RequestBody) -> Request {
        Request::new(body)
    }
    fn open(self) -> (u32, RequestBody) {
        (self.version, self.body)
    }
}

impl Envelope for Response {
    type Body = ResponseBody;
    const MAX_BYTES: u64 = MAX_RESPONSE_BYTES;
    fn seal(body: ResponseBody) -> Response {
        Response::new(body)
    }
    fn open(self) -> (u32, ResponseBody) {
        (self.version, self.body)
    }
}

/// A body in this node's protocol version.
fn encode_body<E: Envelope>(body: E::Body) -> Result<Vec<u8>, CodecError> {
    encode(&E::seal(body))
}

/// A body read within its limit, refused in another protocol version.
fn decode_body<E: Envelope>(bytes: &[u8]) -> Result<E::Body, CodecError> {
    match decode::<E>(bytes, E::MAX_BYTES)?.open() {
        (VERSION, body) => Ok(body),
        (version, _) => Err(CodecError::Version { version }),
    }
}

/// A request as this node sends it: in its protocol version.
pub fn encode_request(body: RequestBody) -> Result<Vec<u8>, CodecError> {
    encode_body::<Request>(body)
}

/// A request as a node reads it: at most [`MAX_REQUEST_BYTES`], in this
/// node's protocol version.
pub fn decode_request(bytes: &[u8]) -> Result<RequestBody, CodecError> {
    decode_body::<Request>(bytes)
}

/// An answer as this node sends it: in its protocol version.
pub fn encode_response(body: ResponseBody) -> Result<Vec<u8>, CodecError> {
    encode_body::<Response>(body)
}

/// An answer as a node reads it: at most [`MAX_RESPONSE_BYTES`], in this
/// node's protocol version.
pub fn decode_response(bytes: &[u8]) -> Result<ResponseBody, CodecError> {
    decode_body::<Response>(bytes)
}

/// The codec of the libp2p streams. It decodes messages of any version:
/// the network answers a request in another version with a refusal that
/// says so, which it could not do for a message it never saw.
#[derive(Clone)]
pub struct SyncCodec {
    max_request: u64,
    max_response: u64,
    audit: Option<WireAudit>,
    /// The copy of everything received, when [`crate::audit::RECEIVED_ENV`]
    /// names a file.
    received: Option<WireAudit>,
}

impl SyncCodec {
    /// A codec with these limits, auditing what it sends (answers and
    /// requests) when
    /// [`crate::audit::CAPTURE_ENV`] names a file, and what it receives when
    /// [`crate::audit::RECEIVED_ENV`] does.
    pub fn new(max_request: u64, max_response: u64) -> SyncCodec {
        SyncCodec {
            max_request,
            max_response,
            audit: WireAudit::from_env(),
            received: WireAudit::from_env_named(crate::audit::RECEIVED_ENV),
        }
    }
}

/// Reads a stream to its end, or to `max` bytes: a longer message then
/// fails to decode, and only this stream fails.
async fn read_message<T, M>(
    io: &mut T,
    max: u64,
    received: Option<&WireAudit>,
) -> std::io::Result<M>
where
    T: AsyncRead + Unpin + Send,
    M: DeserializeOwned,
{
    let mut bytes = Vec::new();
    io.take(max).read_to_end(&mut bytes).await?;
    if let Some(received) = received {
        received.record(&bytes);
    }
    Ok(decode(&bytes, max)?)
}

impl Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> std::io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io, self.max_request, self.received.as_ref()).await
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io, self.max_response, self.received.as_ref()).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> std::io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let bytes = encode(&req)?;
        if let Some(audit) = &self.audit {
            audit.record(&bytes);
        }
        io.write_all(&bytes).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> std::io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let bytes = encode(&res)?;
        if let Some(audit) = &self.audit {
            audit.record(&bytes);
        }
        io.write_all(&bytes).await
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use libp2p::request_response::cbor;

    use super::*;
    use crate::protocol::Hello;

    fn announce() -> RequestBody {
        RequestBody::Announce {
            latest_seq: 42,
            rescan: true,
            push: None,
        }
    }

    fn hello() -> ResponseBody {
        ResponseBody::Hello(Hello {
            group: "g".into(),
            company: "11222333000181".into(),
            latest_seq: 7,
        })
    }

    fn protocol() -> StreamProtocol {
        StreamProtocol::new(crate::protocol::PROTOCOL)
    }

    #[test]
    fn a_request_and_an_answer_come_back_as_sent() {
        let bytes = encode_request(announce()).unwrap();
        assert!(matches!(
            decode_request(&bytes).unwrap(),
            RequestBody::Announce {
                latest_seq: 42,
                rescan: true,
                push: None,
            }
        ));
        let bytes = encode_response(hello()).unwrap();
        let ResponseBody::Hello(h) = decode_response(&bytes).unwrap() else {
            panic!("not a hello");
        };
        assert_eq!((h.company.as_str(), h.latest_seq), ("11222333000181", 7));
    }

    /// Nodes of earlier releases framed messages with libp2p's CBOR codec:
    /// the bytes must stay the same both ways.
    #[test]
    fn the_bytes_are_those_of_the_libp2p_cbor_codec() {
        let mut theirs = cbor::codec::Codec::<Request, Response>::default();
        let mut written = futures::io::Cursor::new(Vec::new());
        block_on(theirs.write_request(&protocol(), &mut written, Request::new(announce())))
            .unwrap();
        assert_eq!(written.into_inner(), encode_request(announce()).unwrap());

        let mut written = futures::io::Cursor::new(Vec::new());
        block_on(theirs.write_response(&protocol(), &mut written, Response::new(hello()))).unwrap();
        let ours = encode_response(hello()).unwrap();
        assert_eq!(written.into_inner(), ours);
        let mut read = futures::io::Cursor::new(ours);
        let back = block_on(theirs.read_response(&protocol(), &mut read)).unwrap();
        assert!(matches!(back.body, ResponseBody::Hello(_)));
    }

    /// An announcement of an older node (no push) is read here, and one
    /// that carries changes comes back whole; an older node, which knows no
    /// push, reads it as the plain announcement it knows.
    #[test]
    fn an_announcement_with_or_without_a_push_is_read_by_either_release() {
        #[derive(serde::Serialize, serde::Deserialize)]
        enum OlderBody {
            Announce { latest_seq: u64, rescan: bool },
        }
        let older = cbor4ii::serde::to_vec(
            Vec::new(),
            &OlderBody::Announce {
                latest_seq: 9,
                rescan: false,
            },
        )
        .unwrap();
        let read: RequestBody = cbor4ii::serde::from_slice(&older).unwrap();
        assert!(matches!(
            read,
            RequestBody::Announce {
                latest_seq: 9,
                push: None,
                ..
            }
        ));
        let push = crate::protocol::Push {
            after: 3,
            through: 4,
            entries: vec![crate::protocol::ChangeSummary {
                id: "product/sku:A".into(),
                heads: vec![serde_bytes::ByteBuf::from(vec![7u8; 32])],
                seq: 4,
                origins: None,
            }],
            docs: vec![crate::protocol::DocBytes {
                id: "product/sku:A".into(),
                bytes: serde_bytes::ByteBuf::from(vec![1, 2, 3]),
                changes: Vec::new(),
            }],
            stock_latest: 2,
        };
        let body = RequestBody::Announce {
            latest_seq: 4,
            rescan: false,
            push: Some(Box::new(push.clone())),
        };
        let bytes = encode_request(body).unwrap();
        let RequestBody::Announce { push: back, .. } = decode_request(&bytes).unwrap() else {
            panic!("not an announcement");
        };
        assert_eq!(back.as_deref(), Some(&push));
        let at_an_older_node: OlderBody = cbor4ii::serde::from_slice(
            &encode(&RequestBody::Announce {
                latest_seq: 4,
                rescan: false,
                push: Some(Box::new(push)),
            })
            .unwrap(),
        )
        .unwrap();
        let OlderBody::Announce { latest_seq, .. } = at_an_older_node;
        assert_eq!(latest_seq, 4);
    }

    #[test]
    fn a_message_over_the_limit_is_refused_before_decoding() {
        let big = vec![0u8; usize::try_from(MAX_REQUEST_BYTES).unwrap() + 1];
        assert!(matches!(
            decode_request(&big),
            Err(CodecError::TooLarge { max, .. }) if max == MAX_REQUEST_BYTES
        ));
        // On a stream, the codec reads no further than the limit.
        let mut codec = SyncCodec::new(16, 16);
        let mut stream = futures::io::Cursor::new(encode_request(announce()).unwrap());
        let read = block_on(codec.read_request(&protocol(), &mut stream));
        assert_eq!(stream.position(), 16);
        assert!(read.is_err());
    }

    #[test]
    fn garbage_and_another_version_are_typed_errors() {
        assert!(matches!(
            decode_response(b"\xff\x00 not a message"),
            Err(CodecError::Malformed(_))
        ));
        let future = encode(&Response {
            version: VERSION + 1,
            body: hello(),
        })
        .unwrap();
        assert!(matches!(
            decode_response(&future),
            Err(CodecError::Version { version }) if version == VERSION + 1
        ));
    }
}

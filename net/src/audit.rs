//! The wire audit: with `ELO_WIRE_CAPTURE=FILE` in its environment, a node
//! appends every message it sends to FILE (its answers, and its requests:
//! an announcement carries changes with it), byte for byte as it goes on
//! the stream (before encryption): a 4-byte big-endian length, then the
//! CBOR message. An auditor, or a test, reads it back with
//! [`read_capture`] to see exactly what left the node.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::protocol::{Request, Response};

/// One message a node sent, as the audit file holds it.
#[derive(Debug)]
pub enum Sent {
    Answer(Response),
    Request(Request),
}

/// The environment variable naming the audit file.
pub const CAPTURE_ENV: &str = "ELO_WIRE_CAPTURE";
/// The environment variable naming a file that gets every message the node
/// receives (requests and answers, same framing, undecoded): what a third
/// company's node could ever have seen.
pub const RECEIVED_ENV: &str = "ELO_WIRE_RECEIVED";

/// The audit file answers are appended to, shared by every stream.
#[derive(Clone)]
pub(crate) struct WireAudit {
    file: Arc<Mutex<std::fs::File>>,
}

impl WireAudit {
    /// The audit file named by [`CAPTURE_ENV`], when it is set and can be
    /// opened (a file that cannot is logged, and nothing is audited).
    pub(crate) fn from_env() -> Option<WireAudit> {
        WireAudit::from_env_named(CAPTURE_ENV)
    }

    /// The audit file named by the variable `name`.
    pub(crate) fn from_env_named(name: &str) -> Option<WireAudit> {
        let path = std::env::var_os(name)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .inspect_err(|e| {
                tracing::warn!(path = %path.to_string_lossy(), "cannot open the wire capture file: {e}; nothing is captured (name a file the node may write in ELO_WIRE_CAPTURE, or unset it)")
            })
            .ok()?;
        Some(WireAudit {
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// Appends one encoded message. A failed write is not the peer's
    /// problem: the message still goes out.
    pub(crate) fn record(&self, message: &[u8]) {
        if let Ok(mut f) = self.file.lock() {
            let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
            let _ = f
                .write_all(&len.to_be_bytes())
                .and_then(|()| f.write_all(message));
        }
    }
}

/// Reads a file of received messages back, each as its raw bytes; a
/// truncated last entry is left out.
pub fn read_raw_capture(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        let Some((msg, tail)) = tail.split_at_checked(len) else {
            break;
        };
        out.push(msg.to_vec());
        rest = tail;
    }
    out
}

/// Reads an audit file back: every message the node sent, in order. A
/// truncated last entry (the node was stopped mid-write) is an error that
/// says so, after the complete ones.
pub fn read_capture(bytes: &[u8]) -> (Vec<Sent>, Option<String>) {
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
        // Taken as an answer when it decodes as one: of the bodies, only
        // `Hello` is both, and it is the same either way.
        match cbor4ii::serde::from_slice::<Response>(msg) {
            Ok(r) => out.push(Sent::Answer(r)),
            Err(answer) => match cbor4ii::serde::from_slice::<Request>(msg) {
                Ok(r) => out.push(Sent::Request(r)),
                Err(request) => {
                    return (
                        out,
                        Some(format!(
                            "an undecodable message (as an answer: {answer}; as a request: {request})"
                        )),
                    );
                }
            },
        }
        rest = tail;
    }
    (out, None)
}

//! The replication wire protocol, `/elo/sync/1`: one request, one response,
//! CBOR-encoded, with size limits checked by the codec before decoding.
//!
//! The exchange, from the puller's side:
//! 1. `Hello` both ways on connect: group, company, latest sequence number.
//! 2. `ChangesSince { since, limit }` walks the other node's change log from
//!    the checkpoint kept for it: (doc id, heads, seq) per changed document,
//!    compressed whole as `PackedChanges` when the asker says it reads them.
//! 3. `Fetch { docs: [(id, heads I have)] }` asks only for documents whose
//!    heads differ; `Docs` carries the automerge changes the asker lacks (the
//!    whole saved document when it has nothing), compressed whole as
//!    `PackedDocs` when the asker says it reads them. Several fetches in flight.
//! 4. The checkpoint advances only after the fetched documents are committed.
//! 5. `Announce { latest_seq }` says "I have something new": pull again.
//!    Between members already in step it carries the new part of the log
//!    itself ([`Push`]: the entries and the small documents), so the
//!    receiver stores them without asking; it pulls only what it cannot
//!    take from the push (a gap before it, a document left out).
//!
//! A peer outside the roster may send only `Join`. Every message carries the
//! protocol version; a node refuses, with a reason, a version it does not
//! speak, and a message that fails to decode closes that stream only.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// The protocol id, versioned.
pub const PROTOCOL: &str = "/elo/sync/1";
/// The message version this build speaks.
pub const VERSION: u32 = 1;
/// Largest request accepted (checked before decoding).
pub const MAX_REQUEST_BYTES: u64 = 1024 * 1024;
/// Largest response accepted (checked before decoding).
pub const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Most change-log entries in one `Changes` answer.
pub const MAX_CHANGES_PER_PAGE: u32 = 2000;
/// Most documents asked for in one `Fetch`.
pub const MAX_DOCS_PER_FETCH: usize = 500;

/// A request with its version.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    pub body: RequestBody,
}

/// A response with its version.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Response {
    pub version: u32,
    pub body: ResponseBody,
}

/// What one node asks another.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum RequestBody {
    Hello(Hello),
    ChangesSince {
        since: u64,
        limit: u32,
        /// The asker reads `PackedChanges` (see [`crate::packed_docs`]); a
        /// node of an earlier version leaves it out and is answered
        /// `Changes`.
        #[serde(default)]
        packed: bool,
    },
    Fetch {
        docs: Vec<FetchDoc>,
        /// The asker reads `PackedDocs` (see [`crate::packed_docs`]); a node
        /// of an earlier version leaves it out and is answered `Docs`.
        #[serde(default)]
        packed: bool,
    },
    Announce {
        latest_seq: u64,
        /// "Walk my log again from the start": what you may have from me
        /// widened (you authorised more, or receive more), so records
        /// skipped before are now yours.
        #[serde(default)]
        rescan: bool,
        /// The sender's log after what it last told this member, carried
        /// along (absent from older nodes, and when the receiver is to pull).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        push: Option<Box<Push>>,
    },
    Join(JoinRequest),
    /// A member removed `removed` from the group and moved it to a new
    /// group secret: store it, and change the private-network key. Sent
    /// only over the members' encrypted streams.
    Rekey {
        secret: String,
        removed: String,
    },
    /// A message of the primary election and ID-range protocol. The
    /// network carries it opaque (JSON bytes the node decodes, within the
    /// request size limit); the answer is `Ack`, and the protocol itself
    /// retransmits what is lost.
    Primary {
        message: ByteBuf,
    },
    /// Walks the other node's stock log (single-writer stock figures, see
    /// elo-node's `store::stock`) from the checkpoint kept for it.
    StockSince {
        since: u64,
        limit: u32,
    },
    /// Escrow credit: "hand me up to `amount` (cents) of your rights to
    /// this customer's credit". Answered with `CreditGiven`.
    CreditRights {
        customer: String,
        amount: i64,
    },
    /// A linked sales order, whole (an automerge document both ends of
    /// the link edit), sent only to the other end of its link, never to
    /// any other member. `key` is the order's key at the sender. The
    /// receiver merges it (or, the first time, creates its own order for
    /// it) and answers `OrderTaken` with its own key; sending it again
    /// changes nothing, so a lost answer is repaired by sending again.
    Order {
        link: String,
        key: String,
        doc: ByteBuf,
    },
}

/// What it answers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ResponseBody {
    Hello(Hello),
    Changes {
        entries: Vec<ChangeSummary>,
        /// The answering node's latest sequence number.
        latest_seq: u64,
        /// The last sequence number this page covers. Entries the asker may
        /// not have (categories it does not receive) are left out, so this
        /// can be past the last entry; 0 from a node that does not say.
        #[serde(default)]
        through: u64,
    },
    /// `Changes`, compressed whole (see [`crate::packed_docs`]): the zstd
    /// frame holds a [`ChangesPage`].
    PackedChanges {
        zstd: ByteBuf,
    },
    Docs {
        docs: Vec<DocBytes>,
    },
    /// `Docs`, compressed whole (see [`crate::packed_docs`]).
    PackedDocs {
        zstd: ByteBuf,
    },
    Ack,
    Stock {
        entries: Vec<StockFigures>,
        /// The last stock sequence number this page covers (entries the
        /// asker may not have are left out).
        through: u64,
        /// The answering node's last stock sequence number.
        latest: u64,
    },
    /// How much of the rights asked for were handed over (already written
    /// at the giver, arriving with its document).
    CreditGiven {
        amount: i64,
    },
    Joined(Box<JoinAccepted>),
    /// The linked order is stored at the receiver under `key`.
    OrderTaken {
        key: String,
    },
    Refused {
        reason: String,
    },
}

/// One company's stock of one SKU in one deposit, as the owner last wrote
/// it; `version` orders a company's writes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StockFigures {
    pub sku: String,
    pub company: String,
    pub deposit: String,
    pub quantity: i64,
    pub reserved: i64,
    pub version: u64,
    pub updated_ms: i64,
}

/// Most stock entries in one `Stock` answer.
pub const MAX_STOCK_PER_PAGE: u32 = 5000;

/// Who a node is, and how far its change log goes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hello {
    pub group: String,
    pub company: String,
    pub latest_seq: u64,
}

/// Most change-log entries one announcement carries; a longer stretch of
/// the log is left to a pull.
pub const MAX_PUSH_ENTRIES: u32 = 200;

/// A stretch of the sender's change log, `(after, through]`, as a page of
/// `Changes` lists it (entries the receiver may not have left out), with
/// the documents of its entries as a `Fetch` would send them (whole), as
/// far as they fit: an entry whose document is not carried is fetched.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Push {
    pub after: u64,
    pub through: u64,
    pub entries: Vec<ChangeSummary>,
    pub docs: Vec<DocBytes>,
    /// The sender's last stock sequence number: the receiver walks the
    /// stock log when it is past its checkpoint.
    pub stock_latest: u64,
}

/// One changed document in the other node's log.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChangeSummary {
    pub id: String,
    pub heads: Vec<ByteBuf>,
    pub seq: u64,
    /// The companies that created the record (CNPJs joined by `,`; a
    /// part's record for a part), sent when the asker keeps some company
    /// out: it decides from them whether to fetch the record at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origins: Option<String>,
}

/// A page of the change log as a `PackedChanges` answer holds it: the
/// fields of `Changes`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChangesPage {
    pub entries: Vec<ChangeSummary>,
    pub latest_seq: u64,
    pub through: u64,
}

/// A document asked for, with the heads the asker already has.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FetchDoc {
    pub id: String,
    pub have: Vec<ByteBuf>,
}

/// A document's bytes: a whole saved document in `bytes`, or the automerge
/// changes the asker lacks, one per entry of `changes` (then `bytes` is
/// empty), in causal order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DocBytes {
    pub id: String,
    pub bytes: ByteBuf,
    #[serde(default)]
    pub changes: Vec<ByteBuf>,
}

/// A new company asking to join with a one-time secret from an invite.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JoinRequest {
    pub secret: String,
    pub company: String,
    pub name: String,
    pub addrs: Vec<String>,
}

/// The group a joining company was admitted to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JoinAccepted {
    pub group: String,
    pub primary: String,
    pub term: u64,
    /// The member that admitted it.
    pub admitted_by: String,
}

impl Request {
    pub fn new(body: RequestBody) -> Request {
        Request {
            version: VERSION,
            body,
        }
    }
}

impl Response {
    pub fn new(body: ResponseBody) -> Response {
        Response {
            version: VERSION,
            body,
        }
    }

    pub fn refused(reason: impl Into<String>) -> Response {
        Response::new(ResponseBody::Refused {
            reason: reason.into(),
        })
    }
}

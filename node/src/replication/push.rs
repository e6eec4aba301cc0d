//! Changes carried in the announcement itself. A member already in step
//! with this node's log (it was told up to some sequence number, and
//! nothing failed since) is sent the log after that number with the
//! documents of its entries, so it stores them at once instead of asking
//! for a page and then for the documents: one message instead of three
//! round trips, which is what keeps a write in a mesh of twenty companies
//! within tens of milliseconds.
//!
//! The stretch is built from the very answers a pull gets ([`serve`]), so
//! the same sharing rules decide what goes. The receiver stores it through
//! the same path as a pull ([`RecordLog::store_received`]) and moves its
//! checkpoint in the same transaction. Whatever it cannot take from the
//! push (a gap before it, a document not carried) it leaves to a pull: a
//! push only ever saves work, it never replaces the walk.

use elo_crdt::DocId;
use elo_net::PeerId;
use elo_net::protocol::{
    ChangeSummary, DocBytes, FetchDoc, MAX_PUSH_ENTRIES, Push, RequestBody, ResponseBody,
};

use super::error::PullError;
use super::link::{Link, parse_heads};
use super::log::Source;
use super::pull::{RecordLog, payload_of};
use super::serve::{self, Serving};
use crate::group::Roster;
use crate::store::{ReplicatedLog, StoreError, WriteOp};

/// Most document bytes one announcement carries; the entries past them go
/// without their document (the receiver fetches those). Well under the
/// request limit (`elo_net::protocol::MAX_REQUEST_BYTES`).
const MAX_PUSH_DOC_BYTES: usize = 256 * 1024;

/// How far a member was told of this node's logs, over its connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Told {
    pub records: u64,
    pub stock: u64,
}

/// The announcement for `peer`, and how far it tells of this node's logs;
/// `None` when there is nothing the member was not told. `told`: how far
/// it was told before, over this connection; `None` (just connected, or
/// the last announcement failed) makes a plain announcement, after which
/// the member walks the logs itself.
pub(super) async fn announcement(
    serving: &Serving,
    roster: &Roster,
    peer: PeerId,
    told: Option<Told>,
) -> Result<Option<(RequestBody, Told)>, StoreError> {
    let latest_seq = serving.store.last_seq().await?;
    let (_, stock_latest) = serving.store.stock_since(u64::MAX, 1).await?;
    let now = Told {
        records: latest_seq,
        stock: stock_latest,
    };
    let plain = RequestBody::Announce {
        latest_seq,
        rescan: false,
        push: None,
    };
    let Some(Told { records: after, .. }) = told else {
        return Ok(Some((plain, now)));
    };
    if told == Some(now) {
        return Ok(None);
    }
    // A member that keeps some company out decides from the creators
    // which records to fetch at all: its pull does that.
    let too_far = latest_seq.saturating_sub(after) > u64::from(MAX_PUSH_ENTRIES);
    if too_far || roster.send_policy(peer).lists_origins() || after > latest_seq {
        return Ok(Some((plain, now)));
    }
    let page = RequestBody::ChangesSince {
        since: after,
        limit: MAX_PUSH_ENTRIES,
        packed: false,
    };
    let (entries, through) = match serve::answer(serving, roster, peer, page).await {
        ResponseBody::Changes {
            entries, through, ..
        } => (entries, through.max(after)),
        _ => return Ok(Some((plain, now))),
    };
    let docs = carried_docs(serving, roster, peer, &entries).await;
    let push = Push {
        after,
        through,
        entries,
        docs,
        stock_latest,
    };
    let body = RequestBody::Announce {
        latest_seq,
        rescan: false,
        push: Some(Box::new(push)),
    };
    let told = Told {
        records: through,
        stock: stock_latest,
    };
    Ok(Some((body, told)))
}

/// The entries' documents, whole, as a fetch of them would answer.
async fn carried_docs(
    serving: &Serving,
    roster: &Roster,
    peer: PeerId,
    entries: &[ChangeSummary],
) -> Vec<DocBytes> {
    if entries.is_empty() {
        return Vec::new();
    }
    let wanted = entries
        .iter()
        .map(|e| FetchDoc {
            id: e.id.clone(),
            have: Vec::new(),
        })
        .collect();
    // Not packed: the announcement is encoded as it is, and a push is small.
    let fetch = RequestBody::Fetch {
        docs: wanted,
        packed: false,
    };
    match serve::answer(serving, roster, peer, fetch).await {
        ResponseBody::Docs { docs } => within_push_limit(docs),
        _ => Vec::new(),
    }
}

/// The documents that fit in one announcement, in order.
fn within_push_limit(docs: Vec<DocBytes>) -> Vec<DocBytes> {
    let mut size = 0usize;
    docs.into_iter()
        .take_while(|d| {
            size += 64 + d.bytes.len() + d.changes.iter().map(|c| c.len() + 8).sum::<usize>();
            size <= MAX_PUSH_DOC_BYTES
        })
        .collect()
}

/// What came of a push.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Taken {
    /// Records (documents) stored.
    pub stored: u64,
    /// The checkpoint of the member's record log now, if the push moved it.
    pub checkpoint: Option<u64>,
    /// Something is left for a pull: the push did not follow on from the
    /// checkpoint, left a document out, stopped short of the member's
    /// latest, or its stock log moved.
    pub pull: bool,
}

/// Stores what `member`'s push carries and moves the checkpoint past it,
/// in one write. Asks the member nothing.
pub(crate) async fn take<L: Link>(
    from: &Source<L>,
    member: &str,
    latest_seq: u64,
    push: &Push,
) -> Result<Taken, PullError> {
    let store = &from.store;
    let key = from.peer.to_string();
    let checkpoint = store
        .checkpoint(ReplicatedLog::Records, key.clone())
        .await?;
    let stock = store.checkpoint(ReplicatedLog::Stock, key.clone()).await?;
    let mut taken = Taken {
        pull: push.stock_latest > stock || push.through < latest_seq,
        ..Taken::default()
    };
    if push.after > checkpoint {
        // Something before the push was not stored here: the walk does it.
        taken.pull = true;
        return Ok(taken);
    }
    if push.through <= checkpoint {
        return Ok(taken);
    }
    let fresh: Vec<&ChangeSummary> = push.entries.iter().filter(|e| e.seq > checkpoint).collect();
    let Some(received) = received(from, &fresh, &push.docs).await? else {
        taken.pull = true;
        return Ok(taken);
    };
    let moved = WriteOp::Checkpoint {
        log: ReplicatedLog::Records,
        peer: key,
        seq: push.through,
    };
    let log = RecordLog::new(from, member);
    // The checkpoint is one of the write's operations, not a record.
    taken.stored = log
        .store_received(vec![moved], received)
        .await?
        .saturating_sub(1);
    taken.checkpoint = Some(push.through);
    Ok(taken)
}

/// The carried documents this node lacks, as a pull would have fetched
/// them; `None` if one of them is not carried (the walk fetches it).
async fn received<L: Link>(
    from: &Source<L>,
    entries: &[&ChangeSummary],
    docs: &[DocBytes],
) -> Result<Option<Vec<(DocId, elo_crdt::DocPayload, bool)>>, PullError> {
    if entries.iter().any(|e| e.origins.is_some()) {
        return Ok(None);
    }
    let ids = entries.iter().map(|e| e.id.clone()).collect();
    let held = from.store.heads_of(ids).await?;
    let mut out = Vec::new();
    for (entry, mine) in entries.iter().zip(held) {
        let theirs =
            parse_heads(&entry.heads).ok_or_else(|| PullError::MalformedHeads(entry.id.clone()))?;
        let Some(id) = DocId::parse(&entry.id).filter(|id| from.policy.covers_doc(id)) else {
            continue;
        };
        let mine = mine.unwrap_or_default();
        if mine.len() == theirs.len() && theirs.iter().all(|h| mine.contains(h)) {
            continue;
        }
        let carried = docs.iter().find(|d| d.id == entry.id).cloned();
        let Some(payload) = carried.and_then(payload_of) else {
            return Ok(None);
        };
        out.push((id, payload, mine.is_empty()));
    }
    Ok(Some(out))
}

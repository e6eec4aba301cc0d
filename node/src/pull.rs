//! The pull loop: walk a member's change log from the checkpoint kept for
//! it and bring over what differs. Used by the running mesh and by
//! `elo join` alike.
//!
//! Pipelined, because a round trip per page would dominate: the member's log
//! is read page by page, each page's differing documents are split into
//! fetches, and up to [`FETCHES_IN_FLIGHT`] fetches (across pages) are in
//! flight at once. Each fetch checks and prepares its documents on the
//! blocking pool (so two cores share the work) and hands them to the store.
//! Results are consumed in order, so when a page's last fetch is consumed
//! every document of that page and the pages before it is committed; only
//! then does the checkpoint move to the page's end.

use std::collections::HashMap;

use elo_crdt::{ChangeHash, DocId};
use elo_net::protocol::{
    FetchDoc, MAX_CHANGES_PER_PAGE, MAX_DOCS_PER_FETCH, RequestBody, ResponseBody,
};
use elo_net::{NetClient, PeerId};
use futures::TryStreamExt;
use serde_bytes::ByteBuf;

use crate::store::{ReceivedDoc, ReplicatedLog, StoreHandle, WriteOp};
use elo_crdt::{DocPayload, RecordDoc, Sharing};

use crate::membership::Authorizations;

/// Fetch requests in flight per member.
pub const FETCHES_IN_FLIGHT: usize = 6;

pub(crate) fn heads_bytes(heads: &[ChangeHash]) -> Vec<ByteBuf> {
    heads.iter().map(|h| ByteBuf::from(h.0.to_vec())).collect()
}

pub(crate) fn parse_heads(heads: &[ByteBuf]) -> Option<Vec<ChangeHash>> {
    heads
        .iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()).ok().map(ChangeHash))
        .collect()
}

/// What this company accepts from members: the categories it receives
/// and, unless it authorises every member for everything, whose changes
/// (`elo authorize`). Checked again on receipt, whatever the sender did.
#[derive(Clone, Debug)]
pub struct ReceivePolicy {
    pub receives: Sharing,
    /// `None`: every author is accepted (the roster is all authorised, or
    /// this is a join's first load).
    pub authorizes: Option<Authorizations>,
}

impl ReceivePolicy {
    /// Accepts everything: a new member's first load from its admitter.
    pub fn everything() -> ReceivePolicy {
        ReceivePolicy {
            receives: Sharing::all(),
            authorizes: None,
        }
    }

    /// Why a received document must not be stored, if it must not.
    fn refuses(&self, id: &DocId, payload: &DocPayload) -> Option<String> {
        let authorizes = self.authorizes.as_ref()?;
        let category = id.category();
        match RecordDoc::authors_of(payload) {
            Err(e) => Some(e.to_string()),
            Ok(authors) => authors
                .into_iter()
                .find(|a| !a.as_deref().is_some_and(|a| authorizes.allows(a, category)))
                .map(|a| {
                    format!(
                        "it holds a change by {} in {}, which this company has not authorised",
                        a.as_deref().unwrap_or("an unnamed company"),
                        category.as_str()
                    )
                }),
        }
    }
}

/// One unit of work: a fetch of some documents of a page, and, on the
/// page's last unit, the checkpoint the page ends at.
struct Job {
    docs: Vec<FetchDoc>,
    checkpoint: Option<u64>,
    latest: u64,
}

/// Walks `peer`'s change log from its checkpoint until caught up; `member`
/// (its company's CNPJ) is recorded as where the changes came from. Returns
/// how many documents were received. `progress(their_latest, checkpoint,
/// docs)` hears about each finished page.
pub async fn pull_from(
    net: &NetClient,
    store: &StoreHandle,
    peer: PeerId,
    member: &str,
    policy: &ReceivePolicy,
    mut progress: impl FnMut(u64, u64, u64),
) -> Result<u64, String> {
    let receives = &policy.receives;
    let peer_key = peer.to_string();
    let since = store
        .checkpoint(ReplicatedLog::Records, peer_key.clone())
        .await
        .map_err(|e| e.to_string())?;
    // The member's log, page by page, as a stream of jobs. The closures own
    // clones of the handles: borrowed ones trip the compiler's lifetime
    // inference when the whole loop is spawned.
    let (page_net, page_store, page_receives) = (net.clone(), store.clone(), receives.clone());
    let pages = futures::stream::try_unfold(Some(since), move |cursor| {
        let (net, store, receives) = (page_net.clone(), page_store.clone(), page_receives.clone());
        async move {
            let Some(since) = cursor else { return Ok(None) };
            let answer = net
                .request(
                    peer,
                    RequestBody::ChangesSince {
                        since,
                        limit: MAX_CHANGES_PER_PAGE,
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            let ResponseBody::Changes {
                entries,
                latest_seq,
                through,
            } = answer
            else {
                return Err(
                    "the member answered a change-log request with something else".to_string(),
                );
            };
            // How far this page goes: past its last entry when the member
            // left out records this company may not have.
            let Some(last) = entries
                .last()
                .map(|e| e.seq.max(through))
                .or((through > since).then_some(through))
            else {
                return Ok(Some((
                    vec![Job {
                        docs: Vec::new(),
                        checkpoint: None,
                        latest: latest_seq,
                    }],
                    None,
                )));
            };
            if entries.iter().any(|e| e.seq <= since) {
                return Err("the member sent change-log entries older than asked".to_string());
            }
            let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
            let local = store.heads_of(ids).await.map_err(|e| e.to_string())?;
            let mut need = Vec::new();
            for (entry, mine) in entries.iter().zip(local) {
                let theirs = parse_heads(&entry.heads)
                    .ok_or_else(|| format!("malformed heads for {}", entry.id))?;
                let mine = mine.unwrap_or_default();
                let same = mine.len() == theirs.len() && theirs.iter().all(|h| mine.contains(h));
                let Some(id) = DocId::parse(&entry.id) else {
                    continue;
                };
                if !receives.covers_doc(&id) {
                    tracing::debug!(id = %entry.id, "not fetching a record of a category this company does not receive");
                    continue;
                }
                if !same {
                    need.push(FetchDoc {
                        id: entry.id.clone(),
                        have: heads_bytes(&mine),
                    });
                }
            }
            let mut jobs: Vec<Job> = need
                .chunks(MAX_DOCS_PER_FETCH)
                .map(|c| Job {
                    docs: c.to_vec(),
                    checkpoint: None,
                    latest: latest_seq,
                })
                .collect();
            if jobs.is_empty() {
                jobs.push(Job {
                    docs: Vec::new(),
                    checkpoint: None,
                    latest: latest_seq,
                });
            }
            if let Some(j) = jobs.last_mut() {
                j.checkpoint = Some(last);
            }
            let next = (last < latest_seq).then_some(last);
            Ok(Some((jobs, next)))
        }
    });
    let results = pages
        .map_ok(|jobs| futures::stream::iter(jobs.into_iter().map(Ok::<Job, String>)))
        .try_flatten()
        .map_ok(|job| {
            fetch_and_store(
                net.clone(),
                store.clone(),
                peer,
                member.to_string(),
                policy.clone(),
                job,
            )
        })
        .try_buffered(FETCHES_IN_FLIGHT);
    futures::pin_mut!(results);
    let mut received = 0;
    let mut page_docs = 0;
    while let Some((got, checkpoint, latest)) = results.try_next().await? {
        received += got;
        page_docs += got;
        if let Some(seq) = checkpoint {
            // Every document up to this page's end is committed (results come
            // in order): the checkpoint may move.
            store
                .write(vec![WriteOp::Checkpoint {
                    log: ReplicatedLog::Records,
                    peer: peer_key.clone(),
                    seq,
                }])
                .await
                .map_err(|e| e.to_string())?;
            progress(latest, seq, page_docs);
            page_docs = 0;
        } else if got == 0 {
            progress(latest, since, 0);
        }
    }
    Ok(received)
}

/// Fetches one job's documents, checks and prepares them off the async
/// threads, and stores them. Returns (documents stored, checkpoint, latest).
async fn fetch_and_store(
    net: NetClient,
    store: StoreHandle,
    peer: PeerId,
    origin: String,
    policy: ReceivePolicy,
    job: Job,
) -> Result<(u64, Option<u64>, u64), String> {
    if job.docs.is_empty() {
        return Ok((0, job.checkpoint, job.latest));
    }
    // What was asked for, and whether this node had nothing of it (then a
    // whole document comes back).
    let asked: HashMap<String, bool> = job
        .docs
        .iter()
        .map(|d| (d.id.clone(), d.have.is_empty()))
        .collect();
    // A member answers with as many documents as fit in one message; ask
    // again for the rest, so no document of the page is skipped.
    let mut pending: Vec<FetchDoc> = job.docs;
    let mut wanted = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let answer = net
            .request(
                peer,
                RequestBody::Fetch {
                    docs: pending.clone(),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        let ResponseBody::Docs { docs } = answer else {
            return Err("the member answered a fetch with something else".to_string());
        };
        if docs.is_empty() {
            let missing: Vec<&str> = pending.iter().map(|d| d.id.as_str()).take(3).collect();
            return Err(format!(
                "the member did not send documents it listed, such as {missing:?}"
            ));
        }
        let mut answered = std::collections::HashSet::new();
        for d in docs {
            // Only what was asked for, with a well-formed id, reaches the store.
            match (DocId::parse(&d.id), asked.get(&d.id)) {
                (Some(id), Some(_)) if d.bytes.is_empty() && d.changes.is_empty() => {
                    // The member holds nothing of it this company may have.
                    answered.insert(d.id.clone());
                    tracing::debug!(%peer, %id, "the member withheld a document");
                }
                (Some(id), Some(_)) if !policy.receives.covers_doc(&id) => {
                    answered.insert(d.id.clone());
                    tracing::warn!(%peer, %id, "dropped a document of a category this company does not receive");
                }
                (Some(id), Some(whole)) => {
                    answered.insert(d.id.clone());
                    let payload = if d.changes.is_empty() {
                        DocPayload::Whole(d.bytes.into_vec())
                    } else {
                        DocPayload::Changes(d.changes.into_iter().map(ByteBuf::into_vec).collect())
                    };
                    wanted.push((id, payload, *whole));
                }
                _ => tracing::warn!(%peer, id = %d.id, "dropped a document that was not asked for"),
            }
        }
        pending.retain(|d| !answered.contains(&d.id));
    }
    let prepare_store = store.clone();
    let ops = tokio::task::spawn_blocking(move || {
        let mut ops = Vec::with_capacity(wanted.len());
        for (id, payload, whole) in wanted {
            if let Some(reason) = policy.refuses(&id, &payload) {
                tracing::warn!(%peer, %id, "dropped a received document: {reason}");
                continue;
            }
            let op = match (whole, payload) {
                (true, DocPayload::Whole(bytes)) => ReceivedDoc::check(&id, &bytes).map(|c| {
                    Some(WriteOp::Merge {
                        id: id.clone(),
                        bytes,
                        origin: origin.clone(),
                        checked: Some(c),
                    })
                }),
                // Merged with the stored document here, in parallel; the
                // store keeps the result only if nothing changed meanwhile.
                (_, payload) => prepare_store.prepare_merge(&id, payload, &origin),
            };
            match op {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => {}
                Err(e) => tracing::warn!(%peer, "refused a received document: {e}"),
            }
        }
        ops
    })
    .await
    .map_err(|e| e.to_string())?;
    let n = ops.len() as u64;
    for r in store.write(ops).await.map_err(|e| e.to_string())? {
        if let Err(e) = r {
            tracing::warn!(%peer, "a received document was refused: {e}");
        }
    }
    Ok((n, job.checkpoint, job.latest))
}

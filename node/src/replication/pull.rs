//! The record log as a puller walks it: each page of a member's change log
//! is compared with the heads held here, and the documents that differ are
//! fetched (many per message, several messages in flight), checked and
//! prepared on the blocking pool (so two cores share the work), and handed
//! to the store's merge. Used by the running node and by `elo join` alike.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use elo_crdt::{DocId, DocPayload};
use elo_net::protocol::{
    ChangeSummary, ChangesPage, FetchDoc, MAX_CHANGES_PER_PAGE, MAX_DOCS_PER_FETCH, RequestBody,
    ResponseBody,
};
use serde_bytes::ByteBuf;

use super::error::PullError;
use super::link::{Link, ask, fetch_docs, heads_bytes, parse_heads};
use super::log::{Log, Page, Progress, Source, walk};
use crate::store::{ReplicatedLog, WriteOp};

/// Fetch requests in flight per member.
pub const FETCHES_IN_FLIGHT: usize = 6;

/// A member's record log, seen from here.
#[derive(Clone)]
pub(crate) struct RecordLog<L> {
    from: Source<L>,
    /// The member's CNPJ: recorded as where the changes came from.
    origin: Arc<str>,
}

/// Walks the member's change log from its checkpoint until caught up;
/// `member` (its company's CNPJ) is recorded as where the changes came
/// from. Returns how many documents were received.
pub async fn pull_records<L: Link>(
    from: &Source<L>,
    member: &str,
    progress: impl FnMut(Progress),
) -> Result<u64, PullError> {
    let log = RecordLog::new(from, member);
    let taken = log.fetch_withheld().await?;
    Ok(taken + walk(log, &from.store, &from.peer.to_string(), progress).await?)
}

impl<L: Link> Log for RecordLog<L> {
    type Work = Vec<FetchDoc>;
    const NAME: ReplicatedLog = ReplicatedLog::Records;
    const IN_FLIGHT: usize = FETCHES_IN_FLIGHT;

    async fn page(&self, since: u64) -> Result<Page<Vec<FetchDoc>>, PullError> {
        let body = RequestBody::ChangesSince {
            since,
            limit: MAX_CHANGES_PER_PAGE,
            packed: true,
        };
        let ChangesPage {
            entries,
            latest_seq,
            through,
        } = ask(
            &self.from.link,
            self.from.peer,
            body,
            "change-log",
            ResponseBody::changes_page,
        )
        .await??;
        // How far this page goes: past its last entry when the member left
        // out records this company may not have.
        let Some(last) = entries
            .last()
            .map(|e| e.seq.max(through))
            .or((through > since).then_some(through))
        else {
            return Ok(Page {
                work: Vec::new(),
                through: None,
                latest: latest_seq,
            });
        };
        if entries.iter().any(|e| e.seq <= since) {
            return Err(PullError::OlderThanAsked);
        }
        let need = self.differing(&entries).await?;
        Ok(Page {
            work: need.chunks(MAX_DOCS_PER_FETCH).map(<[_]>::to_vec).collect(),
            through: Some(last),
            latest: latest_seq,
        })
    }

    async fn work(&self, docs: Vec<FetchDoc>) -> Result<u64, PullError> {
        let received = self.fetch(docs).await?;
        self.store_received(Vec::new(), received).await
    }
}

impl<L: Link> RecordLog<L> {
    /// `member`'s log (its company's CNPJ) through `from`.
    pub(super) fn new(from: &Source<L>, member: &str) -> Self {
        RecordLog {
            from: from.clone(),
            origin: Arc::from(member),
        }
    }

    /// Asks the member for what was withheld here before and is taken in
    /// now: the company took its creator in since, or came to hold the
    /// record another way (it created it too), so this member's changes
    /// and the record's parts are owed. The member answers with what it holds
    /// of them; the checkpoint has passed them, so no walk would bring them.
    async fn fetch_withheld(&self) -> Result<u64, PullError> {
        let member = self.from.peer.to_string();
        let noted = self.from.store.withheld_documents(member.clone()).await?;
        if noted.is_empty() {
            return Ok(0);
        }
        let mut ids: Vec<String> = noted.iter().map(|(id, _)| id.clone()).collect();
        ids.extend(
            noted.iter().map(|(id, _)| {
                DocId::parse(id).map_or_else(String::new, |d| d.record().to_string())
            }),
        );
        let mut heads = self.from.store.heads_of(ids).await?;
        let records_held = heads.split_off(noted.len());
        let owed: Vec<(FetchDoc, bool)> = noted
            .into_iter()
            .zip(heads.into_iter().zip(records_held))
            .filter_map(|((id, origins), (mine, record_held))| {
                let doc = DocId::parse(&id)?;
                let creators: Vec<String> = origins.split(',').map(str::to_owned).collect();
                let taken = record_held.is_some() || self.from.policy.takes(&doc, &creators);
                let have = heads_bytes(mine.as_deref().unwrap_or_default());
                taken.then_some((FetchDoc { id, have }, mine.is_none()))
            })
            .collect();
        let mut taken = 0;
        for chunk in owed.chunks(MAX_DOCS_PER_FETCH) {
            let docs = chunk.iter().map(|(d, _)| d.clone()).collect();
            let answer = fetch_docs(&self.from.link, self.from.peer, docs).await?;
            let mut received = Vec::new();
            let mut fetched = Vec::new();
            for d in answer {
                let Some((asked, first)) = chunk.iter().find(|(c, _)| c.id == d.id) else {
                    continue;
                };
                let Some(id) = DocId::parse(&asked.id) else {
                    continue;
                };
                // Answered: the member has sent all it holds of it.
                fetched.push(WriteOp::NoLongerWithheld {
                    member: member.clone(),
                    id: id.clone(),
                });
                if let Some(payload) = payload_of(d).filter(|_| self.from.policy.covers_doc(&id)) {
                    received.push((id, payload, *first));
                }
            }
            taken += self.store_received(fetched, received).await?;
        }
        Ok(taken)
    }

    /// The page's documents whose heads differ from the ones held here, of
    /// the categories this company receives and, when the member listed
    /// who created them, of records this company takes in. The records it
    /// does not take are noted as withheld, before the checkpoint passes
    /// them: `elo status` tells what is missing and why.
    async fn differing(&self, entries: &[ChangeSummary]) -> Result<Vec<FetchDoc>, PullError> {
        let policy = &self.from.policy;
        let mut ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
        // Whether a listed record is held here decides for its parts too;
        // asked only when the member listed creators (this company keeps
        // someone out), so the common walk reads no more than before.
        let lists_origins = entries.iter().any(|e| e.origins.is_some());
        if lists_origins {
            ids.extend(entries.iter().map(|e| {
                DocId::parse(&e.id).map_or_else(String::new, |id| id.record().to_string())
            }));
        }
        let mut local = self.from.store.heads_of(ids).await?;
        let mut records_held = local.split_off(entries.len());
        records_held.resize(entries.len(), None);
        let mut need = Vec::new();
        let mut withheld = Vec::new();
        for ((entry, mine), record_held) in entries.iter().zip(local).zip(records_held) {
            let theirs = parse_heads(&entry.heads)
                .ok_or_else(|| PullError::MalformedHeads(entry.id.clone()))?;
            let Some(id) = DocId::parse(&entry.id) else {
                continue;
            };
            if !policy.covers_doc(&id) {
                tracing::debug!(id = %entry.id, "not fetching a record of a category this company does not receive");
                continue;
            }
            if let Some(origins) = &entry.origins {
                let creators: Vec<String> = origins.split(',').map(str::to_owned).collect();
                if record_held.is_none() && !policy.takes(&id, &creators) {
                    withheld.push(WriteOp::Withheld {
                        member: self.from.peer.to_string(),
                        id,
                        origins: origins.clone(),
                    });
                    continue;
                }
            }
            let mine = mine.unwrap_or_default();
            let same = mine.len() == theirs.len() && theirs.iter().all(|h| mine.contains(h));
            if !same {
                need.push(FetchDoc {
                    id: entry.id.clone(),
                    have: heads_bytes(&mine),
                });
            }
        }
        if !withheld.is_empty() {
            self.from.store.write(withheld).await?;
        }
        Ok(need)
    }

    /// Fetches the documents, asking again for what did not fit in one
    /// answer, so no document of the page is skipped. Returns what arrived:
    /// (id, payload, whether this node had nothing of it).
    async fn fetch(&self, docs: Vec<FetchDoc>) -> Result<Vec<Received>, PullError> {
        let peer = self.from.peer;
        let asked: HashMap<String, bool> = docs
            .iter()
            .map(|d| (d.id.clone(), d.have.is_empty()))
            .collect();
        let mut pending = docs;
        let mut received = Vec::with_capacity(pending.len());
        while !pending.is_empty() {
            let docs = fetch_docs(&self.from.link, peer, pending.clone()).await?;
            if docs.is_empty() {
                let missing = pending.iter().map(|d| d.id.clone()).take(3).collect();
                return Err(PullError::MissingDocs(missing));
            }
            let mut answered = HashSet::new();
            for d in docs {
                // Only what was asked for, with a well-formed id, reaches the store.
                let (Some(id), Some(whole)) = (DocId::parse(&d.id), asked.get(&d.id)) else {
                    tracing::warn!(%peer, id = %d.id, "dropped a document that was not asked for (the member's node may be of another elo version: update both to the same)");
                    continue;
                };
                answered.insert(d.id.clone());
                if !self.from.policy.covers_doc(&id) {
                    tracing::warn!(%peer, %id, "dropped a document of a category this company does not receive (nothing to do; `elo share --receive` widens what it takes in)");
                } else if let Some(payload) = payload_of(d) {
                    received.push((id, payload, *whole));
                } else {
                    tracing::debug!(%peer, %id, "the member sent nothing of a document");
                }
            }
            pending.retain(|d| !answered.contains(&d.id));
        }
        Ok(received)
    }

    /// Checks what arrived against this company's policy, prepares the
    /// merges off the async threads, and stores them in one write.
    /// `first` goes in the same write, before them.
    pub(super) async fn store_received(
        &self,
        first: Vec<WriteOp>,
        received: Vec<Received>,
    ) -> Result<u64, PullError> {
        let (peer, store, origin, policy) = (
            self.from.peer,
            self.from.store.clone(),
            self.origin.clone(),
            self.from.policy.clone(),
        );
        let ops = tokio::task::spawn_blocking(move || {
            let mut ops = first;
            ops.reserve(received.len());
            for (id, payload, whole) in received {
                if let Some(origins) = policy.refuses(&id, &payload, whole) {
                    tracing::warn!(%peer, %id, %origins, "withheld a received record: this company keeps its creators out (`elo authorize --from CNPJ` takes them in; `elo status` lists what is withheld)");
                    let member = peer.to_string();
                    ops.push(WriteOp::Withheld { member, id, origins });
                    continue;
                }
                match store.prepare_received(&id, payload, whole, &origin) {
                    Ok(Some(op)) => ops.push(op),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(%peer, "refused a received document: {e}; the rest is stored (the member's node may be of another elo version: update both to the same)"),
                }
            }
            ops
        })
        .await
        .map_err(|e| PullError::Prepare(e.to_string()))?;
        let n = ops
            .iter()
            .filter(|op| {
                !matches!(
                    op,
                    WriteOp::Withheld { .. } | WriteOp::NoLongerWithheld { .. }
                )
            })
            .count() as u64;
        for r in self.from.store.write(ops).await? {
            if let Err(e) = r {
                tracing::warn!(%peer, "a received document was refused: {e}; the rest is stored (if `elo status` shows a store problem, see to the disk; then `elo resync --peer` fetches it again)");
            }
        }
        Ok(n)
    }
}

/// What an answered document carries; `None` when it carries nothing.
pub(super) fn payload_of(d: elo_net::protocol::DocBytes) -> Option<DocPayload> {
    if !d.changes.is_empty() {
        return Some(DocPayload::Changes(
            d.changes.into_iter().map(ByteBuf::into_vec).collect(),
        ));
    }
    (!d.bytes.is_empty()).then(|| DocPayload::Whole(d.bytes.into_vec()))
}

/// A fetched document: id, payload, whether this node had nothing of it.
type Received = (DocId, DocPayload, bool);

//! Answering a member that walks this node's logs: the hello, a page of the
//! change log, the documents it lacks, a page of the stock log. What may go
//! to it is the sender's side of [`crate::group::policy`].

use elo_crdt::{DocId, DocPayload};
use elo_net::PeerId;
use elo_net::protocol::{
    ChangeSummary, ChangesPage, DocBytes, FetchDoc, Hello, MAX_CHANGES_PER_PAGE,
    MAX_DOCS_PER_FETCH, MAX_STOCK_PER_PAGE, RequestBody, ResponseBody, StockFigures,
};
use serde_bytes::ByteBuf;

use super::link::{heads_bytes, parse_heads};
use crate::group::{Roster, SendPolicy};
use crate::store::StoreHandle;

/// Most document bytes in one `Docs` answer (the response limit is
/// `elo_net::protocol::MAX_RESPONSE_BYTES`).
const MAX_DOCS_BYTES: usize = 8 * 1024 * 1024;

/// What a node needs to answer walks of its logs.
#[derive(Clone)]
pub(crate) struct Serving {
    pub store: StoreHandle,
    pub group: String,
    pub company: String,
}

fn refused(reason: impl Into<String>) -> ResponseBody {
    ResponseBody::Refused {
        reason: reason.into(),
    }
}

/// Answers one request of a log walk; anything else is refused.
pub(crate) async fn answer(
    serving: &Serving,
    roster: &Roster,
    peer: PeerId,
    body: RequestBody,
) -> ResponseBody {
    let policy = roster.send_policy(peer);
    let store = &serving.store;
    let answered = match body {
        RequestBody::Hello(_) => hello(serving).await,
        RequestBody::ChangesSince {
            since,
            limit,
            packed,
        } => changes(store, &policy, since, limit)
            .await
            .map(|page| match packed {
                true => elo_net::packed_docs::packed_changes(page),
                false => page.into(),
            }),
        RequestBody::Fetch { docs, packed } => fetch(store, &policy, peer, docs, packed).await,
        RequestBody::StockSince { since, limit } => stock(store, &policy, since, limit).await,
        _ => Ok(refused("not a request of a log walk")),
    };
    answered.unwrap_or_else(|e| refused(e.to_string()))
}

type Answer = Result<ResponseBody, crate::store::StoreError>;

async fn hello(serving: &Serving) -> Answer {
    Ok(ResponseBody::Hello(Hello {
        group: serving.group.clone(),
        company: serving.company.clone(),
        latest_seq: serving.store.last_seq().await?,
    }))
}

/// A page of the change log. What this company does not send, or that
/// member does not receive, is not even listed; `through` tells the member
/// how far the page went anyway. To a member that keeps some company out,
/// each record goes with the companies that created it.
async fn changes(
    store: &StoreHandle,
    policy: &SendPolicy,
    since: u64,
    limit: u32,
) -> Result<ChangesPage, crate::store::StoreError> {
    let limit = limit.clamp(1, MAX_CHANGES_PER_PAGE) as usize;
    let entries = store.changes_since(since, limit).await?;
    let latest_seq = store.last_seq().await?;
    let through = entries.last().map_or(since, |e| e.seq);
    let listed: Vec<_> = entries
        .into_iter()
        .filter(|e| DocId::parse(&e.id).is_some_and(|id| policy.covers_doc(&id)))
        .collect();
    let origins = if policy.lists_origins() {
        let ids = listed.iter().map(|e| e.id.clone()).collect();
        store
            .origins_of(ids)
            .await?
            .into_iter()
            .map(|o| o.map(|o| o.join(",")))
            .collect()
    } else {
        vec![None; listed.len()]
    };
    Ok(ChangesPage {
        through,
        entries: listed
            .into_iter()
            .zip(origins)
            .map(|(e, origins)| ChangeSummary {
                heads: heads_bytes(&e.heads),
                id: e.id,
                seq: e.seq,
                origins,
            })
            .collect(),
        latest_seq,
    })
}

/// The documents a member asked for, as the changes it lacks.
async fn fetch(
    store: &StoreHandle,
    policy: &SendPolicy,
    peer: PeerId,
    docs: Vec<FetchDoc>,
    packed: bool,
) -> Answer {
    if docs.len() > MAX_DOCS_PER_FETCH {
        return Ok(refused(format!(
            "at most {MAX_DOCS_PER_FETCH} documents per fetch"
        )));
    }
    let mut wanted = Vec::with_capacity(docs.len());
    for d in docs {
        if !DocId::parse(&d.id).is_some_and(|id| policy.covers_doc(&id)) {
            tracing::warn!(%peer, id = %d.id, "refused to send a record outside what this company sends or that member receives (nothing to do: `elo share` sets what is sent)");
            continue;
        }
        let Some(have) = parse_heads(&d.have) else {
            return Ok(refused(format!("malformed heads for {}", d.id)));
        };
        wanted.push((d.id, have));
    }
    let docs = within_answer_limit(store.docs_for_peer(wanted).await?);
    if packed {
        // Compressing ~8 MB takes a few milliseconds: off the async threads.
        return tokio::task::spawn_blocking(move || elo_net::packed_docs::packed_answer(docs))
            .await
            .map_err(|_| crate::store::StoreError::Closed);
    }
    Ok(ResponseBody::Docs { docs })
}

/// Keeps the answer well under the response limit (at least one document);
/// the asker asks again for what did not fit.
fn within_answer_limit(docs: Vec<(String, DocPayload)>) -> Vec<DocBytes> {
    let mut size = 0usize;
    docs.into_iter()
        .take_while(|(_, payload)| {
            let first = size == 0;
            size += 64
                + match payload {
                    DocPayload::Whole(b) => b.len(),
                    DocPayload::Changes(c) => c.iter().map(|b| b.len() + 8).sum(),
                };
            first || size <= MAX_DOCS_BYTES
        })
        .map(|(id, payload)| match payload {
            DocPayload::Whole(bytes) => DocBytes {
                id,
                bytes: ByteBuf::from(bytes),
                changes: Vec::new(),
            },
            DocPayload::Changes(changes) => DocBytes {
                id,
                bytes: ByteBuf::new(),
                changes: changes.into_iter().map(ByteBuf::from).collect(),
            },
        })
        .collect()
}

/// A page of the stock log, with the figures the member may have: all of
/// them, or none when it does not receive products.
async fn stock(store: &StoreHandle, policy: &SendPolicy, since: u64, limit: u32) -> Answer {
    let limit = limit.clamp(1, MAX_STOCK_PER_PAGE) as usize;
    let sends = policy.covers_stock();
    let (entries, latest) = store.stock_since(since, limit).await?;
    Ok(ResponseBody::Stock {
        through: entries.last().map_or(latest.max(since), |(seq, _)| *seq),
        entries: entries
            .into_iter()
            .map(|(_, e)| e)
            .filter(|_| sends)
            .map(|e| StockFigures {
                sku: e.sku,
                company: e.company,
                deposit: e.deposit,
                quantity: e.quantity,
                reserved: e.reserved,
                version: e.version,
                updated_ms: e.updated_ms,
            })
            .collect(),
        latest,
    })
}

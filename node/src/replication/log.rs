//! What every replicated log shares: a member's log is walked page by page
//! from the checkpoint kept for it, each page's work is done with several
//! units in flight, and the checkpoint moves past a page only once all its
//! work (and every page before it) is committed. The record log and the
//! stock log plug into this one walker; so will the logs to come.
//!
//! A crash or a failed request repeats work, never skips it.

use std::future::Future;

use std::sync::Arc;

use elo_net::PeerId;
use futures::TryStreamExt;

use super::error::PullError;
use crate::group::ReceivePolicy;
use crate::store::{ReplicatedLog, StoreHandle, WriteOp};

/// The member a walk pulls from, the store it lands in, and what this
/// company accepts from members.
#[derive(Clone)]
pub struct Source<L> {
    pub link: L,
    pub store: StoreHandle,
    pub peer: PeerId,
    pub policy: Arc<ReceivePolicy>,
}

impl<L: Clone> Source<L> {
    pub fn new(link: &L, store: &StoreHandle, peer: PeerId, policy: &ReceivePolicy) -> Self {
        Source {
            link: link.clone(),
            store: store.clone(),
            peer,
            policy: Arc::new(policy.clone()),
        }
    }
}

/// One page of a member's log, as its puller understands it.
pub(crate) struct Page<W> {
    /// The work the page needs done, in order (may be empty).
    pub work: Vec<W>,
    /// How far the page goes: the checkpoint once its work is done. `None`:
    /// nothing new past the checkpoint, the walk is over.
    pub through: Option<u64>,
    /// The member's latest sequence number, as it answered.
    pub latest: u64,
}

/// A log a member can be pulled from.
pub(crate) trait Log: Clone + Send + Sync + 'static {
    /// One unit of a page's work (a fetch of some documents, a batch of
    /// stock figures to store).
    type Work: Send + 'static;
    /// Which checkpoint the walk keeps.
    const NAME: ReplicatedLog;
    /// Units in flight at once, across pages.
    const IN_FLIGHT: usize;

    /// Reads the page of the member's log after `since`.
    fn page(&self, since: u64) -> impl Future<Output = Result<Page<Self::Work>, PullError>> + Send;

    /// Does one unit; resolves to how many records or figures it stored.
    fn work(&self, unit: Self::Work) -> impl Future<Output = Result<u64, PullError>> + Send;
}

/// How a walk is going, after each page.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub their_latest: u64,
    pub checkpoint: u64,
    /// Stored since the last report.
    pub stored: u64,
}

/// A unit of work tagged with where its page ends, on the page's last unit.
struct Unit<W> {
    work: Option<W>,
    checkpoint: Option<u64>,
    latest: u64,
}

/// Walks the member's log from its checkpoint (kept under `member_key`)
/// until caught up. Returns how much was stored.
pub(crate) async fn walk<L: Log>(
    log: L,
    store: &StoreHandle,
    member_key: &str,
    mut progress: impl FnMut(Progress),
) -> Result<u64, PullError> {
    let since = store.checkpoint(L::NAME, member_key.to_owned()).await?;
    let pager = log.clone();
    let pages = futures::stream::try_unfold(Some(since), move |cursor| {
        let log = pager.clone();
        async move {
            let Some(since) = cursor else {
                return Ok::<_, PullError>(None);
            };
            let page = log.page(since).await?;
            let next = page.through.filter(|t| *t < page.latest);
            Ok(Some((units_of(page), next)))
        }
    });
    let worker = log.clone();
    let results = pages
        .map_ok(|units| futures::stream::iter(units.into_iter().map(Ok::<_, PullError>)))
        .try_flatten()
        .map_ok(|unit| {
            let log = worker.clone();
            async move {
                let stored = match unit.work {
                    Some(w) => log.work(w).await?,
                    None => 0,
                };
                Ok::<_, PullError>((stored, unit.checkpoint, unit.latest))
            }
        })
        .try_buffered(L::IN_FLIGHT.max(1));
    futures::pin_mut!(results);
    let mut total = 0;
    let mut report = Progress {
        checkpoint: since,
        ..Progress::default()
    };
    while let Some((stored, checkpoint, latest)) = results.try_next().await? {
        total += stored;
        report.stored += stored;
        report.their_latest = latest;
        if let Some(seq) = checkpoint {
            // Results come in order: everything up to this page's end is
            // committed, so the checkpoint may move.
            store
                .write(vec![WriteOp::Checkpoint {
                    log: L::NAME,
                    peer: member_key.to_owned(),
                    seq,
                }])
                .await?;
            report.checkpoint = seq;
            progress(report);
            report.stored = 0;
        } else if stored == 0 {
            progress(report);
        }
    }
    Ok(total)
}

/// A page's units; the last carries the page's checkpoint. A page with no
/// work still yields one unit, so its checkpoint (or the member's latest
/// sequence number) is heard.
fn units_of<W>(page: Page<W>) -> Vec<Unit<W>> {
    let latest = page.latest;
    let mut units: Vec<Unit<W>> = page
        .work
        .into_iter()
        .map(|w| Unit {
            work: Some(w),
            checkpoint: None,
            latest,
        })
        .collect();
    if units.is_empty() {
        units.push(Unit {
            work: None,
            checkpoint: None,
            latest,
        });
    }
    if let Some(last) = units.last_mut() {
        last.checkpoint = page.through;
    }
    units
}

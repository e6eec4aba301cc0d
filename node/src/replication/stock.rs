//! The stock log as a puller walks it: each page carries the figures
//! themselves (single-writer registers, the newest version wins), so a page
//! is one unit of work: check each figure against this company's policy and
//! store what it may hold.

use elo_net::protocol::{MAX_STOCK_PER_PAGE, RequestBody, ResponseBody, StockFigures};

use super::error::PullError;
use super::link::{Link, ask};
use super::log::{Log, Page, Progress, Source, walk};
use crate::store::ReplicatedLog;
use crate::store::stock::StockEntry;

/// A member's stock log, seen from here.
#[derive(Clone)]
pub(crate) struct StockLog<L> {
    from: Source<L>,
}

/// Walks the member's stock log from its checkpoint until caught up.
pub(crate) async fn pull_stock<L: Link>(
    from: &Source<L>,
    progress: impl FnMut(Progress),
) -> Result<u64, PullError> {
    let log = StockLog { from: from.clone() };
    walk(log, &from.store, &from.peer.to_string(), progress).await
}

impl<L: Link> Log for StockLog<L> {
    type Work = Vec<StockEntry>;
    const NAME: ReplicatedLog = ReplicatedLog::Stock;
    // The next page is asked for while this one is stored.
    const IN_FLIGHT: usize = 2;

    async fn page(&self, since: u64) -> Result<Page<Vec<StockEntry>>, PullError> {
        let body = RequestBody::StockSince {
            since,
            limit: MAX_STOCK_PER_PAGE,
        };
        let (entries, through, latest) =
            ask(&self.from.link, self.from.peer, body, "stock", stock_page).await?;
        let accepted: Vec<StockEntry> =
            entries.into_iter().filter_map(|f| self.accept(f)).collect();
        Ok(Page {
            work: if accepted.is_empty() {
                Vec::new()
            } else {
                vec![accepted]
            },
            through: (through > since).then_some(through),
            latest,
        })
    }

    async fn work(&self, entries: Vec<StockEntry>) -> Result<u64, PullError> {
        let n = entries.len() as u64;
        self.from.store.write_stock(entries, false).await?;
        Ok(n)
    }
}

/// A page of figures, as (figures, through, latest), if that is what the
/// member answered.
fn stock_page(answer: ResponseBody) -> Option<(Vec<StockFigures>, u64, u64)> {
    if let ResponseBody::Stock {
        entries,
        through,
        latest,
    } = answer
    {
        return Some((entries, through, latest));
    }
    None
}

impl<L> StockLog<L> {
    /// A figure this company may hold, checked like a local write: one it
    /// does not receive, or with a bad SKU, is dropped, not stored.
    fn accept(&self, f: StockFigures) -> Option<StockEntry> {
        if !self.from.policy.accepts_stock() {
            tracing::warn!(peer = %self.from.peer, company = %f.company, sku = %f.sku, "dropped stock figures this company does not receive (nothing to do; `elo share --receive` widens what it takes in)");
            return None;
        }
        crate::stock::normalise_sku(&f.sku).ok()?;
        Some(StockEntry {
            sku: f.sku,
            company: f.company,
            deposit: f.deposit,
            quantity: f.quantity,
            reserved: f.reserved,
            version: f.version,
            updated_ms: f.updated_ms,
        })
    }
}

//! Sales orders between the companies of a group (seed 002's
//! "Compartilhamento de pedidos").
//!
//! An order is not group data: it concerns the company that took it (its
//! origin) and, once sent, its destination. It lives in its own tables,
//! never in the record log, and travels only as an `Order` request to the
//! other end of its link, over their direct, encrypted connection; orders
//! between two companies that are apart wait in the outbox until they
//! meet. Both ends hold one automerge document, so edits made at either
//! end reach the other and concurrent edits of one field show as a
//! conflict (see `elo_crdt::order`).
//!
//! # Layout
//! - `book.rs`: the tables: orders, links, the outbox, the order log.
//! - `write.rs`: every change: create, edit, send, receive, invoice,
//!   cancel, and the answer to a delivery.
//! - `routing.rs`: sending: by hand, by the rules, automatically; the
//!   settings and rules kept.
//! - `rules.rs`: the settings and rules themselves, and how a rule matches.
//! - `invoices.rs`: the NF-e of an order, whole or for some lines.
//! - `records.rs`: the customer's and products' records going with one.
//! - `view.rs`: an order as the API shows it.
//! - `courier.rs`: the task that delivers what is owed to connected ends.

pub mod book;
pub mod courier;
mod invoices;
mod records;
mod routing;
mod rules;
pub mod split;
mod view;
mod write;

use std::sync::Arc;

use elo_crdt::ValidationError;
use serde_json::Value as Json;
use tokio::sync::Notify;

use crate::primary::PrimaryHandle;
use crate::store::{StoreError, StoreHandle};
pub use routing::RuleChange;
pub use rules::{OrderRule, OrderSettings};
pub use view::OrderFilter;
pub use write::{InvoiceInput, InvoicedLine};

/// Why an order operation did nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrderError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no order {0}")]
    NotFound(String),
    /// The operation contradicts the order's state (already invoiced,
    /// sent elsewhere, …); the text says what to do.
    #[error("{0}")]
    Conflict(String),
    /// The request is well formed but not allowed (the text says why).
    #[error("{0}")]
    Refused(String),
    /// No order number can be had now (this company's range for the table
    /// `order` is used up and no primary answers); the text says what to do.
    #[error("{0}")]
    NoNumber(String),
    #[error("stored order {0} is damaged: {1}")]
    Damaged(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

macro_rules! store_from {
    ($($t:ty),*) => {$(
        impl From<$t> for OrderError {
            fn from(e: $t) -> Self { OrderError::Store(e.into()) }
        }
    )*};
}
store_from!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// This company's order book: what the API, the courier and the mesh's
/// request handler share. Cheap to clone.
#[derive(Clone)]
pub struct Orders {
    inner: Arc<Inner>,
}

struct Inner {
    store: StoreHandle,
    cnpj: String,
    /// The automerge actor of this company's order changes.
    actor: Vec<u8>,
    /// Rung when something is owed to another company.
    owed: Notify,
    /// Where order numbers come from: this company's ID range for the
    /// table `order`, so a number names one order across the group. None
    /// (a book on its own, in tests): the store's own counter.
    numbers: Option<PrimaryHandle>,
}

pub use elo_crdt::order::ORDER_TABLE;

impl Orders {
    pub fn new(
        store: StoreHandle,
        cnpj: String,
        actor: Vec<u8>,
        numbers: Option<PrimaryHandle>,
    ) -> Orders {
        Orders {
            inner: Arc::new(Inner {
                store,
                cnpj,
                actor,
                owed: Notify::new(),
                numbers,
            }),
        }
    }

    /// The order book of the company whose store `store` is, numbering
    /// orders from its range for the table `order`. Its order changes are
    /// made as its node's id, as its records' are.
    pub fn of(
        store: &crate::store::StoreHandle,
        company: &crate::data_dir::Company,
        numbers: PrimaryHandle,
    ) -> Orders {
        let actor = company
            .peer_id
            .parse::<elo_net::PeerId>()
            .map_or_else(|_| company.peer_id.as_bytes().to_vec(), |p| p.to_bytes());
        Orders::new(store.clone(), company.cnpj.clone(), actor, Some(numbers))
    }

    /// `count` order numbers from this company's range (none without a
    /// range to draw from). Codes drawn for orders that are then refused
    /// are not given again: numbers may have gaps, never repeats.
    async fn draw(&self, count: usize) -> Result<Vec<u64>, OrderError> {
        let Some(primary) = &self.inner.numbers else {
            return Ok(Vec::new());
        };
        let mut out: Vec<u64> = Vec::with_capacity(count);
        while out.len() < count {
            let codes = primary
                .codes(ORDER_TABLE, count - out.len(), crate::primary::BLOCK_WAIT)
                .await
                .map_err(|e| {
                    OrderError::NoNumber(format!(
                        "no order number can be had now ({e}); give the order its number (`number`), or try again once the primary is reachable (elo ranges)"
                    ))
                })?;
            out.extend(codes.into_iter().filter_map(|c| u64::try_from(c).ok()));
        }
        Ok(out)
    }

    pub fn company(&self) -> &str {
        &self.inner.cnpj
    }

    /// Runs `f` on a blocking thread with the database (redb's calls
    /// block), ringing the courier when `f` owed something.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&write::Ctx<'_>) -> Result<(T, bool), OrderError> + Send + 'static,
    ) -> Result<T, OrderError> {
        self.run_numbered(Vec::new(), f).await
    }

    /// [`Self::run`] with order numbers drawn for the orders `f` makes.
    async fn run_numbered<T: Send + 'static>(
        &self,
        numbers: Vec<u64>,
        f: impl FnOnce(&write::Ctx<'_>) -> Result<(T, bool), OrderError> + Send + 'static,
    ) -> Result<T, OrderError> {
        let inner = self.inner.clone();
        let db = inner.store.database()?;
        let (value, owes) = tokio::task::spawn_blocking(move || {
            let ctx = write::Ctx::new(&db, &inner.cnpj, &inner.actor, crate::clock::now_ms());
            ctx.numbers.replace(numbers.into());
            f(&ctx)
        })
        .await
        .map_err(|e| OrderError::Store(StoreError::Failed(e.to_string())))??;
        if owes {
            self.inner.owed.notify_one();
        }
        Ok(value)
    }

    /// Creates orders (one JSON object each) in one commit; each stands or
    /// fails alone. An error of the whole (the store) stores none. Orders
    /// the ERP gave no `number` get one from this company's range.
    pub async fn create(
        &self,
        inputs: Vec<Json>,
    ) -> Result<Vec<Result<Json, OrderError>>, OrderError> {
        let unnumbered = inputs
            .iter()
            .filter(|i| i.get("number").is_none_or(Json::is_null))
            .count();
        let numbers = self.draw(unnumbered).await?;
        self.run_numbered(numbers, move |ctx| ctx.create_all(&inputs))
            .await
    }

    pub async fn get(&self, key: String) -> Result<Json, OrderError> {
        self.run(move |ctx| Ok((ctx.view(&key)?, false))).await
    }

    pub async fn list(&self, filter: OrderFilter) -> Result<Vec<Json>, OrderError> {
        self.run(move |ctx| Ok((ctx.list(&filter)?, false))).await
    }

    pub async fn edit(&self, key: String, input: Json) -> Result<Json, OrderError> {
        self.run(move |ctx| ctx.edit(&key, &input)).await
    }

    /// Sends an order to `to`, or where the rules route it; answers with
    /// its link.
    pub async fn send(&self, key: String, to: Option<String>) -> Result<Json, OrderError> {
        self.run(move |ctx| ctx.send(&key, to.as_deref())).await
    }

    pub async fn settings(&self) -> Result<OrderSettings, OrderError> {
        self.run(|ctx| Ok((rules::settings(ctx.db)?, false))).await
    }

    pub async fn set_settings(&self, s: OrderSettings) -> Result<OrderSettings, OrderError> {
        self.run(move |ctx| Ok((ctx.set_settings(s)?, false))).await
    }

    pub async fn rules(&self) -> Result<Vec<OrderRule>, OrderError> {
        self.run(|ctx| Ok((rules::rules(ctx.db)?, false))).await
    }

    /// Adds, replaces (`id`), clones or deletes a rule; answers with the
    /// rule (none when deleted).
    pub async fn change_rule(&self, change: RuleChange) -> Result<Option<OrderRule>, OrderError> {
        self.run(move |ctx| Ok((ctx.change_rule(change)?, false)))
            .await
    }

    pub async fn invoice(&self, key: String, input: InvoiceInput) -> Result<Json, OrderError> {
        self.run(move |ctx| ctx.invoice(&key, &input)).await
    }

    /// Sends invoice data held here (`send_fiscal_data` off) to the origin.
    pub async fn send_fiscal(&self, key: String) -> Result<Json, OrderError> {
        self.run(move |ctx| ctx.release_fiscal(&key)).await
    }

    pub async fn cancel(
        &self,
        key: String,
        reason: String,
        nfe_cancelled: bool,
    ) -> Result<Json, OrderError> {
        self.run(move |ctx| ctx.cancel(&key, &reason, nfe_cancelled))
            .await
    }

    /// Proposes how to split an order by the group's stock, and with
    /// `apply` makes each part its own order, sent to its company.
    pub async fn split(&self, key: String, apply: bool) -> Result<Json, OrderError> {
        let order = self.get(key.clone()).await?;
        let needs: Vec<split::Need> = order["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| {
                Some(split::Need {
                    line: i["line"].as_u64()?,
                    sku: i["sku"].as_str()?.to_string(),
                    quantity: elo_crdt::value::parse_decimal(i["quantity"].as_str()?, 3).ok()?,
                })
            })
            .collect();
        let mut available = std::collections::BTreeMap::new();
        for need in &needs {
            if available.contains_key(&need.sku) {
                continue;
            }
            let view = crate::stock::view(
                &self.inner.store,
                &self.inner.cnpj,
                &need.sku,
                crate::stock::Scope::All,
            )
            .await?;
            let by: Vec<(String, i64)> = view
                .companies
                .iter()
                .filter(|c| c.counted)
                .filter_map(|c| {
                    Some((
                        c.company.clone(),
                        elo_crdt::value::parse_decimal(&c.available, 3).ok()?,
                    ))
                })
                .collect();
            available.insert(need.sku.clone(), by);
        }
        let proposal = split::propose(&needs, &available, &self.inner.cnpj);
        if !apply {
            return Ok(serde_json::json!({"proposal": proposal}));
        }
        if !proposal.unfulfilled.is_empty() {
            return Err(OrderError::Conflict(format!(
                "the group's stock does not cover the order: {} lines short (see the proposal without apply)",
                proposal.unfulfilled.len()
            )));
        }
        let numbers = self.draw(proposal.parts.len()).await?;
        let order = self
            .run_numbered(numbers, move |ctx| ctx.apply_split(&key, &proposal))
            .await?;
        Ok(serde_json::json!({"order": order}))
    }

    /// The order log after `since`, each entry with the order as it is now.
    pub async fn changes(&self, since: u64, limit: usize) -> Result<Json, OrderError> {
        self.run(move |ctx| Ok((ctx.changes(since, limit)?, false)))
            .await
    }

    /// A linked order from `from` (the other end's CNPJ): merged, or
    /// created here the first time. Returns its key here.
    pub async fn receive(
        &self,
        from: String,
        link: String,
        their_key: String,
        doc: Vec<u8>,
    ) -> Result<String, OrderError> {
        let known = {
            let link = link.clone();
            self.run(move |ctx| Ok((book::linked(ctx.db, &link)?, false)))
                .await?
        };
        // A new order here takes this company's next number.
        let numbers = match known {
            Some(_) => Vec::new(),
            None => self.draw(1).await?,
        };
        self.run_numbered(numbers, move |ctx| {
            Ok((ctx.receive(&from, &link, &their_key, &doc)?, false))
        })
        .await
    }

    /// The other end stored the order (as `their_key`) as it was at `seq`.
    pub(crate) async fn delivered(
        &self,
        link: String,
        seq: u64,
        their_key: String,
    ) -> Result<(), OrderError> {
        self.run(move |ctx| ctx.delivered(&link, seq, &their_key))
            .await
    }

    pub(crate) async fn owed(&self) -> Result<Vec<(String, book::Owed)>, OrderError> {
        self.run(|ctx| Ok((book::owed(ctx.db)?, false))).await
    }

    pub(crate) async fn order_bytes(&self, key: String) -> Result<Option<Vec<u8>>, OrderError> {
        self.run(move |ctx| Ok((book::order_bytes(ctx.db, &key)?, false)))
            .await
    }

    /// Resolves when something new is owed.
    pub(crate) async fn wait_owed(&self) {
        self.inner.owed.notified().await;
    }
}

#[cfg(test)]
mod tests;

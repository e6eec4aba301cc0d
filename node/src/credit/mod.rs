//! A customer's shared credit limit (seed 000, "limite de crédito"): the
//! limit is one value of the group; the credit *used* is the sum of what
//! each company charged and released, each company writing only its own
//! total (`credit_used.CNPJ` in the customer's credit-limit part). Charges
//! made at two branches that could not talk both count once they merge:
//! nothing is overwritten, because no two companies write the same key.
//!
//! Escrow mode (opt-in for the group, at the founding company): the credit
//! is held as rights by the companies (see [`escrow`]); a charge
//! within this company's rights needs no one, a larger one asks the others
//! to hand over part of theirs, and with no one to ask it is refused rather
//! than go over the limit.
//!
//! [`escrow`] is the rights' arithmetic, [`rights`] what handing them over
//! means. Credit reads and writes through the store and records only; the
//! requests for rights travel with replication, which calls in here.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;

use elo_crdt::schema::CREDIT_USED;
use elo_crdt::value::{decimal_of_json, format_decimal, parse_decimal};
use elo_crdt::{Category, DocId, FieldValue, Kind, RecordPatch};
use serde::Serialize;

pub mod escrow;
pub mod rights;
#[cfg(test)]
mod tests;

use crate::records::RecordError;
use crate::store::{StoreHandle, WriteOp};
use escrow::Escrow;

/// One change of a customer's used credit, in cents.
#[derive(Clone, Copy, Debug)]
pub enum CreditChange {
    /// A purchase on credit: used goes up.
    Charge(i64),
    /// A payment: used goes down.
    Release(i64),
}

/// Why a credit operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreditError {
    #[error("amount: {0}")]
    BadAmount(String),
    #[error("no customer {0}")]
    NotFound(String),
    #[error(
        "the charge of {charge} is over the available credit of {available} (limit {limit}, used {used})"
    )]
    OverLimit {
        charge: String,
        available: String,
        limit: String,
        used: String,
    },
    #[error("the release of {release} is more than the credit used, {used}")]
    OverRelease { release: String, used: String },
    #[error(
        "escrow: this company holds {holds} of this customer's credit and the charge is {charge}; the other companies handed over {received} and no more could be had (reachable members asked: {asked}), so the charge is refused rather than go over the limit"
    )]
    EscrowShort {
        charge: String,
        holds: String,
        received: String,
        asked: usize,
    },
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Record(#[from] RecordError),
}

impl From<crate::store::StoreError> for CreditError {
    fn from(e: crate::store::StoreError) -> Self {
        CreditError::Record(e.into())
    }
}

/// A customer's credit as `elo credit show` prints it (decimals as text,
/// like every amount elo shows).
#[derive(Clone, Debug, Serialize)]
pub struct CreditView {
    pub customer: String,
    /// `None` when no limit was ever set: then nothing is refused.
    pub limit: Option<String>,
    pub used: String,
    pub available: Option<String>,
    /// What each company charged less what it released.
    pub by_company: BTreeMap<String, String>,
    /// Escrow mode: the rights each company holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<BTreeMap<String, String>>,
}

/// Asks reachable members for rights to a customer's credit (customer
/// key, cents wanted); resolves to (cents handed over, members asked).
pub type AskRights = dyn Fn(String, i64) -> BoxFuture<'static, (i64, usize)> + Send + Sync;

/// How the group holds credit, and how to reach the others for rights.
pub struct CreditContext<'a> {
    /// The founding company, where escrow mode is switched on.
    pub founder: &'a str,
    /// Asks reachable members to hand this company up to `amount` of their
    /// rights to `customer`; resolves to how much they handed over (and
    /// this node has since received), with how many members were asked.
    pub ask_rights: Option<&'a AskRights>,
}

/// Parses an amount such as `150`, `"150.00"` or `"1.500,00"` into cents;
/// it must be more than zero.
pub fn parse_amount(text: &str) -> Result<i64, CreditError> {
    positive(parse_decimal(text, 2).map_err(CreditError::BadAmount)?)
}

/// [`parse_amount`] of a JSON value: a number is read plainly.
pub fn amount_of_json(value: &serde_json::Value) -> Result<i64, CreditError> {
    positive(decimal_of_json(value, 2).map_err(CreditError::BadAmount)?)
}

fn positive(cents: i64) -> Result<i64, CreditError> {
    if cents <= 0 {
        return Err(CreditError::BadAmount("must be more than zero".into()));
    }
    Ok(cents)
}

pub(super) struct Credit {
    id: DocId,
    limit: Option<i64>,
    by_company: BTreeMap<String, i64>,
    /// In escrow mode: the rights, which follow the limit.
    escrow: Option<Escrow>,
}

impl Credit {
    fn used(&self) -> i64 {
        self.by_company.values().sum()
    }

    fn view(&self) -> CreditView {
        let money = |c: i64| format_decimal(c, 2);
        let rights = self.escrow.as_ref().map(|e| {
            let mut companies: Vec<&String> = std::iter::once(&e.founder)
                .chain(e.gave.keys().map(|(_, to)| to))
                .chain(e.used.keys())
                .collect();
            companies.sort();
            companies.dedup();
            companies
                .into_iter()
                .map(|c| (c.clone(), money(e.holds(c))))
                .collect()
        });
        CreditView {
            customer: self.id.to_string(),
            limit: self.limit.map(money),
            used: money(self.used()),
            available: self.limit.map(|l| money(l - self.used())),
            by_company: self
                .by_company
                .iter()
                .map(|(c, v)| (c.clone(), money(*v)))
                .collect(),
            rights,
        }
    }

    fn over_limit(&self, cents: i64) -> CreditError {
        let money = |c: i64| format_decimal(c, 2);
        let limit = self.limit.unwrap_or(0);
        CreditError::OverLimit {
            charge: money(cents),
            available: money(limit - self.used()),
            limit: money(limit),
            used: money(self.used()),
        }
    }
}

/// The company whose roster record switched escrow on (the founding
/// company, the only one that can), if escrow is on.
async fn escrow_founder(store: &StoreHandle) -> Result<Option<String>, CreditError> {
    let companies = store.list(Kind::Company, None, 10_000, false).await?;
    Ok(companies
        .into_iter()
        .filter(|r| matches!(r.values.get("credit_escrow"), Some(FieldValue::Bool(true))))
        .map(|r| r.id.key_value().to_owned())
        .min())
}

/// Writes some credit keys of a customer (each is this company's own).
pub(super) async fn write_keys(
    store: &StoreHandle,
    id: &DocId,
    keys: Vec<(String, i64)>,
) -> Result<(), CreditError> {
    let patch = RecordPatch {
        edits: keys
            .into_iter()
            .map(|(k, v)| (k, Some(FieldValue::Int(v))))
            .collect(),
        ..RecordPatch::default()
    };
    store
        .write_one(WriteOp::Put {
            id: id.clone(),
            patch,
            return_record: false,
        })
        .await?
        .map_err(RecordError::from)?;
    Ok(())
}

pub(super) async fn load(store: &StoreHandle, key: &str) -> Result<Credit, CreditError> {
    let id = DocId::from_key(Kind::Customer, key).map_err(RecordError::from)?;
    let record = store
        .get(id.clone())
        .await?
        .filter(|r| !r.deleted)
        .ok_or_else(|| CreditError::NotFound(id.to_string()))?;
    let limit = match record.values.get("credit_limit") {
        Some(FieldValue::Int(cents)) => Some(*cents),
        _ => None,
    };
    let by_company = record
        .values
        .iter()
        .filter_map(|(k, v)| match (k.strip_prefix(CREDIT_USED), v) {
            (Some(company), FieldValue::Int(cents)) => Some((company.to_owned(), *cents)),
            _ => None,
        })
        .collect();
    let escrow = escrow_founder(store)
        .await?
        .map(|founder| Escrow::from_values(&record.values, &founder));
    Ok(Credit {
        escrow,
        id,
        limit,
        by_company,
    })
}

/// A customer's limit, used and available credit.
pub async fn show(store: &StoreHandle, key: &str) -> Result<CreditView, CreditError> {
    Ok(load(store, key).await?.view())
}

/// One credit operation at a time on this node: each reads this company's
/// total and writes it back.
pub(super) static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Charges or releases credit at company `me`. A charge over the credit
/// available as known here is refused; companies that cannot talk may
/// together go over the limit (the used credit still adds up exactly),
/// unless the group keeps credit in escrow. A company that does not
/// receive credit limits cannot see the limit, so it cannot charge.
pub async fn change(
    store: &StoreHandle,
    me: &str,
    key: &str,
    change: CreditChange,
    context: &CreditContext<'_>,
) -> Result<CreditView, CreditError> {
    let _guard = ONE_AT_A_TIME.lock().await;
    if !crate::records::received::received(store)
        .await?
        .receives
        .covers_category(Category::CreditLimit)
    {
        return Err(CreditError::Refused(
            crate::records::received::not_received(Category::CreditLimit),
        ));
    }
    let mut credit = load(store, key).await?;
    let money = |c: i64| format_decimal(c, 2);
    if let CreditChange::Charge(cents) = change
        && credit.escrow.is_some()
    {
        return charge_in_escrow(store, me, key, cents, credit, context).await;
    }
    let delta = match change {
        CreditChange::Charge(cents) => {
            if let Some(limit) = credit.limit
                && credit.used().saturating_add(cents) > limit
            {
                return Err(credit.over_limit(cents));
            }
            cents
        }
        CreditChange::Release(cents) => {
            if cents > credit.used() {
                return Err(CreditError::OverRelease {
                    release: money(cents),
                    used: money(credit.used()),
                });
            }
            -cents
        }
    };
    let mine = credit.by_company.entry(me.to_owned()).or_insert(0);
    *mine = mine.saturating_add(delta);
    let keys = vec![(format!("{CREDIT_USED}{me}"), *mine)];
    write_keys(store, &credit.id, keys).await?;
    Ok(load(store, key).await?.view())
}

/// How long a charge waits for rights handed over to arrive.
const RIGHTS_WAIT: Duration = Duration::from_secs(8);

/// A charge in escrow mode: within this company's rights, or after the
/// others handed over what is missing; never above them, and never above
/// the limit as known here.
async fn charge_in_escrow(
    store: &StoreHandle,
    me: &str,
    key: &str,
    cents: i64,
    mut credit: Credit,
    context: &CreditContext<'_>,
) -> Result<CreditView, CreditError> {
    let money = |c: i64| format_decimal(c, 2);
    let holds = |credit: &Credit| credit.escrow.as_ref().map_or(0, |e| e.holds(me));
    let charge = |credit: &Credit| match &credit.escrow {
        Some(e) => e.charge(me, cents),
        None => Err(escrow::Short::Rights),
    };
    match charge(&credit) {
        Err(escrow::Short::OverLimit) => return Err(credit.over_limit(cents)),
        Err(escrow::Short::NoLimit) => return Err(no_limit()),
        _ => {}
    }
    let held = holds(&credit);
    let mut received = 0;
    let mut asked = 0;
    if held < cents
        && let Some(ask) = context.ask_rights
    {
        let (given, members) = ask(key.to_owned(), cents - held).await;
        received = given;
        asked = members;
        // The rights arrive with the givers' documents.
        let deadline = tokio::time::Instant::now() + RIGHTS_WAIT;
        while given > 0 && tokio::time::Instant::now() < deadline {
            credit = load(store, key).await?;
            if holds(&credit) >= cents {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (used_key, used) = match charge(&credit) {
        Ok(write) => write,
        Err(escrow::Short::OverLimit) => return Err(credit.over_limit(cents)),
        Err(escrow::Short::NoLimit) => return Err(no_limit()),
        Err(escrow::Short::Rights) => {
            return Err(CreditError::EscrowShort {
                charge: money(cents),
                holds: money(holds(&credit)),
                received: money(received),
                asked,
            });
        }
    };
    write_keys(store, &credit.id, vec![(used_key, used)]).await?;
    Ok(load(store, key).await?.view())
}

fn no_limit() -> CreditError {
    CreditError::Refused(
        "escrow: no credit limit of this customer is known here, so no company holds rights to charge; set a limit (or, if one was set elsewhere, wait until it arrives)".into(),
    )
}

/// What switching escrow on did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EscrowReport {
    pub customers: usize,
    pub members: usize,
}

/// Switches escrow mode on or off for the group; only at the founding
/// company. The rights follow each customer's limit by themselves (see
/// [`escrow`]); switching on also hands each member an equal part of the
/// credit still available, so a branch can charge without asking anyone.
/// Run again to hand out parts of raised limits and of customers given a
/// limit since (until then the others ask the founder for rights).
pub async fn set_escrow(
    store: &StoreHandle,
    me: &str,
    founder: &str,
    on: bool,
) -> Result<EscrowReport, CreditError> {
    if me != founder {
        return Err(CreditError::Refused(format!(
            "escrow mode is switched at the founding company, {founder}"
        )));
    }
    let _guard = ONE_AT_A_TIME.lock().await;
    crate::records::put(
        store,
        Kind::Company,
        Some(me),
        &serde_json::json!({ "credit_escrow": on }),
        true,
    )
    .await?;
    let mut report = EscrowReport::default();
    if !on {
        return Ok(report);
    }
    let members: Vec<String> = crate::group::roster(store)
        .await?
        .into_iter()
        .map(|m| m.cnpj)
        .filter(|c| c != me)
        .collect();
    report.members = members.len() + 1;
    let mut after = None;
    loop {
        let page = store
            .list(Kind::Customer, after.clone(), 1000, false)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for record in &page {
            if !matches!(record.values.get("credit_limit"), Some(FieldValue::Int(_))) {
                continue;
            }
            let mut escrow = Escrow::from_values(&record.values, me);
            let keys = escrow.top_up(&members);
            if keys.is_empty() {
                continue;
            }
            write_keys(store, &record.id, keys).await?;
            report.customers += 1;
        }
        if page.len() < 1000 {
            break;
        }
    }
    Ok(report)
}

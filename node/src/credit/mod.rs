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
use elo_crdt::{DocId, FieldValue, Kind, RecordPatch};
use serde::Serialize;

pub mod escrow;
pub mod rights;

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
    #[error(
        "escrow mode is on but this customer's credit is not held in escrow yet: run `elo credit escrow on` at the founding company {founder}"
    )]
    NotInEscrow { founder: String },
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
    escrow: Escrow,
}

impl Credit {
    fn used(&self) -> i64 {
        self.by_company.values().sum()
    }

    fn view(&self) -> CreditView {
        let money = |c: i64| format_decimal(c, 2);
        // In escrow the limit is the rights created.
        let limit = if self.escrow.active() {
            Some(self.escrow.limit())
        } else {
            self.limit
        };
        let mut companies: Vec<&String> = self
            .escrow
            .grant
            .keys()
            .chain(self.escrow.gave.keys().map(|(_, to)| to))
            .chain(self.escrow.used.keys())
            .collect();
        companies.sort();
        companies.dedup();
        CreditView {
            customer: self.id.to_string(),
            limit: limit.map(money),
            used: money(self.used()),
            available: limit.map(|l| money(l - self.used())),
            by_company: self
                .by_company
                .iter()
                .map(|(c, v)| (c.clone(), money(*v)))
                .collect(),
            rights: self.escrow.active().then(|| {
                companies
                    .into_iter()
                    .map(|c| (c.clone(), money(self.escrow.holds(c))))
                    .collect()
            }),
        }
    }
}

/// Whether the group keeps credit in escrow: the founding company's roster
/// record says so.
pub async fn escrow_mode(store: &StoreHandle, founder: &str) -> Result<bool, CreditError> {
    let Ok(id) = DocId::from_key(Kind::Company, founder) else {
        return Ok(false);
    };
    Ok(store
        .get(id)
        .await?
        .is_some_and(|r| matches!(r.values.get("credit_escrow"), Some(FieldValue::Bool(true)))))
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
    Ok(Credit {
        escrow: Escrow::from_values(&record.values),
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
/// together go over the limit (the used credit still adds up exactly).
pub async fn change(
    store: &StoreHandle,
    me: &str,
    key: &str,
    change: CreditChange,
    context: &CreditContext<'_>,
) -> Result<CreditView, CreditError> {
    let _guard = ONE_AT_A_TIME.lock().await;
    let mut credit = load(store, key).await?;
    let money = |c: i64| format_decimal(c, 2);
    if let CreditChange::Charge(cents) = change
        && escrow_mode(store, context.founder).await?
    {
        return charge_in_escrow(store, me, key, cents, credit, context).await;
    }
    let delta = match change {
        CreditChange::Charge(cents) => {
            if let Some(limit) = credit.limit
                && credit.used().saturating_add(cents) > limit
            {
                return Err(CreditError::OverLimit {
                    charge: money(cents),
                    available: money(limit - credit.used()),
                    limit: money(limit),
                    used: money(credit.used()),
                });
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
/// others handed over what is missing; never above them.
async fn charge_in_escrow(
    store: &StoreHandle,
    me: &str,
    key: &str,
    cents: i64,
    mut credit: Credit,
    context: &CreditContext<'_>,
) -> Result<CreditView, CreditError> {
    if !credit.escrow.active() {
        return Err(CreditError::NotInEscrow {
            founder: context.founder.to_owned(),
        });
    }
    let money = |c: i64| format_decimal(c, 2);
    let held = credit.escrow.holds(me);
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
            if credit.escrow.holds(me) >= cents {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let Some((used_key, used)) = credit.escrow.charge(me, cents) else {
        return Err(CreditError::EscrowShort {
            charge: money(cents),
            holds: money(credit.escrow.holds(me)),
            received: money(received),
            asked,
        });
    };
    write_keys(store, &credit.id, vec![(used_key, used)]).await?;
    Ok(load(store, key).await?.view())
}

/// What switching escrow on did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EscrowReport {
    pub customers: usize,
    pub members: usize,
}

/// Switches escrow mode on or off for the group; only at the founding
/// company, which creates the rights when switching on: for each customer
/// whose limit is above the rights created so far, it creates the
/// difference and hands an equal part to each member. Run again after
/// raising limits.
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
            let Some(FieldValue::Int(limit)) = record.values.get("credit_limit") else {
                continue;
            };
            let credit = load(store, record.id.key()).await?;
            let missing = limit - credit.escrow.limit();
            if missing <= 0 {
                continue;
            }
            let mut escrow = credit.escrow.clone();
            let grant = escrow.grant.get(me).copied().unwrap_or(0) + missing;
            escrow.grant.insert(me.to_owned(), grant);
            let mut keys = vec![(format!("{}{me}", escrow::GRANT), grant)];
            // Each member gets an equal part of what is new.
            let share = missing / i64::try_from(report.members).unwrap_or(1).max(1);
            for member in &members {
                if let Some((k, total, amount)) = escrow.give(me, member, share) {
                    escrow.gave.insert((me.to_owned(), member.clone()), total);
                    keys.push((k, total));
                    let _ = amount;
                }
            }
            write_keys(store, &credit.id, keys).await?;
            report.customers += 1;
        }
        if page.len() < 1000 {
            break;
        }
    }
    Ok(report)
}

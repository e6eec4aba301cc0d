//! A customer's shared credit limit (seed 000, "limite de crédito"): the
//! limit is one value of the group; the credit *used* is the sum of what
//! each company charged and released, each company writing only its own
//! total (`credit_used.CNPJ` in the customer's credit-limit part). Charges
//! made at two branches that could not talk both count once they merge:
//! nothing is overwritten, because no two companies write the same key.

use std::collections::BTreeMap;

use elo_crdt::schema::CREDIT_USED;
use elo_crdt::value::{format_decimal, parse_decimal};
use elo_crdt::{DocId, FieldValue, Kind, RecordPatch};
use serde::Serialize;

use crate::records::RecordError;
use crate::store::{StoreHandle, WriteOp};

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
}

/// Parses an amount such as `150`, `"150.00"` or `"1.500,00"` into cents;
/// it must be more than zero.
pub fn parse_amount(text: &str) -> Result<i64, CreditError> {
    let cents = parse_decimal(text, 2).map_err(CreditError::BadAmount)?;
    if cents <= 0 {
        return Err(CreditError::BadAmount("must be more than zero".into()));
    }
    Ok(cents)
}

struct Credit {
    id: DocId,
    limit: Option<i64>,
    by_company: BTreeMap<String, i64>,
}

impl Credit {
    fn used(&self) -> i64 {
        self.by_company.values().sum()
    }

    fn view(&self) -> CreditView {
        let money = |c: i64| format_decimal(c, 2);
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
        }
    }
}

async fn load(store: &StoreHandle, key: &str) -> Result<Credit, CreditError> {
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
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Charges or releases credit at company `me`. A charge over the credit
/// available as known here is refused; companies that cannot talk may
/// together go over the limit (the used credit still adds up exactly).
pub async fn change(
    store: &StoreHandle,
    me: &str,
    key: &str,
    change: CreditChange,
) -> Result<CreditView, CreditError> {
    let _guard = ONE_AT_A_TIME.lock().await;
    let mut credit = load(store, key).await?;
    let money = |c: i64| format_decimal(c, 2);
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
    let patch = RecordPatch {
        edits: vec![(format!("{CREDIT_USED}{me}"), Some(FieldValue::Int(*mine)))],
        ..RecordPatch::default()
    };
    store
        .write_one(WriteOp::Put {
            id: credit.id.clone(),
            patch,
            return_record: false,
        })
        .await?
        .map_err(RecordError::from)?;
    Ok(credit.view())
}

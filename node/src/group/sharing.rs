//! What this company shares, with whom, and what it keeps to itself:
//! `elo share`, `elo authorize`, `elo revoke-authorization` and
//! `elo restrict`, for the API and the offline command line alike.
//!
//! Send and receive sets and authorisations live on the company's own roster
//! record, so every member learns them by replication and enforces them as
//! a sender; restricted fields are local only.

use elo_crdt::{Kind, Sharing, schema};
use serde::Serialize;
use serde_json::json;

use super::roster::{self, Authorizations, EVERY_COMPANY, PendingAuthorization};
use crate::records::{self, RecordError};
use crate::store::{StoreError, StoreHandle, WriteOp};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("{0} is not a member of the group")]
    NotMember(String),
    #[error(
        "{0} is this company: its own records are always taken in; authorise another member's CNPJ (see `elo status`)"
    )]
    ItSelf(String),
    #[error("{0}")]
    Invalid(String),
    #[error("this company has no roster record yet")]
    NoRecord,
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A company's sharing policy as `elo share` and `GET /v1/share` show it.
#[derive(Clone, Debug, Serialize)]
pub struct Policy {
    pub sends: String,
    pub receives: String,
    /// Companies it receives from, and which categories.
    pub authorized: Vec<Granted>,
    pub pending: Vec<PendingAuthorization>,
    pub restricted: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Granted {
    pub company: String,
    pub name: String,
    pub categories: String,
}

/// The policy of company `me`.
pub async fn show(store: &StoreHandle, me: &str) -> Result<Policy, PolicyError> {
    let members = roster::roster(store).await?;
    let mine = members
        .iter()
        .find(|m| m.cnpj == me)
        .ok_or(PolicyError::NoRecord)?;
    let name_of = |c: &str| {
        if c == EVERY_COMPANY {
            return "(every member not named)".to_owned();
        }
        members
            .iter()
            .find(|m| m.cnpj == c)
            .map_or_else(|| "(no longer a member)".into(), |m| m.name.clone())
    };
    Ok(Policy {
        sends: mine.sends.to_string(),
        receives: mine.receives.to_string(),
        authorized: mine
            .authorizes
            .0
            .iter()
            .map(|(c, s)| Granted {
                company: c.clone(),
                name: name_of(c),
                categories: s.to_string(),
            })
            .collect(),
        pending: roster::pending_authorizations(&members, me),
        restricted: store.restricted().await?,
    })
}

/// Records members held back from this company, by the companies that
/// created them, with what to do about it.
#[derive(Clone, Debug, Serialize)]
pub struct WithheldFrom {
    /// The creators' CNPJs (usually one), comma-separated.
    pub company: String,
    pub name: String,
    pub records: u64,
    /// A few of the records' ids.
    pub examples: Vec<String>,
    pub what_to_do: String,
}

/// What company `me` lacks because it keeps the records' creators out;
/// `members` is the roster as the caller read it.
pub async fn withheld(
    store: &StoreHandle,
    members: &[roster::Member],
    me: &str,
) -> Result<Vec<WithheldFrom>, PolicyError> {
    let mine = members.iter().find(|m| m.cnpj == me);
    let mut by_origin: std::collections::BTreeMap<String, WithheldFrom> = Default::default();
    for (id, origins) in store.withheld().await? {
        let entry = by_origin.entry(origins.clone()).or_insert_with(|| {
            let names: Vec<String> = origins
                .split(',')
                .map(|c| {
                    members
                        .iter()
                        .find(|m| m.cnpj == c)
                        .map_or_else(|| "(no longer a member)".to_owned(), |m| m.name.clone())
                })
                .collect();
            let category = elo_crdt::DocId::parse(&id).map(|d| d.category());
            let taken_now = mine
                .zip(category)
                .is_some_and(|(m, c)| origins.split(',').any(|o| m.authorizes.allows(o, c)));
            let first = origins.split(',').next().unwrap_or_default();
            WithheldFrom {
                company: origins.clone(),
                name: names.join(", "),
                records: 0,
                examples: Vec::new(),
                what_to_do: if taken_now {
                    "authorised since: the records arrive as members walk their logs again \
                     (`elo resync` asks them now)"
                        .to_owned()
                } else {
                    format!(
                        "`elo authorize --from {first}` takes in the records this company created"
                    )
                },
            }
        });
        entry.records += 1;
        if entry.examples.len() < 5 {
            entry.examples.push(id);
        }
    }
    Ok(by_origin.into_values().collect())
}

/// Sets what company `me` sends and receives (either may be left as is).
pub async fn share(
    store: &StoreHandle,
    me: &str,
    sends: Option<&str>,
    receives: Option<&str>,
) -> Result<Policy, PolicyError> {
    let mut body = serde_json::Map::new();
    for (field, value) in [("sends", sends), ("receives", receives)] {
        if let Some(v) = value {
            let parsed = Sharing::parse(v).map_err(PolicyError::Invalid)?;
            body.insert(field.into(), json!(parsed.to_string()));
        }
    }
    if !body.is_empty() {
        records::put(store, Kind::Company, Some(me), &body.into(), true).await?;
    }
    show(store, me).await
}

/// Company `me` takes in the records `from` creates (a CNPJ, or `*` for
/// every member), in these categories.
pub async fn authorize(
    store: &StoreHandle,
    me: &str,
    from: &str,
    categories: &str,
) -> Result<Policy, PolicyError> {
    let from = company_or_everyone(from)?;
    let categories = Sharing::parse(categories).map_err(PolicyError::Invalid)?;
    let members = roster::roster(store).await?;
    if from == me {
        return Err(PolicyError::ItSelf(from));
    }
    if from != EVERY_COMPANY && !members.iter().any(|m| m.cnpj == from) {
        return Err(PolicyError::NotMember(from));
    }
    update_authorizations(store, me, &members, |a| a.grant(from, categories)).await?;
    show(store, me).await
}

/// Company `me` stops taking in what `from` creates (a CNPJ keeps that
/// company out; `*` leaves only the companies named).
pub async fn revoke(store: &StoreHandle, me: &str, from: &str) -> Result<Policy, PolicyError> {
    let from = company_or_everyone(from)?;
    let members = roster::roster(store).await?;
    let mut found = false;
    update_authorizations(store, me, &members, |a| found = a.revoke(&from)).await?;
    if !found {
        return Err(PolicyError::Invalid(format!(
            "{from} was not authorised to send here"
        )));
    }
    show(store, me).await
}

fn company_or_everyone(from: &str) -> Result<String, PolicyError> {
    if from.trim() == EVERY_COMPANY {
        return Ok(EVERY_COMPANY.to_owned());
    }
    elo_crdt::ident::cnpj(from).map_err(|e| PolicyError::Invalid(format!("--from: {e}")))
}

async fn update_authorizations(
    store: &StoreHandle,
    me: &str,
    members: &[roster::Member],
    change: impl FnOnce(&mut Authorizations),
) -> Result<(), PolicyError> {
    let mut mine = members
        .iter()
        .find(|m| m.cnpj == me)
        .ok_or(PolicyError::NoRecord)?
        .authorizes
        .clone();
    change(&mut mine);
    let body = json!({ "authorizes": mine.to_string() });
    records::put(store, Kind::Company, Some(me), &body, true).await?;
    Ok(())
}

/// Sets the product fields company `me` keeps to itself (replacing the list;
/// empty shares them all again from the next write on).
pub async fn restrict(
    store: &StoreHandle,
    me: &str,
    fields: &[String],
) -> Result<Policy, PolicyError> {
    let mut list: Vec<String> = Vec::new();
    for f in fields.iter().map(|f| f.trim()).filter(|f| !f.is_empty()) {
        if !schema::RESTRICTABLE.contains(&f) {
            return Err(PolicyError::Invalid(format!(
                "{f:?} cannot be restricted; these can: {}",
                schema::RESTRICTABLE.join(", ")
            )));
        }
        if !list.iter().any(|l| l == f) {
            list.push(f.to_string());
        }
    }
    store
        .write_one(WriteOp::Restrict { fields: list })
        .await?
        .map_err(|e| PolicyError::Invalid(e.to_string()))?;
    show(store, me).await
}

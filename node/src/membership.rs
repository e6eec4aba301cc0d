//! Who is in the group: the roster (the group's `company` records, which
//! replicate like any other), invitations, and admitting a company that
//! presents a valid one-time join secret.
//!
//! An invite's join secret is kept only as a hash, in metadata, with its
//! expiry and whether it was used. It is marked used before the new member
//! is written, so a crash between the two can never admit two companies.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;

use elo_crdt::{Category, DocId, Kind, Sharing};
use elo_net::invite::Invite;
use elo_net::protocol::{JoinAccepted, JoinRequest};
use elo_net::{Multiaddr, PeerId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::data_dir::{Company, Group};
use crate::records;
use crate::store::{StoreError, StoreHandle};

use crate::store::tables::META_INVITE;
/// Metadata key under which this node's listen addresses are remembered.
pub use crate::store::tables::META_LISTEN;
/// How long an invite lasts unless told otherwise.
pub const DEFAULT_INVITE_HOURS: u64 = 24;

/// Why an invite could not be made or a join was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    #[error("no address to put in the invite: start `elo node` once, or pass --addr")]
    NoAddress,
    #[error("this invite is not known here (it was made by another member, or is damaged)")]
    UnknownInvite,
    #[error("this invite expired")]
    Expired,
    #[error("this invite was already used; ask for a new one")]
    AlreadyUsed,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Serialize, Deserialize)]
struct PendingInvite {
    expires_ms: i64,
    used: bool,
}

/// One member of the roster.
#[derive(Clone, Debug)]
pub struct Member {
    pub cnpj: String,
    pub name: String,
    pub peer_id: Option<PeerId>,
    pub addresses: Vec<Multiaddr>,
    /// The record categories it sends and receives (`elo share`). A value
    /// that does not parse counts as none: nothing is sent on a guess.
    pub sends: Sharing,
    pub receives: Sharing,
    /// The companies it has authorised to send to it, and which categories
    /// (seed 002's pair authorisation). Nothing from anyone else reaches it.
    pub authorizes: Authorizations,
}

/// Whom a company receives from: company CNPJ → categories. Written on the
/// company's own roster record as `CNPJ:cat,cat;CNPJ:all`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Authorizations(pub BTreeMap<String, Sharing>);

impl Authorizations {
    /// Reads the roster field; an entry that does not parse authorises
    /// nothing (nothing is received on a guess).
    pub fn parse(text: &str) -> Authorizations {
        let mut out = BTreeMap::new();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (cnpj, cats) = entry.split_once(':').unwrap_or((entry, "all"));
            if let (Ok(cnpj), Ok(cats)) = (elo_crdt::ident::cnpj(cnpj), Sharing::parse(cats)) {
                out.insert(cnpj, cats);
            }
        }
        Authorizations(out)
    }

    /// Whether changes made by `author` in category `c` may reach this
    /// company. The roster itself always may.
    pub fn allows(&self, author: &str, c: Category) -> bool {
        c == Category::Group || self.0.get(author).is_some_and(|s| s.covers_category(c))
    }

    /// Whether every one of `companies` is authorised for every category:
    /// then nothing needs checking change by change.
    pub fn allows_all<'a>(&self, mut companies: impl Iterator<Item = &'a str>) -> bool {
        companies.all(|c| self.0.get(c).is_some_and(Sharing::is_all))
    }

    pub fn grant(&mut self, cnpj: String, categories: Sharing) {
        self.0.insert(cnpj, categories);
    }

    pub fn revoke(&mut self, cnpj: &str) -> bool {
        self.0.remove(cnpj).is_some()
    }
}

impl std::fmt::Display for Authorizations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries: Vec<String> = self.0.iter().map(|(c, s)| format!("{c}:{s}")).collect();
        f.write_str(&entries.join(";"))
    }
}

/// A member that sends what this company receives but is not authorised
/// to send to it yet: `elo authorize --from CNPJ` accepts it.
#[derive(Clone, Debug, Serialize)]
pub struct PendingAuthorization {
    pub company: String,
    pub name: String,
    /// What it would send that this company receives.
    pub categories: String,
}

/// The pending requests of `me`: members whose sends meet its receives and
/// that it has not authorised.
pub fn pending_authorizations(members: &[Member], me: &str) -> Vec<PendingAuthorization> {
    let Some(mine) = members.iter().find(|m| m.cnpj == me) else {
        return Vec::new();
    };
    members
        .iter()
        .filter(|m| m.cnpj != me && !mine.authorizes.0.contains_key(&m.cnpj))
        .filter_map(|m| {
            let offered = m.sends.intersect(&mine.receives);
            (!offered.is_empty()).then(|| PendingAuthorization {
                company: m.cnpj.clone(),
                name: m.name.clone(),
                categories: offered.to_string(),
            })
        })
        .collect()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn invite_key(secret: &str) -> String {
    format!(
        "{META_INVITE}{}",
        hex::encode(Sha256::digest(secret.as_bytes()))
    )
}

/// Makes an invite: a fresh one-time secret, kept here as a hash.
pub async fn create_invite(
    store: &StoreHandle,
    group: &Group,
    addrs: Vec<String>,
    ttl_hours: u64,
) -> Result<Invite, MembershipError> {
    let addrs = if addrs.is_empty() {
        remembered_addrs(store).await?
    } else {
        addrs
    };
    if addrs.is_empty() {
        return Err(MembershipError::NoAddress);
    }
    let mut secret = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut secret);
    let secret = hex::encode(secret);
    let expires_ms = now_ms()
        .saturating_add(i64::try_from(ttl_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX));
    let pending = PendingInvite {
        expires_ms,
        used: false,
    };
    store
        .set_meta(
            &invite_key(&secret),
            serde_json::to_vec(&pending).unwrap_or_default(),
        )
        .await?;
    Ok(Invite {
        group: group.id.clone(),
        secret: group.secret.clone(),
        join: secret,
        expires_ms,
        addrs,
    })
}

/// The listen addresses the node last advertised (with `/p2p/`).
pub async fn remembered_addrs(store: &StoreHandle) -> Result<Vec<String>, StoreError> {
    Ok(store
        .meta(META_LISTEN)
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

/// Admits a company presenting a join secret: checks the invite, marks it
/// used, writes the company into the roster.
pub async fn accept_join(
    store: &StoreHandle,
    me: &Company,
    group: &Group,
    peer: PeerId,
    req: &JoinRequest,
) -> Result<JoinAccepted, MembershipError> {
    let key = invite_key(&req.secret);
    let pending: PendingInvite = store
        .meta(&key)
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(MembershipError::UnknownInvite)?;
    if pending.used {
        return Err(MembershipError::AlreadyUsed);
    }
    if pending.expires_ms < now_ms() {
        return Err(MembershipError::Expired);
    }
    let cnpj = elo_crdt::ident::cnpj(&req.company)
        .map_err(|e| MembershipError::Invalid(format!("CNPJ: {e}")))?;
    if let Some(existing) = store
        .get(
            DocId::from_key(Kind::Company, &cnpj)
                .map_err(|e| MembershipError::Invalid(e.to_string()))?,
        )
        .await?
    {
        let same_peer = existing
            .values
            .get("peer_id")
            .is_some_and(|v| *v == elo_crdt::FieldValue::Text(peer.to_string()));
        if !existing.deleted && !same_peer {
            return Err(MembershipError::Invalid(format!(
                "company {cnpj} is already a member with another node"
            )));
        }
    }
    // The newcomer came with an invite to receive the group's data: it
    // authorises every current member. The admitting company, by inviting
    // it, authorises it in return. Every other member decides for itself
    // (`elo authorize`), and sees it pending in `elo status` until then.
    let members = roster(store).await?;
    let mut theirs = Authorizations::default();
    for m in &members {
        theirs.grant(m.cnpj.clone(), Sharing::all());
    }
    let mut mine = members
        .iter()
        .find(|m| m.cnpj == me.cnpj)
        .map(|m| m.authorizes.clone())
        .unwrap_or_default();
    mine.grant(cnpj.clone(), Sharing::all());
    let body = json!({
        "cnpj": cnpj, "name": req.name, "peer_id": peer.to_string(),
        "listen_addrs": req.addrs.join(" "), "admitted_by": me.cnpj,
        "authorizes": theirs.to_string(),
    });
    // Check the new member's record before spending the invite on it.
    elo_crdt::RecordPatch::from_json(Kind::Company, &body)
        .map_err(|e| MembershipError::Invalid(e.to_string()))?;
    let used = PendingInvite {
        expires_ms: pending.expires_ms,
        used: true,
    };
    store
        .set_meta(&key, serde_json::to_vec(&used).unwrap_or_default())
        .await?;
    records::put(store, Kind::Company, None, &body, false)
        .await
        .map_err(|e| MembershipError::Invalid(e.to_string()))?;
    let own = json!({ "cnpj": me.cnpj, "authorizes": mine.to_string() });
    records::put(store, Kind::Company, None, &own, false)
        .await
        .map_err(|e| MembershipError::Invalid(e.to_string()))?;
    tracing::info!(company = %cnpj, %peer, "admitted a new member");
    Ok(JoinAccepted {
        group: group.id.clone(),
        primary: group.primary.clone(),
        term: group.term,
        admitted_by: me.cnpj.clone(),
    })
}

/// The roster: every company record not deleted.
pub async fn roster(store: &StoreHandle) -> Result<Vec<Member>, StoreError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list(Kind::Company, after.clone(), 1000, false)
            .await?;
        let done = page.len() < 1000;
        after = page.last().map(|r| r.id.clone());
        for r in page {
            let text = |k: &str| match r.values.get(k) {
                Some(elo_crdt::FieldValue::Text(t)) => Some(t.clone()),
                _ => None,
            };
            out.push(Member {
                cnpj: r.id.key_value().to_string(),
                name: text("name").unwrap_or_default(),
                peer_id: text("peer_id").and_then(|p| p.parse().ok()),
                sends: sharing(text("sends")),
                receives: sharing(text("receives")),
                authorizes: Authorizations::parse(&text("authorizes").unwrap_or_default()),
                addresses: text("listen_addrs")
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|a| a.parse().ok())
                    .collect(),
            });
        }
        if done {
            return Ok(out);
        }
    }
}

/// Peer id → member, for the members that have a node.
pub fn by_peer(members: &[Member]) -> HashMap<PeerId, Member> {
    members
        .iter()
        .filter_map(|m| m.peer_id.map(|p| (p, m.clone())))
        .collect()
}

fn sharing(text: Option<String>) -> Sharing {
    Sharing::parse(text.as_deref().unwrap_or("")).unwrap_or_else(|_| Sharing::none())
}

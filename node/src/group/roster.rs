//! The roster: who is in the group. It is the group's `company` records,
//! which replicate like any other; each member's record carries what it
//! sends, receives and whom it authorises.

use std::collections::{BTreeMap, HashMap};

use elo_crdt::{Category, Kind, Sharing};
use elo_net::{Multiaddr, PeerId};
use serde::Serialize;

use crate::store::{StoreError, StoreHandle};

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
    /// Whose records it takes in, and which categories (seed 002's pair
    /// authorisation, every company unless it names one).
    pub authorizes: Authorizations,
}

/// Whose records a company takes in: company CNPJ → categories, and `*` →
/// the categories taken from every company not listed. Written on the
/// company's own roster record as `*:all;CNPJ:none`. An empty field means
/// `*:all`: joining is enough to exchange data with every member, and a
/// company is kept out by naming it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorizations(pub BTreeMap<String, Sharing>);

/// The key of the entry for every company not named.
pub const EVERY_COMPANY: &str = "*";

impl Default for Authorizations {
    /// Every company, every category.
    fn default() -> Authorizations {
        let mut map = BTreeMap::new();
        map.insert(EVERY_COMPANY.to_owned(), Sharing::all());
        Authorizations(map)
    }
}

impl Authorizations {
    /// Reads the roster field; an entry that does not parse authorises
    /// nothing (nothing is received on a guess).
    pub fn parse(text: &str) -> Authorizations {
        if text.trim().is_empty() {
            return Authorizations::default();
        }
        let mut out = BTreeMap::new();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (who, cats) = entry.split_once(':').unwrap_or((entry, "all"));
            let who = match who.trim() {
                EVERY_COMPANY => Ok(EVERY_COMPANY.to_owned()),
                cnpj => elo_crdt::ident::cnpj(cnpj),
            };
            if let (Ok(who), Ok(cats)) = (who, Sharing::parse(cats)) {
                out.insert(who, cats);
            }
        }
        Authorizations(out)
    }

    /// The categories taken from records `company` created.
    fn of(&self, company: &str) -> Option<&Sharing> {
        self.0.get(company).or_else(|| self.0.get(EVERY_COMPANY))
    }

    /// Whether records created by `origin` in category `c` are taken in.
    /// The roster itself always is.
    pub fn allows(&self, origin: &str, c: Category) -> bool {
        c == Category::Group || self.of(origin).is_some_and(|s| s.covers_category(c))
    }

    /// Whether every one of `companies` is authorised for every category:
    /// then no record needs checking by its origin.
    pub fn allows_all<'a>(&self, mut companies: impl Iterator<Item = &'a str>) -> bool {
        companies.all(|c| self.of(c).is_some_and(Sharing::is_all))
    }

    /// Whether `company` is decided on: named, or covered by `*`.
    pub fn decides(&self, company: &str) -> bool {
        self.of(company).is_some()
    }

    /// Takes in what `who` (a CNPJ, or `*` for everyone) created, in
    /// `categories`.
    pub fn grant(&mut self, who: String, categories: Sharing) {
        self.0.insert(who, categories);
    }

    /// Stops taking in what `who` created: with `*` set, the company is
    /// named with no categories, so it stays out. Returns whether anything
    /// changed.
    pub fn revoke(&mut self, who: &str) -> bool {
        if who != EVERY_COMPANY && self.0.contains_key(EVERY_COMPANY) {
            let before = self.0.insert(who.to_owned(), Sharing::none());
            return before.is_none_or(|s| !s.is_empty());
        }
        self.0.remove(who).is_some()
    }
}

impl std::fmt::Display for Authorizations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            // An empty field would read as everyone.
            return f.write_str("none");
        }
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
        .filter(|m| m.cnpj != me && !mine.authorizes.decides(&m.cnpj))
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

//! Every rule of who may send what to whom, in one place: the sender's check
//! and the receiver's check sit side by side, because they must agree.
//!
//! A company sends a record to a member when the record's category is in
//! what it sends (`elo share --send`) and in what that member receives
//! (`--receive`), and, change by change, when the member has authorised the
//! company that made the change (`elo authorize`). The receiver checks the
//! same again on what arrives, whatever the sender did. Stock figures follow
//! the products category and the authorisation of the company that owns
//! them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use elo_crdt::{Category, DocId, DocPayload, RecordDoc, Sharing};
use elo_net::PeerId;

use super::roster::{Authorizations, Member, by_peer};
use crate::store::read::AuthorFilter;

/// The group as this node sees it now: its members by node, and which node
/// is this one. Rebuilt from the company records whenever one changes.
#[derive(Clone, Debug)]
pub struct Roster {
    pub local: PeerId,
    pub members: HashMap<PeerId, Member>,
}

impl Roster {
    pub fn new(local: PeerId, members: &[Member]) -> Roster {
        Roster {
            local,
            members: by_peer(members),
        }
    }

    /// The member behind a node, if it is one.
    pub fn member(&self, peer: &PeerId) -> Option<&Member> {
        self.members.get(peer)
    }

    /// The CNPJ of the member behind a node.
    pub fn company_of(&self, peer: &PeerId) -> Option<String> {
        self.member(peer).map(|m| m.cnpj.clone())
    }

    /// The node of a company, by CNPJ.
    pub fn peer_of(&self, cnpj: &str) -> Option<PeerId> {
        self.members
            .iter()
            .find(|(_, m)| m.cnpj == cnpj)
            .map(|(p, _)| *p)
    }

    /// Every other member's node: the network admits only these.
    pub fn others(&self) -> HashSet<PeerId> {
        self.members
            .keys()
            .copied()
            .filter(|p| *p != self.local)
            .collect()
    }

    fn me(&self) -> Option<&Member> {
        self.members.get(&self.local)
    }

    /// Whether `m` authorises every other member for everything: then no
    /// change needs checking by its author.
    fn authorises_everyone(&self, m: &Member) -> bool {
        m.authorizes.allows_all(
            self.members
                .values()
                .filter(|o| o.cnpj != m.cnpj)
                .map(|o| o.cnpj.as_str()),
        )
    }

    /// The sender's side: what this company may send to `peer`. An unknown
    /// node receives nothing but the roster.
    pub fn send_policy(&self, peer: PeerId) -> SendPolicy {
        let sends = self.me().map_or_else(Sharing::all, |m| m.sends.clone());
        let receives = self
            .member(&peer)
            .map_or_else(Sharing::none, |m| m.receives.clone());
        let authors = self.member(&peer).and_then(|member| {
            if self.authorises_everyone(member) {
                return None;
            }
            let authorizes = member.authorizes.clone();
            let own = member.cnpj.clone();
            let filter: Arc<AuthorFilter> = Arc::new(move |author: &str, category| {
                author == own || authorizes.allows(author, category)
            });
            Some(filter)
        });
        SendPolicy {
            categories: sends.intersect(&receives),
            authors,
        }
    }

    /// The receiver's side: what this company accepts from members.
    pub fn receive_policy(&self) -> ReceivePolicy {
        let Some(me) = self.me() else {
            return ReceivePolicy::everything();
        };
        ReceivePolicy {
            receives: me.receives.clone(),
            authorizes: (!self.authorises_everyone(me)).then(|| {
                let mut a = me.authorizes.clone();
                // Its own changes, coming back through a member, are its own.
                a.grant(me.cnpj.clone(), Sharing::all());
                a
            }),
        }
    }

    /// Members that may now have more from this node than when they last
    /// walked its log: their receive set or authorisations changed, or this
    /// company's send set did (then all). A narrowing needs nothing; telling
    /// on any change keeps the rule simple and costs one walk of the log.
    pub fn widened_since(&self, old: &Roster) -> Vec<PeerId> {
        let mine_changed = match (old.me(), self.me()) {
            (Some(a), Some(b)) => a.sends != b.sends,
            _ => false,
        };
        self.members
            .iter()
            .filter(|(p, _)| **p != self.local)
            .filter(|(p, m)| {
                mine_changed
                    || old
                        .member(p)
                        .is_some_and(|o| o.receives != m.receives || o.authorizes != m.authorizes)
            })
            .map(|(p, _)| *p)
            .collect()
    }
}

/// What may go to one member.
#[derive(Clone)]
pub struct SendPolicy {
    /// Categories this company sends and that member receives.
    categories: Sharing,
    /// Whose changes it accepts, when it does not accept everyone's.
    authors: Option<Arc<AuthorFilter>>,
}

impl SendPolicy {
    /// Whether a record may be listed and sent at all.
    pub fn covers_doc(&self, id: &DocId) -> bool {
        self.categories.covers_doc(id)
    }

    /// The per-change filter by author, when there is one.
    pub fn authors(&self) -> Option<Arc<AuthorFilter>> {
        self.authors.clone()
    }

    /// Whether a company's stock figures may go: products, from a company
    /// the member has authorised.
    pub fn covers_stock(&self, owner: &str) -> bool {
        self.categories.covers_category(Category::Products)
            && self
                .authors
                .as_ref()
                .is_none_or(|f| f(owner, Category::Products))
    }
}

/// What this company accepts from members: the categories it receives and,
/// unless it authorises every member for everything, whose changes.
#[derive(Clone, Debug)]
pub struct ReceivePolicy {
    pub receives: Sharing,
    /// `None`: every author is accepted (the roster is all authorised, or
    /// this is a join's first load).
    pub authorizes: Option<Authorizations>,
}

impl ReceivePolicy {
    /// Accepts everything: a new member's first load from its admitter.
    pub fn everything() -> ReceivePolicy {
        ReceivePolicy {
            receives: Sharing::all(),
            authorizes: None,
        }
    }

    /// Whether records of this kind are fetched at all.
    pub fn covers_doc(&self, id: &DocId) -> bool {
        self.receives.covers_doc(id)
    }

    /// Why a received document must not be stored, if it must not.
    pub fn refuses(&self, id: &DocId, payload: &DocPayload) -> Option<String> {
        let authorizes = self.authorizes.as_ref()?;
        let category = id.category();
        match RecordDoc::authors_of(payload) {
            Err(e) => Some(e.to_string()),
            Ok(authors) => authors
                .into_iter()
                .find(|a| !a.as_deref().is_some_and(|a| authorizes.allows(a, category)))
                .map(|a| {
                    format!(
                        "it holds a change by {} in {}, which this company has not authorised",
                        a.as_deref().unwrap_or("an unnamed company"),
                        category.as_str()
                    )
                }),
        }
    }

    /// Whether a company's stock figures are taken (the sender's
    /// [`SendPolicy::covers_stock`], checked again).
    pub fn accepts_stock(&self, owner: &str) -> bool {
        self.receives.covers_category(Category::Products)
            && self
                .authorizes
                .as_ref()
                .is_none_or(|a| a.allows(owner, Category::Products))
    }
}

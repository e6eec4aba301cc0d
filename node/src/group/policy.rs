//! Every rule of who may send what to whom, in one place: the sender's check
//! and the receiver's check sit side by side, because they must agree.
//!
//! A company sends a record to a member when the record's category is in
//! what it sends (`elo share --send`) and in what that member receives
//! (`--receive`): that is the sender's rule, and it keeps data where it
//! belongs. Which companies' records a member takes in is the member's own
//! consent (`elo authorize`, every member unless it keeps one out), and the
//! member decides it: a company takes in a record when it created the
//! record, already holds it, or takes in what one of the record's creators
//! makes. A record taken in comes whole, with every edit anyone made to it.
//! Checking change by change cannot work: a change built on a withheld one
//! cannot be held without it, so an authorised company's edit would be
//! frozen behind an unauthorised one. To spare a member that keeps someone
//! out the fetch of what it would refuse, the sender lists each record's
//! creators with it; what the member does not take is noted as withheld
//! (`elo status`, `GET /v1/withheld`). Stock figures follow the products
//! category only: seed 002's stock view does not wait for authorisation
//! ("considerar estoque desta empresa" decides what counts).

use std::collections::{HashMap, HashSet};

use elo_crdt::{Category, DocId, DocPayload, RecordDoc, Sharing};
use elo_net::PeerId;

use super::roster::{Authorizations, Member, by_peer};

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

    /// Whether `m` takes in every other member's records in every
    /// category: then no record needs checking by its origin.
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
        let lists_origins = self
            .member(&peer)
            .is_some_and(|member| !self.authorises_everyone(member));
        SendPolicy {
            categories: sends.intersect(&receives),
            lists_origins,
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
    /// Whether the member keeps some company out: then each listed record
    /// goes with its creators.
    lists_origins: bool,
}

impl SendPolicy {
    /// Whether a record may be listed and sent at all.
    pub fn covers_doc(&self, id: &DocId) -> bool {
        self.categories.covers_doc(id)
    }

    /// Whether listed records go with their creators.
    pub fn lists_origins(&self) -> bool {
        self.lists_origins
    }

    /// Whether a company's stock figures may go: the member receives
    /// products. Authorisation does not hold stock back (seed 002).
    pub fn covers_stock(&self) -> bool {
        self.categories.covers_category(Category::Products)
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

    /// Whether a record this company does not hold is taken in, by the
    /// companies that created it (a part goes with its record).
    pub fn takes(&self, id: &DocId, origins: &[String]) -> bool {
        let Some(authorizes) = self.authorizes.as_ref() else {
            return true;
        };
        let category = id.category();
        origins.iter().any(|o| authorizes.allows(o, category))
    }

    /// Why a received record must not be stored, if it must not: this
    /// company had nothing of it, and the payload's creators (its changes
    /// that depend on nothing) are all companies it keeps out. What the
    /// sender listed was checked before the fetch; this is the check again
    /// on what arrived. A part of a record (`kind/key/category`) went with
    /// its record's check and is never shown without it.
    pub fn refuses(&self, id: &DocId, payload: &DocPayload, had_nothing: bool) -> Option<String> {
        if self.authorizes.is_none() || !had_nothing || id.part_category().is_some() {
            return None;
        }
        match RecordDoc::origins_in(payload) {
            Err(e) => Some(e.to_string()),
            Ok(origins) => (!self.takes(id, &origins)).then(|| origins.join(",")),
        }
    }

    /// Whether stock figures are taken (the sender's
    /// [`SendPolicy::covers_stock`], checked again): products are received.
    pub fn accepts_stock(&self) -> bool {
        self.receives.covers_category(Category::Products)
    }
}

//! Invitations and admitting a company that presents a valid one-time
//! join secret.
//!
//! An invite's join secret is kept only as a hash, in metadata, with its
//! expiry and whether it was used. It is marked used before the new member
//! is written, so a crash between the two can never admit two companies.

use elo_crdt::{DocId, Kind, Sharing};
use elo_net::PeerId;
use elo_net::invite::Invite;
use elo_net::protocol::{JoinAccepted, JoinRequest};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::roster::{Authorizations, roster};
use crate::clock::now_ms;
use crate::data_dir::{Company, Group};
use crate::records;
use crate::store::tables::{META_INVITE, META_LISTEN};
use crate::store::{StoreError, StoreHandle};

/// How long an invite lasts unless told otherwise.
pub const DEFAULT_INVITE_HOURS: u64 = 24;
/// The longest an invite may stay valid: a month. An invite is a key to
/// the group; one that never expires is one that leaks some day.
pub const MAX_INVITE_HOURS: u64 = 720;

/// Why an invite could not be made or a join was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    #[error("no address to put in the invite: start `elo node` once, or pass --addr")]
    NoAddress,
    #[error("this invite is not known here (it was made by another member, or is damaged)")]
    UnknownInvite,
    #[error(
        "this invite expired {} ago by the clock of the member that made it; ask for a new one (`elo invite`)",
        crate::clock::span_text(*.0)
    )]
    Expired(i64),
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
    if !(1..=MAX_INVITE_HOURS).contains(&ttl_hours) {
        return Err(MembershipError::Invalid(format!(
            "an invite lasts 1 to {MAX_INVITE_HOURS} hours, not {ttl_hours}"
        )));
    }
    // The joining company dials these: one it cannot read would make an
    // invite that fails only on the other side.
    if let Some(bad) = addrs
        .iter()
        .find(|a| a.parse::<elo_net::Multiaddr>().is_err())
    {
        return Err(MembershipError::Invalid(format!(
            "address {bad:?} is not a multiaddress such as /ip4/10.0.0.5/tcp/4712"
        )));
    }
    let mut secret = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut secret);
    let secret = hex::encode(secret);
    let made_ms = now_ms();
    let expires_ms = made_ms
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
        made_ms: Some(made_ms),
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
    let pending = usable_invite(store, &key).await?;
    let cnpj = elo_crdt::ident::cnpj(&req.company)
        .map_err(|e| MembershipError::Invalid(format!("CNPJ: {e}")))?;
    not_a_member_elsewhere(store, &cnpj, peer).await?;
    // The newcomer came with an invite to exchange data with the group: it
    // takes in every member's records (`*`), and every member that takes in
    // everyone's (the default) takes in its records with no further step. A
    // member that keeps an explicit list has the admitting company add the
    // newcomer to its own; any other such member sees it pending in
    // `elo status` and decides (`elo authorize`).
    let members = roster(store).await?;
    let theirs = Authorizations::default();
    let mut mine = members
        .iter()
        .find(|m| m.cnpj == me.cnpj)
        .map(|m| m.authorizes.clone())
        .unwrap_or_default();
    let grant_mine = !mine.decides(&cnpj);
    if grant_mine {
        mine.grant(cnpj.clone(), Sharing::all());
    }
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
    if grant_mine {
        let own = json!({ "cnpj": me.cnpj, "authorizes": mine.to_string() });
        records::put(store, Kind::Company, None, &own, false)
            .await
            .map_err(|e| MembershipError::Invalid(e.to_string()))?;
    }
    tracing::info!(company = %cnpj, %peer, "admitted a new member");
    Ok(JoinAccepted {
        group: group.id.clone(),
        primary: group.primary.clone(),
        term: group.term,
        admitted_by: me.cnpj.clone(),
    })
}

/// The invite a join secret names, if it can still be used.
async fn usable_invite(store: &StoreHandle, key: &str) -> Result<PendingInvite, MembershipError> {
    let pending: PendingInvite = store
        .meta(key)
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(MembershipError::UnknownInvite)?;
    if pending.used {
        return Err(MembershipError::AlreadyUsed);
    }
    let now = now_ms();
    if pending.expires_ms < now {
        return Err(MembershipError::Expired(now - pending.expires_ms));
    }
    Ok(pending)
}

/// Refuses a company that is a member already with another node.
async fn not_a_member_elsewhere(
    store: &StoreHandle,
    cnpj: &str,
    peer: PeerId,
) -> Result<(), MembershipError> {
    let id = DocId::from_key(Kind::Company, cnpj)
        .map_err(|e| MembershipError::Invalid(e.to_string()))?;
    if let Some(existing) = store.get(id).await? {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    //! An invite's life: refused when asked to last no time, too long or
    //! with an address nobody can dial; refused once expired.

    use super::*;
    use crate::data_dir::DataDir;

    const ADDR: &str = "/ip4/127.0.0.1/tcp/4712";

    #[tokio::test]
    async fn an_invite_is_checked_when_made_and_refused_once_expired() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("c"));
        let (_, group) = data.init("11.222.333/0001-81", "Matriz").unwrap();
        let (store, _, _) = data.open().unwrap();
        let store = StoreHandle::spawn(store);
        let addrs = || vec![ADDR.to_string()];

        for hours in [0, MAX_INVITE_HOURS + 1] {
            let made = create_invite(&store, &group, addrs(), hours).await;
            assert!(matches!(made, Err(MembershipError::Invalid(_))), "{made:?}");
        }
        let bad = create_invite(&store, &group, vec!["garbage".into()], 1).await;
        let Err(MembershipError::Invalid(why)) = bad else {
            panic!("{bad:?}")
        };
        assert!(why.contains("\"garbage\""), "{why}");

        let invite = create_invite(&store, &group, addrs(), 1).await.unwrap();
        let key = invite_key(&invite.join);
        assert!(usable_invite(&store, &key).await.is_ok());
        // An hour later (its expiry moved back, as the clock cannot be).
        let expired = PendingInvite {
            expires_ms: now_ms() - 1,
            used: false,
        };
        store
            .set_meta(&key, serde_json::to_vec(&expired).unwrap())
            .await
            .unwrap();
        let late = usable_invite(&store, &key).await;
        assert!(
            matches!(late, Err(MembershipError::Expired(_))),
            "{:?}",
            late.err()
        );
    }
}

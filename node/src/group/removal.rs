//! Taking a company out of the group, on both sides: the primary decides and
//! draws a new group secret; every member forgets the company and keeps the
//! new secret. Carrying the messages is replication's job; what they mean,
//! and what is written, is here.

use elo_crdt::Kind;
use serde::Serialize;

use crate::data_dir::{Company, Group};
use crate::primary::PrimaryView;
use crate::primary::machine::describe_primary;
use crate::records::{self, RecordError};
use crate::store::tables::META_GROUP;
use crate::store::{StoreError, StoreHandle};

/// How many of the secrets the group moved away from are kept: a member
/// that missed more moves than this is invited again.
pub const PREVIOUS_SECRETS_KEPT: usize = 8;

/// Why a removal was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemovalError {
    #[error("{0}")]
    InvalidCnpj(String),
    #[error("a company cannot remove itself; another member must")]
    ItSelf,
    #[error(
        "only the primary removes a company; the primary is {primary} (run it there, or elect this company first with `elo primary elect`)"
    )]
    NotPrimary { primary: String },
    #[error("{0} is not a member")]
    NotMember(String),
    #[error("this company cannot take part in its own removal")]
    OwnRemoval,
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("no group metadata in this store")]
    NoGroup,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("that is a network key the group has moved away from")]
    OldSecret,
    #[error("the group metadata is damaged: {0}")]
    DamagedGroup(String),
}

/// What `elo remove-company` did.
#[derive(Clone, Debug, Serialize)]
pub struct Removal {
    pub removed: String,
    /// Members that got the new key.
    pub reached: Vec<String>,
    /// Members that did not take it now: any member that moved hands it to
    /// them when it sees them again (they hold the old key until then).
    pub not_reached: Vec<String>,
}

/// The primary's side, before anything is written: one company speaks for
/// the group, the primary elected by a majority; a member cannot throw
/// another out on its own, nor itself. Returns the CNPJ to remove.
pub fn may_remove(me: &Company, view: &PrimaryView, cnpj: &str) -> Result<String, RemovalError> {
    let cnpj = elo_crdt::ident::cnpj(cnpj).map_err(|e| RemovalError::InvalidCnpj(e.to_string()))?;
    if cnpj == me.cnpj {
        return Err(RemovalError::ItSelf);
    }
    if !view.acting {
        return Err(RemovalError::NotPrimary {
            primary: describe_primary(view.primary.as_ref()),
        });
    }
    Ok(cnpj)
}

/// A fresh group secret, hex.
pub fn fresh_secret() -> String {
    let mut fresh = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut fresh);
    hex::encode(fresh)
}

/// The bytes the network key is derived from.
pub fn secret_bytes(secret: &str) -> Vec<u8> {
    hex::decode(secret).unwrap_or_else(|_| secret.as_bytes().to_vec())
}

/// What a member does with a secret it is handed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handover {
    /// A secret new here: kept; the caller moves the network to it.
    Moved,
    /// The secret in use already (handed twice, or by two members).
    AlreadyHeld,
}

/// A member's side: a member removed `removed` and handed over the new
/// secret. Forgets the company and keeps the secret; the caller then moves
/// the network to it. A secret the group already moved away from is
/// refused: the group never goes back to a key a removed company holds.
pub async fn take_new_secret(
    store: &StoreHandle,
    me: &Company,
    removed: &str,
    secret: &str,
) -> Result<Handover, RemovalError> {
    if removed == me.cnpj {
        return Err(RemovalError::OwnRemoval);
    }
    let group = stored_group(store).await?;
    if group.previous_secrets.iter().any(|s| s == secret) {
        return Err(RemovalError::OldSecret);
    }
    forget_member(store, removed).await?;
    if group.secret == secret {
        return Ok(Handover::AlreadyHeld);
    }
    keep_secret(store, secret, removed).await?;
    Ok(Handover::Moved)
}

/// Deletes a company's roster record here, if it is still there. The
/// primary's own deletion replicates too and may land between a look and a
/// delete, so "already gone" is success, not a refusal of the removal.
pub async fn forget_member(store: &StoreHandle, cnpj: &str) -> Result<(), RemovalError> {
    match records::delete(store, Kind::Company, cnpj).await {
        Ok(_) | Err(RecordError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The group's metadata as stored now.
pub async fn stored_group(store: &StoreHandle) -> Result<Group, RemovalError> {
    let current = store.meta(META_GROUP).await?.ok_or(RemovalError::NoGroup)?;
    serde_json::from_slice(&current).map_err(|e| RemovalError::DamagedGroup(e.to_string()))
}

/// Keeps a new group secret in the group's metadata, for the next start
/// and for invites; the one it replaces joins the previous ones, to reach
/// members that missed the move.
pub async fn keep_secret(
    store: &StoreHandle,
    secret: &str,
    removed: &str,
) -> Result<(), RemovalError> {
    let mut group = stored_group(store).await?;
    let old = std::mem::replace(&mut group.secret, secret.to_string());
    group.previous_secrets.retain(|s| *s != old && s != secret);
    group.previous_secrets.insert(0, old);
    group.previous_secrets.truncate(PREVIOUS_SECRETS_KEPT);
    group.last_removed = Some(removed.to_string());
    let bytes =
        serde_json::to_vec(&group).map_err(|e| RemovalError::DamagedGroup(e.to_string()))?;
    store.set_meta(META_GROUP, bytes).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! A member's side of a removal against a real store: the primary's own
    //! deletion landing first does not make it refuse the new key, a key
    //! handed twice is taken once, and a key the group left is refused.

    use super::*;
    use crate::data_dir::DataDir;

    const REMOVED: &str = "11444777000161";

    #[tokio::test]
    async fn the_new_key_is_taken_whatever_arrived_first_and_an_old_one_never() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("c"));
        let (me, founded) = data.init("11.222.333/0001-81", "Matriz").unwrap();
        let (store, _, _) = data.open().unwrap();
        let store = StoreHandle::spawn(store);
        let record = serde_json::json!({ "cnpj": REMOVED, "name": "Removida" });
        records::put(&store, Kind::Company, None, &record, false)
            .await
            .unwrap();
        // The primary's deletion replicated here before its key did.
        records::delete(&store, Kind::Company, REMOVED)
            .await
            .unwrap();

        let moved = take_new_secret(&store, &me, REMOVED, "new").await;
        assert_eq!(moved.unwrap(), Handover::Moved);
        let again = take_new_secret(&store, &me, REMOVED, "new").await;
        assert_eq!(again.unwrap(), Handover::AlreadyHeld);
        let back = take_new_secret(&store, &me, REMOVED, &founded.secret).await;
        assert!(matches!(back, Err(RemovalError::OldSecret)), "{back:?}");

        let group = stored_group(&store).await.unwrap();
        assert_eq!(group.secret, "new");
        assert_eq!(group.previous_secrets, vec![founded.secret]);
        assert_eq!(group.last_removed.as_deref(), Some(REMOVED));
        let own = take_new_secret(&store, &me, &me.cnpj, "newer").await;
        assert!(matches!(own, Err(RemovalError::OwnRemoval)), "{own:?}");
    }
}

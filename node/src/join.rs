//! `elo join`: a new company enters a group with an invite. It creates its
//! data directory, reaches a member named in the invite, presents the
//! one-time secret, and on admission pulls the group's data (the same pull
//! loop as live replication). If no member is reachable or the invite is
//! refused, the directory it created is removed: nothing half-made stays.

use std::time::{Duration, Instant};

use elo_net::invite::Invite;
use elo_net::protocol::{JoinAccepted, JoinRequest, RequestBody, ResponseBody};
use elo_net::{Multiaddr, NetConfig, PeerId};

use crate::clock::now_ms;
use crate::data_dir::{DataDir, DataDirError};
use crate::replication::{PullError, Source, peer_of, pull_records};
use crate::store::StoreHandle;

/// Why joining failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    #[error("the invite names no member address")]
    NoAddress,
    #[error("could not reach any member named in the invite; tried:\n{0}")]
    Unreachable(String),
    #[error("the member refused: {0}")]
    Refused(String),
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error(transparent)]
    Net(#[from] elo_net::NetError),
    #[error("receiving the group's data failed: {0}")]
    Pull(#[from] PullError),
}

/// What joining did.
#[derive(Debug)]
pub struct Joined {
    pub company: String,
    pub group: String,
    pub admitted_by: String,
    pub docs: u64,
    pub took: Duration,
}

/// Joins the group of `invite` as company `cnpj`. `progress(their_latest,
/// checkpoint)` follows the initial load.
pub async fn join(
    data: &DataDir,
    invite: &Invite,
    cnpj: &str,
    name: &str,
    progress: impl FnMut(u64, u64),
) -> Result<Joined, JoinError> {
    // The member that made the invite decides, by the clock that made it;
    // this machine's clock only says when the two disagree.
    if let Some(note) = clock_note(invite, now_ms()) {
        tracing::warn!("{note}");
    }
    let addrs: Vec<Multiaddr> = invite.addrs.iter().filter_map(|a| a.parse().ok()).collect();
    if addrs.is_empty() {
        return Err(JoinError::NoAddress);
    }
    let existed = data.root().exists();
    data.init_joining(cnpj, name, &invite.group, &invite.secret)?;
    let result = admit_and_load(data, invite, &addrs, progress).await;
    if result.is_err() && !existed {
        let _ = std::fs::remove_dir_all(data.root());
    }
    result
}

/// Clocks further apart than this are worth a word.
const CLOCK_TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// What this machine's clock, `now`, says of the invite when it disagrees
/// with the clock of the member that made it: made in the future, or
/// expired already. `None` when it looks usable.
fn clock_note(invite: &Invite, now: i64) -> Option<String> {
    use crate::clock::span_text;
    let check = "the clock of this machine or of the member that made it is wrong: check the date, time and time zone of both (NTP)";
    if let Some(made) = invite.made_ms
        && made > now + CLOCK_TOLERANCE_MS
    {
        return Some(format!(
            "this invite is not valid yet by this machine's clock: it was made {} from now; {check}. The member decides by its own clock",
            span_text(made - now)
        ));
    }
    if invite.expires_ms >= now {
        return None;
    }
    let lifetime = invite.made_ms.map_or_else(
        || "its lifetime".to_owned(),
        |made| span_text(invite.expires_ms - made),
    );
    Some(format!(
        "this invite expired {} ago by this machine's clock; if it was made less than {lifetime} ago, {check}. The member decides by its own clock; if it refuses, ask for a new invite (`elo invite`)",
        span_text(now - invite.expires_ms)
    ))
}

async fn admit_and_load(
    data: &DataDir,
    invite: &Invite,
    addrs: &[Multiaddr],
    mut progress: impl FnMut(u64, u64),
) -> Result<Joined, JoinError> {
    let started = Instant::now();
    let (mut store, company, mut group) = data.open()?;
    let keypair = data.identity()?;
    let members: std::collections::HashSet<PeerId> = addrs.iter().filter_map(peer_of).collect();
    let secret = hex::decode(&invite.secret).unwrap_or_else(|_| invite.secret.as_bytes().to_vec());
    let (net, _events) = elo_net::start(NetConfig {
        keypair,
        group_secret: secret,
        listen: Vec::new(),
        mdns: false,
        roster: members,
    })?;
    let (peer, accepted) = ask_to_join(&net, addrs, &invite.join, &company).await?;
    group.primary = accepted.primary.clone();
    group.term = accepted.term;
    DataDir::set_group(&mut store, &group)?;
    let handle = StoreHandle::spawn(store);
    // The source is a temporary: its copy of the store handle is gone when
    // the walk ends, so the file can be closed and compacted below.
    let everything = crate::group::ReceivePolicy::everything();
    let docs = pull_records(
        &Source::new(&net, &handle, peer, &everything),
        &accepted.admitted_by,
        |p| progress(p.their_latest, p.checkpoint),
    )
    .await
    .map_err(JoinError::Pull)?;
    // Everything is stored: that is the time the join took. Then the
    // housekeeping: the initial load can leave freed pages behind.
    let took = started.elapsed();
    let closed = handle.close().await;
    if let Err(e) = closed.and_then(|()| {
        crate::store::Store::compact_file_if_wasteful(&data.store_path()).map(|_| ())
    }) {
        tracing::warn!(
            "could not compact the store after the initial load: {e}; the data is all there, the file is only larger than it needs (check the disk's free space; nothing else to do)"
        );
    }
    Ok(Joined {
        company: company.cnpj,
        group: group.id,
        admitted_by: accepted.admitted_by,
        docs,
        took,
    })
}

/// Presents the join secret to the members named in the invite, one after
/// another, until one admits this company.
async fn ask_to_join(
    net: &elo_net::NetClient,
    addrs: &[Multiaddr],
    join_secret: &str,
    company: &crate::data_dir::Company,
) -> Result<(PeerId, JoinAccepted), JoinError> {
    let mut tried = Vec::new();
    for addr in addrs {
        let peer = peer_of(addr);
        if let Err(e) = net.dial(addr.clone(), peer).await {
            tried.push(format!("  {addr}: {e}"));
            continue;
        }
        let Some(peer) = peer else {
            tried.push(format!("  {addr}: the address has no /p2p/ peer id"));
            continue;
        };
        let req = JoinRequest {
            secret: join_secret.to_owned(),
            company: company.cnpj.clone(),
            name: company.name.clone(),
            addrs: Vec::new(),
        };
        match net.request(peer, RequestBody::Join(req)).await {
            Ok(ResponseBody::Joined(accepted)) => return Ok((peer, *accepted)),
            Ok(_) => tried.push(format!("  {addr}: unexpected answer")),
            Err(elo_net::NetError::Refused { reason, .. }) => {
                return Err(JoinError::Refused(reason));
            }
            Err(e) => tried.push(format!("  {addr}: {e}")),
        }
    }
    Err(JoinError::Unreachable(tried.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn invite(made_ms: Option<i64>, expires_ms: i64) -> Invite {
        Invite {
            group: "g".into(),
            secret: "00".into(),
            join: "11".into(),
            expires_ms,
            made_ms,
            addrs: Vec::new(),
        }
    }

    /// An invite made on a machine whose clock is 30 h behind: expired
    /// here, and the note says the clocks are the likely cause.
    #[test]
    fn an_invite_from_a_clock_behind_is_said_to_be_expired_here_naming_the_clocks() {
        let now = 1_800_000_000_000;
        let made = now - 30 * HOUR;
        let note = clock_note(&invite(Some(made), made + 24 * HOUR), now).expect("a note");
        assert!(
            note.contains("expired 6 h ago by this machine's clock"),
            "{note}"
        );
        assert!(note.contains("made less than 1 d ago"), "{note}");
        assert!(
            note.contains("clock of this machine or of the member"),
            "{note}"
        );
    }

    /// An invite made on a machine whose clock is ahead: made in the
    /// future here.
    #[test]
    fn an_invite_from_a_clock_ahead_is_said_to_be_not_valid_yet() {
        let now = 1_800_000_000_000;
        let made = now + 3 * HOUR;
        let note = clock_note(&invite(Some(made), made + 24 * HOUR), now).expect("a note");
        assert!(note.contains("not valid yet"), "{note}");
        assert!(note.contains("made 3 h from now"), "{note}");
        assert!(note.contains("clock"), "{note}");
    }

    #[test]
    fn an_invite_within_its_time_gets_no_note() {
        let now = 1_800_000_000_000;
        assert_eq!(clock_note(&invite(Some(now - HOUR), now + HOUR), now), None);
        // A minute of difference between the clocks is no matter.
        assert_eq!(
            clock_note(&invite(Some(now + 60_000), now + HOUR), now),
            None
        );
        assert_eq!(clock_note(&invite(None, now + HOUR), now), None);
        let old = clock_note(&invite(None, now - HOUR), now).expect("a note");
        assert!(old.contains("less than its lifetime ago"), "{old}");
    }
}

//! What the replication actor is asked or told: by the handle (with a
//! reply), by the request tasks (what a member said), by the pulls (how far
//! they got). Its own module, so the actor and the request tasks both use it
//! without using each other.

use elo_net::PeerId;
use elo_net::protocol::Push;
use tokio::sync::oneshot;

use super::log::Progress;
use super::peers::PeerStatus;
use crate::store::StoreError;

/// What the actor is asked or told.
pub(super) enum Command {
    Status(oneshot::Sender<Vec<PeerStatus>>),
    /// Forget checkpoints (of one member, by peer id or CNPJ, or all) and
    /// walk again; answers how many members.
    Resync {
        who: Option<String>,
        reply: oneshot::Sender<Result<usize, StoreError>>,
    },
    /// The members connected now.
    ConnectedMembers(oneshot::Sender<Vec<PeerId>>),
    /// Reload the roster from the company records; answers once the
    /// network knows it.
    RefreshRoster(oneshot::Sender<()>),
    /// Pull from this member (coalesced).
    Wake(PeerId),
    /// The member's hello named its latest sequence number.
    Heard {
        peer: PeerId,
        latest_seq: u64,
    },
    /// The member has something new, or asks for a walk from the start.
    Announced {
        peer: PeerId,
        latest_seq: u64,
        rescan: bool,
        push: Option<Box<Push>>,
    },
    /// A page of the member's record log is stored.
    Progress {
        peer: PeerId,
        progress: Progress,
    },
    /// A rescan could not be told: tell it when the member connects again.
    RescanOwed(PeerId),
}

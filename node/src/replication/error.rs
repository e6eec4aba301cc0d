//! What can go wrong on the replication path, as `elo status` shows it in a
//! member's `last_error`.

use std::time::Duration;

use crate::group::RemovalError;
use crate::store::StoreError;

/// Why one walk of a member's log stopped. The walk is retried; nothing is
/// lost, because a checkpoint moves only past what is committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    #[error("the request to the member failed: {0}")]
    Link(String),
    #[error("the member did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("the member refused: {0}")]
    Refused(String),
    #[error("the member answered a {asked} request with something else")]
    UnexpectedAnswer { asked: &'static str },
    #[error("the member sent change-log entries older than asked")]
    OlderThanAsked,
    #[error("malformed heads for {0}")]
    MalformedHeads(String),
    #[error("the member did not send documents it listed, such as {}", .0.join(", "))]
    MissingDocs(Vec<String>),
    #[error("the member's documents could not be read: {0}")]
    Unpack(#[from] elo_net::packed_docs::UnpackError),
    #[error("checking the received documents failed: {0}")]
    Prepare(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why replication could not start or a command to it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicationError {
    /// The group's rules refused a removal.
    #[error(transparent)]
    Removal(#[from] RemovalError),
    /// The primary could not say who it is.
    #[error(transparent)]
    Primary(#[from] crate::primary::PrimaryError),
    #[error("the node is stopping")]
    Stopped,
    #[error(transparent)]
    Net(#[from] elo_net::NetError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

//! The group: who is in it (the roster), how a company gets in (invites and
//! admission), what each member may send and receive (one policy for the
//! sender's and the receiver's side), the sharing commands, and removal.
//!
//! It reads and writes through the store and the records module only: it
//! never touches the network (replication carries its messages) nor redb.

pub mod invite;
pub mod policy;
pub mod removal;
pub mod roster;
pub mod sharing;

pub use invite::{DEFAULT_INVITE_HOURS, MembershipError, create_invite};
pub use policy::{ReceivePolicy, Roster, SendPolicy};
pub use removal::{Removal, RemovalError};
pub use roster::{Authorizations, Member, PendingAuthorization, pending_authorizations, roster};
pub use sharing::PolicyError;

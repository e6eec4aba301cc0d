//! The handle the node holds on the primary task, the commands it sends
//! and what they answer; the task itself is [`super::driver`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use super::machine::{
    AllocError, ClaimError, CompanyId, ElectError, KnownPrimary, PrimaryMessage, RangeError,
    TableSettings, Term,
};
use crate::store::StoreError;

/// How long `elo id next` waits for a new block when this company's are
/// used up and a primary is known (or may soon be: a company that just
/// joined learns it when its first connection comes up).
pub const BLOCK_WAIT: Duration = Duration::from_secs(4);
/// How long a new record waits for a code before it is stored without
/// one (it is numbered when a block arrives): the ERP's write is not held
/// up for long.
pub const CREATE_WAIT: Duration = Duration::from_millis(500);
/// Most codes one request may draw.
pub const MAX_CODES_PER_REQUEST: usize = 100_000;

/// Why a primary or range command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrimaryError {
    #[error(transparent)]
    Elect(#[from] ElectError),
    #[error(transparent)]
    Range(#[from] RangeError),
    #[error(transparent)]
    Exhausted(#[from] AllocError),
    #[error(transparent)]
    Claim(#[from] ClaimError),
    #[error(
        "no majority answered: the election of term {term} needs {needed} of the {members} members; the primary is unchanged ({primary})"
    )]
    NoMajority {
        term: Term,
        needed: usize,
        members: usize,
        primary: String,
    },
    #[error(
        "{candidate} did not win an election within {secs} s (it may be unreachable, or no majority answered it); the primary is {primary}"
    )]
    NotElected {
        candidate: CompanyId,
        secs: u64,
        primary: String,
    },
    #[error(
        "the range was proposed but a majority of the members has not stored it within {secs} s; it is not committed"
    )]
    NotCommitted { secs: u64 },
    #[error(
        "no code yet: a member is connected but has not yet confirmed how far this company's codes had got (this node just started); try again in a moment"
    )]
    Unconfirmed,
    #[error("the stored primary state is damaged ({0}); it was left as it is")]
    Damaged(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the primary task has stopped")]
    Stopped,
}

/// What `elo primary` shows.
#[derive(Clone, Debug, Serialize)]
pub struct PrimaryView {
    pub company: CompanyId,
    pub primary: Option<KnownPrimary>,
    /// The highest term this member has seen.
    pub current_term: Term,
    /// Whether this company is acting as primary now (it won its term and
    /// can allocate).
    pub acting: bool,
    pub members: usize,
    /// Records this company stored without a code, by table: they are
    /// numbered when a block arrives.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub awaiting_code: BTreeMap<String, usize>,
}

/// One range, as `elo ranges` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct RangeRow {
    pub company: CompanyId,
    pub table: String,
    pub from: i64,
    pub to: i64,
    pub term: Term,
    /// Stored by a majority; proposed ones may still be dropped.
    pub committed: bool,
    /// Codes issued from it: exact for this company's ranges, as last
    /// reported by the others for theirs.
    pub used: Option<i64>,
}

pub(super) enum Input {
    Message {
        from: CompanyId,
        message: PrimaryMessage,
    },
    Connected(CompanyId),
    /// The member's last connection closed.
    Disconnected(CompanyId),
    Roster(Vec<CompanyId>),
    Elect {
        candidate: Option<CompanyId>,
        reply: oneshot::Sender<Result<PrimaryView, PrimaryError>>,
    },
    SetRange {
        company: CompanyId,
        table: String,
        from: i64,
        to: i64,
        reply: oneshot::Sender<Result<RangeRow, PrimaryError>>,
    },
    Codes {
        table: String,
        count: usize,
        wait: Duration,
        reply: oneshot::Sender<Result<Vec<i64>, PrimaryError>>,
    },
    Claim {
        table: String,
        code: i64,
        reply: oneshot::Sender<Result<(), PrimaryError>>,
    },
    /// Codes records of a table hold, as the store shows them.
    CodesHeld {
        table: String,
        codes: BTreeSet<i64>,
    },
    /// New records stored without a code: number them later.
    Await {
        table: String,
        ids: Vec<String>,
        reply: oneshot::Sender<Result<(), PrimaryError>>,
    },
    /// Codes for as many waiting records as the blocks allow.
    DrawForAwaiting(oneshot::Sender<Result<Vec<AwaitingCode>, PrimaryError>>),
    /// These waiting records were numbered (or need no code any more).
    Numbered {
        table: String,
        ids: Vec<String>,
    },
    View(oneshot::Sender<(PrimaryView, Vec<RangeRow>)>),
    /// Stop, and answer once the task has let go of the store.
    Stop(oneshot::Sender<()>),
}

/// A code drawn for a record that was stored without one.
#[derive(Clone, Debug)]
pub struct AwaitingCode {
    pub table: String,
    pub id: String,
    pub code: i64,
}

/// A reply sent once the step's state is stored (or its storing failed).
pub(super) type AfterStore = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// A handle to the primary task; cheap to clone.
#[derive(Clone)]
pub struct PrimaryHandle {
    pub(super) inputs: mpsc::Sender<Input>,
    /// Bumped when a block of this company arrives while records wait for
    /// a code.
    pub(super) blocks: watch::Receiver<u64>,
}

/// The settings the node starts the task with.
#[derive(Clone, Debug)]
pub struct PrimarySettings {
    /// Block size of every table (the primary's setting is the one used).
    pub block_size: i64,
    /// No network: a code request never waits for a block that cannot come.
    pub offline: bool,
}

impl Default for PrimarySettings {
    fn default() -> Self {
        PrimarySettings {
            block_size: TableSettings::default().block_size,
            offline: false,
        }
    }
}

impl PrimaryHandle {
    /// when the task is busy: the protocol retransmits.
    pub fn deliver(&self, from: CompanyId, message: PrimaryMessage) {
        let _ = self.inputs.try_send(Input::Message { from, message });
    }

    /// A member connected: exchange views with it.
    pub fn connected(&self, company: CompanyId) {
        let _ = self.inputs.try_send(Input::Connected(company));
    }

    /// A member's last connection closed.
    pub fn disconnected(&self, company: CompanyId) {
        let _ = self.inputs.try_send(Input::Disconnected(company));
    }

    /// The roster changed.
    pub async fn set_roster(&self, roster: Vec<CompanyId>) {
        let _ = self.inputs.send(Input::Roster(roster)).await;
    }

    /// Runs an election (for `candidate`, or this company) and waits for
    /// its outcome.
    pub async fn elect(&self, candidate: Option<CompanyId>) -> Result<PrimaryView, PrimaryError> {
        self.ask(|reply| Input::Elect { candidate, reply }).await?
    }

    /// Gives `from..=to` of `table` to `company` (primary only) and waits
    /// for a majority to store it.
    pub async fn set_range(
        &self,
        company: CompanyId,
        table: String,
        from: i64,
        to: i64,
    ) -> Result<RangeRow, PrimaryError> {
        self.ask(|reply| Input::SetRange {
            company,
            table,
            from,
            to,
            reply,
        })
        .await?
    }

    /// Draws `count` codes of `table` from this company's blocks. A
    /// request that runs out waits up to `wait` for the next block when a
    /// primary is known or may soon be; it may then return fewer than asked
    /// (never none: that is an error saying what is left and who is
    /// primary).
    pub async fn codes(
        &self,
        table: &str,
        count: usize,
        wait: Duration,
    ) -> Result<Vec<i64>, PrimaryError> {
        let table = table.to_owned();
        let count = count.clamp(1, MAX_CODES_PER_REQUEST);
        self.ask(|reply| Input::Codes {
            table,
            count,
            wait,
            reply,
        })
        .await?
    }

    /// Gives `code` of `table` to a record by hand (see
    /// [`Machine::claim_code`]); stored as used before this returns.
    pub async fn claim(&self, table: &str, code: i64) -> Result<(), PrimaryError> {
        let table = table.to_owned();
        self.ask(|reply| Input::Claim { table, code, reply })
            .await?
    }

    /// Codes that records of `table` hold: the counters of the ranges they
    /// lie in rise past them.
    pub async fn codes_held(&self, table: &str, codes: BTreeSet<i64>) {
        let table = table.to_owned();
        let _ = self.inputs.send(Input::CodesHeld { table, codes }).await;
    }

    /// Notes records stored without a code (before they are written), so
    /// they are numbered once a block arrives.
    pub async fn await_code(&self, table: &str, ids: Vec<String>) -> Result<(), PrimaryError> {
        let table = table.to_owned();
        self.ask(|reply| Input::Await { table, ids, reply }).await?
    }

    /// Codes for the records waiting for one, as far as the blocks go;
    /// each is stored as used before this returns. Tell
    /// [`PrimaryHandle::numbered`] once a record has its code.
    pub async fn draw_for_awaiting(&self) -> Result<Vec<AwaitingCode>, PrimaryError> {
        self.ask(Input::DrawForAwaiting).await?
    }

    /// Waiting records that got their code, or need none any more.
    pub async fn numbered(&self, table: &str, ids: Vec<String>) {
        let table = table.to_owned();
        let _ = self.inputs.send(Input::Numbered { table, ids }).await;
    }

    /// Changes when a block of this company arrives while records wait.
    pub fn blocks_arrived(&self) -> watch::Receiver<u64> {
        self.blocks.clone()
    }

    /// Stops the task; returns once it no longer holds the store (so the
    /// store can be closed and compacted).
    pub async fn stop(self) {
        let (reply, rx) = oneshot::channel();
        if self.inputs.send(Input::Stop(reply)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The current primary and every known range.
    pub async fn view(&self) -> Result<(PrimaryView, Vec<RangeRow>), PrimaryError> {
        self.ask(Input::View).await
    }

    async fn ask<T>(
        &self,
        input: impl FnOnce(oneshot::Sender<T>) -> Input,
    ) -> Result<T, PrimaryError> {
        let (reply, rx) = oneshot::channel();
        self.inputs
            .send(input(reply))
            .await
            .map_err(|_| PrimaryError::Stopped)?;
        rx.await.map_err(|_| PrimaryError::Stopped)
    }
}

//! Election of the primary and allocation of ID ranges, as a sans-I/O state
//! machine.
//!
//! The primary is a *role* held by one company of the group for one *term*
//! (DESIGN.md, key decision 6). It exists only to hand out ranges of numeric
//! codes per table, so that two companies never create the same code, even
//! offline. Safety rests on two majority rules borrowed from Raft, nothing
//! more:
//!
//! - **Vote rule.** Each member persists its `current_term` and the company it
//!   voted for in that term, and grants at most one vote per term. A candidate
//!   needs a majority of the roster, so at most one primary exists per term.
//! - **Allocation rule.** The primary proposes a range with its term; a member
//!   stores it (as *proposed*, persisted) only if the term is not older than
//!   its own, and acknowledges. With a majority of acknowledgements the range
//!   is *committed* and spread to everyone. A member that voted in a newer
//!   term refuses older allocations, and every vote reply carries the voter's
//!   known ranges. Any committed allocation was therefore stored by a member
//!   of every voting majority *before* it voted, so a new primary sees it and
//!   allocates above it. Two primaries on the two sides of a partition can
//!   never commit overlapping ranges: the one cut off from the majority
//!   commits nothing.
//!
//! # Driving the machine
//! Inputs are method calls: [`Machine::handle`] for a message from a peer,
//! [`Machine::tick`] on a timer, and commands ([`Machine::elect`],
//! [`Machine::set_range`], [`Machine::next_code`], [`Machine::sync_with`]).
//! After **every** call the driver takes [`Machine::take_output`]: if
//! [`Output::persist`] is set it must durably store [`Machine::persistent`]
//! *before* sending [`Output::messages`] and before handing out a code
//! returned by `next_code`. A crash then loses only volatile state (running
//! elections, pending allocations, acknowledgement counts), which the
//! protocol tolerates.
//!
//! # Who runs an election
//! [`Machine::elect`] may be called at any member. When the candidate is
//! another company, this member only sends it [`PrimaryMessage::StartElection`]
//! and the candidate runs the election itself: the votes and the voters'
//! ranges must reach the company that will allocate, so running it anywhere
//! else would only add a hop. The outcome is observable through
//! [`Machine::primary`] everywhere once gossip has spread it.
//!
//! # Incumbent reclaim
//! An acting primary that runs an election keeps acting in its term until
//! it wins the new one, so a failed election changes nothing it can do;
//! a member that took the new term refuses the old one, and the primary
//! then steps down (see `on_allocate_ack`).
//! A failed election still advances the terms of the members it reached, and
//! a restart loses the primary's volatile state; either way the known primary
//! can no longer allocate in its old term. So a member that is the known
//! primary but not acting as one runs a new election for itself after
//! [`Config::reclaim_after_ticks`]. Its vote requests say which term it
//! reclaims; a member that knows of a newer primary refuses them without
//! adopting the term, so a reclaim never displaces a newer primary that a
//! member knows of.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A company of the group, identified by its CNPJ digits.
pub type CompanyId = String;
/// The table whose codes a range covers (`product`, `customer`, …).
pub type TableName = String;
/// An election term: grows by one for every election started.
pub type Term = u64;

/// Codes fit a 32-bit signed integer unless a table says otherwise: many ERP
/// databases store codes as `INT`.
pub const DEFAULT_MAX_CODE: i64 = i32::MAX as i64;
/// Codes handed to a company at a time when it asks for a new block.
pub const DEFAULT_BLOCK_SIZE: i64 = 100_000;

/// A block of codes `from..=to` of one table given to one company by the
/// primary of `term`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Range {
    pub company: CompanyId,
    pub table: TableName,
    pub from: i64,
    /// Inclusive.
    pub to: i64,
    pub term: Term,
}

impl Range {
    /// Number of codes in the range (0 for a malformed one).
    pub fn size(&self) -> i64 {
        if self.from > self.to {
            0
        } else {
            self.to.saturating_sub(self.from).saturating_add(1)
        }
    }

    /// Whether the two ranges share a code of the same table.
    pub fn overlaps(&self, other: &Range) -> bool {
        self.table == other.table && self.from <= other.to && other.from <= self.to
    }

    /// Ranges arrive from the network: only positive, non-empty ones are
    /// accepted.
    fn is_well_formed(&self) -> bool {
        self.from >= 1 && self.from <= self.to
    }
}

/// The primary of a term, as known by a member: an elected fact, so the one
/// with the highest term is the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownPrimary {
    pub company: CompanyId,
    pub term: Term,
}

/// Block size and highest code of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSettings {
    pub block_size: i64,
    pub max_code: i64,
}

impl Default for TableSettings {
    fn default() -> Self {
        Self {
            block_size: DEFAULT_BLOCK_SIZE,
            max_code: DEFAULT_MAX_CODE,
        }
    }
}

/// Settings of the machine; all members should use the same ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Settings of tables not listed in `tables`.
    pub default_table: TableSettings,
    pub tables: BTreeMap<TableName, TableSettings>,
    /// Ticks after which an election without a majority gives up.
    pub election_timeout_ticks: u64,
    /// Ticks a known primary that is not acting waits before reclaiming.
    pub reclaim_after_ticks: u64,
    /// Ticks between two requests for the same table's next block.
    pub block_request_retry_ticks: u64,
    /// Ticks between two gossip rounds (each with the next roster member).
    pub sync_every_ticks: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            default_table: TableSettings::default(),
            tables: BTreeMap::new(),
            election_timeout_ticks: 10,
            reclaim_after_ticks: 30,
            block_request_retry_ticks: 10,
            sync_every_ticks: 5,
        }
    }
}

impl Config {
    pub fn table(&self, table: &str) -> &TableSettings {
        self.tables.get(table).unwrap_or(&self.default_table)
    }
}

/// What a member must keep across a crash. The node stores it as JSON; it
/// must be written before any message produced by the change that made it is
/// sent (see [`Output::persist`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistentState {
    /// Highest term this member has seen.
    pub current_term: Term,
    /// The candidate this member voted for in `current_term`.
    pub voted_for: Option<CompanyId>,
    /// The primary with the highest term this member knows of.
    pub primary: Option<KnownPrimary>,
    /// Ranges known to be acknowledged by a majority.
    pub committed: BTreeSet<Range>,
    /// Ranges proposed by a primary and not known to be committed. Kept so a
    /// future primary, reading a majority, allocates above them.
    pub proposed: BTreeSet<Range>,
    /// Codes already issued from this company's own ranges: table → first
    /// code of the range → how many were issued. Codes are drawn in order,
    /// so this is enough to never issue one twice.
    pub codes_used: BTreeMap<TableName, BTreeMap<i64, i64>>,
    /// Codes of this company's ranges given by hand to a record ahead of
    /// the counter: table → codes. Drawing skips them.
    #[serde(default)]
    pub claimed: BTreeMap<TableName, BTreeSet<i64>>,
    /// How many codes the other companies issued from their committed
    /// ranges, as they reported it or as their records show: company →
    /// table → first code of the range → count. Kept durably so that a
    /// company whose own counters went back (a restore, a re-join, a stale
    /// copy of its directory) hears from the group how far it had got.
    #[serde(default)]
    pub group_used: BTreeMap<CompanyId, BTreeMap<TableName, BTreeMap<i64, i64>>>,
}

impl PersistentState {
    /// The state a restored store must hold, given the one it replaces
    /// (`current`): the backup's state with every fact and counter that
    /// only grows taken at its highest, so a restore never makes this
    /// company vote twice in a term, forget a range, or draw a code again.
    pub fn carried_over(mut self, current: &PersistentState) -> PersistentState {
        if current.current_term > self.current_term {
            self.current_term = current.current_term;
            self.voted_for = current.voted_for.clone();
        } else if current.current_term == self.current_term && current.voted_for.is_some() {
            self.voted_for = current.voted_for.clone();
        }
        if current
            .primary
            .as_ref()
            .is_some_and(|c| self.primary.as_ref().is_none_or(|p| c.term > p.term))
        {
            self.primary = current.primary.clone();
        }
        self.committed.extend(current.committed.iter().cloned());
        self.proposed.extend(current.proposed.iter().cloned());
        let committed = &self.committed;
        self.proposed.retain(|r| !committed.contains(r));
        for (table, counts) in &current.codes_used {
            raise_counts(self.codes_used.entry(table.clone()).or_default(), counts);
        }
        for (table, codes) in &current.claimed {
            self.claimed
                .entry(table.clone())
                .or_default()
                .extend(codes.iter().copied());
        }
        for (company, tables) in &current.group_used {
            let mine = self.group_used.entry(company.clone()).or_default();
            for (table, counts) in tables {
                raise_counts(mine.entry(table.clone()).or_default(), counts);
            }
        }
        self
    }
}

/// Raises `counts[table][range_from]` to `count` if that is higher (and
/// inserts nothing otherwise); true if it rose.
fn raise_count(
    counts: &mut BTreeMap<TableName, BTreeMap<i64, i64>>,
    table: &str,
    range_from: i64,
    count: i64,
) -> bool {
    let at = counts.get(table).and_then(|t| t.get(&range_from));
    if count <= at.copied().unwrap_or(0) {
        return false;
    }
    counts
        .entry(table.to_owned())
        .or_default()
        .insert(range_from, count);
    true
}

/// Takes every count of `other` into `into` where it is higher; true if
/// any rose.
fn raise_counts(into: &mut BTreeMap<i64, i64>, other: &BTreeMap<i64, i64>) -> bool {
    let mut rose = false;
    for (&from, &count) in other {
        let at = into.entry(from).or_insert(0);
        if count > *at {
            *at = count;
            rose = true;
        }
    }
    rose
}

/// The messages members exchange about the primary and ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrimaryMessage {
    /// "Please run an election for yourself" (from a member where `elect`
    /// was invoked for another company).
    StartElection { term: Term },
    /// A candidate asks for a vote in `term`. `reclaim_of` is set when a
    /// known primary re-establishes itself after losing its term: members
    /// knowing a primary newer than that term refuse.
    RequestVote {
        term: Term,
        candidate: CompanyId,
        reclaim_of: Option<Term>,
    },
    /// Answer to `RequestVote`. A granted vote carries the voter's ranges so
    /// the new primary allocates above every possibly committed one.
    Vote {
        term: Term,
        granted: bool,
        primary: Option<KnownPrimary>,
        committed: Vec<Range>,
        proposed: Vec<Range>,
    },
    /// The primary of `term` proposes a range.
    Allocate { term: Term, range: Range },
    /// A member stored (`accepted`) or refused the proposed range; `term` is
    /// the member's current term.
    AllocateAck {
        term: Term,
        range: Range,
        accepted: bool,
    },
    /// Ranges acknowledged by a majority. They never conflict, so receivers
    /// simply take the union.
    Committed { ranges: Vec<Range> },
    /// A company that used most of its block asks the primary for the next
    /// one. `blocks_held` is how many committed ranges of the table it holds,
    /// so the primary can tell a repeated request from a new one.
    RequestBlock {
        table: TableName,
        company: CompanyId,
        blocks_held: usize,
    },
    /// Anti-entropy: the sender's known primary and committed ranges. With
    /// `answer` the receiver replies with whatever the sender lacks.
    Sync {
        primary: Option<KnownPrimary>,
        committed: Vec<Range>,
        answer: bool,
    },
    /// How many codes the sender issued from each of its committed ranges
    /// (table, first code, count): `elo ranges` shows it anywhere, and the
    /// members keep it to tell the sender if its counters ever go back.
    Usage { used: Vec<(TableName, i64, i64)> },
    /// The answer to a [`PrimaryMessage::Usage`]: where the report said
    /// less than this member knows, codes of the receiver's ranges (table,
    /// first code, count) already issued, which it never draws again.
    UsageKnown { used: Vec<(TableName, i64, i64)> },
}

/// A message to send to one company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: CompanyId,
    pub message: PrimaryMessage,
}

/// Things the node may want to log or act on (e.g. write committed ranges
/// into the group document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// This member won the election of `term`.
    BecamePrimary { term: Term },
    /// This member stopped acting as primary of `term` (it saw a newer term,
    /// a member refused its term as old, or it won a newer one).
    SteppedDown { term: Term },
    /// This member's election of `term` ended without a majority.
    ElectionFailed { term: Term },
    /// A newer primary became known.
    PrimaryChanged(KnownPrimary),
    /// A committed range became known.
    RangeCommitted(Range),
    /// The primary could not allocate a block: the table has no codes left.
    TableFull { table: TableName },
}

/// What the driver must do after a call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// The persistent state changed: store [`Machine::persistent`] before
    /// sending `messages` (and before using a code from `next_code`).
    pub persist: bool,
    pub messages: Vec<Outgoing>,
    pub events: Vec<Event>,
}

/// A code drawn by [`Machine::next_code`].
#[must_use = "persist Machine::persistent() before handing out the code"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedCode {
    pub code: i64,
}

/// A range as reported by [`Machine::ranges`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeView {
    pub range: Range,
    pub committed: bool,
    /// Codes issued from it: exact for this company's own ranges, as last
    /// reported for others' (`None` until a report arrives).
    pub used: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElectError {
    #[error("company {0} is not in the roster")]
    NotInRoster(CompanyId),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error(
        "this company is not acting as primary (known primary: {})",
        describe_primary(primary.as_ref())
    )]
    NotPrimary { primary: Option<KnownPrimary> },
    #[error("company {0} is not in the roster")]
    NotInRoster(CompanyId),
    #[error("invalid range {from}..={to}: codes start at 1 and from must not exceed to")]
    InvalidBounds { from: i64, to: i64 },
    #[error("range ends at {to}, above the highest code {max_code} of table {table}")]
    AboveTableMax {
        table: TableName,
        to: i64,
        max_code: i64,
    },
    #[error(
        "the range overlaps codes {}..={} of table {}, given to company {} (term {}): choose codes outside it (see `elo ranges`)",
        .existing.from, .existing.to, .existing.table, .existing.company, .existing.term
    )]
    Overlaps { existing: Range },
    #[error("table {table} has no codes left to allocate")]
    TableFull { table: TableName },
}

/// Why a code given by hand to a record is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("code {code} is out of bounds: codes are 1 to {max_code}")]
    OutOfBounds { code: i64, max_code: i64 },
    #[error(
        "code {code} lies in no block of table {table} this company holds: leave `code` out and the record gets the next one"
    )]
    NotInBlock { code: i64, table: TableName },
    #[error(
        "code {code} lies in a block of company {company}: leave `code` out and the record gets the next one of this company"
    )]
    OthersBlock { code: i64, company: CompanyId },
    #[error("code {code} was already issued: leave `code` out and the record gets the next one")]
    Issued { code: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error(
        "no codes left for table {table} ({remaining} remaining) and no new block arrived; primary: {}",
        describe_primary(primary.as_ref())
    )]
    Exhausted {
        table: TableName,
        remaining: i64,
        primary: Option<KnownPrimary>,
    },
}

/// "CNPJ (term N)", or that none is known, for messages.
pub fn describe_primary(primary: Option<&KnownPrimary>) -> String {
    primary.map_or_else(
        || "none known".to_owned(),
        |p| format!("{} (term {})", p.company, p.term),
    )
}

/// An election this member is running for itself.
#[derive(Debug)]
struct Campaign {
    term: Term,
    votes: BTreeSet<CompanyId>,
    started_at: u64,
    reclaim_of: Option<Term>,
}

/// A range proposed by this primary and the members that stored it.
#[derive(Debug)]
struct Pending {
    range: Range,
    acks: BTreeSet<CompanyId>,
}

/// Volatile state of the acting primary.
#[derive(Debug)]
struct Leader {
    term: Term,
    pending: BTreeMap<(TableName, i64), Pending>,
}

/// The election and range-allocation state machine of one member.
#[derive(Debug)]
pub struct Machine {
    me: CompanyId,
    roster: BTreeSet<CompanyId>,
    config: Config,
    state: PersistentState,
    now: u64,
    campaign: Option<Campaign>,
    leader: Option<Leader>,
    idle_incumbent_ticks: u64,
    /// Tick at which the next block of a table was last asked for.
    block_requests: BTreeMap<TableName, u64>,
    /// Tables `next_code` was asked for, so the tick keeps asking for a
    /// block even before the first one arrives.
    wanted_tables: BTreeSet<TableName>,
    sync_cursor: usize,
    /// This member restarted as the known primary: it reclaims its role
    /// after [`RESTART_RECLAIM_TICKS`] rather than the usual idle delay, so
    /// blocks are handed out again soon after a primary restarts.
    restarted_incumbent: bool,
    /// A member answered this company's usage report since it started:
    /// its counters are as high as the group knows them.
    usage_heard: bool,
    /// Codes were drawn since this company last told every member its
    /// usage: the next tick tells them, so the group knows within a tick.
    usage_unreported: bool,
    out: Output,
}

/// Ticks a primary that restarted waits before reclaiming its role: time
/// for its connections to come up, so the first round of votes is heard.
const RESTART_RECLAIM_TICKS: u64 = 2;
/// Ticks an idle known primary waits, after a campaign ended, before a
/// member's block request makes it reclaim at once.
const RECLAIM_ON_REQUEST_TICKS: u64 = 4;

impl Machine {
    /// A member with nothing persisted yet.
    pub fn new(me: CompanyId, roster: impl IntoIterator<Item = CompanyId>) -> Self {
        Self::restore(me, roster, PersistentState::default())
    }

    /// A member restarting from its last persisted state.
    pub fn restore(
        me: CompanyId,
        roster: impl IntoIterator<Item = CompanyId>,
        state: PersistentState,
    ) -> Self {
        let restarted_incumbent = state.primary.as_ref().is_some_and(|p| p.company == me);
        Self {
            me,
            roster: roster.into_iter().collect(),
            config: Config::default(),
            state,
            now: 0,
            campaign: None,
            leader: None,
            idle_incumbent_ticks: 0,
            block_requests: BTreeMap::new(),
            wanted_tables: BTreeSet::new(),
            sync_cursor: 0,
            restarted_incumbent,
            usage_heard: false,
            usage_unreported: false,
            out: Output::default(),
        }
    }

    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Replaces the roster. Members must agree on the roster: two members
    /// counting majorities of different rosters could elect two primaries in
    /// one term.
    pub fn set_roster(&mut self, roster: impl IntoIterator<Item = CompanyId>) {
        self.roster = roster.into_iter().collect();
        self.check_campaign_won();
    }

    pub fn persistent(&self) -> &PersistentState {
        &self.state
    }

    /// Messages, events and the persist flag produced since the last call.
    pub fn take_output(&mut self) -> Output {
        std::mem::take(&mut self.out)
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    /// How many members the majorities are counted over.
    pub fn roster_size(&self) -> usize {
        self.roster.len()
    }

    pub fn current_term(&self) -> Term {
        self.state.current_term
    }

    /// The primary with the highest term known here.
    pub fn primary(&self) -> Option<&KnownPrimary> {
        self.state.primary.as_ref()
    }

    /// The term in which this member is acting as primary, if any.
    pub fn acting_primary_term(&self) -> Option<Term> {
        self.leader.as_ref().map(|l| l.term)
    }

    pub fn is_campaigning(&self) -> bool {
        self.campaign.is_some()
    }

    /// Every range known here, committed first, with the codes used of this
    /// company's own ranges.
    pub fn ranges(&self) -> Vec<RangeView> {
        let committed = self.state.committed.iter().map(|r| RangeView {
            range: r.clone(),
            committed: true,
            used: if r.company == self.me {
                Some(self.used(r))
            } else {
                self.state
                    .group_used
                    .get(&r.company)
                    .and_then(|t| t.get(&r.table))
                    .and_then(|c| c.get(&r.from))
                    .copied()
            },
        });
        let proposed = self.state.proposed.iter().map(|r| RangeView {
            range: r.clone(),
            committed: false,
            used: None,
        });
        committed.chain(proposed).collect()
    }

    /// Codes this company can still issue for `table` without the primary.
    pub fn remaining(&self, table: &str) -> i64 {
        self.own_ranges(table)
            .map(|r| r.size().saturating_sub(self.used(r)).max(0))
            .fold(0i64, i64::saturating_add)
    }

    fn majority(&self) -> usize {
        self.roster.len() / 2 + 1
    }

    fn mark_dirty(&mut self) {
        self.out.persist = true;
    }

    fn send(&mut self, to: &str, message: PrimaryMessage) {
        self.out.messages.push(Outgoing {
            to: to.to_owned(),
            message,
        });
    }

    fn broadcast(&mut self, message: PrimaryMessage) {
        let others: Vec<CompanyId> = self
            .roster
            .iter()
            .filter(|c| **c != self.me)
            .cloned()
            .collect();
        for to in others {
            self.send(&to, message.clone());
        }
    }

    fn own_ranges<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a Range> + 'a {
        self.state
            .committed
            .iter()
            .filter(move |r| r.company == self.me && r.table == table)
    }

    fn used(&self, range: &Range) -> i64 {
        self.state
            .codes_used
            .get(&range.table)
            .and_then(|t| t.get(&range.from))
            .copied()
            .unwrap_or(0)
    }

    /// Raft's term rule: a newer term ends whatever role this member had in
    /// older ones, and its vote is free again.
    fn observe_term(&mut self, term: Term) {
        if term <= self.state.current_term {
            return;
        }
        self.state.current_term = term;
        self.state.voted_for = None;
        self.mark_dirty();
        if let Some(leader) = self.leader.take() {
            self.out
                .events
                .push(Event::SteppedDown { term: leader.term });
        }
        if let Some(campaign) = self.campaign.take() {
            self.out.events.push(Event::ElectionFailed {
                term: campaign.term,
            });
        }
    }

    /// Records that `company` was elected in `term` (a fact, wherever it was
    /// learnt) if it is newer than what is known.
    fn learn_primary(&mut self, company: &str, term: Term) {
        let newer = self.state.primary.as_ref().is_none_or(|p| term > p.term);
        if newer {
            let known = KnownPrimary {
                company: company.to_owned(),
                term,
            };
            self.state.primary = Some(known.clone());
            self.mark_dirty();
            self.out.events.push(Event::PrimaryChanged(known));
            // A reclaim is pointless once a newer primary is known.
            if company != self.me
                && let Some(campaign) = &self.campaign
                && campaign.reclaim_of.is_some()
            {
                let term = campaign.term;
                self.campaign = None;
                self.out.events.push(Event::ElectionFailed { term });
            }
        }
        self.observe_term(term);
        if newer && company != self.me {
            // A new primary: ask it now for what this company lacks, rather
            // than after the retry delay of requests the old one never saw.
            self.block_requests.clear();
            for table in self.tables_in_use() {
                self.maybe_request_block(&table);
            }
        }
    }

    /// Asks this member to become primary (`None` or its own id), or asks
    /// `candidate` to run. The election runs over the following messages and
    /// ticks; see [`Event::BecamePrimary`] / [`Event::ElectionFailed`].
    pub fn elect(&mut self, candidate: Option<CompanyId>) -> Result<(), ElectError> {
        let candidate = candidate.unwrap_or_else(|| self.me.clone());
        if !self.roster.contains(&candidate) {
            return Err(ElectError::NotInRoster(candidate));
        }
        if candidate == self.me {
            self.start_campaign(None, self.now);
        } else {
            let term = self.state.current_term;
            self.send(&candidate, PrimaryMessage::StartElection { term });
        }
        Ok(())
    }

    fn start_campaign(&mut self, reclaim_of: Option<Term>, started_at: u64) {
        if !self.roster.contains(&self.me) {
            return;
        }
        // An acting primary that runs an election keeps acting in its term
        // until it wins the new one: if the election fails, nothing changes
        // (as `elo primary elect` promises). Safe as in Raft: it commits in
        // its old term only with the acknowledgements of a majority still
        // in that term, and a member that took the new term refuses the old
        // one and says so, which makes it step down (`on_allocate_ack`).
        let term = self.state.current_term + 1;
        self.state.current_term = term;
        self.state.voted_for = Some(self.me.clone());
        self.mark_dirty();
        self.idle_incumbent_ticks = 0;
        self.campaign = Some(Campaign {
            term,
            votes: BTreeSet::from([self.me.clone()]),
            started_at,
            reclaim_of,
        });
        self.broadcast(PrimaryMessage::RequestVote {
            term,
            candidate: self.me.clone(),
            reclaim_of,
        });
        self.check_campaign_won();
    }

    fn check_campaign_won(&mut self) {
        let Some(campaign) = &self.campaign else {
            return;
        };
        let votes = campaign
            .votes
            .iter()
            .filter(|c| self.roster.contains(*c))
            .count();
        if votes < self.majority() {
            return;
        }
        let term = campaign.term;
        self.campaign = None;
        if let Some(old) = self.leader.take() {
            self.out.events.push(Event::SteppedDown { term: old.term });
        }
        self.leader = Some(Leader {
            term,
            pending: BTreeMap::new(),
        });
        self.out.events.push(Event::BecamePrimary { term });
        let me = self.me.clone();
        self.learn_primary(&me, term);
        self.broadcast(PrimaryMessage::Sync {
            primary: self.state.primary.clone(),
            committed: Vec::new(),
            answer: false,
        });
        // The primary may itself be short of codes.
        let tables: Vec<TableName> = self.tables_in_use().into_iter().collect();
        for table in tables {
            self.maybe_request_block(&table);
        }
    }

    /// Handles a message from `from` (authenticated by the transport).
    /// Messages from companies outside the roster are ignored.
    pub fn handle(&mut self, from: &str, message: PrimaryMessage) {
        if !self.roster.contains(from) || from == self.me {
            return;
        }
        match message {
            PrimaryMessage::StartElection { term } => {
                self.observe_term(term);
                self.start_campaign(None, self.now);
            }
            PrimaryMessage::RequestVote {
                term,
                candidate,
                reclaim_of,
            } => self.on_request_vote(from, term, candidate, reclaim_of),
            PrimaryMessage::Vote {
                term,
                granted,
                primary,
                committed,
                proposed,
            } => self.on_vote(from, term, granted, primary, committed, proposed),
            PrimaryMessage::Allocate { term, range } => self.on_allocate(from, term, range),
            PrimaryMessage::AllocateAck {
                term,
                range,
                accepted,
            } => self.on_allocate_ack(from, term, range, accepted),
            PrimaryMessage::Committed { ranges } => self.merge_committed(ranges),
            PrimaryMessage::RequestBlock {
                table,
                company,
                blocks_held,
            } => {
                // A company asks only for itself.
                if company == from {
                    self.on_request_block(&company, &table, blocks_held);
                }
            }
            PrimaryMessage::Sync {
                primary,
                committed,
                answer,
            } => self.on_sync(from, primary, committed, answer),
            PrimaryMessage::Usage { used } => self.on_usage(from, used),
            PrimaryMessage::UsageKnown { used } => {
                self.usage_heard = true;
                for (table, range_from, count) in used {
                    self.raise_own_used(&table, range_from, count);
                }
            }
        }
    }

    /// A company reports its own counts (anything else in the report is
    /// ignored). Where this member knows of more codes issued from that
    /// company's ranges than it reports, it tells it so.
    fn on_usage(&mut self, from: &str, used: Vec<(TableName, i64, i64)>) {
        let mut reported: BTreeMap<(TableName, i64), i64> = BTreeMap::new();
        for (table, range_from, count) in used {
            if self
                .state
                .committed
                .iter()
                .any(|r| r.company == from && r.table == table && r.from == range_from)
            {
                reported.insert((table, range_from), count);
            }
        }
        let mut correction = Vec::new();
        let empty = BTreeMap::new();
        let known = self.state.group_used.get(from).unwrap_or(&empty);
        for (table, counts) in known {
            for (&range_from, &count) in counts {
                let theirs = reported
                    .get(&(table.clone(), range_from))
                    .copied()
                    .unwrap_or(0);
                if count > theirs {
                    correction.push((table.clone(), range_from, count));
                }
            }
        }
        for ((table, range_from), count) in reported {
            self.raise_group_used(from, &table, range_from, count);
        }
        // Answered even when there is nothing to correct: the sender then
        // knows its counters are as high as this member knows them.
        self.send(from, PrimaryMessage::UsageKnown { used: correction });
    }

    /// Whether a member answered this company's usage report since it
    /// started (see [`PrimaryMessage::UsageKnown`]).
    pub fn usage_heard(&self) -> bool {
        self.usage_heard
    }

    /// Codes records of `table` hold (as the store shows them): whoever's
    /// range holds one has issued it, so a count that went back (this
    /// company's after a restore, another's as this member knows it) rises
    /// past it.
    pub fn note_codes_held(&mut self, table: &str, codes: &BTreeSet<i64>) {
        let ranges: Vec<Range> = self
            .state
            .committed
            .iter()
            .filter(|r| r.table == table)
            .cloned()
            .collect();
        for range in ranges {
            let Some(&highest) = codes.range(range.from..=range.to).next_back() else {
                continue;
            };
            let count = highest - range.from + 1;
            if range.company == self.me {
                self.raise_own_used(&range.table, range.from, count);
            } else {
                self.raise_group_used(&range.company, &range.table, range.from, count);
            }
        }
    }

    /// This company issued at least `count` codes of its range of `table`
    /// starting at `range_from`. Counts only ever rise, so the worst a
    /// wrong report does is skip codes.
    fn raise_own_used(&mut self, table: &str, range_from: i64, count: i64) {
        if raise_count(&mut self.state.codes_used, table, range_from, count) {
            self.mark_dirty();
        }
    }

    /// [`Machine::raise_own_used`] for another company's range.
    fn raise_group_used(&mut self, company: &str, table: &str, range_from: i64, count: i64) {
        let mut counts = self.state.group_used.remove(company).unwrap_or_default();
        if raise_count(&mut counts, table, range_from, count) {
            self.mark_dirty();
        }
        if !counts.is_empty() {
            self.state.group_used.insert(company.to_owned(), counts);
        }
    }

    /// Gives `code` of `table` to a record by hand: it must lie in one of
    /// this company's committed ranges and not have been issued yet. It is
    /// then never drawn. Persist before storing the record, as for a drawn
    /// code.
    pub fn claim_code(&mut self, table: &str, code: i64) -> Result<(), ClaimError> {
        let max_code = self.config.table(table).max_code;
        if !(1..=max_code).contains(&code) {
            return Err(ClaimError::OutOfBounds { code, max_code });
        }
        let Some(range) = self
            .state
            .committed
            .iter()
            .find(|r| r.table == table && r.from <= code && code <= r.to)
            .cloned()
        else {
            return Err(ClaimError::NotInBlock {
                code,
                table: table.to_owned(),
            });
        };
        if range.company != self.me {
            return Err(ClaimError::OthersBlock {
                code,
                company: range.company,
            });
        }
        let next = range.from + self.used(&range);
        let claimed = self.state.claimed.entry(table.to_owned()).or_default();
        if code < next || claimed.contains(&code) {
            return Err(ClaimError::Issued { code });
        }
        claimed.insert(code);
        self.mark_dirty();
        Ok(())
    }

    fn on_request_vote(
        &mut self,
        from: &str,
        term: Term,
        candidate: CompanyId,
        reclaim_of: Option<Term>,
    ) {
        if candidate != from {
            return;
        }
        let refuse_reclaim = reclaim_of.is_some_and(|reclaimed| {
            self.state
                .primary
                .as_ref()
                .is_some_and(|p| p.term > reclaimed)
        });
        if !refuse_reclaim {
            self.observe_term(term);
        }
        let granted = !refuse_reclaim
            && term == self.state.current_term
            && self
                .state
                .voted_for
                .as_ref()
                .is_none_or(|v| *v == candidate);
        if granted && self.state.voted_for.is_none() {
            self.state.voted_for = Some(candidate);
            self.mark_dirty();
        }
        let (committed, proposed) = if granted {
            (
                self.state.committed.iter().cloned().collect(),
                self.state.proposed.iter().cloned().collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let reply = PrimaryMessage::Vote {
            term: self.state.current_term,
            granted,
            primary: self.state.primary.clone(),
            committed,
            proposed,
        };
        self.send(from, reply);
    }

    fn on_vote(
        &mut self,
        from: &str,
        term: Term,
        granted: bool,
        primary: Option<KnownPrimary>,
        committed: Vec<Range>,
        proposed: Vec<Range>,
    ) {
        // Ranges are facts whoever sends them: knowing more only makes a
        // future allocation more careful.
        self.merge_committed(committed);
        self.merge_proposed(proposed);
        if let Some(p) = primary {
            self.learn_primary(&p.company, p.term);
        }
        if term > self.state.current_term {
            // Outvoted by a newer term: retry above it while the election's
            // time lasts, instead of failing a command that could succeed.
            let retry = self.campaign.as_ref().map(|c| (c.reclaim_of, c.started_at));
            self.observe_term(term);
            if let Some((reclaim_of, started_at)) = retry {
                self.start_campaign(reclaim_of, started_at);
            }
            return;
        }
        if let Some(campaign) = &mut self.campaign
            && campaign.term == term
            && granted
        {
            campaign.votes.insert(from.to_owned());
            self.check_campaign_won();
        }
    }

    fn on_allocate(&mut self, from: &str, term: Term, range: Range) {
        if !range.is_well_formed() {
            return;
        }
        self.observe_term(term);
        let accepted = term == self.state.current_term;
        if accepted {
            // Only the primary of a term allocates in it.
            self.learn_primary(from, term);
            if !self.state.committed.contains(&range) && self.state.proposed.insert(range.clone()) {
                self.mark_dirty();
            }
        }
        let reply = PrimaryMessage::AllocateAck {
            term: self.state.current_term,
            range,
            accepted,
        };
        self.send(from, reply);
    }

    fn on_allocate_ack(&mut self, from: &str, term: Term, range: Range, accepted: bool) {
        self.observe_term(term);
        let majority = self.majority();
        let Some(leader) = &mut self.leader else {
            return;
        };
        if !accepted && term > leader.term {
            // The member is in a newer term (this member's own failed
            // election took it there): the old term cannot commit there
            // any more, so step down and let the incumbent reclaim run.
            let old = leader.term;
            self.leader = None;
            self.out.events.push(Event::SteppedDown { term: old });
            return;
        }
        if !accepted || leader.term != term {
            return;
        }
        let key = (range.table.clone(), range.from);
        let Some(pending) = leader.pending.get_mut(&key) else {
            return;
        };
        if pending.range != range {
            return;
        }
        pending.acks.insert(from.to_owned());
        let acks = pending
            .acks
            .iter()
            .filter(|c| self.roster.contains(*c))
            .count();
        if acks >= majority {
            leader.pending.remove(&key);
            self.broadcast(PrimaryMessage::Committed {
                ranges: vec![range.clone()],
            });
            self.merge_committed(vec![range]);
        }
    }

    fn merge_committed(&mut self, ranges: Vec<Range>) {
        for range in ranges {
            if !range.is_well_formed() || self.state.committed.contains(&range) {
                continue;
            }
            self.state.proposed.remove(&range);
            // A proposal overlapping a range committed in a newer term can
            // never have been committed (that primary would have seen it).
            self.state
                .proposed
                .retain(|p| !(p.overlaps(&range) && p.term < range.term));
            if range.company == self.me {
                // The block asked for has come: the next request (at 80% of
                // this one) must not wait out the retry delay of this one.
                self.block_requests.remove(&range.table);
            }
            self.state.committed.insert(range.clone());
            self.mark_dirty();
            self.out.events.push(Event::RangeCommitted(range));
        }
    }

    fn merge_proposed(&mut self, ranges: Vec<Range>) {
        for range in ranges {
            if !range.is_well_formed()
                || self.state.committed.contains(&range)
                || self.state.proposed.contains(&range)
            {
                continue;
            }
            let dead = self
                .state
                .committed
                .iter()
                .any(|c| c.overlaps(&range) && c.term > range.term);
            if !dead {
                self.state.proposed.insert(range);
                self.mark_dirty();
            }
        }
    }

    /// The known primary, not acting (it restarted, or a failed election
    /// moved the terms on), runs an election for itself again.
    fn reclaim(&mut self) {
        self.restarted_incumbent = false;
        let reclaim_of = self.state.primary.as_ref().map(|p| p.term);
        self.start_campaign(reclaim_of, self.now);
    }

    fn on_request_block(&mut self, company: &str, table: &str, blocks_held: usize) {
        let incumbent = self
            .state
            .primary
            .as_ref()
            .is_some_and(|p| p.company == self.me);
        if incumbent
            && self.leader.is_none()
            && self.campaign.is_none()
            && self.idle_incumbent_ticks >= RECLAIM_ON_REQUEST_TICKS
        {
            // A member needs a block now: no reason to wait out the idle
            // delay. Its next request (the retry) is then served.
            self.reclaim();
        }
        let Some(leader) = &self.leader else {
            // Tell the asker who the primary is, if this member knows.
            if let Some(primary) = self.state.primary.clone()
                && primary.company != self.me
            {
                self.send(
                    company,
                    PrimaryMessage::Sync {
                        primary: Some(primary),
                        committed: Vec::new(),
                        answer: false,
                    },
                );
            }
            return;
        };
        if leader
            .pending
            .values()
            .any(|p| p.range.company == company && p.range.table == table)
        {
            // Already on its way; the tick retransmits it.
            return;
        }
        let held: Vec<Range> = self
            .state
            .committed
            .iter()
            .filter(|r| r.company == company && r.table == table)
            .cloned()
            .collect();
        if held.len() > blocks_held {
            // The asker has not heard of a block it already has.
            if company != self.me {
                self.send(company, PrimaryMessage::Committed { ranges: held });
            }
            return;
        }
        if let Err(RangeError::TableFull { table }) = self.allocate_block(company, table) {
            self.out.events.push(Event::TableFull { table });
        }
    }

    /// Highest code of `table` in any range known here, proposed or
    /// committed.
    fn highest_known(&self, table: &str) -> i64 {
        self.state
            .committed
            .iter()
            .chain(self.state.proposed.iter())
            .filter(|r| r.table == table)
            .map(|r| r.to)
            .max()
            .unwrap_or(0)
    }

    fn allocate_block(&mut self, company: &str, table: &str) -> Result<Range, RangeError> {
        let settings = self.config.table(table).clone();
        let from = self.highest_known(table).saturating_add(1).max(1);
        if from > settings.max_code {
            return Err(RangeError::TableFull {
                table: table.to_owned(),
            });
        }
        let to = from
            .saturating_add(settings.block_size.max(1) - 1)
            .min(settings.max_code);
        self.propose(company, table, from, to)
    }

    fn propose(
        &mut self,
        company: &str,
        table: &str,
        from: i64,
        to: i64,
    ) -> Result<Range, RangeError> {
        let Some(leader) = &mut self.leader else {
            return Err(RangeError::NotPrimary {
                primary: self.state.primary.clone(),
            });
        };
        let range = Range {
            company: company.to_owned(),
            table: table.to_owned(),
            from,
            to,
            term: leader.term,
        };
        leader.pending.insert(
            (range.table.clone(), range.from),
            Pending {
                range: range.clone(),
                acks: BTreeSet::from([self.me.clone()]),
            },
        );
        let term = leader.term;
        self.state.proposed.insert(range.clone());
        self.mark_dirty();
        self.broadcast(PrimaryMessage::Allocate {
            term,
            range: range.clone(),
        });
        if self.majority() <= 1 {
            let me = self.me.clone();
            self.on_allocate_ack(&me, term, range.clone(), true);
        }
        Ok(range)
    }

    /// Manually gives `from..=to` of `table` to `company`. Only the acting
    /// primary can; the range is refused if it overlaps any range known here
    /// (committed or proposed), and is committed like any other allocation,
    /// by a majority ([`Event::RangeCommitted`]).
    pub fn set_range(
        &mut self,
        company: &str,
        table: &str,
        from: i64,
        to: i64,
    ) -> Result<Range, RangeError> {
        if self.leader.is_none() {
            return Err(RangeError::NotPrimary {
                primary: self.state.primary.clone(),
            });
        }
        if !self.roster.contains(company) {
            return Err(RangeError::NotInRoster(company.to_owned()));
        }
        if from < 1 || from > to {
            return Err(RangeError::InvalidBounds { from, to });
        }
        let max_code = self.config.table(table).max_code;
        if to > max_code {
            return Err(RangeError::AboveTableMax {
                table: table.to_owned(),
                to,
                max_code,
            });
        }
        let candidate = Range {
            company: company.to_owned(),
            table: table.to_owned(),
            from,
            to,
            term: 0,
        };
        if let Some(existing) = self
            .state
            .committed
            .iter()
            .chain(self.state.proposed.iter())
            .find(|r| r.overlaps(&candidate))
        {
            return Err(RangeError::Overlaps {
                existing: existing.clone(),
            });
        }
        self.propose(company, table, from, to)
    }

    /// Draws the next code of `table` from this company's committed ranges,
    /// in order. The counter is persistent state: the driver must persist
    /// (the output's `persist` is set) before handing out the code. Works
    /// offline while the ranges last, and asks the primary for the next
    /// block when less than a fifth of a block is left.
    pub fn next_code(&mut self, table: &str) -> Result<IssuedCode, AllocError> {
        self.wanted_tables.insert(table.to_owned());
        let mut ranges: Vec<Range> = self.own_ranges(table).cloned().collect();
        ranges.sort_by_key(|r| r.from);
        for range in ranges {
            let mut used = self.used(&range);
            while used < range.size() {
                let code = range.from + used;
                used += 1;
                self.state
                    .codes_used
                    .entry(range.table.clone())
                    .or_default()
                    .insert(range.from, used);
                self.mark_dirty();
                self.usage_unreported = true;
                // A code given by hand ahead of the counter is passed over.
                let claimed = self.state.claimed.get_mut(table);
                if claimed.is_some_and(|c| c.remove(&code)) {
                    continue;
                }
                self.maybe_request_block(table);
                return Ok(IssuedCode { code });
            }
        }
        self.maybe_request_block(table);
        Err(AllocError::Exhausted {
            table: table.to_owned(),
            remaining: 0,
            primary: self.state.primary.clone(),
        })
    }

    /// Declares that this company draws codes of `table`, so it asks for a
    /// block as soon as a primary can give one: a branch then holds codes
    /// before it ever goes offline.
    pub fn want(&mut self, table: &str) {
        self.wanted_tables.insert(table.to_owned());
        self.maybe_request_block(table);
    }

    fn tables_in_use(&self) -> BTreeSet<TableName> {
        let mut tables = self.wanted_tables.clone();
        tables.extend(
            self.state
                .committed
                .iter()
                .filter(|r| r.company == self.me)
                .map(|r| r.table.clone()),
        );
        tables
    }

    /// Asks for the next block of `table` if less than a fifth of a block is
    /// left and no request went out recently.
    fn maybe_request_block(&mut self, table: &str) {
        // "Running low" is judged by the blocks the primary gave (their size
        // is the primary's setting), not by this member's own setting: a
        // member set for larger blocks than the primary gives would
        // otherwise ask for block after block.
        let block = self
            .own_ranges(table)
            .map(Range::size)
            .max()
            .unwrap_or_else(|| self.config.table(table).block_size)
            .max(1);
        if self.remaining(table).saturating_mul(5) > block {
            return;
        }
        if let Some(&asked) = self.block_requests.get(table)
            && self.now < asked.saturating_add(self.config.block_request_retry_ticks)
        {
            return;
        }
        self.block_requests.insert(table.to_owned(), self.now);
        let blocks_held = self.own_ranges(table).count();
        if self.leader.is_some() {
            let me = self.me.clone();
            self.on_request_block(&me, table, blocks_held);
        } else if let Some(primary) = self.state.primary.clone()
            && primary.company != self.me
        {
            self.send(
                &primary.company,
                PrimaryMessage::RequestBlock {
                    table: table.to_owned(),
                    company: self.me.clone(),
                    blocks_held,
                },
            );
        }
    }

    /// Sends this member's view to `peer`: call it when a connection to a
    /// peer comes up (the tick also gossips, one peer at a time).
    pub fn sync_with(&mut self, peer: &str) {
        if peer == self.me {
            return;
        }
        let message = PrimaryMessage::Sync {
            primary: self.state.primary.clone(),
            committed: self.state.committed.iter().cloned().collect(),
            answer: true,
        };
        self.send(peer, message);
        // Sent even when empty: a company that re-joined holds no counts
        // yet, and the peer answers with what it knows of them.
        let usage = self.usage_report();
        self.send(peer, usage);
    }

    /// Tells the members this company's counts if it drew codes since it
    /// last did: the group's knowledge of them is what keeps a stale copy
    /// of this company's store from drawing them again, so the driver calls
    /// it after every step that drew, not only at the tick.
    pub fn report_usage(&mut self) {
        if std::mem::take(&mut self.usage_unreported) {
            let usage = self.usage_report();
            self.broadcast(usage);
        }
    }

    /// This company's counts of its committed ranges.
    fn usage_report(&self) -> PrimaryMessage {
        let used = self
            .state
            .committed
            .iter()
            .filter(|r| r.company == self.me)
            .map(|r| (r.table.clone(), r.from, self.used(r)))
            .collect();
        PrimaryMessage::Usage { used }
    }

    fn on_sync(
        &mut self,
        from: &str,
        primary: Option<KnownPrimary>,
        committed: Vec<Range>,
        answer: bool,
    ) {
        let missing: Vec<Range> = if answer {
            let theirs: BTreeSet<&Range> = committed.iter().collect();
            self.state
                .committed
                .iter()
                .filter(|r| !theirs.contains(r))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let their_term = primary.as_ref().map(|p| p.term);
        self.merge_committed(committed);
        if let Some(p) = primary {
            self.learn_primary(&p.company, p.term);
        }
        if !answer {
            return;
        }
        let mine_newer = self
            .state
            .primary
            .as_ref()
            .is_some_and(|p| their_term.is_none_or(|t| p.term > t));
        if !missing.is_empty() || mine_newer {
            let reply = PrimaryMessage::Sync {
                primary: self.state.primary.clone(),
                committed: missing,
                answer: false,
            };
            self.send(from, reply);
        }
    }

    /// Advances time by one tick: election timeout and vote retransmission,
    /// allocation retransmission, incumbent reclaim, block requests, and
    /// every [`Config::sync_every_ticks`] gossip with the next roster member.
    pub fn tick(&mut self) {
        self.now += 1;
        if let Some(campaign) = &self.campaign {
            let term = campaign.term;
            if self.now.saturating_sub(campaign.started_at) >= self.config.election_timeout_ticks {
                self.campaign = None;
                self.out.events.push(Event::ElectionFailed { term });
            } else {
                let missing: Vec<CompanyId> = self
                    .roster
                    .iter()
                    .filter(|c| !campaign.votes.contains(*c))
                    .cloned()
                    .collect();
                let message = PrimaryMessage::RequestVote {
                    term,
                    candidate: self.me.clone(),
                    reclaim_of: campaign.reclaim_of,
                };
                for to in missing {
                    self.send(&to, message.clone());
                }
            }
        }
        if let Some(leader) = &self.leader {
            let mut resend = Vec::new();
            for pending in leader.pending.values() {
                for member in self.roster.iter().filter(|c| !pending.acks.contains(*c)) {
                    resend.push(Outgoing {
                        to: member.clone(),
                        message: PrimaryMessage::Allocate {
                            term: leader.term,
                            range: pending.range.clone(),
                        },
                    });
                }
            }
            self.out.messages.extend(resend);
        }
        let incumbent = self
            .state
            .primary
            .as_ref()
            .is_some_and(|p| p.company == self.me);
        if incumbent && self.leader.is_none() && self.campaign.is_none() {
            self.idle_incumbent_ticks += 1;
            let after = if self.restarted_incumbent {
                RESTART_RECLAIM_TICKS
            } else {
                self.config.reclaim_after_ticks
            };
            if self.idle_incumbent_ticks >= after {
                self.reclaim();
            }
        } else {
            self.idle_incumbent_ticks = 0;
        }
        for table in self.tables_in_use() {
            self.maybe_request_block(&table);
        }
        self.report_usage();
        let others: Vec<CompanyId> = self
            .roster
            .iter()
            .filter(|c| **c != self.me)
            .cloned()
            .collect();
        if !others.is_empty() && self.now.is_multiple_of(self.config.sync_every_ticks.max(1)) {
            self.sync_cursor = (self.sync_cursor + 1) % others.len();
            self.sync_with(&others[self.sync_cursor]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<CompanyId> {
        (0..n).map(|i| format!("1122233300018{i}")).collect()
    }

    fn cluster(n: usize) -> Vec<Machine> {
        let roster = ids(n);
        roster
            .iter()
            .map(|me| Machine::new(me.clone(), roster.clone()))
            .collect()
    }

    /// Delivers every message among `up` members (others drop theirs) until
    /// quiet.
    fn settle(members: &mut [Machine], up: &[usize]) {
        let mut queue: Vec<(CompanyId, Outgoing)> = Vec::new();
        for _ in 0..1000 {
            for m in members.iter_mut() {
                let me = m.me().to_owned();
                queue.extend(
                    m.take_output()
                        .messages
                        .into_iter()
                        .map(|o| (me.clone(), o)),
                );
            }
            if queue.is_empty() {
                return;
            }
            for (from, out) in std::mem::take(&mut queue) {
                let from_up = members.iter().position(|m| m.me() == from);
                let to = members.iter().position(|m| m.me() == out.to);
                if let (Some(f), Some(t)) = (from_up, to)
                    && up.contains(&f)
                    && up.contains(&t)
                {
                    members[t].handle(&from, out.message);
                }
            }
        }
        panic!("no quiet");
    }

    #[test]
    fn votes_once_per_term() {
        let mut m = Machine::new("b".into(), ["a".into(), "b".into(), "c".into()]);
        let ask = |c: &str| PrimaryMessage::RequestVote {
            term: 1,
            candidate: c.into(),
            reclaim_of: None,
        };
        m.handle("a", ask("a"));
        let out = m.take_output();
        assert!(out.persist);
        assert!(matches!(
            &out.messages[0].message,
            PrimaryMessage::Vote { granted: true, .. }
        ));
        m.handle("c", ask("c"));
        let out = m.take_output();
        assert!(matches!(
            &out.messages[0].message,
            PrimaryMessage::Vote { granted: false, .. }
        ));
        // The same candidate asking again (a retransmission) is granted again.
        m.handle("a", ask("a"));
        assert!(matches!(
            &m.take_output().messages[0].message,
            PrimaryMessage::Vote { granted: true, .. }
        ));
        // The vote survives a restart.
        let mut m = Machine::restore(
            "b".into(),
            ["a".into(), "b".into(), "c".into()],
            m.persistent().clone(),
        );
        m.handle("c", ask("c"));
        assert!(matches!(
            &m.take_output().messages[0].message,
            PrimaryMessage::Vote { granted: false, .. }
        ));
    }

    /// Three members, the first elected in term 1.
    fn elected_cluster() -> Vec<Machine> {
        let mut ms = cluster(3);
        ms[0].elect(None).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        assert_eq!(ms[0].acting_primary_term(), Some(1));
        ms
    }

    #[test]
    fn primary_steps_down_on_higher_term() {
        let mut ms = elected_cluster();
        assert!(ms.iter().all(|m| m.primary().map(|p| p.term) == Some(1)));
        let from = ms[1].me().to_owned();
        ms[0].handle(
            &from,
            PrimaryMessage::AllocateAck {
                term: 5,
                range: Range {
                    company: from.clone(),
                    table: "product".into(),
                    from: 1,
                    to: 2,
                    term: 5,
                },
                accepted: false,
            },
        );
        assert_eq!(ms[0].acting_primary_term(), None);
        assert_eq!(ms[0].current_term(), 5);
        assert!(
            ms[0]
                .take_output()
                .events
                .contains(&Event::SteppedDown { term: 1 })
        );
    }

    /// The acting primary runs an election with no one reachable: it
    /// fails, and the primary keeps acting in its term; once the others
    /// are back it acts again (in its term, or after reclaiming).
    #[test]
    fn a_failed_election_leaves_the_acting_primary_acting() {
        let mut ms = elected_cluster();
        ms[0].take_output();
        ms[0].elect(None).unwrap();
        for _ in 0..=ms[0].config.election_timeout_ticks {
            ms[0].tick();
            settle(&mut ms, &[0]);
        }
        let events = ms[0].take_output().events;
        assert!(!ms[0].is_campaigning());
        assert_eq!(ms[0].acting_primary_term(), Some(1), "{events:?}");
        assert_eq!(ms[0].primary().map(|p| p.term), Some(1));
        let c1 = ms[1].me().to_owned();
        assert!(ms[0].set_range(&c1, "product", 1, 10).is_ok());
        // Healed: the range commits and the primary keeps acting.
        for _ in 0..200 {
            ms.iter_mut().for_each(Machine::tick);
            settle(&mut ms, &[0, 1, 2]);
        }
        assert!(ms[0].acting_primary_term().is_some());
        assert!(
            ms[1]
                .persistent()
                .committed
                .iter()
                .any(|r| r.from == 1 && r.to == 10)
        );
    }

    #[test]
    fn overlapping_set_range_is_refused() {
        let mut ms = cluster(3);
        ms[0].elect(None).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        let c1 = ms[1].me().to_owned();
        let r = ms[0].set_range(&c1, "product", 100, 199).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        assert!(ms[1].persistent().committed.contains(&r));
        assert_eq!(
            ms[0].set_range(&c1, "product", 150, 300),
            Err(RangeError::Overlaps { existing: r })
        );
        assert!(ms[0].set_range(&c1, "customer", 150, 300).is_ok());
        assert_eq!(
            ms[0].set_range(&c1, "product", 0, 3),
            Err(RangeError::InvalidBounds { from: 0, to: 3 })
        );
        assert!(matches!(
            ms[1].set_range(&c1, "product", 500, 600),
            Err(RangeError::NotPrimary { .. })
        ));
    }

    #[test]
    fn exhausted_reports_primary_and_zero() {
        let mut ms = cluster(3);
        ms[0].elect(None).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        let c1 = ms[1].me().to_owned();
        ms[0].set_range(&c1, "product", 10, 11).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        // Primary unreachable from here on: the block still serves.
        assert_eq!(ms[1].next_code("product").unwrap().code, 10);
        assert_eq!(ms[1].next_code("product").unwrap().code, 11);
        let err = ms[1].next_code("product").unwrap_err();
        let AllocError::Exhausted {
            remaining, primary, ..
        } = err;
        assert_eq!(remaining, 0);
        assert_eq!(primary.map(|p| p.company), Some(ms[0].me().to_owned()));
        // It asked the primary for a block.
        let out = ms[1].take_output();
        assert!(out.persist);
        assert!(
            out.messages
                .iter()
                .any(|o| matches!(o.message, PrimaryMessage::RequestBlock { .. }))
        );
    }

    #[test]
    fn a_member_set_for_larger_blocks_asks_for_one_only_when_low_on_the_primarys() {
        let mut ms = cluster(3);
        let small = Config {
            default_table: TableSettings {
                block_size: 50,
                ..TableSettings::default()
            },
            ..Config::default()
        };
        ms[0] = Machine::new(ms[0].me().to_owned(), ids(3)).with_config(small);
        ms[0].elect(None).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        assert!(ms[1].next_code("supplier").is_err());
        settle(&mut ms, &[0, 1, 2]);
        for _ in 0..30 {
            let _ = ms[1].next_code("supplier").unwrap();
            settle(&mut ms, &[0, 1, 2]);
        }
        assert_eq!(
            ms[1].own_ranges("supplier").count(),
            1,
            "one block of 50 in use"
        );
        assert_eq!(ms[1].remaining("supplier"), 20);
        // Below a fifth of the block it asks for the next one.
        for _ in 0..11 {
            let _ = ms[1].next_code("supplier").unwrap();
            settle(&mut ms, &[0, 1, 2]);
        }
        assert_eq!(ms[1].own_ranges("supplier").count(), 2);
    }

    #[test]
    fn block_request_gets_next_block() {
        let mut ms = cluster(3);
        ms[0].elect(None).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        assert!(ms[2].next_code("order").is_err());
        settle(&mut ms, &[0, 1, 2]);
        assert_eq!(ms[2].remaining("order"), DEFAULT_BLOCK_SIZE);
        assert_eq!(ms[2].next_code("order").unwrap().code, 1);
        assert!(ms[1].next_code("order").is_err());
        settle(&mut ms, &[0, 1, 2]);
        assert_eq!(
            ms[1].next_code("order").unwrap().code,
            DEFAULT_BLOCK_SIZE + 1
        );
    }

    #[test]
    fn primary_without_majority_allocates_nothing() {
        let mut ms = cluster(5);
        ms[0].elect(None).unwrap();
        settle(&mut ms, &[0, 1, 2, 3, 4]);
        let c1 = ms[1].me().to_owned();
        // Partition: the primary with one member, a minority.
        let r = ms[0].set_range(&c1, "product", 1, 50).unwrap();
        settle(&mut ms, &[0, 1]);
        for _ in 0..5 {
            ms[0].tick();
            settle(&mut ms, &[0, 1]);
        }
        assert!(ms.iter().all(|m| m.persistent().committed.is_empty()));
        assert_eq!(ms[1].remaining("product"), 0);
        // The majority side elects another primary, which allocates above the
        // proposal it may have missed only if it saw it; here it did not, and
        // the stale proposal never commits.
        ms[2].elect(None).unwrap();
        settle(&mut ms, &[2, 3, 4]);
        assert_eq!(ms[2].acting_primary_term(), Some(2));
        let c3 = ms[3].me().to_owned();
        let r2 = ms[2].set_range(&c3, "product", 1, 50).unwrap();
        settle(&mut ms, &[2, 3, 4]);
        assert!(ms[3].persistent().committed.contains(&r2));
        // Healing: the old primary steps down and its proposal never commits.
        for _ in 0..5 {
            for m in ms.iter_mut() {
                m.tick();
            }
            settle(&mut ms, &[0, 1, 2, 3, 4]);
        }
        assert_eq!(ms[0].acting_primary_term(), None);
        assert!(ms.iter().all(|m| !m.persistent().committed.contains(&r)));
        assert!(ms.iter().all(|m| !m.persistent().proposed.contains(&r)));
    }

    #[test]
    fn failed_election_keeps_previous_primary() {
        let mut ms = cluster(5);
        ms[0].elect(None).unwrap();
        settle(&mut ms, &[0, 1, 2, 3, 4]);
        ms[3].elect(None).unwrap();
        settle(&mut ms, &[3, 4]);
        for _ in 0..20 {
            ms[3].tick();
            settle(&mut ms, &[3, 4]);
        }
        assert!(!ms[3].is_campaigning());
        assert!(
            ms.iter()
                .all(|m| m.primary().map(|p| p.company.as_str()) == Some(ms[0].me()))
        );
        assert!(ms.iter().all(|m| m.primary().map(|p| p.term) == Some(1)));
    }

    #[test]
    fn persistent_state_round_trips_as_json() {
        let mut ms = cluster(3);
        ms[0].elect(None).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        let c1 = ms[1].me().to_owned();
        ms[0].set_range(&c1, "product", 1, 9).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        let _ = ms[1].next_code("product").unwrap();
        let json = serde_json::to_string(ms[1].persistent()).unwrap();
        let back: PersistentState = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, ms[1].persistent());
    }

    /// Three members, the first elected, and these customer ranges
    /// (member, from, to) committed.
    fn with_customer_ranges(ranges: &[(usize, i64, i64)]) -> Vec<Machine> {
        let mut ms = cluster(3);
        ms[0].elect(None).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        for &(member, from, to) in ranges {
            let company = ms[member].me().to_owned();
            ms[0].set_range(&company, "customer", from, to).unwrap();
        }
        settle(&mut ms, &[0, 1, 2]);
        ms
    }

    /// A member whose counters went back (a restored backup, a re-join)
    /// hears from the group what it had issued and never draws it again.
    #[test]
    fn counters_that_went_back_are_raised_by_the_group() {
        let mut ms = with_customer_ranges(&[(1, 100, 199)]);
        let c1 = ms[1].me().to_owned();
        let backup = ms[1].persistent().clone();
        for want in 100..106 {
            assert_eq!(ms[1].next_code("customer").unwrap().code, want);
        }
        // The primary hears the usage.
        let p = ms[0].me().to_owned();
        ms[1].sync_with(&p);
        settle(&mut ms, &[0, 1, 2]);
        // Restored from the backup taken after three codes... or with
        // nothing at all (a re-join): both are corrected.
        for (state, next) in [(backup, 106), (PersistentState::default(), 107)] {
            let roster = ids(3);
            ms[1] = Machine::restore(c1.clone(), roster, state);
            ms[1].sync_with(&p);
            settle(&mut ms, &[0, 1, 2]);
            assert_eq!(ms[1].next_code("customer").unwrap().code, next);
            // The primary keeps the new count for the next time.
            ms[1].sync_with(&p);
            settle(&mut ms, &[0, 1, 2]);
            ms[1] = Machine::restore(c1.clone(), ids(3), ms[1].persistent().clone());
        }
        // The counts survive the primary's own restart.
        let kept = ms[0].persistent().clone();
        assert_eq!(kept.group_used[&c1]["customer"][&100], 8);
    }

    #[test]
    fn codes_records_hold_raise_the_counters() {
        let mut ms = with_customer_ranges(&[(1, 100, 199), (2, 200, 299)]);
        let c2 = ms[2].me().to_owned();
        ms[1].note_codes_held("customer", &BTreeSet::from([5, 120, 250, 400]));
        assert_eq!(ms[1].next_code("customer").unwrap().code, 121);
        assert_eq!(ms[1].persistent().group_used[&c2]["customer"][&200], 51);
    }

    #[test]
    fn a_code_given_by_hand_is_checked_and_never_drawn() {
        let mut ms = with_customer_ranges(&[(1, 1, 10), (2, 11, 20)]);
        assert_eq!(ms[1].next_code("customer").unwrap().code, 1);
        let refused = |m: &mut Machine, code| m.claim_code("customer", code).unwrap_err();
        assert_eq!(refused(&mut ms[1], 1), ClaimError::Issued { code: 1 });
        assert!(matches!(
            refused(&mut ms[1], 12),
            ClaimError::OthersBlock { .. }
        ));
        assert!(matches!(
            refused(&mut ms[1], 50),
            ClaimError::NotInBlock { .. }
        ));
        for out in [0, -3, 3_000_000_000] {
            assert!(matches!(
                refused(&mut ms[1], out),
                ClaimError::OutOfBounds { .. }
            ));
        }
        ms[1].claim_code("customer", 3).unwrap();
        assert!(ms[1].take_output().persist);
        assert_eq!(
            ms[1].claim_code("customer", 3),
            Err(ClaimError::Issued { code: 3 })
        );
        let drawn: Vec<i64> = (0..3)
            .map(|_| ms[1].next_code("customer").unwrap().code)
            .collect();
        assert_eq!(drawn, vec![2, 4, 5]);
    }

    /// A primary that restarts hands out blocks again within a few ticks,
    /// not after the whole idle delay.
    #[test]
    fn a_restarted_primary_reclaims_at_once() {
        let mut ms = cluster(3);
        ms[0].elect(None).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        let p = ms[0].me().to_owned();
        ms[0] = Machine::restore(p.clone(), ids(3), ms[0].persistent().clone());
        assert!(ms[0].acting_primary_term().is_none());
        for _ in 0..RESTART_RECLAIM_TICKS {
            ms[0].tick();
        }
        settle(&mut ms, &[0, 1, 2]);
        assert!(ms[0].acting_primary_term().is_some());
        assert!(ms[2].next_code("order").is_err());
        settle(&mut ms, &[0, 1, 2]);
        assert_eq!(ms[2].next_code("order").unwrap().code, 1);
    }

    /// What a restore carries over from the store it replaces.
    #[test]
    fn a_restored_state_keeps_the_highest_counters_and_terms() {
        let mut ms = with_customer_ranges(&[(1, 1, 10)]);
        let c1 = ms[1].me().to_owned();
        let backup = ms[1].persistent().clone();
        let _ = ms[1].next_code("customer").unwrap();
        ms[0].set_range(&c1, "customer", 11, 20).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        ms[0].elect(None).unwrap();
        settle(&mut ms, &[0, 1, 2]);
        let current = ms[1].persistent().clone();
        let restored = backup.carried_over(&current);
        assert_eq!(restored.current_term, current.current_term);
        assert_eq!(restored.voted_for, current.voted_for);
        assert_eq!(restored.primary, current.primary);
        assert_eq!(restored.committed, current.committed);
        assert_eq!(restored.codes_used, current.codes_used);
    }
}

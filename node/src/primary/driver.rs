//! The running node's side of the primary: one task owns the [`Machine`],
//! feeds it the members' messages, a tick and the commands of the API, and
//! after every step stores its persistent state (in the store's metadata,
//! durably) *before* any message leaves or any code is handed out.
//!
//! The task knows nothing of the network: what the machine sends goes to an
//! outbox the mesh drains, and the mesh hands in what members sent. Without
//! a mesh the outbox is simply dropped, and this company can still draw
//! codes from the blocks it holds.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::awaiting::Awaiting;
use super::handle::{AfterStore, Input};
pub use super::handle::{
    AwaitingCode, BLOCK_WAIT, CREATE_WAIT, MAX_CODES_PER_REQUEST, PrimaryError, PrimaryHandle,
    PrimarySettings, PrimaryView, RangeRow,
};
use super::machine::{
    AllocError, CompanyId, Config, Event, Machine, Outgoing, PersistentState, Range, Term,
    describe_primary,
};
use super::reserve;
use crate::store::{StoreError, StoreHandle};

/// Metadata key of the persisted election and range state.
pub use crate::store::tables::META_PRIMARY;
/// How often the machine ticks (election timeouts, retransmissions and
/// gossip are counted in ticks).
const TICK: Duration = Duration::from_millis(500);
/// How long a command waits for an election to finish.
const ELECT_WAIT: Duration = Duration::from_secs(8);
/// How long after it starts a node waits, before drawing codes, for a
/// member to connect: its own counters may have gone back (a restored
/// backup, a re-join, a copy of its directory) and the group knows how far
/// they had got. With no member connected by then, codes are drawn from
/// what this company knows, as a branch with no one reachable does. A
/// member that connects is always waited for (see [`Confirmation`]).
const CONFIRM_WAIT: Duration = Duration::from_secs(3);
/// How long `ranges set` waits for a majority to store the range.
const COMMIT_WAIT: Duration = Duration::from_secs(5);

impl PrimaryHandle {
    /// Loads the persisted state and starts the task. `designated` is the
    /// company the group was founded with as primary: with nothing persisted
    /// yet, that company runs the first election itself.
    pub async fn start(
        store: StoreHandle,
        me: CompanyId,
        designated: &str,
        roster: Vec<CompanyId>,
        settings: PrimarySettings,
        stopping: watch::Receiver<bool>,
    ) -> Result<(PrimaryHandle, mpsc::UnboundedReceiver<Outgoing>), PrimaryError> {
        let state = match store.meta(META_PRIMARY).await? {
            Some(bytes) => serde_json::from_slice::<PersistentState>(&bytes)
                .map_err(|e| PrimaryError::Damaged(e.to_string()))?,
            None => PersistentState::default(),
        };
        let fresh = state == PersistentState::default();
        // Only a restored store reads the codes its records hold: a running
        // company's counters only grow, and a company that joins learns its
        // usage from the group.
        let restored = store
            .meta(crate::store::tables::META_RESTORED)
            .await?
            .is_some_and(|v| v == b"1");
        let awaiting = Awaiting::load(&store).await?;
        let mut config = Config::default();
        config.default_table.block_size = settings.block_size.max(1);
        let roster_size = roster.len();
        let stored = Some(state.clone());
        let mut machine = Machine::restore(me.clone(), roster, state).with_config(config);
        if fresh && designated == me {
            let _ = machine.elect(None);
        }
        // The tables new records are numbered from: hold a block of each.
        // The tables new records and orders are numbered from: hold a
        // block of each, so a branch that goes offline can still number.
        for table in elo_crdt::CODE_TABLES {
            machine.want(table);
        }
        machine.want(elo_crdt::order::ORDER_TABLE);
        let (inputs, rx) = mpsc::channel(1024);
        let store_for_codes = store.clone();
        let (outbox, outgoing) = mpsc::unbounded_channel();
        // Records left waiting by an earlier run are numbered at once if
        // codes are at hand.
        let (blocks_tx, blocks) = watch::channel(u64::from(!awaiting.is_empty()));
        let task = Driver {
            offline: settings.offline,
            machine,
            store,
            outbox,
            elections: Vec::new(),
            commits: Vec::new(),
            codes: Vec::new(),
            after_store: Vec::new(),
            awaiting,
            blocks: blocks_tx,
            confirmation: (!settings.offline && roster_size > 1).then(|| Confirmation {
                alone_at: Instant::now() + CONFIRM_WAIT,
                connected: BTreeSet::new(),
            }),
            failed_terms: BTreeSet::new(),
            stored,
        };
        let handle = PrimaryHandle { inputs, blocks };
        let held = (!settings.offline && restored)
            .then(|| super::held::spawn(store_for_codes, handle.clone(), stopping.clone()));
        tokio::spawn(task.run(rx, stopping, held));
        Ok((handle, outgoing))
    }
}

/// A node that starts does not know whether its store is current: a member
/// answering its usage report says how far its counters had got. Draws
/// wait for that answer while a member is connected, however long it
/// takes (a code drawn too early could be one already issued); with no
/// member connected by `alone_at`, the company is taken to be offline. A
/// member that leaves before answering is not waited for: the wait starts
/// again, for it or another to connect, as at the start.
struct Confirmation {
    alone_at: Instant,
    /// The members connected now.
    connected: BTreeSet<CompanyId>,
}

impl Confirmation {
    fn ended(&self, answered: bool, now: Instant) -> bool {
        answered || (self.connected.is_empty() && now >= self.alone_at)
    }

    fn connected(&mut self, company: CompanyId) {
        self.connected.insert(company);
    }

    fn disconnected(&mut self, company: &CompanyId, now: Instant) {
        if self.connected.remove(company) && self.connected.is_empty() {
            self.alone_at = self.alone_at.max(now + CONFIRM_WAIT);
        }
    }
}

struct ElectionWait {
    candidate: CompanyId,
    /// The term known when the command came: the winner's must be newer.
    since: Term,
    deadline: Instant,
    reply: oneshot::Sender<Result<PrimaryView, PrimaryError>>,
}

struct CommitWait {
    range: Range,
    deadline: Instant,
    reply: oneshot::Sender<Result<RangeRow, PrimaryError>>,
}

struct CodeWait {
    table: String,
    wanted: usize,
    drawn: Vec<i64>,
    deadline: Instant,
    reply: oneshot::Sender<Result<Vec<i64>, PrimaryError>>,
}

struct Driver {
    offline: bool,
    machine: Machine,
    store: StoreHandle,
    outbox: mpsc::UnboundedSender<Outgoing>,
    elections: Vec<ElectionWait>,
    commits: Vec<CommitWait>,
    codes: Vec<CodeWait>,
    /// Replies that wait for the step's state to be stored.
    after_store: Vec<AfterStore>,
    /// Records stored without a code, to number when a block arrives.
    awaiting: Awaiting,
    blocks: watch::Sender<u64>,
    /// Draws wait while a member may still confirm this company's counters
    /// (`None` once confirmed, or with no one to ask).
    confirmation: Option<Confirmation>,
    /// Terms of this company's elections that ended without a majority.
    failed_terms: BTreeSet<Term>,
    /// The state the store holds (its code counters ahead of the draws,
    /// see `reserve`); `None` when a write of it failed.
    stored: Option<PersistentState>,
}

impl Driver {
    /// Runs until stopped; `held` (the task telling the codes records
    /// hold) is ended first, so nothing holds the store once it answers.
    async fn run(
        mut self,
        mut inputs: mpsc::Receiver<Input>,
        mut stopping: watch::Receiver<bool>,
        held: Option<tokio::task::JoinHandle<()>>,
    ) {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopped = None;
        loop {
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(Input::Stop(reply)) => {
                        stopped = Some(reply);
                        break;
                    }
                    Some(input) => self.on_input(input),
                    None => break,
                },
                _ = ticker.tick() => self.machine.tick(),
                // A code request's deadline is kept to the millisecond,
                // not to the next tick.
                _ = sleep_until_deadline(self.codes.iter().map(|w| w.deadline).min()) => {}
                _ = stopping.wait_for(|s| *s) => break,
            }
            if let Err(e) = self.step().await {
                // Nothing was sent and no code handed out: the waiting
                // commands hear the error, and the machine's state is
                // stored again at the next step that changes it.
                tracing::error!("could not store the primary state: {e}");
                self.fail_waiting(&e);
            }
        }
        // The exact counters, so a clean restart leaves no codes unused
        // (see `reserve`). Failing that, the reserve stands: a gap, never
        // a repeat.
        let exact = self.machine.persistent().clone();
        if self.stored.as_ref() != Some(&exact)
            && let Err(e) = self.store_state(exact).await
        {
            tracing::debug!("the primary state was not stored at the stop: {e}");
        }
        tracing::debug!("primary task stopped");
        if let Some(held) = held {
            held.abort();
            let _ = held.await;
        }
        drop(self);
        if let Some(reply) = stopped {
            let _ = reply.send(());
        }
    }

    fn on_input(&mut self, input: Input) {
        match input {
            Input::Message { from, message } => self.machine.handle(&from, message),
            Input::Connected(company) => {
                if let Some(c) = &mut self.confirmation {
                    c.connected(company.clone());
                }
                self.machine.sync_with(&company)
            }
            Input::Disconnected(company) => {
                if let Some(c) = &mut self.confirmation {
                    c.disconnected(&company, Instant::now());
                }
            }
            Input::Roster(roster) => self.machine.set_roster(roster),
            Input::Elect { candidate, reply } => {
                let since = self.machine.current_term();
                let target = candidate
                    .clone()
                    .unwrap_or_else(|| self.machine.me().to_owned());
                match self.machine.elect(candidate) {
                    Ok(()) => self.elections.push(ElectionWait {
                        candidate: target,
                        since,
                        deadline: Instant::now() + ELECT_WAIT,
                        reply,
                    }),
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Input::SetRange {
                company,
                table,
                from,
                to,
                reply,
            } => match self.machine.set_range(&company, &table, from, to) {
                Ok(range) => self.commits.push(CommitWait {
                    range,
                    deadline: Instant::now() + COMMIT_WAIT,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Input::Codes {
                table,
                count,
                wait,
                reply,
            } => self.queue_codes(table, count, wait, reply),
            Input::Claim { table, code, reply } => match self.machine.claim_code(&table, code) {
                // Answered once the claim is stored, after the step.
                Ok(()) => self.reply_after_store(reply, ()),
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
            Input::CodesHeld { table, codes } => self.machine.note_codes_held(&table, &codes),
            Input::Await { table, ids, reply } => {
                self.awaiting.add(&table, ids);
                self.reply_after_store(reply, ());
            }
            Input::DrawForAwaiting(reply) => {
                let drawn = self.draw_for_awaiting();
                self.reply_after_store(reply, drawn);
            }
            Input::Numbered { table, ids } => self.awaiting.remove(&table, &ids),
            Input::View(reply) => {
                let _ = reply.send((self.view(), self.rows()));
            }
            // Handled by the loop.
            Input::Stop(_) => {}
        }
    }

    /// A code request, served by the next steps until its deadline.
    fn queue_codes(
        &mut self,
        table: String,
        count: usize,
        wait: Duration,
        reply: oneshot::Sender<Result<Vec<i64>, PrimaryError>>,
    ) {
        // With no primary known yet, one may be learnt as soon as a member
        // answers (a company that just joined): wait too.
        let may_come = self.machine.primary().is_some() || self.machine.roster_size() > 1;
        let mut deadline = if !self.offline && may_come {
            Instant::now() + wait
        } else {
            Instant::now()
        };
        if let Some(c) = &self.confirmation {
            deadline = deadline.max(c.alone_at);
        }
        self.codes.push(CodeWait {
            table,
            wanted: count,
            drawn: Vec::with_capacity(count.min(4096)),
            deadline,
            reply,
        });
    }

    /// Answers `reply` with `value` once the step's state is stored.
    fn reply_after_store<T: Send + 'static>(
        &mut self,
        reply: oneshot::Sender<Result<T, PrimaryError>>,
        value: T,
    ) {
        self.after_store.push(Box::new(move |failed| {
            let _ = reply.send(match failed {
                None => Ok(value),
                Some(e) => Err(PrimaryError::Store(StoreError::Failed(e.to_string()))),
            });
        }));
    }

    /// A code for each waiting record, as far as this company's blocks go
    /// (never waiting: the records are already stored).
    fn draw_for_awaiting(&mut self) -> Vec<AwaitingCode> {
        if self.confirmation.is_some() {
            // Asked again once the counters are confirmed.
            return Vec::new();
        }
        let waiting: Vec<(String, Vec<String>)> = self
            .awaiting
            .tables()
            .map(|(t, ids)| (t.clone(), ids.iter().cloned().collect()))
            .collect();
        let mut drawn = Vec::new();
        for (table, ids) in waiting {
            for id in ids {
                let Ok(issued) = self.machine.next_code(&table) else {
                    break;
                };
                drawn.push(AwaitingCode {
                    table: table.clone(),
                    id,
                    code: issued.code,
                });
            }
        }
        drawn
    }

    /// Draws what the waiting code requests lack, stores the state, sends
    /// the machine's messages, then answers the commands that are done.
    async fn step(&mut self) -> Result<(), StoreError> {
        if let Some(c) = &self.confirmation
            && c.ended(self.machine.usage_heard(), Instant::now())
        {
            if !self.machine.usage_heard() {
                tracing::warn!(
                    "no member connected within {} s of the start: codes are drawn from this company's own counters (if this data directory is an old copy, stop the node and start it where a member is reachable)",
                    CONFIRM_WAIT.as_secs()
                );
            }
            self.confirmation = None;
            if !self.awaiting.is_empty() {
                self.blocks.send_modify(|n| *n += 1);
            }
        }
        let draw = self.confirmation.is_none();
        for wait in self.codes.iter_mut().filter(|_| draw) {
            // A failed draw asks for a block, which an acting primary with
            // no one to ask (a group of one) commits at once: try again once.
            let mut retried = false;
            while wait.drawn.len() < wait.wanted {
                match self.machine.next_code(&wait.table) {
                    Ok(issued) => wait.drawn.push(issued.code),
                    Err(_) if !retried => retried = true,
                    Err(_) => break,
                }
            }
        }
        // Sent after the counters are stored, with the rest of the output.
        self.machine.report_usage();
        let output = self.machine.take_output();
        if output.persist {
            let state = reserve::on_disk(
                self.machine.me(),
                self.machine.persistent(),
                self.stored.as_ref(),
            );
            if self.stored.as_ref() != Some(&state) {
                self.store_state(state).await?;
            }
        }
        self.awaiting.store_if_changed(&self.store).await?;
        for reply in std::mem::take(&mut self.after_store) {
            reply(None);
        }
        for message in output.messages {
            let _ = self.outbox.send(message);
        }
        for event in output.events {
            self.log(&event);
            if let Event::RangeCommitted(r) = &event
                && r.company == self.machine.me()
                && !self.awaiting.is_empty()
            {
                self.blocks.send_modify(|n| *n += 1);
            }
            if let Event::ElectionFailed { term } = event {
                self.failed_terms.insert(term);
            }
        }
        self.answer_waiting();
        Ok(())
    }

    async fn store_state(&mut self, state: PersistentState) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(&state).map_err(|e| StoreError::Failed(e.to_string()))?;
        self.stored = None;
        self.store.set_meta(META_PRIMARY, bytes).await?;
        self.stored = Some(state);
        Ok(())
    }

    fn log(&self, event: &Event) {
        match event {
            Event::BecamePrimary { term } => {
                tracing::info!(term, "this company is now the primary")
            }
            Event::SteppedDown { term } => {
                tracing::info!(term, "this company stepped down as primary")
            }
            Event::ElectionFailed { term } => {
                tracing::warn!(
                    term,
                    "election ended without a majority; bring more members online (`elo status` shows who is connected) and run `elo primary elect` again"
                )
            }
            Event::PrimaryChanged(p) => {
                tracing::info!(primary = %p.company, term = p.term, "new primary")
            }
            Event::RangeCommitted(r) => tracing::info!(
                company = %r.company, table = %r.table, from = r.from, to = r.to,
                "range committed"
            ),
            Event::TableFull { table } => {
                tracing::error!(%table, "no codes left to allocate for this table")
            }
        }
    }

    fn answer_waiting(&mut self) {
        let now = Instant::now();
        let primary_name = describe_primary(self.machine.primary());
        for wait in std::mem::take(&mut self.elections) {
            let won = self
                .machine
                .primary()
                .is_some_and(|p| p.company == wait.candidate && p.term > wait.since);
            let failed = wait.candidate == self.machine.me()
                && self.failed_terms.range(wait.since + 1..).next().is_some();
            if won {
                let _ = wait.reply.send(Ok(self.view()));
            } else if failed {
                let members = self.view().members;
                let _ = wait.reply.send(Err(PrimaryError::NoMajority {
                    term: self
                        .failed_terms
                        .range(wait.since + 1..)
                        .next()
                        .copied()
                        .unwrap_or(0),
                    needed: members / 2 + 1,
                    members,
                    primary: primary_name.clone(),
                }));
            } else if now >= wait.deadline {
                let _ = wait.reply.send(Err(PrimaryError::NotElected {
                    candidate: wait.candidate,
                    secs: ELECT_WAIT.as_secs(),
                    primary: primary_name.clone(),
                }));
            } else {
                self.elections.push(wait);
            }
        }
        for wait in std::mem::take(&mut self.commits) {
            let committed = self.machine.persistent().committed.contains(&wait.range);
            if committed {
                let row = self.rows().into_iter().find(|r| {
                    r.committed
                        && r.company == wait.range.company
                        && r.table == wait.range.table
                        && r.from == wait.range.from
                });
                let _ = wait
                    .reply
                    .send(Ok(row.unwrap_or_else(|| row_of(&wait.range, true, None))));
            } else if now >= wait.deadline {
                let _ = wait.reply.send(Err(PrimaryError::NotCommitted {
                    secs: COMMIT_WAIT.as_secs(),
                }));
            } else {
                self.commits.push(wait);
            }
        }
        for wait in std::mem::take(&mut self.codes) {
            if wait.drawn.len() == wait.wanted || (now >= wait.deadline && !wait.drawn.is_empty()) {
                let _ = wait.reply.send(Ok(wait.drawn));
            } else if now >= wait.deadline && self.confirmation.is_some() {
                let _ = wait.reply.send(Err(PrimaryError::Unconfirmed));
            } else if now >= wait.deadline {
                let _ = wait.reply.send(Err(AllocError::Exhausted {
                    remaining: self.machine.remaining(&wait.table),
                    table: wait.table,
                    primary: self.machine.primary().cloned(),
                }
                .into()));
            } else {
                self.codes.push(wait);
            }
        }
    }

    /// The store failed: codes drawn in this step were not stored, so they
    /// must not be handed out.
    fn fail_waiting(&mut self, e: &StoreError) {
        for wait in std::mem::take(&mut self.codes) {
            let _ = wait
                .reply
                .send(Err(PrimaryError::Store(StoreError::Failed(e.to_string()))));
        }
        for reply in std::mem::take(&mut self.after_store) {
            reply(Some(e));
        }
    }

    fn view(&self) -> PrimaryView {
        PrimaryView {
            company: self.machine.me().to_owned(),
            primary: self.machine.primary().cloned(),
            current_term: self.machine.current_term(),
            acting: self.machine.acting_primary_term().is_some(),
            members: self.machine.roster_size(),
            awaiting_code: self.awaiting.counts(),
        }
    }

    fn rows(&self) -> Vec<RangeRow> {
        self.machine
            .ranges()
            .into_iter()
            .map(|v| row_of(&v.range, v.committed, v.used))
            .collect()
    }
}

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until_deadline(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn row_of(range: &Range, committed: bool, used: Option<i64>) -> RangeRow {
    RangeRow {
        company: range.company.clone(),
        table: range.table.clone(),
        from: range.from,
        to: range.to,
        term: range.term,
        committed,
        used,
    }
}

#[cfg(test)]
mod tests {
    //! The confirmation rule, with the real task over a real store: a
    //! member that connected is waited for, one that never connects is not.
    use super::*;
    use crate::primary::machine::PrimaryMessage;
    use crate::store::Store;

    const ME: &str = "11222333000181";
    const MEMBER: &str = "11444777000161";

    /// A branch's primary task (not the primary, holding no block yet) in a
    /// group of two.
    async fn branch() -> (PrimaryHandle, watch::Sender<bool>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("store.redb"), vec![7; 16], ME.into())
            .expect("store opens");
        let (stop, stopping) = watch::channel(false);
        let (handle, _outgoing) = PrimaryHandle::start(
            StoreHandle::spawn(store),
            ME.into(),
            MEMBER,
            vec![ME.into(), MEMBER.into()],
            PrimarySettings::default(),
            stopping,
        )
        .await
        .expect("the task starts");
        (handle, stop, dir)
    }

    /// One customer code asked of the task, willing to wait 100 ms: the
    /// answer, and how long it took.
    async fn draw_one(handle: &PrimaryHandle) -> (Result<Vec<i64>, PrimaryError>, Duration) {
        let asked = Instant::now();
        let drawn = handle
            .codes("customer", 1, Duration::from_millis(100))
            .await;
        (drawn, asked.elapsed())
    }

    #[tokio::test]
    async fn a_connected_member_that_has_not_answered_is_waited_for() {
        let (handle, _stop, _dir) = branch().await;
        handle.connected(MEMBER.into());
        let (drawn, took) = draw_one(&handle).await;
        assert!(
            matches!(drawn, Err(PrimaryError::Unconfirmed)),
            "codes drawn before the member answered: {drawn:?}"
        );
        // It waited out the start's wait, and then did not draw.
        assert!(took >= CONFIRM_WAIT - Duration::from_millis(200));
    }

    #[tokio::test]
    async fn with_no_member_connected_the_branch_numbers_from_its_own_counters() {
        let (handle, _stop, _dir) = branch().await;
        let drawn = handle
            .codes("customer", 1, Duration::from_millis(100))
            .await;
        // No block is held: past the wait, the draw itself is what fails.
        assert!(
            matches!(drawn, Err(PrimaryError::Exhausted(_))),
            "{drawn:?}"
        );
    }

    #[tokio::test]
    async fn a_members_answer_ends_the_wait_at_once() {
        let (handle, _stop, _dir) = branch().await;
        handle.connected(MEMBER.into());
        handle.deliver(
            MEMBER.into(),
            PrimaryMessage::UsageKnown { used: Vec::new() },
        );
        let (drawn, took) = draw_one(&handle).await;
        assert!(
            matches!(drawn, Err(PrimaryError::Exhausted(_))),
            "{drawn:?}"
        );
        assert!(took < CONFIRM_WAIT / 2, "{took:?}");
    }

    #[tokio::test]
    async fn a_member_that_left_before_answering_is_not_waited_for() {
        let (handle, _stop, _dir) = branch().await;
        handle.connected(MEMBER.into());
        handle.disconnected(MEMBER.into());
        let (drawn, took) = draw_one(&handle).await;
        // A fresh wait for a member to connect, then the branch's own
        // counters: no block is held, so the draw itself fails.
        assert!(
            matches!(drawn, Err(PrimaryError::Exhausted(_))),
            "the branch still waits for a member that left: {drawn:?}"
        );
        assert!(took < CONFIRM_WAIT + Duration::from_secs(1), "{took:?}");
    }
}

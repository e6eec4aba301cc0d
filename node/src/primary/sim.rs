//! Deterministic simulation of the election and range-allocation machine.
//!
//! Each schedule builds 5 to 9 members and a network the test controls
//! (drops, delays that reorder, random partitions, heals), then mixes crashes,
//! restarts, competing elections, manual ranges, block requests and many
//! `next_code` calls, all drawn from one seeded RNG. After every step it
//! checks the safety invariants; after a final heal and quiet rounds, that
//! everyone agrees and that every member can still get a code.
//!
//! A crash keeps only what the member last persisted. The driver here does
//! what the node must do: persist whenever the output says so, before
//! sending the output's messages; and it checks the machine never changed its
//! persistent state without saying so.
//!
//! `ELO_SIM_SEED=<n>` replays one seed, `ELO_SIM_SCHEDULES=<n>` sets how
//! many seeds run, `ELO_SIM_TRACE=1` prints every action.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::machine::{
    CompanyId, Config, Event, Machine, PersistentState, PrimaryMessage, Range, RangeError,
    TableName, TableSettings, Term,
};

const TABLES: [&str; 2] = ["product", "customer"];
const STEPS: u64 = 250;

fn config() -> Config {
    let mut tables = BTreeMap::new();
    tables.insert(
        "product".to_owned(),
        TableSettings {
            block_size: 30,
            max_code: 100_000,
        },
    );
    // Small enough to run out within a schedule.
    tables.insert(
        "customer".to_owned(),
        TableSettings {
            block_size: 10,
            max_code: 150,
        },
    );
    Config {
        tables,
        election_timeout_ticks: 10,
        reclaim_after_ticks: 30,
        block_request_retry_ticks: 8,
        sync_every_ticks: 4,
        ..Config::default()
    }
}

struct Member {
    /// `None` while crashed.
    machine: Option<Machine>,
    /// What the member last persisted: all that survives a crash.
    saved: PersistentState,
}

struct Envelope {
    deliver_at: u64,
    from: usize,
    to: usize,
    message: PrimaryMessage,
}

struct World {
    rng: StdRng,
    trace: bool,
    ids: Vec<CompanyId>,
    config: Config,
    members: Vec<Member>,
    in_flight: Vec<Envelope>,
    /// Partition side of each member; members talk only within a side.
    side: Vec<u8>,
    drop_percent: u32,
    max_delay: u64,
    now: u64,
    /// Who won each term, from `BecamePrimary` and from members' knowledge.
    primaries: BTreeMap<Term, CompanyId>,
    /// Every range any member ever persisted as committed.
    ever_committed: BTreeSet<Range>,
    /// Every code ever handed out, by table.
    issued: HashSet<(TableName, i64)>,
    tables_full: BTreeSet<TableName>,
    /// Calls whose output did not ask to persist.
    calls: u64,
    /// What happened, to show the schedules exercise what they should.
    stats: BTreeMap<&'static str, u64>,
}

impl World {
    fn new(seed: u64, trace: bool) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = rng.gen_range(5..=9);
        let ids: Vec<CompanyId> = (0..n)
            .map(|i| format!("{:014}", 11_222_333_000_100u64 + i))
            .collect();
        let config = config();
        let members = ids
            .iter()
            .map(|id| Member {
                machine: Some(Machine::new(id.clone(), ids.clone()).with_config(config.clone())),
                saved: PersistentState::default(),
            })
            .collect();
        Self {
            rng,
            trace,
            side: vec![0; ids.len()],
            ids,
            config,
            members,
            in_flight: Vec::new(),
            drop_percent: 0,
            max_delay: 2,
            now: 0,
            primaries: BTreeMap::new(),
            ever_committed: BTreeSet::new(),
            issued: HashSet::new(),
            tables_full: BTreeSet::new(),
            calls: 0,
            stats: BTreeMap::new(),
        }
    }

    fn log(&self, what: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("[t={}] {}", self.now, what());
        }
    }

    fn n(&self) -> usize {
        self.ids.len()
    }

    fn live(&self) -> Vec<usize> {
        (0..self.n())
            .filter(|&i| self.members[i].machine.is_some())
            .collect()
    }

    /// What the node's driver does after every call: persist if told to,
    /// then send. Also checks the invariants the call may have broken.
    fn after(&mut self, i: usize) {
        let member = &mut self.members[i];
        let Some(machine) = member.machine.as_mut() else {
            return;
        };
        let out = machine.take_output();
        if out.persist {
            member.saved = machine.persistent().clone();
        } else {
            // A full comparison on every call costs most of the run time:
            // the cheap one catches inserts and removals, the full one runs
            // on every eighth call.
            self.calls += 1;
            let (now, saved) = (machine.persistent(), &member.saved);
            let same = if self.calls.is_multiple_of(8) {
                now == saved
            } else {
                now.current_term == saved.current_term
                    && now.voted_for == saved.voted_for
                    && now.primary == saved.primary
                    && now.codes_used == saved.codes_used
                    && now.committed.len() == saved.committed.len()
                    && now.proposed.len() == saved.proposed.len()
            };
            assert!(
                same,
                "member {i} changed its persistent state without asking to persist"
            );
        }
        let known = machine.primary().cloned();
        let me = self.ids[i].clone();
        for event in &out.events {
            match event {
                Event::BecamePrimary { term } => {
                    *self.stats.entry("elections won").or_default() += 1;
                    self.log(|| format!("{i} became primary of term {term}"));
                    self.record_primary(*term, &me);
                }
                Event::ElectionFailed { .. } => {
                    *self.stats.entry("elections failed").or_default() += 1;
                }
                Event::TableFull { table } => {
                    self.tables_full.insert(table.clone());
                }
                _ => {}
            }
        }
        if let Some(p) = known {
            self.record_primary(p.term, &p.company);
        }
        if out.persist {
            let new: Vec<Range> = self.members[i]
                .saved
                .committed
                .iter()
                .filter(|r| !self.ever_committed.contains(*r))
                .cloned()
                .collect();
            for range in new {
                self.record_committed(range);
            }
        }
        for o in out.messages {
            let Some(to) = self.ids.iter().position(|id| *id == o.to) else {
                panic!("message to unknown company {}", o.to);
            };
            let delay = self.rng.gen_range(0..=self.max_delay);
            self.in_flight.push(Envelope {
                deliver_at: self.now + delay,
                from: i,
                to,
                message: o.message,
            });
        }
    }

    fn record_primary(&mut self, term: Term, company: &str) {
        let winner = self
            .primaries
            .entry(term)
            .or_insert_with(|| company.to_owned());
        assert_eq!(winner, company, "two primaries in term {term}");
    }

    fn record_committed(&mut self, range: Range) {
        self.log(|| format!("committed {range:?}"));
        if let Some(other) = self.ever_committed.iter().find(|r| r.overlaps(&range)) {
            panic!("committed ranges overlap: {other:?} and {range:?}");
        }
        self.ever_committed.insert(range);
    }

    fn deliver(&mut self, all: bool) {
        let now = self.now;
        let (mut due, later): (Vec<Envelope>, Vec<Envelope>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|e| all || e.deliver_at <= now);
        self.in_flight = later;
        due.shuffle(&mut self.rng);
        for e in due {
            if self.side[e.from] != self.side[e.to]
                || self.rng.gen_range(0..100) < self.drop_percent
            {
                continue;
            }
            let from = self.ids[e.from].clone();
            let Some(machine) = self.members[e.to].machine.as_mut() else {
                continue;
            };
            machine.handle(&from, e.message);
            self.after(e.to);
        }
    }

    fn tick(&mut self, i: usize) {
        if let Some(machine) = self.members[i].machine.as_mut() {
            machine.tick();
            self.after(i);
        }
    }

    fn connect(&mut self, i: usize, j: usize) {
        let peer = self.ids[j].clone();
        if let Some(machine) = self.members[i].machine.as_mut() {
            machine.sync_with(&peer);
            self.after(i);
        }
    }

    fn next_code(&mut self, i: usize, table: &str) -> bool {
        let Some(machine) = self.members[i].machine.as_mut() else {
            return false;
        };
        let result = machine.next_code(table);
        // Persist before the code is used, as the node must.
        self.after(i);
        match result {
            Ok(issued) => {
                let code = issued.code;
                let company = &self.ids[i];
                assert!(
                    self.ever_committed.iter().any(|r| r.company == *company
                        && r.table == table
                        && r.from <= code
                        && code <= r.to),
                    "member {i} issued {table} {code} outside its committed ranges"
                );
                assert!(
                    self.issued.insert((table.to_owned(), code)),
                    "{table} code {code} issued twice (second time by member {i})"
                );
                true
            }
            Err(_) => {
                *self.stats.entry("next_code exhausted").or_default() += 1;
                false
            }
        }
    }

    fn random_member(&mut self) -> usize {
        self.rng.gen_range(0..self.n())
    }

    fn random_table(&mut self) -> &'static str {
        TABLES[self.rng.gen_range(0..TABLES.len())]
    }

    fn step(&mut self) {
        self.now += 1;
        for i in 0..self.n() {
            // Clocks drift: not everyone ticks every step.
            if self.rng.gen_bool(0.8) {
                self.tick(i);
            }
        }
        let roll = self.rng.gen_range(0..100);
        match roll {
            0..=5 => {
                let i = self.random_member();
                let candidate = if self.rng.gen_bool(0.5) {
                    None
                } else {
                    let c = self.random_member();
                    Some(self.ids[c].clone())
                };
                self.log(|| format!("elect at {i}: {candidate:?}"));
                if let Some(machine) = self.members[i].machine.as_mut() {
                    let _ = machine.elect(candidate);
                    self.after(i);
                }
            }
            6..=40 => {
                let i = self.random_member();
                let table = self.random_table();
                for _ in 0..self.rng.gen_range(1..=6) {
                    self.next_code(i, table);
                }
            }
            41..=44 => {
                let i = self.random_member();
                let c = self.random_member();
                let company = self.ids[c].clone();
                let table = self.random_table();
                let from = self.rng.gen_range(1..=3_000);
                let to = from + self.rng.gen_range(0..60);
                if let Some(machine) = self.members[i].machine.as_mut() {
                    let result = machine.set_range(&company, table, from, to);
                    let key = match &result {
                        Ok(_) => "set_range proposed",
                        Err(RangeError::Overlaps { .. }) => "set_range overlapping",
                        Err(_) => "set_range refused otherwise",
                    };
                    *self.stats.entry(key).or_default() += 1;
                    self.log(|| format!("set_range at {i}: {table} {from}..={to} -> {result:?}"));
                    self.after(i);
                }
            }
            45..=48 => {
                let sides = self.rng.gen_range(2..=3);
                for s in self.side.iter_mut() {
                    *s = self.rng.gen_range(0..sides);
                }
                self.log(|| format!("partition {:?}", self.side));
                *self.stats.entry("partitions").or_default() += 1;
            }
            49..=53 => {
                self.side.iter_mut().for_each(|s| *s = 0);
                self.log(|| "heal".to_owned());
                for i in 0..self.n() {
                    let j = (i + 1) % self.n();
                    self.connect(i, j);
                }
            }
            54..=56 => {
                let live = self.live();
                if let Some(&i) = live.choose(&mut self.rng) {
                    self.log(|| format!("crash {i}"));
                    *self.stats.entry("crashes").or_default() += 1;
                    self.members[i].machine = None;
                }
            }
            57..=62 => {
                let crashed: Vec<usize> = (0..self.n())
                    .filter(|&i| self.members[i].machine.is_none())
                    .collect();
                if let Some(&i) = crashed.choose(&mut self.rng) {
                    self.restart(i);
                }
            }
            63..=64 => {
                self.drop_percent = self.rng.gen_range(0..=40);
                self.max_delay = self.rng.gen_range(0..=5);
            }
            _ => {}
        }
        self.deliver(false);
    }

    fn restart(&mut self, i: usize) {
        self.log(|| format!("restart {i}"));
        let machine = Machine::restore(
            self.ids[i].clone(),
            self.ids.clone(),
            self.members[i].saved.clone(),
        )
        .with_config(self.config.clone());
        self.members[i].machine = Some(machine);
        for j in 0..self.n() {
            if j != i {
                self.connect(i, j);
            }
        }
    }

    fn machines(&self) -> Vec<&Machine> {
        self.members
            .iter()
            .filter_map(|m| m.machine.as_ref())
            .collect()
    }

    /// Everyone knows the same primary and committed ranges, no election
    /// runs, and the known primary is acting.
    fn agreed(&self) -> bool {
        let machines = self.machines();
        let first = machines[0];
        let same = machines.iter().all(|m| {
            m.primary() == first.primary()
                && m.persistent().committed == first.persistent().committed
                && !m.is_campaigning()
        });
        let acting = first.primary().is_none_or(|p| {
            machines
                .iter()
                .any(|m| m.me() == p.company && m.acting_primary_term() == Some(p.term))
        });
        same && acting
    }

    fn quiet_round(&mut self) {
        self.now += 1;
        for i in 0..self.n() {
            self.tick(i);
        }
        for _ in 0..4 {
            self.deliver(true);
        }
    }

    fn finish(&mut self, seed: u64) {
        self.side.iter_mut().for_each(|s| *s = 0);
        self.drop_percent = 0;
        self.max_delay = 0;
        for i in 0..self.n() {
            if self.members[i].machine.is_none() {
                self.restart(i);
            }
        }
        let mut stable = 0;
        for _ in 0..400 {
            self.quiet_round();
            stable = if self.agreed() { stable + 1 } else { 0 };
            if stable >= 3 {
                break;
            }
        }
        assert!(
            stable >= 3,
            "seed {seed}: members did not agree after healing: {:#?}",
            self.machines()
                .iter()
                .map(|m| (m.me(), m.primary(), m.persistent().committed.len()))
                .collect::<Vec<_>>()
        );
        // Liveness: with a primary, every member gets a code again.
        if self.machines()[0].primary().is_some() && !self.tables_full.contains("product") {
            for i in 0..self.n() {
                let mut got = false;
                for _ in 0..40 {
                    if self.next_code(i, "product") {
                        got = true;
                        break;
                    }
                    self.quiet_round();
                }
                assert!(
                    got,
                    "seed {seed}: member {i} got no product code after healing"
                );
            }
        }
    }
}

fn run(seed: u64, trace: bool) -> BTreeMap<&'static str, u64> {
    let mut world = World::new(seed, trace);
    for _ in 0..STEPS {
        world.step();
    }
    world.finish(seed);
    let mut stats = world.stats;
    stats.insert("codes issued", world.issued.len() as u64);
    stats.insert("ranges committed", world.ever_committed.len() as u64);
    stats.insert("tables full", world.tables_full.len() as u64);
    stats
}

#[test]
fn random_schedules_keep_ranges_and_codes_unique() {
    let trace = std::env::var("ELO_SIM_TRACE").is_ok_and(|v| v == "1");
    let seeds: Vec<u64> = match std::env::var("ELO_SIM_SEED") {
        Ok(seed) => vec![
            seed.parse()
                .unwrap_or_else(|_| panic!("bad ELO_SIM_SEED {seed}")),
        ],
        Err(_) => {
            let count = std::env::var("ELO_SIM_SCHEDULES")
                .ok()
                .and_then(|c| c.parse().ok())
                .unwrap_or(1000u64);
            (0..count).collect()
        }
    };
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    for seed in seeds {
        match catch_unwind(AssertUnwindSafe(|| run(seed, trace))) {
            Ok(stats) => {
                for (key, n) in stats {
                    *totals.entry(key).or_default() += n;
                }
            }
            Err(panic) => {
                eprintln!(
                    "simulation failed with seed {seed}; replay with ELO_SIM_SEED={seed} (ELO_SIM_TRACE=1 for a trace)"
                );
                resume_unwind(panic);
            }
        }
    }
    eprintln!("simulation totals: {totals:?}");
    for key in [
        "codes issued",
        "ranges committed",
        "elections won",
        "crashes",
    ] {
        assert!(
            totals.get(key).is_some_and(|n| *n > 0),
            "the simulation had no {key}"
        );
    }
}

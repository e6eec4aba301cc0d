//! Credit in escrow mode (a bounded counter, as in Balegas et al., 2015):
//! the customer's credit is held as *rights* by the companies, and a company
//! charges only within the rights it holds, so charges made while companies
//! cannot talk never take the used credit above the limit once they merge.
//!
//! Every value is written by one company only, and only grows or is set by
//! its owner (as in the rest of the credit part, `credit_used.CNPJ`):
//! - `credit_grant.C`: rights company C created (raising the limit there);
//!   it goes down only by rights C holds (lowering the limit there).
//! - `credit_gave.C.D`: rights C handed to D, grow-only.
//! - `credit_used.C`: credit C charged less what it released.
//!
//! Rights held by C = grant(C) + Σ gave(·→C) − Σ gave(C→·) − used(C). A
//! company's own keys are exact where it stands and the others' are lower
//! bounds of the truth (their gifts to it only grow), so what it believes it
//! holds is never more than it holds. Summed over the companies, rights are
//! Σ grant − Σ used: as no company goes below zero, Σ used ≤ Σ grant, the
//! limit. This module is pure: the node reads and writes the keys.

use std::collections::BTreeMap;

use elo_crdt::FieldValue;

/// Key prefixes of the escrow values in a customer's credit part.
pub use elo_crdt::schema::{CREDIT_GAVE as GAVE, CREDIT_GRANT as GRANT, CREDIT_USED as USED};

/// A customer's escrow values as one company knows them, in cents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Escrow {
    pub grant: BTreeMap<String, i64>,
    /// (giver, receiver) → amount.
    pub gave: BTreeMap<(String, String), i64>,
    pub used: BTreeMap<String, i64>,
}

impl Escrow {
    /// Reads the escrow keys out of a record's values.
    pub fn from_values(values: &BTreeMap<String, FieldValue>) -> Escrow {
        let mut e = Escrow::default();
        for (k, v) in values {
            let FieldValue::Int(cents) = v else { continue };
            if let Some(c) = k.strip_prefix(GRANT) {
                e.grant.insert(c.to_owned(), *cents);
            } else if let Some(rest) = k.strip_prefix(GAVE)
                && let Some((from, to)) = rest.split_once('.')
            {
                e.gave.insert((from.to_owned(), to.to_owned()), *cents);
            } else if let Some(c) = k.strip_prefix(USED) {
                e.used.insert(c.to_owned(), *cents);
            }
        }
        e
    }

    /// Whether the customer's credit is held in escrow (some company
    /// holds rights).
    pub fn active(&self) -> bool {
        !self.grant.is_empty()
    }

    /// The limit in escrow: every right ever created, less those dropped.
    pub fn limit(&self) -> i64 {
        self.grant.values().sum()
    }

    pub fn used_total(&self) -> i64 {
        self.used.values().sum()
    }

    /// Rights `company` holds.
    pub fn holds(&self, company: &str) -> i64 {
        let grant = self.grant.get(company).copied().unwrap_or(0);
        let received: i64 = self
            .gave
            .iter()
            .filter(|((_, to), _)| to == company)
            .map(|(_, v)| v)
            .sum();
        let given: i64 = self
            .gave
            .iter()
            .filter(|((from, _), _)| from == company)
            .map(|(_, v)| v)
            .sum();
        grant + received - given - self.used.get(company).copied().unwrap_or(0)
    }

    /// The key and new value `me` writes to charge `amount`, if it holds
    /// the rights.
    pub fn charge(&self, me: &str, amount: i64) -> Option<(String, i64)> {
        (amount > 0 && self.holds(me) >= amount).then(|| {
            let used = self.used.get(me).copied().unwrap_or(0) + amount;
            (format!("{USED}{me}"), used)
        })
    }

    /// The key and new value `me` writes to hand `to` up to `wanted` of its
    /// rights, and how much that gives (nothing when it holds none).
    pub fn give(&self, me: &str, to: &str, wanted: i64) -> Option<(String, i64, i64)> {
        let amount = wanted.min(self.holds(me));
        (amount > 0 && me != to).then(|| {
            let key = (me.to_owned(), to.to_owned());
            let total = self.gave.get(&key).copied().unwrap_or(0) + amount;
            (format!("{GAVE}{me}.{to}"), total, amount)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One company's copy, with how many writes of each owner it has seen
    /// (the owner's own count is its write counter): merging keeps each
    /// owner's latest values, as merging the automerge documents does.
    #[derive(Clone, Debug, Default)]
    struct Copy {
        escrow: Escrow,
        seen: BTreeMap<String, u64>,
    }

    #[derive(Clone, Debug)]
    enum Step {
        Charge(usize, i64),
        Release(usize, i64),
        Give(usize, usize, i64),
        Sync(usize, usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..4usize, 1..400i64).prop_map(|(c, a)| Step::Charge(c, a)),
            1 => (0..4usize, 1..200i64).prop_map(|(c, a)| Step::Release(c, a)),
            2 => (0..4usize, 0..4usize, 1..400i64).prop_map(|(c, d, a)| Step::Give(c, d, a)),
            3 => (0..4usize, 0..4usize).prop_map(|(a, b)| Step::Sync(a, b)),
        ]
    }

    fn name(i: usize) -> String {
        format!("C{i}")
    }

    fn write(copy: &mut Copy, me: &str, key: &str, value: i64) {
        let mut values: BTreeMap<String, FieldValue> = BTreeMap::new();
        values.insert(key.to_owned(), FieldValue::Int(value));
        let e = Escrow::from_values(&values);
        copy.escrow.gave.extend(e.gave);
        copy.escrow.grant.extend(e.grant);
        copy.escrow.used.extend(e.used);
        *copy.seen.entry(me.to_owned()).or_insert(0) += 1;
    }

    fn sync(from: &Copy, to: &mut Copy) {
        let newer: BTreeMap<String, bool> = from
            .seen
            .iter()
            .map(|(c, n)| (c.clone(), *n > to.seen.get(c).copied().unwrap_or(0)))
            .collect();
        to.escrow
            .merge_from(&from.escrow, |c| newer.get(c).copied().unwrap_or(false));
        for (c, n) in &from.seen {
            let e = to.seen.entry(c.clone()).or_insert(0);
            *e = (*e).max(*n);
        }
    }

    /// The model's merge (the node merges automerge documents instead).
    impl Escrow {
        /// Takes what another copy knows: each value is its owner's, and the
        /// owner only moves it one way for gifts, so the larger gift wins; for
        /// grants and used, which the owner may lower, a merge of documents
        /// keeps the owner's latest write, modelled here by `newer`.
        fn merge_from(&mut self, other: &Escrow, newer: impl Fn(&str) -> bool) {
            for (k, v) in &other.gave {
                let e = self.gave.entry(k.clone()).or_insert(0);
                *e = (*e).max(*v);
            }
            for (c, v) in &other.grant {
                if newer(c) || !self.grant.contains_key(c) {
                    self.grant.insert(c.clone(), *v);
                }
            }
            for (c, v) in &other.used {
                if newer(c) || !self.used.contains_key(c) {
                    self.used.insert(c.clone(), *v);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Random charges, releases and hand-overs at four companies under
        /// random partial syncs: once everyone has merged everything, the
        /// used credit is never above the limit, and no company holds less
        /// than nothing.
        #[test]
        fn used_never_exceeds_the_limit_once_merged(
            limit in 1..2000i64,
            steps in proptest::collection::vec(step(), 1..120),
        ) {
            let n = 4;
            let mut copies = vec![Copy::default(); n];
            // The founder creates the rights and hands each company a part.
            let founder = name(0);
            write(&mut copies[0], &founder, &format!("{GRANT}{founder}"), limit);
            for c in 1..n {
                let share = limit / n as i64;
                if let Some((key, total, _)) = copies[0].escrow.give(&founder, &name(c), share) {
                    let mut copy = copies[0].clone();
                    write(&mut copy, &founder, &key, total);
                    copies[0] = copy;
                }
            }
            for s in steps {
                match s {
                    Step::Charge(c, amount) => {
                        if let Some((key, v)) = copies[c].escrow.charge(&name(c), amount) {
                            let me = name(c);
                            write(&mut copies[c], &me, &key, v);
                        }
                    }
                    Step::Release(c, amount) => {
                        let me = name(c);
                        let total = copies[c].escrow.used_total();
                        if amount <= total {
                            let used = copies[c].escrow.used.get(&me).copied().unwrap_or(0) - amount;
                            write(&mut copies[c], &me, &format!("{USED}{me}"), used);
                        }
                    }
                    Step::Give(c, d, amount) => {
                        let me = name(c);
                        if let Some((key, total, _)) = copies[c].escrow.give(&me, &name(d), amount) {
                            write(&mut copies[c], &me, &key, total);
                        }
                    }
                    Step::Sync(a, b) => {
                        let from = copies[a].clone();
                        sync(&from, &mut copies[b]);
                    }
                }
                for (i, copy) in copies.iter().enumerate() {
                    prop_assert!(copy.escrow.holds(&name(i)) >= 0, "{} holds less than nothing", name(i));
                }
            }
            let mut all = Copy::default();
            for copy in &copies {
                sync(copy, &mut all);
            }
            prop_assert!(all.escrow.used_total() <= all.escrow.limit(),
                "used {} above the limit {}", all.escrow.used_total(), all.escrow.limit());
            for i in 0..n {
                prop_assert!(all.escrow.holds(&name(i)) >= 0);
            }
        }
    }

    #[test]
    fn rights_move_and_charges_stay_within_them() {
        let mut values = BTreeMap::new();
        values.insert(format!("{GRANT}A"), FieldValue::Int(1000));
        values.insert(format!("{GAVE}A.B"), FieldValue::Int(300));
        values.insert(format!("{USED}B"), FieldValue::Int(100));
        let e = Escrow::from_values(&values);
        assert_eq!(e.holds("A"), 700);
        assert_eq!(e.holds("B"), 200);
        assert_eq!(e.charge("B", 201), None);
        assert_eq!(e.charge("B", 200), Some((format!("{USED}B"), 300)));
        assert_eq!(
            e.give("A", "B", 900),
            Some((format!("{GAVE}A.B"), 1000, 700))
        );
        assert_eq!(e.give("B", "B", 10), None);
    }
}

//! Credit in escrow mode (a bounded counter, as in Balegas et al., 2015):
//! the customer's credit is held as *rights* by the companies, and a company
//! charges only within the rights it holds, so charges made while companies
//! cannot talk never take the used credit above the limit once they merge.
//!
//! The rights follow the limit: every right there is comes from the
//! customer's `credit_limit`, held by the founding company until it hands
//! part of it over. So raising the limit gives the founder more to hand
//! over at once, a customer given a limit after escrow was switched on is
//! held in escrow from that moment, and lowering it takes the difference
//! off what the founder holds (a member spends what it was handed only
//! within the limit it knows, see [`Escrow::charge`]). Every other value is
//! written by one company only, as in the rest of the credit part:
//! - `credit_gave.C.D`: rights C handed to D, grow-only.
//! - `credit_used.C`: credit C charged less what it released.
//!
//! Rights held by C = (limit if C is the founder) + Σ gave(·→C) − Σ
//! gave(C→·) − used(C). A company's own keys are exact where it stands and
//! the others' gifts to it only grow, so what it believes it holds is never
//! more than it holds. Summed over the companies, rights are limit − Σ used:
//! as no company charges below zero, Σ used stays within the limit. Credit
//! used before escrow was switched on counts too: a company that charged
//! then holds less (below zero if it charged more than it was handed), and
//! a charge never takes the used credit known here above the limit. This
//! module is pure: the node reads and writes the keys.

use std::collections::BTreeMap;

use elo_crdt::FieldValue;

/// Key prefixes of the escrow values in a customer's credit part.
/// (`credit_grant.C`, rights created by hand before the rights followed the
/// limit, is no longer read: the limit is every right there is.)
pub use elo_crdt::schema::{CREDIT_GAVE as GAVE, CREDIT_USED as USED};

/// A customer's escrow values as one company knows them, in cents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Escrow {
    /// The founding company: it holds every right not handed over.
    pub founder: String,
    /// The customer's credit limit; `None` when none is known here.
    pub limit: Option<i64>,
    /// (giver, receiver) → amount.
    pub gave: BTreeMap<(String, String), i64>,
    pub used: BTreeMap<String, i64>,
}

/// Why a charge in escrow cannot be made here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Short {
    /// It would take the used credit known here above the limit.
    OverLimit,
    /// This company does not hold the rights.
    Rights,
    /// No limit is known here, so there are no rights: in escrow a
    /// customer without a limit (or whose limit has not arrived yet) is not
    /// charged, lest a company charge what another limited.
    NoLimit,
}

impl Escrow {
    /// Reads the escrow keys out of a record's values.
    pub fn from_values(values: &BTreeMap<String, FieldValue>, founder: &str) -> Escrow {
        let mut e = Escrow {
            founder: founder.to_owned(),
            ..Escrow::default()
        };
        for (k, v) in values {
            let FieldValue::Int(cents) = v else { continue };
            if k == "credit_limit" {
                e.limit = Some(*cents);
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

    pub fn used_total(&self) -> i64 {
        self.used.values().sum()
    }

    /// Rights `company` holds.
    pub fn holds(&self, company: &str) -> i64 {
        let created = if company == self.founder {
            self.limit.unwrap_or(0)
        } else {
            0
        };
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
        created + received - given - self.used.get(company).copied().unwrap_or(0)
    }

    /// The key and new value `me` writes to charge `amount`: within the
    /// rights it holds, and never taking the used credit known here above
    /// the limit (credit used before escrow, or a limit lowered since the
    /// rights were handed over, may leave a company rights the limit no
    /// longer covers).
    pub fn charge(&self, me: &str, amount: i64) -> Result<(String, i64), Short> {
        let Some(limit) = self.limit else {
            return Err(Short::NoLimit);
        };
        if amount <= 0 || self.used_total().saturating_add(amount) > limit {
            return Err(Short::OverLimit);
        }
        if self.holds(me) < amount {
            return Err(Short::Rights);
        }
        Ok(self.used_key(me, amount))
    }

    fn used_key(&self, me: &str, amount: i64) -> (String, i64) {
        let used = self.used.get(me).copied().unwrap_or(0) + amount;
        (format!("{USED}{me}"), used)
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

    /// At the founder: takes over what each member used before escrow
    /// beyond what it was handed (so the founder is the only company that
    /// may hold less than nothing, and the rights a raised limit brings pay
    /// for it first), then hands each member what it lacks of an equal part
    /// of the credit still available (the limit less what all companies
    /// used), as far as the founder holds it. Returns the keys to write;
    /// `self` is updated with them.
    pub fn top_up(&mut self, members: &[String]) -> Vec<(String, i64)> {
        let Some(limit) = self.limit else {
            return Vec::new();
        };
        let founder = self.founder.clone();
        let mut gifts: BTreeMap<String, i64> = BTreeMap::new();
        for member in members.iter().filter(|m| **m != founder) {
            let deficit = -self.holds(member);
            if deficit > 0 {
                self.hand(member, deficit);
                gifts.insert(member.clone(), 0);
            }
        }
        let companies = i64::try_from(members.len() + 1).unwrap_or(i64::MAX);
        let share = (limit - self.used_total()).max(0) / companies;
        for member in members.iter().filter(|m| **m != founder) {
            let lacking = share - self.holds(member);
            let affordable = lacking.min(self.holds(&founder));
            if affordable > 0 {
                self.hand(member, affordable);
                gifts.insert(member.clone(), 0);
            }
        }
        gifts
            .into_keys()
            .map(|member| {
                let key = (founder.clone(), member.clone());
                let total = self.gave.get(&key).copied().unwrap_or(0);
                (format!("{GAVE}{founder}.{member}"), total)
            })
            .collect()
    }

    /// Adds `amount` to what the founder handed `member`.
    fn hand(&mut self, member: &str, amount: i64) {
        *self
            .gave
            .entry((self.founder.clone(), member.to_owned()))
            .or_insert(0) += amount;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One company's copy, with how many writes of each owner it has seen
    /// (the owner's own count is its write counter): merging keeps each
    /// owner's latest values, as merging the automerge documents does. The
    /// founder writes the limit in this model.
    #[derive(Clone, Debug)]
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
        Raise(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..4usize, 1..400i64).prop_map(|(c, a)| Step::Charge(c, a)),
            1 => (0..4usize, 1..200i64).prop_map(|(c, a)| Step::Release(c, a)),
            2 => (0..4usize, 0..4usize, 1..400i64).prop_map(|(c, d, a)| Step::Give(c, d, a)),
            3 => (0..4usize, 0..4usize).prop_map(|(a, b)| Step::Sync(a, b)),
            1 => (1..300i64).prop_map(Step::Raise),
        ]
    }

    fn name(i: usize) -> String {
        format!("C{i}")
    }

    fn write(copy: &mut Copy, me: &str, key: &str, value: i64) {
        let mut values: BTreeMap<String, FieldValue> = BTreeMap::new();
        values.insert(key.to_owned(), FieldValue::Int(value));
        let e = Escrow::from_values(&values, &copy.escrow.founder);
        copy.escrow.gave.extend(e.gave);
        copy.escrow.used.extend(e.used);
        if e.limit.is_some() {
            copy.escrow.limit = e.limit;
        }
        *copy.seen.entry(me.to_owned()).or_insert(0) += 1;
    }

    fn sync(from: &Copy, to: &mut Copy) {
        let newer =
            |c: &str| from.seen.get(c).copied().unwrap_or(0) > to.seen.get(c).copied().unwrap_or(0);
        for (k, v) in &from.escrow.gave {
            let e = to.escrow.gave.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
        for (c, v) in &from.escrow.used {
            if newer(c) || !to.escrow.used.contains_key(c) {
                to.escrow.used.insert(c.clone(), *v);
            }
        }
        if newer(&from.escrow.founder) {
            to.escrow.limit = from.escrow.limit;
        }
        for (c, n) in &from.seen {
            let e = to.seen.entry(c.clone()).or_insert(0);
            *e = (*e).max(*n);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Credit used at random companies before escrow, then random
        /// charges, releases, hand-overs and raises of the limit at four
        /// companies under random partial syncs: once everyone has merged
        /// everything, the used credit is within the limit, or no higher
        /// than it already was when escrow was switched on.
        #[test]
        fn used_never_exceeds_the_limit_once_merged(
            limit in 1..2000i64,
            before in proptest::collection::vec(0..800i64, 4),
            steps in proptest::collection::vec(step(), 1..120),
        ) {
            let n = 4;
            let founder = name(0);
            let empty = Copy {
                escrow: Escrow { founder: founder.clone(), ..Escrow::default() },
                seen: BTreeMap::new(),
            };
            let mut copies = vec![empty.clone(); n];
            // Charges made apart before escrow, all merged at the founder.
            for (c, used) in before.iter().enumerate() {
                if *used > 0 {
                    let me = name(c);
                    write(&mut copies[c], &me, &format!("{USED}{me}"), *used);
                }
            }
            write(&mut copies[0], &founder, "credit_limit", limit);
            for c in 1..n {
                let from = copies[c].clone();
                sync(&from, &mut copies[0]);
            }
            let before_total: i64 = before.iter().sum();
            let members: Vec<String> = (1..n).map(name).collect();
            let mut founder_copy = copies[0].clone();
            for (key, total) in founder_copy.escrow.clone().top_up(&members) {
                write(&mut founder_copy, &founder, &key, total);
            }
            copies[0] = founder_copy;
            for s in steps {
                match s {
                    Step::Charge(c, amount) => {
                        if let Ok((key, v)) = copies[c].escrow.charge(&name(c), amount) {
                            let me = name(c);
                            write(&mut copies[c], &me, &key, v);
                        }
                    }
                    Step::Release(c, amount) => {
                        let me = name(c);
                        if amount <= copies[c].escrow.used_total() {
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
                    Step::Raise(amount) => {
                        let raised = copies[0].escrow.limit.unwrap_or(0) + amount;
                        write(&mut copies[0], &founder, "credit_limit", raised);
                    }
                }
            }
            let mut all = empty;
            for copy in &copies {
                sync(copy, &mut all);
            }
            let limit = all.escrow.limit.unwrap_or(0);
            prop_assert!(all.escrow.used_total() <= limit.max(before_total),
                "used {} above the limit {} (before escrow: {before_total})",
                all.escrow.used_total(), limit);
        }
    }

    fn escrow(values: &[(&str, i64)]) -> Escrow {
        let values = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), FieldValue::Int(*v)))
            .collect();
        Escrow::from_values(&values, "A")
    }

    #[test]
    fn rights_move_and_charges_stay_within_them() {
        let e = escrow(&[
            ("credit_limit", 1000),
            (&format!("{GAVE}A.B"), 300),
            (&format!("{USED}B"), 100),
        ]);
        assert_eq!(e.holds("A"), 700);
        assert_eq!(e.holds("B"), 200);
        assert_eq!(e.charge("B", 201), Err(Short::Rights));
        assert_eq!(e.charge("B", 200), Ok((format!("{USED}B"), 300)));
        assert_eq!(
            e.give("A", "B", 900),
            Some((format!("{GAVE}A.B"), 1000, 700))
        );
        assert_eq!(e.give("B", "B", 10), None);
    }

    /// A customer over the limit before escrow (charges made apart) gets
    /// no further charge anywhere, not even where rights are held.
    #[test]
    fn a_customer_over_the_limit_is_not_charged_further() {
        let mut e = escrow(&[
            ("credit_limit", 1000),
            (&format!("{USED}B"), 600),
            (&format!("{USED}C"), 600),
        ]);
        let keys = e.top_up(&["B".into(), "C".into()]);
        assert_eq!(e.charge("A", 1), Err(Short::OverLimit), "{keys:?} {e:?}");
        assert_eq!(e.charge("B", 1), Err(Short::OverLimit));
        // Under the limit, what was used before escrow is covered first,
        // and the rest is shared: nobody can take the total above it.
        let mut e = escrow(&[("credit_limit", 900), (&format!("{USED}B"), 600)]);
        e.top_up(&["B".into(), "C".into()]);
        assert_eq!([e.holds("A"), e.holds("B"), e.holds("C")], [100, 100, 100]);
    }

    /// The rights follow the limit: a raise is the founder's to hand over
    /// at once, and a limit set after escrow was switched on is in escrow.
    #[test]
    fn the_rights_follow_the_limit() {
        let mut e = escrow(&[("credit_limit", 900)]);
        e.top_up(&["B".into(), "C".into()]);
        assert_eq!(e.holds("A"), 300);
        e.limit = Some(1500);
        assert_eq!(e.holds("A"), 900);
        assert!(e.charge("A", 900).is_ok());
        e.limit = Some(700);
        assert_eq!(e.holds("A"), 100);
        let fresh = escrow(&[("credit_limit", 500)]);
        assert_eq!(escrow(&[]).charge("A", 1), Err(Short::NoLimit));
        assert_eq!(fresh.holds("A"), 500);
        assert_eq!(fresh.charge("A", 500), Ok((format!("{USED}A"), 500)));
    }
}

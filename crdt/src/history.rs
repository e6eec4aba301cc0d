//! A record's history: who changed which fields, in causal order. The
//! writers' clocks may be skewed, so order comes from automerge's change
//! graph (a change after every change it was built on); the clock only
//! orders changes made apart, then the company, then the hash, so every
//! replica lists the same history.

use automerge::ChangeHash;

/// One entry of a record's history.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEntry {
    pub company: String,
    pub time_ms: i64,
    pub fields: Vec<String>,
    pub hash: String,
}

/// Orders a document's changes so each follows the changes it depends on
/// (Kahn's algorithm); among the changes ready at a step, the earliest by
/// clock, then company, then hash goes first.
pub(crate) fn causal_order(
    entries: Vec<(HistoryEntry, Vec<ChangeHash>)>,
    hashes: Vec<ChangeHash>,
) -> Vec<HistoryEntry> {
    use std::collections::{BTreeSet, HashMap};
    let index: HashMap<ChangeHash, usize> =
        hashes.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    let mut waiting_on: Vec<usize> = vec![0; entries.len()];
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); entries.len()];
    for (i, (_, deps)) in entries.iter().enumerate() {
        for dep in deps {
            // A dependency this document lacks cannot hold the change back.
            if let Some(&d) = index.get(dep) {
                waiting_on[i] += 1;
                dependants[d].push(i);
            }
        }
    }
    let key = |i: usize| {
        let e = &entries[i].0;
        (e.time_ms, e.company.clone(), e.hash.clone(), i)
    };
    let mut ready: BTreeSet<(i64, String, String, usize)> = (0..entries.len())
        .filter(|&i| waiting_on[i] == 0)
        .map(key)
        .collect();
    let mut order = Vec::with_capacity(entries.len());
    while let Some(next) = ready.pop_first() {
        let i = next.3;
        order.push(i);
        for &d in &dependants[i] {
            waiting_on[d] -= 1;
            if waiting_on[d] == 0 {
                ready.insert(key(d));
            }
        }
    }
    let mut slots: Vec<Option<HistoryEntry>> = entries.into_iter().map(|(e, _)| Some(e)).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Merges the histories of a record's documents (its main document and its
/// parts), each already in causal order, into one list that keeps each
/// document's order: at every step the earliest next entry by clock, then
/// company, goes first. Documents share no changes, so no order between
/// them is causal; one write that touched several of them is one entry, as
/// the user made it.
pub fn merge_histories(histories: Vec<Vec<HistoryEntry>>) -> Vec<HistoryEntry> {
    let mut lists: Vec<std::collections::VecDeque<HistoryEntry>> =
        histories.into_iter().map(Into::into).collect();
    let mut merged: Vec<HistoryEntry> = Vec::new();
    loop {
        let next = lists
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.front().map(|e| ((e.time_ms, e.company.clone()), i)))
            .min();
        let Some((_, i)) = next else { break };
        let Some(e) = lists[i].pop_front() else { break };
        match merged.last_mut() {
            Some(last) if last.company == e.company && last.time_ms == e.time_ms => {
                for f in e.fields {
                    if !last.fields.contains(&f) {
                        last.fields.push(f);
                    }
                }
            }
            _ => merged.push(e),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{Author, RecordDoc};
    use crate::{DocId, Kind, RecordPatch};

    fn write(doc: &mut RecordDoc, id: &DocId, company: &str, time_ms: i64, name: &str) {
        let patch = RecordPatch::from_json(
            Kind::Customer,
            &serde_json::json!({"cpf": "52998224725", "name": name}),
        )
        .unwrap();
        doc.apply(id, &patch, Author { company, time_ms }).unwrap();
    }

    /// A writes the customer at `time_ms`, and B takes A's document.
    fn written_at_a_then_at_b(time_ms: i64) -> (DocId, RecordDoc, RecordDoc) {
        let id = DocId::from_key(Kind::Customer, "52998224725").unwrap();
        let mut a = RecordDoc::new(b"company-a");
        write(&mut a, &id, "A", time_ms, "Ana");
        let mut b = RecordDoc::new(b"company-b");
        b.merge(&mut a).unwrap();
        (id, a, b)
    }

    /// B's clock is an hour behind: its edit, made after it received A's,
    /// is still listed last, as the one that set the current value.
    #[test]
    fn a_later_change_is_listed_last_whatever_the_clock() {
        let (id, _, mut b) = written_at_a_then_at_b(10_000_000);
        write(&mut b, &id, "B", 10_000_000 - 3_600_000, "Ana Maria");
        assert_eq!(
            b.record().unwrap().values["name"],
            crate::FieldValue::Text("Ana Maria".into())
        );
        let history = b.history();
        let who: Vec<&str> = history.iter().map(|e| e.company.as_str()).collect();
        assert_eq!(who, ["A", "B"]);
        let merged = merge_histories(vec![history, Vec::new()]);
        assert_eq!(merged.last().unwrap().company, "B");
    }

    /// Changes made apart come by clock, then company, the same at both.
    #[test]
    fn changes_made_apart_come_by_clock_then_company() {
        let (id, mut a, mut b) = written_at_a_then_at_b(5_000);
        write(&mut a, &id, "A", 9_000, "Ana A");
        write(&mut b, &id, "B", 7_000, "Ana B");
        a.merge(&mut b).unwrap();
        b.merge(&mut a).unwrap();
        let order = |d: &mut RecordDoc| -> Vec<(String, i64)> {
            d.history()
                .into_iter()
                .map(|e| (e.company, e.time_ms))
                .collect()
        };
        let expected = vec![
            ("A".to_string(), 5_000),
            ("B".into(), 7_000),
            ("A".into(), 9_000),
        ];
        assert_eq!(order(&mut a), expected);
        assert_eq!(order(&mut b), expected);
    }
}

//! Splitting an order by stock: which company of the group can fulfil
//! which lines (or part of a line's quantity), from the group's stock
//! view; and, when applied, each part sent to its company as its own
//! linked order, the original order tracking its parts.

use std::collections::BTreeMap;

use serde::Serialize;

/// A line to fulfil: its id, SKU and quantity (thousandths).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    pub line: u64,
    pub sku: String,
    pub quantity: i64,
}

/// One company's share of the order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Part {
    pub company: String,
    pub lines: Vec<PartLine>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartLine {
    pub line: u64,
    pub sku: String,
    /// Thousandths, as quantities are kept.
    #[serde(skip)]
    pub milli: i64,
    pub quantity: String,
}

/// The proposal: the parts, and what no company has.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Split {
    pub parts: Vec<Part>,
    pub unfulfilled: Vec<PartLine>,
}

fn part_line(n: &Need, milli: i64) -> PartLine {
    PartLine {
        line: n.line,
        sku: n.sku.clone(),
        milli,
        quantity: elo_crdt::value::format_decimal(milli, 3),
    }
}

/// Proposes a split. `available` is, per SKU, each company's available
/// stock (thousandths). One company that can fulfil every line takes the
/// whole order (`prefer` first: the origin keeps what it can do itself);
/// otherwise each line goes to the company with the most of it, and a line
/// no one has enough of is split over several, most first.
pub fn propose(
    needs: &[Need],
    available: &BTreeMap<String, Vec<(String, i64)>>,
    prefer: &str,
) -> Split {
    let mut left: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (sku, by) in available {
        for (company, qty) in by {
            *left.entry((sku.clone(), company.clone())).or_default() += (*qty).max(0);
        }
    }
    let companies: Vec<String> = {
        let mut c: Vec<String> = left.keys().map(|(_, c)| c.clone()).collect();
        c.sort();
        c.dedup();
        // The preferred company first, then by name: deterministic.
        c.sort_by_key(|x| x != prefer);
        c
    };
    let has = |left: &BTreeMap<(String, String), i64>, sku: &str, c: &str| {
        left.get(&(sku.to_string(), c.to_string()))
            .copied()
            .unwrap_or(0)
    };
    if let Some(one) = companies
        .iter()
        .find(|c| needs.iter().all(|n| has(&left, &n.sku, c) >= n.quantity))
    {
        let lines = needs.iter().map(|n| part_line(n, n.quantity)).collect();
        return Split {
            parts: vec![Part {
                company: one.clone(),
                lines,
            }],
            unfulfilled: Vec::new(),
        };
    }
    let mut parts: BTreeMap<String, Vec<PartLine>> = BTreeMap::new();
    let mut split = Split::default();
    for n in needs {
        let mut by: Vec<(String, i64)> = companies
            .iter()
            .map(|c| (c.clone(), has(&left, &n.sku, c)))
            .filter(|(_, q)| *q > 0)
            .collect();
        by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut missing = n.quantity;
        for (c, q) in by {
            if missing == 0 {
                break;
            }
            let take = q.min(missing);
            missing -= take;
            *left.entry((n.sku.clone(), c.clone())).or_default() -= take;
            parts.entry(c).or_default().push(part_line(n, take));
        }
        if missing > 0 {
            split.unfulfilled.push(part_line(n, missing));
        }
    }
    split.parts = parts
        .into_iter()
        .map(|(company, lines)| Part { company, lines })
        .collect();
    split
}

impl super::write::Ctx<'_> {
    /// Makes each part of `split` its own order, linked to its company
    /// (the part this company keeps is its own order, not sent), and notes
    /// the parts on the original. Returns the original as it is now.
    pub(super) fn apply_split(
        &self,
        key: &str,
        split: &Split,
    ) -> Result<(serde_json::Value, bool), super::OrderError> {
        use super::OrderError;
        use super::view::{End, end_of};
        let txn = self.db.begin_write()?;
        let mut parent = self.load(&txn, key)?;
        if end_of(&parent, self.cnpj) != End::Own {
            return Err(OrderError::Conflict(format!(
                "order {key} was sent or received: split it where it is taken"
            )));
        }
        if parent.meta(PARTS).is_some() {
            return Err(OrderError::Conflict(format!(
                "order {key} is split already"
            )));
        }
        let body = parent.body().to_json();
        let mut keys = Vec::new();
        let mut owes = false;
        for part in &split.parts {
            let mut child = body.clone();
            for field in ["number", "erp_code", "installments"] {
                if let Some(m) = child.as_object_mut() {
                    m.remove(field);
                }
            }
            let items: Vec<serde_json::Value> = part
                .lines
                .iter()
                .filter_map(|l| {
                    let whole = body["items"]
                        .as_array()?
                        .iter()
                        .find(|i| i["line"] == l.line)?;
                    let mut item = whole.clone();
                    if let Some(m) = item.as_object_mut() {
                        m.remove("line");
                        // A discount stays with a whole line only.
                        if whole["quantity"].as_str() != Some(l.quantity.as_str()) {
                            m.remove("discount");
                        }
                        m.insert("quantity".into(), serde_json::json!(l.quantity));
                    }
                    Some(item)
                })
                .collect();
            child["items"] = serde_json::Value::Array(items);
            // The customer's record the parent came with goes with each part.
            if let Some(record) = parent.meta(super::records::CUSTOMER)
                && let Ok(record) = serde_json::from_str::<serde_json::Value>(&record)
            {
                child["customer_record"] = record;
            }
            let (child_key, mut doc, _) = self.create(&txn, &child, false)?;
            doc.set_meta(&[(PARENT, key)], self.cnpj, self.now_ms);
            if part.company == self.cnpj {
                super::book::store(&txn, &child_key, &mut doc)?;
            } else {
                owes |= self.link(&txn, &child_key, &mut doc, &part.company)?;
            }
            keys.push(child_key);
        }
        parent.set_meta(&[(PARTS, &keys.join(","))], self.cnpj, self.now_ms);
        super::book::store(&txn, key, &mut parent)?;
        txn.commit()?;
        Ok((self.render(key, &parent), owes))
    }
}

/// On an order split by stock: its parts' keys, comma-separated.
pub(super) const PARTS: &str = "_split.parts";
/// On a part: the key of the order it was split from.
pub(super) const PARENT: &str = "_split.parent";

#[cfg(test)]
mod tests {
    use super::*;

    fn need(line: u64, sku: &str, units: i64) -> Need {
        Need {
            line,
            sku: sku.into(),
            quantity: units * 1000,
        }
    }

    fn stock(rows: &[(&str, &str, i64)]) -> BTreeMap<String, Vec<(String, i64)>> {
        let mut m: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        for (sku, c, q) in rows {
            m.entry((*sku).into())
                .or_default()
                .push(((*c).into(), q * 1000));
        }
        m
    }

    #[test]
    fn one_company_that_has_everything_takes_the_whole_order() {
        let s = stock(&[
            ("A", "M", 10),
            ("B", "M", 10),
            ("A", "F", 10),
            ("B", "F", 10),
        ]);
        let split = propose(&[need(1, "A", 5), need(2, "B", 5)], &s, "F");
        assert_eq!(split.parts.len(), 1);
        assert_eq!(
            split.parts[0].company, "F",
            "the origin keeps what it can do"
        );
    }

    #[test]
    fn lines_go_where_the_stock_is_and_a_short_line_is_split() {
        let s = stock(&[("A", "M", 10), ("B", "G", 10), ("C", "M", 3), ("C", "G", 2)]);
        let split = propose(
            &[need(1, "A", 5), need(2, "B", 5), need(3, "C", 6)],
            &s,
            "F",
        );
        let by: Vec<(String, Vec<(u64, String)>)> = split
            .parts
            .iter()
            .map(|p| {
                (
                    p.company.clone(),
                    p.lines
                        .iter()
                        .map(|l| (l.line, l.quantity.clone()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            by,
            vec![
                ("G".into(), vec![(2, "5.000".into()), (3, "2.000".into())]),
                ("M".into(), vec![(1, "5.000".into()), (3, "3.000".into())]),
            ]
        );
        assert_eq!(split.unfulfilled.len(), 1);
        assert_eq!(split.unfulfilled[0].quantity, "1.000");
    }
}

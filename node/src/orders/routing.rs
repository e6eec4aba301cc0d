//! Sending an order: to a company named by hand, or where the rules route
//! it ("as regras de sincronização também são consideradas no envio
//! manual"), or automatically when it reaches a rule's status. And keeping
//! the settings and rules.

use elo_crdt::ident;
use redb::WriteTransaction;
use serde_json::Value as Json;

use super::OrderError;
use super::book;
use super::rules::{self, OrderRule, OrderSettings};
use super::view::{End, end_of};
use super::write::{Ctx, invalid};

/// Set at the origin when `cancel_at_origin` handed the order over: the
/// origin shows it cancelled, its lines released, and refuses edits.
pub(super) const CLOSED_AT_ORIGIN: &str = "_origin.closed";

/// A change to the rules.
#[derive(Clone, Debug)]
pub enum RuleChange {
    Add(OrderRule),
    Replace(u64, OrderRule),
    Clone(u64),
    Delete(u64),
}

impl Ctx<'_> {
    pub fn send(&self, key: &str, to: Option<&str>) -> Result<(Json, bool), OrderError> {
        let txn = self.db.begin_write()?;
        let mut doc = self.load(&txn, key)?;
        let to = match to {
            Some(to) => ident::cnpj(to).map_err(|e| invalid("to", e.to_string()))?,
            None => {
                let body = doc.body();
                let (_, rules) = self.sending(&txn)?;
                let rule = rules.iter().find(|r| r.to != self.cnpj && r.routes(&body));
                match rule {
                    Some(r) => r.to.clone(),
                    None => {
                        return Err(invalid(
                            "to",
                            "no rule routes this order (by its delivery UF and channel): name the destination",
                        ));
                    }
                }
            }
        };
        if to == self.cnpj {
            return Err(invalid(
                "to",
                "is this company: send the order to another member",
            ));
        }
        let owes = self.link(&txn, key, &mut doc, &to)?;
        txn.commit()?;
        let view = self.render(key, &doc);
        Ok((view["link"].clone(), owes))
    }

    /// Links an order to `to` (or finds it linked there already) and owes
    /// it; a sent order's origin hands it over when its settings say so.
    pub(super) fn link(
        &self,
        txn: &WriteTransaction,
        key: &str,
        doc: &mut elo_crdt::order::doc::OrderDoc,
        to: &str,
    ) -> Result<bool, OrderError> {
        if let Some(link) = doc.meta("_link.id") {
            return match end_of(doc, self.cnpj) {
                // Sending again: the same link, delivered again.
                End::Origin if doc.meta("_link.destination").as_deref() == Some(to) => {
                    self.records_with(txn, doc)?;
                    self.store_and_owe(txn, key, doc)
                }
                End::Destination => Err(OrderError::Refused(format!(
                    "order {key} came from {}: it is fulfilled here, not sent on",
                    doc.meta("_link.origin").unwrap_or_default()
                ))),
                _ => Err(OrderError::Conflict(format!(
                    "order {key} was sent to {} already (link {link})",
                    doc.meta("_link.destination").unwrap_or_default()
                ))),
            };
        }
        if doc.body().status() == elo_crdt::order::OrderStatus::Cancelled {
            return Err(OrderError::Conflict(format!("order {key} is cancelled")));
        }
        let link = hex::encode(rand::random::<[u8; 16]>());
        let mut meta = vec![
            ("_link.id", link.as_str()),
            ("_link.origin", self.cnpj),
            ("_link.destination", to),
            ("_link.origin_key", key),
        ];
        if self.sending(txn)?.0.cancel_at_origin {
            meta.push((CLOSED_AT_ORIGIN, "1"));
        }
        doc.set_meta(&meta, self.cnpj, self.now_ms);
        self.records_with(txn, doc)?;
        book::set_link(txn, &link, key)?;
        self.store_and_owe(txn, key, doc)
    }

    /// Puts the customer's and the products' records, as this company
    /// holds them now, with the order (as the settings ask).
    fn records_with(
        &self,
        txn: &WriteTransaction,
        doc: &mut elo_crdt::order::doc::OrderDoc,
    ) -> Result<(), OrderError> {
        let settings = &self.sending(txn)?.0;
        let with = super::records::to_send(
            self.db,
            doc,
            settings.update_customer_on_send,
            settings.update_products_on_send,
        )?;
        let with: Vec<(&str, &str)> = with.iter().map(|(k, v)| (*k, v.as_str())).collect();
        doc.set_meta(&with, self.cnpj, self.now_ms);
        Ok(())
    }

    /// Sends this company's own order when automatic sending is on and a
    /// rule routes it at its present status. True when it was sent.
    pub(super) fn auto_send(
        &self,
        txn: &WriteTransaction,
        key: &str,
        doc: &mut elo_crdt::order::doc::OrderDoc,
    ) -> Result<bool, OrderError> {
        let (settings, rules) = self.sending(txn)?;
        if end_of(doc, self.cnpj) != End::Own || !settings.send_automatically {
            return Ok(false);
        }
        let body = doc.body();
        let status = body.status().as_str();
        let Some(rule) = rules
            .iter()
            .find(|r| r.status == status && r.to != self.cnpj && r.routes(&body))
        else {
            return Ok(false);
        };
        tracing::info!(order = %key, to = %rule.to, rule = rule.id, "sending an order by rule");
        self.link(txn, key, doc, &rule.to)
    }

    pub fn set_settings(&self, s: OrderSettings) -> Result<OrderSettings, OrderError> {
        let mut s = s;
        if let Some(n) = &s.default_nature
            && (n.trim().is_empty() || n.chars().count() > 60)
        {
            return Err(invalid("default_nature", "1 to 60 characters (NF-e natOp)"));
        }
        s.natures.retain(|n| !n.trim().is_empty());
        let txn = self.db.begin_write()?;
        rules::set_settings(&txn, &s)?;
        txn.commit()?;
        Ok(s)
    }

    pub fn change_rule(&self, change: RuleChange) -> Result<Option<OrderRule>, OrderError> {
        let txn = self.db.begin_write()?;
        let mut all = rules::rules_in(&txn)?;
        let next_id = all.iter().map(|r| r.id).max().unwrap_or(0) + 1;
        let position = |id: u64, all: &[OrderRule]| {
            all.iter()
                .position(|r| r.id == id)
                .ok_or_else(|| OrderError::NotFound(format!("rule {id}")))
        };
        let answer = match change {
            RuleChange::Add(rule) => {
                let mut rule = rule.checked()?;
                rule.id = next_id;
                all.push(rule.clone());
                Some(rule)
            }
            RuleChange::Replace(id, rule) => {
                let mut rule = rule.checked()?;
                rule.id = id;
                let at = position(id, &all)?;
                all[at] = rule.clone();
                Some(rule)
            }
            RuleChange::Clone(id) => {
                let mut rule = all[position(id, &all)?].clone();
                rule.id = next_id;
                all.push(rule.clone());
                Some(rule)
            }
            RuleChange::Delete(id) => {
                all.remove(position(id, &all)?);
                None
            }
        };
        rules::set_rules(&txn, &all)?;
        txn.commit()?;
        Ok(answer)
    }
}

//! What each company decides about the orders it sends (seed 002's
//! "Configurações de pedidos" and "Regras de sincronização"): its settings,
//! and the rules that pick where an order goes (by the delivery's UF, the
//! sales channel, and the status that triggers an automatic send).

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::OrderError;
use crate::store::StoreError;
use crate::store::tables::{META, META_ORDER_RULES, META_ORDER_SETTINGS};
use elo_crdt::ValidationError;
use elo_crdt::order::OrderBody;

/// A company's order settings. The names are a contract.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OrderSettings {
    /// A sent order shows cancelled here, its lines released, and control
    /// passes to the destination (edits here are refused).
    #[serde(default)]
    pub cancel_at_origin: bool,
    /// At the destination: an order received takes this company's default
    /// natureza de operação rather than one of the same name.
    #[serde(default)]
    pub use_destination_default_nature: bool,
    /// The natureza de operação orders received here take by default.
    #[serde(default)]
    pub default_nature: Option<String>,
    /// The naturezas this company's ERP knows, to match a received order's
    /// by name.
    #[serde(default)]
    pub natures: Vec<String>,
    /// Send the customer's record (its main document, as held here) with
    /// each order sent, so the destination has it even where it does not
    /// receive customers from the group.
    #[serde(default = "yes")]
    pub update_customer_on_send: bool,
    /// The same for the records of the order's products.
    #[serde(default = "yes")]
    pub update_products_on_send: bool,
    /// Send an order by the rules when it reaches a rule's status.
    #[serde(default)]
    pub send_automatically: bool,
    /// At the company that invoices a received order: its invoice data
    /// goes back to the origin at once. Off: it is held here until the ERP
    /// sends it (`POST /v1/orders/{key}/fiscal`), and nothing of the order
    /// goes to the origin meanwhile.
    #[serde(default = "yes")]
    pub send_fiscal_data: bool,
}

fn yes() -> bool {
    true
}

impl Default for OrderSettings {
    fn default() -> Self {
        OrderSettings {
            cancel_at_origin: false,
            use_destination_default_nature: false,
            default_nature: None,
            natures: Vec::new(),
            update_customer_on_send: true,
            update_products_on_send: true,
            send_automatically: false,
            send_fiscal_data: true,
        }
    }
}

/// A rule: orders delivered to one of `states`, from one of `channels`,
/// go to `to` (automatically once they reach `status`). Empty lists match
/// any; the channel `none` matches orders of no channel (PDV, API).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OrderRule {
    #[serde(default)]
    pub id: u64,
    pub to: String,
    #[serde(default)]
    pub states: Vec<String>,
    #[serde(default)]
    pub channels: Vec<String>,
    /// The status that sends an order automatically.
    #[serde(default = "approved")]
    pub status: String,
}

fn approved() -> String {
    "approved".into()
}

impl OrderRule {
    /// Checks and normalises a rule (CNPJ, UFs, status).
    pub fn checked(mut self) -> Result<OrderRule, ValidationError> {
        let mut errors = Vec::new();
        match elo_crdt::ident::cnpj(&self.to) {
            Ok(c) => self.to = c,
            Err(e) => errors.push(elo_crdt::FieldError::new("to", e.to_string())),
        }
        for (i, s) in self.states.iter_mut().enumerate() {
            match elo_crdt::ident::uf(s) {
                Ok(u) => *s = u,
                Err(e) => errors.push(elo_crdt::FieldError::new(
                    format!("states[{i}]"),
                    e.to_string(),
                )),
            }
        }
        match elo_crdt::order::OrderStatus::parse(&self.status) {
            Some(s) => self.status = s.as_str().to_string(),
            None => errors.push(elo_crdt::FieldError::new("status", "not an order status")),
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(ValidationError(errors))
        }
    }

    /// Whether an order goes by this rule (the status aside).
    pub fn routes(&self, body: &OrderBody) -> bool {
        let state_ok = self.states.is_empty()
            || body
                .text("delivery.state")
                .is_some_and(|s| self.states.iter().any(|r| r == s));
        let channel = body.text("channel.id");
        let channel_ok = self.channels.is_empty()
            || self.channels.iter().any(|c| match channel {
                None => c == "none",
                Some(id) => c == id,
            });
        state_ok && channel_ok
    }
}

fn read_json<T: for<'de> Deserialize<'de> + Default>(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<T, OrderError> {
    match meta.get(key)? {
        None => Ok(T::default()),
        Some(g) => serde_json::from_slice(g.value())
            .map_err(|e| OrderError::Damaged(key.into(), e.to_string())),
    }
}

fn write_json<T: Serialize>(
    txn: &WriteTransaction,
    key: &str,
    value: &T,
) -> Result<(), OrderError> {
    let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Failed(e.to_string()))?;
    txn.open_table(META)?.insert(key, bytes.as_slice())?;
    Ok(())
}

pub(super) fn settings_in(txn: &WriteTransaction) -> Result<OrderSettings, OrderError> {
    read_json(&txn.open_table(META)?, META_ORDER_SETTINGS)
}

pub(super) fn settings(db: &redb::Database) -> Result<OrderSettings, OrderError> {
    read_json(&db.begin_read()?.open_table(META)?, META_ORDER_SETTINGS)
}

pub(super) fn set_settings(txn: &WriteTransaction, s: &OrderSettings) -> Result<(), OrderError> {
    write_json(txn, META_ORDER_SETTINGS, s)
}

pub(super) fn rules_in(txn: &WriteTransaction) -> Result<Vec<OrderRule>, OrderError> {
    read_json(&txn.open_table(META)?, META_ORDER_RULES)
}

pub(super) fn rules(db: &redb::Database) -> Result<Vec<OrderRule>, OrderError> {
    read_json(&db.begin_read()?.open_table(META)?, META_ORDER_RULES)
}

pub(super) fn set_rules(txn: &WriteTransaction, rules: &[OrderRule]) -> Result<(), OrderError> {
    write_json(txn, META_ORDER_RULES, &rules)
}

//! Every change to an order, each one redb transaction: what it checks,
//! what it writes, and whether it leaves something owed to the other end.

use elo_crdt::ValidationError;
use elo_crdt::order::access_key::{AccessKey, InvoiceFacts};
use elo_crdt::order::doc::OrderDoc;
use elo_crdt::order::{LineBlock, OrderBody, WriteMode};
use elo_crdt::schema::FieldType;
use elo_crdt::value::parse_value;
use std::cell::OnceCell;

use redb::{Database, ReadableDatabase};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::OrderError;
use super::book::{self, Owed};
use super::rules::{OrderRule, OrderSettings};
use super::view::{End, end_of};

/// What a write needs: the database, who this company is, the time.
pub(super) struct Ctx<'a> {
    pub db: &'a Database,
    pub cnpj: &'a str,
    pub actor: &'a [u8],
    pub now_ms: i64,
    /// Read once per operation (a page of orders, a bulk create), not once
    /// per order: this company's UF, and its settings and rules.
    pub here_uf: OnceCell<Option<String>>,
    pub sending: OnceCell<(OrderSettings, Vec<OrderRule>)>,
    /// Numbers drawn from this company's range for the orders this
    /// operation makes, in order; when none are left, the store's counter.
    pub numbers: std::cell::RefCell<std::collections::VecDeque<u64>>,
}

impl<'a> Ctx<'a> {
    pub fn new(db: &'a Database, cnpj: &'a str, actor: &'a [u8], now_ms: i64) -> Ctx<'a> {
        Ctx {
            db,
            cnpj,
            actor,
            now_ms,
            here_uf: OnceCell::new(),
            sending: OnceCell::new(),
            numbers: Default::default(),
        }
    }

    /// The number of a new order here: the next drawn from the range, or
    /// the store's counter where there is no range to draw from.
    pub(super) fn next_number(&self, txn: &redb::WriteTransaction) -> Result<u64, OrderError> {
        match self.numbers.borrow_mut().pop_front() {
            Some(n) => Ok(n),
            None => Ok(book::next_number(txn)?),
        }
    }

    /// This company's order settings and rules, as they are in `txn`.
    pub(super) fn sending(
        &self,
        txn: &redb::WriteTransaction,
    ) -> Result<&(OrderSettings, Vec<OrderRule>), OrderError> {
        if let Some(s) = self.sending.get() {
            return Ok(s);
        }
        let read = (
            super::rules::settings_in(txn)?,
            super::rules::rules_in(txn)?,
        );
        Ok(self.sending.get_or_init(|| read))
    }
}

/// The NF-e the destination's ERP issued for an order.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceInput {
    pub number: u32,
    pub series: u32,
    pub access_key: String,
    /// `YYYY-MM-DD`.
    pub issued_at: String,
    /// The lines this NF-e covers, each whole or in part; none: every
    /// quantity not invoiced yet.
    #[serde(default)]
    pub items: Vec<InvoicedLine>,
}

/// One line of an order an NF-e covers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoicedLine {
    pub line: u64,
    /// How much of the line (`2,5`, `"2.500"`, 2); none: what is left of it.
    #[serde(default)]
    pub quantity: Option<Json>,
}

/// Set while a received order's invoice is kept here (`send_fiscal_data`
/// off): "1" held, "0" released.
pub(super) const FISCAL_HELD: &str = "_fiscal.held";

pub(super) fn invalid(field: &str, reason: impl Into<String>) -> OrderError {
    OrderError::Invalid(ValidationError::one(field, reason))
}

impl Ctx<'_> {
    /// Creates orders in one transaction (one commit to disk for the
    /// batch); each is checked alone, and one refused leaves the others.
    /// One order is answered whole; a bulk write, which answers keys
    /// only, is not rendered (rendering was most of its cost).
    pub fn create_all(
        &self,
        inputs: &[Json],
    ) -> Result<(Vec<Result<Json, OrderError>>, bool), OrderError> {
        let txn = self.db.begin_write()?;
        let mut owes = false;
        let whole = inputs.len() == 1;
        let out = inputs
            .iter()
            .map(|i| {
                self.create(&txn, i, true).map(|(key, doc, sent)| {
                    owes |= sent;
                    if whole {
                        self.render(&key, &doc)
                    } else {
                        json!({ "key": key })
                    }
                })
            })
            .collect();
        txn.commit()?;
        Ok((out, owes))
    }

    /// One new order; sent at once when a rule says so (`by_rules`; a
    /// part of a split order never is).
    pub(super) fn create(
        &self,
        txn: &redb::WriteTransaction,
        input: &Json,
        by_rules: bool,
    ) -> Result<(String, OrderDoc, bool), OrderError> {
        let mut input = input.clone();
        let given = input
            .as_object_mut()
            .and_then(|m| m.remove("customer_record"));
        let mut body =
            OrderBody::default().apply_json(&input, WriteMode::Create, LineBlock::Origin)?;
        let customer_record = super::records::customer_of_new(self.db, &body, given)?;
        let number = match body.get("number") {
            Some(elo_crdt::FieldValue::Int(n)) if *n > 0 => {
                let n = *n as u64;
                book::note_number(txn, n)?;
                n
            }
            _ => self.next_number(txn)?,
        };
        body.values
            .insert("number".into(), elo_crdt::FieldValue::Int(number as i64));
        if body.get("status").is_none() {
            body.values
                .insert("status".into(), elo_crdt::FieldValue::Text("open".into()));
        }
        let key = number.to_string();
        if book::load(txn, &key, self.actor)?.is_some() {
            return Err(OrderError::Conflict(format!(
                "order {key} exists already: change it with PATCH /v1/orders/{key} (or `elo orders edit {key}`)"
            )));
        }
        let mut doc = OrderDoc::new(self.actor);
        doc.write(&body, self.cnpj, self.now_ms);
        if let Some(record) = &customer_record {
            doc.set_meta(
                &[(super::records::CUSTOMER, record.as_str())],
                self.cnpj,
                self.now_ms,
            );
        }
        book::store(txn, &key, &mut doc)?;
        let sent = by_rules && self.auto_send(txn, &key, &mut doc)?;
        Ok((key, doc, sent))
    }

    /// An order as this company shows it; a split one with its parts.
    pub(super) fn render(&self, key: &str, doc: &OrderDoc) -> Json {
        let here_uf = self.here_uf.get_or_init(|| self.read_here_uf());
        let mut view = super::view::render(key, doc, self.cnpj, here_uf.as_deref());
        if let Some(parts) = doc.meta(super::split::PARTS) {
            let parts: Vec<Json> = parts
                .split(',')
                .filter_map(|k| {
                    let part = self.part_view(k)?;
                    Some(json!({"key": k, "company": part["invoicing_company"],
                                "status": part["status"], "items": part["items"]}))
                })
                .collect();
            let invoiced = parts.iter().filter(|p| p["status"] == "invoiced").count();
            let of_parts = match invoiced {
                0 => "open",
                n if n == parts.len() => "invoiced",
                _ => "partially_invoiced",
            };
            view["parts"] = Json::Array(parts);
            view["parts_status"] = json!(of_parts);
        }
        if let Some(parent) = doc.meta(super::split::PARENT) {
            view["split_from"] = json!(parent);
        }
        view
    }

    fn part_view(&self, key: &str) -> Option<Json> {
        let txn = self.db.begin_read().ok()?;
        let table = txn.open_table(crate::store::tables::ORDERS).ok()?;
        let doc = book::load_from(&table, key, self.actor).ok()??;
        Some(super::view::render(key, &doc, self.cnpj, None))
    }

    /// This company's UF, from its company record (`state`).
    fn read_here_uf(&self) -> Option<String> {
        let id = elo_crdt::DocId::from_key(elo_crdt::Kind::Company, self.cnpj).ok()?;
        let record = crate::store::read::record(self.db, &id).ok()??;
        match record.values.get("state") {
            Some(elo_crdt::FieldValue::Text(uf)) => Some(uf.clone()),
            _ => None,
        }
    }

    pub fn view(&self, key: &str) -> Result<Json, OrderError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(crate::store::tables::ORDERS)?;
        let doc = book::load_from(&table, key, self.actor)?
            .ok_or_else(|| OrderError::NotFound(key.into()))?;
        Ok(self.render(key, &doc))
    }

    /// Loads an order for a change, refusing one that is not here.
    pub(super) fn load(
        &self,
        txn: &redb::WriteTransaction,
        key: &str,
    ) -> Result<OrderDoc, OrderError> {
        book::load(txn, key, self.actor)?.ok_or_else(|| OrderError::NotFound(key.into()))
    }

    /// Stores a changed order and, when linked, owes it to the other end.
    pub(super) fn store_and_owe(
        &self,
        txn: &redb::WriteTransaction,
        key: &str,
        doc: &mut OrderDoc,
    ) -> Result<bool, OrderError> {
        let seq = book::store(txn, key, doc)?;
        let Some(link) = doc.meta("_link.id") else {
            return Ok(false);
        };
        // Its invoice is held here (`send_fiscal_data` off): nothing goes
        // to the other end until the ERP releases it.
        if doc.meta(FISCAL_HELD).as_deref() == Some("1") {
            return Ok(false);
        }
        let other = match end_of(doc, self.cnpj) {
            End::Origin => doc.meta("_link.destination"),
            End::Destination => doc.meta("_link.origin"),
            End::Own => None,
        };
        let Some(to) = other else {
            return Ok(false);
        };
        let owed = Owed {
            to,
            seq,
            key: key.to_string(),
        };
        book::owe(txn, &link, &owed)?;
        Ok(true)
    }

    pub fn edit(&self, key: &str, input: &Json) -> Result<(Json, bool), OrderError> {
        let txn = self.db.begin_write()?;
        let mut doc = self.load(&txn, key)?;
        let body = doc.body();
        if body.status().is_invoiced() {
            let allowed = ["status", "notes", "internal_notes", "key"];
            if let Json::Object(map) = input
                && let Some(field) = map.keys().find(|k| !allowed.contains(&k.as_str()))
            {
                return Err(OrderError::Conflict(format!(
                    "order {key} is invoiced: {field} cannot change any more (issue a return or an adjusting NF-e in the ERP)"
                )));
            }
        }
        if end_of(&doc, self.cnpj) == End::Origin
            && doc.meta(super::routing::CLOSED_AT_ORIGIN).is_some()
        {
            return Err(OrderError::Conflict(format!(
                "order {key} was handed to {}: change it there",
                doc.meta("_link.destination").unwrap_or_default()
            )));
        }
        let block = match end_of(&doc, self.cnpj) {
            End::Destination => LineBlock::Destination,
            End::Origin | End::Own => LineBlock::Origin,
        };
        let next = body.apply_json(input, WriteMode::Patch, block)?;
        let written = doc.write(&next, self.cnpj, self.now_ms);
        let mut owes = !written.is_empty() && self.store_and_owe(&txn, key, &mut doc)?;
        owes |= self.auto_send(&txn, key, &mut doc)?;
        txn.commit()?;
        Ok((self.render(key, &doc), owes))
    }

    pub fn receive(
        &self,
        from: &str,
        link: &str,
        their_key: &str,
        bytes: &[u8],
    ) -> Result<String, OrderError> {
        let txn = self.db.begin_write()?;
        let known = book::link_key(&txn.open_table(crate::store::tables::ORDER_LINKS)?, link)?;
        if let Some(key) = known {
            let mut doc = self.load(&txn, &key)?;
            let ends = [doc.meta("_link.origin"), doc.meta("_link.destination")];
            if !ends.iter().any(|e| e.as_deref() == Some(from)) {
                return Err(OrderError::Refused(format!(
                    "{from} is not an end of link {link}"
                )));
            }
            let changed = doc
                .merge_bytes(bytes)
                .map_err(|e| OrderError::Refused(format!("the order does not load: {e}")))?;
            if changed {
                book::store(&txn, &key, &mut doc)?;
            }
            txn.commit()?;
            return Ok(key);
        }
        let mut doc = OrderDoc::load(bytes, self.actor)
            .map_err(|e| OrderError::Refused(format!("the order does not load: {e}")))?;
        doc.mark_new();
        let says = |k: &str| doc.meta(k);
        if says("_link.id").as_deref() != Some(link)
            || says("_link.origin").as_deref() != Some(from)
            || says("_link.destination").as_deref() != Some(self.cnpj)
            || says("_link.origin_key").as_deref() != Some(their_key)
        {
            return Err(OrderError::Refused(format!(
                "link {link} is not an order from {from} to this company"
            )));
        }
        let key = self.next_number(&txn)?.to_string();
        let mut meta = vec![("_link.destination_key", key.clone())];
        if let Some((nature, how)) = self.nature_for(&txn, &doc.body())? {
            meta.push(("_nature.destination", nature));
            meta.push(("_nature.how", how.to_string()));
        }
        let meta: Vec<(&str, &str)> = meta.iter().map(|(k, v)| (*k, v.as_str())).collect();
        doc.set_meta(&meta, self.cnpj, self.now_ms);
        book::set_link(&txn, link, &key)?;
        book::store(&txn, &key, &mut doc)?;
        txn.commit()?;
        tracing::info!(%from, origin_key = %their_key, %key, "received an order");
        Ok(key)
    }

    /// The natureza de operação a received order takes here: the default
    /// when the settings say so; else one of the same name the ERP knows;
    /// else the default. Taxes are always this company's to recalculate.
    fn nature_for(
        &self,
        txn: &redb::WriteTransaction,
        body: &OrderBody,
    ) -> Result<Option<(String, &'static str)>, OrderError> {
        let (settings, _) = self.sending(txn)?;
        let default = settings.default_nature.clone();
        if settings.use_destination_default_nature {
            return Ok(default.map(|d| (d, "this company's default")));
        }
        let named = body.text("operation_nature").and_then(|n| {
            settings
                .natures
                .iter()
                .find(|k| k.trim().eq_ignore_ascii_case(n.trim()))
        });
        Ok(match (named, default) {
            (Some(n), _) => Some((n.clone(), "same name")),
            (None, Some(d)) => Some((d, "no natureza of that name: this company's default")),
            (None, None) => None,
        })
    }

    pub fn delivered(
        &self,
        link: &str,
        seq: u64,
        their_key: &str,
    ) -> Result<((), bool), OrderError> {
        let txn = self.db.begin_write()?;
        let known = book::link_key(&txn.open_table(crate::store::tables::ORDER_LINKS)?, link)?;
        if let Some(key) = known {
            let mut doc = self.load(&txn, &key)?;
            if end_of(&doc, self.cnpj) == End::Origin && doc.meta("_link.destination_key").is_none()
            {
                doc.set_meta(
                    &[("_link.destination_key", their_key)],
                    self.cnpj,
                    self.now_ms,
                );
                book::store(&txn, &key, &mut doc)?;
            }
        }
        book::clear_owed(&txn, link, seq)?;
        txn.commit()?;
        Ok(((), false))
    }

    pub fn invoice(&self, key: &str, input: &InvoiceInput) -> Result<(Json, bool), OrderError> {
        parse_value(FieldType::Date, &json!(input.issued_at))
            .map_err(|e| invalid("issued_at", e))?;
        let txn = self.db.begin_write()?;
        let mut doc = self.load(&txn, key)?;
        if end_of(&doc, self.cnpj) == End::Origin {
            return Err(OrderError::Refused(format!(
                "order {key} was sent to {}: that company invoices it, and its invoice comes back here",
                doc.meta("_link.destination").unwrap_or_default()
            )));
        }
        let body = doc.body();
        if body.status() == elo_crdt::order::OrderStatus::Cancelled {
            return Err(OrderError::Conflict(format!("order {key} is cancelled")));
        }
        let facts = InvoiceFacts {
            emitter_cnpj: self.cnpj,
            series: input.series,
            number: input.number,
            issued_at: &input.issued_at,
        };
        let access = AccessKey::check(&input.access_key, &facts)
            .map_err(|e| invalid("access_key", e.to_string()))?;
        let mut invoiced = super::invoices::Invoiced::of(&doc);
        if let Some(existing) = invoiced.complete_by(&body) {
            return Err(OrderError::Conflict(format!(
                "order {key} is invoiced already (NF-e {existing}): one order, one invoice"
            )));
        }
        if invoiced.has_key(access.as_str()) {
            return Err(OrderError::Conflict(format!(
                "NF-e {} is on order {key} already",
                access.as_str()
            )));
        }
        let covers = invoiced.cover(&body, &input.items)?;
        let status = invoiced.add(
            super::invoices::Invoice {
                number: input.number,
                series: input.series,
                access_key: access.as_str().to_string(),
                issued_at: input.issued_at.clone(),
                by: self.cnpj.to_string(),
                items: covers,
            },
            &body,
        );
        let (number, series) = (input.number.to_string(), input.series.to_string());
        let (all, lines) = invoiced.to_meta();
        let hold =
            end_of(&doc, self.cnpj) == End::Destination && !self.sending(&txn)?.0.send_fiscal_data;
        doc.set_meta(
            &[
                ("_invoice.number", &number),
                ("_invoice.series", &series),
                ("_invoice.access_key", access.as_str()),
                ("_invoice.issued_at", &input.issued_at),
                ("_invoice.by", self.cnpj),
                (super::invoices::ALL, &all),
                (super::invoices::LINES, &lines),
                (FISCAL_HELD, if hold { "1" } else { "0" }),
            ],
            self.cnpj,
            self.now_ms,
        );
        self.finish_with_status(txn, key, doc, &body, status)
    }

    /// Sends a received order's invoice data, held here because
    /// `send_fiscal_data` is off, to the origin.
    pub fn release_fiscal(&self, key: &str) -> Result<(Json, bool), OrderError> {
        let txn = self.db.begin_write()?;
        let mut doc = self.load(&txn, key)?;
        if doc.meta(FISCAL_HELD).as_deref() != Some("1") {
            return Err(OrderError::Conflict(format!(
                "order {key} holds no invoice data to send (it is sent when the order is invoiced, unless send_fiscal_data is off)"
            )));
        }
        doc.set_meta(&[(FISCAL_HELD, "0")], self.cnpj, self.now_ms);
        let owes = self.store_and_owe(&txn, key, &mut doc)?;
        txn.commit()?;
        Ok((self.render(key, &doc), owes))
    }

    /// Sets the order's status, stores it (owing it to the other end) and
    /// commits: the end of an invoice and of a cancellation.
    fn finish_with_status(
        &self,
        txn: redb::WriteTransaction,
        key: &str,
        mut doc: OrderDoc,
        body: &OrderBody,
        status: &str,
    ) -> Result<(Json, bool), OrderError> {
        let next = body.apply_json(
            &json!({ "status": status }),
            WriteMode::Patch,
            LineBlock::Origin,
        )?;
        doc.write(&next, self.cnpj, self.now_ms);
        let owes = self.store_and_owe(&txn, key, &mut doc)?;
        txn.commit()?;
        Ok((self.render(key, &doc), owes))
    }

    pub fn cancel(
        &self,
        key: &str,
        reason: &str,
        nfe_cancelled: bool,
    ) -> Result<(Json, bool), OrderError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 255 {
            return Err(invalid("reason", "say why, in 1 to 255 characters"));
        }
        let txn = self.db.begin_write()?;
        let mut doc = self.load(&txn, key)?;
        let body = doc.body();
        if body.status().is_invoiced() && !nfe_cancelled {
            return Err(OrderError::Conflict(format!(
                "order {key} is invoiced: cancel its NF-e first, then cancel the order with nfe_cancelled: true"
            )));
        }
        let at = self.now_ms.to_string();
        doc.set_meta(
            &[
                ("_cancel.reason", reason),
                ("_cancel.by", self.cnpj),
                ("_cancel.at_ms", &at),
                // A cancellation always reaches the other end.
                (FISCAL_HELD, "0"),
            ],
            self.cnpj,
            self.now_ms,
        );
        self.finish_with_status(txn, key, doc, &body, "cancelled")
    }

    pub fn list(&self, filter: &super::OrderFilter) -> Result<Vec<Json>, OrderError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(crate::store::tables::ORDERS)?;
        let mut out = Vec::new();
        // The keys in order once (they sort as numbers, not as stored),
        // then orders until the page is full: filters may skip many.
        for key in book::keys_after(self.db, filter.after.as_deref())? {
            let Some(doc) = book::load_from(&table, &key, self.actor)? else {
                continue;
            };
            let view = self.render(&key, &doc);
            if filter.matches(&view) {
                out.push(view);
                if out.len() == filter.limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// This company's own codes for the order's customer and products,
    /// where it has them (what its ERP calls them).
    fn own_codes(&self, order: &Json) -> Result<Json, OrderError> {
        use elo_crdt::{DocId, Kind};
        // One id per name asked, "" where the name is not a valid key (no
        // record has it), so the codes come back in the same places.
        let id = |kind: Kind, key: &str| {
            DocId::from_key(kind, key).map_or_else(|_| String::new(), |d| d.to_string())
        };
        let customer = order["customer"].as_str();
        let skus: Vec<&str> = order["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["sku"].as_str())
            .collect();
        let mut ids = vec![customer.map_or_else(String::new, |c| id(Kind::Customer, c))];
        ids.extend(skus.iter().map(|s| id(Kind::Product, s)));
        let mut codes = crate::store::local::own_codes_of(self.db, &ids)?.into_iter();
        let mut out = serde_json::Map::new();
        if let Some(code) = codes.next().flatten() {
            out.insert("customer".into(), json!(code));
        }
        let products: serde_json::Map<String, Json> = skus
            .iter()
            .zip(codes)
            .filter_map(|(sku, code)| Some(((*sku).to_string(), json!(code?))))
            .collect();
        if !products.is_empty() {
            out.insert("products".into(), Json::Object(products));
        }
        Ok(Json::Object(out))
    }

    pub fn changes(&self, since: u64, limit: usize) -> Result<Json, OrderError> {
        let entries = book::log_since(self.db, since, limit)?;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(crate::store::tables::ORDERS)?;
        let changed = txn.open_table(crate::store::tables::ORDER_CHANGED)?;
        let last = book::last_log_seq(&txn)?;
        let mut out = Vec::new();
        for (seq, key) in &entries {
            if let Some(doc) = book::load_from(&table, key, self.actor)? {
                let order = self.render(key, &doc);
                out.push(json!({
                    "seq": seq,
                    "key": key,
                    "changed": book::changed_of(&changed, key)?,
                    "link": order.get("link"),
                    "invoices_here": order["invoices_here"],
                    "own_codes": self.own_codes(&order)?,
                    "order": order,
                }));
            }
        }
        let through = entries.last().map_or(since.min(last), |(s, _)| *s);
        Ok(json!({"entries": out, "last_seq": through, "latest_seq": last}))
    }
}

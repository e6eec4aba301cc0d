//! How a command reaches the company's records: through the running node's
//! API when `elo node` is up (it holds the store), else by opening the store
//! directly. Both paths run the same checks (elo-node's `records` module).

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use elo_crdt::{DocId, Kind};
use elo_node::primary::{PrimaryHandle, PrimarySettings};
use elo_node::records::{self, BulkReport, RecordError};
use elo_node::{DataDir, StoreHandle};
use serde_json::{Value, json};

/// One way in to the records.
pub enum Access {
    Api(ApiClient),
    Local(Local),
}

pub struct Local {
    rt: tokio::runtime::Runtime,
    /// The primary task, started at the first write: new records of a
    /// numbered kind get codes from this company's blocks, as through the
    /// node (no network here, so only from blocks already held).
    codes: std::sync::OnceLock<Option<PrimaryHandle>>,
    /// Keeps the primary task's stop signal open while the store is.
    stop_codes: tokio::sync::watch::Sender<bool>,
    /// The store file, compacted on close.
    path: std::path::PathBuf,
    store: StoreHandle,
    status: Value,
}

pub struct ApiClient {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// What a sharing-policy command asks.
pub enum PolicyChange {
    Show,
    Share {
        sends: Option<String>,
        receives: Option<String>,
    },
    Authorize {
        from: String,
        categories: String,
    },
    Revoke {
        from: String,
    },
    Restrict {
        fields: Vec<String>,
    },
}

/// A page of records and where the next starts.
pub struct Page {
    pub records: Vec<Value>,
    pub next_after: Option<String>,
}

impl Access {
    /// Uses the running node if its API answers, else opens the store.
    pub fn open(data: &DataDir) -> Result<Access> {
        if let Some(info) = data.node_info() {
            let client = ApiClient::new(&info.api, data.api_token()?);
            if client.ping() {
                return Ok(Access::Api(client));
            }
        }
        let (store, company, group) = data.open()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let status = json!({ "company": company, "group": { "id": group.id, "primary": group.primary,
            "term": group.term }, "group_full": group });
        let store = {
            let _guard = rt.enter();
            StoreHandle::spawn(store)
        };
        Ok(Access::Local(Local {
            rt,
            codes: std::sync::OnceLock::new(),
            stop_codes: tokio::sync::watch::channel(false).0,
            store,
            status,
            path: data.store_path(),
        }))
    }

    /// Closes the store when it was opened directly, compacting its file
    /// (worth it after a bulk import).
    pub fn close(self) -> Result<()> {
        if let Access::Local(l) = self {
            let Local {
                rt,
                store,
                path,
                codes,
                ..
            } = l;
            if let Some(Some(codes)) = codes.into_inner() {
                rt.block_on(codes.stop());
            }
            rt.block_on(store.close())?;
            elo_node::Store::compact_file(&path)?;
        }
        Ok(())
    }

    pub fn via_node(&self) -> bool {
        matches!(self, Access::Api(_))
    }

    /// Creates or updates a record; returns it as stored.
    pub fn put(&self, kind: Kind, key: Option<&str>, body: &Value) -> Result<Value> {
        match self {
            Access::Local(l) => {
                let r =
                    l.rt.block_on(records::put_with_codes(
                        &l.store,
                        kind,
                        key,
                        body,
                        false,
                        l.codes(),
                    ))
                    .map_err(record_err)?;
                let mut out = r.record.map(|r| r.to_json()).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut out {
                    m.insert("seq".into(), json!(r.seq));
                }
                Ok(out)
            }
            Access::Api(c) => {
                let key = match key {
                    Some(k) => k.to_string(),
                    None => records_key(kind, body)?,
                };
                c.send("PUT", &c.record_url(kind, &key), Some(body))
            }
        }
    }

    pub fn get(&self, kind: Kind, key: &str) -> Result<Option<Value>> {
        match self {
            Access::Local(l) => {
                let id = DocId::from_key(kind, key)?;
                let r = l.rt.block_on(l.store.get(id))?;
                Ok(r.filter(|r| !r.deleted).map(|r| r.to_json()))
            }
            Access::Api(c) => c.get_optional(&c.record_url(kind, key)),
        }
    }

    pub fn list(&self, kind: Kind, after: Option<&str>, limit: usize) -> Result<Page> {
        match self {
            Access::Local(l) => {
                let after = after.map(|a| DocId::from_key(kind, a)).transpose()?;
                let recs = l.rt.block_on(l.store.list(kind, after, limit, false))?;
                let next_after = (recs.len() == limit)
                    .then(|| recs.last().map(|r| r.id.key().to_string()))
                    .flatten();
                Ok(Page {
                    records: recs.iter().map(|r| r.to_json()).collect(),
                    next_after,
                })
            }
            Access::Api(c) => {
                let mut url = format!("{}/v1/records/{kind}?limit={limit}", c.base);
                if let Some(a) = after {
                    url.push_str("&after=");
                    url.push_str(&encode(a));
                }
                let v = c.send("GET", &url, None)?;
                Ok(Page {
                    records: v["records"].as_array().cloned().unwrap_or_default(),
                    next_after: v["next_after"].as_str().map(str::to_string),
                })
            }
        }
    }

    pub fn delete(&self, kind: Kind, key: &str) -> Result<Value> {
        match self {
            Access::Local(l) => {
                let r =
                    l.rt.block_on(records::delete(&l.store, kind, key))
                        .map_err(record_err)?;
                Ok(json!({ "id": r.id.to_string(), "deleted": true, "seq": r.seq }))
            }
            Access::Api(c) => c.send("DELETE", &c.record_url(kind, key), None),
        }
    }

    pub fn history(&self, kind: Kind, key: &str) -> Result<Option<Value>> {
        match self {
            Access::Local(l) => {
                let id = DocId::from_key(kind, key)?;
                let h = l.rt.block_on(l.store.history(id.clone()))?;
                Ok(h.map(|h| json!({ "id": id.to_string(), "history": h })))
            }
            Access::Api(c) => c.get_optional(&format!("{}/history", c.record_url(kind, key))),
        }
    }

    /// Writes rows in one transaction; each row is checked alone.
    pub fn put_many(&self, kind: Kind, rows: &[Value]) -> Result<BulkReport> {
        match self {
            Access::Local(l) => Ok(l.rt.block_on(records::put_many_with_codes(
                &l.store,
                kind,
                rows,
                l.codes(),
            ))?),
            Access::Api(c) => {
                let url = format!("{}/v1/records/{kind}", c.base);
                let (status, v) = c.call("POST", &url, Some(&Value::Array(rows.to_vec())))?;
                if status != 200 && status != 422 {
                    bail!("{}", api_message(status, &v));
                }
                serde_json::from_value(v).context("the node's bulk answer")
            }
        }
    }

    pub fn changes(&self, since: u64, limit: usize) -> Result<Value> {
        match self {
            Access::Local(l) => {
                let entries = l.rt.block_on(l.store.changes_since(since, limit))?;
                let last = entries.last().map_or(since, |e| e.seq);
                Ok(json!({ "changes": entries, "last_seq": last }))
            }
            Access::Api(c) => c.send(
                "GET",
                &format!("{}/v1/changes?since={since}&limit={limit}", c.base),
                None,
            ),
        }
    }

    /// Makes a one-time invite.
    pub fn invite(&self, addrs: Vec<String>, ttl_hours: u64) -> Result<Value> {
        match self {
            Access::Local(l) => {
                let group: elo_node::Group =
                    serde_json::from_value(l.status["group_full"].clone())?;
                let invite = l.rt.block_on(elo_node::group::create_invite(
                    &l.store, &group, addrs, ttl_hours,
                ))?;
                Ok(
                    json!({ "invite": invite.encode(), "expires_ms": invite.expires_ms, "addrs": invite.addrs }),
                )
            }
            Access::Api(c) => c.send(
                "POST",
                &format!("{}/v1/invites", c.base),
                Some(&json!({ "addrs": addrs, "ttl_hours": ttl_hours })),
            ),
        }
    }

    /// The running node's replication state.
    pub fn sync_state(&self) -> Result<Value> {
        match self {
            Access::Local(_) => bail!("the node is not running: start it with `elo node`"),
            Access::Api(c) => c.send("GET", &format!("{}/v1/sync", c.base), None),
        }
    }

    pub fn resync(&self, peer: Option<String>) -> Result<Value> {
        match self {
            Access::Local(_) => bail!("the node is not running: start it with `elo node`"),
            Access::Api(c) => c.send(
                "POST",
                &format!("{}/v1/resync", c.base),
                Some(&json!({ "peer": peer })),
            ),
        }
    }

    /// A sharing-policy command (`elo share`, `authorize`,
    /// `revoke-authorization`, `restrict`): through the API, or straight on
    /// the store with the same code the API runs.
    pub fn policy(&self, change: PolicyChange) -> Result<Value> {
        match self {
            Access::Local(l) => {
                let me = l.status["company"]["cnpj"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let store = &l.store;
                use elo_node::group::sharing as policy;
                let p = l.rt.block_on(async {
                    match &change {
                        PolicyChange::Show => policy::show(store, &me).await,
                        PolicyChange::Share { sends, receives } => {
                            policy::share(store, &me, sends.as_deref(), receives.as_deref()).await
                        }
                        PolicyChange::Authorize { from, categories } => {
                            policy::authorize(store, &me, from, categories).await
                        }
                        PolicyChange::Revoke { from } => policy::revoke(store, &me, from).await,
                        PolicyChange::Restrict { fields } => {
                            policy::restrict(store, &me, fields).await
                        }
                    }
                })?;
                Ok(json!(p))
            }
            Access::Api(c) => {
                let (method, path, body) = match &change {
                    PolicyChange::Show => ("GET", "/v1/share".to_string(), None),
                    PolicyChange::Share { sends, receives } => (
                        "PUT",
                        "/v1/share".into(),
                        Some(json!({ "sends": sends, "receives": receives })),
                    ),
                    PolicyChange::Authorize { from, categories } => (
                        "POST",
                        "/v1/authorizations".into(),
                        Some(json!({ "from": from, "categories": categories })),
                    ),
                    PolicyChange::Revoke { from } => {
                        let from =
                            elo_crdt::ident::cnpj(from).map_err(|e| anyhow!("--from: {e}"))?;
                        ("DELETE", format!("/v1/authorizations/{from}"), None)
                    }
                    PolicyChange::Restrict { fields } => (
                        "PUT",
                        "/v1/restricted".into(),
                        Some(json!({ "fields": fields })),
                    ),
                };
                c.send(method, &format!("{}{path}", c.base), body.as_ref())
            }
        }
    }

    /// Takes a company out of the group (needs the running node: the new
    /// network key must reach the members).
    /// A customer's credit, after `change` when one is given.
    pub fn credit(
        &self,
        key: &str,
        change: Option<elo_node::credit::CreditChange>,
    ) -> Result<Value> {
        use elo_node::credit::{self, CreditChange};
        match self {
            Access::Local(l) => {
                let me = l.status["company"]["cnpj"].as_str().unwrap_or_default();
                // Offline: only the rights this company holds count.
                let context = credit::CreditContext {
                    founder: l.status["group"]["primary"].as_str().unwrap_or_default(),
                    ask_rights: None,
                };
                let view = l.rt.block_on(async {
                    match change {
                        Some(c) => credit::change(&l.store, me, key, c, &context).await,
                        None => credit::show(&l.store, key).await,
                    }
                })?;
                Ok(serde_json::to_value(view)?)
            }
            Access::Api(c) => {
                let url = format!("{}/v1/customers/{}/credit", c.base, encode(key));
                let cents = |v: i64| elo_crdt::value::format_decimal(v, 2);
                match change {
                    None => c.send("GET", &url, None),
                    Some(CreditChange::Charge(v)) => {
                        c.send("POST", &url, Some(&json!({ "charge": cents(v) })))
                    }
                    Some(CreditChange::Release(v)) => {
                        c.send("POST", &url, Some(&json!({ "release": cents(v) })))
                    }
                }
            }
        }
    }

    /// A SKU's stock at each company and the group total.
    pub fn stock(&self, sku: &str, own: bool) -> Result<Value> {
        use elo_node::stock::{self, Scope};
        let scope = if own { Scope::Own } else { Scope::All };
        match self {
            Access::Local(l) => {
                let me = l.status["company"]["cnpj"].as_str().unwrap_or_default();
                let sku = stock::normalise_sku(sku).map_err(|e| anyhow!(e))?;
                let view = l.rt.block_on(stock::view(&l.store, me, &sku, scope))?;
                Ok(serde_json::to_value(view)?)
            }
            Access::Api(c) => {
                let scope = if own { "own" } else { "all" };
                let url = format!("{}/v1/stock/{}?scope={scope}", c.base, encode(sku));
                c.send("GET", &url, None)
            }
        }
    }

    /// Stores this company's stock figures.
    pub fn set_stock(&self, rows: Vec<Value>) -> Result<Value> {
        match self {
            Access::Local(l) => {
                let me = l.status["company"]["cnpj"].as_str().unwrap_or_default();
                let rows: Vec<elo_node::stock::StockInput> =
                    serde_json::from_value(Value::Array(rows))?;
                let report =
                    l.rt.block_on(elo_node::stock::update(&l.store, me, &rows))?;
                Ok(serde_json::to_value(report)?)
            }
            Access::Api(c) => {
                let url = format!("{}/v1/stock", c.base);
                let (status, v) = c.call("POST", &url, Some(&Value::Array(rows)))?;
                if status != 200 && status != 422 {
                    bail!("{}", api_message(status, &v));
                }
                Ok(v)
            }
        }
    }

    /// Copies the whole store to `file` (absolute), through the node when
    /// it runs.
    pub fn backup(&self, file: &std::path::Path) -> Result<Value> {
        match self {
            Access::Local(l) => {
                let bytes = l.rt.block_on(l.store.backup(file.to_path_buf()))?;
                Ok(json!({ "file": file.display().to_string(), "bytes": bytes }))
            }
            Access::Api(c) => c.send(
                "POST",
                &format!("{}/v1/backup", c.base),
                Some(&json!({ "file": file.display().to_string() })),
            ),
        }
    }

    /// Switches escrow mode for the group (at the founding company).
    pub fn credit_escrow(&self, on: bool) -> Result<Value> {
        match self {
            Access::Local(l) => {
                let me = l.status["company"]["cnpj"].as_str().unwrap_or_default();
                let founder = l.status["group"]["primary"].as_str().unwrap_or_default();
                let r =
                    l.rt.block_on(elo_node::credit::set_escrow(&l.store, me, founder, on))?;
                Ok(json!({ "escrow": on, "customers": r.customers, "members": r.members }))
            }
            Access::Api(c) => c.send(
                "PUT",
                &format!("{}/v1/credit/escrow", c.base),
                Some(&json!({ "on": on })),
            ),
        }
    }

    /// Sends a request that only the running node can answer (it holds
    /// the network and the primary task); `why` says what needs it.
    pub fn node_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        why: &str,
    ) -> Result<Value> {
        match self {
            Access::Local(_) => bail!("the node is not running: start it with `elo node`, {why}"),
            Access::Api(c) => c.send(method, &format!("{}{path}", c.base), body),
        }
    }

    pub fn remove_company(&self, cnpj: &str) -> Result<Value> {
        match self {
            Access::Local(_) => bail!(
                "the node is not running: start it with `elo node`, so the removal and the new network key reach the members"
            ),
            Access::Api(c) => {
                // A formatted CNPJ has a '/', which would split the path.
                let cnpj = elo_crdt::ident::cnpj(cnpj).map_err(|e| anyhow!("CNPJ: {e}"))?;
                c.send("DELETE", &format!("{}/v1/members/{cnpj}", c.base), None)
            }
        }
    }

    pub fn status(&self) -> Result<Value> {
        match self {
            Access::Local(l) => {
                let mut s = l.status.clone();
                if let Value::Object(m) = &mut s {
                    m.remove("group_full");
                }
                let members = l.rt.block_on(elo_node::group::roster(&l.store))?;
                s["members"] = json!(
                    members
                        .iter()
                        .filter(|m| m.cnpj != s["company"]["cnpj"])
                        .map(|m| json!({
                    "company": m.cnpj, "name": m.name, "peer_id": m.peer_id.map(|p| p.to_string()),
                    "connected": false, "address": m.addresses.first().map(|a| a.to_string()) }))
                        .collect::<Vec<_>>()
                );
                s["pending_authorizations"] = json!(elo_node::group::pending_authorizations(
                    &members,
                    s["company"]["cnpj"].as_str().unwrap_or_default()
                ));
                s["last_seq"] = json!(l.rt.block_on(l.store.last_seq())?);
                s["records"] = json!(l.rt.block_on(l.store.record_count())?);
                s["documents"] = json!(l.rt.block_on(l.store.doc_count())?);
                s["node_running"] = json!(false);
                Ok(s)
            }
            Access::Api(c) => {
                let mut s = c.send("GET", &format!("{}/v1/status", c.base), None)?;
                s["node_running"] = json!(true);
                s["api"] = json!(c.base);
                Ok(s)
            }
        }
    }
}

impl Local {
    /// The primary task, started on first use; `None` (codes left out, with
    /// a warning) when its state cannot be read.
    fn codes(&self) -> Option<&PrimaryHandle> {
        self.codes
            .get_or_init(|| {
                let me = self.status["company"]["cnpj"].as_str()?.to_owned();
                let designated = self.status["group"]["primary"].as_str()?.to_owned();
                let started = self.rt.block_on(async {
                    let roster = elo_node::group::roster(&self.store).await?;
                    PrimaryHandle::start(
                        self.store.clone(),
                        me,
                        &designated,
                        roster.into_iter().map(|m| m.cnpj).collect(),
                        PrimarySettings {
                            offline: true,
                            ..PrimarySettings::default()
                        },
                        self.stop_codes.subscribe(),
                    )
                    .await
                    .map_err(anyhow::Error::from)
                });
                match started {
                    Ok((handle, _no_network)) => Some(handle),
                    Err(e) => {
                        tracing::warn!("new records get no codes: {e:#}");
                        None
                    }
                }
            })
            .as_ref()
    }
}

fn record_err(e: RecordError) -> anyhow::Error {
    anyhow!(e)
}

/// The key a body names, so a put through the API has a URL.
fn records_key(kind: Kind, body: &Value) -> Result<String> {
    let patch = elo_crdt::RecordPatch::from_json(kind, body)?;
    Ok(patch.doc_id(kind)?.key().to_string())
}

impl ApiClient {
    pub fn new(addr: &str, token: String) -> ApiClient {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .proxy(None)
            .build();
        ApiClient {
            base: format!("http://{addr}"),
            token,
            agent: config.into(),
        }
    }

    fn ping(&self) -> bool {
        matches!(
            self.call("GET", &format!("{}/v1/status", self.base), None),
            Ok((200, _))
        )
    }

    fn record_url(&self, kind: Kind, key: &str) -> String {
        format!("{}/v1/records/{kind}/{}", self.base, encode(key))
    }

    fn call(&self, method: &str, url: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let auth = format!("Bearer {}", self.token);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(url).header("Authorization", &auth).call(),
            ("DELETE", _) => self.agent.delete(url).header("Authorization", &auth).call(),
            ("PUT", Some(b)) => self
                .agent
                .put(url)
                .header("Authorization", &auth)
                .send_json(b),
            ("POST", Some(b)) => self
                .agent
                .post(url)
                .header("Authorization", &auth)
                .send_json(b),
            ("POST", None) => self
                .agent
                .post(url)
                .header("Authorization", &auth)
                .send_empty(),
            _ => bail!("internal: unsupported request {method}"),
        };
        let mut resp = resp.with_context(|| format!("talking to the node at {}", self.base))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .context("reading the node's answer")?;
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).context("the node's answer is not JSON")?
        };
        Ok((status, v))
    }

    fn send(&self, method: &str, url: &str, body: Option<&Value>) -> Result<Value> {
        let (status, v) = self.call(method, url, body)?;
        if (200..300).contains(&status) {
            Ok(v)
        } else {
            bail!("{}", api_message(status, &v))
        }
    }

    fn get_optional(&self, url: &str) -> Result<Option<Value>> {
        let (status, v) = self.call("GET", url, None)?;
        match status {
            200 => Ok(Some(v)),
            404 if v["error"] == "not_found" => Ok(None),
            _ => bail!("{}", api_message(status, &v)),
        }
    }
}

fn api_message(status: u16, v: &Value) -> String {
    v["message"]
        .as_str()
        .map_or_else(|| format!("the node answered {status}"), str::to_string)
}

/// Percent-encodes a path segment (a SKU may hold spaces or '#').
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

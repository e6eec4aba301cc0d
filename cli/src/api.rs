//! The node's API as the commands call it: one function per operation, each
//! one request through [`Client`] (to the running node, or to its router in
//! this process). No operation is written twice.

use anyhow::{Context, Result, anyhow};
use elo_crdt::Kind;
use elo_node::credit::CreditChange;
use elo_node::records::BulkReport;
use serde_json::{Value, json};

use crate::client::Client;

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

fn record_path(kind: Kind, key: &str) -> String {
    format!("/v1/records/{kind}/{}", encode(key))
}

/// Creates or updates a record; returns it as stored.
pub fn put(client: &Client, kind: Kind, key: Option<&str>, body: &Value) -> Result<Value> {
    let key = match key {
        Some(k) => k.to_string(),
        None => records_key(kind, body)?,
    };
    client.send("PUT", &record_path(kind, &key), Some(body))
}

/// The key a body names, so a put has a URL. Only the key field is read
/// here: the API checks the whole record and names every bad field.
fn records_key(kind: Kind, body: &Value) -> Result<String> {
    let fields: &[&str] = if kind.is_contact() {
        &["cpf", "cnpj"]
    } else {
        &[elo_crdt::key::key_field(kind)]
    };
    let Some(value) = fields
        .iter()
        .find_map(|f| body.get(*f).filter(|v| !v.is_null()))
    else {
        anyhow::bail!(
            "the record names no key: give {} in the JSON, or --key",
            fields.join(" or ")
        );
    };
    Ok(match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// The key that names a record: `key` as typed, or, when it is a group
/// code (a number that names no record as a CPF, CNPJ or SKU), the key
/// of the record holding that code. Codes are not indexed: the records
/// of the kind are read page by page.
pub fn record_key(client: &Client, kind: Kind, key: &str) -> Result<String> {
    let Some(code) = key
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|_| kind.code_table().is_some())
    else {
        return Ok(key.to_string());
    };
    if elo_crdt::DocId::from_key(kind, key).is_ok() && get(client, kind, key)?.is_some() {
        return Ok(key.to_string());
    }
    let mut after: Option<String> = None;
    loop {
        let page = list(client, kind, after.as_deref(), 1000)?;
        let held = page
            .records
            .iter()
            .find(|r| r["code"].as_i64() == Some(code));
        if let Some(id) = held
            .and_then(|r| r["id"].as_str())
            .and_then(elo_crdt::DocId::parse)
        {
            return Ok(id.key().to_string());
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => {
                return Err(crate::client::ApiFailure::not_found(format!(
                    "no {kind} with key or group code {code}"
                )));
            }
        }
    }
}

pub fn get(client: &Client, kind: Kind, key: &str) -> Result<Option<Value>> {
    client.get_optional(&record_path(kind, key))
}

pub fn list(client: &Client, kind: Kind, after: Option<&str>, limit: usize) -> Result<Page> {
    let mut path = format!("/v1/records/{kind}?limit={limit}");
    if let Some(a) = after {
        path.push_str("&after=");
        path.push_str(&encode(a));
    }
    let v = client.send("GET", &path, None)?;
    Ok(Page {
        records: v["records"].as_array().cloned().unwrap_or_default(),
        next_after: v["next_after"].as_str().map(str::to_string),
    })
}

pub fn delete(client: &Client, kind: Kind, key: &str) -> Result<Value> {
    client.send("DELETE", &record_path(kind, key), None)
}

pub fn history(client: &Client, kind: Kind, key: &str) -> Result<Option<Value>> {
    client.get_optional(&format!("{}/history", record_path(kind, key)))
}

/// Writes rows in one transaction; each row is checked alone.
pub fn put_many(client: &Client, kind: Kind, rows: Vec<Value>) -> Result<BulkReport> {
    put_batch(client, kind, rows, None)
}

/// How far an import is, sent with each of its batches (`X-Elo-Import`) so
/// the node can show it: the import's id, and the bytes of its file read
/// through this batch out of the file's size.
pub struct ImportProgress<'a> {
    pub id: &'a str,
    pub done: u64,
    pub total: u64,
}

/// [`put_many`], naming the import the batch belongs to.
pub fn put_batch(
    client: &Client,
    kind: Kind,
    rows: Vec<Value>,
    import: Option<ImportProgress<'_>>,
) -> Result<BulkReport> {
    let header = import.map(|p| format!("{}; done={}; total={}", p.id, p.done, p.total));
    let extra: Vec<(&str, &str)> = header
        .as_deref()
        .map(|h| ("X-Elo-Import", h))
        .into_iter()
        .collect();
    let v = client.send_bulk(&format!("/v1/records/{kind}"), &Value::Array(rows), &extra)?;
    serde_json::from_value(v).context("the node's bulk answer")
}

pub fn changes(client: &Client, since: u64, limit: usize) -> Result<Value> {
    client.send(
        "GET",
        &format!("/v1/changes?since={since}&limit={limit}"),
        None,
    )
}

/// Makes a one-time invite.
pub fn invite(client: &Client, addrs: Vec<String>, ttl_hours: u64) -> Result<Value> {
    let body = json!({ "addrs": addrs, "ttl_hours": ttl_hours });
    client.send("POST", "/v1/invites", Some(&body))
}

/// The running node's replication state.
pub fn sync_state(client: &Client) -> Result<Value> {
    client.needs_node(Some(
        "which replicates with the members (without it there is nothing to wait for)",
    ))?;
    client.send("GET", "/v1/sync", None)
}

pub fn resync(client: &Client, peer: Option<String>) -> Result<Value> {
    client.needs_node(None)?;
    client.send("POST", "/v1/resync", Some(&json!({ "peer": peer })))
}

/// A sharing-policy command (`elo share`, `authorize`,
/// `revoke-authorization`, `restrict`).
pub fn policy(client: &Client, change: PolicyChange) -> Result<Value> {
    let (method, path, body) = match change {
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
            // A formatted CNPJ has a '/', which would split the path.
            let from = elo_crdt::ident::cnpj(&from).map_err(|e| anyhow!("--from: {e}"))?;
            ("DELETE", format!("/v1/authorizations/{from}"), None)
        }
        PolicyChange::Restrict { fields } => (
            "PUT",
            "/v1/restricted".into(),
            Some(json!({ "fields": fields })),
        ),
    };
    client.send(method, &path, body.as_ref())
}

/// A customer's credit, after `change` when one is given.
pub fn credit(client: &Client, key: &str, change: Option<CreditChange>) -> Result<Value> {
    let path = format!("/v1/customers/{}/credit", encode(key));
    let cents = |v: i64| elo_crdt::value::format_decimal(v, 2);
    let body = match change {
        None => return client.send("GET", &path, None),
        Some(CreditChange::Charge(v)) => json!({ "charge": cents(v) }),
        Some(CreditChange::Release(v)) => json!({ "release": cents(v) }),
    };
    client.send("POST", &path, Some(&body))
}

/// Switches escrow mode for the group (at the founding company).
pub fn credit_escrow(client: &Client, on: bool) -> Result<Value> {
    client.send("PUT", "/v1/credit/escrow", Some(&json!({ "on": on })))
}

/// A SKU's stock at each company and the group total.
pub fn stock(client: &Client, sku: &str, own: bool) -> Result<Value> {
    let scope = if own { "own" } else { "all" };
    client.send(
        "GET",
        &format!("/v1/stock/{}?scope={scope}", encode(sku)),
        None,
    )
}

/// Stores this company's stock figures.
pub fn set_stock(client: &Client, rows: Vec<Value>) -> Result<Value> {
    client.send_bulk("/v1/stock", &Value::Array(rows), &[])
}

/// Copies the whole store to `file`. The node writes backups only into its
/// data directory's `backups/` folder; this command, run by the operator on
/// the node's machine, then moves the copy where asked, never replacing a
/// file (and the copy stays readable by this user only).
pub fn backup(client: &Client, file: &std::path::Path) -> Result<Value> {
    if file.exists() {
        anyhow::bail!(
            "{} exists already: a backup never replaces a file",
            file.display()
        );
    }
    let name = format!(
        "cli-{}-{}.redb",
        std::process::id(),
        elo_node::clock::now_ms()
    );
    let mut made = client.send("POST", "/v1/backup", Some(&json!({ "name": name })))?;
    let written = std::path::PathBuf::from(made["file"].as_str().unwrap_or_default());
    move_new(&written, file)?;
    made["file"] = json!(file.display().to_string());
    Ok(made)
}

/// Moves `from` to `to`, which must not exist: a hard link (which fails on
/// an existing file, where a rename would replace it), or a copy across
/// file systems.
fn move_new(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    use anyhow::Context;
    match std::fs::hard_link(from, to) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!(
                "{} exists already: a backup never replaces a file",
                to.display()
            )
        }
        Err(_) => {
            let copied = elo_node::store::backup::copy_file(from, to);
            if copied.is_err() {
                // The node's copy was only on its way to `to`: not left
                // behind in the backups folder.
                let _ = std::fs::remove_file(from);
            }
            copied.context("the backup was not made")?;
        }
    }
    std::fs::remove_file(from).with_context(|| format!("removing {}", from.display()))
}

/// Takes a company out of the group (needs the running node: the new
/// network key must reach the members).
pub fn remove_company(client: &Client, cnpj: &str) -> Result<Value> {
    client.needs_node(Some(
        "so the removal and the new network key reach the members",
    ))?;
    // A formatted CNPJ has a '/', which would split the path.
    let cnpj = elo_crdt::ident::cnpj(cnpj).map_err(|e| anyhow!("CNPJ: {e}"))?;
    client.send("DELETE", &format!("/v1/members/{cnpj}"), None)
}

/// Sends a request that only the running node can answer (it holds the
/// network and the election state); `why` says what needs it.
pub fn node_request(
    client: &Client,
    method: &str,
    path: &str,
    body: Option<&Value>,
    why: &str,
) -> Result<Value> {
    client.needs_node(Some(why))?;
    client.send(method, path, body)
}

/// This company, its group and its store; with the node's address when it
/// runs, else with the roster's members (none of them connected).
pub fn status(client: &Client) -> Result<Value> {
    let mut s = client.send("GET", "/v1/status", None)?;
    match client.node_address() {
        Some(base) => {
            s["node_running"] = json!(true);
            s["api"] = json!(base);
        }
        None => {
            let me = s["company"]["cnpj"].as_str().unwrap_or_default().to_owned();
            s["members"] = json!(client.offline_members(&me)?);
            s["node_running"] = json!(false);
        }
    }
    Ok(s)
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

// ---- Sales orders ----

pub fn create_order(client: &Client, order: &Value) -> Result<Value> {
    client.send("POST", "/v1/orders", Some(order))
}

pub fn order(client: &Client, key: &str) -> Result<Option<Value>> {
    client.get_optional(&format!("/v1/orders/{}", encode(key)))
}

pub fn orders(
    client: &Client,
    status: Option<&str>,
    direction: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Value> {
    let mut query = format!("limit={limit}");
    for (name, value) in [
        ("status", status),
        ("direction", direction),
        ("after", after),
    ] {
        if let Some(v) = value {
            query.push_str(&format!("&{name}={}", encode(v)));
        }
    }
    client.send("GET", &format!("/v1/orders?{query}"), None)
}

pub fn edit_order(client: &Client, key: &str, change: &Value) -> Result<Value> {
    client.send(
        "PATCH",
        &format!("/v1/orders/{}", encode(key)),
        Some(change),
    )
}

pub fn order_settings(client: &Client) -> Result<Value> {
    client.send("GET", "/v1/order-settings", None)
}

pub fn set_order_settings(client: &Client, settings: &Value) -> Result<Value> {
    client.send("PUT", "/v1/order-settings", Some(settings))
}

pub fn order_rules(client: &Client) -> Result<Value> {
    client.send("GET", "/v1/order-rules", None)
}

/// `tail` is empty (add), `/{id}` (replace, delete) or `/{id}/clone`.
pub fn change_order_rule(
    client: &Client,
    method: &str,
    tail: &str,
    body: Option<&Value>,
) -> Result<Value> {
    client.send(method, &format!("/v1/order-rules{tail}"), body)
}

/// `action` is `send`, `invoice`, `cancel` or `split`.
pub fn order_action(client: &Client, key: &str, action: &str, body: &Value) -> Result<Value> {
    client.send(
        "POST",
        &format!("/v1/orders/{}/{action}", encode(key)),
        Some(body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh data directory in the system's temporary folder, removed on
    /// drop.
    struct TempData(std::path::PathBuf);

    impl Drop for TempData {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn temp_data(name: &str) -> (TempData, elo_node::DataDir) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("elo-cli-{name}-{}-{nanos}", std::process::id()));
        let data = elo_node::DataDir::new(&dir);
        data.init("11.222.333/0001-81", "Matriz").unwrap();
        (TempData(dir), data)
    }

    #[test]
    fn offline_the_router_in_process_answers_as_the_api() {
        let (_dir, data) = temp_data("offline");
        let client = Client::open(&data).unwrap();
        assert!(client.node_address().is_none(), "no node runs here");

        let ana = json!({ "cpf": "529.982.247-25", "name": "Ana Souza" });
        let put = put(&client, Kind::Customer, None, &ana).unwrap();
        assert_eq!(put["id"], "customer/cpf:52998224725");
        assert!(put["seq"].as_u64().is_some_and(|s| s > 0));
        let mut got = get(&client, Kind::Customer, "529.982.247-25")
            .unwrap()
            .unwrap();
        assert_eq!(got["name"], "Ana Souza");
        // The write's answer is the record as stored, with its sequence.
        let mut stored = put.clone();
        if let (Value::Object(a), Value::Object(b)) = (&mut stored, &mut got) {
            a.remove("seq");
            b.remove("seq");
        }
        assert_eq!(stored, got);
        let page = list(&client, Kind::Customer, None, 10).unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.next_after, None);

        // The API's answers for what is missing or invalid.
        assert!(
            get(&client, Kind::Customer, "111.444.777-35")
                .unwrap()
                .is_none()
        );
        let bad = client
            .call(
                "PUT",
                "/v1/records/customer/123",
                Some(&json!({ "name": "X" })),
            )
            .unwrap();
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert_eq!(bad.body["error"], "invalid");
        let unknown = client.call("GET", "/v1/records/planet", None).unwrap();
        assert_eq!(unknown.status, 404);
        assert_eq!(unknown.body["error"], "unknown_kind");

        // What only the running node can do is refused, with the reason.
        let err = sync_state(&client).unwrap_err().to_string();
        assert!(
            err.starts_with("the node is not running: start it with `elo node`"),
            "{err}"
        );
        let status = status(&client).unwrap();
        assert_eq!(status["node_running"], false);
        assert_eq!(status["records"], 2, "the company and Ana");
        client.close().unwrap();

        // Closed and compacted: opened again, the record is there.
        let again = Client::open(&data).unwrap();
        assert!(
            get(&again, Kind::Customer, "52998224725")
                .unwrap()
                .is_some()
        );
    }

    /// A command that finds the store held (by a node starting, or another
    /// command) waits for it rather than failing at once.
    #[test]
    fn a_store_held_a_moment_is_waited_for() {
        let (_dir, data) = temp_data("held");
        let holder = Client::open(&data).unwrap();
        let (opened, started) = std::sync::mpsc::channel();
        let waiting = {
            let data = data.clone();
            std::thread::spawn(move || {
                let _ = started.recv();
                Client::open(&data).map(Client::close)
            })
        };
        opened.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        holder.close().unwrap();
        let waited = waiting.join().unwrap();
        assert!(waited.is_ok(), "{:?}", waited.err());
    }

    #[test]
    fn a_bulk_write_reports_refused_rows_and_stores_the_others() {
        let (_dir, data) = temp_data("bulk");
        let client = Client::open(&data).unwrap();
        let rows = vec![
            json!({ "cpf": "529.982.247-25", "name": "Ana" }),
            json!({ "cpf": "000.000.000-01", "name": "Nobody" }),
        ];
        let report = put_many(&client, Kind::Customer, rows).unwrap();
        assert_eq!(report.stored, 1);
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].index, 1);
        client.close().unwrap();
    }
}

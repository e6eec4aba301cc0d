//! The one path from a command to the company's records: an HTTP request to
//! the node's API. When `elo node` runs (it holds the store), the request
//! goes over TCP to its loopback address. When it does not, the CLI opens
//! the store and serves the node's own router in this process, so the
//! request meets the same handlers, checks and error messages either way.
//!
//! What this module owns around the in-process router is what the node
//! does around its own: the store writer, the primary task (new records get
//! codes from the blocks this company holds) and, on close after a write,
//! compaction of the store file when that gives disk space back. It never
//! reads or writes records itself.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::body::Body;
use axum::http::{Request, header};
use elo_node::api::{ApiState, router};
use elo_node::primary::{PrimaryHandle, PrimarySettings};
use elo_node::{DataDir, StoreHandle};
use serde_json::Value;
use tower::ServiceExt;

/// How long a command waits for a node that holds the store but does not
/// answer yet (it is starting: opening the store, checking documents).
const NODE_START_WAIT: Duration = Duration::from_secs(10);

/// Whether opening the store failed because another process holds it.
fn store_in_use(e: &anyhow::Error) -> bool {
    use elo_node::{DataDirError, StoreError};
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<StoreError>(),
            Some(StoreError::InUse { .. })
        ) || matches!(
            c.downcast_ref::<DataDirError>(),
            Some(DataDirError::Store(StoreError::InUse { .. }))
        )
    })
}

/// Largest answer read from the node (an export page, a status).
const MAX_ANSWER: usize = 256 * 1024 * 1024;

/// A way to the node's API.
pub struct Client {
    token: String,
    reach: Reach,
}

enum Reach {
    /// `elo node` runs and answers on its loopback address.
    Running { base: String, agent: ureq::Agent },
    /// The node's router, served in this process over the opened store.
    InProcess(Box<InProcess>),
}

/// The node's API in this process, over the store this process opened.
struct InProcess {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    store: StoreHandle,
    primary: PrimaryHandle,
    /// Keeps the router's stop signal open (the primary task ends when it
    /// closes) while the store is open.
    _stopping: tokio::sync::watch::Sender<bool>,
    /// The store file, compacted on close when worth it.
    path: PathBuf,
    /// Whether a request could have written (anything but a GET): a store
    /// only read is closed as it is.
    wrote: AtomicBool,
}

/// An answer of the API: its status code and its JSON body (null if empty).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// An answer outside 2xx, as an error: the API's code (`not_found`,
/// `invalid`, …), message and the fields it names, for `--json` errors.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub error: String,
    pub message: String,
    pub fields: Value,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiFailure {}

impl ApiFailure {
    /// "Not found" as the API says it, for what a command looked for and
    /// did not find (a `--json` script sees `not_found` either way).
    pub fn not_found(message: String) -> anyhow::Error {
        ApiFailure {
            status: 404,
            error: "not_found".into(),
            message,
            fields: Value::Array(Vec::new()),
        }
        .into()
    }
}

impl Client {
    /// Uses the running node if its API answers, else opens the store and
    /// serves the node's router in this process.
    ///
    /// A node that is starting holds the store before its API answers:
    /// this waits for it a while (up to [`NODE_START_WAIT`]) rather than
    /// failing at once, and then says that the node is starting.
    pub fn open(data: &DataDir) -> Result<Client> {
        let deadline = std::time::Instant::now() + NODE_START_WAIT;
        loop {
            if let Some(info) = data.node_info() {
                let client = Client::connect(&info.api, data.api_token()?);
                if client.ping() {
                    return Ok(client);
                }
            }
            let token = in_process_token();
            match InProcess::open(data, token.clone()) {
                Ok(serving) => {
                    return Ok(Client {
                        token,
                        reach: Reach::InProcess(Box::new(serving)),
                    });
                }
                Err(e) if store_in_use(&e) => {
                    if std::time::Instant::now() >= deadline {
                        bail!(
                            "the data store {} is in use by another elo process: the node is starting (its API does not answer yet) or another command is running; try again in a moment (and see the node's log if it goes on)",
                            data.store_path().display()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A client of the node answering at `addr` (`host:port`).
    pub fn connect(addr: &str, token: String) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .proxy(None)
            .build();
        Client {
            token,
            reach: Reach::Running {
                base: format!("http://{addr}"),
                agent: config.into(),
            },
        }
    }

    /// Closes the store when this process opened it, compacting its file
    /// when that gives disk space back (after many records were rewritten
    /// or deleted; not after loading a new store, measured as gaining no
    /// disk space).
    pub fn close(self) -> Result<()> {
        match self.reach {
            Reach::InProcess(serving) => serving.close(),
            Reach::Running { .. } => Ok(()),
        }
    }

    /// The running node's API address, when the requests go there.
    pub fn node_address(&self) -> Option<&str> {
        match &self.reach {
            Reach::Running { base, .. } => Some(base),
            Reach::InProcess(_) => None,
        }
    }

    /// Refuses what only the running node can do (it holds the network
    /// and the replication state); `why`, when given, says what needs it.
    pub fn needs_node(&self, why: Option<&str>) -> Result<()> {
        match (&self.reach, why) {
            (Reach::Running { .. }, _) => Ok(()),
            (Reach::InProcess(_), None) => {
                bail!("the node is not running: start it with `elo node`")
            }
            (Reach::InProcess(_), Some(why)) => {
                bail!("the node is not running: start it with `elo node`, {why}")
            }
        }
    }

    /// Sends a request (`path` from `/v1/...` on, query included) and
    /// returns the answer, whatever its status.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Answer> {
        self.call_with(method, path, body, &[])
    }

    /// A request with extra headers (`elo import` names its batches).
    fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Result<Answer> {
        let auth = format!("Bearer {}", self.token);
        let request = Outgoing {
            method,
            path,
            body,
            auth: &auth,
            extra,
        };
        match &self.reach {
            Reach::Running { base, agent } => over_tcp(agent, base, &request),
            Reach::InProcess(serving) => serving.call(&request),
        }
    }

    /// Sends a request; a status outside 2xx is an error with the API's
    /// message.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let a = self.call(method, path, body)?;
        if (200..300).contains(&a.status) {
            Ok(a.body)
        } else {
            Err(a.failure().into())
        }
    }

    /// A GET whose "not found" is an answer, not an error.
    pub fn get_optional(&self, path: &str) -> Result<Option<Value>> {
        let a = self.call("GET", path, None)?;
        match a.status {
            200 => Ok(Some(a.body)),
            404 if a.body["error"] == "not_found" => Ok(None),
            _ => Err(a.failure().into()),
        }
    }

    /// Sends a bulk write: 200 (all stored) and 422 (some rows refused,
    /// listed in the body) are both answers.
    pub fn send_bulk(&self, path: &str, rows: &Value, extra: &[(&str, &str)]) -> Result<Value> {
        let a = self.call_with("POST", path, Some(rows), extra)?;
        if a.status != 200 && a.status != 422 {
            return Err(a.failure().into());
        }
        Ok(a.body)
    }

    /// The roster's other members, none connected: what `elo status` lists
    /// when the node does not run (the router has no mesh to ask). Empty
    /// through the running node, whose status lists them itself.
    pub fn offline_members(&self, me: &str) -> Result<Vec<Value>> {
        let Reach::InProcess(serving) = &self.reach else {
            return Ok(Vec::new());
        };
        let roster = serving
            .rt
            .block_on(elo_node::group::roster(&serving.store))?;
        Ok(roster
            .iter()
            .filter(|m| m.cnpj != me)
            .map(|m| {
                serde_json::json!({ "company": m.cnpj, "name": m.name,
                    "peer_id": m.peer_id.map(|p| p.to_string()), "connected": false,
                    "address": m.addresses.first().map(|a| a.to_string()) })
            })
            .collect())
    }

    fn ping(&self) -> bool {
        matches!(
            self.call("GET", "/v1/status", None),
            Ok(Answer { status: 200, .. })
        )
    }
}

impl Answer {
    /// What the API said went wrong.
    pub fn message(&self) -> String {
        self.body["message"].as_str().map_or_else(
            || format!("the node answered {}", self.status),
            str::to_string,
        )
    }

    /// This answer as an error.
    pub fn failure(&self) -> ApiFailure {
        ApiFailure {
            status: self.status,
            error: self.body["error"]
                .as_str()
                .map_or_else(|| format!("http_{}", self.status), str::to_string),
            message: self.message(),
            fields: self
                .body
                .get("fields")
                .cloned()
                .unwrap_or_else(|| Value::Array(Vec::new())),
        }
    }

    fn parse(status: u16, text: &[u8]) -> Result<Answer> {
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(text).context("the node's answer is not JSON")?
        };
        Ok(Answer { status, body })
    }
}

/// A token for the in-process router: the request never leaves this
/// process, so it only has to be non-empty and unguessable by nothing else.
fn in_process_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("in-process-{:016x}", h.finish())
}

/// One request to the node's API, however it is reached.
struct Outgoing<'a> {
    method: &'a str,
    path: &'a str,
    body: Option<&'a Value>,
    auth: &'a str,
    extra: &'a [(&'a str, &'a str)],
}

fn over_tcp(agent: &ureq::Agent, base: &str, r: &Outgoing<'_>) -> Result<Answer> {
    let url = format!("{base}{}", r.path);
    let auth = r.auth;
    let with_body = |mut req: ureq::RequestBuilder<ureq::typestate::WithBody>| {
        req = req.header("Authorization", auth);
        for (name, value) in r.extra {
            req = req.header(*name, *value);
        }
        req
    };
    let resp = match (r.method, r.body) {
        ("GET", _) => agent.get(&url).header("Authorization", auth).call(),
        ("DELETE", _) => agent.delete(&url).header("Authorization", auth).call(),
        ("PUT", Some(b)) => with_body(agent.put(&url)).send_json(b),
        ("POST", Some(b)) => with_body(agent.post(&url)).send_json(b),
        ("POST", None) => with_body(agent.post(&url)).send_empty(),
        _ => bail!("internal: unsupported request {}", r.method),
    };
    let mut resp = resp.with_context(|| format!("talking to the node at {base}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER as u64)
        .read_to_vec()
        .context("reading the node's answer")?;
    Answer::parse(status, &text)
}

impl InProcess {
    /// Opens the store and starts what the node starts around its API,
    /// but no network: the primary task works from the blocks already held.
    fn open(data: &DataDir, token: String) -> Result<InProcess> {
        let (store, company, group) = data.open()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let store = {
            let _guard = rt.enter();
            StoreHandle::spawn(store)
        };
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let primary = rt.block_on(async {
            let roster = elo_node::group::roster(&store).await?;
            let (handle, _no_network) = PrimaryHandle::start(
                store.clone(),
                company.cnpj.clone(),
                &group.primary,
                roster.into_iter().map(|m| m.cnpj).collect(),
                PrimarySettings {
                    offline: true,
                    ..PrimarySettings::default()
                },
                stopping.clone(),
            )
            .await?;
            anyhow::Ok(handle)
        })?;
        let orders = elo_node::orders::Orders::of(&store, &company, primary.clone());
        let app = router(ApiState {
            orders,
            store: store.clone(),
            token,
            company,
            group,
            stopping,
            mesh: None,
            primary: primary.clone(),
        });
        Ok(InProcess {
            rt,
            app,
            store,
            primary,
            _stopping: stop,
            path: data.store_path(),
            wrote: AtomicBool::new(false),
        })
    }

    /// The same request the node would get over TCP, through its router.
    fn call(&self, r: &Outgoing<'_>) -> Result<Answer> {
        if r.method != "GET" {
            self.wrote.store(true, Ordering::Relaxed);
        }
        let mut request = Request::builder()
            .method(r.method)
            .uri(r.path)
            .header(header::AUTHORIZATION, r.auth);
        for (name, value) in r.extra {
            request = request.header(*name, *value);
        }
        let body = match r.body {
            Some(v) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(v)?)
            }
            None => Body::empty(),
        };
        let request = request.body(body).context("internal: building a request")?;
        self.rt.block_on(async {
            let answer = match self.app.clone().oneshot(request).await {
                Ok(a) => a,
                Err(never) => match never {},
            };
            let status = answer.status().as_u16();
            let text = axum::body::to_bytes(answer.into_body(), MAX_ANSWER)
                .await
                .context("reading the node's answer")?;
            Answer::parse(status, &text)
        })
    }

    /// Stops the primary task, lets the writer finish and close the file,
    /// then, if this process wrote, compacts it when that gives disk space
    /// back.
    fn close(self) -> Result<()> {
        let InProcess {
            rt,
            app,
            store,
            primary,
            path,
            wrote,
            ..
        } = self;
        drop(app);
        rt.block_on(primary.stop());
        rt.block_on(store.close())?;
        if wrote.into_inner() {
            elo_node::Store::compact_file_if_wasteful(&path)?;
        }
        Ok(())
    }
}

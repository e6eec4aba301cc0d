//! Helpers for elo's end-to-end tests and benchmarks: run real `elo`
//! processes against real data directories on loopback, and make valid
//! Brazilian test data (CPFs, CNPJs, ~1 KB customers).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod bench_mesh20;
pub mod browser;
pub mod delay_proxy;
pub mod netns;
pub mod peer_records;
pub mod slow_link;
pub mod slow_link_workloads;

/// One run's figures of a benchmark: name, value, unit, in the order
/// measured.
pub type Figures = Vec<(&'static str, f64, &'static str)>;

/// The `elo` binary next to the running test or bench executable, built
/// (or brought up to date) once per process with the same profile: `cargo
/// test` builds only test harnesses, not the workspace's binaries.
pub fn elo_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let mut dir = exe.parent().expect("executable directory").to_path_buf();
        // Test executables live in target/PROFILE/deps; binaries in target/PROFILE.
        if dir.ends_with("deps") {
            dir.pop();
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", "elo-cli"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        // `cargo test` runs this process with the test package's variables
        // (CARGO_PKG_NAME, CARGO_MANIFEST_DIR, …). Some dependencies' builds
        // depend on them, so passing them on made every test run rebuild
        // elo's dependency chain (about 45 s here) and the next shell build
        // rebuild it back.
        const OF_THE_TEST_PACKAGE: [&str; 6] = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_EXE_",
            "CARGO_CRATE_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
        ];
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if OF_THE_TEST_PACKAGE.iter().any(|p| name.starts_with(p)) {
                build.env_remove(name);
            }
        }
        if dir.ends_with("release") {
            build.arg("--release");
        }
        match build.status() {
            Ok(s) if s.success() => {}
            other => eprintln!("building elo failed ({other:?}); using what is there"),
        }
        let bin = dir.join(format!("elo{}", std::env::consts::EXE_SUFFIX));
        assert!(
            bin.exists(),
            "{} not found: build it with cargo build -p elo-cli",
            bin.display()
        );
        bin
    })
    .clone()
}

/// A company's data directory in a temporary folder, driven through `elo`.
pub struct Company {
    pub dir: tempfile::TempDir,
    pub cnpj: String,
}

impl Company {
    /// `elo init` a new company.
    pub fn init(cnpj: &str, name: &str) -> Company {
        let dir = tempfile::tempdir().expect("temp dir");
        let c = Company {
            dir,
            cnpj: cnpj.to_string(),
        };
        let out = c.elo(&["init", "--company", cnpj, "--name", name]);
        assert!(
            out.status.success(),
            "elo init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    /// A `Command` for `elo --data DIR ARGS`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(elo_bin());
        cmd.arg("--data")
            .arg(self.data())
            .args(args)
            .env_remove("ELO_DATA");
        cmd
    }

    /// Runs `elo` to completion.
    pub fn elo(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run elo")
    }

    /// Runs `elo` and expects success, showing its error output otherwise.
    pub fn elo_ok(&self, args: &[&str]) -> Output {
        let out = self.elo(args);
        assert!(
            out.status.success(),
            "elo {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `elo --json ARGS`, expects success and parses its last stdout line.
    pub fn elo_json(&self, args: &[&str]) -> Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.elo(&full);
        assert!(
            out.status.success(),
            "elo {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text.lines().last().unwrap_or("");
        serde_json::from_str(last).unwrap_or_else(|e| panic!("elo {args:?} printed {text:?}: {e}"))
    }

    pub fn api_token(&self) -> String {
        std::fs::read_to_string(self.data().join("api-token"))
            .expect("api token")
            .trim()
            .to_string()
    }

    /// Starts `elo node` (API and mesh on free loopback ports, no mDNS) and
    /// waits until it serves.
    pub fn start_node(&self) -> RunningNode {
        self.start_node_with(&["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
    }

    /// Starts `elo node` on loopback, without mDNS, logging verbosely, with
    /// blocks of `block` codes (small ones make tests cross blocks).
    pub fn start_node_with_block_size(&self, block: &str) -> RunningNode {
        self.start_node_with(&[
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "-v",
            "--id-block-size",
            block,
        ])
    }

    /// Starts `elo node` with these extra arguments. Its log goes to
    /// `node.log` in the data directory.
    pub fn start_node_with(&self, extra: &[&str]) -> RunningNode {
        self.start_node_with_env(extra, &[])
    }

    /// Starts `elo node` with extra arguments and environment variables.
    pub fn start_node_with_env(&self, extra: &[&str], env: &[(&str, &Path)]) -> RunningNode {
        self.start_node_at("127.0.0.1:0", extra, env)
    }

    /// Starts `elo node` with its API at `api` (a fixed port lets a test
    /// restart it where its clients look).
    pub fn start_node_at(&self, api: &str, extra: &[&str], env: &[(&str, &Path)]) -> RunningNode {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data().join("node.log"))
            .expect("node log");
        let mut args = vec!["--json", "node", "--api", api];
        args.extend_from_slice(extra);
        let mut child = self
            .command(&args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn elo node");
        let stdout = child.stdout.take().expect("node stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("node's first line");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let log = std::fs::read_to_string(self.data().join("node.log")).unwrap_or_default();
            let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
            panic!("node printed {line:?}: {e}\nits log, last lines first:\n{tail}")
        });
        let api = v["api"].as_str().expect("api address").to_string();
        RunningNode {
            child,
            base: format!("http://{api}"),
            token: self.api_token(),
            log: self.data().join("node.log"),
        }
    }
}

impl Company {
    /// A temporary place for a company's data directory, not yet created
    /// (for `elo join`, which creates it).
    pub fn init_empty() -> Company {
        let dir = tempfile::tempdir().expect("temp dir");
        let _ = std::fs::remove_dir(dir.path());
        Company {
            dir,
            cnpj: String::new(),
        }
    }

    /// `elo join` a new company with an invite from a member.
    pub fn join(invite: &str, cnpj: &str, name: &str) -> Company {
        let dir = tempfile::tempdir().expect("temp dir");
        let c = Company {
            dir,
            cnpj: cnpj.to_string(),
        };
        let out = c.elo(&["join", invite, "--company", cnpj, "--name", name]);
        assert!(
            out.status.success(),
            "elo join failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data().join("node.log")).unwrap_or_default()
    }
}

/// Free ports below the kernel's ephemeral range (32768 and up on Linux),
/// all different, so that no connection's local port, nor a proxy's port,
/// can take one while its node is down between a kill and a restart.
pub fn free_ports(n: usize) -> Vec<u16> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut out: Vec<u16> = Vec::with_capacity(n);
    while out.len() < n {
        let port = rng.gen_range(20_000..32_000);
        if !out.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            out.push(port);
        }
    }
    out
}

/// A valid access key for `emitter`'s NF-e `number`, series 1, issued in
/// SP in December 2026 (what the destination's ERP reports).
pub fn access_key(emitter: &str, number: u32) -> String {
    elo_crdt::order::access_key::compose(elo_crdt::order::access_key::KeyParts {
        uf: "35",
        aamm: "2612",
        emitter_cnpj: emitter,
        model: "55",
        series: 1,
        number,
    })
}

/// Polls `f` every 10 ms until it holds; panics with `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "{what}: not true after {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

/// An `elo node` child process; killed when dropped.
pub struct RunningNode {
    pub child: Child,
    pub base: String,
    pub token: String,
    /// Where its log goes.
    pub log: PathBuf,
}

/// One request to a node's API with a bearer token; the error when the
/// node did not answer (refused, timed out).
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: &str,
    body: Option<&str>,
) -> Result<Answer, ureq::Error> {
    let auth = format!("Bearer {token}");
    let body = body.unwrap_or("");
    let resp = match method {
        "GET" => agent.get(url).header("Authorization", &auth).call(),
        "DELETE" => agent.delete(url).header("Authorization", &auth).call(),
        "PUT" => agent.put(url).header("Authorization", &auth).send(body),
        "PATCH" => agent.patch(url).header("Authorization", &auth).send(body),
        "POST" => agent.post(url).header("Authorization", &auth).send(body),
        other => panic!("unsupported method {other}"),
    };
    let mut resp = resp?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Answer { status, body })
}

/// A minimal HTTP answer.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl RunningNode {
    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .proxy(None)
            .build()
            .into()
    }

    /// Sends a request with the bearer token (or `token`, when given).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let token = token.unwrap_or(&self.token);
        send(&Self::agent(), method, &url, token, body)
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
    }

    /// A one-time invite from this node.
    pub fn invite(&self) -> String {
        let a = self.request("POST", "/v1/invites", Some("{}"), None);
        assert_eq!(
            a.status,
            200,
            "{:?}\nstatus: {:?}\nlog: {}",
            a.body,
            self.get("/v1/status").body,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        a.body["invite"].as_str().expect("invite").to_string()
    }

    /// This node's mesh address, `/ip4/127.0.0.1/tcp/PORT/p2p/ID`.
    pub fn p2p_addr(&self) -> String {
        let s = self.get("/v1/status").body;
        let listen = s["listen"][0]
            .as_str()
            .expect("a listen address")
            .to_string();
        format!(
            "{listen}/p2p/{}",
            s["company"]["peer_id"].as_str().expect("peer id")
        )
    }

    /// A record's JSON, or `None` when absent.
    pub fn record(&self, kind: &str, key: &str) -> Option<Value> {
        let a = self.get(&format!("/v1/records/{kind}/{key}"));
        (a.status == 200).then_some(a.body)
    }

    /// What this node knows of the member with this CNPJ.
    pub fn member(&self, cnpj: &str) -> Value {
        let s = self.get("/v1/status").body;
        s["members"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["company"] == cnpj).cloned())
            .unwrap_or(Value::Null)
    }

    /// Sends records to the bulk route, 1,000 a request, by kind.
    pub fn post_all(&self, rows: Vec<(&'static str, Value)>) {
        let mut by_kind: std::collections::HashMap<&str, Vec<Value>> = Default::default();
        for (kind, v) in rows {
            by_kind.entry(kind).or_default().push(v);
        }
        for (kind, rows) in by_kind {
            for chunk in rows.chunks(1000) {
                let body = Value::Array(chunk.to_vec()).to_string();
                let r = self.request("POST", &format!("/v1/records/{kind}"), Some(&body), None);
                assert_eq!(r.status, 200, "{:?}", r.body);
            }
        }
    }

    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path, None, None)
    }

    pub fn put(&self, path: &str, body: &str) -> Answer {
        self.request("PUT", path, Some(body), None)
    }

    /// Stops the node with SIGTERM (a clean stop) and waits for it.
    pub fn stop(mut self) -> std::process::ExitStatus {
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "elo node did not stop within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CNPJ's 14 characters without punctuation, as the roster names
/// companies.
pub fn digits(cnpj: &str) -> String {
    cnpj.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// A valid CPF made from a number (its first 9 digits), so tests and
/// benchmarks can make as many distinct customers as they need.
pub fn cpf(n: u64) -> String {
    let base: Vec<u32> = format!("{:09}", n % 1_000_000_000)
        .chars()
        .map(|c| c.to_digit(10).unwrap_or(0))
        .collect();
    let check = |digits: &[u32]| {
        let len = digits.len() as u32 + 1;
        let sum: u32 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| d * (len - i as u32))
            .sum();
        let r = (sum * 10) % 11;
        if r == 10 { 0 } else { r }
    };
    let mut digits = base.clone();
    digits.push(check(&base));
    let d2 = check(&digits);
    digits.push(d2);
    digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect()
}

/// A customer of about 1 KB, as an ERP would send it.
pub fn customer(n: u64) -> Value {
    // CPFs of one repeated digit are invalid; skip the numbers that make them.
    let cpf = cpf(n + 1_000);
    json!({
        "cpf": cpf,
        "name": format!("Cliente Número {n} da Silva Pereira"),
        "rg": format!("{:09}", n),
        "contact": "Departamento de compras",
        "zip_code": "01310-100",
        "street_type": "Avenida",
        "street": "Avenida Paulista",
        "number": format!("{}", 100 + n % 900),
        "complement": format!("Conjunto {}", n % 50),
        "district": "Bela Vista",
        "city": "São Paulo",
        "state": "SP",
        "country": "Brasil",
        "email": format!("cliente{n}@exemplo.com.br"),
        "nfe_email": format!("nfe{n}@exemplo.com.br"),
        "mobile_phone": "(11) 98765-4321",
        "business_phone": "(11) 3333-4444",
        "credit_limit": format!("{}.{:02}", 1000 + n % 9000, n % 100),
        "customer_type": if n.is_multiple_of(2) { "retail" } else { "wholesale" },
        "birth_date": "1985-06-15",
        "profession": "Comerciante",
        "salesperson": "Vendedor 7",
        "notes": format!("Cliente desde 2019. Prefere entrega pela manhã, portão lateral; pedido mínimo combinado com o vendedor. Observações internas {n}: cobrança por boleto, vencimento dia 10, sem protesto automático. Histórico de compras regular, sem atrasos relevantes nos últimos 24 meses; limite revisado anualmente."),
        "extra": { "segmento": "varejo", "origem": "importação" },
        "addresses": { "delivery": { "zip_code": "04538-132", "street": "Avenida Brigadeiro Faria Lima", "number": "3477", "city": "São Paulo", "state": "SP" } },
    })
}

/// A valid CNPJ made from a number (branch 0001), formatted with punctuation.
pub fn cnpj(n: u64) -> String {
    let base: Vec<u32> = format!("{:08}0001", n % 100_000_000)
        .chars()
        .map(|c| c.to_digit(10).unwrap_or(0))
        .collect();
    let check = |digits: &[u32], weights: &[u32]| {
        let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
        let r = sum % 11;
        if r < 2 { 0 } else { 11 - r }
    };
    let mut d = base.clone();
    d.push(check(&d, &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]));
    let d2 = check(&d, &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
    d.push(d2);
    let s: String = d
        .iter()
        .map(|x| char::from_digit(*x, 10).unwrap_or('0'))
        .collect();
    format!(
        "{}.{}.{}/{}-{}",
        &s[0..2],
        &s[2..5],
        &s[5..8],
        &s[8..12],
        &s[12..14]
    )
}

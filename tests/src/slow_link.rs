//! A head office and a branch on a slow link: two network namespaces
//! joined by one veth pair, its rate limited with `tc … tbf` on both ends,
//! and a [`DelayProxy`] in front of the head office's node for the round
//! trip (this kernel has no `netem`). Both nodes listen on their own
//! namespace's loopback only, so every connection between them is the
//! branch dialing the proxy: across the veth (rate) and through the proxy
//! (delay). Nothing is addressed outside the two namespaces.
//!
//! Everything is removed when the [`SlowLink`] is dropped, on an error
//! (unwinding) and on Ctrl-C or SIGTERM (a watcher removes what is still
//! there, then exits). Needs root, `ip` and `tc`.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::delay_proxy::DelayProxy;
use crate::{Company, RunningNode};

/// The link's shape.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Rate each way, in Mbit/s.
    pub mbit: u32,
    /// Delay each way (the round trip is twice this).
    pub one_way: Duration,
}

/// The branch's link of issue 15: 20 Mbit/s, 50 ms round trip.
pub const BRANCH_LINK: Shape = Shape {
    mbit: 20,
    one_way: Duration::from_millis(25),
};

/// Namespaces still in place, for the Ctrl-C watcher.
static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The two namespaces and the shaped veth pair between them.
pub struct SlowLink {
    pub shape: Shape,
    pub head_ns: String,
    pub branch_ns: String,
    head_if: String,
    branch_if: String,
    pub head_addr: Ipv4Addr,
}

/// Bytes each end of the veth sent, IP headers and acknowledgements
/// included.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireBytes {
    pub head_to_branch: u64,
    pub branch_to_head: u64,
}

/// The head office's node and the proxy in front of it.
pub struct HeadOffice {
    pub node: RunningNode,
    pub proxy: DelayProxy,
    /// The proxy's address with the node's peer id: what the branch dials.
    pub addr: String,
}

fn run(program: &str, args: &[&str]) -> Result<Output, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Why this machine cannot make the link, if it cannot: not root, or no
/// `ip`/`tc`.
pub fn cannot_make() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("making network namespaces needs root (run it as root)".into());
    }
    for tool in ["ip", "tc"] {
        if Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            return Some(format!("`{tool}` is missing (install iproute2)"));
        }
    }
    None
}

impl SlowLink {
    /// Makes the namespaces and the shaped link, with unique names.
    pub fn new(shape: Shape) -> Result<SlowLink, String> {
        if let Some(why) = cannot_make() {
            return Err(why);
        }
        watch_signals();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let seq = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}{seq}", std::process::id() % 100_000);
        let subnet = 1 + (std::process::id() + seq * 41) % 250;
        let link = SlowLink {
            shape,
            head_ns: format!("elo-head-{tag}"),
            branch_ns: format!("elo-branch-{tag}"),
            head_if: format!("vh{tag}"),
            branch_if: format!("vb{tag}"),
            head_addr: Ipv4Addr::new(10, 233, subnet as u8, 1),
        };
        // Listed before they exist, so a failure half-way still removes them.
        if let Ok(mut live) = LIVE.lock() {
            live.extend([link.head_ns.clone(), link.branch_ns.clone()]);
        }
        link.build(subnet)?;
        Ok(link)
    }

    fn build(&self, subnet: u32) -> Result<(), String> {
        let (h, b) = (self.head_ns.as_str(), self.branch_ns.as_str());
        let (hi, bi) = (self.head_if.as_str(), self.branch_if.as_str());
        run("ip", &["netns", "add", h])?;
        run("ip", &["netns", "add", b])?;
        run(
            "ip",
            &[
                "-n", h, "link", "add", hi, "type", "veth", "peer", "name", bi, "netns", b,
            ],
        )?;
        let rate = format!("{}mbit", self.shape.mbit);
        for (ns, dev, host) in [(h, hi, 1), (b, bi, 2)] {
            let cidr = format!("10.233.{subnet}.{host}/30");
            run("ip", &["-n", ns, "addr", "add", &cidr, "dev", dev])?;
            run("ip", &["-n", ns, "link", "set", dev, "up"])?;
            run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
            // A token bucket of 32 KiB (about 13 ms at 20 Mbit/s) and a
            // queue of up to 50 ms, as a modest router would have.
            run(
                "ip",
                &[
                    "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate",
                    &rate, "burst", "32kb", "latency", "50ms",
                ],
            )?;
        }
        Ok(())
    }

    /// Runs `f` on a thread inside the head office's namespace: sockets it
    /// opens and processes it starts belong there.
    pub fn in_head<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_netns(&self.head_ns, f)
    }

    /// Runs `f` on a thread inside the branch's namespace.
    pub fn in_branch<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_netns(&self.branch_ns, f)
    }

    /// What each end of the veth has sent so far.
    pub fn wire_bytes(&self) -> WireBytes {
        WireBytes {
            head_to_branch: tx_bytes(&self.head_ns, &self.head_if),
            branch_to_head: tx_bytes(&self.branch_ns, &self.branch_if),
        }
    }

    /// Starts the head office's node in its namespace (it dials no one: the
    /// branch dials it) and the delaying proxy in front of it.
    pub fn start_head(&self, company: &Company) -> HeadOffice {
        let node = self.in_head(|| {
            company.start_node_with(&[
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--no-mdns",
                "--only-peers",
            ])
        });
        let status = self.in_head(|| node.get("/v1/status")).body;
        let listen = status["listen"][0].as_str().unwrap_or_default();
        let port: u16 = listen
            .rsplit('/')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the head office's listen address {listen:?}"));
        let peer = status["company"]["peer_id"].as_str().unwrap_or_default();
        let target = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let proxy = self
            .in_head(|| DelayProxy::start((self.head_addr, 0).into(), target, self.shape.one_way))
            .expect("start the delaying proxy");
        let addr = format!(
            "/ip4/{}/tcp/{}/p2p/{peer}",
            self.head_addr,
            proxy.addr().port()
        );
        HeadOffice { node, proxy, addr }
    }

    /// A one-time invite naming the proxy's address.
    pub fn invite(&self, head: &HeadOffice) -> String {
        let body = json!({ "addrs": [head.addr] }).to_string();
        let a = self.in_head(|| head.node.request("POST", "/v1/invites", Some(&body), None));
        assert_eq!(a.status, 200, "{:?}", a.body);
        a.body["invite"].as_str().expect("invite").to_string()
    }

    /// `elo --json join` of a new branch, run in the branch's namespace: the
    /// company, how long the process ran, and its JSON answer. A join that
    /// has not ended within `limit` is stopped and reported.
    pub fn join(
        &self,
        head: &HeadOffice,
        cnpj: &str,
        limit: Duration,
    ) -> Result<(Company, Duration, Value), String> {
        let invite = self.invite(head);
        let b = Company::init_empty();
        let args = [
            "--json",
            "join",
            &invite,
            "--company",
            cnpj,
            "--name",
            "Filial",
        ];
        let start = Instant::now();
        let out = self.in_branch(|| output_within(b.command(&args), limit));
        let took = start.elapsed();
        let out = out.map_err(|e| format!("elo join over the slow link: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "elo join over the slow link failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let joined = serde_json::from_str(text.trim())
            .map_err(|e| format!("elo join printed {text:?}: {e}"))?;
        Ok((b, took, joined))
    }

    /// Starts the branch's node in its namespace, dialing the head office
    /// through the proxy only.
    pub fn start_branch(&self, branch: &Company, head: &HeadOffice) -> RunningNode {
        self.in_branch(|| {
            branch.start_node_with(&[
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--no-mdns",
                "--only-peers",
                "--peer",
                &head.addr,
            ])
        })
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        let names = [self.head_ns.clone(), self.branch_ns.clone()];
        remove(&names);
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|n| !names.contains(n));
        }
    }
}

/// Stops what runs in the namespaces (only processes this bench or test
/// started there), then deletes them; each takes its veth end with it.
fn remove(names: &[String]) {
    for ns in names {
        if let Ok(out) = run("ip", &["netns", "pids", ns]) {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<libc::pid_t>() {
                    // SAFETY: a plain kill of a process in our own namespace.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let _ = run("ip", &["netns", "del", ns]);
    }
}

/// On Ctrl-C or SIGTERM, removes every namespace still in place and exits
/// (no destructor runs when a signal ends a process).
fn watch_signals() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let watcher = std::thread::Builder::new()
            .name("slow-link-signals".into())
            .spawn(|| {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    use tokio::signal::unix::{SignalKind, signal};
                    let Ok(mut term) = signal(SignalKind::terminate()) else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                });
                let names = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
                eprintln!("interrupted: removing the namespaces {names:?}");
                remove(&names);
                std::process::exit(130);
            });
        if let Err(e) = watcher {
            eprintln!("no Ctrl-C watcher ({e}): an interrupted run may leave namespaces");
        }
    });
}

/// Runs `cmd` to its end, or kills it after `limit`; what it printed.
fn output_within(mut cmd: Command, limit: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    // Read as it runs, so that a full pipe cannot stall it.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            text
        })
    };
    use std::io::Read;
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let err = stderr.join().unwrap_or_default();
                return Err(format!(
                    "not finished after {limit:?}, stopped; it wrote: {}",
                    String::from_utf8_lossy(&err)
                ));
            }
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Runs `f` on a new thread that entered namespace `ns` first.
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            enter(ns).unwrap_or_else(|e| panic!("enter network namespace {ns}: {e}"));
            f()
        });
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Moves the calling thread (only it) into network namespace `ns`.
fn enter(ns: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
    // SAFETY: setns on a namespace file we hold open; it changes only the
    // calling thread's network namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The bytes interface `dev` in namespace `ns` has sent.
fn tx_bytes(ns: &str, dev: &str) -> u64 {
    let out = run("ip", &["-n", ns, "-s", "-j", "link", "show", "dev", dev])
        .unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v[0]["stats64"]["tx"]["bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no tx bytes for {dev} in {v}"))
}

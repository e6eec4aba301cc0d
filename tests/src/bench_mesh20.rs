//! `elo-bench mesh20 [RECORDS] [WRITES]`: twenty companies on this machine
//! (issue 15, item 4). Twenty `elo node` processes on 127.0.0.1, without
//! mDNS, each given every other's address, each holding the same RECORDS
//! customers (default 10,000: imported at the first, received by the 19
//! others when they join). Measured:
//!
//! - idle: after the mesh is up and settled, each node's CPU over 30 s
//!   (user + system time from `/proc/PID/stat`) and its RSS (`VmRSS`);
//! - propagation: WRITES products (default 200), 50 ms apart, written in
//!   turn at each node; for each, the time until it is in the change
//!   stream of all 19 others (and, per member, until each one has it).
//!
//! Targets: p99 ≤ 50 ms until visible at all 19; ≤ 40 MiB RSS and ≤ 2% of
//! a core per idle node.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{Company, RunningNode, cnpj, customer, free_ports};

const MEMBERS: usize = 20;
const IDLE: Duration = Duration::from_secs(30);

/// `args`: RECORDS and WRITES, each optional.
pub fn run(args: &[String]) {
    let records = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let writes = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let began = Instant::now();
    let companies = group_with_records(records);
    println!(
        "mesh20: {MEMBERS} companies holding {records} customers each, ready in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let nodes = start_mesh(&companies);
    let up = Instant::now();
    let mut counts = vec![];
    while up.elapsed() < Duration::from_secs(60) {
        counts = nodes.iter().map(connected_members).collect();
        if counts.iter().all(|c| *c == MEMBERS - 1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if counts.iter().any(|c| *c != MEMBERS - 1) {
        println!("mesh20: NOT a full mesh after 60 s: members connected at each node {counts:?}");
        for (i, n) in nodes.iter().enumerate() {
            for m in n.get("/v1/status").body["members"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if m["connected"] != true {
                    let kept = keep_log(i, n);
                    println!(
                        "  node {i} (log kept in {kept}): {} not connected: {}",
                        m["company"], m["last_error"]
                    );
                }
            }
        }
    }
    println!(
        "mesh20: mesh up (or given up on) {:.1} s after the starts",
        up.elapsed().as_secs_f64()
    );
    // Let the first pulls and the primary's messages end before idling.
    std::thread::sleep(Duration::from_secs(5));
    idle(&nodes);
    propagation(&nodes, writes);
    let (rss, hwm) = (
        mib(nodes.as_slice(), "VmRSS:"),
        mib(nodes.as_slice(), "VmHWM:"),
    );
    println!(
        "mesh20: RSS after the writes {} MiB; peak {} MiB",
        spread(&rss),
        spread(&hwm)
    );
}

/// The first company imports the records; the 19 others join it (and so
/// receive them). Its node is stopped again before the mesh starts.
fn group_with_records(records: u64) -> Vec<Company> {
    let first = Company::init(&cnpj(2001), "Matriz");
    let file = first.data().join("customers.jsonl");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).expect("create file"));
    for i in 0..records {
        writeln!(w, "{}", customer(i)).expect("write");
    }
    w.flush().expect("flush");
    drop(w);
    first.elo_ok(&["import", "customer", file.to_str().expect("a UTF-8 path")]);
    let node = first.start_node();
    let mut companies = vec![];
    let joins = Instant::now();
    for i in 1..MEMBERS {
        let n = u64::try_from(i).unwrap_or(0);
        companies.push(Company::join(
            &node.invite(),
            &cnpj(2001 + n),
            &format!("Filial {i}"),
        ));
    }
    println!(
        "mesh20: 19 joins took {:.1} s ({:.2} s each)",
        joins.elapsed().as_secs_f64(),
        joins.elapsed().as_secs_f64() / 19.0
    );
    assert!(node.stop().success());
    companies.insert(0, first);
    companies
}

/// Every node on its own mesh port, dialing every other (as the roster's
/// addresses would have them do), no mDNS.
fn start_mesh(companies: &[Company]) -> Vec<RunningNode> {
    let plan = MeshPlan::new(companies);
    companies
        .iter()
        .enumerate()
        .map(|(i, c)| plan.start(i, c))
        .collect()
}

/// A mesh port and an address for each company: each node is given every
/// other's, without mDNS.
pub struct MeshPlan {
    ports: Vec<u16>,
    addrs: Vec<String>,
}

impl MeshPlan {
    pub fn new(companies: &[Company]) -> MeshPlan {
        let ports = free_ports(companies.len());
        let addrs = companies
            .iter()
            .zip(&ports)
            .map(|(c, port)| {
                let me = c.elo_json(&["status"]);
                let peer = me["company"]["peer_id"]
                    .as_str()
                    .expect("a peer id")
                    .to_owned();
                format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer}")
            })
            .collect();
        MeshPlan { ports, addrs }
    }

    /// Starts company `i`'s node on its port, dialing only the others'
    /// addresses (`--only-peers`).
    pub fn start(&self, i: usize, company: &Company) -> RunningNode {
        let listen = format!("/ip4/127.0.0.1/tcp/{}", self.ports[i]);
        let mut args = vec![
            "--listen",
            listen.as_str(),
            "--no-mdns",
            "--only-peers",
            "-v",
        ];
        for (j, addr) in self.addrs.iter().enumerate() {
            if j != i {
                args.extend(["--peer", addr.as_str()]);
            }
        }
        company.start_node_with(&args)
    }
}

/// A copy of node `i`'s log that outlives the run, for a look at why a
/// pair did not connect.
fn keep_log(i: usize, node: &RunningNode) -> String {
    let folder = std::env::temp_dir().join("elo-mesh20-logs");
    let path = folder.join(format!("node-{i}.log"));
    let copied = std::fs::create_dir_all(&folder).and_then(|()| std::fs::copy(&node.log, &path));
    match copied {
        Ok(_) => path.display().to_string(),
        Err(e) => format!("nowhere ({e})"),
    }
}

fn connected_members(node: &RunningNode) -> usize {
    let status = node.get("/v1/status").body;
    status["members"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["connected"] == true).count())
}

/// CPU time (user + system) of a process so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (in parentheses, which may hold
    // spaces): state is the 1st, utime the 12th, stime the 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// A `KiB` line of `/proc/PID/status` (`VmRSS:`, `VmHWM:`).
fn status_kib(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(f64::NAN)
}

/// A memory figure of each node (`VmRSS:`, `VmHWM:`), in MiB.
fn mib(nodes: &[RunningNode], key: &str) -> Vec<f64> {
    nodes
        .iter()
        .map(|n| status_kib(n.child.id(), key) / 1024.0)
        .collect()
}

/// Sockets a process holds open (connections and listeners).
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |fds| {
        fds.filter_map(Result::ok)
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter(|link| link.to_string_lossy().starts_with("socket:"))
            .count()
    })
}

/// min / median / max of the figures.
fn spread(v: &[f64]) -> String {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
    let (lo, hi) = (
        v.first().copied().unwrap_or(f64::NAN),
        v.last().copied().unwrap_or(f64::NAN),
    );
    format!("min {lo:.1} / median {mid:.1} / max {hi:.1}")
}

fn idle(nodes: &[RunningNode]) {
    // SAFETY: sysconf only reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let before: Vec<u64> = nodes.iter().map(|n| cpu_ticks(n.child.id())).collect();
    let start = Instant::now();
    std::thread::sleep(IDLE);
    let secs = start.elapsed().as_secs_f64();
    let cpu: Vec<f64> = nodes
        .iter()
        .zip(&before)
        .map(|(n, b)| {
            (cpu_ticks(n.child.id()).saturating_sub(*b)) as f64 / per_second / secs * 100.0
        })
        .collect();
    let rss = mib(nodes, "VmRSS:");
    println!(
        "mesh20 idle over {secs:.0} s: CPU % of a core per node {} (target ≤ 2)",
        spread(&cpu)
    );
    println!(
        "mesh20 idle: RSS per node {} MiB (target ≤ 40)",
        spread(&rss)
    );
    let sockets: Vec<f64> = nodes.iter().map(|n| sockets(n.child.id()) as f64).collect();
    println!(
        "mesh20 idle: sockets open per node {} (19 members, the API and its listeners)",
        spread(&sockets)
    );
}

/// Follows a node's change stream from now on; every document id it
/// hears goes to `heard` with the node's index and the moment.
fn listen(node: &RunningNode, index: usize, heard: mpsc::Sender<(usize, String, Instant)>) {
    let since = node.get("/v1/status").body["last_seq"]
        .as_u64()
        .unwrap_or(0);
    let url = format!("{}/v1/changes/stream?since={since}", node.base);
    let auth = format!("Bearer {}", node.token);
    std::thread::spawn(move || {
        // No timeout: the stream stays open for as long as the run.
        let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
        let Ok(answer) = agent.get(&url).header("Authorization", &auth).call() else {
            return;
        };
        let events = BufReader::new(answer.into_body().into_reader()).lines();
        for event in events.map_while(Result::ok) {
            let id = event
                .strip_prefix("data: ")
                .and_then(|data| serde_json::from_str::<serde_json::Value>(data).ok())
                .and_then(|v| v["id"].as_str().map(str::to_owned));
            if let Some(id) = id
                && heard.send((index, id, Instant::now())).is_err()
            {
                return;
            }
        }
    });
}

fn propagation(nodes: &[RunningNode], writes: usize) {
    let (heard_tx, heard) = mpsc::channel();
    for (i, n) in nodes.iter().enumerate() {
        listen(n, i, heard_tx.clone());
    }
    drop(heard_tx);
    std::thread::sleep(Duration::from_millis(500));
    let mut written: HashMap<String, (usize, Instant)> = HashMap::new();
    for w in 0..writes {
        let at = w % nodes.len();
        let sku = format!("M20-{w:05}");
        let t = Instant::now();
        let r = nodes[at].put(
            &format!("/v1/records/product/{sku}"),
            r#"{"description":"vinte"}"#,
        );
        assert_eq!(r.status, 201, "{:?}", r.body);
        written.insert(format!("product/sku:{sku}"), (at, t));
        std::thread::sleep(Duration::from_millis(50));
    }
    // Per write, when each other member heard it.
    let mut arrivals: HashMap<String, Vec<Duration>> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let wanted = writes * (nodes.len() - 1);
    let mut got = 0;
    while got < wanted {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((index, id, when)) = heard.recv_timeout(left) else {
            break;
        };
        let Some((writer, t)) = written.get(&id) else {
            continue;
        };
        if *writer != index {
            arrivals
                .entry(id)
                .or_default()
                .push(when.saturating_duration_since(*t));
            got += 1;
        }
    }
    let mut each: Vec<Duration> = arrivals.values().flatten().copied().collect();
    let mut all: Vec<Duration> = arrivals
        .values()
        .filter(|a| a.len() == nodes.len() - 1)
        .filter_map(|a| a.iter().max().copied())
        .collect();
    println!(
        "mesh20 propagation, {writes} writes 50 ms apart in turn at each node: visible at all 19 others {} (target p99 ≤ 50 ms); at each member {}; {got} of {wanted} arrivals seen",
        percentiles(&mut all),
        percentiles(&mut each)
    );
}

fn percentiles(v: &mut [Duration]) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    v.sort();
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1e3;
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={})",
        at(0.5),
        at(0.99),
        at(1.0),
        v.len()
    )
}

//! `elo init`, `join`, `invite`, `status`, `sync`, `resync`,
//! `remove-company` and `node`: this company in its group, and running its
//! node.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use elo_node::DataDir;
use serde_json::{Value, json};

use crate::api;
use crate::client::Client;
use crate::output::{print_json, print_members, print_pending, print_withheld, progress_bar};

/// How `elo node` runs.
#[derive(clap::Args)]
pub struct NodeArgs {
    /// Address of the local API, HOST:PORT (loopback, such as
    /// 127.0.0.1:4711 or localhost:4711, unless --api-insecure-public)
    #[arg(long, visible_alias = "api-listen", default_value = "127.0.0.1:4711")]
    pub api: String,
    /// Allow the API on a non-loopback address (the bearer token then
    /// crosses the network in clear)
    #[arg(long)]
    pub api_insecure_public: bool,
    /// Where to listen for members, a multiaddress (repeat for several)
    #[arg(long, default_value = "/ip4/0.0.0.0/tcp/4712")]
    pub listen: Vec<String>,
    /// A member address to dial, e.g. /ip4/10.0.0.5/tcp/4712/p2p/12D3… (repeat)
    #[arg(long)]
    pub peer: Vec<String>,
    /// Do not look for members on the LAN with mDNS
    #[arg(long)]
    pub no_mdns: bool,
    /// Dial only the --peer addresses, not the roster's or remembered
    /// ones (for explicit topologies)
    #[arg(long)]
    pub only_peers: bool,
    /// Run alone: the API only, no replication
    #[arg(long)]
    pub offline: bool,
    /// Codes per block of every table, when this company is primary
    #[arg(long, env = "ELO_ID_BLOCK_SIZE", default_value_t = 100_000)]
    pub id_block_size: i64,
    /// Also serve GET /metrics without the token on this loopback
    /// HOST:PORT, for a Prometheus on this machine (on the API it needs
    /// the token)
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<String>,
}

/// `elo init`: a new data directory whose company founds a group. Works on
/// the data directory itself: there is no store, hence no node, before it.
pub fn init(data: &DataDir, company: &str, name: &str, json_out: bool) -> Result<()> {
    let (company, group) = data.init(company, name)?;
    if json_out {
        print_json(&json!({ "company": company, "group_id": group.id, "data": data.root() }));
        return Ok(());
    }
    println!(
        "Company {} ({}) created in {}",
        company.name,
        company.cnpj,
        data.root().display()
    );
    println!("It founds group {} and is its primary.", group.id);
    println!("API token: {}", data.token_path().display());
    Ok(())
}

/// `elo status`: this company, its group and its store.
pub fn status(data: &DataDir, json_out: bool) -> Result<()> {
    let client = Client::open(data)?;
    let s = api::status(&client)?;
    if json_out {
        print_json(&s);
        return Ok(());
    }
    println!(
        "company:  {} ({})",
        s["company"]["name"].as_str().unwrap_or("?"),
        s["company"]["cnpj"].as_str().unwrap_or("?")
    );
    println!("group:    {}", s["group"]["id"].as_str().unwrap_or("?"));
    println!(
        "primary:  {} (term {})",
        s["group"]["primary"].as_str().unwrap_or("?"),
        s["group"]["term"]
    );
    println!("records:  {}", s["records"]);
    println!("last seq: {}", s["last_seq"]);
    match client.node_address() {
        Some(_) => println!(
            "node:     running, API at {}",
            s["api"].as_str().unwrap_or("?")
        ),
        None => println!("node:     not running (start it with `elo node`)"),
    }
    print_members(&s);
    print_pending(&s["pending_authorizations"]);
    print_withheld(&s["withheld"]);
    print_warnings(&s);
    Ok(())
}

/// What the node says needs a person: nodes of another group met, a store
/// that needs attention.
fn print_warnings(s: &serde_json::Value) {
    let store = s["store"]["problem"].as_str().map(str::to_owned);
    let strangers = s["other_groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["message"].as_str().map(str::to_owned));
    for line in store.into_iter().chain(strangers) {
        println!("warning:  {line}");
    }
}

/// `elo node`: runs the node in the foreground until Ctrl-C. It opens the
/// store itself: it is what the other commands reach.
pub fn node(data: DataDir, args: NodeArgs, json_out: bool) -> Result<()> {
    let parse = |v: &[String], what: &str| -> Result<Vec<elo_net::Multiaddr>> {
        v.iter()
            .map(|a| {
                a.parse()
                    .with_context(|| format!("{what} {a:?} is not a multiaddress"))
            })
            .collect()
    };
    let mesh = if args.offline {
        None
    } else {
        Some(elo_node::MeshConfig {
            listen: parse(&args.listen, "--listen")?,
            peers: parse(&args.peer, "--peer")?,
            mdns: !args.no_mdns,
            dial_roster: !args.only_peers,
        })
    };
    let config = elo_node::node::NodeConfig {
        data,
        api: listen_address("--api", &args.api, args.api_insecure_public)?,
        mesh,
        api_insecure_public: args.api_insecure_public,
        primary: elo_node::primary::PrimarySettings {
            block_size: args.id_block_size,
            offline: false,
        },
        metrics: match &args.metrics {
            Some(asked) => Some(listen_address("--metrics", asked, false)?),
            None => None,
        },
    };
    let on_ready = |addr: SocketAddr| {
        if json_out {
            print_json(&json!({ "api": addr.to_string() }));
        } else {
            println!("elo node running; local API at http://{addr} (Ctrl-C stops it)");
        }
    };
    let runtime = runtime()?;
    let shutdown = {
        let _inside = runtime.enter();
        shutdown_signal()
    };
    runtime.block_on(elo_node::node::run(config, shutdown, on_ready))?;
    Ok(())
}

/// The address `--api` (or `--metrics`) names: an IP address and port, or
/// a host name (`localhost:4711`) that resolves to a loopback address; any
/// address with --api-insecure-public.
fn listen_address(flag: &str, asked: &str, public: bool) -> Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    let resolved: Vec<SocketAddr> = asked
        .to_socket_addrs()
        .with_context(|| {
            format!("{flag} {asked}: not HOST:PORT, or the host name does not resolve")
        })?
        .collect();
    let loopback = resolved.iter().filter(|a| a.ip().is_loopback());
    // IPv4 first: that is what `localhost` means to most ERPs' clients.
    let chosen = loopback
        .clone()
        .find(|a| a.is_ipv4())
        .or_else(|| loopback.clone().next())
        .or_else(|| resolved.first().filter(|_| public));
    match chosen {
        Some(a) => Ok(*a),
        None => bail!(
            "{flag} {asked}: resolves to {} and no loopback address: it listens on loopback only{}",
            resolved
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            if flag == "--api" {
                ", unless --api-insecure-public"
            } else {
                ""
            }
        ),
    }
}

/// `elo invite`: a one-time invite (one line) for a new company.
pub fn invite(data: &DataDir, ttl_hours: u64, addrs: Vec<String>, json_out: bool) -> Result<()> {
    let v = api::invite(&Client::open(data)?, addrs, ttl_hours)?;
    if json_out {
        print_json(&v);
        return Ok(());
    }
    println!("{}", v["invite"].as_str().unwrap_or(""));
    eprintln!("Give this line to the new company; it works once, for {ttl_hours} h:");
    eprintln!("  elo join '<invite>' --company CNPJ --name NAME");
    Ok(())
}

/// `elo join INVITE`: a new data directory filled with the group's data.
/// Works on the data directory itself, straight with the admitting member:
/// there is no store here, hence no node, before it.
pub fn join(data: &DataDir, invite: &str, company: &str, name: &str, json_out: bool) -> Result<()> {
    let invite = elo_net::invite::Invite::decode(invite)?;
    let bar = progress_bar(json_out, "receiving the group's data");
    let joining = elo_node::join::join(data, &invite, company, name, |latest, at| {
        bar.set_length(latest);
        bar.set_position(at);
    });
    let joined = runtime()?.block_on(joining)?;
    bar.finish_and_clear();
    let seconds = joined.took.as_secs_f64();
    if json_out {
        print_json(
            &json!({ "company": joined.company, "group": joined.group, "admitted_by": joined.admitted_by,
            "docs": joined.docs, "seconds": seconds, "data": data.root() }),
        );
        return Ok(());
    }
    println!(
        "Joined group {} (admitted by {}); received {} records in {seconds:.1} s.",
        joined.group, joined.admitted_by, joined.docs,
    );
    println!(
        "Start the node with: elo --data {} node",
        data.root().display()
    );
    Ok(())
}

/// `elo sync`: waits until the node has caught up with every reachable
/// member, or `timeout` seconds.
pub fn sync(data: &DataDir, timeout: u64, json_out: bool) -> Result<()> {
    let client = Client::open(data)?;
    let bar = progress_bar(json_out, "catching up");
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        let s = api::sync_state(&client)?;
        let behind: u64 = s["peers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["connected"] == true)
            .map(|p| p["behind"].as_u64().unwrap_or(0))
            .sum();
        bar.set_length(behind.max(1));
        bar.set_message(format!(
            "{} members connected, {behind} changes behind",
            s["connected"]
        ));
        if s["caught_up"] == true {
            bar.finish_and_clear();
            show_caught_up(&s, json_out);
            return Ok(());
        }
        if Instant::now() > deadline {
            bar.finish_and_clear();
            for p in s["peers"].as_array().into_iter().flatten() {
                if let Some(err) = p["last_error"].as_str() {
                    eprintln!("{}: {err}", p["company"].as_str().unwrap_or("?"));
                }
            }
            bail!("not caught up after {timeout} s ({behind} changes behind)");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn show_caught_up(s: &Value, json_out: bool) {
    if json_out {
        print_json(s);
        return;
    }
    match s["connected"].as_u64().unwrap_or(0) {
        0 => println!("no member is reachable now: nothing to catch up with (see `elo status`)"),
        n => println!("caught up with {n} connected member(s)"),
    }
}

/// `elo resync`: forgets replication checkpoints and replicates again.
pub fn resync(data: &DataDir, peer: Option<String>, json_out: bool) -> Result<()> {
    let v = api::resync(&Client::open(data)?, peer)?;
    if json_out {
        print_json(&v);
    } else {
        println!(
            "replicating again from scratch with {} member(s)",
            v["members"]
        );
    }
    Ok(())
}

/// `elo remove-company CNPJ`: out of the group, with a new network key.
pub fn remove_company(data: &DataDir, cnpj: &str, json_out: bool) -> Result<()> {
    let r = api::remove_company(&Client::open(data)?, cnpj)?;
    if json_out {
        print_json(&r);
        return Ok(());
    }
    println!(
        "removed {} from the group",
        r["removed"].as_str().unwrap_or("?")
    );
    let names = |v: &Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    println!("new network key given to: {}", names(&r["reached"]));
    if r["not_reached"].as_array().is_some_and(|a| !a.is_empty()) {
        println!(
            "not reached now (they keep the old key until a member that moved sees them again and hands them the new one): {}",
            names(&r["not_reached"])
        );
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are registered here, before
/// the node says it runs, not when the future is first polled: a service
/// manager that stops the node right after it started (or a test) would
/// otherwise kill it before its writer closes the store.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (term, interrupt) {
                (Ok(mut term), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The runtime for long-running commands. Blocking threads (store reads,
/// document checks) are capped: each may get its own malloc arena, and
/// hundreds of them would inflate the node's memory for no speed on a
/// machine with a few cores.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build()
        .context("starting the runtime")
}

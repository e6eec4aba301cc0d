//! `elo`, the command line of an elo company node. Thin: it parses
//! arguments, reaches the records through elo-node (the running node's API,
//! or the store directly) and prints results for people or, with `--json`,
//! for scripts. Exit code 0 only on success.

mod access;
mod adopt;
mod business;
mod demo;
mod ids;
mod show;
mod transfer;

use std::io::{IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use elo_crdt::Kind;
use elo_node::DataDir;
use serde_json::{Value, json};

use access::{Access, PolicyChange};
use show::{
    format_time, print_fields, print_json, print_members, progress_bar, show_record, title,
};

/// mimalloc rather than the system allocator: automerge allocates and frees
/// many small objects per document, and glibc's per-thread arenas kept a
/// node's memory far above what it used (measured: 475 MiB peak RSS during a
/// catch-up of 11,000 documents).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use transfer::Format;

/// elo links the companies of a business group: each runs a node, and their
/// ERPs share customers, suppliers, products and more without a central server.
#[derive(Parser)]
#[command(name = "elo", version, propagate_version = true)]
struct Cli {
    /// The company's data directory [default: $ELO_DATA, else the platform's data directory]
    #[arg(long, global = true, env = "ELO_DATA")]
    data: Option<PathBuf>,
    /// Print data as JSON, for scripts
    #[arg(long, global = true)]
    json: bool,
    /// More log output (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create this company's data directory, identity, API token and group
    Init {
        /// This company's CNPJ
        #[arg(long)]
        company: String,
        /// This company's name
        #[arg(long)]
        name: String,
    },
    /// Create a record or set some of its fields (JSON, or - for stdin)
    Put {
        kind: Kind,
        #[arg(value_name = "JSON")]
        record: String,
        /// The record's key, when the JSON does not carry it
        #[arg(long)]
        key: Option<String>,
    },
    /// Show a record (KEY: CPF/CNPJ with or without punctuation, SKU, code)
    Get { kind: Kind, key: String },
    /// List records of a kind
    List {
        kind: Kind,
        /// Start after this key
        #[arg(long)]
        after: Option<String>,
        /// How many to show
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Delete a record (the deletion replicates)
    Delete { kind: Kind, key: String },
    /// Who changed which fields of a record, and when
    History { kind: Kind, key: String },
    /// Import records from CSV (header row of field names) or JSON lines
    Import {
        kind: Kind,
        file: PathBuf,
        /// File format [default: from the extension; .csv is CSV, else JSON lines]
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Rows stored per transaction
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
    /// Export every record of a kind
    Export {
        kind: Kind,
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
        /// Write to this file instead of standard output
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// The change feed: records changed after a sequence number
    Changes {
        #[arg(long, default_value_t = 0)]
        since: u64,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// This company, its group and its store
    Status,
    /// Run the node in the foreground: the local API and replication with
    /// the other members (Ctrl-C stops it)
    Node {
        /// Address of the local API (loopback unless --api-insecure-public)
        #[arg(long, visible_alias = "api-listen", default_value = "127.0.0.1:4711")]
        api: SocketAddr,
        /// Allow the API on a non-loopback address (the bearer token then
        /// crosses the network in clear)
        #[arg(long)]
        api_insecure_public: bool,
        /// Where to listen for members (repeat for several)
        #[arg(long, default_value = "/ip4/0.0.0.0/tcp/4712")]
        listen: Vec<String>,
        /// A member address to dial, e.g. /ip4/10.0.0.5/tcp/4712/p2p/12D3… (repeat)
        #[arg(long)]
        peer: Vec<String>,
        /// Do not look for members on the LAN with mDNS
        #[arg(long)]
        no_mdns: bool,
        /// Dial only the --peer addresses, not the roster's or remembered
        /// ones (for explicit topologies)
        #[arg(long)]
        only_peers: bool,
        /// Run alone: the API only, no replication
        #[arg(long)]
        offline: bool,
        /// Codes per block of every table, when this company is primary
        #[arg(long, env = "ELO_ID_BLOCK_SIZE", default_value_t = 100_000)]
        id_block_size: i64,
    },
    /// Make a one-time invite (one line) for a new company
    Invite {
        /// Hours until the invite expires
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
        /// Address to put in the invite instead of the node's own (repeat)
        #[arg(long)]
        addr: Vec<String>,
    },
    /// Join a group with an invite from one of its members
    Join {
        invite: String,
        /// This company's CNPJ
        #[arg(long)]
        company: String,
        /// This company's name
        #[arg(long)]
        name: String,
    },
    /// Three companies on this machine syncing: see elo at work in a minute
    Demo,
    /// Wait until this node has caught up with every reachable member
    Sync {
        /// Wait (the only mode for now; kept for scripts that say it)
        #[arg(long)]
        wait: bool,
        /// Give up after this many seconds
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Show or set which categories this company sends to the group and
    /// receives from it: all, none, or a list of customers, suppliers,
    /// products, credit_limit, product_parameters, sale_price,
    /// additional_fields, tax_rates, units
    Share {
        #[arg(long)]
        send: Option<String>,
        #[arg(long)]
        receive: Option<String>,
    },
    /// Accept what another company sends (seed 002's pair authorisation):
    /// nothing it made reaches this company before this
    Authorize {
        /// The sending company's CNPJ
        #[arg(long)]
        from: String,
        /// Which categories (default all)
        #[arg(long, default_value = "all")]
        categories: String,
    },
    /// Stop receiving what another company makes
    RevokeAuthorization {
        #[arg(long)]
        from: String,
    },
    /// Take a company out of the group: every member closes its connections
    /// and refuses it, and the group moves to a new network key
    RemoveCompany {
        /// The company's CNPJ
        cnpj: String,
    },
    /// Keep product fields to this company: its values never leave its node
    /// and others' values never replace them (min_quantity, max_quantity,
    /// supplier, location, cost_price, average_cost, sale_price,
    /// promotional_price). `--fields none` shares them all again.
    Restrict {
        #[arg(long, value_delimiter = ',')]
        fields: Vec<String>,
    },
    /// Forget replication checkpoints and replicate again from scratch
    Resync {
        /// Only this member (peer id or CNPJ)
        #[arg(long)]
        peer: Option<String>,
    },
    /// A customer's shared credit: limit, used (by company) and available;
    /// `charge` and `release` change the credit used at this company
    Credit {
        #[command(subcommand)]
        command: business::CreditCommand,
    },
    /// A SKU's stock at every company and the group total (`elo stock SKU`);
    /// `elo stock set` publishes this company's figures
    #[command(args_conflicts_with_subcommands = true)]
    Stock {
        sku: Option<String>,
        /// Only this company's figures
        #[arg(long)]
        own: bool,
        #[command(subcommand)]
        command: Option<business::StockCommand>,
    },
    /// Match a file of this company's existing records with the group's:
    /// report matched, new and conflicting, write only the new ones, never a
    /// duplicate
    Adopt {
        kind: Kind,
        file: PathBuf,
        /// How products are linked: sku, sku+gtin or sku+gtin+description
        /// (contacts link by CPF/CNPJ and name)
        #[arg(long, default_value = "sku")]
        rule: String,
        #[arg(long, value_enum)]
        format: Option<transfer::Format>,
        /// Report only; write nothing
        #[arg(long)]
        dry_run: bool,
        /// Take the group's data in place of this company's (after a
        /// backup): nothing of the file is written, and the group's records
        /// go to --out for the ERP to load
        #[arg(long)]
        replace: bool,
        #[arg(long)]
        backup: Option<PathBuf>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A record's codes: the group's and each company's own (its ERP's)
    Codes { kind: Kind, key: String },
    /// A copy of the whole store (taken between two writes)
    Backup { file: PathBuf },
    /// Put a backup back in place of the store (the node must be stopped)
    Restore { file: PathBuf },
    /// The primary (the company that hands out ID ranges) and its term;
    /// `elo primary elect` runs an election
    Primary {
        #[command(subcommand)]
        command: Option<ids::PrimaryCommand>,
    },
    /// The ID ranges of the group (company, table, from, to, used);
    /// `elo ranges set` gives one by hand at the primary
    Ranges {
        #[command(subcommand)]
        command: Option<ids::RangesCommand>,
    },
    /// Codes from this company's ID ranges (`elo id next TABLE`)
    Id {
        #[command(subcommand)]
        command: ids::IdCommand,
    },
    /// The fields of each kind, with their Portuguese labels
    Fields {
        kind: Option<Kind>,
        /// As a Markdown table (as in the README)
        #[arg(long)]
        markdown: bool,
    },
}

/// mimalloc's `mi_option_purge_delay` (15), which the sys crate does not
/// name: in mimalloc's option list it comes right before
/// `mi_option_use_numa_nodes` (16), which it does.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t =
    libmimalloc_sys::mi_option_use_numa_nodes - 1;

fn main() -> ExitCode {
    // Give freed memory back to the system at once rather than after 10 ms:
    // a node's bursts (a catch-up, a bulk import) then leave no plateau of
    // retained pages (measured: 157 MiB peak RSS with the default, 120 MiB
    // without the delay, same speed).
    // SAFETY: mi_option_set only stores an option value.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    let cli = Cli::parse();
    init_logs(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logs(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,elo_node=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ELO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn data_dir(cli: &Cli) -> Result<DataDir> {
    match &cli.data {
        Some(d) => Ok(DataDir::new(d)),
        None => dirs::data_dir()
            .map(|d| DataDir::new(d.join("elo")))
            .context("no --data given, ELO_DATA unset, and no platform data directory"),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if matches!(cli.command, Command::Demo) {
        demo::run(cli.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let data = data_dir(&cli)?;
    let json_out = cli.json;
    match cli.command {
        Command::Init { company, name } => {
            let (company, group) = data.init(&company, &name)?;
            if json_out {
                print_json(
                    &json!({ "company": company, "group_id": group.id, "data": data.root() }),
                );
            } else {
                println!(
                    "Company {} ({}) created in {}",
                    company.name,
                    company.cnpj,
                    data.root().display()
                );
                println!("It founds group {} and is its primary.", group.id);
                println!("API token: {}", data.token_path().display());
            }
        }
        Command::Put { kind, record, key } => {
            let text = if record == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading standard input")?;
                s
            } else {
                record
            };
            let body: Value = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "malformed JSON at line {}, column {}: {e}",
                    e.line(),
                    e.column()
                )
            })?;
            let access = Access::open(&data)?;
            let record = access.put(kind, key.as_deref(), &body)?;
            show_record(&record, json_out);
        }
        Command::Get { kind, key } => {
            let access = Access::open(&data)?;
            match access.get(kind, &key)? {
                Some(r) => show_record(&r, json_out),
                None => bail!("no {kind} with key {key}"),
            }
        }
        Command::List { kind, after, limit } => {
            let access = Access::open(&data)?;
            let page = access.list(kind, after.as_deref(), limit)?;
            if json_out {
                print_json(&json!({ "records": page.records, "next_after": page.next_after }));
            } else {
                for r in &page.records {
                    println!("{}\t{}", r["id"].as_str().unwrap_or(""), title(r));
                }
                if let Some(next) = page.next_after {
                    println!("… more: elo list {kind} --after '{next}'");
                }
            }
        }
        Command::Delete { kind, key } => {
            let access = Access::open(&data)?;
            let r = access.delete(kind, &key)?;
            if json_out {
                print_json(&r);
            } else {
                println!("deleted {}", r["id"].as_str().unwrap_or(&key));
            }
        }
        Command::History { kind, key } => {
            let access = Access::open(&data)?;
            let Some(h) = access.history(kind, &key)? else {
                bail!("no {kind} with key {key}");
            };
            if json_out {
                print_json(&h);
            } else {
                for e in h["history"].as_array().into_iter().flatten() {
                    let fields: Vec<&str> = e["fields"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    println!(
                        "{}  {}  {}",
                        format_time(e["time_ms"].as_i64().unwrap_or(0)),
                        e["company"].as_str().unwrap_or("?"),
                        fields.join(", ")
                    );
                }
            }
        }
        Command::Import {
            kind,
            file,
            format,
            batch,
        } => {
            transfer::check_file(&file)?;
            let access = Access::open(&data)?;
            let format = format.unwrap_or_else(|| Format::from_path(&file));
            let progress = !json_out && std::io::stderr().is_terminal();
            let report = transfer::import(
                &access,
                kind,
                &file,
                format,
                batch.max(1),
                progress,
                |stored, line| {
                    if json_out {
                        // A committed batch: these rows are on disk.
                        print_json(&json!({ "committed": stored, "through_line": line }));
                    }
                },
            )?;
            if json_out {
                print_json(&transfer::summary_json(&report));
            } else {
                for r in &report.rejected {
                    eprintln!("line {}: {}", r.line, r.message);
                }
                println!(
                    "{} rows: {} stored ({} changed), {} rejected",
                    report.rows,
                    report.stored,
                    report.changed,
                    report.rejected.len()
                );
            }
            access.close()?;
            if !report.rejected.is_empty() {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Export {
            kind,
            format,
            output,
        } => {
            let access = Access::open(&data)?;
            let n = match &output {
                Some(path) => {
                    let tmp = path.with_extension("partial");
                    let mut f = std::io::BufWriter::new(
                        std::fs::File::create(&tmp)
                            .with_context(|| format!("creating {}", tmp.display()))?,
                    );
                    let n = transfer::export(&access, kind, format, &mut f)?;
                    f.flush()?;
                    drop(f);
                    // Only a complete export takes the file's name.
                    std::fs::rename(&tmp, path)
                        .with_context(|| format!("writing {}", path.display()))?;
                    n
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut lock = std::io::BufWriter::new(stdout.lock());
                    let n = transfer::export(&access, kind, format, &mut lock)?;
                    lock.flush()?;
                    n
                }
            };
            if output.is_some() {
                eprintln!("exported {n} {kind} records");
            }
        }
        Command::Changes { since, limit } => {
            let access = Access::open(&data)?;
            let v = access.changes(since, limit)?;
            if json_out {
                print_json(&v);
            } else {
                for c in v["changes"].as_array().into_iter().flatten() {
                    let deleted = if c["deleted"] == true {
                        " (deleted)"
                    } else {
                        ""
                    };
                    println!(
                        "{}\t{}{}",
                        c["seq"],
                        c["id"].as_str().unwrap_or(""),
                        deleted
                    );
                }
            }
        }
        Command::Status => {
            let access = Access::open(&data)?;
            let s = access.status()?;
            if json_out {
                print_json(&s);
            } else {
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
                if access.via_node() {
                    println!(
                        "node:     running, API at {}",
                        s["api"].as_str().unwrap_or("?")
                    );
                } else {
                    println!("node:     not running (start it with `elo node`)");
                }
                print_members(&s);
                print_pending(&s["pending_authorizations"]);
            }
        }
        Command::Node {
            api,
            listen,
            peer,
            no_mdns,
            only_peers,
            offline,
            api_insecure_public,
            id_block_size,
        } => {
            let parse = |v: &[String], what: &str| -> Result<Vec<elo_net::Multiaddr>> {
                v.iter()
                    .map(|a| {
                        a.parse()
                            .with_context(|| format!("{what} {a:?} is not a multiaddress"))
                    })
                    .collect()
            };
            let mesh = if offline {
                None
            } else {
                Some(elo_node::MeshConfig {
                    listen: parse(&listen, "--listen")?,
                    peers: parse(&peer, "--peer")?,
                    mdns: !no_mdns,
                    dial_roster: !only_peers,
                })
            };
            let rt = runtime()?;
            rt.block_on(elo_node::node::run(
                elo_node::node::NodeConfig {
                    data,
                    api,
                    mesh,
                    api_insecure_public,
                    primary: elo_node::primary::PrimarySettings {
                        block_size: id_block_size,
                        offline: false,
                    },
                },
                shutdown_signal(),
                |addr| {
                    if json_out {
                        print_json(&json!({ "api": addr.to_string() }));
                    } else {
                        println!("elo node running; local API at http://{addr} (Ctrl-C stops it)");
                    }
                },
            ))?;
        }
        Command::Fields { kind, markdown } => print_fields(kind, markdown, json_out),
        Command::Invite { ttl_hours, addr } => {
            let access = Access::open(&data)?;
            let v = access.invite(addr, ttl_hours)?;
            if json_out {
                print_json(&v);
            } else {
                println!("{}", v["invite"].as_str().unwrap_or(""));
                eprintln!("Give this line to the new company; it works once, for {ttl_hours} h:");
                eprintln!("  elo join '<invite>' --company CNPJ --name NAME");
            }
        }
        Command::Join {
            invite,
            company,
            name,
        } => {
            let invite = elo_net::invite::Invite::decode(&invite)?;
            let rt = runtime()?;
            let bar = progress_bar(json_out, "receiving the group's data");
            let joined = rt.block_on(elo_node::join::join(
                &data,
                &invite,
                &company,
                &name,
                |latest, at| {
                    bar.set_length(latest);
                    bar.set_position(at);
                },
            ))?;
            bar.finish_and_clear();
            if json_out {
                print_json(
                    &json!({ "company": joined.company, "group": joined.group, "admitted_by": joined.admitted_by,
                    "docs": joined.docs, "seconds": joined.took.as_secs_f64(), "data": data.root() }),
                );
            } else {
                println!(
                    "Joined group {} (admitted by {}); received {} records in {:.1} s.",
                    joined.group,
                    joined.admitted_by,
                    joined.docs,
                    joined.took.as_secs_f64()
                );
                println!(
                    "Start the node with: elo --data {} node",
                    data.root().display()
                );
            }
        }
        Command::Sync { wait: _, timeout } => {
            let access = Access::open(&data)?;
            let bar = progress_bar(json_out, "catching up");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
            loop {
                let s = access.sync_state()?;
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
                    if json_out {
                        print_json(&s);
                    } else {
                        match s["connected"].as_u64().unwrap_or(0) {
                            0 => println!(
                                "no member is reachable now: nothing to catch up with (see `elo status`)"
                            ),
                            n => println!("caught up with {n} connected member(s)"),
                        }
                    }
                    break;
                }
                if std::time::Instant::now() > deadline {
                    bar.finish_and_clear();
                    for p in s["peers"].as_array().into_iter().flatten() {
                        if let Some(err) = p["last_error"].as_str() {
                            eprintln!("{}: {err}", p["company"].as_str().unwrap_or("?"));
                        }
                    }
                    bail!("not caught up after {timeout} s ({behind} changes behind)");
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        // Handled before the data directory is looked up.
        Command::Demo => {}
        Command::Share { send, receive } => {
            let change = if send.is_none() && receive.is_none() {
                PolicyChange::Show
            } else {
                PolicyChange::Share {
                    sends: send,
                    receives: receive,
                }
            };
            show_policy(&Access::open(&data)?.policy(change)?, json_out);
        }
        Command::Authorize { from, categories } => {
            let p = Access::open(&data)?.policy(PolicyChange::Authorize { from, categories })?;
            show_policy(&p, json_out);
        }
        Command::RevokeAuthorization { from } => {
            let p = Access::open(&data)?.policy(PolicyChange::Revoke { from })?;
            show_policy(&p, json_out);
        }
        Command::RemoveCompany { cnpj } => {
            let r = Access::open(&data)?.remove_company(&cnpj)?;
            if json_out {
                print_json(&r);
            } else {
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
                        "NOT reached (they keep the old key and cannot connect until given the new one): {}",
                        names(&r["not_reached"])
                    );
                }
            }
        }
        Command::Credit { command } => business::credit(&Access::open(&data)?, command, json_out)?,
        Command::Stock { sku, own, command } => {
            business::stock(&Access::open(&data)?, sku, own, command, json_out)?
        }
        Command::Adopt {
            kind,
            file,
            rule,
            format,
            dry_run,
            replace,
            backup,
            out,
        } => {
            let args = adopt::AdoptArgs {
                kind,
                file,
                format,
                rule,
                dry_run,
                replace,
                backup,
                out,
            };
            if !adopt::adopt(&Access::open(&data)?, args, json_out)? {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Codes { kind, key } => {
            business::codes(&Access::open(&data)?, kind, &key, json_out)?
        }
        Command::Backup { file } => adopt::backup(&Access::open(&data)?, &file, json_out)?,
        Command::Restore { file } => adopt::restore(&data, &file, json_out)?,
        Command::Primary { command } => ids::primary(&Access::open(&data)?, command, json_out)?,
        Command::Ranges { command } => ids::ranges(&Access::open(&data)?, command, json_out)?,
        Command::Id { command } => ids::id(&Access::open(&data)?, command, json_out)?,
        Command::Restrict { fields } => {
            let fields = fields.into_iter().filter(|f| f != "none").collect();
            let p = Access::open(&data)?.policy(PolicyChange::Restrict { fields })?;
            show_policy(&p, json_out);
        }
        Command::Resync { peer } => {
            let access = Access::open(&data)?;
            let v = access.resync(peer)?;
            if json_out {
                print_json(&v);
            } else {
                println!(
                    "replicating again from scratch with {} member(s)",
                    v["members"]
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a company's sharing policy.
fn show_policy(p: &Value, json_out: bool) {
    if json_out {
        print_json(p);
        return;
    }
    let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
    println!("sends:      {}", text(&p["sends"]));
    println!("receives:   {}", text(&p["receives"]));
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let restricted: Vec<String> = list(&p["restricted"]).iter().map(text).collect();
    println!(
        "restricted: {}",
        if restricted.is_empty() {
            "none".to_string()
        } else {
            restricted.join(",")
        }
    );
    println!("receives from:");
    for a in list(&p["authorized"]) {
        println!(
            "  {} {} ({})",
            text(&a["company"]),
            text(&a["name"]),
            text(&a["categories"])
        );
    }
    print_pending(&p["pending"]);
}

/// Members waiting for this company's authorisation.
fn print_pending(pending: &Value) {
    let Some(list) = pending.as_array().filter(|l| !l.is_empty()) else {
        return;
    };
    println!("pending (they send, this company has not authorised them):");
    for p in list {
        println!(
            "  {} {} offers {}: elo authorize --from {}",
            p["company"].as_str().unwrap_or("?"),
            p["name"].as_str().unwrap_or("?"),
            p["categories"].as_str().unwrap_or("?"),
            p["company"].as_str().unwrap_or("?"),
        );
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
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

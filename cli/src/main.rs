//! `elo`, the command line of an elo company node. Thin: it parses
//! arguments and hands each subcommand to its function in [`commands`];
//! every operation on the records is a request to the node's API
//! ([`client`]: the running node, or its router in this process), and
//! [`output`] prints the answers for people or, with `--json`, for scripts.
//! Exit codes are in [`exit`]: 0 only on success.

mod api;
mod client;
mod commands;
mod exit;
mod logs;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use elo_crdt::Kind;
use elo_node::DataDir;

use commands::rows::Encoding;
use commands::transfer::Format;
use commands::{
    adopt, console, credit, demo, group, orders, primary, records, service, share, stock, transfer,
};

/// mimalloc rather than the system allocator: automerge allocates and frees
/// many small objects per document, and glibc's per-thread arenas kept a
/// node's memory far above what it used (measured: 475 MiB peak RSS during a
/// catch-up of 11,000 documents).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// elo links the companies of a business group: each runs a node, and their
/// ERPs share customers, suppliers, products and more without a central server.
#[derive(Parser)]
#[command(name = "elo", version, propagate_version = true, after_help = exit::HELP)]
struct Cli {
    /// The company's data directory [default: $ELO_DATA, else the platform's data directory]
    #[arg(long, global = true, env = "ELO_DATA")]
    data: Option<PathBuf>,
    /// Print data as JSON, for scripts
    #[arg(long, global = true)]
    json: bool,
    /// More log output (repeat for more; ELO_LOG sets the filter)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// The log's shape: lines for people, or JSON lines for a collector
    #[arg(long, global = true, value_enum, default_value_t)]
    log_format: logs::LogFormat,
    /// Write the log to files of a day each, PATH.YYYY-MM-DD (the last 14
    /// kept), instead of standard error
    #[arg(long, global = true, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// With --log-file: cut the log by size instead, PATH then PATH.1
    /// (newest) to PATH.14, each up to this many megabytes (MiB)
    #[arg(long, global = true, value_name = "MB", requires = "log_file",
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    log_max_size: Option<u64>,
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
        /// The kind of record: customer, supplier, carrier, product, unit, product_group, company
        kind: Kind,
        /// The record's fields as a JSON object, or - to read it from standard input
        #[arg(value_name = "JSON")]
        record: String,
        /// The record's key, when the JSON does not carry it
        #[arg(long)]
        key: Option<String>,
    },
    /// Show a record (KEY: CPF/CNPJ with or without punctuation, SKU, code)
    Get {
        /// The kind of record
        kind: Kind,
        /// CPF/CNPJ (with or without punctuation), SKU, unit or group code, or erp:CODE
        key: String,
    },
    /// List records of a kind
    List {
        /// The kind of record
        kind: Kind,
        /// Start after this key
        #[arg(long)]
        after: Option<String>,
        /// How many to show
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Delete a record (the deletion replicates)
    Delete {
        /// The kind of record
        kind: Kind,
        /// CPF/CNPJ (with or without punctuation), SKU, unit or group code, or erp:CODE
        key: String,
    },
    /// Who changed which fields of a record, and when
    History {
        /// The kind of record
        kind: Kind,
        /// CPF/CNPJ (with or without punctuation), SKU, unit or group code, or erp:CODE
        key: String,
    },
    /// Import records from CSV (header row of field names) or JSON lines
    Import {
        /// The kind of record the file holds
        kind: Kind,
        /// The file: CSV (`,` `;` or tab between fields, detected) or JSON lines
        file: PathBuf,
        /// File format [default: from the extension; .csv is CSV, else JSON lines]
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// The file's character encoding [default: UTF-8, or Windows-1252
        /// (what Excel writes in pt-BR) when the file is not UTF-8]
        #[arg(long, value_enum)]
        encoding: Option<Encoding>,
        /// Rows stored per transaction
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
    /// Export every record of a kind
    Export {
        /// The kind of record to export
        kind: Kind,
        /// File format [default: from --output's extension (.csv is CSV), else JSON lines]
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Write to this file instead of standard output
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// The change feed: records changed after a sequence number
    Changes {
        /// Only changes after this sequence number
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// How many changes to show
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// This company, its group and its store
    Status,
    /// Run the node in the foreground: the local API and replication with
    /// the other members (Ctrl-C stops it)
    Node(group::NodeArgs),
    /// Make a one-time invite (one line) for a new company
    Invite {
        /// Hours until the invite expires (1 to 720)
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=720))]
        ttl_hours: u64,
        /// Address to put in the invite instead of the node's own, a
        /// multiaddress such as /ip4/10.0.0.5/tcp/4712 (repeat)
        #[arg(long)]
        addr: Vec<String>,
    },
    /// Join a group with an invite from one of its members
    Join {
        /// The invite line (elo-invite:…) made by `elo invite` at a member
        invite: String,
        /// This company's CNPJ
        #[arg(long)]
        company: String,
        /// This company's name
        #[arg(long)]
        name: String,
    },
    /// Three companies on this machine syncing: see elo at work in a minute
    /// (in temporary folders, removed at the end; with --data DIR, in DIR,
    /// kept)
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
        /// What this company sends: all, none, or a comma-separated list of categories
        #[arg(long)]
        send: Option<String>,
        /// What this company receives: all, none, or a comma-separated list of categories
        #[arg(long)]
        receive: Option<String>,
    },
    /// Take in the records another company creates (seed 002's pair
    /// authorisation). Every member is taken in by default; this undoes
    /// `revoke-authorization` or limits the categories
    Authorize {
        /// The creating company's CNPJ, or `*` for every member not named
        #[arg(long)]
        from: String,
        /// Which categories (default all)
        #[arg(long, default_value = "all")]
        categories: String,
    },
    /// Keep out the records another company creates: they are held back
    /// whole (with every edit anyone made to them) and listed in
    /// `elo status` as withheld; edits it makes to other records still
    /// arrive, as part of those records
    RevokeAuthorization {
        /// The creating company's CNPJ
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
        /// The fields, comma-separated, or none
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
        command: credit::CreditCommand,
    },
    /// A SKU's stock at every company and the group total (`elo stock SKU`);
    /// `elo stock set` publishes this company's figures
    #[command(args_conflicts_with_subcommands = true)]
    Stock {
        /// The product's SKU
        sku: Option<String>,
        /// Only this company's figures
        #[arg(long)]
        own: bool,
        #[command(subcommand)]
        command: Option<stock::StockCommand>,
    },
    /// Match a file of this company's existing records with the group's:
    /// report matched, new and conflicting, write only the new ones, never a
    /// duplicate
    Adopt(adopt::AdoptArgs),
    /// A record's codes: the group's and each company's own (its ERP's)
    Codes {
        /// The kind of record
        kind: Kind,
        /// CPF/CNPJ (with or without punctuation), SKU, unit or group code, or erp:CODE
        key: String,
    },
    /// A copy of the whole store (taken between two writes)
    Backup {
        /// Where to write the copy (a file that does not exist yet)
        file: PathBuf,
    },
    /// Put a backup back in place of the store (the node must be stopped)
    Restore {
        /// The backup file made by `elo backup`
        file: PathBuf,
    },
    /// Write every record that can still be read from a damaged store, as
    /// JSON lines (the store is only read)
    Salvage {
        /// The new file to write (never replaced)
        #[arg(long)]
        out: PathBuf,
    },
    /// The primary (the company that hands out ID ranges) and its term;
    /// `elo primary elect` runs an election
    Primary {
        #[command(subcommand)]
        command: Option<primary::PrimaryCommand>,
    },
    /// The ID ranges of the group (company, table, from, to, used);
    /// `elo ranges set` gives one by hand at the primary
    Ranges {
        #[command(subcommand)]
        command: Option<primary::RangesCommand>,
    },
    /// Codes from this company's ID ranges (`elo id next TABLE`)
    Id {
        #[command(subcommand)]
        command: primary::IdCommand,
    },
    /// A one-time link that logs a browser into the node's console (opened
    /// where a desktop exists)
    Console {
        /// Print the link only, do not open a browser
        #[arg(long)]
        no_open: bool,
    },
    /// Sales orders: create, list, send to another company, invoice,
    /// cancel (`elo orders --help`)
    Orders {
        #[command(subcommand)]
        command: orders::OrdersCommand,
    },
    /// Run the node as a systemd service (`elo service install`), or
    /// remove it
    Service {
        #[command(subcommand)]
        command: service::ServiceCommand,
    },
    /// The fields of each kind, with their Portuguese labels
    Fields {
        /// Only this kind, or `order` [default: every kind of record]
        kind: Option<records::FieldsOf>,
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
    // Known before parsing, so that a command line clap refuses is
    // reported as JSON too when --json was asked.
    let json_out = std::env::args_os().any(|a| a == "--json");
    let (cli, demo_dir) = match parse() {
        Ok(parsed) => parsed,
        Err(e) => return exit::usage(&e, json_out),
    };
    if !matches!(cli.command, Command::Node(_)) {
        end_quietly_on_a_closed_pipe();
    }
    let json_out = cli.json;
    let log_files = cli.log_file.as_deref().map(|path| logs::LogFiles {
        path,
        max_mb: cli.log_max_size,
    });
    if let Err(e) = logs::init(cli.verbose, cli.log_format, log_files) {
        return exit::failed(&e, json_out);
    }
    match run(cli, demo_dir) {
        Ok(code) => code,
        Err(e) => exit::failed(&e, json_out),
    }
}

/// The command line, and the folder given for `elo demo` with --data on
/// the command line itself (ELO_DATA names the company's data directory,
/// which the demo never touches).
fn parse() -> Result<(Cli, Option<PathBuf>), clap::Error> {
    let matches = Cli::command().try_get_matches()?;
    let given_here = matches.value_source("data") == Some(clap::parser::ValueSource::CommandLine);
    let cli = Cli::from_arg_matches(&matches)?;
    let demo_dir = match (&cli.command, given_here) {
        (Command::Demo, true) => cli.data.clone(),
        _ => None,
    };
    Ok((cli, demo_dir))
}

/// A command whose output goes to a reader that stops (`elo list | head`)
/// ends as other command-line tools do, without a panic: the default
/// action of SIGPIPE, which Rust programs otherwise ignore. Not for
/// `elo node`, whose sockets must outlive any one peer.
fn end_quietly_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default before any
    // thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn data_dir(data: Option<PathBuf>) -> Result<DataDir> {
    match data {
        Some(d) => Ok(DataDir::new(d)),
        None => dirs::data_dir()
            .map(|d| DataDir::new(d.join("elo")))
            .context("no --data given, ELO_DATA unset, and no platform data directory"),
    }
}

/// One line per subcommand: its function in `commands`.
fn run(cli: Cli, demo_dir: Option<PathBuf>) -> Result<ExitCode> {
    let json = cli.json;
    // The demo makes its own data directories: no --data needed.
    if matches!(cli.command, Command::Demo) {
        return done(demo::run(demo_dir, json));
    }
    // A service's data directory defaults to the system's, not the user's.
    let given_data = cli.data.clone();
    let data = &data_dir(cli.data)?;
    match cli.command {
        Command::Init { company, name } => done(group::init(data, &company, &name, json)),
        Command::Put { kind, record, key } => done(records::put(data, kind, record, key, json)),
        Command::Get { kind, key } => done(records::get(data, kind, &key, json)),
        Command::List { kind, after, limit } => done(records::list(data, kind, after, limit, json)),
        Command::Delete { kind, key } => done(records::delete(data, kind, &key, json)),
        Command::History { kind, key } => done(records::history(data, kind, &key, json)),
        Command::Import {
            kind,
            file,
            format,
            encoding,
            batch,
        } => {
            let how = transfer::ImportFile {
                path: file,
                format,
                encoding,
                batch,
            };
            transfer::import(data, kind, &how, json)
        }
        Command::Export {
            kind,
            format,
            output,
        } => done(transfer::export(data, kind, format, output, json)),
        Command::Changes { since, limit } => done(records::changes(data, since, limit, json)),
        Command::Status => done(group::status(data, json)),
        Command::Node(args) => done(group::node(data.clone(), args, json)),
        Command::Fields { kind, markdown } => done(records::fields(kind, markdown, json)),
        Command::Invite { ttl_hours, addr } => done(group::invite(data, ttl_hours, addr, json)),
        Command::Join {
            invite,
            company,
            name,
        } => done(group::join(data, &invite, &company, &name, json)),
        Command::Sync { wait: _, timeout } => done(group::sync(data, timeout, json)),
        Command::Demo => done(demo::run(demo_dir, json)),
        Command::Share { send, receive } => done(share::share(data, send, receive, json)),
        Command::Authorize { from, categories } => {
            done(share::authorize(data, from, categories, json))
        }
        Command::RevokeAuthorization { from } => done(share::revoke(data, from, json)),
        Command::RemoveCompany { cnpj } => done(group::remove_company(data, &cnpj, json)),
        Command::Credit { command } => done(credit::credit(data, command, json)),
        Command::Stock { sku, own, command } => done(stock::stock(data, sku, own, command, json)),
        Command::Orders { command } => done(orders::orders(data, command, json)),
        Command::Console { no_open } => done(console::console(data, no_open, json)),
        Command::Adopt(args) => adopt::adopt(data, args, json),
        Command::Codes { kind, key } => done(records::codes(data, kind, &key, json)),
        Command::Backup { file } => done(adopt::backup(data, &file, json)),
        Command::Restore { file } => done(adopt::restore(data, &file, json)),
        Command::Salvage { out } => done(adopt::salvage(data, &out, json)),
        Command::Primary { command } => done(primary::primary(data, command, json)),
        Command::Ranges { command } => done(primary::ranges(data, command, json)),
        Command::Id { command } => done(primary::id(data, command, json)),
        Command::Restrict { fields } => done(share::restrict(data, fields, json)),
        Command::Resync { peer } => done(group::resync(data, peer, json)),
        Command::Service { command } => done(service::service(given_data, command, json)),
    }
}

/// A command that succeeded exits 0.
fn done(result: Result<()>) -> Result<ExitCode> {
    result.map(|()| ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every command, at every depth, says what it is
    /// in `--help`: a person at the terminal has nothing else to go by.
    #[test]
    fn every_argument_has_a_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (the command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "elo", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    #[test]
    fn help_lists_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        for code in ["0  success", "2  bad command line", "3  some rows"] {
            assert!(help.contains(code), "{help}");
        }
    }
}

//! `elo primary`, `elo ranges` and `elo id`: the primary and the ID ranges.
//! Showing them and drawing codes work on the store when no node runs (the
//! primary task works from the blocks already held); an election and a
//! range given by hand need the running node, which reaches the members.

use anyhow::{Result, anyhow};
use clap::Subcommand;
use serde_json::{Value, json};

use elo_node::DataDir;

use crate::api;
use crate::client::Client;
use crate::output::{cell, print_json};

#[derive(Subcommand, Debug)]
pub enum PrimaryCommand {
    /// Run an election with a new term; a candidate needs a majority of the
    /// roster. Without --candidate, this company stands.
    Elect {
        /// The company to elect (CNPJ)
        #[arg(long)]
        candidate: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RangesCommand {
    /// Give a range of codes of a table to a company, by hand (at the
    /// primary; a range overlapping any other is refused)
    Set {
        /// The company given the range (CNPJ)
        #[arg(long)]
        company: String,
        /// The table whose codes the range holds (customer, supplier, carrier, product, …)
        #[arg(long)]
        table: String,
        /// The range's first code
        #[arg(long)]
        from: i64,
        /// The range's last code (included)
        #[arg(long)]
        to: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum IdCommand {
    /// The next code of TABLE from this company's blocks
    Next {
        /// The table (customer, supplier, carrier, product, …)
        table: String,
        /// How many codes
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
}

const WHY: &str = "which holds the election state and reaches the members";

pub fn primary(data: &DataDir, command: Option<PrimaryCommand>, json_out: bool) -> Result<()> {
    let client = Client::open(data)?;
    let view = match command {
        None => client.send("GET", "/v1/primary", None)?,
        Some(PrimaryCommand::Elect { candidate }) => {
            let candidate = candidate
                .map(|c| elo_crdt::ident::cnpj(&c).map_err(|e| anyhow!("--candidate: {e}")))
                .transpose()?;
            let body = json!({ "candidate": candidate });
            api::node_request(&client, "POST", "/v1/primary/elect", Some(&body), WHY)?
        }
    };
    if json_out {
        print_json(&view);
        return Ok(());
    }
    match view["primary"]["company"].as_str() {
        Some(company) => println!(
            "primary: {company} (term {}){}",
            view["primary"]["term"],
            if view["acting"] == true {
                ", this company"
            } else {
                ""
            }
        ),
        None => println!("no primary known yet: run `elo primary elect`"),
    }
    println!(
        "highest term seen here: {}; members: {}",
        view["current_term"], view["members"]
    );
    Ok(())
}

pub fn ranges(data: &DataDir, command: Option<RangesCommand>, json_out: bool) -> Result<()> {
    let client = Client::open(data)?;
    match command {
        None => {
            let v = client.send("GET", "/v1/ranges", None)?;
            if json_out {
                print_json(&v);
                return Ok(());
            }
            show_ranges(&v);
        }
        Some(RangesCommand::Set {
            company,
            table,
            from,
            to,
        }) => {
            let company = elo_crdt::ident::cnpj(&company).map_err(|e| anyhow!("--company: {e}"))?;
            let body = json!({ "company": company, "table": table, "from": from, "to": to });
            let v = api::node_request(&client, "POST", "/v1/ranges", Some(&body), WHY)?;
            if json_out {
                print_json(&v);
            } else {
                println!(
                    "range {}..={} of {} given to {} (term {}), stored by a majority",
                    v["from"],
                    v["to"],
                    v["table"].as_str().unwrap_or("?"),
                    v["company"].as_str().unwrap_or("?"),
                    v["term"]
                );
            }
        }
    }
    Ok(())
}

pub fn id(data: &DataDir, command: IdCommand, json_out: bool) -> Result<()> {
    let client = Client::open(data)?;
    let IdCommand::Next { table, count } = command;
    let path = format!("/v1/ids/{table}/next?count={count}");
    let v: Value = client.send("POST", &path, None)?;
    if json_out {
        print_json(&v);
    } else {
        for code in v["codes"].as_array().into_iter().flatten() {
            println!("{code}");
        }
    }
    Ok(())
}

/// The ranges as a table, one row per range.
fn show_ranges(v: &Value) {
    let rows = v["ranges"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        println!("no ranges yet");
        return;
    }
    println!(
        "{:<16} {:<14} {:>12} {:>12} {:>10} {:>5}  state",
        "company", "table", "from", "to", "used", "term"
    );
    for r in rows {
        println!(
            "{:<16} {:<14} {:>12} {:>12} {:>10} {:>5}  {}",
            cell(&r["company"]),
            cell(&r["table"]),
            cell(&r["from"]),
            cell(&r["to"]),
            cell(&r["used"]),
            cell(&r["term"]),
            if r["committed"] == true {
                "committed"
            } else {
                "proposed"
            }
        );
    }
}

//! `elo stock`: a SKU's stock at every company and the group total, this
//! company's figures, and whether they count in the totals.

use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use elo_node::DataDir;
use serde_json::{Value, json};

use crate::api;
use crate::client::Client;
use crate::output::print_json;

#[derive(Subcommand, Debug)]
pub enum StockCommand {
    /// Set this company's figures for a SKU
    Set {
        /// The product's SKU
        sku: String,
        /// The quantity on hand at this company (a decimal: 10, 2.5, 1.500,5)
        quantity: String,
        /// Of which reserved (sold, not yet delivered)
        #[arg(long)]
        reserved: Option<String>,
        /// The deposit, where the company has several
        #[arg(long)]
        deposit: Option<String>,
    },
    /// Whether this company's stock counts in the group totals
    /// ("considerar estoque desta empresa")
    Consider {
        /// yes: this company's stock counts in the totals; no: it does not
        #[arg(value_parser = ["yes", "no"])]
        answer: String,
    },
}

pub fn stock(
    data: &DataDir,
    sku: Option<String>,
    own: bool,
    command: Option<StockCommand>,
    json_out: bool,
) -> Result<()> {
    let client = Client::open(data)?;
    match command {
        Some(StockCommand::Set {
            sku,
            quantity,
            reserved,
            deposit,
        }) => {
            let row = json!({ "sku": sku, "quantity": quantity,
                "reserved": reserved, "deposit": deposit });
            set(&client, row, json_out)
        }
        Some(StockCommand::Consider { answer }) => consider(&client, answer == "yes", json_out),
        None => {
            let sku = sku.ok_or_else(|| anyhow!("name a SKU: elo stock SKU"))?;
            let view = api::stock(&client, &sku, own)?;
            if json_out {
                print_json(&view);
            } else {
                show_stock(&view);
            }
            Ok(())
        }
    }
}

/// `elo stock set SKU QUANTITY`: this company's figures for a SKU.
fn set(client: &Client, row: Value, json_out: bool) -> Result<()> {
    let report = api::set_stock(client, vec![row])?;
    if let Some(bad) = report["rejected"].as_array().and_then(|r| r.first()) {
        bail!("{}", bad["message"].as_str().unwrap_or("refused"));
    }
    if json_out {
        print_json(&report);
    } else {
        println!("stored");
    }
    Ok(())
}

/// `elo stock consider yes|no`: whether this company's stock counts in
/// the group totals (a field of its own company record).
fn consider(client: &Client, yes: bool, json_out: bool) -> Result<()> {
    let body = json!({ "consider_stock": yes });
    let me = api::status(client)?["company"]["cnpj"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let company = api::put(client, elo_crdt::Kind::Company, Some(&me), &body)?;
    if json_out {
        print_json(&json!({ "company": me, "consider_stock": company["consider_stock"] }));
    } else {
        println!(
            "this company's stock {} in the group totals",
            if yes { "counts" } else { "does not count" }
        );
    }
    Ok(())
}

fn show_stock(view: &Value) {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    println!(
        "{:<16} {:>14} {:>14} {:>14}  counted",
        "company", "quantity", "reserved", "available"
    );
    for c in view["companies"].as_array().into_iter().flatten() {
        println!(
            "{:<16} {:>14} {:>14} {:>14}  {}",
            text(&c["company"]),
            text(&c["quantity"]),
            text(&c["reserved"]),
            text(&c["available"]),
            if c["counted"] == true { "yes" } else { "no" }
        );
    }
    let t = &view["total"];
    println!(
        "{:<16} {:>14} {:>14} {:>14}",
        "group total",
        text(&t["quantity"]),
        text(&t["reserved"]),
        text(&t["available"])
    );
    if view["kit"].is_object() {
        show_kit(&view["kit"]);
    }
}

/// A kit's line: assembled kits, and how many its components would make.
fn show_kit(kit: &Value) {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    println!(
        "kit: {} assembled across the group; the group's components make {}",
        kit["assembled"].as_str().unwrap_or("-"),
        kit["from_components"].as_str().unwrap_or("-")
    );
    for c in kit["components"].as_array().into_iter().flatten() {
        println!(
            "  {} x {}: {} available, enough for {}",
            text(&c["per_kit"]),
            text(&c["sku"]),
            text(&c["available"]),
            text(&c["kits"])
        );
    }
}

//! `elo credit` and `elo stock`: the business features that sit on records.

use anyhow::Result;
use clap::Subcommand;
use elo_node::credit::{self, CreditChange};
use serde_json::Value;

use crate::access::Access;
use crate::show::print_json;

#[derive(Subcommand, Debug)]
pub enum CreditCommand {
    /// Limit, used (by company) and available credit of a customer
    Show { customer: String },
    /// A purchase on credit at this company: used goes up
    Charge { customer: String, amount: String },
    /// A payment at this company: used goes down
    Release { customer: String, amount: String },
    /// Escrow mode for the group (at the founding company): each company
    /// holds part of every customer's credit and never charges beyond it
    Escrow {
        #[arg(value_parser = ["on", "off"])]
        mode: String,
    },
}

/// `elo codes KIND KEY`: the group's code of a record and each company's.
pub fn codes(access: &Access, kind: elo_crdt::Kind, key: &str, json_out: bool) -> Result<()> {
    let record = access
        .get(kind, key)?
        .ok_or_else(|| anyhow::anyhow!("no {kind} {key}"))?;
    let v = serde_json::json!({ "id": record["id"], "code": record["code"],
        "codes": record.get("codes").cloned().unwrap_or(serde_json::json!({})) });
    if json_out {
        print_json(&v);
        return Ok(());
    }
    println!("{}", v["id"].as_str().unwrap_or(key));
    println!("  group code: {}", v["code"]);
    for (company, code) in v["codes"].as_object().into_iter().flatten() {
        println!("  code at {company}: {}", code.as_str().unwrap_or("-"));
    }
    Ok(())
}

pub fn credit(access: &Access, command: CreditCommand, json_out: bool) -> Result<()> {
    let (customer, change) = match command {
        CreditCommand::Escrow { mode } => {
            let v = access.credit_escrow(mode == "on")?;
            if json_out {
                print_json(&v);
            } else if mode == "on" {
                println!(
                    "escrow mode on: rights created for {} customers and shared among {} companies",
                    v["customers"], v["members"]
                );
            } else {
                println!("escrow mode off");
            }
            return Ok(());
        }
        CreditCommand::Show { customer } => (customer, None),
        CreditCommand::Charge { customer, amount } => (
            customer,
            Some(CreditChange::Charge(credit::parse_amount(&amount)?)),
        ),
        CreditCommand::Release { customer, amount } => (
            customer,
            Some(CreditChange::Release(credit::parse_amount(&amount)?)),
        ),
    };
    let view = access.credit(&customer, change)?;
    if json_out {
        print_json(&view);
        return Ok(());
    }
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    println!("customer:  {}", text(&view["customer"]));
    println!("limit:     {}", text(&view["limit"]));
    println!("used:      {}", text(&view["used"]));
    println!("available: {}", text(&view["available"]));
    if let Some(by) = view["by_company"].as_object() {
        for (company, used) in by {
            println!("  used at {company}: {}", text(used));
        }
    }
    if let Some(rights) = view["rights"].as_object() {
        for (company, holds) in rights {
            println!("  escrow rights held at {company}: {}", text(holds));
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum StockCommand {
    /// Set this company's figures for a SKU
    Set {
        sku: String,
        quantity: String,
        #[arg(long)]
        reserved: Option<String>,
        /// The deposit, where the company has several
        #[arg(long)]
        deposit: Option<String>,
    },
    /// Whether this company's stock counts in the group totals
    /// ("considerar estoque desta empresa")
    Consider {
        #[arg(value_parser = ["yes", "no"])]
        answer: String,
    },
}

pub fn stock(
    access: &Access,
    sku: Option<String>,
    own: bool,
    command: Option<StockCommand>,
    json_out: bool,
) -> Result<()> {
    match command {
        Some(StockCommand::Set {
            sku,
            quantity,
            reserved,
            deposit,
        }) => {
            let row = serde_json::json!({ "sku": sku, "quantity": quantity,
                "reserved": reserved, "deposit": deposit });
            let report = access.set_stock(vec![row])?;
            if let Some(bad) = report["rejected"].as_array().and_then(|r| r.first()) {
                anyhow::bail!("{}", bad["message"].as_str().unwrap_or("refused"));
            }
            if json_out {
                print_json(&report);
            } else {
                println!("stored");
            }
            Ok(())
        }
        Some(StockCommand::Consider { answer }) => {
            let body = serde_json::json!({ "consider_stock": answer == "yes" });
            let me = access.status()?["company"]["cnpj"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            access.put(elo_crdt::Kind::Company, Some(&me), &body)?;
            if !json_out {
                println!(
                    "this company's stock {} in the group totals",
                    if answer == "yes" {
                        "counts"
                    } else {
                        "does not count"
                    }
                );
            }
            Ok(())
        }
        None => {
            let sku = sku.ok_or_else(|| anyhow::anyhow!("name a SKU: elo stock SKU"))?;
            let view = access.stock(&sku, own)?;
            if json_out {
                print_json(&view);
                return Ok(());
            }
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
            if let Some(kit) = view["kit"].as_object() {
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
            Ok(())
        }
    }
}

//! `elo credit`: a customer's credit shared by the group (limit, used at
//! each company, available), charges and releases, and escrow mode.

use anyhow::Result;
use clap::Subcommand;
use elo_node::DataDir;
use elo_node::credit::{self, CreditChange};
use serde_json::Value;

use crate::api;
use crate::client::Client;
use crate::output::print_json;

#[derive(Subcommand, Debug)]
pub enum CreditCommand {
    /// Limit, used (by company) and available credit of a customer
    Show {
        /// The customer's CPF/CNPJ (with or without punctuation) or group code
        customer: String,
    },
    /// A purchase on credit at this company: used goes up
    Charge {
        /// The customer's CPF/CNPJ (with or without punctuation) or group code
        customer: String,
        /// The amount (150.00, 1500.50 or 1.500,50)
        amount: String,
    },
    /// A payment at this company: used goes down
    Release {
        /// The customer's CPF/CNPJ (with or without punctuation) or group code
        customer: String,
        /// The amount (150.00, 1500.50 or 1.500,50)
        amount: String,
    },
    /// Escrow mode for the group (at the founding company): each company
    /// holds part of every customer's credit and never charges beyond it
    Escrow {
        /// on or off
        #[arg(value_parser = ["on", "off"])]
        mode: String,
    },
}

pub fn credit(data: &DataDir, command: CreditCommand, json_out: bool) -> Result<()> {
    let (customer, change) = match command {
        CreditCommand::Escrow { mode } => return escrow(data, mode == "on", json_out),
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
    let client = Client::open(data)?;
    let customer = api::record_key(&client, elo_crdt::Kind::Customer, &customer)?;
    let view = api::credit(&client, &customer, change)?;
    if json_out {
        print_json(&view);
    } else {
        show_credit(&view);
    }
    Ok(())
}

/// `elo credit escrow on|off`, at the founding company.
fn escrow(data: &DataDir, on: bool, json_out: bool) -> Result<()> {
    let v = api::credit_escrow(&Client::open(data)?, on)?;
    if json_out {
        print_json(&v);
    } else if on {
        println!(
            "escrow mode on: rights created for {} customers and shared among {} companies",
            v["customers"], v["members"]
        );
    } else {
        println!("escrow mode off");
    }
    Ok(())
}

fn show_credit(view: &Value) {
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
}

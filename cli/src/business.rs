//! `elo credit`: the business features that sit on records.

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
}

pub fn credit(access: &Access, command: CreditCommand, json_out: bool) -> Result<()> {
    let (customer, change) = match command {
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
    Ok(())
}

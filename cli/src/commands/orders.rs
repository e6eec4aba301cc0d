//! `elo orders`: sales orders, this company's own and those it sent to or
//! received from another company; sending, invoicing and cancelling them.

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use elo_node::DataDir;
use serde_json::{Value, json};

use crate::api;
use crate::client::Client;
use crate::output::{cell, print_json};

#[derive(Subcommand, Debug)]
pub enum OrdersCommand {
    /// Create an order from JSON (or - for standard input); `elo orders
    /// fields` lists what it may carry
    Create {
        /// The order as JSON: date, customer, items, delivery, …
        #[arg(value_name = "JSON")]
        order: String,
    },
    /// Show one order, its link, its invoice and its conflicts
    Show {
        /// The order's key here (its number)
        key: String,
    },
    /// List orders
    List {
        /// Only this status (open, approved, invoiced, …)
        #[arg(long)]
        status: Option<String>,
        /// Only those sent, received, or this company's own
        #[arg(long, value_parser = ["sent", "received", "own"])]
        direction: Option<String>,
        /// Start after this key
        #[arg(long)]
        after: Option<String>,
        /// How many to show
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Change some fields of an order (JSON); a linked order's change
    /// reaches the other company
    Edit {
        /// The order's key here
        key: String,
        /// The fields to change, as JSON
        #[arg(value_name = "JSON")]
        change: String,
    },
    /// Send an order to another company of the group, which fulfils and
    /// invoices it
    Send {
        /// The order's key here
        key: String,
        /// The destination company's CNPJ [default: where the rules route
        /// the order by its delivery UF and channel]
        #[arg(long)]
        to: Option<String>,
    },
    /// Which company of the group can fulfil which lines, from the group's
    /// stock; with --apply, send each part to its company
    Split {
        /// The order's key here
        key: String,
        /// Make each part its own order and send it
        #[arg(long)]
        apply: bool,
    },
    /// This company's order settings; with --set, replace them (JSON)
    Settings {
        /// The settings as JSON: cancel_at_origin, use_destination_default_nature,
        /// default_nature, natures, send_automatically, …
        #[arg(long, value_name = "JSON")]
        set: Option<String>,
    },
    /// The rules that route orders to other companies
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Report the NF-e this company issued for an order (at the destination)
    Invoice {
        /// The order's key here
        key: String,
        /// The NF-e number (nNF)
        #[arg(long)]
        number: u32,
        /// The NF-e series
        #[arg(long)]
        series: u32,
        /// The 44-digit access key (chave de acesso)
        #[arg(long = "key", value_name = "ACCESS_KEY")]
        access_key: String,
        /// The date of issue, YYYY-MM-DD
        #[arg(long)]
        issued_at: String,
        /// A line this NF-e covers, whole (`2`) or in part (`2:1,5`);
        /// repeat for several [default: everything not invoiced yet]
        #[arg(long = "line", value_name = "LINE[:QUANTITY]")]
        lines: Vec<String>,
    },
    /// Send the invoice data held here (order settings' send_fiscal_data
    /// off) to the order's origin
    SendFiscal {
        /// The order's key here
        key: String,
    },
    /// Cancel an order (and the linked one at the other company)
    Cancel {
        /// The order's key here
        key: String,
        /// Why, as the other company will read it
        #[arg(long)]
        reason: String,
        /// The order's NF-e was cancelled at SEFAZ (needed once invoiced)
        #[arg(long)]
        nfe_cancelled: bool,
    },
    /// The fields of an order, with their Portuguese labels
    Fields,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Every rule, and whether its destination is still a member
    List,
    /// Add a rule: orders delivered to these UFs, from these channels, go
    /// to this company (automatically at this status)
    Add(RuleArgs),
    /// Replace a rule
    Edit {
        /// The rule's id (from `elo orders rules list`)
        id: u64,
        #[command(flatten)]
        rule: RuleArgs,
    },
    /// Copy a rule (to edit the copy)
    Clone {
        /// The rule's id
        id: u64,
    },
    /// Delete a rule
    Delete {
        /// The rule's id
        id: u64,
    },
}

#[derive(clap::Args, Debug)]
pub struct RuleArgs {
    /// The destination company's CNPJ
    #[arg(long)]
    to: String,
    /// Delivery UFs the rule takes, comma-separated [default: any]
    #[arg(long, value_delimiter = ',')]
    states: Vec<String>,
    /// Sales channel ids the rule takes, comma-separated; `none` for
    /// orders of no channel (PDV, API) [default: any]
    #[arg(long, value_delimiter = ',')]
    channels: Vec<String>,
    /// The status that sends an order automatically
    #[arg(long, default_value = "approved")]
    status: String,
}

impl RuleArgs {
    fn to_json(&self) -> Value {
        json!({"to": self.to, "states": self.states, "channels": self.channels, "status": self.status})
    }
}

pub fn orders(data: &DataDir, command: OrdersCommand, json_out: bool) -> Result<()> {
    // Opened by the commands that ask the node (`fields` does not).
    let client = || Client::open(data);
    let answer = match command {
        OrdersCommand::Fields => {
            fields(json_out);
            return Ok(());
        }
        OrdersCommand::Create { order } => api::create_order(&client()?, &json_arg(&order)?)?,
        OrdersCommand::Show { key } => {
            api::order(&client()?, &key)?.ok_or_else(|| anyhow!("no order {key}"))?
        }
        OrdersCommand::List {
            status,
            direction,
            after,
            limit,
        } => {
            let page = api::orders(
                &client()?,
                status.as_deref(),
                direction.as_deref(),
                after.as_deref(),
                limit,
            )?;
            if json_out {
                print_json(&page);
            } else {
                print_list(&page);
            }
            return Ok(());
        }
        OrdersCommand::Edit { key, change } => {
            api::edit_order(&client()?, &key, &json_arg(&change)?)?
        }
        OrdersCommand::Split { key, apply } => {
            let answer = api::order_action(&client()?, &key, "split", &json!({ "apply": apply }))?;
            if json_out || apply {
                print_json(&answer);
            } else {
                print_split(&answer["proposal"]);
            }
            return Ok(());
        }
        OrdersCommand::Settings { set } => match set {
            Some(text) => api::set_order_settings(&client()?, &json_arg(&text)?)?,
            None => api::order_settings(&client()?)?,
        },
        OrdersCommand::Rules { command } => {
            let answer = rules(&client()?, command)?;
            if json_out {
                print_json(&answer);
            } else {
                print_rules(&answer);
            }
            return Ok(());
        }
        OrdersCommand::Send { key, to } => {
            let answer = api::order_action(&client()?, &key, "send", &json!({ "to": to }))?;
            if !json_out {
                let link = &answer["link"];
                println!(
                    "order {key} sent to {} (link {}); it is delivered when the two nodes are connected",
                    cell(&link["destination"]),
                    cell(&link["id"])
                );
                return Ok(());
            }
            answer
        }
        OrdersCommand::Invoice {
            key,
            number,
            series,
            access_key,
            issued_at,
            lines,
        } => {
            let items = lines
                .iter()
                .map(|l| invoiced_line(l))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let body = json!({ "number": number, "series": series,
                "access_key": access_key, "issued_at": issued_at, "items": items });
            api::order_action(&client()?, &key, "invoice", &body)?
        }
        OrdersCommand::SendFiscal { key } => {
            api::order_action(&client()?, &key, "fiscal", &json!({}))?
        }
        OrdersCommand::Cancel {
            key,
            reason,
            nfe_cancelled,
        } => {
            let body = json!({ "reason": reason, "nfe_cancelled": nfe_cancelled });
            api::order_action(&client()?, &key, "cancel", &body)?
        }
    };
    if json_out || answer.get("key").is_none() {
        print_json(&answer);
    } else {
        print_order(&answer);
    }
    Ok(())
}

fn rules(client: &Client, command: RulesCommand) -> Result<Value> {
    match command {
        RulesCommand::List => api::order_rules(client),
        RulesCommand::Add(rule) => {
            api::change_order_rule(client, "POST", "", Some(&rule.to_json()))
        }
        RulesCommand::Edit { id, rule } => {
            api::change_order_rule(client, "PUT", &format!("/{id}"), Some(&rule.to_json()))
        }
        RulesCommand::Clone { id } => {
            api::change_order_rule(client, "POST", &format!("/{id}/clone"), Some(&json!({})))
        }
        RulesCommand::Delete { id } => {
            api::change_order_rule(client, "DELETE", &format!("/{id}"), None)
        }
    }
}

fn print_rules(answer: &Value) {
    let Some(rules) = answer["rules"].as_array() else {
        // One rule added, edited or cloned; or a deletion.
        println!("{answer}");
        return;
    };
    if rules.is_empty() {
        println!("no rules");
    }
    for r in rules {
        let list = |v: &Value| {
            let items: Vec<&str> = v
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if items.is_empty() {
                "any".to_string()
            } else {
                items.join(",")
            }
        };
        println!(
            "{:>3}  to {}  UF {}  channels {}  on {}{}",
            r["id"],
            cell(&r["to"]),
            list(&r["states"]),
            list(&r["channels"]),
            cell(&r["status"]),
            r["warning"]
                .as_str()
                .map(|w| format!("  ! {w}"))
                .unwrap_or_default()
        );
    }
}

fn json_arg(text: &str) -> Result<Value> {
    let text = if text == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        text.to_string()
    };
    serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "malformed JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        )
    })
}

fn print_order(o: &Value) {
    let text = cell;
    println!(
        "order {} ({}): {} · customer {} · {}",
        text(&o["key"]),
        text(&o["direction"]),
        text(&o["status"]),
        text(&o["customer"]),
        text(&o["date"])
    );
    if let Some(items) = o["items"].as_array() {
        for i in items {
            println!(
                "  line {}: {} × {} at {}",
                i["line"],
                text(&i["quantity"]),
                text(&i["sku"]),
                text(&i["unit_price"])
            );
        }
    }
    if o["link"].is_object() {
        let l = &o["link"];
        println!(
            "  link {}: from {} (order {}) to {} (order {})",
            text(&l["id"]),
            text(&l["origin"]),
            text(&l["origin_key"]),
            text(&l["destination"]),
            if l["destination_key"].is_null() {
                "not yet delivered".to_string()
            } else {
                cell(&l["destination_key"])
            }
        );
    }
    let invoices = match o["invoices"].as_array() {
        Some(all) => all.clone(),
        None => o.get("invoice").into_iter().cloned().collect(),
    };
    for i in invoices.iter().filter(|i| i.is_object()) {
        let lines: Vec<String> = i["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("line {} × {}", c["line"], text(&c["quantity"])))
            .collect();
        println!(
            "  invoiced: NF-e {} series {} key {} on {}{}",
            i["number"],
            i["series"],
            text(&i["access_key"]),
            text(&i["issued_at"]),
            if lines.is_empty() {
                String::new()
            } else {
                format!(" ({})", lines.join(", "))
            }
        );
    }
    if o["invoices_here"] == false {
        println!(
            "  invoiced by {}: do not invoice it here",
            text(&o["invoicing_company"])
        );
    }
    for c in o["conflicts"].as_array().into_iter().flatten() {
        println!("  conflict in {}: {}", text(&c["field"]), c["values"]);
    }
}

fn print_list(page: &Value) {
    let orders = page["orders"].as_array().cloned().unwrap_or_default();
    if orders.is_empty() {
        println!("no orders");
        return;
    }
    for o in &orders {
        println!(
            "{:>8}  {:<9} {:<19} {:<14} {}",
            cell(&o["key"]),
            cell(&o["direction"]),
            cell(&o["status"]),
            cell(&o["customer"]),
            cell(&o["date"])
        );
    }
    if let Some(next) = page["next_after"].as_str() {
        println!("more: --after {next}");
    }
}

/// `elo orders fields` (`elo fields order`): every field of an order with
/// its label.
pub fn fields(json_out: bool) {
    use elo_crdt::order::{GROUPS, LISTS, SCALARS};
    let mut rows: Vec<(String, &str)> = SCALARS
        .iter()
        .map(|s| (s.name.to_string(), s.label_pt))
        .collect();
    for g in GROUPS {
        rows.extend(
            g.fields
                .iter()
                .map(|f| (format!("{}.{}", g.name, f.name), f.label_pt)),
        );
    }
    for l in LISTS {
        rows.extend(
            l.fields
                .iter()
                .map(|f| (format!("{}[].{}", l.name, f.name), f.label_pt)),
        );
    }
    if json_out {
        let v: Vec<Value> = rows
            .iter()
            .map(|(n, l)| json!({ "field": n, "label": l }))
            .collect();
        print_json(&json!(v));
        return;
    }
    for (n, l) in rows {
        println!("{n:<32} {l}");
    }
}

fn print_split(p: &Value) {
    let line = |l: &Value| {
        format!(
            "line {} {} × {}",
            cell(&l["line"]),
            cell(&l["quantity"]),
            cell(&l["sku"])
        )
    };
    for part in p["parts"].as_array().into_iter().flatten() {
        let lines: Vec<String> = part["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .map(line)
            .collect();
        println!("{}: {}", cell(&part["company"]), lines.join("; "));
    }
    for l in p["unfulfilled"].as_array().into_iter().flatten() {
        println!("no company has: {}", line(l));
    }
}

/// `2` (the whole line 2) or `2:1,5` (1,5 of line 2), as the API takes it.
fn invoiced_line(text: &str) -> anyhow::Result<serde_json::Value> {
    let (line, quantity) = match text.split_once(':') {
        Some((l, q)) => (l, Some(q.trim())),
        None => (text, None),
    };
    let line: u64 = line.trim().parse().map_err(|_| {
        anyhow::anyhow!("--line {text:?}: say the line number, then :QUANTITY if only part of it")
    })?;
    Ok(match quantity {
        Some(q) => json!({ "line": line, "quantity": q }),
        None => json!({ "line": line }),
    })
}

//! `elo put`, `get`, `list`, `delete`, `history`, `codes`, `changes` and
//! `fields`: one record or a page of them, and the schema.

use std::io::Read;

use anyhow::{Context, Result, anyhow};
use elo_crdt::{Kind, schema};
use elo_node::DataDir;
use serde_json::{Value, json};

use crate::api;
use crate::client::{ApiFailure, Client};
use crate::output::{cell, clean, format_time, print_json, show_record, title};

/// `elo put KIND JSON|-`: creates a record or sets some of its fields.
pub fn put(
    data: &DataDir,
    kind: Kind,
    record: String,
    key: Option<String>,
    json_out: bool,
) -> Result<()> {
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
        anyhow!(
            "malformed JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    let client = Client::open(data)?;
    let record = api::put(&client, kind, key.as_deref(), &body)?;
    show_record(&record, json_out);
    Ok(())
}

pub fn get(data: &DataDir, kind: Kind, key: &str, json_out: bool) -> Result<()> {
    let client = Client::open(data)?;
    let key = &api::record_key(&client, kind, key)?;
    match api::get(&client, kind, key)? {
        Some(r) => show_record(&r, json_out),
        None => return Err(ApiFailure::not_found(format!("no {kind} with key {key}"))),
    }
    Ok(())
}

pub fn list(
    data: &DataDir,
    kind: Kind,
    after: Option<String>,
    limit: usize,
    json_out: bool,
) -> Result<()> {
    let page = api::list(&Client::open(data)?, kind, after.as_deref(), limit)?;
    if json_out {
        print_json(&json!({ "records": page.records, "next_after": page.next_after }));
        return Ok(());
    }
    for r in &page.records {
        println!("{}\t{}", cell(&r["id"]), title(r));
    }
    if let Some(next) = page.next_after {
        println!("… more: elo list {kind} --after '{next}'");
    }
    Ok(())
}

pub fn delete(data: &DataDir, kind: Kind, key: &str, json_out: bool) -> Result<()> {
    let client = Client::open(data)?;
    let key = &api::record_key(&client, kind, key)?;
    let r = api::delete(&client, kind, key)?;
    if json_out {
        print_json(&r);
    } else {
        println!("deleted {}", r["id"].as_str().unwrap_or(key));
    }
    Ok(())
}

/// Who changed which fields of a record, and when.
pub fn history(data: &DataDir, kind: Kind, key: &str, json_out: bool) -> Result<()> {
    let client = Client::open(data)?;
    let key = &api::record_key(&client, kind, key)?;
    let Some(h) = api::history(&client, kind, key)? else {
        return Err(ApiFailure::not_found(format!("no {kind} with key {key}")));
    };
    if json_out {
        print_json(&h);
        return Ok(());
    }
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
            cell(&e["company"]),
            clean(&fields.join(", "))
        );
    }
    Ok(())
}

/// `elo codes KIND KEY`: the group's code of a record and each company's.
pub fn codes(data: &DataDir, kind: Kind, key: &str, json_out: bool) -> Result<()> {
    let client = Client::open(data)?;
    let key = &api::record_key(&client, kind, key)?;
    let record = api::get(&client, kind, key)?
        .ok_or_else(|| ApiFailure::not_found(format!("no {kind} with key {key}")))?;
    let v = json!({ "id": record["id"], "code": record["code"],
        "codes": record.get("codes").cloned().unwrap_or(json!({})) });
    if json_out {
        print_json(&v);
        return Ok(());
    }
    println!("{}", v["id"].as_str().unwrap_or(key));
    println!("  group code: {}", v["code"]);
    for (company, code) in v["codes"].as_object().into_iter().flatten() {
        println!("  code at {company}: {}", cell(code));
    }
    Ok(())
}

/// The change feed: records changed after a sequence number.
pub fn changes(data: &DataDir, since: u64, limit: usize, json_out: bool) -> Result<()> {
    let v = api::changes(&Client::open(data)?, since, limit)?;
    if json_out {
        print_json(&v);
        return Ok(());
    }
    for c in v["changes"].as_array().into_iter().flatten() {
        let deleted = if c["deleted"] == true {
            " (deleted)"
        } else {
            ""
        };
        println!("{}\t{}{}", c["seq"], cell(&c["id"]), deleted);
    }
    Ok(())
}

/// What `elo fields` describes: a record kind, or orders.
#[derive(Clone, Copy, Debug)]
pub enum FieldsOf {
    Kind(Kind),
    Order,
}

impl std::str::FromStr for FieldsOf {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "order" | "orders" => Ok(FieldsOf::Order),
            _ => s
                .parse::<Kind>()
                .map(FieldsOf::Kind)
                .map_err(|e| format!("{e}, or order")),
        }
    }
}

/// The fields of each kind (or of an order), with their Portuguese labels.
pub fn fields(of: Option<FieldsOf>, markdown: bool, json_out: bool) -> Result<()> {
    let kind = match of {
        Some(FieldsOf::Order) => {
            super::orders::fields(json_out);
            return Ok(());
        }
        Some(FieldsOf::Kind(k)) => Some(k),
        None => None,
    };
    let kinds: Vec<Kind> = kind.map_or_else(|| Kind::ALL.to_vec(), |k| vec![k]);
    if json_out {
        let v: Vec<Value> = kinds
            .iter()
            .map(|k| {
                json!({ "kind": k.as_str(), "fields": schema::fields(*k).iter().map(|f| json!({
                    "name": f.name, "label_pt": f.label_pt, "type": type_name(f.ty), "category": f.category.as_str() })).collect::<Vec<_>>() })
            })
            .collect();
        print_json(&Value::Array(v));
        return Ok(());
    }
    for k in kinds {
        if markdown {
            println!("\n#### `{}` ({})\n", k.as_str(), k.label_pt());
            println!("| field | rótulo | type | category |\n|---|---|---|---|");
            for f in schema::fields(k) {
                println!(
                    "| `{}` | {} | {} | {} |",
                    f.name,
                    f.label_pt,
                    type_name(f.ty),
                    f.category.as_str()
                );
            }
        } else {
            println!("{} ({})", k.as_str(), k.label_pt());
            for f in schema::fields(k) {
                println!("  {:<28} {:<32} {}", f.name, f.label_pt, type_name(f.ty));
            }
        }
    }
    Ok(())
}

fn type_name(t: schema::FieldType) -> String {
    use schema::FieldType as T;
    match t {
        T::Text(n) => format!("text ≤{n}"),
        T::Decimal(2) => "money (2 places)".into(),
        T::Decimal(p) => format!("decimal ({p} places)"),
        T::Choice(c) => c.join(" \\| "),
        other => format!("{other:?}").to_lowercase(),
    }
}

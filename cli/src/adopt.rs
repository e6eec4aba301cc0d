//! `elo adopt`, `elo backup`, `elo restore`: a company joining with the data
//! it already has. The matching is elo-node's `adopt::plan`; this only
//! reads the file and the group's records, writes what the plan says and
//! prints the report.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use elo_crdt::Kind;
use elo_node::DataDir;
use elo_node::adopt::{self, AdoptPlan, LinkRule};
use serde_json::{Value, json};

use crate::access::Access;
use crate::show::print_json;
use crate::transfer::{self, Format};

/// Reads the group's records of a kind, page by page.
fn group_records(access: &Access, kind: Kind) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = access.list(kind, after.as_deref(), 1000)?;
        out.extend(page.records);
        match page.next_after {
            Some(a) => after = Some(a),
            None => return Ok(out),
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .context("finding the current directory")?
            .join(path))
    }
}

pub struct AdoptArgs {
    pub kind: Kind,
    pub file: PathBuf,
    pub format: Option<Format>,
    pub rule: String,
    pub dry_run: bool,
    pub replace: bool,
    pub backup: Option<PathBuf>,
    pub out: Option<PathBuf>,
}

/// Returns whether everything in the file was adopted cleanly.
pub fn adopt(access: &Access, args: AdoptArgs, json_out: bool) -> Result<bool> {
    let rule = LinkRule::parse(&args.rule).map_err(anyhow::Error::msg)?;
    if args.replace && (args.backup.is_none() || args.out.is_none()) {
        bail!(
            "--replace takes the group's data in place of this company's: give --backup FILE (a backup made first) and --out FILE (the group's records for the ERP to load)"
        );
    }
    let format = args.format.unwrap_or_else(|| Format::from_path(&args.file));
    let file =
        File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let mut rows = Vec::new();
    transfer::for_each_row(BufReader::new(file), format, |line, row| {
        rows.push((line, row));
        Ok(())
    })?;
    let group = group_records(access, args.kind)?;
    let plan = adopt::plan(args.kind, rule, &group, rows);
    let mut written = 0usize;
    let mut backup = Value::Null;
    if args.replace {
        let (Some(target), Some(out)) = (&args.backup, &args.out) else {
            bail!("--replace needs --backup and --out");
        };
        backup = access.backup(&absolute(target)?)?;
        let mut sink = File::create(out).with_context(|| format!("creating {}", out.display()))?;
        transfer::export(access, args.kind, format, &mut sink)?;
    } else if !args.dry_run {
        let rows: Vec<Value> = plan.new_rows.iter().map(|(_, r)| r.clone()).collect();
        for chunk in rows.chunks(1000) {
            let report = access.put_many(args.kind, chunk)?;
            written += report.stored;
        }
        // A matched row keeps the company's own code beside the group's.
        for m in &plan.matched {
            let (Some(code), Some(id)) = (&m.erp_code, elo_crdt::DocId::parse(&m.record)) else {
                continue;
            };
            access.put(args.kind, Some(id.key()), &json!({ "erp_code": code }))?;
        }
    }
    report(&plan, written, &args, &backup, json_out);
    Ok(plan.conflicting.is_empty() && plan.unlinkable.is_empty() && plan.invalid.is_empty())
}

fn report(plan: &AdoptPlan, written: usize, args: &AdoptArgs, backup: &Value, json_out: bool) {
    if json_out {
        let mut v = json!(plan);
        v["written"] = json!(written);
        v["replace"] = json!(args.replace);
        v["backup"] = backup.clone();
        print_json(&v);
        return;
    }
    println!(
        "{} matched, {} new, {} conflicting, {} cannot be linked, {} invalid",
        plan.matched.len(),
        plan.new.len(),
        plan.conflicting.len(),
        plan.unlinkable.len(),
        plan.invalid.len()
    );
    if args.replace {
        println!(
            "backup written to {}; the group's records are in {}: load them into the ERP in place of its own (nothing of the file was written)",
            backup["file"].as_str().unwrap_or("?"),
            args.out
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    } else if args.dry_run {
        println!("dry run: nothing written");
    } else {
        println!("{written} new records written");
    }
    for c in &plan.conflicting {
        println!(
            "line {}: conflicts with {} ({})",
            c.line, c.record, c.reason
        );
        for d in &c.differences {
            println!("    {}: file {} / group {}", d.field, d.file, d.group);
        }
    }
    for u in plan.unlinkable.iter().chain(&plan.invalid) {
        println!("line {}: {}", u.line, u.reason);
    }
}

pub fn backup(access: &Access, file: &Path, json_out: bool) -> Result<()> {
    let v = access.backup(&absolute(file)?)?;
    if json_out {
        print_json(&v);
    } else {
        println!(
            "backup of the whole store written to {} ({} bytes); restore it with `elo restore`",
            v["file"].as_str().unwrap_or("?"),
            v["bytes"]
        );
    }
    Ok(())
}

pub fn restore(data: &DataDir, file: &Path, json_out: bool) -> Result<()> {
    match Access::open(data)? {
        Access::Api(_) => {
            bail!("stop the node first (`elo node` is running): a store in use cannot be replaced")
        }
        local => local.close()?,
    }
    let records = data.restore(file)?;
    if json_out {
        print_json(&json!({ "restored": file.display().to_string(), "records": records }));
    } else {
        println!(
            "restored {} ({records} records); the store it replaced is kept as store.redb.before-restore",
            file.display()
        );
    }
    Ok(())
}

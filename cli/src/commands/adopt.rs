//! `elo adopt`, `elo backup`, `elo restore`: a company joining with the data
//! it already has. The matching is elo-node's `adopt::plan`; this only
//! reads the file and the group's records, writes what the plan says and
//! prints the report.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use elo_crdt::Kind;
use elo_node::DataDir;
use elo_node::adopt::{self, AdoptPlan, LinkRule};
use serde_json::{Value, json};

use crate::api;
use crate::client::Client;
use crate::commands::rows::{Encoding, RowFile};
use crate::commands::transfer::{self, Format};
use crate::exit;
use crate::output::print_json;

/// Reads the group's records of a kind, page by page.
fn group_records(client: &Client, kind: Kind) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = api::list(client, kind, after.as_deref(), 1000)?;
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

/// What `elo adopt` is asked.
#[derive(clap::Args)]
pub struct AdoptArgs {
    /// The kind of record the file holds
    pub kind: Kind,
    /// This company's records, exported from its ERP: CSV or JSON lines
    pub file: PathBuf,
    /// How products are linked: sku, sku+gtin or sku+gtin+description
    /// (contacts link by CPF/CNPJ and name)
    #[arg(long, default_value = "sku")]
    pub rule: String,
    /// The file's format [default: from the extension; .csv is CSV, else JSON lines]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The file's character encoding [default: UTF-8, or Windows-1252 when
    /// the file is not UTF-8]
    #[arg(long, value_enum)]
    pub encoding: Option<Encoding>,
    /// Report only; write nothing (with --replace: no backup, no --out file)
    #[arg(long)]
    pub dry_run: bool,
    /// Take the group's data in place of this company's (after a
    /// backup): nothing of the file is written, and the group's records
    /// go to --out for the ERP to load
    #[arg(long)]
    pub replace: bool,
    /// With --replace: where to write a backup of the whole store first
    /// (a file that does not exist yet)
    #[arg(long)]
    pub backup: Option<PathBuf>,
    /// With --replace: where to write the group's records for the ERP to
    /// load (a new file; .csv is CSV, .jsonl JSON lines, else the input's format)
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `elo adopt`: exit code [`exit::ROWS_REFUSED`] unless everything in the
/// file was adopted cleanly (some rows conflict, cannot be linked or are
/// invalid).
pub fn adopt(data: &DataDir, args: AdoptArgs, json_out: bool) -> Result<ExitCode> {
    let rule = LinkRule::parse(&args.rule).map_err(anyhow::Error::msg)?;
    let out_format = match (&args.replace, &args.out) {
        (true, Some(out)) if args.backup.is_some() => out_format(out, &args)?,
        (true, _) => bail!(
            "--replace takes the group's data in place of this company's: give --backup FILE (a backup made first) and --out FILE (the group's records for the ERP to load)"
        ),
        (false, _) => {
            if args.backup.is_some() || args.out.is_some() {
                bail!("--backup and --out go with --replace");
            }
            Format::Jsonl
        }
    };
    let format = args.format.unwrap_or_else(|| Format::from_path(&args.file));
    let file = RowFile::inspect(&args.file, format, args.encoding)?;
    for note in &file.notes {
        eprintln!("note: {note}");
    }
    let client = Client::open(data)?;
    let rows = read_rows(&file)?;
    let group = group_records(&client, args.kind)?;
    let plan = adopt::plan(args.kind, rule, &group, rows);
    let mut written = 0usize;
    let mut backup = Value::Null;
    if args.replace && !args.dry_run {
        backup = replace(&client, &args, out_format)?;
    } else if !args.dry_run {
        written = write_plan(&client, args.kind, &plan)?;
    }
    report(&plan, written, &args, &backup, json_out);
    let clean =
        plan.conflicting.is_empty() && plan.unlinkable.is_empty() && plan.invalid.is_empty();
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::ROWS_REFUSED)
    })
}

/// The format of `--out`: its extension's, else the input file's.
fn out_format(out: &Path, args: &AdoptArgs) -> Result<Format> {
    let input = args.format.unwrap_or_else(|| Format::from_path(&args.file));
    let named = out.extension().is_some_and(|e| {
        ["csv", "jsonl", "json", "ndjson"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    });
    if named {
        Format::for_output(out, None)
    } else {
        Ok(input)
    }
}

/// Every row of the file, with its line number (without the keys no
/// write takes, as an import).
fn read_rows(file: &RowFile) -> Result<Vec<(u64, Result<Value, String>)>> {
    let raw =
        File::open(file.path()).with_context(|| format!("opening {}", file.path().display()))?;
    let mut rows = Vec::new();
    let mut skipped = std::collections::BTreeSet::new();
    file.for_each_row(BufReader::new(raw), |line, row| {
        rows.push((
            line,
            row.map(|r| transfer::without_read_only(r, &mut skipped)),
        ));
        Ok(())
    })?;
    Ok(rows)
}

/// `--replace`: a backup first, then the group's records to `--out` for the
/// ERP to load; nothing of the file is written.
fn replace(client: &Client, args: &AdoptArgs, format: Format) -> Result<Value> {
    let (Some(target), Some(out)) = (&args.backup, &args.out) else {
        bail!("--replace needs --backup and --out");
    };
    // Neither file replaces one that is there: an ERP's export or an older
    // backup is not ours to overwrite.
    if out.exists() {
        bail!(
            "{} exists already: --out never replaces a file",
            out.display()
        );
    }
    let backup = api::backup(client, &absolute(target)?)?;
    let mut sink = File::create_new(out)
        .with_context(|| format!("creating {} (it must not exist yet)", out.display()))?;
    transfer::export_records(client, args.kind, format, &mut sink)?;
    Ok(backup)
}

/// Writes the plan's new rows, and this company's own code on each matched
/// record; returns how many rows were stored.
fn write_plan(client: &Client, kind: Kind, plan: &AdoptPlan) -> Result<usize> {
    let mut written = 0;
    let rows: Vec<Value> = plan.new_rows.iter().map(|(_, r)| r.clone()).collect();
    for chunk in rows.chunks(1000) {
        written += api::put_many(client, kind, chunk.to_vec())?.stored;
    }
    // A matched row keeps the company's own code beside the group's.
    for m in &plan.matched {
        let (Some(code), Some(id)) = (&m.erp_code, elo_crdt::DocId::parse(&m.record)) else {
            continue;
        };
        api::put(client, kind, Some(id.key()), &json!({ "erp_code": code }))?;
    }
    Ok(written)
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
    if args.replace && args.dry_run {
        println!(
            "dry run: nothing written; without --dry-run a backup would go to {} and the group's records to {}",
            args.backup
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            args.out
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    } else if args.replace {
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

pub fn backup(data: &DataDir, file: &Path, json_out: bool) -> Result<()> {
    let v = api::backup(&Client::open(data)?, &absolute(file)?)?;
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

/// `elo restore FILE`: the node must be stopped. This works on the data
/// directory itself (it replaces the store file), so it is no request to
/// the API: the client only tells whether a node holds the store.
///
/// On a directory that holds no company yet (a new machine, after the old
/// one was lost), the backup's identity and API token come back with the
/// store: no `elo init` first, which would make another identity.
pub fn restore(data: &DataDir, file: &Path, json_out: bool) -> Result<()> {
    let new_machine = !data.identity_path().exists() && !data.store_path().exists();
    if !new_machine {
        match Client::open(data) {
            Ok(client) => {
                if client.node_address().is_some() {
                    bail!(
                        "stop the node first (`elo node` is running): a store in use cannot be replaced"
                    );
                }
                client.close()?;
            }
            // A damaged store is one a restore is for: no node can run on it.
            Err(e) if store_damaged(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let records = data.restore(file)?;
    if json_out {
        print_json(
            &json!({ "restored": file.display().to_string(), "records": records,
            "identity_restored": new_machine }),
        );
    } else if new_machine {
        println!(
            "restored {} ({records} records) with this company's identity and API token; start it with `elo node`",
            file.display()
        );
    } else {
        println!(
            "restored {} ({records} records); the store it replaced is kept as store.redb.before-restore",
            file.display()
        );
    }
    Ok(())
}

/// Whether `e` says the store file is damaged (it does not open).
fn store_damaged(e: &anyhow::Error) -> bool {
    use elo_node::{DataDirError, StoreError};
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<StoreError>(),
            Some(StoreError::Corrupted { .. })
        ) || matches!(
            c.downcast_ref::<DataDirError>(),
            Some(DataDirError::Store(StoreError::Corrupted { .. }))
        )
    })
}

/// `elo salvage --out FILE`: every record that can be read from the store
/// file, even one redb cannot open, as JSON lines.
pub fn salvage(data: &DataDir, out: &Path, json_out: bool) -> Result<()> {
    let found = elo_node::store::salvage::salvage(&data.store_path(), out)?;
    if json_out {
        print_json(&json!({ "out": out.display().to_string(), "salvaged": found }));
    } else {
        println!(
            "wrote {} records to {} ({} versions read, {} unreadable)",
            found.documents,
            out.display(),
            found.versions,
            found.unreadable
        );
    }
    Ok(())
}

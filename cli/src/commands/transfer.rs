//! `elo import` and `elo export`: CSV (a header row of field names) or JSON
//! lines, streamed in batches so memory stays flat whatever the file size.
//!
//! Import stores each batch in one transaction; valid rows are stored,
//! refused rows are reported with their line number, field and reason. A
//! batch is acknowledged (and on disk) before the next one is read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use elo_crdt::{Kind, schema};
use elo_node::DataDir;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};

use crate::api;
use crate::client::Client;
use crate::output::print_json;

/// File formats for import and export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    /// Guesses from a file name: `.csv` is CSV, anything else JSON lines.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Jsonl,
        }
    }
}

/// A refused row.
pub struct RejectedRow {
    pub line: u64,
    pub message: String,
}

/// What an import did.
#[derive(Default)]
pub struct ImportReport {
    pub rows: u64,
    pub stored: u64,
    pub changed: u64,
    pub rejected: Vec<RejectedRow>,
}

/// `elo import KIND FILE`: exit code 2 when some rows were refused (the
/// others are stored).
pub fn import(
    data: &DataDir,
    kind: Kind,
    file: &Path,
    format: Option<Format>,
    batch: usize,
    json_out: bool,
) -> Result<ExitCode> {
    check_file(file)?;
    let client = Client::open(data)?;
    let format = format.unwrap_or_else(|| Format::from_path(file));
    let progress = !json_out && std::io::stderr().is_terminal();
    let report = import_file(
        &client,
        kind,
        file,
        format,
        batch.max(1),
        progress,
        |stored, line| {
            if json_out {
                // A committed batch: these rows are on disk.
                print_json(&json!({ "committed": stored, "through_line": line }));
            }
        },
    )?;
    if json_out {
        print_json(&summary_json(&report));
    } else {
        for r in &report.rejected {
            eprintln!("line {}: {}", r.line, r.message);
        }
        println!(
            "{} rows: {} stored ({} changed), {} rejected",
            report.rows,
            report.stored,
            report.changed,
            report.rejected.len()
        );
    }
    client.close()?;
    Ok(if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// `elo export KIND`: to standard output, or to a file that takes its name
/// only once the export is complete.
pub fn export(data: &DataDir, kind: Kind, format: Format, output: Option<PathBuf>) -> Result<()> {
    let client = Client::open(data)?;
    let Some(path) = output else {
        let stdout = std::io::stdout();
        let mut lock = std::io::BufWriter::new(stdout.lock());
        export_records(&client, kind, format, &mut lock)?;
        lock.flush()?;
        return Ok(());
    };
    let tmp = path.with_extension("partial");
    let mut f = std::io::BufWriter::new(
        File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    let n = export_records(&client, kind, format, &mut f)?;
    f.flush()?;
    drop(f);
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("exported {n} {kind} records");
    Ok(())
}

/// Imports a file. `on_batch` hears (rows stored so far, last line) after
/// each batch is committed.
pub fn import_file(
    client: &Client,
    kind: Kind,
    path: &Path,
    format: Format,
    batch: usize,
    progress: bool,
    mut on_batch: impl FnMut(u64, u64),
) -> Result<ImportReport> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if progress {
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("importing {kind}"));
        bar
    } else {
        ProgressBar::hidden()
    };
    let reader = CountingReader {
        inner: BufReader::with_capacity(1 << 20, file),
        bar: bar.clone(),
    };
    let mut report = ImportReport::default();
    let mut rows: Vec<Value> = Vec::with_capacity(batch);
    let mut lines: Vec<u64> = Vec::with_capacity(batch);
    let mut flush = |rows: &mut Vec<Value>,
                     lines: &mut Vec<u64>,
                     report: &mut ImportReport|
     -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let first = lines.first().copied().unwrap_or(0);
        let stored = report.stored;
        // A batch refused whole (a full disk, a stopped node) ends the
        // import: say where, so it can go on from there.
        let r = api::put_many(client, kind, std::mem::take(rows)).with_context(|| {
                format!(
                    "the import stopped at line {first}: the {stored} rows before it are stored, none from it on; fix what follows, then import again from line {first} (rows stored already are written again unchanged)"
                )
            })?;
        report.stored += r.stored as u64;
        report.changed += r.changed as u64;
        for rej in r.rejected {
            let line = lines.get(rej.index).copied().unwrap_or(0);
            report.rejected.push(RejectedRow {
                line,
                message: rej.message,
            });
        }
        on_batch(report.stored, lines.last().copied().unwrap_or(0));
        rows.clear();
        lines.clear();
        Ok(())
    };
    for_each_row(reader, format, |line, row| {
        report.rows += 1;
        match row {
            Ok(v) => {
                rows.push(v);
                lines.push(line);
            }
            Err(message) => report.rejected.push(RejectedRow { line, message }),
        }
        if rows.len() >= batch {
            flush(&mut rows, &mut lines, &mut report)?;
        }
        Ok(())
    })?;
    flush(&mut rows, &mut lines, &mut report)?;
    bar.finish_and_clear();
    report.rejected.sort_by_key(|r| r.line);
    Ok(report)
}

/// Reads a file's rows in order: JSON lines, or CSV with a header row of
/// field names. Each row is a JSON object or the reason it could not be
/// read, with its line number.
pub fn for_each_row(
    reader: impl BufRead,
    format: Format,
    mut each: impl FnMut(u64, Result<Value, String>) -> Result<()>,
) -> Result<()> {
    match format {
        Format::Jsonl => {
            let mut line_no = 0u64;
            for line in reader.lines() {
                line_no += 1;
                let line = line.with_context(|| format!("reading line {line_no}"))?;
                if line.trim().is_empty() {
                    continue;
                }
                let row = serde_json::from_str::<Value>(&line)
                    .map_err(|e| format!("malformed JSON at column {}: {e}", e.column()));
                each(line_no, row)?;
            }
        }
        Format::Csv => {
            let mut csv = csv::ReaderBuilder::new()
                .flexible(false)
                .from_reader(reader);
            let headers: Vec<String> = csv
                .headers()
                .context("reading the CSV header row")?
                .iter()
                .map(|h| h.trim().to_string())
                .collect();
            for (i, rec) in csv.records().enumerate() {
                let line_no = i as u64 + 2;
                let rec = match rec {
                    Ok(r) => r,
                    Err(e) => {
                        let line = e.position().map_or(line_no, |p| p.line());
                        each(line, Err(format!("malformed CSV row: {e}")))?;
                        continue;
                    }
                };
                let line_no = rec.position().map_or(line_no, |p| p.line());
                // An empty cell leaves the field as it is: an import never
                // erases data by accident.
                let obj: Map<String, Value> = headers
                    .iter()
                    .zip(rec.iter())
                    .filter(|(_, v)| !v.trim().is_empty())
                    .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
                    .collect();
                each(line_no, Ok(Value::Object(obj)))?;
            }
        }
    }
    Ok(())
}

struct CountingReader<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.bar.inc(amt as u64);
        self.inner.consume(amt);
    }
}

const EXPORT_PAGE: usize = 1000;

/// Walks every record of a kind, page by page.
fn for_each_record(
    client: &Client,
    kind: Kind,
    mut f: impl FnMut(&Value) -> Result<()>,
) -> Result<u64> {
    let mut after: Option<String> = None;
    let mut n = 0;
    loop {
        let page = api::list(client, kind, after.as_deref(), EXPORT_PAGE)?;
        for r in &page.records {
            f(r)?;
            n += 1;
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => return Ok(n),
        }
    }
}

/// Exports every record of a kind; returns how many.
pub fn export_records(
    client: &Client,
    kind: Kind,
    format: Format,
    out: &mut dyn Write,
) -> Result<u64> {
    match format {
        Format::Jsonl => for_each_record(client, kind, |r| {
            serde_json::to_writer(&mut *out, r)?;
            out.write_all(b"\n")?;
            Ok(())
        }),
        Format::Csv => {
            // Columns: the kind's fields in schema order, then the extra,
            // address and reference columns the records use (a first pass
            // finds them, so the header comes before any row).
            let mut dynamic = BTreeSet::new();
            for_each_record(client, kind, |r| {
                for col in flatten(r).keys() {
                    if schema::field(kind, col).is_none() {
                        dynamic.insert(col.clone());
                    }
                }
                Ok(())
            })?;
            let mut columns: Vec<String> = schema::fields(kind)
                .iter()
                .map(|f| f.name.to_string())
                .collect();
            columns.extend(dynamic);
            let mut w = csv::Writer::from_writer(out);
            w.write_record(&columns)?;
            let n = for_each_record(client, kind, |r| {
                let flat = flatten(r);
                w.write_record(
                    columns
                        .iter()
                        .map(|c| flat.get(c).map_or("", String::as_str)),
                )?;
                Ok(())
            })?;
            w.flush()?;
            Ok(n)
        }
    }
}

/// A record's JSON as flat text columns (`extra.k`,
/// `address.billing.city`), without `id`, `kind`, `seq` or `deleted`.
fn flatten(r: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Value::Object(m) = r else { return out };
    for (k, v) in m {
        match (k.as_str(), v) {
            // Credit used is written by charges only, never by an import.
            ("id" | "kind" | "seq" | "deleted" | "credit_used", _) => {}
            ("components", Value::Object(c)) => {
                for (sku, qty) in c {
                    out.insert(format!("{}{sku}", schema::COMPONENT), text(qty));
                }
            }
            ("extra", Value::Object(e)) => {
                for (ek, ev) in e {
                    out.insert(format!("extra.{ek}"), text(ev));
                }
            }
            ("addresses" | "references", Value::Object(groups)) => {
                let prefix = if k == "addresses" {
                    "address"
                } else {
                    "reference"
                };
                for (label, fields) in groups {
                    if let Value::Object(fs) = fields {
                        for (f, fv) in fs {
                            out.insert(format!("{prefix}.{label}.{f}"), text(fv));
                        }
                    }
                }
            }
            _ => {
                out.insert(k.clone(), text(v));
            }
        }
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Checks an import file exists before any work, with a clear message.
fn check_file(path: &Path) -> Result<()> {
    if !path.is_file() {
        bail!("{} is not a file", path.display());
    }
    Ok(())
}

fn summary_json(r: &ImportReport) -> Value {
    json!({
        "rows": r.rows, "stored": r.stored, "changed": r.changed,
        "rejected": r.rejected.iter().map(|x| json!({"line": x.line, "message": x.message})).collect::<Vec<_>>(),
    })
}

//! `elo import` and `elo export`: CSV (a header row of field names) or JSON
//! lines, streamed in batches so memory stays flat whatever the file size.
//!
//! Import stores each batch in one transaction; valid rows are stored,
//! refused rows are reported with their line number, field and reason. A
//! batch is acknowledged (and on disk) before the next one is sent; the
//! next one is read meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use elo_crdt::{Kind, schema};
use elo_node::DataDir;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::rows::{Encoding, RowFile};
use crate::api;
use crate::client::Client;
use crate::exit;
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

    /// The format of a file to write: `asked`, or what its extension
    /// says; `--format csv` into `x.jsonl` (or the reverse) is refused
    /// rather than writing a file whose name lies about its content.
    pub fn for_output(path: &Path, asked: Option<Format>) -> Result<Format> {
        let named = match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Some(Format::Csv),
            Some(e)
                if ["jsonl", "json", "ndjson"]
                    .iter()
                    .any(|j| e.eq_ignore_ascii_case(j)) =>
            {
                Some(Format::Jsonl)
            }
            _ => None,
        };
        match (asked, named) {
            (Some(a), Some(n)) if a != n => bail!(
                "{} is named as {} but --format {} was asked: give the file a .{} name or drop --format",
                path.display(),
                n.name(),
                a.extension(),
                a.extension()
            ),
            (Some(a), _) => Ok(a),
            (None, Some(n)) => Ok(n),
            (None, None) => Ok(Format::Jsonl),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Jsonl => "JSON lines",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
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
    /// The read-only keys the file carried, not imported.
    pub skipped: BTreeSet<String>,
}

/// The keys of an exported record that no import writes: the record's
/// id and state (its key fields say which record it is), the credit used
/// (written by charges only) and the other companies' codes (each is
/// written by its own company, as `erp_code`). An import skips them, with
/// a note, so that any export imports back.
pub const READ_ONLY: &[&str] = &["id", "kind", "seq", "deleted", "credit_used", "codes"];

/// What `elo import` reads: the file and how.
pub struct ImportFile {
    pub path: PathBuf,
    pub format: Option<Format>,
    pub encoding: Option<Encoding>,
    pub batch: usize,
}

/// `elo import KIND FILE`: exit code [`exit::ROWS_REFUSED`] when some rows
/// were refused (the others are stored).
pub fn import(data: &DataDir, kind: Kind, how: &ImportFile, json_out: bool) -> Result<ExitCode> {
    check_file(&how.path)?;
    let format = how.format.unwrap_or_else(|| Format::from_path(&how.path));
    let file = RowFile::inspect(&how.path, format, how.encoding)?;
    for note in &file.notes {
        eprintln!("note: {note}");
    }
    let client = Client::open(data)?;
    let progress = !json_out && std::io::stderr().is_terminal();
    let report = import_file(
        &client,
        kind,
        &file,
        how.batch.max(1),
        progress,
        |stored, line| {
            if json_out {
                // A committed batch: these rows are on disk.
                print_json(&json!({ "committed": stored, "through_line": line }));
            }
        },
    )?;
    if !report.skipped.is_empty() {
        eprintln!(
            "note: {} not imported: written by elo itself (credit used by charges, codes by each company as erp_code)",
            report
                .skipped
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if json_out {
        print_json(&summary_json(&report, &file));
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
        ExitCode::from(exit::ROWS_REFUSED)
    })
}

/// `elo export KIND`: to standard output, or to a file that takes its name
/// only once the export is complete. The format is `--format`, else the
/// file's extension; a `--format` the extension contradicts is refused.
pub fn export(
    data: &DataDir,
    kind: Kind,
    format: Option<Format>,
    output: Option<PathBuf>,
    json_out: bool,
) -> Result<()> {
    let format = match (&output, format) {
        (Some(path), asked) => Format::for_output(path, asked)?,
        (None, asked) => asked.unwrap_or(Format::Jsonl),
    };
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
    if json_out {
        print_json(
            &json!({ "exported": n, "kind": kind.as_str(), "file": path.display().to_string(),
            "format": format.name() }),
        );
    } else {
        eprintln!("exported {n} {kind} records");
    }
    Ok(())
}

/// One batch on its way to the node: its rows, their line numbers and how
/// far into the file they reach.
struct Batch {
    rows: Vec<Value>,
    lines: Vec<u64>,
    done: u64,
}

/// Imports a file. `on_batch` hears (rows stored so far, last line) after
/// each batch is committed.
///
/// Reading and sending overlap: while the node stores one batch, the next
/// one is read and parsed (measured: the two took turns on one core
/// before). At most one batch is with the node at a time, and each is sent
/// only once the one before it is acknowledged, so the batches are stored
/// in the file's order and a batch refused whole still means that every
/// row before it is stored and none from it on.
pub fn import_file(
    client: &Client,
    kind: Kind,
    source: &RowFile,
    batch: usize,
    progress: bool,
    mut on_batch: impl FnMut(u64, u64),
) -> Result<ImportReport> {
    let path = source.path();
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = file_bar(kind, size, progress);
    let reader = CountingReader {
        inner: BufReader::with_capacity(1 << 20, file),
        bar: bar.clone(),
    };
    let mut report = ImportReport::default();
    // The node shows this import's progress under this name (Atividade).
    let id = import_id();
    std::thread::scope(|scope| -> Result<()> {
        let (to_node, batches) = std::sync::mpsc::sync_channel::<Batch>(0);
        let (answers, from_node) = std::sync::mpsc::sync_channel(1);
        let id = &id;
        scope.spawn(move || {
            for b in batches {
                let progress = api::ImportProgress {
                    id,
                    done: b.done,
                    total: size,
                };
                let answer = api::put_batch(client, kind, b.rows, Some(progress));
                if answers.send((answer, b.lines)).is_err() {
                    return;
                }
            }
        });
        let mut in_flight = false;
        // The answer to the batch with the node, added to the report.
        let mut settle = |report: &mut ImportReport, in_flight: &mut bool| -> Result<()> {
            if !std::mem::take(in_flight) {
                return Ok(());
            }
            let (answer, lines) = from_node
                .recv()
                .context("the import's sending thread stopped")?;
            let first = lines.first().copied().unwrap_or(0);
            let stored = report.stored;
            // A batch refused whole (a full disk, a stopped node) ends the
            // import: say where, so it can go on from there.
            let r = answer.with_context(|| {
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
            Ok(())
        };
        let mut send = |b: Batch, report: &mut ImportReport, in_flight: &mut bool| -> Result<()> {
            settle(report, in_flight)?;
            if b.rows.is_empty() {
                return Ok(());
            }
            to_node
                .send(b)
                .ok()
                .context("the import's sending thread stopped")?;
            *in_flight = true;
            Ok(())
        };
        let mut rows: Vec<Value> = Vec::with_capacity(batch);
        let mut lines: Vec<u64> = Vec::with_capacity(batch);
        source.for_each_row(reader, |line, row| {
            report.rows += 1;
            match row {
                Ok(v) => {
                    rows.push(without_read_only(v, &mut report.skipped));
                    lines.push(line);
                }
                Err(message) => report.rejected.push(RejectedRow { line, message }),
            }
            if rows.len() >= batch {
                // The bytes the rows so far were read from (the reader
                // counts what the parser consumed).
                let done = bar.position().min(size);
                let b = Batch {
                    rows: std::mem::replace(&mut rows, Vec::with_capacity(batch)),
                    lines: std::mem::replace(&mut lines, Vec::with_capacity(batch)),
                    done,
                };
                send(b, &mut report, &mut in_flight)?;
            }
            Ok(())
        })?;
        let last = Batch {
            rows,
            lines,
            done: size,
        };
        send(last, &mut report, &mut in_flight)?;
        settle(&mut report, &mut in_flight)
    })?;
    bar.finish_and_clear();
    report.rejected.sort_by_key(|r| r.line);
    Ok(report)
}

/// The terminal's bar over the file's bytes; hidden (still counting, for
/// the node's progress) when no person watches.
fn file_bar(kind: Kind, size: u64, shown: bool) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("importing {kind}"));
    bar
}

/// A name for one `elo import` run: its process and start time.
fn import_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("import-{}-{ms}", std::process::id())
}

/// A row without the [`READ_ONLY`] keys; those it had are added to
/// `skipped`.
pub fn without_read_only(row: Value, skipped: &mut BTreeSet<String>) -> Value {
    let Value::Object(mut fields) = row else {
        return row;
    };
    for key in READ_ONLY {
        if fields.remove(*key).is_some() {
            skipped.insert((*key).to_string());
        }
    }
    Value::Object(fields)
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
/// `address.billing.city`), without the [`READ_ONLY`] keys.
fn flatten(r: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Value::Object(m) = r else { return out };
    for (k, v) in m {
        match (k.as_str(), v) {
            (k, _) if READ_ONLY.contains(&k) => {}
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

fn summary_json(r: &ImportReport, file: &RowFile) -> Value {
    let (encoding, delimiter) = file.reading();
    json!({
        "rows": r.rows, "stored": r.stored, "changed": r.changed,
        "encoding": encoding, "delimiter": delimiter.to_string(),
        "not_imported": r.skipped, "notes": file.notes,
        "rejected": r.rejected.iter().map(|x| json!({"line": x.line, "message": x.message})).collect::<Vec<_>>(),
    })
}

//! The rows of a file to import or adopt, as the ERPs and spreadsheets of
//! the companies write them: CSV with `,`, `;` (Excel in pt-BR) or tab
//! between fields, in UTF-8 (with or without a BOM), Latin-1 or
//! Windows-1252, with LF or CRLF line endings; or JSON lines.
//!
//! A first pass over the file ([`RowFile::inspect`]) settles the encoding
//! and the delimiter and finds a quoted field that is never closed, before
//! anything is written; the second ([`RowFile::for_each_row`]) reads the
//! rows, each with the line it starts on.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

use super::transfer::Format;

/// The character encodings a file may be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    #[value(name = "latin1", alias = "iso-8859-1")]
    Latin1,
    #[value(name = "windows-1252", alias = "cp1252")]
    Windows1252,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Latin1 => "latin1",
            Encoding::Windows1252 => "windows-1252",
        }
    }

    /// One line of the file as text. UTF-8 was checked by the first pass;
    /// in the two single-byte encodings every byte is a character.
    fn decode(self, line: &[u8]) -> std::borrow::Cow<'_, str> {
        match self {
            Encoding::Utf8 => String::from_utf8_lossy(line),
            Encoding::Latin1 => encoding_rs::mem::decode_latin1(line),
            Encoding::Windows1252 => {
                encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(line)
                    .0
            }
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A file of rows whose encoding and delimiter are known.
pub struct RowFile {
    path: PathBuf,
    format: Format,
    encoding: Encoding,
    delimiter: u8,
    /// What was decided for the user that they should know (an encoding
    /// detected), to print before the report.
    pub notes: Vec<String>,
}

impl RowFile {
    /// Reads the file once: checks its encoding (or detects it when
    /// `encoding` is not given), finds the CSV delimiter from the header
    /// row, and refuses a CSV file with a quoted field never closed.
    pub fn inspect(path: &Path, format: Format, encoding: Option<Encoding>) -> Result<RowFile> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        let (mut line_no, mut not_utf8) = (0u64, None);
        let mut delimiter = b',';
        let mut quotes = QuoteState::default();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .with_context(|| format!("reading {}", path.display()))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let bytes = match line_no {
                1 => line.strip_prefix(UTF8_BOM).unwrap_or(&line),
                _ => &line,
            };
            // A line is checked alone: a UTF-8 sequence never holds a '\n'.
            if not_utf8.is_none() && std::str::from_utf8(bytes).is_err() {
                not_utf8 = Some(line_no);
            }
            if format == Format::Csv {
                if line_no == 1 {
                    delimiter = detect_delimiter(bytes);
                }
                quotes.read(bytes, delimiter, line_no);
            }
        }
        if let Some(opened) = quotes.open_since() {
            bail!(
                "line {opened}: malformed CSV row: a quoted field starts here and is never closed (the rest of the file would be read as one field); nothing was imported"
            );
        }
        let mut notes = Vec::new();
        let encoding = match (encoding, not_utf8) {
            (Some(Encoding::Utf8), Some(bad)) => bail!(
                "line {bad} of {} is not valid UTF-8: the file may be Latin-1 or Windows-1252 (what Excel writes in pt-BR); run again with --encoding windows-1252 or --encoding latin1",
                path.display()
            ),
            (Some(e), _) => e,
            (None, None) => Encoding::Utf8,
            (None, Some(bad)) => {
                notes.push(format!(
                    "{} is not UTF-8 (line {bad}): read as Windows-1252, what Excel writes in pt-BR; give --encoding utf-8, latin1 or windows-1252 to choose",
                    path.display()
                ));
                Encoding::Windows1252
            }
        };
        Ok(RowFile {
            path: path.to_path_buf(),
            format,
            encoding,
            delimiter,
            notes,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The encoding the file is read in, and the CSV delimiter.
    pub fn reading(&self) -> (&'static str, char) {
        (self.encoding.name(), char::from(self.delimiter))
    }

    /// Reads the rows in order from `raw` (the file's bytes): each is a
    /// JSON object or the reason it could not be read, with the line it
    /// starts on.
    pub fn for_each_row(
        &self,
        raw: impl BufRead,
        mut each: impl FnMut(u64, Result<Value, String>) -> Result<()>,
    ) -> Result<()> {
        let reader = Decoded::new(raw, self.encoding);
        match self.format {
            Format::Jsonl => {
                for (i, line) in reader.lines().enumerate() {
                    let line_no = i as u64 + 1;
                    let line = line.with_context(|| format!("reading line {line_no}"))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let row = serde_json::from_str::<Value>(&line)
                        .map_err(|e| format!("malformed JSON at column {}: {e}", e.column()));
                    each(line_no, row)?;
                }
            }
            Format::Csv => csv_rows(reader, self.delimiter, each)?,
        }
        Ok(())
    }
}

/// CSV rows as objects keyed by the header row's field names.
fn csv_rows(
    reader: impl Read,
    delimiter: u8,
    mut each: impl FnMut(u64, Result<Value, String>) -> Result<()>,
) -> Result<()> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .delimiter(delimiter)
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
    Ok(())
}

/// The delimiter of a CSV file: whichever of `,` `;` and tab its header
/// row holds most often outside quotes (`,` when it holds none).
fn detect_delimiter(header: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for &b in header {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
            c.1 += 1;
        }
    }
    // The first of the most frequent: `,` wins a tie, as CSV's default.
    let best = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    counts
        .iter()
        .find(|(_, n)| *n == best && best > 0)
        .map_or(b',', |(d, _)| *d)
}

/// Where a CSV reader is between fields, as the csv crate reads them: a
/// quote opens a quoted field only at a field's start, `""` inside one is
/// a quote, and a lone quote closes it.
#[derive(Default)]
struct QuoteState {
    at: Position,
    /// The line a quoted field still open started on.
    opened: u64,
}

#[derive(Default, PartialEq)]
enum Position {
    #[default]
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

impl QuoteState {
    fn read(&mut self, line: &[u8], delimiter: u8, line_no: u64) {
        for &b in line {
            let end = b == delimiter || b == b'\n';
            self.at = match (&self.at, b) {
                (Position::FieldStart, b'"') => {
                    self.opened = line_no;
                    Position::Quoted
                }
                (Position::Quoted, b'"') => Position::QuoteInQuoted,
                (Position::Quoted, _) => Position::Quoted,
                (Position::QuoteInQuoted, b'"') => Position::Quoted,
                (_, _) if end => Position::FieldStart,
                _ => Position::Unquoted,
            };
        }
    }

    /// The line of a quoted field never closed, at the end of the file.
    fn open_since(&self) -> Option<u64> {
        (self.at == Position::Quoted).then_some(self.opened)
    }
}

/// A file's bytes as UTF-8 text, line by line: decoded from its encoding,
/// without a leading BOM, and with CRLF line endings as LF.
struct Decoded<R> {
    inner: R,
    encoding: Encoding,
    raw: Vec<u8>,
    text: Vec<u8>,
    at: usize,
    first: bool,
}

impl<R: BufRead> Decoded<R> {
    fn new(inner: R, encoding: Encoding) -> Decoded<R> {
        Decoded {
            inner,
            encoding,
            raw: Vec::new(),
            text: Vec::new(),
            at: 0,
            first: true,
        }
    }
}

impl<R: BufRead> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Decoded<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.at >= self.text.len() {
            self.raw.clear();
            self.text.clear();
            self.at = 0;
            if self.inner.read_until(b'\n', &mut self.raw)? > 0 {
                let mut line: &[u8] = &self.raw;
                if std::mem::take(&mut self.first) {
                    line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
                }
                let crlf = line.ends_with(b"\r\n");
                if crlf {
                    line = &line[..line.len() - 2];
                }
                self.text
                    .extend_from_slice(self.encoding.decode(line).as_bytes());
                if crlf {
                    self.text.push(b'\n');
                }
            }
        }
        Ok(&self.text[self.at..])
    }

    fn consume(&mut self, amt: usize) {
        self.at = (self.at + amt).min(self.text.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[u8], format: Format, encoding: Option<Encoding>) -> Result<Vec<(u64, Value)>> {
        let dir = std::env::temp_dir().join(format!("elo-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.csv", text.len()));
        std::fs::write(&path, text)?;
        let file = RowFile::inspect(&path, format, encoding);
        let mut out = Vec::new();
        if let Ok(f) = &file {
            f.for_each_row(BufReader::new(File::open(&path)?), |line, row| {
                out.push((line, row.unwrap_or_else(Value::String)));
                Ok(())
            })?;
        }
        let _ = std::fs::remove_file(&path);
        file.map(|_| out)
    }

    #[test]
    fn crlf_lines_keep_their_numbers() {
        let got = rows(
            b"cpf,name\r\n1,Ana\r\n2,Bia\r\n3,Caio,extra\r\n",
            Format::Csv,
            None,
        )
        .unwrap();
        let lines: Vec<u64> = got.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 3, 4]);
        assert_eq!(got[1].1["name"], "Bia", "no '\\r' left in a field");
        assert!(got[2].1.as_str().unwrap().starts_with("malformed CSV row"));
    }

    #[test]
    fn semicolons_latin1_and_a_bom_are_read() {
        let got = rows(
            b"\xEF\xBB\xBFcpf;name;city\n1;\"Souza; Ana\";Recife\n",
            Format::Csv,
            None,
        )
        .unwrap();
        assert_eq!(got[0].1["cpf"], "1", "the BOM is not part of the name");
        assert_eq!(got[0].1["name"], "Souza; Ana");
        let latin1 = rows(b"name;city\nJo\xE3o;S\xE3o Paulo\n", Format::Csv, None).unwrap();
        assert_eq!(latin1[0].1["name"], "João");
        assert_eq!(latin1[0].1["city"], "São Paulo");
        let err = rows(b"name\nJo\xE3o\n", Format::Csv, Some(Encoding::Utf8)).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(err.to_string().contains("--encoding windows-1252"), "{err}");
        let tabs = rows(b"cpf\tname\n1\tAna, Souza\n", Format::Csv, None).unwrap();
        assert_eq!(tabs[0].1["name"], "Ana, Souza");
    }

    #[test]
    fn an_unterminated_quote_is_refused_with_its_line() {
        let err = rows(
            b"cpf,name\n1,Ana\n2,\"Bia\n3,Caio\n4,Davi\n",
            Format::Csv,
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("line 3: malformed CSV row"),
            "{err}"
        );
        // A quote inside an unquoted field, and a quoted field over two
        // lines, are not.
        let ok = rows(
            b"sku,description\nP1,Tubo 5\" pol\nP2,\"Dois\nlinhas\"\nP3,x\n",
            Format::Csv,
            None,
        )
        .unwrap();
        let lines: Vec<u64> = ok.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 3, 5]);
    }
}

//! Where `elo`'s log goes and in what shape: lines for a person on the
//! terminal (standard error, coloured only when it is a terminal), or JSON
//! lines (`--log-format json`) for a log collector; to standard error
//! (what journald and Windows' service wrappers capture), or to files of a
//! day each (`--log-file PATH`) that are dropped after [`KEPT_DAYS`], or
//! cut by size (`--log-max-size MB`: PATH, then PATH.1 … PATH.14, newest
//! first; file-rotate does the cutting, tracing-appender rotates by time
//! only).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// How many daily files `--log-file` keeps.
pub const KEPT_DAYS: usize = 14;

/// The shape of each log line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line a person reads: time, level, where, message
    #[default]
    Human,
    /// One JSON object a line: timestamp, level, fields, target
    Json,
}

/// How many files `--log-max-size` keeps besides the one being written.
pub const KEPT_FILES: usize = 14;

/// Where `--log-file` writes, and whether it cuts by size.
pub struct LogFiles<'a> {
    pub path: &'a Path,
    /// Megabytes (MiB) a file may reach before the next is started; `None`:
    /// a file a day.
    pub max_mb: Option<u64>,
}

/// Starts the log: `verbose` (or `ELO_LOG`) sets what is kept.
pub fn init(verbose: u8, format: LogFormat, file: Option<LogFiles<'_>>) -> Result<()> {
    let default = match verbose {
        0 => "warn",
        1 => "info,elo_node=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ELO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let to_file = file.is_some();
    let writer = match file {
        Some(LogFiles {
            path,
            max_mb: Some(mb),
        }) => BoxMakeWriter::new(std::sync::Mutex::new(sized_files(path, mb)?)),
        Some(LogFiles { path, max_mb: None }) => BoxMakeWriter::new(daily_files(path)?),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    // Colour codes only for a person at a terminal, never into a file.
    let colour = !to_file && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let base = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Human => base.with_ansi(colour).init(),
        LogFormat::Json => base.json().init(),
    }
    Ok(())
}

/// PATH, cut once it passes `mb` MiB (at the end of a write, never within
/// a line): the full file becomes PATH.1, the older ones move up, and past
/// [`KEPT_FILES`] the oldest is dropped. The folder is made and the file
/// opened first, so a path the node cannot write to is refused with what
/// to do rather than later.
fn sized_files(path: &Path, mb: u64) -> Result<FileRotate<AppendCount>> {
    let cannot = || {
        format!(
            "--log-file {}: cannot write there (check that the folder can be made and the node's user may write to it)",
            path.display()
        )
    };
    if path.file_name().is_none() {
        bail!(
            "--log-file {}: name a file, such as /var/log/elo/node.log",
            path.display()
        );
    }
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).with_context(cannot)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(cannot)?;
    let bytes = usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    Ok(FileRotate::new(
        path,
        AppendCount::new(KEPT_FILES),
        ContentLimit::BytesSurpassed(bytes),
        Compression::None,
        None,
    ))
}

/// `PATH.YYYY-MM-DD` in PATH's folder, a new file each day (UTC), the
/// folder made if it is missing.
fn daily_files(path: &Path) -> Result<RollingFileAppender> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        bail!(
            "--log-file {}: name a file, such as /var/log/elo/node.log",
            path.display()
        );
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(name)
        .max_log_files(KEPT_DAYS)
        .build(&folder)
        .with_context(|| {
            format!(
                "--log-file {}: cannot write there (check that the folder can be made and the node's user may write to it)",
                path.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_file_past_its_size_is_cut_at_a_line_end_and_the_oldest_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("logs").join("node.log");
        let mut log = sized_files(&path, 1).expect("the log files");
        let line = format!("{}\n", "x".repeat(1023));
        // 20 files' worth: 1 MiB each, in lines of 1 KiB.
        for _ in 0..(20 * 1024 + 10) {
            log.write_all(line.as_bytes()).expect("written");
        }
        log.flush().expect("flushed");
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&path) > 0 && size(&path) <= 1 << 20, "{}", size(&path));
        let full = path.with_file_name("node.log.1");
        assert!(size(&full) >= 1 << 20, "PATH.1 is the last full file");
        assert_eq!(size(&full) % 1024, 0, "cut at a line's end");
        assert!(
            path.with_file_name(format!("node.log.{KEPT_FILES}"))
                .exists()
        );
        assert!(
            !path
                .with_file_name(format!("node.log.{}", KEPT_FILES + 1))
                .exists()
        );
    }

    #[test]
    fn a_log_path_that_cannot_be_written_is_refused_saying_so() {
        let dir = tempfile::tempdir().expect("temp dir");
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, "").expect("a file");
        let Err(err) = sized_files(&blocker.join("node.log"), 1) else {
            panic!("a log under a file is refused");
        };
        assert!(format!("{err:#}").contains("cannot write there"), "{err:#}");
    }
}

//! Where `elo`'s log goes and in what shape: lines for a person on the
//! terminal (standard error, coloured only when it is a terminal), or JSON
//! lines (`--log-format json`) for a log collector; to standard error
//! (what journald and Windows' service wrappers capture), or to files of a
//! day each (`--log-file PATH`) that are dropped after [`KEPT_DAYS`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
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

/// Starts the log: `verbose` (or `ELO_LOG`) sets what is kept.
pub fn init(verbose: u8, format: LogFormat, file: Option<&Path>) -> Result<()> {
    let default = match verbose {
        0 => "warn",
        1 => "info,elo_node=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ELO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let writer = match file {
        Some(path) => BoxMakeWriter::new(daily_files(path)?),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    // Colour codes only for a person at a terminal, never into a file.
    let colour = file.is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let base = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Human => base.with_ansi(colour).init(),
        LogFormat::Json => base.json().init(),
    }
    Ok(())
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

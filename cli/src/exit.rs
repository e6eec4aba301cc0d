//! How `elo` ends: its exit codes and, with `--json`, its errors as JSON
//! objects on standard output, so a script reads every outcome the same
//! way.

use std::process::ExitCode;

use serde_json::json;

use crate::client::ApiFailure;

/// A command that could not do what was asked (the message says why).
pub const FAILED: u8 = 1;
/// The command line itself is wrong: an unknown command or option, a
/// missing or invalid argument.
pub const USAGE: u8 = 2;
/// The command ran, but some rows of its file were refused (`import`) or
/// not adopted cleanly (`adopt`); the others were written.
pub const ROWS_REFUSED: u8 = 3;

/// What `elo --help` says of the exit codes (the README lists the same).
pub const HELP: &str = "\
Exit codes:
  0  success
  1  the command failed (the message says why)
  2  bad command line (unknown command or option, invalid argument)
  3  some rows of the file were refused (import) or not adopted cleanly (adopt); the others were written

With --json every command prints JSON on standard output, on success and on
failure: {\"error\": CODE, \"message\": TEXT, \"fields\": [{\"field\", \"reason\"}]}.";

/// Ends a command that failed: the message on standard error, or with
/// `--json` an error object on standard output.
pub fn failed(e: &anyhow::Error, json_out: bool) -> ExitCode {
    let message = format!("{e:#}");
    if json_out {
        let mut v = json!({ "error": "failed", "message": message, "fields": [] });
        if let Some(f) = e.downcast_ref::<ApiFailure>() {
            v["error"] = json!(f.error);
            v["fields"] = f.fields.clone();
            v["status"] = json!(f.status);
        }
        println!("{v}");
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::from(FAILED)
}

/// Ends on a command line clap refused (or on `--help`/`--version`, which
/// clap reports the same way and which succeed).
pub fn usage(e: &clap::Error, json_out: bool) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if informational {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(USAGE)
        } else {
            ExitCode::SUCCESS
        };
    }
    if json_out {
        // clap's text without its usage and "try --help" lines: the error
        // and what it lists (the missing arguments, the accepted values).
        let rendered = e.render().to_string();
        let message = rendered
            .lines()
            .map(str::trim)
            .take_while(|l| !l.starts_with("Usage:"))
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let message = message.trim_start_matches("error: ");
        println!(
            "{}",
            json!({ "error": "usage", "message": message, "fields": [] })
        );
    } else {
        let _ = e.print();
    }
    ExitCode::from(USAGE)
}

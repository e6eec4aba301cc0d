//! `elo console`: a link that logs a browser into the node's console once.
//! The node makes a one-time ticket for the holder of the API token; the
//! link carries the ticket, never the token.

use anyhow::{Context, Result};
use serde_json::json;

use elo_node::DataDir;

use crate::client::Client;
use crate::output::print_json;

/// Prints the login link and, where a desktop exists, opens it.
pub fn console(data: &DataDir, no_open: bool, json_out: bool) -> Result<()> {
    let client = Client::open(data)?;
    client.needs_node(Some("which serves the console at /ui"))?;
    let answer = client.send("POST", "/ui/tickets", None)?;
    let login = answer["login"]
        .as_str()
        .context("the node answered no login link")?;
    let base = client.node_address().unwrap_or("http://127.0.0.1:4711");
    let url = format!("{}{login}", reachable(base));
    let opened = !no_open && open_in_browser(&url);
    let minutes = answer["expires_in_s"].as_u64().unwrap_or(120) / 60;
    if json_out {
        print_json(
            &json!({ "url": url, "opened": opened, "expires_in_s": answer["expires_in_s"] }),
        );
    } else {
        println!("{url}");
        eprintln!(
            "open this link in a browser on this machine: it logs in once, within {minutes} minutes{}",
            if opened { " (opening it now)" } else { "" }
        );
    }
    Ok(())
}

/// A node listening on every address is reached on this machine's own.
fn reachable(base: &str) -> String {
    base.replacen("//0.0.0.0:", "//127.0.0.1:", 1)
        .replacen("//[::]:", "//[::1]:", 1)
}

/// Opens `url` with the desktop's browser when there is a desktop; never
/// fails the command (the link is printed either way).
fn open_in_browser(url: &str) -> bool {
    let desktop = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else if desktop {
        "xdg-open"
    } else {
        return false;
    };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

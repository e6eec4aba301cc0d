//! `elo service install|uninstall`: the node as a systemd service, started
//! at boot and again after a failure, as a user of its own that owns the
//! data directory and nothing else, with the sandbox systemd offers. Works
//! on the unit file and the system's users, never on the store, hence not
//! through the node's API.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::output::print_json;

/// The unit's file name; `systemctl … elo` names it.
pub const UNIT: &str = "elo.service";
/// Where a service's data lives on Linux when no --data is given.
const DEFAULT_DATA: &str = "/var/lib/elo";

#[derive(Subcommand)]
pub enum ServiceCommand {
    /// Write a systemd unit that runs `elo node` at start-up and after a
    /// failure, as its own user, sandboxed; print how to enable it
    Install(InstallArgs),
    /// Stop and disable the service (as root with systemd running) and
    /// remove its unit; the data directory is kept
    Uninstall {
        /// The folder the unit is in
        #[arg(long, default_value = "/etc/systemd/system")]
        unit_dir: PathBuf,
    },
}

#[derive(Args)]
pub struct InstallArgs {
    /// The user the node runs as; it owns the data directory
    #[arg(long, default_value = "elo")]
    user: String,
    /// Make the user (useradd --system) and give it the data directory;
    /// as root only, otherwise the commands are printed
    #[arg(long)]
    create_user: bool,
    /// The folder to write the unit in
    #[arg(long, default_value = "/etc/systemd/system")]
    unit_dir: PathBuf,
    /// More arguments for `elo node`, after `--` (e.g. -- --peer /ip4/10.0.0.5/tcp/4712)
    #[arg(last = true, value_name = "NODE_ARGS")]
    node_args: Vec<String>,
}

/// `elo service …`; `data` is --data or ELO_DATA, else /var/lib/elo.
pub fn service(data: Option<PathBuf>, command: ServiceCommand, json_out: bool) -> Result<()> {
    match command {
        ServiceCommand::Install(args) => {
            let data = absolute(&data.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA)))?;
            install(&data, &args, json_out)
        }
        ServiceCommand::Uninstall { unit_dir } => uninstall(&unit_dir, json_out),
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("--data {}", path.display()))
}

fn install(data: &Path, args: &InstallArgs, json_out: bool) -> Result<()> {
    check_user_name(&args.user)?;
    let elo = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("cannot tell where this elo program is, for the unit's ExecStart")?;
    let unit = unit_text(&elo, data, &args.user, &args.node_args)?;
    std::fs::create_dir_all(&args.unit_dir)
        .with_context(|| format!("cannot make {}", args.unit_dir.display()))?;
    let path = args.unit_dir.join(UNIT);
    std::fs::write(&path, unit).with_context(|| {
        format!(
            "cannot write {} (as root: sudo elo service install …)",
            path.display()
        )
    })?;
    let user_steps = user_steps(data, &args.user);
    let made_user = args.create_user && is_root();
    if made_user {
        for step in &user_steps {
            run(step)?;
        }
    }
    let enable = "systemctl daemon-reload && systemctl enable --now elo";
    if json_out {
        let todo: Vec<String> = if made_user {
            vec![]
        } else {
            user_steps.iter().map(|s| s.join(" ")).collect()
        };
        print_json(
            &json!({ "unit": path, "data": data, "user": args.user, "to_run": todo, "enable": enable }),
        );
        return Ok(());
    }
    println!(
        "Wrote {}: elo node as user {}, data in {}.",
        path.display(),
        args.user,
        data.display()
    );
    if made_user {
        println!("User {} made and given {}.", args.user, data.display());
    } else {
        println!("Make the user and give it the data directory (as root; --create-user does it):");
        for step in &user_steps {
            println!("  {}", step.join(" "));
        }
    }
    println!(
        "The data directory needs a company: `elo init` or `elo join` with --data {} as that user",
        data.display()
    );
    println!(
        "(sudo -u {} elo init --data {} …), or an existing one moved there and given to it.",
        args.user,
        data.display()
    );
    println!("Then start it now and at every boot:");
    println!("  {enable}");
    println!("Its log: journalctl -u elo -f");
    Ok(())
}

/// A user name useradd takes: what the unit's `User=` can hold, nothing
/// a shell or the unit file would read otherwise.
fn check_user_name(name: &str) -> Result<()> {
    let fits = !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !fits {
        bail!(
            "--user {name:?}: a system user name is lower-case letters, digits, _ and -, at most 32"
        );
    }
    Ok(())
}

/// The commands that make the user (if missing) and give it the data
/// directory, readable by it alone.
fn user_steps(data: &Path, user: &str) -> Vec<Vec<String>> {
    let data = data.display().to_string();
    let mut steps = Vec::new();
    let exists = Command::new("id")
        .args(["-u", user])
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        steps.push(
            [
                "useradd",
                "--system",
                "--home-dir",
                &data,
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                user,
            ]
            .map(String::from)
            .to_vec(),
        );
    }
    steps.push(
        ["install", "-d", "-m", "0700", "-o", user, &data]
            .map(String::from)
            .to_vec(),
    );
    // `user:` is the user and its own group, whatever that group is named.
    steps.push(
        ["chown", "-R", &format!("{user}:"), &data]
            .map(String::from)
            .to_vec(),
    );
    steps
}

fn run(step: &[String]) -> Result<()> {
    let (program, args) = step.split_first().context("an empty command")?;
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    if !status.success() {
        bail!("`{}` failed ({status})", step.join(" "));
    }
    Ok(())
}

fn is_root() -> bool {
    #[cfg(unix)]
    // SAFETY: geteuid only reads the process's user id.
    return unsafe { libc::geteuid() } == 0;
    #[cfg(not(unix))]
    false
}

/// A path as a unit's command line or setting takes it: absolute, and
/// nothing systemd would read as a separator or a specifier unquoted.
fn unit_path(p: &Path) -> Result<String> {
    let text = p.to_str().context("the path is not UTF-8")?;
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'\\%$;".contains(c))
    {
        bail!("{text:?}: a path for the service without spaces, quotes, %, $, ; or \\");
    }
    Ok(text.to_owned())
}

/// The unit. The sandbox leaves the node what it uses: its data directory
/// (read-write, the rest of the system read-only), TCP for the API and the
/// mesh, UDP and netlink for mDNS (which lists the interfaces over
/// netlink), no privileges, no devices, no other users' homes.
fn unit_text(elo: &Path, data: &Path, user: &str, node_args: &[String]) -> Result<String> {
    let (elo, data_text) = (unit_path(elo)?, unit_path(data)?);
    let mut exec = format!("{elo} --data {data_text} node");
    for arg in node_args {
        if arg
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'\\%$;".contains(c))
        {
            bail!("{arg:?}: an argument for the node without spaces, quotes, %, $, ; or \\");
        }
        exec.push(' ');
        exec.push_str(arg);
    }
    // A data directory in a home needs the homes visible (read-only but it).
    let homes = ["/home", "/root", "/run/user"];
    let protect_home = if homes.iter().any(|h| data.starts_with(h)) {
        "read-only"
    } else {
        "yes"
    };
    Ok(format!(
        "\
# Written by `elo service install`; `elo service uninstall` removes it.
[Unit]
Description=elo node (data in {data_text})
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={user}
ExecStart={exec}
Restart=on-failure
RestartSec=5
# The node stops cleanly on SIGTERM: the writer finishes and closes the store.
TimeoutStopSec=30
UMask=0077

NoNewPrivileges=yes
CapabilityBoundingSet=
ProtectSystem=strict
ReadWritePaths={data_text}
ProtectHome={protect_home}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"
    ))
}

fn uninstall(unit_dir: &Path, json_out: bool) -> Result<()> {
    let path = unit_dir.join(UNIT);
    let systemd_runs = Path::new("/run/systemd/system").exists();
    let in_use = is_root() && systemd_runs && unit_dir == Path::new("/etc/systemd/system");
    if in_use {
        // Stopped and disabled while its file is there for systemd to read.
        run(&["systemctl", "disable", "--now", UNIT].map(String::from))?;
    }
    let removed = match std::fs::remove_file(&path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
    };
    if in_use {
        run(&["systemctl", "daemon-reload"].map(String::from))?;
    }
    if json_out {
        print_json(&json!({ "unit": path, "removed": removed, "stopped": in_use }));
        return Ok(());
    }
    match (removed, in_use) {
        (false, _) => println!("No unit at {}: nothing to remove.", path.display()),
        (true, true) => println!("Stopped, disabled and removed {}.", path.display()),
        (true, false) => {
            println!("Removed {}. Where it was in use, also run:", path.display());
            println!("  systemctl disable --now elo; systemctl daemon-reload");
        }
    }
    println!("The data directory and the user are kept.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_the_node_as_its_user_with_the_data_directory_writable() {
        let unit = unit_text(
            Path::new("/usr/bin/elo"),
            Path::new("/var/lib/elo"),
            "elo",
            &["--no-mdns".into()],
        )
        .unwrap();
        for line in [
            "ExecStart=/usr/bin/elo --data /var/lib/elo node --no-mdns",
            "User=elo",
            "Restart=on-failure",
            "ReadWritePaths=/var/lib/elo",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        ] {
            assert!(unit.lines().any(|l| l == line), "{line} missing in\n{unit}");
        }
        let home = unit_text(
            Path::new("/usr/bin/elo"),
            Path::new("/home/ana/elo"),
            "ana",
            &[],
        )
        .unwrap();
        assert!(home.contains("ProtectHome=read-only"), "{home}");
    }

    #[test]
    fn a_path_or_argument_the_unit_would_misread_is_refused() {
        let elo = Path::new("/usr/bin/elo");
        assert!(unit_text(elo, Path::new("/var/lib/my elo"), "elo", &[]).is_err());
        assert!(
            unit_text(
                elo,
                Path::new("/var/lib/elo"),
                "elo",
                &["--peer x;y".into()]
            )
            .is_err()
        );
        assert!(check_user_name("Elo Node").is_err());
        assert!(check_user_name("-r").is_err());
        assert!(check_user_name("elo").is_ok());
    }
}

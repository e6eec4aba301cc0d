//! A LAN of network namespaces for tests that cut links: one namespace per
//! company's machine, each joined by a veth pair to a bridge that lives in
//! a namespace of its own, so nothing of it touches the host's network.
//! Taking a machine's bridge port down makes its frames vanish, as with a
//! pulled cable or a VPN that drops: neither end is told. Everything is
//! removed when the [`Lan`] is dropped. Needs root and iproute2; [`Lan::new`]
//! says why when it cannot be made, so a test can skip.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::elo_bin;

/// Namespaces, veth pairs and a bridge, removed on drop.
pub struct Lan {
    bridge_ns: String,
    machines: Vec<Machine>,
    /// Processes started in the machines; killed on drop.
    children: Vec<Child>,
}

/// One machine: its namespace, its address, and its port on the bridge.
pub struct Machine {
    pub ns: String,
    pub addr: String,
    port: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lan {
    /// A bridge with `machines` namespaces on it, addressed 10.232.X.1…
    pub fn new(machines: usize) -> Result<Lan, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let seq = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}{seq}", std::process::id() % 100_000);
        let mut lan = Lan {
            bridge_ns: format!("elo-lan-{tag}"),
            machines: Vec::new(),
            children: Vec::new(),
        };
        ip(&["netns", "add", &lan.bridge_ns])?;
        let br = lan.bridge_ns.clone();
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &br, "link", "set", "br0", "up"])?;
        let subnet = 1 + (std::process::id() + seq * 37) % 250;
        for i in 0..machines {
            let ns = format!("elo-m{i}-{tag}");
            ip(&["netns", "add", &ns])?;
            // Pushed before the veth exists, so a failure half-way still
            // removes the namespace.
            let (inner, port) = (format!("eth{i}"), format!("p{i}-{tag}"));
            lan.machines.push(Machine {
                ns: ns.clone(),
                addr: format!("10.232.{subnet}.{}", i + 1),
                port: port.clone(),
            });
            ip(&[
                "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", &inner, "netns",
                &ns,
            ])?;
            ip(&["-n", &br, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &br, "link", "set", &port, "up"])?;
            let cidr = format!("10.232.{subnet}.{}/24", i + 1);
            ip(&["-n", &ns, "addr", "add", &cidr, "dev", &inner])?;
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(lan)
    }

    pub fn machine(&self, i: usize) -> &Machine {
        &self.machines[i]
    }

    /// The machine's frames stop going anywhere (its bridge port is down).
    pub fn cut(&self, i: usize) {
        let port = &self.machines[i].port;
        ip(&["-n", &self.bridge_ns, "link", "set", port, "down"]).expect("cut the link");
    }

    /// The machine's link works again.
    pub fn heal(&self, i: usize) {
        let port = &self.machines[i].port;
        ip(&["-n", &self.bridge_ns, "link", "set", port, "up"]).expect("heal the link");
    }

    /// `elo --data DATA ARGS` run to completion on machine `i`.
    pub fn elo(&self, i: usize, data: &Path, args: &[&str]) -> Output {
        self.elo_command(i, data, args)
            .output()
            .expect("run elo in a namespace")
    }

    fn elo_command(&self, i: usize, data: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.machines[i].ns])
            .arg(elo_bin())
            .arg("--data")
            .arg(data)
            .args(args)
            .env_remove("ELO_DATA");
        cmd
    }

    /// Starts `elo node` on machine `i`, its mesh on the machine's address
    /// (no mDNS: members find each other by the roster's addresses, as
    /// across a VPN), its log appended to `DATA/node.log`. Stopped when the
    /// LAN is dropped.
    pub fn start_node(&mut self, i: usize, data: &Path) -> usize {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("node.log"))
            .expect("node log");
        let listen = format!("/ip4/{}/tcp/0", self.machines[i].addr);
        let child = self
            .elo_command(
                i,
                data,
                &[
                    "node",
                    "--api",
                    "127.0.0.1:0",
                    "--listen",
                    &listen,
                    "--no-mdns",
                ],
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start a node in a namespace");
        self.children.push(child);
        self.children.len() - 1
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A namespace takes its end of each veth pair with it.
        for m in &self.machines {
            let _ = ip(&["netns", "del", &m.ns]);
        }
        let _ = ip(&["netns", "del", &self.bridge_ns]);
    }
}

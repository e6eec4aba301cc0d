//! Zero-config discovery: two nodes in network namespaces joined by a veth
//! pair (made here, removed at the end) find each other with mDNS alone.
//! libp2p skips loopback for mDNS, so this needs a real interface; without
//! root or `ip netns` the test prints why it skips.

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use elo_tests::{Company, cnpj, elo_bin, wait_until};

struct Netns {
    names: Vec<String>,
    children: Vec<Child>,
    /// A veth end left in the host's namespace if setting up failed half-way.
    link: Option<String>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
        if let Some(link) = &self.link {
            let _ = Command::new("ip")
                .args(["link", "del", link])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn elo_in(ns: &str, company: &Company, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(elo_bin())
        .arg("--data")
        .arg(company.data())
        .args(args)
        .env_remove("ELO_DATA")
        .output()
        .expect("run elo in a namespace")
}

fn node_in(ns: &str, company: &Company, listen: &str) -> Child {
    let log = std::fs::File::create(company.data().join("node.log")).expect("log");
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(elo_bin())
        .arg("--data")
        .arg(company.data())
        .args(["node", "--api", "127.0.0.1:0", "--listen", listen])
        .env_remove("ELO_DATA")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start a node in a namespace")
}

#[test]
fn two_nodes_on_a_lan_find_each_other_with_mdns() {
    let tag = format!("{}", std::process::id() % 10_000);
    let (na, nb) = (format!("elo-a-{tag}"), format!("elo-b-{tag}"));
    if !ip(&["netns", "add", &na]) {
        eprintln!("SKIPPED: cannot create a network namespace (needs root and iproute2)");
        return;
    }
    let mut env = Netns {
        names: vec![na.clone()],
        children: Vec::new(),
        link: None,
    };
    if !ip(&["netns", "add", &nb]) {
        eprintln!("SKIPPED: cannot create a second network namespace");
        return;
    }
    env.names.push(nb.clone());
    let (va, vb) = (format!("veA{tag}"), format!("veB{tag}"));
    env.link = Some(va.clone());
    let octet = 1 + std::process::id() % 200;
    let (addr_a, addr_b) = (format!("10.231.{octet}.1"), format!("10.231.{octet}.2"));
    for step in [
        vec![
            "link",
            "add",
            va.as_str(),
            "type",
            "veth",
            "peer",
            "name",
            vb.as_str(),
        ],
        vec!["link", "set", va.as_str(), "netns", na.as_str()],
        vec!["link", "set", vb.as_str(), "netns", nb.as_str()],
    ] {
        if !ip(&step) {
            // A sandbox may allow namespaces but not veth pairs.
            eprintln!("SKIPPED: `ip {}` failed", step.join(" "));
            return;
        }
    }
    for (ns, dev, addr) in [(&na, &va, &addr_a), (&nb, &vb, &addr_b)] {
        let cidr = format!("{addr}/24");
        let ok = ip(&["-n", ns, "addr", "add", &cidr, "dev", dev])
            && ip(&["-n", ns, "link", "set", dev, "up"])
            && ip(&["-n", ns, "link", "set", "lo", "up"]);
        if !ok {
            eprintln!("SKIPPED: cannot configure the veth pair in {ns}");
            return;
        }
    }

    let a = Company::init(&cnpj(71), "A");
    let b = Company::init_empty();
    env.children
        .push(node_in(&na, &a, &format!("/ip4/{addr_a}/tcp/0")));
    wait_until("A's node is up", Duration::from_secs(10), || {
        a.data().join("node.json").exists()
    });
    std::thread::sleep(Duration::from_millis(300));
    let invite = elo_in(&na, &a, &["invite"]);
    assert!(
        invite.status.success(),
        "{}",
        String::from_utf8_lossy(&invite.stderr)
    );
    let invite = String::from_utf8_lossy(&invite.stdout).trim().to_string();
    let joined = elo_in(
        &nb,
        &b,
        &["join", &invite, "--company", &cnpj(72), "--name", "B"],
    );
    assert!(
        joined.status.success(),
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );

    // A moves to another port: the address B remembers is now stale, so
    // only mDNS can bring the two together.
    let mut old = env.children.remove(0);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(old.id().to_string())
        .status();
    let _ = old.wait();
    env.children
        .push(node_in(&na, &a, &format!("/ip4/{addr_a}/tcp/0")));
    env.children
        .push(node_in(&nb, &b, &format!("/ip4/{addr_b}/tcp/0")));
    wait_until("both nodes up", Duration::from_secs(10), || {
        a.data().join("node.json").exists() && b.data().join("node.json").exists()
    });
    std::thread::sleep(Duration::from_millis(300));
    let put = elo_in(
        &na,
        &a,
        &["put", "unit", r#"{"code":"CX","description":"Caixa"}"#],
    );
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    // Measured at about 0.1 s from the put (and 0.2 s from the restart);
    // the bound leaves room for a loaded machine.
    wait_until(
        "A's record at B, found by mDNS",
        Duration::from_secs(15),
        || elo_in(&nb, &b, &["get", "unit", "CX"]).status.success(),
    );
}

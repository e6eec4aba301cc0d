//! What an operator reads when the machine, not the data, is wrong: a
//! damaged store (what to do, a salvage, the restore it names), a mesh port
//! another node holds, a node of another group dialing in. Real `elo`
//! processes on 127.0.0.1 with real redb files.

use std::time::Duration;

use elo_tests::{Company, cnpj, wait_until};

const CPFS: [&str; 3] = ["52998224725", "11144477735", "39053344705"];

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Zeros over the store's commit slots: redb can no longer open it.
fn damage(path: &std::path::Path) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(64)).unwrap();
    f.write_all(&[0u8; 4096 - 64]).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn a_damaged_store_says_what_to_do_salvages_and_restores() {
    let a = Company::init(&cnpj(131), "A");
    for (i, cpf) in CPFS.iter().enumerate() {
        a.elo_ok(&[
            "put",
            "customer",
            &format!(r#"{{"cpf":"{cpf}","name":"Cliente {i}"}}"#),
        ]);
    }
    let backup = a.data().join("before-damage.redb");
    a.elo_ok(&["backup", backup.to_str().unwrap()]);
    damage(&a.data().join("store.redb"));

    let out = a.elo(&["get", "customer", CPFS[0]]);
    assert!(!out.status.success());
    // What to do, with the commands as they are typed here.
    let said = text(&out);
    let dir = a.data().display().to_string();
    let restore = format!("elo restore BACKUP --data {dir}");
    let salvage = format!("elo salvage --out FILE --data {dir}");
    assert!(said.contains(&restore) && said.contains(&salvage), "{said}");

    let salvaged = a.data().join("salvaged.jsonl");
    let out = a.elo_ok(&["salvage", "--out", salvaged.to_str().unwrap()]);
    assert!(text(&out).contains("wrote"), "{}", text(&out));
    let lines = std::fs::read_to_string(&salvaged).unwrap();
    for cpf in CPFS {
        assert!(lines.contains(cpf), "{cpf} not salvaged: {lines}");
    }

    a.elo_ok(&["restore", backup.to_str().unwrap()]);
    let out = a.elo_ok(&["get", "customer", CPFS[2]]);
    assert!(text(&out).contains("Cliente 2"), "{}", text(&out));
}

#[test]
fn a_second_node_on_a_taken_mesh_port_does_not_start() {
    let a = Company::init(&cnpj(132), "A");
    let b = Company::init(&cnpj(133), "B");
    let node_a = a.start_node();
    let port = node_a
        .p2p_addr()
        .split("/tcp/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a's mesh port")
        .to_owned();
    let out = b
        .command(&[
            "node",
            "--api",
            "127.0.0.1:0",
            "--no-mdns",
            "--listen",
            &format!("/ip4/127.0.0.1/tcp/{port}"),
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "b started on a's port: {}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!("tcp port {port} already")),
        "{}",
        text(&out)
    );
}

/// A node of another group given a member's address: both say so, once
/// each in their logs however often it dials, and in `elo status`.
#[test]
fn a_node_of_another_group_is_named_on_both_sides() {
    let member = Company::init(&cnpj(134), "Member");
    let stranger = Company::init(&cnpj(135), "Stranger");
    let node_m = member.start_node();
    let member_addr = node_m.p2p_addr();
    let dial_member = [
        "--no-mdns",
        "--peer",
        &member_addr,
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
    ];
    let _node_s = stranger.start_node_with(&dial_member);
    let said = "is of another group";
    // It redials every few seconds: wait for a second try before counting.
    wait_until("both sides list the other", Duration::from_secs(40), || {
        let m = member.elo_json(&["status"]);
        let s = stranger.elo_json(&["status"]);
        let tries = |v: &serde_json::Value| v["other_groups"][0]["attempts"].as_u64().unwrap_or(0);
        tries(&m) >= 2 && tries(&s) >= 2
    });
    for (who, company) in [("member", &member), ("stranger", &stranger)] {
        let log = std::fs::read_to_string(company.data().join("node.log")).unwrap();
        assert_eq!(log.matches(said).count(), 1, "{who}'s log: {log}");
        assert!(!log.contains("Failed to negotiate"), "{who}'s log: {log}");
        let status = text(&company.elo_ok(&["status"]));
        assert!(status.contains(said), "{who}'s status: {status}");
    }
}

/// A tmpfs of its own for one test, unmounted when dropped; `None` where
/// it cannot be mounted (not root).
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

/// An import onto a disk that fills stops saying at which line and why;
/// with space back, the same command stores the rest.
#[test]
fn an_import_that_fills_the_disk_says_where_it_stopped() {
    let Some(disk) = SmallDisk::mount("40m") else {
        return;
    };
    let a = Company::init(&cnpj(136), "A");
    let data = disk.0.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // The company's data directory on the small disk.
    for entry in std::fs::read_dir(a.data()).unwrap().flatten() {
        std::fs::copy(entry.path(), data.join(entry.file_name())).unwrap();
    }
    let elo = |args: &[&str]| {
        std::process::Command::new(elo_tests::elo_bin())
            .arg("--data")
            .arg(&data)
            .args(args)
            .env_remove("ELO_DATA")
            .output()
            .unwrap()
    };
    // Leave about 3 MiB free, then import far more than that.
    let filler = disk.0.path().join("filler");
    let free = fs_free(disk.0.path());
    std::fs::write(&filler, vec![0u8; (free - 3 * 1024 * 1024) as usize]).unwrap();
    let rows: String = (0..3000)
        .map(|i| {
            format!(
                "{{\"cpf\":\"{}\",\"name\":\"Cliente {i}\",\"notes\":\"{}\"}}\n",
                elo_tests::cpf(100_000 + i),
                noise(i, 2000)
            )
        })
        .collect();
    let file = a.data().join("customers.jsonl");
    std::fs::write(&file, rows).unwrap();
    let out = elo(&[
        "import",
        "customer",
        file.to_str().unwrap(),
        "--batch",
        "100",
    ]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("the import stopped at line"), "{said}");
    assert!(said.contains("is it full?"), "{said}");
    std::fs::remove_file(&filler).unwrap();
    let out = elo(&[
        "import",
        "customer",
        file.to_str().unwrap(),
        "--batch",
        "100",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = elo(&["get", "customer", &elo_tests::cpf(102_999)]);
    assert!(text(&out).contains("Cliente 2999"), "{}", text(&out));
}

/// `len` letters that do not compress (a store keeps text compressed).
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

/// Bytes free on the file system at `dir`.
fn fs_free(dir: &std::path::Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap()
}

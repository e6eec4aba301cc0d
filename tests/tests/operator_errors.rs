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

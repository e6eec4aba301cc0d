//! The store's files as an operator handles them: backups to a place that
//! is not there, another company's backup, a damaged store. Real redb files
//! in temporary directories; each test says what the person reads.

use elo_node::DataDir;
use elo_node::store::backup::copy_file;

const MATRIZ: &str = "11.222.333/0001-81";
const FILIAL: &str = "11.444.777/0001-61";

fn company(dir: &tempfile::TempDir, name: &str, cnpj: &str) -> DataDir {
    let data = DataDir::new(dir.path().join(name));
    data.init(cnpj, name).expect("a new data directory");
    data
}

/// A backup to a folder that does not exist names that folder and the
/// file asked for (not the store, not a temporary name), and leaves
/// nothing behind.
#[test]
fn a_backup_to_a_missing_folder_names_the_folder() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = company(&dir, "matriz", MATRIZ);
    let target = dir.path().join("pendrive").join("store.redb");
    let e = copy_file(&data.store_path(), &target).expect_err("no such folder");
    let text = e.to_string();
    assert!(text.starts_with(&target.display().to_string()), "{text}");
    assert!(
        text.contains(&format!(
            "the folder {} does not exist",
            dir.path().join("pendrive").display()
        )),
        "{text}"
    );
    assert!(
        !text.contains(".partial") && !text.contains("not stored"),
        "{text}"
    );
    assert!(!dir.path().join("pendrive").exists());
}

/// Restoring another company's backup says whose it is and what to do,
/// not that the file is damaged, and changes nothing.
#[test]
fn restoring_another_companys_backup_says_whose_it_is() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let matriz = company(&dir, "matriz", MATRIZ);
    let filial = company(&dir, "filial", FILIAL);
    let backup = dir.path().join("filial-backup.redb");
    copy_file(&filial.store_path(), &backup).expect("a backup");
    let e = matriz
        .restore(&backup)
        .expect_err("another company's backup");
    let text = e.to_string();
    assert!(!text.contains("damaged"), "{text}");
    assert!(text.contains("backup of company 11444777000161"), "{text}");
    assert!(text.contains("holds company 11222333000181"), "{text}");
    assert!(text.contains("--data NEW_DIR"), "{text}");
    // The matriz's store is still the matriz's.
    let (_, company, _) = matriz.open().expect("the store opens");
    assert_eq!(company.cnpj, "11222333000181");
    assert!(!matriz.root().join("store.redb.before-restore").exists());
}

/// A small file system of its own for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (and why) where the test cannot mount one: not root, or no
    /// tmpfs here.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Some(Tmpfs { dir }),
            _ => {
                eprintln!("skipped: cannot mount a tmpfs here (needs root)");
                None
            }
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system at `dir` with one file, to the last byte.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("the filler");
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    for _ in 0..64 {
        if f.write_all(&[0u8; 512]).is_err() {
            break;
        }
    }
    let _ = f.sync_all();
    path
}

/// The disk fills: writes are refused saying so, status says the store
/// needs space; once space is back, writes work again without a restart,
/// and every write acknowledged before is still there.
#[tokio::test]
async fn after_the_disk_is_full_and_space_is_back_writes_work_again() {
    let Some(disk) = Tmpfs::mount("24m") else {
        return;
    };
    let data = DataDir::new(disk.path().join("data"));
    data.init(MATRIZ, "Matriz").expect("a new data directory");
    let (store, _, _) = data.open().expect("the store opens");
    let store = elo_node::StoreHandle::spawn(store);
    store
        .set_meta("test:before", b"kept".to_vec())
        .await
        .expect("a write with space");

    let filler = fill(disk.path());
    // Each value is bigger than what is left: the disk refuses.
    let big = vec![7u8; 2 * 1024 * 1024];
    let mut refused = None;
    for i in 0..8 {
        if let Err(e) = store.set_meta(&format!("test:big{i}"), big.clone()).await {
            refused = Some(e.to_string());
            break;
        }
    }
    let refused = refused.expect("a full disk refuses a write");
    assert!(refused.contains("is it full? Free space"), "{refused}");
    let problem = store.problem().expect("the store says what is wrong");
    assert!(problem.contains("disk"), "{problem}");

    std::fs::remove_file(&filler).expect("space back");
    let mut wrote = Err(String::new());
    for _ in 0..30 {
        wrote = store
            .set_meta("test:after", b"written".to_vec())
            .await
            .map_err(|e| e.to_string());
        if wrote.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(wrote, Ok(()), "a write once space is back");
    assert_eq!(store.problem(), None);
    assert_eq!(
        store.meta("test:before").await.expect("a read"),
        Some(b"kept".to_vec())
    );
    assert_eq!(
        store.meta("test:after").await.expect("a read"),
        Some(b"written".to_vec())
    );
    store.close().await.expect("the store closes");
}

/// Customers written through the store, for a test to damage.
async fn store_with_customers(data: &DataDir, n: usize) -> Vec<String> {
    let (store, _, _) = data.open().expect("the store opens");
    let store = elo_node::StoreHandle::spawn(store);
    let mut names = Vec::new();
    for i in 0..n {
        let name = format!("Cliente {i}");
        let cpf = cpf_of(i as u64 + 100_000_000);
        let body =
            serde_json::json!({ "cpf": cpf, "name": name, "email": format!("c{i}@example.com") });
        elo_node::records::put(&store, elo_crdt::Kind::Customer, None, &body, false)
            .await
            .expect("a customer");
        names.push(name);
    }
    store.close().await.expect("closed");
    names
}

/// A valid CPF from nine digits.
fn cpf_of(base: u64) -> String {
    let digits: Vec<u64> = format!("{base:09}")
        .bytes()
        .map(|b| u64::from(b - b'0'))
        .collect();
    let check = |ds: &[u64]| {
        let n = ds.len() as u64 + 1;
        let sum: u64 = ds.iter().enumerate().map(|(i, d)| d * (n - i as u64)).sum();
        let r = sum * 10 % 11;
        if r == 10 { 0 } else { r }
    };
    let mut all = digits.clone();
    all.push(check(&all));
    let d2 = check(&all);
    all.push(d2);
    all.iter().map(|d| d.to_string()).collect()
}

/// Overwrites the store's commit slots (the first page after the header's
/// fixed part) with zeros: redb can no longer find its roots.
fn damage_roots(path: &std::path::Path) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("the store");
    f.seek(SeekFrom::Start(64)).expect("seek");
    f.write_all(&[0u8; 4096 - 64]).expect("damage");
    f.sync_all().expect("sync");
}

/// A store damaged where redb keeps its roots: opening it says what to do
/// (restore a backup, with the command, or salvage and join again), and
/// `salvage` writes every customer that was stored, with its fields.
#[tokio::test]
async fn a_damaged_store_says_what_to_do_and_its_records_can_be_salvaged() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = company(&dir, "matriz", MATRIZ);
    let names = store_with_customers(&data, 40).await;
    let backup = dir.path().join("before.redb");
    copy_file(&data.store_path(), &backup).expect("a backup");
    damage_roots(&data.store_path());

    let e = data.open().err().expect("a damaged store does not open");
    let text = e.to_string();
    let root = data.root().display().to_string();
    for said in [
        "is damaged".to_owned(),
        format!("elo restore BACKUP --data {root}"),
        format!("elo salvage --out FILE --data {root}"),
        "there is none in".to_owned(),
    ] {
        assert!(text.contains(&said), "{said:?} not in {text}");
    }
    assert!(text.contains("elo join"), "{text}");

    let out = dir.path().join("salvaged.jsonl");
    let report = elo_node::store::salvage::salvage(&data.store_path(), &out).expect("salvage");
    let lines = std::fs::read_to_string(&out).expect("the salvaged records");
    let rows: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let mut salvaged: Vec<String> = rows
        .iter()
        .filter(|r| r["kind"] == "customer")
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect();
    salvaged.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(salvaged, expected, "{report:?}");
    assert!(
        rows.iter().any(|r| r["kind"] == "company"),
        "the company's own record"
    );
    // It never replaces a file.
    assert!(elo_node::store::salvage::salvage(&data.store_path(), &out).is_err());

    // The restore the message names puts the company back.
    data.restore(&backup)
        .expect("the backup restores over the damaged store");
    let (store, company, _) = data.open().expect("the restored store opens");
    assert_eq!(company.cnpj, "11222333000181");
    let db = store.database();
    assert_eq!(elo_node::store::read::record_count(&db).expect("count"), 41);
}

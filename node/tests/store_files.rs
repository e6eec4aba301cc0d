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

//! A company's data directory: what `elo init` creates and every command
//! opens.
//!
//! ```text
//! DIR/store.redb     records, change log, checkpoints, metadata (with a
//!                    copy of the identity key and token, for backups)
//! DIR/identity.key   the node's ed25519 key (owner-only)
//! DIR/api-token      the local API's bearer token (owner-only)
//! DIR/node.json      written while `elo node` runs: its API address and pid
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use elo_net::Keypair;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, read};

/// Copies of the identity key and API token, which backups carry.
use crate::store::tables::{META_API_TOKEN, META_IDENTITY};
/// Metadata keys the data directory keeps in the store (declared, with
/// every other key, in `store::tables`).
use crate::store::tables::{META_COMPANY, META_GROUP, META_PRIMARY};

/// Why a data directory could not be created or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataDirError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} already holds an elo company; use another --data directory")]
    AlreadyInitialised(String),
    #[error("{0} holds no elo company yet: run `elo init --company CNPJ --name NAME` first")]
    NotInitialised(String),
    #[error("invalid company CNPJ: {0}")]
    BadCnpj(elo_crdt::ident::IdentError),
    #[error("the company name must not be empty")]
    EmptyName,
    #[error("the company name {0}")]
    BadName(String),
    #[error("{path} is damaged: {reason}")]
    Damaged { path: String, reason: String },
    #[error(
        "{path} is a backup of company {theirs}, and this data directory holds company {ours}: nothing was changed. Restore this company's own backup, or put that company back in a directory of its own: elo restore {path} --data NEW_DIR"
    )]
    OtherCompany {
        path: String,
        theirs: String,
        ours: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// This company, as stored in its data directory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Company {
    pub cnpj: String,
    pub name: String,
    pub peer_id: String,
}

/// The group this company belongs to. At `init` the company founds it and is
/// its only member and its primary.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    /// The group's secret, from which the private-network key is derived.
    pub secret: String,
    pub primary: String,
    pub term: u64,
    /// The secrets the group moved away from, newest first (a few): a
    /// member that missed a move still listens under one of them, and is
    /// reached under it to be handed the current one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_secrets: Vec<String>,
    /// The company whose removal made the last move, named again when a
    /// member that missed it is handed the current secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_removed: Option<String>,
}

/// What the running `elo node` advertises to other commands.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeInfo {
    pub api: String,
    pub pid: u32,
}

/// A company's data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn store_path(&self) -> PathBuf {
        self.root.join("store.redb")
    }

    pub fn identity_path(&self) -> PathBuf {
        self.root.join("identity.key")
    }

    pub fn token_path(&self) -> PathBuf {
        self.root.join("api-token")
    }

    pub fn node_info_path(&self) -> PathBuf {
        self.root.join("node.json")
    }

    /// Creates the directory, the identity, the token and the group with this
    /// company as first member and primary.
    pub fn init(&self, cnpj: &str, name: &str) -> Result<(Company, Group), DataDirError> {
        self.init_with(cnpj, name, None)
    }

    /// Creates the directory of a company joining an existing group
    /// (`group_id`, `secret`); its primary is learnt when it is admitted.
    pub fn init_joining(
        &self,
        cnpj: &str,
        name: &str,
        group_id: &str,
        secret: &str,
    ) -> Result<(Company, Group), DataDirError> {
        self.init_with(cnpj, name, Some((group_id, secret)))
    }

    fn init_with(
        &self,
        cnpj: &str,
        name: &str,
        joining: Option<(&str, &str)>,
    ) -> Result<(Company, Group), DataDirError> {
        let cnpj = elo_crdt::ident::cnpj(cnpj).map_err(DataDirError::BadCnpj)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(DataDirError::EmptyName);
        }
        // The name goes on the company's roster record: check it as that
        // record checks it, before anything is made.
        let record = serde_json::json!({ "cnpj": cnpj, "name": name });
        if let Err(e) = elo_crdt::RecordPatch::from_json(elo_crdt::Kind::Company, &record) {
            let reason = e.0.into_iter().map(|f| f.reason).collect::<Vec<_>>();
            return Err(DataDirError::BadName(reason.join("; ")));
        }
        if self.store_path().exists() || self.identity_path().exists() {
            return Err(DataDirError::AlreadyInitialised(
                self.root.display().to_string(),
            ));
        }
        create_private_dir(&self.root)?;
        let key = Keypair::generate_ed25519();
        let key_bytes = self.encode_identity(&key)?;
        let token = random_hex(32);
        write_private(&self.identity_path(), &key_bytes)?;
        write_private(&self.token_path(), token.as_bytes())?;
        let company = Company {
            cnpj: cnpj.clone(),
            name: name.to_string(),
            peer_id: key.public().to_peer_id().to_string(),
        };
        let group = match joining {
            None => Group {
                id: random_hex(16),
                secret: random_hex(32),
                primary: cnpj.clone(),
                term: 1,
                previous_secrets: Vec::new(),
                last_removed: None,
            },
            Some((id, secret)) => Group {
                id: id.to_string(),
                secret: secret.to_string(),
                primary: String::new(),
                term: 0,
                previous_secrets: Vec::new(),
                last_removed: None,
            },
        };
        let mut store = Store::open(
            &self.store_path(),
            key.public().to_peer_id().to_bytes(),
            cnpj,
        )?;
        store.put_meta(META_GROUP, &json_bytes(&group))?;
        keep_credentials(&mut store, &key_bytes, &token)?;
        // This company is the first entry of its roster.
        let me = serde_json::json!({ "cnpj": company.cnpj, "name": company.name, "peer_id": company.peer_id });
        let patch = elo_crdt::RecordPatch::from_json(elo_crdt::Kind::Company, &me)
            .and_then(|p| p.doc_id(elo_crdt::Kind::Company).map(|id| (id, p)));
        if let Ok((id, patch)) = patch {
            store.write_batch(
                vec![crate::store::WriteOp::Put {
                    id,
                    patch,
                    return_record: false,
                }],
                crate::clock::now_ms(),
            )?;
        }
        // The company goes last: its presence marks the directory complete, so
        // an init interrupted half-way is not mistaken for a working one.
        store.put_meta(META_COMPANY, &json_bytes(&company))?;
        Ok((company, group))
    }

    /// Replaces the store with a backup made by `elo backup`. The node must
    /// be stopped. The backup is checked first (it must open as a store of
    /// this same company); the store it replaces is kept beside it as
    /// `store.redb.before-restore`. Returns the records the backup holds.
    ///
    /// On a directory that holds no company (a new machine), the backup's
    /// identity key and API token are put back too: the company comes back
    /// as the member it was.
    pub fn restore(&self, backup: &Path) -> Result<u64, DataDirError> {
        if !self.identity_path().exists() && !self.store_path().exists() {
            return self.restore_on_new_machine(backup);
        }
        let key = self.identity()?;
        let actor = key.public().to_peer_id().to_bytes();
        let current_store = Store::open(&self.store_path(), actor.clone(), String::new()).ok();
        let current: Option<Company> = current_store
            .as_ref()
            .and_then(|s| read::meta(&s.database(), META_COMPANY).ok().flatten())
            .and_then(|b| serde_json::from_slice(&b).ok());
        // The counters of the store being replaced only ever grow: they
        // are carried into the restored one, so no code is drawn again.
        let counters =
            current_store.and_then(|s| read::meta(&s.database(), META_PRIMARY).ok().flatten());
        let restoring = self.root.join("store.redb.restoring");
        // What a restore that stopped half-way left behind is ours to replace.
        let _ = std::fs::remove_file(&restoring);
        crate::store::backup::copy_file(backup, &restoring)?;
        let checked =
            (|| -> Result<u64, DataDirError> {
                let mut store = Store::open(&restoring, actor, String::new()).map_err(|e| {
                    DataDirError::Damaged {
                        path: backup.display().to_string(),
                        reason: format!("not an elo store: {e}"),
                    }
                })?;
                let db = store.database();
                let company: Company = read_json(&read::meta(&db, META_COMPANY)?, &self.root)
                    .map_err(|_| DataDirError::Damaged {
                        path: backup.display().to_string(),
                        reason: "it holds no elo company".into(),
                    })?;
                if let Some(current) = &current
                    && current.cnpj != company.cnpj
                {
                    return Err(DataDirError::OtherCompany {
                        path: backup.display().to_string(),
                        theirs: company.cnpj,
                        ours: current.cnpj.clone(),
                    });
                }
                if let Some(counters) = &counters {
                    crate::primary::carry_over_counters(&mut store, counters)?;
                }
                store.put_meta(crate::store::tables::META_RESTORED, b"1")?;
                Ok(read::record_count(&db)?)
            })();
        let records = match checked {
            Ok(n) => n,
            Err(e) => {
                let _ = fs::remove_file(&restoring);
                return Err(e);
            }
        };
        let store = self.store_path();
        let kept = self.root.join("store.redb.before-restore");
        if store.exists() {
            fs::rename(&store, &kept).map_err(io_err(&store))?;
        }
        fs::rename(&restoring, &store).map_err(io_err(&store))?;
        Ok(records)
    }

    /// `restore` on a directory that holds no company: the store, the
    /// identity key and the API token come from the backup, and the
    /// directory is made as `init` makes it (0700, the key and token 0600).
    fn restore_on_new_machine(&self, backup: &Path) -> Result<u64, DataDirError> {
        let damaged = |reason: String| DataDirError::Damaged {
            path: backup.display().to_string(),
            reason,
        };
        create_private_dir(&self.root)?;
        let restoring = self.root.join("store.redb.restoring");
        let _ = fs::remove_file(&restoring);
        crate::store::backup::copy_file(backup, &restoring)?;
        let read = (|| -> Result<(Vec<u8>, Vec<u8>, u64), DataDirError> {
            let mut store = Store::open(&restoring, Vec::new(), String::new())
                .map_err(|e| damaged(format!("not an elo store: {e}")))?;
            let db = store.database();
            let company: Company = read_json(&read::meta(&db, META_COMPANY)?, &self.root)
                .map_err(|_| damaged("it holds no elo company".into()))?;
            let (Some(key), Some(token)) = (
                read::meta(&db, META_IDENTITY)?,
                read::meta(&db, META_API_TOKEN)?,
            ) else {
                return Err(damaged(format!(
                    "it was made before backups held the node's identity: put the lost machine's identity.key and api-token in {} first, or invite company {} again",
                    self.root.display(),
                    company.cnpj
                )));
            };
            let identity = Keypair::from_protobuf_encoding(&key)
                .map_err(|e| damaged(format!("its identity key is damaged: {e}")))?;
            if identity.public().to_peer_id().to_string() != company.peer_id {
                return Err(damaged("its identity key is not its company's".into()));
            }
            store.put_meta(crate::store::tables::META_RESTORED, b"1")?;
            Ok((key, token, read::record_count(&db)?))
        })();
        let written = read.and_then(|(key, token, records)| {
            write_private(&self.identity_path(), &key)?;
            write_private(&self.token_path(), &token)?;
            let store = self.store_path();
            fs::rename(&restoring, &store).map_err(io_err(&store))?;
            Ok(records)
        });
        if written.is_err() {
            // Nothing half-made stays behind: the directory is as empty as it was.
            for f in [restoring, self.identity_path(), self.token_path()] {
                let _ = fs::remove_file(f);
            }
        }
        written
    }

    /// The identity key's bytes, as `identity.key` holds them.
    fn encode_identity(&self, key: &Keypair) -> Result<Vec<u8>, DataDirError> {
        key.to_protobuf_encoding()
            .map_err(|e| DataDirError::Damaged {
                path: self.identity_path().display().to_string(),
                reason: e.to_string(),
            })
    }

    /// The node's identity key.
    pub fn identity(&self) -> Result<Keypair, DataDirError> {
        let path = self.identity_path();
        if !path.exists() {
            return Err(DataDirError::NotInitialised(
                self.root.display().to_string(),
            ));
        }
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        Keypair::from_protobuf_encoding(&bytes).map_err(|e| DataDirError::Damaged {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    pub fn api_token(&self) -> Result<String, DataDirError> {
        let path = self.token_path();
        let text = fs::read_to_string(&path).map_err(io_err(&path))?;
        Ok(text.trim().to_string())
    }

    /// Opens the store and reads who this company is.
    pub fn open(&self) -> Result<(Store, Company, Group), DataDirError> {
        let key = self.identity()?;
        let store = Store::open(
            &self.store_path(),
            key.public().to_peer_id().to_bytes(),
            String::new(),
        )?;
        let db = store.database();
        let company: Company = read_json(&read::meta(&db, META_COMPANY)?, &self.root)?;
        let group: Group = read_json(&read::meta(&db, META_GROUP)?, &self.root)?;
        let mut store = store.with_company(company.cnpj.clone());
        // A directory made before backups carried them.
        if read::meta(&db, META_IDENTITY)?.is_none() || read::meta(&db, META_API_TOKEN)?.is_none() {
            let bytes = self.encode_identity(&key)?;
            keep_credentials(&mut store, &bytes, &self.api_token()?)?;
        }
        Ok((store, company, group))
    }

    /// The running node's address, if one is advertised.
    pub fn node_info(&self) -> Option<NodeInfo> {
        let text = fs::read_to_string(self.node_info_path()).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn write_node_info(&self, info: &NodeInfo) -> Result<(), DataDirError> {
        let path = self.node_info_path();
        let tmp = self.root.join("node.json.tmp");
        fs::write(&tmp, json_bytes(info)).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    /// Updates the stored group (after being admitted to one).
    pub fn set_group(store: &mut Store, group: &Group) -> Result<(), DataDirError> {
        store.put_meta(META_GROUP, &json_bytes(group))?;
        Ok(())
    }

    pub fn remove_node_info(&self) {
        let _ = fs::remove_file(self.node_info_path());
    }
}

/// Keeps the identity key and API token in the store's metadata too, so
/// that a backup (a copy of the store) holds them.
fn keep_credentials(store: &mut Store, key: &[u8], token: &str) -> Result<(), DataDirError> {
    store.put_meta(META_IDENTITY, key)?;
    store.put_meta(META_API_TOKEN, token.as_bytes())?;
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(
    bytes: &Option<Vec<u8>>,
    root: &Path,
) -> Result<T, DataDirError> {
    let Some(bytes) = bytes else {
        return Err(DataDirError::NotInitialised(root.display().to_string()));
    };
    serde_json::from_slice(bytes).map_err(|e| DataDirError::Damaged {
        path: root.join("store.redb").display().to_string(),
        reason: format!("metadata: {e}"),
    })
}

fn json_bytes<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

fn create_private_dir(path: &Path) -> Result<(), DataDirError> {
    fs::create_dir_all(path).map_err(io_err(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(io_err(path))?;
    }
    Ok(())
}

/// Writes a secret readable only by its owner.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

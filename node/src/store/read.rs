//! Reads, on any thread, straight from the database: redb readers never
//! block the writer, so the API and replication read in parallel with it.

use super::*;

pub fn record(db: &Database, id: &DocId) -> Result<Option<Record>, StoreError> {
    Ok(load(db, id)?.and_then(|d| d.record()))
}

pub fn history(db: &Database, id: &DocId) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
    Ok(load(db, id)?.map(|mut d| d.history()))
}

fn load(db: &Database, id: &DocId) -> Result<Option<RecordDoc>, StoreError> {
    let txn = db.begin_read()?;
    let docs = txn.open_table(DOCS)?;
    let Some(bytes) = docs.get(id.as_str())? else {
        return Ok(None);
    };
    RecordDoc::load(bytes.value(), READER, id)
        .map(Some)
        .map_err(|source| StoreError::Damaged {
            id: id.to_string(),
            source,
        })
}

/// Records of a kind in key order, starting after `after` (a document
/// id), skipping deleted ones unless asked.
pub fn list(
    db: &Database,
    kind: Kind,
    after: Option<&DocId>,
    limit: usize,
    include_deleted: bool,
) -> Result<Vec<Record>, StoreError> {
    let txn = db.begin_read()?;
    let docs = txn.open_table(DOCS)?;
    let prefix = DocId::kind_prefix(kind);
    let start = after.map_or(prefix.clone(), |a| a.to_string());
    let mut out = Vec::new();
    for item in docs.range(start.as_str()..)? {
        let (k, v) = item?;
        let key = k.value();
        if !key.starts_with(&prefix) {
            break;
        }
        if after.is_some_and(|a| a.as_str() == key) {
            continue;
        }
        let Some(id) = DocId::parse(key) else {
            continue;
        };
        let doc =
            RecordDoc::load(v.value(), READER, &id).map_err(|source| StoreError::Damaged {
                id: key.to_string(),
                source,
            })?;
        if let Some(r) = doc.record() {
            if r.deleted && !include_deleted {
                continue;
            }
            out.push(r);
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

/// Change log entries after `since`, in sequence order.
pub fn changes_since(
    db: &Database,
    since: u64,
    limit: usize,
) -> Result<Vec<ChangeEntry>, StoreError> {
    let txn = db.begin_read()?;
    let changes = txn.open_table(CHANGES)?;
    let mut out = Vec::new();
    for item in changes.range(since.saturating_add(1)..)? {
        let (k, v) = item?;
        if let Some(e) = ChangeEntry::decode(k.value(), v.value()) {
            out.push(e);
        }
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// The heads this node holds for each document (`None`: never had it),
/// read from the change log without loading documents.
pub fn heads_of(
    db: &Database,
    ids: &[String],
) -> Result<Vec<Option<Vec<elo_crdt::ChangeHash>>>, StoreError> {
    let txn = db.begin_read()?;
    let doc_seq = txn.open_table(DOC_SEQ)?;
    let changes = txn.open_table(CHANGES)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let heads = match doc_seq.get(id.as_str())?.map(|g| g.value()) {
            Some(seq) => changes
                .get(seq)?
                .and_then(|v| ChangeEntry::decode(seq, v.value()))
                .map(|e| e.heads),
            None => None,
        };
        out.push(heads);
    }
    Ok(out)
}

/// What a peer asked for: for each document, the changes it lacks
/// beyond the heads it has, or the saved bytes when it has nothing.
pub fn docs_for_peer(
    db: &Database,
    wanted: &[(String, Vec<elo_crdt::ChangeHash>)],
) -> Result<Vec<(String, DocPayload)>, StoreError> {
    let txn = db.begin_read()?;
    let docs = txn.open_table(DOCS)?;
    let mut out = Vec::with_capacity(wanted.len());
    for (id, have) in wanted {
        let Some(bytes) = docs.get(id.as_str())? else {
            continue;
        };
        if have.is_empty() {
            out.push((id.clone(), DocPayload::Whole(bytes.value().to_vec())));
            continue;
        }
        let Some(doc_id) = DocId::parse(id) else {
            continue;
        };
        match RecordDoc::load(bytes.value(), READER, &doc_id) {
            Ok(mut d) => out.push((id.clone(), d.missing_for(have))),
            Err(e) => tracing::warn!(%id, "not sending a damaged document: {e}"),
        }
    }
    Ok(out)
}

/// Merges what a member sent into the stored document, on the caller's
/// thread, and returns the write that stores the result (`None`: nothing
/// new). Changes that continue the stored history are appended without
/// loading the document; anything else is merged in full. A document
/// not stored here must come whole, and is checked as such.
pub fn prepare_merge(
    db: &Database,
    id: &DocId,
    payload: DocPayload,
    origin: &str,
) -> Result<Option<WriteOp>, WriteError> {
    let damaged = |source| WriteError::Damaged {
        id: id.to_string(),
        source,
    };
    let stored = stored_with_entry(db, id).map_err(|e| {
        damaged(elo_crdt::DocError::WrongId {
            expected: id.to_string(),
            found: e.to_string(),
        })
    })?;
    let Some((stored, entry)) = stored else {
        let DocPayload::Whole(bytes) = payload else {
            return Err(WriteError::NotFound(id.to_string()));
        };
        return ReceivedDoc::check(id, &bytes).map(|c| {
            Some(WriteOp::Merge {
                id: id.clone(),
                bytes,
                origin: origin.to_string(),
                checked: Some(c),
            })
        });
    };
    let base = entry.as_ref().map(|e| e.heads.clone());
    if let (DocPayload::Changes(changes), Some(e)) = (&payload, &entry)
        && let Some((bytes, heads, deleted)) =
            RecordDoc::append_changes(&stored, &e.heads, e.deleted, changes)
    {
        return Ok(Some(WriteOp::Merged {
            id: id.clone(),
            bytes,
            origin: origin.to_string(),
            result: ReceivedDoc { heads, deleted },
            base: e.heads.clone(),
        }));
    }
    let mut doc = RecordDoc::load(&stored, READER, id).map_err(damaged)?;
    let base = base.unwrap_or_else(|| doc.heads());
    let mut changed = false;
    match payload {
        DocPayload::Whole(bytes) => changed |= doc.merge_bytes(&bytes).map_err(damaged)?,
        DocPayload::Changes(changes) => {
            for c in changes {
                changed |= doc.merge_bytes(&c).map_err(damaged)?;
            }
        }
    }
    if !changed {
        return Ok(None);
    }
    Ok(Some(WriteOp::Merged {
        id: id.clone(),
        result: ReceivedDoc {
            heads: doc.heads(),
            deleted: doc.is_deleted(),
        },
        bytes: doc.save(),
        origin: origin.to_string(),
        base,
    }))
}

/// A document's stored bytes and its change-log entry.
type StoredDoc = (Vec<u8>, Option<ChangeEntry>);

/// Reads a document's stored bytes and its change-log entry.
fn stored_with_entry(db: &Database, id: &DocId) -> Result<Option<StoredDoc>, StoreError> {
    let txn = db.begin_read()?;
    let docs = txn.open_table(DOCS)?;
    let Some(bytes) = docs.get(id.as_str())?.map(|g| g.value().to_vec()) else {
        return Ok(None);
    };
    let doc_seq = txn.open_table(DOC_SEQ)?;
    let changes = txn.open_table(CHANGES)?;
    let entry = match doc_seq.get(id.as_str())?.map(|g| g.value()) {
        Some(seq) => changes
            .get(seq)?
            .and_then(|v| ChangeEntry::decode(seq, v.value())),
        None => None,
    };
    Ok(Some((bytes, entry)))
}

/// The checkpoint kept for a peer: its sequence number up to which
/// everything is stored here.
pub fn checkpoint(db: &Database, peer: &str) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    Ok(txn
        .open_table(CHECKPOINTS)?
        .get(peer)?
        .map_or(0, |g| g.value()))
}

pub fn last_seq(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    read_u64(&txn.open_table(META)?, META_LAST_SEQ)
}

pub fn meta(db: &Database, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(META)?;
    Ok(meta.get(key)?.map(|g| g.value().to_vec()))
}

/// How many documents the store holds (deleted ones included).
pub fn doc_count(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    Ok(txn.open_table(DOCS)?.len()?)
}

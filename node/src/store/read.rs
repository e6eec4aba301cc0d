//! Reads, on any thread, straight from the database: redb readers never
//! block the writer, so the API and replication read in parallel with it.

use std::collections::BTreeMap;

use elo_crdt::{DocId, DocPayload, HistoryEntry, Kind, Record};
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::local::{overlay, restricted_in};
use super::stored::{self, decode_doc, doc_bytes, load_doc, meta_u64};
use super::tables::{
    CHANGES, DICTS, DOC_SEQ, DOCS, META, META_LAST_SEQ, RESTRICTED, WITHHELD, withheld_key,
};
use super::{ChangeEntry, StoreError};

/// A record as this company sees it: its main document, the part
/// documents this node holds, and its own restricted values on top.
pub fn record(db: &Database, id: &DocId) -> Result<Option<Record>, StoreError> {
    record_in(&db.begin_read()?, id)
}

/// [`record`] in a read transaction already begun.
pub(crate) fn record_in(txn: &ReadTransaction, id: &DocId) -> Result<Option<Record>, StoreError> {
    let docs = txn.open_table(DOCS)?;
    let dicts = txn.open_table(DICTS)?;
    let local = txn.open_table(RESTRICTED)?;
    let restricted = restricted_in(&txn.open_table(META)?)?;
    let id = id.record();
    let main = load_doc(&docs, &dicts, &id)?.and_then(|d| d.record());
    assemble(&docs, &dicts, &local, &restricted, &id, main)
}

/// A record's main document alone: what every company that receives its
/// kind holds, without the parts of field-level categories and without
/// this company's restricted values. What may go with an order.
pub fn main_record(db: &Database, id: &DocId) -> Result<Option<Record>, StoreError> {
    let txn = db.begin_read()?;
    let docs = txn.open_table(DOCS)?;
    let dicts = txn.open_table(DICTS)?;
    Ok(load_doc(&docs, &dicts, &id.record())?
        .and_then(|d| d.record())
        .filter(|r| !r.deleted))
}

/// Who changed which fields of a record, in its main document and its
/// parts, in causal order (see `RecordDoc::history`).
pub fn history(db: &Database, id: &DocId) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
    let txn = db.begin_read()?;
    let docs = txn.open_table(DOCS)?;
    let dicts = txn.open_table(DICTS)?;
    let id = id.record();
    let mut out: Option<Vec<Vec<HistoryEntry>>> = None;
    let parts = part_ids(&id);
    for doc_id in std::iter::once(id.clone()).chain(parts) {
        if let Some(mut doc) = load_doc(&docs, &dicts, &doc_id)? {
            out.get_or_insert_with(Vec::new).push(doc.history());
        }
    }
    Ok(out.map(elo_crdt::history::merge_histories))
}

/// The ids of the part documents a record of this kind may have.
pub(crate) fn part_ids(id: &DocId) -> impl Iterator<Item = DocId> + '_ {
    elo_crdt::schema::part_categories(id.kind())
        .into_iter()
        .map(|c| id.part(c))
}

/// Adds the parts and the restricted values to a record's main document
/// (`main`; `None` when this node holds only some of its parts).
fn assemble(
    docs: &impl ReadableTable<&'static str, &'static [u8]>,
    dicts: &impl ReadableTable<&'static str, &'static [u8]>,
    local: &impl ReadableTable<&'static str, &'static [u8]>,
    restricted: &[String],
    id: &DocId,
    main: Option<Record>,
) -> Result<Option<Record>, StoreError> {
    let mut record = main;
    for part in part_ids(id) {
        if let Some(r) = load_doc(docs, dicts, &part)?.and_then(|d| d.record()) {
            record
                .get_or_insert_with(|| Record {
                    id: id.clone(),
                    deleted: false,
                    values: BTreeMap::new(),
                })
                .values
                .extend(r.values);
        }
    }
    if let Some(r) = record.as_mut() {
        overlay(local, restricted, r)?;
    }
    Ok(record)
}

/// The codes held by records of `kind` after `after` (a page of at most
/// `limit` records): each record's own document only, not its parts, so
/// reading every record costs one document load each. Returns the codes
/// and the last record read (where the next page starts).
pub fn codes_held(
    db: &Database,
    kind: Kind,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<i64>, Option<String>), StoreError> {
    let txn = db.begin_read()?;
    let docs = txn.open_table(DOCS)?;
    let dicts = txn.open_table(DICTS)?;
    let prefix = DocId::kind_prefix(kind);
    let start = after.map_or(prefix.clone(), str::to_owned);
    let (mut codes, mut last, mut read) = (Vec::new(), None, 0);
    for item in docs.range(start.as_str()..)? {
        let (k, v) = item?;
        let key = k.value();
        if !key.starts_with(&prefix) || read >= limit {
            break;
        }
        let Some(id) = DocId::parse(key).filter(|id| id.part_category().is_none()) else {
            continue;
        };
        if after == Some(key) {
            continue;
        }
        read += 1;
        last = Some(key.to_owned());
        if let Ok(doc) = decode_doc(&id, v.value(), &dicts)
            && let Some(elo_crdt::FieldValue::Int(code)) =
                doc.record().and_then(|r| r.values.get("code").cloned())
        {
            codes.push(code);
        }
    }
    Ok((codes, last))
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
    let dicts = txn.open_table(DICTS)?;
    let local = txn.open_table(RESTRICTED)?;
    let restricted = restricted_in(&txn.open_table(META)?)?;
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
        // Parts are read with their record.
        let Some(id) = DocId::parse(key).filter(|id| id.part_category().is_none()) else {
            continue;
        };
        let doc = decode_doc(&id, v.value(), &dicts)?;
        if let Some(r) = assemble(&docs, &dicts, &local, &restricted, &id, doc.record())? {
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
        let heads = stored::heads_of(&doc_seq, &changes, id.as_str())?;
        out.push(heads);
    }
    Ok(out)
}

/// The companies that created each record (a part's record for a part), or
/// `None` for an id this node does not hold. Loads each record's document:
/// only asked for members that keep some company out.
pub fn origins_of(db: &Database, ids: &[String]) -> Result<Vec<Option<Vec<String>>>, StoreError> {
    let txn = db.begin_read()?;
    let docs = txn.open_table(DOCS)?;
    let dicts = txn.open_table(DICTS)?;
    let mut cache: std::collections::HashMap<String, Option<Vec<String>>> = Default::default();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(record) = DocId::parse(id).map(|d| d.record()) else {
            out.push(None);
            continue;
        };
        let key = record.to_string();
        if let Some(known) = cache.get(&key) {
            out.push(known.clone());
            continue;
        }
        let origins = match docs.get(key.as_str())? {
            None => None,
            Some(bytes) => match decode_doc(&record, bytes.value(), &dicts) {
                Ok(mut d) => Some(d.origins()),
                Err(e) => {
                    tracing::warn!(%id, "cannot tell who created a damaged record: {e}; it is treated as nobody's (`elo salvage` and a backup restore are the ways back for damaged records)");
                    None
                }
            },
        };
        cache.insert(key, origins.clone());
        out.push(origins);
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
    let dicts = txn.open_table(DICTS)?;
    let mut out = Vec::with_capacity(wanted.len());
    for (id, have) in wanted {
        if have.is_empty() {
            match doc_bytes(&docs, &dicts, id) {
                Ok(Some(bytes)) => out.push((id.clone(), DocPayload::Whole(bytes))),
                Ok(None) => {}
                Err(e) => tracing::warn!(%id, "not sending a damaged document: {e}"),
            }
            continue;
        }
        let Some(bytes) = docs.get(id.as_str())? else {
            continue;
        };
        let Some(doc_id) = DocId::parse(id) else {
            continue;
        };
        match decode_doc(&doc_id, bytes.value(), &dicts) {
            Ok(mut d) => out.push((id.clone(), d.missing_for(have))),
            Err(e) => {
                tracing::warn!(%id, "not sending a damaged document: {e}; members get it from another that holds it (restore a backup with `elo restore`, or `elo salvage`, to mend this store)")
            }
        }
    }
    Ok(out)
}

/// The records members held back from this company that it still lacks:
/// (record id, its creators' CNPJs joined by `,`), once each.
pub fn withheld(db: &Database) -> Result<Vec<(String, String)>, StoreError> {
    let txn = db.begin_read()?;
    let withheld = txn.open_table(WITHHELD)?;
    let docs = txn.open_table(DOCS)?;
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for item in withheld.iter()? {
        let (key, origins) = item?;
        let Some((_, id)) = key.value().split_once(' ') else {
            continue;
        };
        let record = DocId::parse(id).is_some_and(|d| d.part_category().is_none());
        if record && docs.get(id)?.is_none() {
            out.insert(id.to_owned(), origins.value().to_owned());
        }
    }
    Ok(out.into_iter().collect())
}

/// Every document `member` listed and this company did not take, not
/// fetched from it since: records and their parts, held here or not (one
/// this company created itself since still lacks that member's changes).
pub fn withheld_documents(
    db: &Database,
    member: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let txn = db.begin_read()?;
    let withheld = txn.open_table(WITHHELD)?;
    let from = withheld_key(member, "");
    let mut out = Vec::new();
    for item in withheld.range(from.as_str()..)? {
        let (key, origins) = item?;
        let Some(id) = key.value().strip_prefix(from.as_str()) else {
            break;
        };
        out.push((id.to_owned(), origins.value().to_owned()));
    }
    Ok(out)
}

pub fn last_seq(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    meta_u64(&txn.open_table(META)?, META_LAST_SEQ)
}

pub fn meta(db: &Database, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(META)?;
    Ok(meta.get(key)?.map(|g| g.value().to_vec()))
}

/// How many records the store holds (deleted ones included): documents
/// that are not parts of a record. Reads ids only.
pub fn record_count(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    let doc_seq = txn.open_table(DOC_SEQ)?;
    let mut n = 0;
    for item in doc_seq.iter()? {
        let (k, _) = item?;
        // A part's id has a second '/': `kind/key/category`.
        n += u64::from(k.value().matches('/').count() == 1);
    }
    Ok(n)
}

/// How many documents the store holds (deleted ones included).
pub fn doc_count(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    Ok(txn.open_table(DOCS)?.len()?)
}

//! What can be read of a store file redb cannot open any more. Every record
//! is an automerge document, saved whole as one chunk that starts with
//! automerge's magic bytes; the file is read as bytes, every such chunk
//! that loads is a version of a record, and the versions of one record
//! (the file keeps earlier ones in pages not yet reused) are merged, which
//! gives its latest state found. Documents packed with a dictionary (see
//! `packed`) are found by their mark and the zstd frame after it, and
//! unpacked with the dictionaries found in the file the same way. Nothing
//! is written to the damaged file.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use elo_crdt::{DocId, RecordDoc};

use super::StoreError;
use super::packed::{self, Dictionary, Fingerprint};
use super::stored::READER;

/// The bytes every automerge chunk starts with.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Magic, checksum and chunk type, before the chunk's length.
const HEADER: usize = 9;
/// A chunk longer than this is not one of elo's records.
const MAX_CHUNK: u64 = 64 * 1024 * 1024;

/// What a salvage found.
#[derive(Debug, Default, serde::Serialize)]
pub struct Salvaged {
    /// Documents written out (records and their parts).
    pub documents: usize,
    /// Versions read, older ones included.
    pub versions: usize,
    /// Chunks that looked like documents and did not load.
    pub unreadable: usize,
}

/// Writes every document that can be read from the store file at `store`
/// to `out` (a new file), one JSON object a line, in id order.
pub fn salvage(store: &Path, out: &Path) -> Result<Salvaged, StoreError> {
    let file_error = |path: &Path, e: std::io::Error| StoreError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let bytes = std::fs::read(store).map_err(|e| file_error(store, e))?;
    let mut report = Salvaged::default();
    let mut docs: BTreeMap<String, RecordDoc> = BTreeMap::new();
    let mut at = 0;
    while let Some(found) = find(&bytes[at..], &MAGIC) {
        let start = at + found;
        at = start + 1;
        let Some(chunk) = chunk_at(&bytes, start) else {
            continue;
        };
        take_version(chunk, &mut docs, &mut report);
    }
    let dictionaries = dictionaries_in(&bytes);
    let mut at = 0;
    while let Some(found) = find(&bytes[at..], &ZSTD_MAGIC) {
        let frame = at + found;
        at = frame + 1;
        match unpack_at(&bytes, frame, &dictionaries) {
            Some(Ok(chunk)) => take_version(&chunk, &mut docs, &mut report),
            Some(Err(())) => report.unreadable += 1,
            None => {}
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .map_err(|e| file_error(out, e))?;
    for doc in docs.values() {
        if let Some(record) = doc.record() {
            let line = format!("{}\n", record.to_json());
            file.write_all(line.as_bytes())
                .map_err(|e| file_error(out, e))?;
            report.documents += 1;
        }
    }
    file.sync_all().map_err(|e| file_error(out, e))?;
    Ok(report)
}

/// One version of a document found in the file, merged into what was
/// found of it before.
fn take_version(chunk: &[u8], docs: &mut BTreeMap<String, RecordDoc>, report: &mut Salvaged) {
    let Some((id, doc)) = load(chunk) else {
        report.unreadable += 1;
        return;
    };
    report.versions += 1;
    match docs.get_mut(&id) {
        Some(known) => {
            if known.merge_bytes(chunk).is_err() {
                report.unreadable += 1;
            }
        }
        None => {
            docs.insert(id, doc);
        }
    }
}

/// The bytes every zstd frame starts with.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Every dictionary in the file whose bytes match their fingerprint.
fn dictionaries_in(bytes: &[u8]) -> HashMap<Fingerprint, Arc<Dictionary>> {
    let mut out = HashMap::new();
    let mut at = 0;
    while let Some(found) = find(&bytes[at..], packed::DICT_MARK) {
        let start = at + found;
        at = start + 1;
        if let Some(dict) = packed::dictionary_in(&bytes[start..]).and_then(Dictionary::prepare) {
            out.insert(dict.fingerprint, dict);
        }
    }
    out
}

/// The document packed in the zstd frame at `frame`, if the bytes before
/// it are a packed value's mark and dictionary (`None`: not a packed
/// value; `Err`: one that does not unpack).
fn unpack_at(
    bytes: &[u8],
    frame: usize,
    dictionaries: &HashMap<Fingerprint, Arc<Dictionary>>,
) -> Option<Result<Vec<u8>, ()>> {
    let header = frame.checked_sub(1 + std::mem::size_of::<Fingerprint>())?;
    if bytes.get(header) != Some(&packed::PACKED) {
        return None;
    }
    let fingerprint: Fingerprint = bytes.get(header + 1..frame)?.try_into().ok()?;
    let Some(dict) = dictionaries.get(&fingerprint) else {
        return Some(Err(()));
    };
    let rest = &bytes[frame..];
    let Ok(len) = zstd::zstd_safe::find_frame_compressed_size(rest) else {
        return Some(Err(()));
    };
    let mut value = vec![packed::PACKED];
    value.extend_from_slice(&fingerprint);
    value.extend_from_slice(rest.get(..len)?);
    Some(packed::unpack_with(&value, dict).ok_or(()))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The chunk starting at `start`, by the length its header gives.
fn chunk_at(bytes: &[u8], start: usize) -> Option<&[u8]> {
    let mut pos = start + HEADER;
    let mut len: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(pos)?;
        pos += 1;
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    if len > MAX_CHUNK {
        return None;
    }
    let end = pos.checked_add(usize::try_from(len).ok()?)?;
    bytes.get(start..end)
}

/// A chunk loaded as a record's document, with the record's id.
fn load(chunk: &[u8]) -> Option<(String, RecordDoc)> {
    use automerge::ReadDoc;
    let doc = automerge::AutoCommit::load(chunk).ok()?;
    let id = match doc.get(automerge::ROOT, "_id").ok()?? {
        (automerge::Value::Scalar(s), _) => match s.as_ref() {
            automerge::ScalarValue::Str(t) => t.to_string(),
            _ => return None,
        },
        _ => return None,
    };
    let parsed = DocId::parse(&id)?;
    let doc = RecordDoc::load(chunk, READER, &parsed).ok()?;
    Some((id, doc))
}

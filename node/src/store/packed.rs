//! How a record document is kept in the `docs` table: automerge's bytes
//! (not DEFLATEd) compressed with zstd and a dictionary this store trained
//! on its own documents of that kind.
//!
//! Why a dictionary: a document is ~0.4–1.5 KB, too small for a compressor
//! to learn much from one value alone; the field names, the shape of
//! automerge's columns and the common values repeat across every record of
//! a kind, and a dictionary holds them once for the whole table.
//!
//! A packed value is `PACKED`, the first 8 bytes of the dictionary's
//! SHA-256 (its fingerprint), then one zstd frame. Any other value is
//! automerge's bytes as they are: documents stored before their kind had a
//! dictionary, and every value written by schema 2 and before (automerge
//! reads DEFLATEd and plain bytes alike), so an older store needs no
//! rewrite. A fingerprint names the dictionary's content, so the
//! dictionaries read once are kept for the whole process, whichever store
//! they came from.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use redb::ReadableTable;
use sha2::{Digest, Sha256};
use zstd::zstd_safe::{CCtx, CDict, DCtx, DDict};

use super::StoreError;

/// The first byte of a packed value. Automerge's bytes start with its
/// magic number, `0x85 0x6f 0x4a 0x83`, so the two never meet.
pub(crate) const PACKED: u8 = 0xE7;
const FINGERPRINT_LEN: usize = 8;
/// zstd's level for stored documents: zstd's default. It is ~11 % of an
/// import's time (measured with `perf`); level 1 would be faster, at a
/// cost in size not measured yet.
const LEVEL: i32 = 3;
/// The largest document a packed value may claim to hold: far above any
/// record, and a bound on what a damaged value can make us allocate.
const MAX_DOC: u64 = 64 * 1024 * 1024;

/// A dictionary's fingerprint: how packed values name it.
pub(crate) type Fingerprint = [u8; FINGERPRINT_LEN];

/// A dictionary prepared for both ways.
pub(crate) struct Dictionary {
    pub fingerprint: Fingerprint,
    encoder: CDict<'static>,
    decoder: DDict<'static>,
}

impl Dictionary {
    /// Prepares a dictionary's bytes (as trained, or as stored).
    pub fn prepare(bytes: &[u8]) -> Option<Arc<Dictionary>> {
        let fingerprint = fingerprint_of(bytes);
        if let Some(known) = known().read().ok()?.get(&fingerprint) {
            return Some(known.clone());
        }
        let dict = Arc::new(Dictionary {
            fingerprint,
            encoder: CDict::try_create(bytes, LEVEL)?,
            decoder: DDict::try_create(bytes)?,
        });
        if let Ok(mut known) = known().write() {
            known.insert(fingerprint, dict.clone());
        }
        Some(dict)
    }
}

pub(crate) fn fingerprint_of(dictionary: &[u8]) -> Fingerprint {
    let digest = Sha256::digest(dictionary);
    let mut out = [0; FINGERPRINT_LEN];
    out.copy_from_slice(&digest[..FINGERPRINT_LEN]);
    out
}

/// Every dictionary this process has prepared, by fingerprint.
fn known() -> &'static RwLock<HashMap<Fingerprint, Arc<Dictionary>>> {
    static KNOWN: OnceLock<RwLock<HashMap<Fingerprint, Arc<Dictionary>>>> = OnceLock::new();
    KNOWN.get_or_init(Default::default)
}

thread_local! {
    // One context per thread, reused: making one allocates and clears
    // ~100 KB, which per document would cost more than the compression.
    static COMPRESSOR: RefCell<CCtx<'static>> = RefCell::new(CCtx::create());
    static DECOMPRESSOR: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

/// The value that keeps `doc` (automerge's bytes) with `dict`.
pub(crate) fn pack(doc: &[u8], dict: &Dictionary) -> Vec<u8> {
    let header = 1 + FINGERPRINT_LEN;
    let mut out = Vec::with_capacity(header + zstd::zstd_safe::compress_bound(doc.len()));
    out.push(PACKED);
    out.extend_from_slice(&dict.fingerprint);
    // The frame is written after the header, in the same buffer.
    let mut after_header = std::io::Cursor::new(out);
    after_header.set_position(header as u64);
    let packed = COMPRESSOR.with(|c| {
        c.borrow_mut()
            .compress_using_cdict(&mut after_header, doc, &dict.encoder)
    });
    if packed.is_err() {
        // zstd refuses only for want of room, which compress_bound rules
        // out; were it ever to, the document is kept as it is.
        return doc.to_vec();
    }
    after_header.into_inner()
}

/// Automerge's bytes of a stored value, unpacked with the dictionary it
/// names (read from `dicts` the first time this process meets it).
pub(crate) fn unpack<'v>(
    id: &str,
    value: &'v [u8],
    dicts: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Cow<'v, [u8]>, StoreError> {
    let Some(rest) = value.strip_prefix(&[PACKED]) else {
        return Ok(Cow::Borrowed(value));
    };
    let damaged = |why: &str| StoreError::Unpack {
        id: id.to_string(),
        why: why.to_string(),
    };
    if rest.len() < FINGERPRINT_LEN {
        return Err(damaged(
            "the value is cut short before its dictionary's name",
        ));
    }
    let (name, frame) = rest.split_at(FINGERPRINT_LEN);
    let mut fingerprint = [0; FINGERPRINT_LEN];
    fingerprint.copy_from_slice(name);
    let dict = dictionary(&fingerprint, dicts).map_err(|why| damaged(&why))?;
    unpack_frame(frame, &dict)
        .map(Cow::Owned)
        .map_err(|why| damaged(&why))
}

/// A packed value's document, unpacked with `dict` (`None`: it is not a
/// value packed with it, or does not unpack).
pub(crate) fn unpack_with(value: &[u8], dict: &Dictionary) -> Option<Vec<u8>> {
    let frame = value
        .strip_prefix(&[PACKED])?
        .strip_prefix(dict.fingerprint.as_slice())?;
    unpack_frame(frame, dict).ok()
}

fn unpack_frame(frame: &[u8], dict: &Dictionary) -> Result<Vec<u8>, String> {
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(size)) if size <= MAX_DOC => size as usize,
        _ => return Err("the value's zstd frame does not say a size it may have".into()),
    };
    let mut doc = Vec::with_capacity(size);
    DECOMPRESSOR
        .with(|d| {
            d.borrow_mut()
                .decompress_using_ddict(&mut doc, frame, &dict.decoder)
        })
        .map_err(|code| {
            format!(
                "zstd could not unpack it: {}",
                zstd::zstd_safe::get_error_name(code)
            )
        })?;
    Ok(doc)
}

/// The dictionary named `fingerprint`: known to this process, else read
/// from the store's table and checked against its name.
/// Errs with why, in words.
pub(crate) fn dictionary(
    fingerprint: &Fingerprint,
    dicts: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Arc<Dictionary>, String> {
    if let Some(d) = known()
        .read()
        .ok()
        .and_then(|k| k.get(fingerprint).cloned())
    {
        return Ok(d);
    }
    let key = dict_key(fingerprint);
    let stored = dicts
        .get(key.as_str())
        .map_err(|e| format!("the dictionary {key} could not be read: {e}"))?;
    let Some(bytes) = stored else {
        return Err(format!(
            "it names the dictionary {key}, which this store does not hold"
        ));
    };
    let Some(bytes) = dictionary_in(bytes.value()) else {
        return Err(format!("the dictionary {key} stored here is damaged"));
    };
    if fingerprint_of(bytes) != *fingerprint {
        return Err(format!("the dictionary {key} stored here is damaged"));
    }
    Dictionary::prepare(bytes).ok_or_else(|| format!("zstd cannot read the dictionary {key}"))
}

/// What a dictionary's `dicts` value starts with, then its length (4
/// bytes, little-endian) and its bytes: so `elo salvage`, reading a damaged
/// file as bytes, finds the dictionaries whole.
pub(crate) const DICT_MARK: &[u8; 8] = b"elo-dict";

/// A dictionary's `dicts` value.
pub(crate) fn stored_dictionary(dict: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(DICT_MARK.len() + 4 + dict.len());
    out.extend_from_slice(DICT_MARK);
    out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    out.extend_from_slice(dict);
    out
}

/// The dictionary in bytes that start as a `dicts` value does (the rest
/// after it is ignored: salvage reads them out of a whole file).
pub(crate) fn dictionary_in(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(DICT_MARK)?;
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    rest.get(4..4usize.checked_add(len)?)
}

/// The `dicts` key of a dictionary's bytes.
pub(crate) fn dict_key(fingerprint: &Fingerprint) -> String {
    format!("dict/{}", hex::encode(fingerprint))
}

/// The `dicts` key naming the dictionary new documents of a kind are packed with.
pub(crate) fn kind_key(kind: elo_crdt::Kind) -> String {
    format!("kind/{}", kind.as_str())
}

/// The dictionary documents of `kind` are packed with now, if it has one.
pub(crate) fn current(
    kind: elo_crdt::Kind,
    dicts: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Option<Arc<Dictionary>>, StoreError> {
    let key = kind_key(kind);
    let Some(name) = dicts.get(key.as_str())? else {
        return Ok(None);
    };
    let unusable = |why: String| StoreError::Unpack {
        id: key.clone(),
        why,
    };
    let fingerprint = <Fingerprint>::try_from(name.value())
        .map_err(|_| unusable("the name of the dictionary is damaged".into()))?;
    dictionary(&fingerprint, dicts).map(Some).map_err(unusable)
}

/// Trains a dictionary on documents of one kind (automerge's bytes).
/// `None` when zstd finds too little to learn from.
pub(crate) fn train(samples: &[Vec<u8>]) -> Option<Vec<u8>> {
    match zstd::dict::from_samples(samples, DICT_BYTES) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::debug!("no dictionary from {} documents: {e}", samples.len());
            None
        }
    }
}

/// A dictionary's size: 16 KB, ten times a customer's document, to hold
/// what repeats across records of a kind (other sizes not measured yet).
const DICT_BYTES: usize = 16 * 1024;

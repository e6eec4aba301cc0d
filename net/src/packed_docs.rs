//! Answers of a log walk compressed whole: `PackedDocs` carries the CBOR of
//! a `Docs` answer's documents as one zstd frame, `PackedChanges` that of a
//! `Changes` page. Documents of one answer share their field names, ids and
//! values, and the entries of a page their ids' prefixes, which one stream
//! compresses far better than each alone; on a branch's slow link the bytes
//! are the time (measured on the peers' records at 100,000: a page of 2,000
//! entries is 184 KB as it is, 80 KB packed, and the pages were 43 % of
//! what a new member receives).
//!
//! An asker says it reads them (`Fetch { packed: true }`,
//! `ChangesSince { packed: true }`); a node of an earlier version never
//! asks, and is answered `Docs` and `Changes` as before.

use serde_bytes::ByteBuf;

use crate::protocol::{ChangesPage, DocBytes, ResponseBody};

/// zstd's level on the wire: level 1 compresses a pull batch at several
/// hundred MB/s, well ahead of what the stores write.
const LEVEL: i32 = 1;
/// The most a packed answer may unpack to: far above what an answer holds
/// (`MAX_RESPONSE_BYTES`, of documents that do not compress), and a bound
/// on what a hostile answer can make the asker allocate.
pub const MAX_UNPACKED_BYTES: usize = 64 * 1024 * 1024;

/// Why a packed answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("a packed answer that does not decompress: {0}")]
    Zstd(String),
    #[error("a packed answer whose documents do not decode: {0}")]
    Malformed(String),
}

/// The answer carrying `docs`: packed, or as they are if packing failed
/// (which zstd does only for want of memory).
pub fn packed_answer(docs: Vec<DocBytes>) -> ResponseBody {
    let packed = cbor4ii::serde::to_vec(Vec::new(), &docs)
        .ok()
        .and_then(|cbor| zstd::bulk::compress(&cbor, LEVEL).ok());
    match packed {
        Some(zstd) => ResponseBody::PackedDocs {
            zstd: ByteBuf::from(zstd),
        },
        None => ResponseBody::Docs { docs },
    }
}

/// The documents of a packed answer.
pub fn unpack(packed: &[u8]) -> Result<Vec<DocBytes>, UnpackError> {
    unpack_cbor(packed)
}

/// The answer carrying a page of the change log: packed, or as it is if
/// packing failed.
pub fn packed_changes(page: ChangesPage) -> ResponseBody {
    let packed = cbor4ii::serde::to_vec(Vec::new(), &page)
        .ok()
        .and_then(|cbor| zstd::bulk::compress(&cbor, LEVEL).ok());
    match packed {
        Some(zstd) => ResponseBody::PackedChanges {
            zstd: ByteBuf::from(zstd),
        },
        None => page.into(),
    }
}

fn unpack_cbor<T: serde::de::DeserializeOwned>(packed: &[u8]) -> Result<T, UnpackError> {
    let cbor = zstd::bulk::decompress(packed, MAX_UNPACKED_BYTES)
        .map_err(|e| UnpackError::Zstd(e.to_string()))?;
    cbor4ii::serde::from_slice(&cbor).map_err(|e| UnpackError::Malformed(e.to_string()))
}

impl From<ChangesPage> for ResponseBody {
    fn from(page: ChangesPage) -> ResponseBody {
        ResponseBody::Changes {
            entries: page.entries,
            latest_seq: page.latest_seq,
            through: page.through,
        }
    }
}

impl ResponseBody {
    /// The documents of a `Docs` or `PackedDocs` answer (`None`: another
    /// answer).
    pub fn documents(self) -> Option<Result<Vec<DocBytes>, UnpackError>> {
        match self {
            ResponseBody::Docs { docs } => Some(Ok(docs)),
            ResponseBody::PackedDocs { zstd } => Some(unpack(&zstd)),
            _ => None,
        }
    }

    /// The page of a `Changes` or `PackedChanges` answer (`None`: another
    /// answer).
    pub fn changes_page(self) -> Option<Result<ChangesPage, UnpackError>> {
        match self {
            ResponseBody::Changes {
                entries,
                latest_seq,
                through,
            } => Some(Ok(ChangesPage {
                entries,
                latest_seq,
                through,
            })),
            ResponseBody::PackedChanges { zstd } => Some(unpack_cbor(&zstd)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(n: usize) -> DocBytes {
        DocBytes {
            id: format!("customer/cpf:{n:011}"),
            bytes: ByteBuf::from(format!("name Cliente {n} city Natal state RN").into_bytes()),
            changes: vec![ByteBuf::from(vec![n as u8; 8])],
        }
    }

    #[test]
    fn a_packed_answer_gives_back_the_documents_in_fewer_bytes() {
        let docs: Vec<DocBytes> = (0..300).map(doc).collect();
        let plain = cbor4ii::serde::to_vec(Vec::new(), &docs).unwrap().len();
        let ResponseBody::PackedDocs { zstd } = packed_answer(docs.clone()) else {
            panic!("a packed answer")
        };
        assert!(zstd.len() * 3 < plain, "{} of {plain} bytes", zstd.len());
        assert_eq!(unpack(&zstd).unwrap(), docs);
    }

    /// A fetch of an earlier release (no `packed`) is read here as asking
    /// for plain documents; an earlier release reads this one's fetch as
    /// the fetch it knows.
    #[test]
    fn a_fetch_with_or_without_packed_is_read_by_either_release() {
        use crate::protocol::{FetchDoc, RequestBody};
        #[derive(serde::Serialize, serde::Deserialize)]
        enum EarlierBody {
            Fetch { docs: Vec<FetchDoc> },
        }
        let docs = vec![FetchDoc {
            id: "product/sku:A".into(),
            have: Vec::new(),
        }];
        let earlier =
            cbor4ii::serde::to_vec(Vec::new(), &EarlierBody::Fetch { docs: docs.clone() }).unwrap();
        let read: RequestBody = cbor4ii::serde::from_slice(&earlier).unwrap();
        assert!(matches!(read, RequestBody::Fetch { packed: false, .. }));
        let ours = cbor4ii::serde::to_vec(
            Vec::new(),
            &RequestBody::Fetch {
                docs: docs.clone(),
                packed: true,
            },
        )
        .unwrap();
        let EarlierBody::Fetch { docs: back } = cbor4ii::serde::from_slice(&ours).unwrap();
        assert_eq!(back, docs);
    }

    fn page(n: u64) -> ChangesPage {
        ChangesPage {
            entries: (0..n)
                .map(|i| crate::protocol::ChangeSummary {
                    id: format!("customer/cpf:{i:011}"),
                    heads: vec![ByteBuf::from(vec![(i % 251) as u8; 32])],
                    seq: 1000 + i,
                    origins: None,
                })
                .collect(),
            latest_seq: 5000,
            through: 1000 + n,
        }
    }

    #[test]
    fn a_packed_page_gives_back_the_entries_in_fewer_bytes() {
        let page = page(2000);
        let plain = cbor4ii::serde::to_vec(Vec::new(), &ResponseBody::from(page.clone()))
            .unwrap()
            .len();
        let answer = packed_changes(page.clone());
        let ResponseBody::PackedChanges { zstd } = &answer else {
            panic!("a packed page")
        };
        assert!(zstd.len() * 2 < plain, "{} of {plain} bytes", zstd.len());
        assert_eq!(answer.changes_page().unwrap().unwrap(), page);
        // A plain page reads the same.
        let plain = ResponseBody::from(page.clone());
        assert_eq!(plain.changes_page().unwrap().unwrap(), page);
        assert!(ResponseBody::Ack.changes_page().is_none());
    }

    /// A walk of an earlier release (no `packed`) is read here as asking
    /// for plain pages; an earlier release reads this one's as the walk it
    /// knows.
    #[test]
    fn a_walk_with_or_without_packed_is_read_by_either_release() {
        use crate::protocol::RequestBody;
        #[derive(serde::Serialize, serde::Deserialize)]
        enum EarlierBody {
            Hello(crate::protocol::Hello),
            ChangesSince { since: u64, limit: u32 },
        }
        let earlier = cbor4ii::serde::to_vec(
            Vec::new(),
            &EarlierBody::ChangesSince {
                since: 7,
                limit: 2000,
            },
        )
        .unwrap();
        let read: RequestBody = cbor4ii::serde::from_slice(&earlier).unwrap();
        assert!(matches!(
            read,
            RequestBody::ChangesSince {
                since: 7,
                limit: 2000,
                packed: false
            }
        ));
        let ours = cbor4ii::serde::to_vec(
            Vec::new(),
            &RequestBody::ChangesSince {
                since: 7,
                limit: 2000,
                packed: true,
            },
        )
        .unwrap();
        let back: EarlierBody = cbor4ii::serde::from_slice(&ours).unwrap();
        assert!(matches!(
            back,
            EarlierBody::ChangesSince {
                since: 7,
                limit: 2000
            }
        ));
    }

    #[test]
    fn a_damaged_packed_page_is_refused() {
        let ResponseBody::PackedChanges { zstd } = packed_changes(page(50)) else {
            panic!("a packed page")
        };
        let cut = ResponseBody::PackedChanges {
            zstd: ByteBuf::from(zstd[..zstd.len() / 2].to_vec()),
        };
        assert!(matches!(
            cut.changes_page(),
            Some(Err(UnpackError::Zstd(_)))
        ));
        let junk = ResponseBody::PackedChanges {
            zstd: ByteBuf::from(zstd::bulk::compress(b"\xff\xff", 1).unwrap()),
        };
        assert!(matches!(
            junk.changes_page(),
            Some(Err(UnpackError::Malformed(_)))
        ));
    }

    #[test]
    fn damaged_or_oversized_packed_answers_are_refused() {
        let ResponseBody::PackedDocs { zstd } = packed_answer((0..10).map(doc).collect()) else {
            panic!("a packed answer")
        };
        assert!(matches!(
            unpack(&zstd[..zstd.len() / 2]),
            Err(UnpackError::Zstd(_))
        ));
        assert!(matches!(unpack(b"not zstd"), Err(UnpackError::Zstd(_))));
        // A frame of zeros that unpacks past the bound.
        let bomb = zstd::bulk::compress(&vec![0u8; MAX_UNPACKED_BYTES + 1], 1).unwrap();
        assert!(unpack(&bomb).is_err());
        // zstd that unpacks to something other than documents.
        let junk = zstd::bulk::compress(b"\xff\xff\xff", 1).unwrap();
        assert!(matches!(unpack(&junk), Err(UnpackError::Malformed(_))));
    }
}

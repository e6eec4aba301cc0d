//! One entry of the change log, and its compact binary encoding.
//!
//! Layout: `[flags u8][company len u8][company][doc id len u16 LE][doc id]
//! [head count u16 LE][32-byte heads…]`. Decoding checks every length
//! against the bytes present: a truncated entry is an error, not a panic.

use elo_crdt::ChangeHash;

/// A change stored at `seq`: which document, its heads after the change,
/// whether it is now deleted, and which company made the latest change.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChangeEntry {
    pub seq: u64,
    pub id: String,
    #[serde(serialize_with = "hex_heads")]
    pub heads: Vec<ChangeHash>,
    pub deleted: bool,
    pub company: String,
}

fn hex_heads<S: serde::Serializer>(heads: &[ChangeHash], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(heads.iter().map(|h| h.to_string()))
}

impl ChangeEntry {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let company = &self.company.as_bytes()[..self.company.len().min(255)];
        let id = self.id.as_bytes();
        let mut out = Vec::with_capacity(6 + company.len() + id.len() + 32 * self.heads.len());
        out.push(u8::from(self.deleted));
        out.push(company.len() as u8);
        out.extend_from_slice(company);
        out.extend_from_slice(&(id.len().min(u16::MAX as usize) as u16).to_le_bytes());
        out.extend_from_slice(&id[..id.len().min(u16::MAX as usize)]);
        out.extend_from_slice(&(self.heads.len().min(u16::MAX as usize) as u16).to_le_bytes());
        for h in self.heads.iter().take(u16::MAX as usize) {
            out.extend_from_slice(&h.0);
        }
        out
    }

    pub(crate) fn decode(seq: u64, bytes: &[u8]) -> Option<ChangeEntry> {
        let mut r = Reader(bytes);
        let deleted = r.take(1)?[0] != 0;
        let clen = usize::from(r.take(1)?[0]);
        let company = String::from_utf8(r.take(clen)?.to_vec()).ok()?;
        let idlen = usize::from(u16::from_le_bytes(r.take(2)?.try_into().ok()?));
        let id = String::from_utf8(r.take(idlen)?.to_vec()).ok()?;
        let n = usize::from(u16::from_le_bytes(r.take(2)?.try_into().ok()?));
        let mut heads = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let h: [u8; 32] = r.take(32)?.try_into().ok()?;
            heads.push(ChangeHash(h));
        }
        if !r.0.is_empty() {
            return None;
        }
        Some(ChangeEntry {
            seq,
            id,
            heads,
            deleted,
            company,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let e = ChangeEntry {
            seq: 7,
            id: "product/sku:A".into(),
            heads: vec![ChangeHash([3; 32]), ChangeHash([9; 32])],
            deleted: true,
            company: "11222333000181".into(),
        };
        let bytes = e.encode();
        assert_eq!(ChangeEntry::decode(7, &bytes), Some(e));
        for cut in 0..bytes.len() {
            assert_eq!(ChangeEntry::decode(7, &bytes[..cut]), None, "cut at {cut}");
        }
    }
}

#[cfg(test)]
mod decode_props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A stored entry that is damaged in any way decodes to `None`, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = ChangeEntry::decode(1, &bytes);
        }

        #[test]
        fn round_trip(id in "[a-z_]{1,12}/[a-z]{1,6}:[A-Za-z0-9-]{1,20}", company in "[0-9A-Z]{0,14}", n in 0usize..4, deleted: bool) {
            let e = ChangeEntry { seq: 9, id, heads: (0..n).map(|i| ChangeHash([i as u8; 32])).collect(), deleted, company };
            prop_assert_eq!(ChangeEntry::decode(9, &e.encode()), Some(e));
        }
    }
}

//! A record's conflicts: the fields where edits made apart left more than
//! one value, in its main document and its parts, read from the stored
//! documents (whole) without the writer.

use elo_crdt::{DocId, DocPayload, FieldConflict, RecordDoc};

use crate::store::{StoreError, StoreHandle, read};

/// The actor the documents are loaded with only to be read.
const READER: &[u8] = b"elo-conflicts";

/// `None` when this node holds no document of the record.
pub async fn of_record(
    store: &StoreHandle,
    id: DocId,
) -> Result<Option<Vec<FieldConflict>>, StoreError> {
    let db = store.database()?;
    let record = id.record();
    let wanted: Vec<(String, Vec<elo_crdt::ChangeHash>)> = std::iter::once(record.clone())
        .chain(
            elo_crdt::schema::part_categories(record.kind())
                .into_iter()
                .map(|c| record.part(c)),
        )
        .map(|d| (d.to_string(), Vec::new()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let docs = read::docs_for_peer(&db, &wanted)?;
        if docs.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for (doc_id, payload) in docs {
            let (Some(doc_id), DocPayload::Whole(bytes)) = (DocId::parse(&doc_id), payload) else {
                continue;
            };
            let mut doc =
                RecordDoc::load(&bytes, READER, &doc_id).map_err(|source| StoreError::Damaged {
                    id: doc_id.to_string(),
                    source,
                })?;
            out.extend(doc.conflicts());
        }
        out.sort_by(|a, b| a.field.cmp(&b.field));
        Ok(Some(out))
    })
    .await
    .map_err(|_| StoreError::Closed)?
}

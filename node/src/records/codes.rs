//! Group codes for new records, drawn from this company's blocks of the
//! record's table.

use elo_crdt::{DocId, FieldValue, Kind, RecordPatch};

use crate::primary::PrimaryHandle;
use crate::store::{StoreError, StoreHandle};

/// Gives each new record without a code the next code of its table. A
/// record that exists keeps whatever code it has (an update never burns a
/// code). When no code can be had (the blocks are used up and no primary
/// answers), the records are stored without one and the reason is logged:
/// refusing the ERP's write would lose more than a missing code does.
pub(super) async fn assign_codes(
    store: &StoreHandle,
    kind: Kind,
    patches: &mut [(&DocId, &mut RecordPatch)],
    codes: &PrimaryHandle,
) -> Result<(), StoreError> {
    let Some(table) = kind.code_table() else {
        return Ok(());
    };
    let lacking: Vec<usize> = patches
        .iter()
        .enumerate()
        .filter(|(_, (_, p))| !p.edits.iter().any(|(k, _)| k == "code"))
        .map(|(i, _)| i)
        .collect();
    if lacking.is_empty() {
        return Ok(());
    }
    let ids = lacking.iter().map(|&i| patches[i].0.to_string()).collect();
    let heads = store.heads_of(ids).await?;
    let new: Vec<usize> = lacking
        .into_iter()
        .zip(heads)
        .filter(|(_, h)| h.is_none())
        .map(|(i, _)| i)
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    match codes.codes(table, new.len(), true).await {
        Ok(drawn) => {
            if drawn.len() < new.len() {
                tracing::warn!(
                    table,
                    "only {} of {} new records got a code: this company's blocks ran out",
                    drawn.len(),
                    new.len()
                );
            }
            for (i, code) in new.into_iter().zip(drawn) {
                patches[i]
                    .1
                    .edits
                    .push(("code".to_owned(), Some(FieldValue::Int(code))));
            }
        }
        Err(e) => tracing::warn!(table, "new records stored without a code: {e}"),
    }
    Ok(())
}

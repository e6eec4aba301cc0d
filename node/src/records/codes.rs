//! Group codes of records: the next code of the record's table for a new
//! record, the checks on a code given by hand, and the numbering of
//! records that were stored without one.

use std::collections::BTreeMap;

use elo_crdt::{DocId, FieldValue, Kind, RecordPatch, ValidationError};
use tokio::sync::watch;

use super::RecordError;
use crate::primary::{CREATE_WAIT, PrimaryError, PrimaryHandle, code_of};
use crate::store::{StoreHandle, WriteOp};

/// The field a record's group code is written in.
const CODE: &str = "code";

/// Gives each new record without a code the next code of its table. A
/// record that exists keeps whatever code it has (an update never burns a
/// code). When no code can be had within [`CREATE_WAIT`] (the blocks are
/// used up and no primary answers), the records are stored without one,
/// noted so they are numbered once a block arrives, and the reason is
/// returned: refusing the ERP's write would lose more than a late code.
/// Returns which of `patches` wait for a code, and why.
pub(super) async fn assign_codes(
    store: &StoreHandle,
    kind: Kind,
    patches: &mut [(&DocId, &mut RecordPatch)],
    codes: &PrimaryHandle,
) -> Result<Option<(Vec<usize>, String)>, RecordError> {
    let Some(table) = kind.code_table() else {
        return Ok(None);
    };
    let lacking: Vec<usize> = patches
        .iter()
        .enumerate()
        // `"code": null` on a new record asks for a code like no `code`.
        .filter(|(_, (_, p))| !p.edits.iter().any(|(k, v)| k == CODE && v.is_some()))
        .map(|(i, _)| i)
        .collect();
    if lacking.is_empty() {
        return Ok(None);
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
        return Ok(None);
    }
    let (drawn, reason) = match codes.codes(table, new.len(), CREATE_WAIT).await {
        Ok(drawn) if drawn.len() == new.len() => (drawn, None),
        Ok(drawn) => {
            let reason = format!(
                "only {} of {} new records got a code: this company's blocks of {table} ran out",
                drawn.len(),
                new.len()
            );
            (drawn, Some(reason))
        }
        Err(PrimaryError::Exhausted(e)) => (Vec::new(), Some(e.to_string())),
        // Numbered once a member confirms this company's counters.
        Err(e @ PrimaryError::Unconfirmed) => (Vec::new(), Some(e.to_string())),
        Err(e) => return Err(RecordError::Codes(e)),
    };
    let waiting = new[drawn.len().min(new.len())..].to_vec();
    for (&i, code) in new.iter().zip(drawn) {
        let edits = &mut patches[i].1.edits;
        edits.retain(|(k, _)| k != CODE);
        edits.push((CODE.to_owned(), Some(FieldValue::Int(code))));
    }
    let Some(reason) = reason else {
        return Ok(None);
    };
    let ids = waiting.iter().map(|&i| patches[i].0.to_string()).collect();
    codes
        .await_code(table, ids)
        .await
        .map_err(RecordError::Codes)?;
    let reason = format!(
        "{reason}; the record is stored without a code and gets one when a block arrives (if this lasts, check with `elo primary` and `elo status` that the primary is reachable, or give this company a range by hand with `elo ranges set` at the primary)"
    );
    tracing::warn!(table, records = waiting.len(), "{reason}");
    Ok(Some((waiting, reason)))
}

/// Checks the codes given by hand in `patches` (a write that sets `code`):
/// a code must lie in a block of this company and not have been issued
/// yet; it is then stored as used, so it is never drawn. A record that
/// keeps the code it has is not checked again. Refused rows are returned by
/// their index; the others may be written.
pub(super) async fn check_given_codes(
    store: &StoreHandle,
    kind: Kind,
    patches: &[(&DocId, &RecordPatch)],
    codes: &PrimaryHandle,
) -> Result<BTreeMap<usize, ValidationError>, RecordError> {
    let mut refused = BTreeMap::new();
    let Some(table) = kind.code_table() else {
        return Ok(refused);
    };
    for (index, (id, patch)) in patches.iter().enumerate() {
        let Some((_, value)) = patch.edits.iter().rev().find(|(k, _)| k == CODE) else {
            continue;
        };
        let current = store.get((*id).clone()).await?.and_then(|r| code_of(&r));
        let code = match value {
            Some(FieldValue::Int(code)) => *code,
            // Clearing a code would leave a record to be numbered again;
            // on a record without one, `null` asks for one.
            None if current.is_some() => {
                refused.insert(
                    index,
                    ValidationError::one(CODE, "a record's code cannot be cleared"),
                );
                continue;
            }
            _ => continue,
        };
        if current == Some(code) {
            continue;
        }
        match codes.claim(table, code).await {
            Ok(()) => {}
            Err(PrimaryError::Claim(e)) => {
                refused.insert(index, ValidationError::one(CODE, e.to_string()));
            }
            Err(e) => return Err(RecordError::Codes(e)),
        }
    }
    Ok(refused)
}

/// Numbers the records this company stored without a code, whenever a
/// block of its own arrives (and once at the start), until the node stops.
pub async fn number_waiting_records(
    store: StoreHandle,
    codes: PrimaryHandle,
    mut stopping: watch::Receiver<bool>,
) {
    let mut blocks = codes.blocks_arrived();
    loop {
        if let Err(e) = number_once(&store, &codes).await {
            tracing::warn!(
                "numbering records stored without a code: {e}; they are tried again when the next block arrives (if `elo status` shows a store problem, see to the disk)"
            );
        }
        tokio::select! {
            changed = blocks.changed() => if changed.is_err() { return },
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

/// One round: a code for each waiting record the blocks allow, written
/// only if the record still has none.
async fn number_once(store: &StoreHandle, codes: &PrimaryHandle) -> Result<(), RecordError> {
    let drawn = codes
        .draw_for_awaiting()
        .await
        .map_err(RecordError::Codes)?;
    let mut done: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for waiting in drawn {
        let Some(id) = DocId::parse(&waiting.id) else {
            done.entry(waiting.table).or_default().push(waiting.id);
            continue;
        };
        let record = store.get(id.clone()).await?;
        // Gone, deleted, or numbered meanwhile (by hand, or by another
        // company that created it too): the code drawn is simply not used.
        if record
            .as_ref()
            .is_some_and(|r| !r.deleted && code_of(r).is_none())
        {
            let mut patch = RecordPatch::default();
            patch
                .edits
                .push((CODE.to_owned(), Some(FieldValue::Int(waiting.code))));
            store
                .write_one(WriteOp::Put {
                    id,
                    patch,
                    return_record: false,
                })
                .await?
                .map_err(RecordError::from)?;
            tracing::info!(record = %waiting.id, code = waiting.code, "numbered a record stored without a code");
        }
        done.entry(waiting.table).or_default().push(waiting.id);
    }
    for (table, ids) in done {
        codes.numbered(&table, ids).await;
    }
    Ok(())
}

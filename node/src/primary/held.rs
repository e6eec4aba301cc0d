//! The codes records hold, told to the primary task: a record's `code` is
//! an issued code of whichever range it lies in, whoever drew it. So a
//! company whose own counters went back (it re-joined with a fresh store,
//! restored a backup, started from a copy of its directory) never draws a
//! code a record it receives from the group already holds.
//!
//! It runs only on the first start after `elo restore`: the restored
//! store's records are read whole once, then the records committed in the
//! next two minutes (the group sending back what was written after the
//! backup) as they arrive. A running company needs none of it: its
//! counters only grow, every code it draws is counted as drawn, a code
//! given by hand must lie in the writer's own blocks, and a company that
//! joins (again) learns its usage from the group. Reading is paced, so the
//! catch-up it watches is not slowed by it: each record read costs a
//! document load.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use elo_crdt::{DocId, FieldValue, Kind, Record};
use tokio::sync::{broadcast, watch};

use super::driver::PrimaryHandle;
use crate::store::tables::META_RESTORED;
use crate::store::{ChangeEntry, StoreError, StoreHandle};

/// Records read per page of the first reading.
const PAGE: usize = 2_000;
/// Changes gathered before their codes are told, so a bulk load is told in
/// a few messages rather than one per record.
const GATHER: Duration = Duration::from_millis(200);
/// How long after the start records are looked at as they are committed.
const WATCH_FOR: Duration = Duration::from_secs(120);
/// Pause after each record read: at most about 5,000 records a second, a
/// part of one core, whatever the rate of the catch-up.
const PACE: Duration = Duration::from_micros(200);

/// The record's code, if it has a valid one.
pub(crate) fn code_of(record: &Record) -> Option<i64> {
    match record.values.get("code") {
        Some(FieldValue::Int(code)) if *code >= 1 => Some(*code),
        _ => None,
    }
}

/// Starts the task; it ends when the node stops, or when the primary task
/// aborts it as it stops.
pub(super) fn spawn(
    store: StoreHandle,
    primary: PrimaryHandle,
    mut stopping: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut changes = store.subscribe();
    tokio::spawn(async move {
        let finished = tokio::select! {
            _ = watch_codes(&store, &primary, &mut changes) => true,
            _ = stopping.wait_for(|s| *s) => false,
        };
        // Done: the next start reads nothing.
        if finished && store.set_meta(META_RESTORED, b"0".to_vec()).await.is_err() {
            tracing::warn!(
                "could not note the restore's codes as read; they are read again at the next start (restart the node once the disk is well)"
            );
        }
    })
}

async fn watch_codes(
    store: &StoreHandle,
    primary: &PrimaryHandle,
    changes: &mut broadcast::Receiver<ChangeEntry>,
) {
    if let Err(e) = tell_all(store, primary).await {
        tracing::warn!(
            "could not read the codes records hold: {e}; codes already used could be offered again: check `elo status` for a store problem and restart the node once it is solved"
        );
    }
    let until = tokio::time::Instant::now() + WATCH_FOR;
    // The last change looked at: what a lag missed is read from the log.
    let mut seen = match store.last_seq().await {
        Ok(seq) => seq,
        Err(_) => return,
    };
    loop {
        let mut ids: BTreeSet<DocId> = BTreeSet::new();
        match tokio::time::timeout_at(until, changes.recv()).await {
            Err(_window_over) => return,
            Ok(Ok(entry)) => {
                seen = seen.max(entry.seq);
                ids.extend(numbered(&entry));
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                match missed_since(store, &mut seen).await {
                    Ok(missed) => ids.extend(missed),
                    Err(e) => tracing::warn!(
                        "could not read the codes records hold: {e}; codes already used could be offered again: check `elo status` for a store problem and restart the node once it is solved"
                    ),
                }
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => return,
        }
        let gathered = tokio::time::Instant::now() + GATHER;
        while let Ok(Ok(entry)) = tokio::time::timeout_at(gathered, changes.recv()).await {
            seen = seen.max(entry.seq);
            ids.extend(numbered(&entry));
        }
        let mut held: BTreeMap<&'static str, BTreeSet<i64>> = BTreeMap::new();
        for id in ids {
            if let Ok(Some(record)) = store.get(id).await
                && let (Some(table), Some(code)) = (record.kind().code_table(), code_of(&record))
            {
                held.entry(table).or_default().insert(code);
            }
            tokio::time::sleep(PACE).await;
        }
        for (table, codes) in held {
            primary.codes_held(table, codes).await;
        }
    }
}

/// The records of numbered kinds committed after `seen`, read from the
/// change log (the live channel lagged behind a bulk load); moves `seen`.
async fn missed_since(store: &StoreHandle, seen: &mut u64) -> Result<Vec<DocId>, StoreError> {
    let mut out = Vec::new();
    loop {
        let page = store.changes_since(*seen, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(out);
        };
        *seen = last.seq;
        out.extend(page.iter().filter_map(numbered));
        if page.len() < PAGE {
            return Ok(out);
        }
    }
}

/// The changed record (a part's record for a part), if it is of a numbered
/// kind.
fn numbered(entry: &ChangeEntry) -> Option<DocId> {
    let id = DocId::parse(&entry.id)?.record();
    id.kind().code_table().map(|_| id)
}

/// Reads every record of the numbered kinds and tells their codes.
async fn tell_all(store: &StoreHandle, primary: &PrimaryHandle) -> Result<(), StoreError> {
    for kind in Kind::ALL {
        let Some(table) = kind.code_table() else {
            continue;
        };
        let mut codes = BTreeSet::new();
        let mut after = None;
        loop {
            let (page, last) = store.codes_held(kind, after.take(), PAGE).await?;
            codes.extend(page.into_iter().filter(|c| *c >= 1));
            let Some(last) = last else {
                break;
            };
            after = Some(last);
            tokio::time::sleep(PACE * PAGE as u32).await;
        }
        if !codes.is_empty() {
            primary.codes_held(table, codes).await;
        }
    }
    Ok(())
}

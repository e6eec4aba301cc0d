//! The codes records hold, told to the primary task: a record's `code` is
//! an issued code of whichever range it lies in, whoever drew it. So a
//! company whose own counters went back (it re-joined with a fresh store,
//! restored a backup, started from a copy of its directory) never draws a
//! code a record it receives from the group already holds.
//!
//! A store that holds no primary state yet (a company that just joined and
//! received the group's records) is read whole once; after that every
//! committed change of a numbered kind is looked at as it happens. Only a
//! node with a network runs it: without one, no record comes from the
//! group.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use elo_crdt::{DocId, FieldValue, Kind, Record};
use tokio::sync::{broadcast, watch};

use super::driver::PrimaryHandle;
use crate::store::{ChangeEntry, StoreError, StoreHandle};

/// Records read per page of the first reading.
const PAGE: usize = 2_000;
/// Changes gathered before their codes are told, so a bulk load is told in
/// a few messages rather than one per record.
const GATHER: Duration = Duration::from_millis(200);
/// How long the store must be quiet before everything is read again.
const QUIET: Duration = Duration::from_secs(2);

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
    read_all: bool,
    mut stopping: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut changes = store.subscribe();
    tokio::spawn(async move {
        tokio::select! {
            _ = watch_codes(&store, &primary, read_all, &mut changes) => {}
            _ = stopping.wait_for(|s| *s) => {}
        }
    })
}

async fn watch_codes(
    store: &StoreHandle,
    primary: &PrimaryHandle,
    read_all: bool,
    changes: &mut broadcast::Receiver<ChangeEntry>,
) {
    // Changes were missed (a bulk load outran this task): everything is
    // read again once the store has been quiet for a while, not at every
    // miss.
    if read_all && let Err(e) = tell_all(store, primary).await {
        tracing::warn!("could not read the codes records hold: {e}");
    }
    let mut read_again = false;
    loop {
        let next = if read_again {
            tokio::time::timeout(QUIET, changes.recv()).await
        } else {
            Ok(changes.recv().await)
        };
        let mut ids: BTreeSet<DocId> = BTreeSet::new();
        match next {
            Err(_quiet) => {
                if let Err(e) = tell_all(store, primary).await {
                    tracing::warn!("could not read the codes records hold: {e}");
                }
                read_again = false;
                continue;
            }
            Ok(Ok(entry)) => ids.extend(numbered(&entry)),
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                read_again = true;
                continue;
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => return,
        }
        let until = tokio::time::Instant::now() + GATHER;
        while let Ok(Ok(entry)) = tokio::time::timeout_at(until, changes.recv()).await {
            ids.extend(numbered(&entry));
        }
        let mut held: BTreeMap<&'static str, BTreeSet<i64>> = BTreeMap::new();
        for id in ids {
            if let Ok(Some(record)) = store.get(id).await
                && let (Some(table), Some(code)) = (record.kind().code_table(), code_of(&record))
            {
                held.entry(table).or_default().insert(code);
            }
        }
        for (table, codes) in held {
            primary.codes_held(table, codes).await;
        }
    }
}

/// The changed record, if it is of a numbered kind.
fn numbered(entry: &ChangeEntry) -> Option<DocId> {
    let id = DocId::parse(&entry.id)?;
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
            let page = store.list(kind, after.take(), PAGE, true).await?;
            codes.extend(page.iter().filter_map(code_of));
            match page.last() {
                Some(last) if page.len() == PAGE => after = Some(last.id.clone()),
                _ => break,
            }
        }
        if !codes.is_empty() {
            primary.codes_held(table, codes).await;
        }
    }
    Ok(())
}

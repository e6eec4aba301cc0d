//! Records this company stored without a code because none could be had
//! (its blocks were used up and no primary answered). They are numbered
//! once a block arrives, exactly once across the group: only the company
//! whose own write stored the record without a code keeps it here, so no
//! other company numbers it; and a record that has a code by then (one
//! came from another company meanwhile) is left as it is.
//!
//! The list is kept in the store's metadata by the primary task, the one
//! writer of it, before the record is written: a crash in between leaves
//! an id whose record does not exist, which the numbering passes over.

use std::collections::{BTreeMap, BTreeSet};

use super::machine::TableName;
use crate::store::tables::META_CODES_AWAITING;
use crate::store::{StoreError, StoreHandle};

/// Table → ids of records waiting for a code.
#[derive(Debug, Default)]
pub(super) struct Awaiting {
    ids: BTreeMap<TableName, BTreeSet<String>>,
    /// Changed since it was last stored.
    dirty: bool,
}

impl Awaiting {
    pub(super) async fn load(store: &StoreHandle) -> Result<Awaiting, StoreError> {
        let ids = match store.meta(META_CODES_AWAITING).await? {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(
                    "the list of records waiting for a code is unreadable ({e}); it starts empty (records stored without a code keep none until written again: `elo ranges` lists how many await one per table)"
                );
                BTreeMap::new()
            }),
            None => BTreeMap::new(),
        };
        Ok(Awaiting { ids, dirty: false })
    }

    pub(super) async fn store_if_changed(&mut self, store: &StoreHandle) -> Result<(), StoreError> {
        if !self.dirty {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&self.ids).map_err(|e| StoreError::Failed(e.to_string()))?;
        store.set_meta(META_CODES_AWAITING, bytes).await?;
        self.dirty = false;
        Ok(())
    }

    pub(super) fn add(&mut self, table: &str, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        self.ids.entry(table.to_owned()).or_default().extend(ids);
        self.dirty = true;
    }

    pub(super) fn remove(&mut self, table: &str, ids: &[String]) {
        if let Some(set) = self.ids.get_mut(table) {
            for id in ids {
                self.dirty |= set.remove(id);
            }
            if set.is_empty() {
                self.ids.remove(table);
            }
        }
    }

    /// Tables with records waiting, and the ids.
    pub(super) fn tables(&self) -> impl Iterator<Item = (&TableName, &BTreeSet<String>)> {
        self.ids.iter()
    }

    /// How many records of each table wait for a code.
    pub(super) fn counts(&self) -> BTreeMap<TableName, usize> {
        self.ids.iter().map(|(t, s)| (t.clone(), s.len())).collect()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

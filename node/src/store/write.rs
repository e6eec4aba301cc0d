//! Applying a batch of writes in one transaction. A put is first split
//! into the writes of the record's documents ([`Store::expand`]); each
//! write then goes to the function of its family: record edits here,
//! received documents in `merge`, checkpoints in `checkpoint`, what stays
//! with this company in `local`. All of them write through one [`Batch`],
//! so the batch commits whole or not at all.

use elo_crdt::{Author, DocId, Kind, RecordDoc, RecordPatch, ValidationError};
use redb::{Durability, ReadableDatabase};

use super::batch::Batch;
use super::create::Created;
use super::stored::load_doc;
use super::tables::{DICTS, DOCS, RESTRICTED, withheld_key};
use super::{
    BatchOutcome, Store, StoreError, WriteError, WriteOp, WriteResult, checkpoint, local, read,
};

/// One write's outcome: the outer error fails the batch, the inner one
/// refuses this write only.
type Applied = Result<Result<WriteResult, WriteError>, StoreError>;

impl Store {
    /// Applies a batch of writes in one transaction. The outer error means
    /// the transaction failed and nothing of the batch is stored; inner
    /// errors refuse single writes and leave the rest of the batch standing.
    pub fn write_batch(
        &mut self,
        ops: Vec<WriteOp>,
        now_ms: i64,
    ) -> Result<BatchOutcome, StoreError> {
        let outcome = self.write_batch_inner(ops, now_ms);
        if outcome.is_err() {
            // Documents touched by the batch were edited in the cache; the
            // commit failed, so none of those edits is on disk. Forget them all.
            self.cache.clear();
        }
        outcome
    }

    fn write_batch_inner(
        &mut self,
        ops: Vec<WriteOp>,
        now_ms: i64,
    ) -> Result<BatchOutcome, StoreError> {
        let count = ops.len();
        let want_record: Vec<bool> = ops
            .iter()
            .map(|op| {
                matches!(
                    op,
                    WriteOp::Put {
                        return_record: true,
                        ..
                    }
                )
            })
            .collect();
        let expanded = self.expand(ops);
        let (results, entries) = self.write_expanded(&expanded, now_ms)?;
        let folded = fold_results(count, &expanded, results);
        let mut results = Vec::with_capacity(count);
        for (group, mut r) in folded.into_iter().enumerate() {
            if let Ok(w) = &mut r
                && want_record.get(group).copied().unwrap_or(false)
                && let Some(record) = w.record.as_mut()
            {
                let txn = self.db.begin_read()?;
                // The parts this write left alone, so the answer is the
                // whole record as a read shows it and the caller need not
                // read it again.
                let docs = txn.open_table(DOCS)?;
                let dicts = txn.open_table(DICTS)?;
                let main = record.id.record();
                for part in read::part_ids(&main) {
                    let written = expanded.iter().any(|(g, op)| {
                        *g == group && matches!(op, WriteOp::Put { id, .. } if *id == part)
                    });
                    if !written
                        && let Some(r) = load_doc(&docs, &dicts, &part)?.and_then(|d| d.record())
                    {
                        record.values.extend(r.values);
                    }
                }
                let local = txn.open_table(RESTRICTED)?;
                local::overlay(&local, &self.restricted, record)?;
            }
            results.push(r);
        }
        Ok((results, entries))
    }

    /// Splits each put into the writes of the record's documents: its main
    /// document, one part per field-level category, and the restricted
    /// fields for the local table. Each write keeps the index of the put it
    /// came from; parts follow their main document, so a refused main
    /// document (say, a new record without its name) stops its parts too.
    fn expand(&self, ops: Vec<WriteOp>) -> Vec<(usize, WriteOp)> {
        let mut out = Vec::with_capacity(ops.len());
        for (group, op) in ops.into_iter().enumerate() {
            match op {
                WriteOp::Put {
                    id,
                    patch,
                    return_record,
                } if id.part_category().is_none() => {
                    self.split_put(id, patch, return_record, &mut |op| out.push((group, op)));
                }
                op => out.push((group, op)),
            }
        }
        out
    }

    /// The writes of one put of a record's main document (see [`Store::expand`]).
    fn split_put(
        &self,
        id: DocId,
        mut patch: RecordPatch,
        return_record: bool,
        out: &mut dyn FnMut(WriteOp),
    ) {
        let own_code = patch.erp_code.take();
        if let Some(code) = &own_code {
            patch.edits.push((
                format!("{}{}", elo_crdt::schema::OWN_CODE, self.company),
                Some(elo_crdt::FieldValue::Text(code.clone())),
            ));
        }
        let mut local = Vec::new();
        if id.kind() == Kind::Product && !self.restricted.is_empty() {
            let (kept, shared) = std::mem::take(&mut patch.edits)
                .into_iter()
                .partition(|(k, _)| self.restricted.iter().any(|r| r == k));
            local = kept;
            patch.edits = shared;
        }
        for (n, (category, part)) in patch.split(id.kind()).into_iter().enumerate() {
            if n > 0 && part.edits.is_empty() {
                continue;
            }
            out(WriteOp::Put {
                id: category.map_or_else(|| id.clone(), |c| id.part(c)),
                patch: part,
                return_record,
            });
        }
        if let Some(code) = own_code {
            out(WriteOp::OwnCode {
                id: id.clone(),
                code,
            });
        }
        if !local.is_empty() {
            out(WriteOp::Local { id, edits: local });
        }
    }

    /// Applies the expanded writes in one transaction and commits it.
    fn write_expanded(
        &mut self,
        ops: &[(usize, WriteOp)],
        now_ms: i64,
    ) -> Result<BatchOutcome, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let company = self.company.clone();
        let author = Author {
            company: &company,
            time_ms: now_ms,
        };
        let mut results = Vec::with_capacity(ops.len());
        let (entries, unpacked) = {
            let mut batch = Batch::open(&txn)?;
            let mut made = self.make_ahead(&mut batch, ops, author)?;
            let mut refused: Option<usize> = None;
            let mut previous: Option<usize> = None;
            for (index, (group, op)) in ops.iter().enumerate() {
                // A put whose main document was refused writes no part.
                if let Some(g) = previous.take()
                    && matches!(results.last(), Some(Err(_)))
                {
                    refused = Some(g);
                }
                previous = Some(*group);
                if refused == Some(*group) {
                    results.push(Err(WriteError::NotFound("a refused record".into())));
                    continue;
                }
                let ahead = made.get_mut(index).and_then(Option::take);
                results.push(self.apply(&mut batch, op, ahead, author)?);
            }
            batch.finish()?
        };
        txn.commit()?;
        self.learn(unpacked);
        Ok((results, entries))
    }

    /// One write, handed to the function of its family.
    /// `ahead`: the document this put creates, made before the batch (see
    /// [`Store::make_ahead`]).
    fn apply(
        &mut self,
        batch: &mut Batch<'_>,
        op: &WriteOp,
        ahead: Option<Result<Created, ValidationError>>,
        author: Author<'_>,
    ) -> Applied {
        match op {
            WriteOp::Put {
                id,
                patch,
                return_record,
            } => self.put(batch, id, patch, *return_record, ahead, author),
            WriteOp::Delete { id } => self.delete(batch, id, author),
            WriteOp::Merge {
                id,
                bytes,
                origin,
                checked,
            } => self.merge_received(batch, id, bytes, origin, checked.as_ref()),
            WriteOp::Merged {
                id,
                bytes,
                origin,
                result,
                base,
            } => self.store_merged(batch, id, bytes, origin, result, base),
            WriteOp::Withheld {
                member,
                id,
                origins,
            } => {
                let key = withheld_key(member, id.as_str());
                batch.withheld.insert(key.as_str(), origins.as_str())?;
                Ok(Ok(WriteResult::unchanged(id.clone())))
            }
            WriteOp::NoLongerWithheld { member, id } => {
                batch
                    .withheld
                    .remove(withheld_key(member, id.as_str()).as_str())?;
                Ok(Ok(WriteResult::unchanged(id.clone())))
            }
            WriteOp::Checkpoint { log, peer, seq } => {
                checkpoint::set(&mut batch.checkpoints, *log, peer, *seq)?;
                Ok(Ok(WriteResult::unchanged(DocId::kind_root(Kind::Company))))
            }
            WriteOp::Restrict { fields } => {
                self.restrict(batch, fields)?;
                Ok(Ok(WriteResult::unchanged(DocId::kind_root(Kind::Product))))
            }
            WriteOp::Local { id, edits } => {
                local::write_local(batch, id, edits)?;
                Ok(Ok(WriteResult::unchanged(id.clone())))
            }
            WriteOp::OwnCode { id, code } => {
                local::write_own_code(batch, id, code)?;
                Ok(Ok(WriteResult::unchanged(id.clone())))
            }
        }
    }

    /// `WriteOp::Put` of one document of a record.
    fn put(
        &mut self,
        batch: &mut Batch<'_>,
        id: &DocId,
        patch: &RecordPatch,
        want_record: bool,
        ahead: Option<Result<Created, ValidationError>>,
        author: Author<'_>,
    ) -> Applied {
        if id.part_category().is_none()
            && let Some(refused) = self.own_code_taken(batch, id, patch)?
        {
            return Ok(Err(refused));
        }
        // A document made ahead was new when the batch began and no earlier
        // write of the batch names it, so it is still new (unless the cache
        // took it meanwhile: then it is edited as it comes).
        let created = if self.cache.contains(id.as_str()) {
            None
        } else if ahead.is_some() {
            ahead
        } else if !batch.has_doc(id)? {
            Some(Created::make(id, patch, author, &self.actor, None))
        } else {
            None
        };
        if let Some(created) = created {
            // A record that exists nowhere yet is written straight from its
            // patch (see `RecordDoc::create_bytes`): the bulk-import path.
            let Created { bytes, hash, value } = match created {
                Ok(created) => created,
                Err(e) => return Ok(Err(e.into())),
            };
            let seq = batch.log_stored(id, &bytes, value, vec![hash], false, author.company)?;
            let record = want_record.then(|| RecordDoc::created_record(id, patch));
            return Ok(Ok(WriteResult {
                record,
                ..WriteResult::stored(id.clone(), seq, true)
            }));
        }
        let doc = match self.cached_doc(batch, id)? {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        let created = !doc.exists();
        let hash = match doc.apply(id, patch, author) {
            Ok(hash) => hash,
            Err(e) => return Ok(Err(e.into())),
        };
        let seq = match hash {
            Some(_) => Some(batch.log_edited(id, doc, author.company)?),
            None => None,
        };
        Ok(Ok(WriteResult {
            record: if want_record { doc.record() } else { None },
            id: id.clone(),
            seq,
            created,
        }))
    }

    /// An ERP's own code names one record per company and kind (`erp:CODE`
    /// finds it): a write that gives a record the code another live record
    /// holds here is refused, naming that record. Checked on the main
    /// document, so a refused write stores none of its parts.
    fn own_code_taken(
        &mut self,
        batch: &Batch<'_>,
        id: &DocId,
        patch: &RecordPatch,
    ) -> Result<Option<WriteError>, StoreError> {
        let key = format!("{}{}", elo_crdt::schema::OWN_CODE, self.company);
        let Some((_, Some(elo_crdt::FieldValue::Text(code)))) =
            patch.edits.iter().rev().find(|(k, _)| *k == key)
        else {
            return Ok(None);
        };
        let Some(holder) = local::holder_of_code(batch, id.kind(), code)? else {
            return Ok(None);
        };
        if holder == id.as_str() {
            return Ok(None);
        }
        let Some(holder_id) = DocId::parse(&holder) else {
            return Ok(None);
        };
        let live = match self.cached_doc(batch, &holder_id)? {
            Ok(doc) => doc.exists() && !doc.is_deleted(),
            Err(_) => true,
        };
        Ok(live.then(|| {
            WriteError::Invalid(elo_crdt::ValidationError::one(
                "erp_code",
                format!(
                    "this company's code {code:?} already names {holder} (erp:{code}); an ERP's code names one {} here: give this record another code, or take it off {holder} first",
                    id.kind()
                ),
            ))
        }))
    }

    /// `WriteOp::Delete`: marks a record's document deleted.
    fn delete(&mut self, batch: &mut Batch<'_>, id: &DocId, author: Author<'_>) -> Applied {
        let doc = match self.cached_doc(batch, id)? {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        if !doc.exists() || doc.is_deleted() {
            return Ok(Err(WriteError::NotFound(id.to_string())));
        }
        let seq = match doc.delete(author) {
            Some(_) => Some(batch.log_edited(id, doc, author.company)?),
            None => None,
        };
        Ok(Ok(WriteResult {
            id: id.clone(),
            seq,
            created: false,
            record: None,
        }))
    }
}

/// One result per write asked for: a put's parts fold into its main
/// document's result (the highest sequence number, the values of every
/// part; the first refusal wins).
fn fold_results(
    count: usize,
    expanded: &[(usize, WriteOp)],
    results: Vec<Result<WriteResult, WriteError>>,
) -> Vec<Result<WriteResult, WriteError>> {
    let mut out: Vec<Option<Result<WriteResult, WriteError>>> = (0..count).map(|_| None).collect();
    for ((group, _), result) in expanded.iter().zip(results) {
        let Some(slot) = out.get_mut(*group) else {
            continue;
        };
        match (slot.as_mut(), result) {
            (None, r) => *slot = Some(r),
            (Some(Ok(acc)), Ok(r)) => {
                acc.seq = acc.seq.max(r.seq);
                if let (Some(main), Some(part)) = (acc.record.as_mut(), r.record) {
                    main.values.extend(part.values);
                }
            }
            (Some(Ok(_)), Err(e)) => *slot = Some(Err(e)),
            (Some(Err(_)), _) => {}
        }
    }
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(WriteError::NotFound("a write".into()))))
        .collect()
}

//! Copying a whole store into another (`escamap migrate-store`), all or nothing.
//!
//! The source is read in one snapshot and streamed into one transaction on the target, so a
//! failure at any point (a bad row, a lost connection, Ctrl-C) leaves the target as blank as it
//! was. Ids are kept, so imports keep their escalations and accounts their tokens; source profiles
//! go along. Sessions and
//! failed-login records are not copied: everyone signs in again on the new store.

use serde::Serialize;

use super::{
    DumpSink, ImportRecord, RestoreTx, SourceProfile, Store, StoreError, StoredToken, StoredUser,
};
use crate::domain::Escalation;

/// What was copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CopySummary {
    pub imports: u64,
    pub escalations: u64,
    pub users: u64,
    pub tokens: u64,
    pub profiles: u64,
}

struct Counting<'a, 't> {
    target: &'a mut (dyn RestoreTx + 't),
    summary: CopySummary,
    progress: &'a mut dyn FnMut(&CopySummary),
}

impl DumpSink for Counting<'_, '_> {
    fn import(&mut self, r: &ImportRecord) -> Result<(), StoreError> {
        self.summary.imports += 1;
        self.target.import(r)
    }
    fn escalation(&mut self, e: &Escalation) -> Result<(), StoreError> {
        self.summary.escalations += 1;
        if self.summary.escalations.is_multiple_of(50_000) {
            (self.progress)(&self.summary);
        }
        self.target.escalation(e)
    }
    fn user(&mut self, u: &StoredUser) -> Result<(), StoreError> {
        self.summary.users += 1;
        self.target.user(u)
    }
    fn token(&mut self, t: &StoredToken) -> Result<(), StoreError> {
        self.summary.tokens += 1;
        self.target.token(t)
    }
    fn profile(&mut self, p: &SourceProfile) -> Result<(), StoreError> {
        self.summary.profiles += 1;
        self.target.profile(p)
    }
}

/// Copies everything in `from` into `to`, which must be blank; one transaction on `to`.
pub fn copy_store(
    from: &mut dyn Store,
    to: &mut dyn Store,
    progress: &mut dyn FnMut(&CopySummary),
) -> Result<CopySummary, StoreError> {
    if !to.is_blank()? {
        return Err(StoreError::Conflict(
            "the target store is not empty; copy into a new, empty database".into(),
        ));
    }
    let mut tx = to.restore()?;
    let mut sink = Counting {
        target: tx.as_mut(),
        summary: CopySummary::default(),
        progress,
    };
    from.dump(&mut sink)?;
    let summary = sink.summary;
    tx.commit()?;
    Ok(summary)
}

//! The only module that speaks SQL.
//!
//! [`Store`] is deliberately narrow: write an import in one transaction, list and delete imports,
//! scan the columns the analytics index needs, and fetch whole escalations by id. Everything the
//! dashboard computes comes from the in-memory index (`analytics`), never from SQL per request.
//! SQLite ([`SqliteStore`]) is the embedded default; a PostgreSQL implementation plugs in behind
//! the same trait.
//!
//! Database errors are mapped to [`StoreError`] once, here.

mod sqlite;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::domain::{Escalation, NewEscalation, Role, Severity, User, UserName};
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Other(String),
}

/// What the caller knows about an import before its rows are written.
#[derive(Debug, Clone)]
pub struct NewImport<'a> {
    pub source: &'a str,
    pub format: &'a str,
    pub encoding: &'a str,
}

/// A recorded import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportRecord {
    pub id: i64,
    pub source: String,
    pub format: String,
    pub encoding: String,
    pub imported_at: DateTime<Utc>,
    pub rows_imported: u64,
    pub rows_replaced: u64,
    pub rows_rejected: u64,
    /// Escalations that still belong to this import (later imports may have replaced some).
    pub rows_current: u64,
}

/// The columns the analytics index is built from, borrowed from the store's row buffer.
#[derive(Debug, Clone, Copy)]
pub struct IndexRow<'a> {
    pub id: i64,
    pub client: &'a str,
    pub product: &'a str,
    pub region: &'a str,
    pub severity: Severity,
    pub opened: NaiveDate,
    pub closed: Option<NaiveDate>,
    pub ticket: Option<&'a str>,
    pub status: Option<&'a str>,
}

/// An import being written. Dropping it without [`ImportTx::commit`] rolls everything back.
pub trait ImportTx {
    /// Writes one escalation; returns `true` when it replaced an existing one with the same ticket.
    fn write(&mut self, row: &NewEscalation) -> Result<bool, StoreError>;
    /// Records the final counts and commits the import atomically.
    fn commit(self: Box<Self>, rejected: u64) -> Result<ImportRecord, StoreError>;
}

pub trait Store: Send {
    /// Starts an import: a transaction that is committed by [`ImportTx::commit`].
    fn begin_import<'s>(
        &'s mut self,
        import: &NewImport<'_>,
    ) -> Result<Box<dyn ImportTx + 's>, StoreError>;
    /// All imports, newest first.
    fn imports(&self) -> Result<Vec<ImportRecord>, StoreError>;
    /// Deletes an import and the escalations it last wrote; returns how many escalations went.
    fn delete_import(&mut self, id: i64) -> Result<u64, StoreError>;
    /// Calls `f` for every stored escalation, in no particular order.
    fn scan(&self, f: &mut dyn FnMut(IndexRow<'_>)) -> Result<(), StoreError>;
    /// The escalations with these ids, in the order of `ids` (missing ids are skipped).
    fn escalations(&self, ids: &[i64]) -> Result<Vec<Escalation>, StoreError>;
    /// Number of stored escalations.
    fn count(&self) -> Result<u64, StoreError>;

    // ----- accounts, sessions, API tokens -----
    fn user_count(&self) -> Result<u64, StoreError>;
    /// `Conflict` when the name is taken (names compare case-insensitively).
    fn create_user(
        &mut self,
        name: &UserName,
        role: Role,
        password_hash: &str,
    ) -> Result<User, StoreError>;
    fn users(&self) -> Result<Vec<User>, StoreError>;
    /// The account and its password hash.
    fn user_by_name(&self, name: &str) -> Result<Option<(User, String)>, StoreError>;
    /// `NotFound` when there is no such account. Its sessions and tokens go with it.
    fn delete_user(&mut self, name: &str) -> Result<(), StoreError>;
    /// Replaces the password hash and ends every session of the account.
    fn set_password(&mut self, name: &str, password_hash: &str) -> Result<(), StoreError>;
    fn set_role(&mut self, name: &str, role: Role) -> Result<(), StoreError>;
    fn create_session(
        &mut self,
        id_hash: &str,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The session's account when it has been used within `idle`; refreshes its last use.
    /// An expired session is deleted.
    fn session_user(
        &mut self,
        id_hash: &str,
        idle: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;
    fn delete_session(&mut self, id_hash: &str) -> Result<(), StoreError>;
    fn create_token(
        &mut self,
        user_id: i64,
        label: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord, StoreError>;
    fn token_user(
        &mut self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    fn delete_token(&mut self, id: i64) -> Result<(), StoreError>;
}

/// An API token, without its value (which is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: i64,
    pub user: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
}

/// Parses the store's `YYYY-MM-DD` without the generality (and cost) of a format string:
/// index loading parses a million of these.
pub(crate) fn parse_iso_day(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)
}

#[cfg(test)]
mod contract;

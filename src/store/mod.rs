//! The only module that speaks SQL.
//!
//! [`Store`] is deliberately narrow: write an import in one transaction, list and delete imports,
//! scan the columns the analytics index needs, and fetch whole escalations by id. Everything the
//! dashboard computes comes from the in-memory index (`analytics`), never from SQL per request.
//! Two backends implement it: SQLite ([`SqliteStore`], the embedded default) and PostgreSQL
//! ([`PgStore`], for several instances on one database). [`Location`] picks one from `--db`.
//!
//! A `Store` is one connection: every method takes `&mut self`, and the application keeps a few
//! of them for different jobs (requests, writes, index scans) so that one never waits on another.
//! Database errors are mapped to [`StoreError`] once, in each backend.
//!
//! The same checks pin both backends: `contract::run_all` takes a factory for fresh, empty stores.

mod copy;
mod location;
mod pg;
mod sqlite;
#[doc(hidden)]
pub mod testing;

pub use copy::{CopySummary, copy_store};
pub use location::Location;
pub use pg::{Change, PgStore, watch_changes};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::domain::{Escalation, NewEscalation, Role, Severity, Text, User, UserName};
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

impl StoreError {
    /// The metrics' word for a store that could not be reached.
    pub const UNAVAILABLE: &'static str = "unavailable";
    /// The metrics' word for any other store failure.
    pub const OTHER: &'static str = "other";

    /// The kind of failure this is, as the metrics count it ([`Self::UNAVAILABLE`],
    /// [`Self::OTHER`]); `None` for an answer rather than a failure (not found, a conflict).
    pub fn fault(&self) -> Option<&'static str> {
        match self {
            Self::NotFound | Self::Conflict(_) => None,
            Self::Unavailable(_) => Some(Self::UNAVAILABLE),
            Self::Other(_) => Some(Self::OTHER),
        }
    }
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

impl<'a> IndexRow<'a> {
    /// The row the store keeps of `row` under `id`: what a scan reads back once it is written.
    pub fn of(id: i64, row: &'a NewEscalation) -> Self {
        let text = |t: &'a Option<Text>| t.as_ref().map(Text::as_str);
        Self {
            id,
            client: row.client.as_str(),
            product: row.product.as_str(),
            region: row.region.as_str(),
            severity: row.severity,
            opened: row.opened,
            closed: row.closed,
            ticket: text(&row.ticket),
            status: text(&row.status),
        }
    }
}

/// What [`Store::scan_changes`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// The generation of the snapshot read: the index now holds the store as of it.
    pub generation: u64,
    /// Every escalation was read (not only the changes).
    pub full: bool,
}

/// How many generations of deletions a store keeps for indexes to catch up with
/// ([`Store::scan_changes`]); an index further behind reads the whole store.
pub const RETIRED_KEPT: u64 = 1_000;

/// Whether an index at `since` can catch up with a store at `generation` whose oldest
/// catch-up point is `rebuild_from`: the one rule both backends read their answer by.
pub fn can_catch_up(since: Option<u64>, rebuild_from: u64, generation: u64) -> Option<u64> {
    since.filter(|&s| s >= rebuild_from && s <= generation)
}

/// [`Store::scan_parts`] on one connection: every row to the first part.
fn scan_all_into_first<S: Store + ?Sized>(
    store: &mut S,
    parts: &mut [&mut (dyn FnMut(IndexRow<'_>) + Send)],
) -> Result<u64, StoreError> {
    match parts.first_mut() {
        Some(first) => Ok(store
            .scan_changes(None, &mut **first, &mut |_| {})?
            .generation),
        None => store.generation(),
    }
}

/// [`Store::scan_parts`] into `parts`, each row added to its part by `add`.
pub fn scan_into<T: Send>(
    store: &mut dyn Store,
    parts: &mut [T],
    add: fn(&mut T, IndexRow<'_>),
) -> Result<u64, StoreError> {
    let mut sinks: Vec<_> = parts
        .iter_mut()
        .map(|part| move |row: IndexRow<'_>| add(part, row))
        .collect();
    let mut refs: Vec<&mut (dyn FnMut(IndexRow<'_>) + Send)> = sinks
        .iter_mut()
        .map(|s| s as &mut (dyn FnMut(IndexRow<'_>) + Send))
        .collect();
    store.scan_parts(&mut refs)
}

/// An import being written. Dropping it without [`ImportTx::commit`] rolls everything back.
/// Whether it replaced a stored escalation is only known at commit (a backend may write in bulk),
/// so the counts come back in the committed [`ImportRecord`].
pub trait ImportTx {
    /// Writes one escalation. A row whose ticket was seen before (stored, or earlier in the same
    /// import) replaces that escalation and counts as replaced.
    fn write(&mut self, row: &NewEscalation) -> Result<Written, StoreError>;
    /// Records the final counts and commits the import atomically.
    fn commit(self: Box<Self>, rejected: u64) -> Result<Committed, StoreError>;
}

/// What [`ImportTx::write`] did with a row, as far as the store can say before the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// A new escalation, stored under this id.
    New(i64),
    /// It replaced the escalation its ticket names (stored before, or earlier in this import).
    Replaced,
    /// Taken in; what became of it is settled at the commit (a bulk load).
    Pending,
}

/// A committed import: its record, and the store's generation it committed at (see
/// [`Store::generation`]).
#[derive(Debug, Clone)]
pub struct Committed {
    pub record: ImportRecord,
    pub generation: u64,
}

pub trait Store: Send {
    /// Starts an import: a transaction that is committed by [`ImportTx::commit`].
    fn begin_import<'s>(
        &'s mut self,
        import: &NewImport<'_>,
    ) -> Result<Box<dyn ImportTx + 's>, StoreError>;
    /// All imports, newest first.
    fn imports(&mut self) -> Result<Vec<ImportRecord>, StoreError>;
    /// Deletes an import and the escalations it last wrote; returns how many escalations went.
    fn delete_import(&mut self, id: i64) -> Result<u64, StoreError>;
    /// Calls `f` for every stored escalation, in no particular order.
    fn scan(&mut self, f: &mut dyn FnMut(IndexRow<'_>)) -> Result<(), StoreError> {
        self.scan_changes(None, f, &mut |_| {}).map(|_| ())
    }
    /// What an index at generation `since` needs to catch up, read in one snapshot: `row` for
    /// every escalation written since (new, or a new version of a stored one: same id) and
    /// `retired` for every id deleted since. With `since` `None`, or one the store cannot catch
    /// up from (older than the deletions it keeps, from before a restore, or from another store),
    /// `row` is called for every escalation instead, and the answer says so.
    fn scan_changes(
        &mut self,
        since: Option<u64>,
        row: &mut dyn FnMut(IndexRow<'_>),
        retired: &mut dyn FnMut(i64),
    ) -> Result<Scanned, StoreError>;
    /// Every stored escalation, read in one snapshot as [`Store::scan_changes`] with no `since`
    /// reads it, handed out among `parts`: each row to exactly one part, in no particular order.
    /// A backend that can read one snapshot over several connections reads each part on a thread
    /// of its own (SQLite: a range of ids each); otherwise every row goes to the first part.
    /// Returns the generation read.
    fn scan_parts(
        &mut self,
        parts: &mut [&mut (dyn FnMut(IndexRow<'_>) + Send)],
    ) -> Result<u64, StoreError> {
        scan_all_into_first(self, parts)
    }
    /// The escalations with these ids, in the order of `ids` (missing ids are skipped).
    fn escalations(&mut self, ids: &[i64]) -> Result<Vec<Escalation>, StoreError>;
    /// Number of stored escalations.
    fn count(&mut self) -> Result<u64, StoreError>;

    // ----- accounts, sessions, API tokens -----
    fn user_count(&mut self) -> Result<u64, StoreError>;
    /// Stores a new account. `Conflict` (with the database's words) when the name is taken;
    /// names compare case-insensitively.
    fn insert_user(
        &mut self,
        name: &UserName,
        role: Role,
        password_hash: &str,
    ) -> Result<User, StoreError>;
    /// [`Store::insert_user`], with the conflict worded for people.
    fn create_user(
        &mut self,
        name: &UserName,
        role: Role,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        self.insert_user(name, role, password_hash)
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("an account named {name} exists already"))
                }
                other => other,
            })
    }
    fn users(&mut self) -> Result<Vec<User>, StoreError>;
    /// The account and its password hash.
    fn user_by_name(&mut self, name: &str) -> Result<Option<(User, String)>, StoreError>;
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
    /// The session's account and when the session was last used.
    fn session(&mut self, id_hash: &str) -> Result<Option<(User, DateTime<Utc>)>, StoreError>;
    /// Records a use of the session at `now`.
    fn touch_session(&mut self, id_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// The session's account when it has been used within `idle`; refreshes its last use (at
    /// most once a minute: a page view should not always be a write). An expired session is
    /// deleted. The rule is written here once, over the facts each backend returns.
    fn session_user(
        &mut self,
        id_hash: &str,
        idle: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let Some((user, last)) = self.session(id_hash)? else {
            return Ok(None);
        };
        if now - last > idle {
            self.delete_session(id_hash)?;
            return Ok(None);
        }
        if now - last > chrono::Duration::seconds(60) {
            self.touch_session(id_hash, now)?;
        }
        Ok(Some(user))
    }
    fn delete_session(&mut self, id_hash: &str) -> Result<(), StoreError>;
    /// Stores a token's digest; returns its id.
    fn insert_token(
        &mut self,
        user_id: i64,
        label: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError>;
    /// [`Store::insert_token`], answered as the listing shows it.
    fn create_token(
        &mut self,
        user_id: i64,
        label: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenRecord, StoreError> {
        let id = self.insert_token(user_id, label, token_hash, now)?;
        self.tokens()?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or(StoreError::NotFound)
    }
    fn token_user(
        &mut self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;
    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError>;
    fn delete_token(&mut self, id: i64) -> Result<(), StoreError>;

    // ----- state shared by every instance on the store -----
    /// The value stored under `key`, storing `default` first when there is none. Two instances
    /// racing to set it both get the one that won.
    fn setting_or_insert(&mut self, key: &str, default: &str) -> Result<String, StoreError>;

    // ----- source profiles -----
    /// Stores the profile, replacing one of the same name (names compare ignoring case).
    fn save_profile(&mut self, profile: &SourceProfile) -> Result<(), StoreError>;
    /// Every profile, by name.
    fn profiles(&mut self) -> Result<Vec<SourceProfile>, StoreError>;
    /// `NotFound` when there is no such profile.
    fn delete_profile(&mut self, name: &str) -> Result<(), StoreError>;
    /// Records a failed login under each key (an account, an address).
    /// Saves a view, replacing one of the same name (in any case).
    fn save_view(&mut self, view: &NewView) -> Result<SavedView, StoreError>;
    /// Every saved view, by name.
    fn views(&mut self) -> Result<Vec<SavedView>, StoreError>;
    /// `NotFound` when no view has that name (in any case).
    fn delete_view(&mut self, name: &str) -> Result<(), StoreError>;
    fn add_subscription(&mut self, s: &NewSubscription) -> Result<Subscription, StoreError>;
    /// Every subscription, by id.
    fn subscriptions(&mut self) -> Result<Vec<Subscription>, StoreError>;
    /// `NotFound` when there is none with that id.
    fn remove_subscription(&mut self, id: i64) -> Result<(), StoreError>;
    /// Claims the delivery of `slot` for `lease_until`, atomically: it succeeds (with the attempt's
    /// number) when the slot was never tried, or was tried, not sent, its lease is over and its
    /// retry is due. Two instances asking at once: one gets it. `None`: not this time.
    fn claim_delivery(
        &mut self,
        subscription: i64,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<u32>, StoreError>;
    /// Records how a claimed delivery ended: sent at `now`, or failed with `error`, to be tried
    /// again from `retry_at`.
    fn finish_delivery(
        &mut self,
        subscription: i64,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
        failed: Option<(&str, DateTime<Utc>)>,
    ) -> Result<(), StoreError>;
    /// Every delivery of a subscription, newest slot first.
    fn deliveries(&mut self, subscription: i64) -> Result<Vec<Delivery>, StoreError>;
    fn add_alert(&mut self, a: &NewAlert) -> Result<Alert, StoreError>;
    /// Every alert, by id.
    fn alerts(&mut self) -> Result<Vec<Alert>, StoreError>;
    /// `NotFound` when there is none with that id.
    fn remove_alert(&mut self, id: i64) -> Result<(), StoreError>;
    /// Records, in one transaction, that `alert` has seen each of `findings` (their keys), and
    /// queues one message for those it had not seen before: `payload` gets their positions in
    /// `findings` and returns the message's body, or `None` to record them without a message (the
    /// findings there were when the alert was made). Two instances recording the same finding at
    /// once: one of them has it. Returns the queued message's id.
    fn record_findings(
        &mut self,
        alert: i64,
        findings: &[String],
        payload: &mut dyn FnMut(&[usize]) -> Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError>;
    /// Claims the oldest alert message not sent whose lease is over and whose retry is due, for
    /// `lease_until`, atomically (one instance gets each).
    fn claim_message(
        &mut self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<ClaimedMessage>, StoreError>;
    /// Records how a claimed message ended, as [`Store::finish_delivery`] does for digests.
    fn finish_message(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
        failed: Option<(&str, DateTime<Utc>)>,
    ) -> Result<(), StoreError>;
    /// Every message of an alert, oldest first.
    fn alert_messages(&mut self, alert: i64) -> Result<Vec<AlertMessage>, StoreError>;
    fn record_login_failure(&mut self, keys: &[&str], at: DateTime<Utc>) -> Result<(), StoreError>;
    /// How many failures `key` has since `since`, and when the oldest of them was.
    fn login_failures(
        &mut self,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<(u64, Option<DateTime<Utc>>), StoreError>;
    fn clear_login_failures(&mut self, key: &str) -> Result<(), StoreError>;

    /// A number that changes with every committed import, delete or restore, whichever process
    /// made it (0 before the first). Servers compare it with the one their index was built at.
    fn generation(&mut self) -> Result<u64, StoreError>;

    // ----- whole-store copy (`escamap migrate-store`) -----
    /// True when the store holds no import, escalation, account or token.
    fn is_blank(&mut self) -> Result<bool, StoreError>;
    /// Feeds every import, escalation, account and API token to `sink`, in that order.
    fn dump(&mut self, sink: &mut dyn DumpSink) -> Result<(), StoreError>;
    /// Starts writing a dump into this (blank) store, ids kept, in one transaction.
    fn restore<'s>(&'s mut self) -> Result<Box<dyn RestoreTx + 's>, StoreError>;
}

/// An account as stored, with its password hash (for copying a store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUser {
    pub user: User,
    pub password_hash: String,
}

/// An API token as stored, with its digest (for copying a store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub id: i64,
    pub user_id: i64,
    pub label: String,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
}

/// Receives a store's contents, in dependency order (imports before their escalations, accounts
/// before their tokens).
pub trait DumpSink {
    fn import(&mut self, record: &ImportRecord) -> Result<(), StoreError>;
    fn escalation(&mut self, e: &Escalation) -> Result<(), StoreError>;
    fn user(&mut self, u: &StoredUser) -> Result<(), StoreError>;
    fn token(&mut self, t: &StoredToken) -> Result<(), StoreError>;
    fn profile(&mut self, p: &SourceProfile) -> Result<(), StoreError>;
}

/// A restore in progress; dropped without [`RestoreTx::commit`] it leaves the store blank.
pub trait RestoreTx: DumpSink {
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// A named mapping for files with a given header. The store keeps the mapping as the JSON the
/// application gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceProfile {
    pub name: String,
    /// The header's comparison keys, joined by U+001F.
    pub header: String,
    pub mapping: String,
    pub created_at: DateTime<Utc>,
}

/// A subscription to add: a user's digest of a view (or the whole dashboard), on a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub user: String,
    pub view: Option<String>,
    /// `weekly mon 08:00`.
    pub schedule: String,
    /// An IANA zone.
    pub tz: String,
    pub target: Target,
    pub created_at: DateTime<Utc>,
}

/// Where a digest or an alert goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Email(String),
    /// A URL that gets a signed POST; the secret is shown once, at creation, and never listed.
    Webhook {
        url: String,
        #[serde(skip)]
        secret: String,
    },
}

impl Target {
    /// The store's three columns: e-mail, webhook URL, secret.
    pub(crate) fn columns(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        match self {
            Self::Email(a) => (Some(a), None, None),
            Self::Webhook { url, secret } => (None, Some(url), Some(secret)),
        }
    }

    /// From the store's three columns; `None` when they hold neither.
    pub(crate) fn from_columns(
        email: Option<String>,
        webhook: Option<String>,
        secret: Option<String>,
    ) -> Option<Self> {
        match (email, webhook) {
            (Some(a), None) => Some(Self::Email(a)),
            (None, Some(url)) => Some(Self::Webhook {
                url,
                secret: secret.unwrap_or_default(),
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Email(a) => write!(f, "{a}"),
            Self::Webhook { url, .. } => write!(f, "webhook {url}"),
        }
    }
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub id: i64,
    pub user: String,
    pub view: Option<String>,
    pub schedule: String,
    pub tz: String,
    #[serde(flatten)]
    pub target: Target,
    pub created_at: DateTime<Utc>,
}

impl NewSubscription {
    /// The subscription as stored under `id`.
    pub fn saved(&self, id: i64) -> Subscription {
        Subscription {
            id,
            user: self.user.clone(),
            view: self.view.clone(),
            schedule: self.schedule.clone(),
            tz: self.tz.clone(),
            target: self.target.clone(),
            created_at: to_micros(self.created_at),
        }
    }
}

/// An alert to add: a user's standing question, asked after every committed import.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub user: String,
    /// `spike`, `emerging` …; empty for every kind.
    pub kinds: Vec<String>,
    /// The slice constraint: the dashboard's filters as a query string.
    pub query: String,
    pub min_score: f64,
    pub target: Target,
    pub created_at: DateTime<Utc>,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: i64,
    pub user: String,
    pub kinds: Vec<String>,
    pub query: String,
    pub min_score: f64,
    #[serde(flatten)]
    pub target: Target,
    pub created_at: DateTime<Utc>,
}

impl NewAlert {
    pub fn saved(&self, id: i64) -> Alert {
        Alert {
            id,
            user: self.user.clone(),
            kinds: self.kinds.clone(),
            query: self.query.clone(),
            min_score: self.min_score,
            target: self.target.clone(),
            created_at: to_micros(self.created_at),
        }
    }
}

/// An alert's message, claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    pub id: i64,
    pub alert: i64,
    /// The webhook body (JSON), from which the mail is written too.
    pub payload: String,
    /// 1 on the first try.
    pub attempt: u32,
}

/// An alert's message as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertMessage {
    pub id: i64,
    pub alert: i64,
    /// `queued`, `sending`, `sent` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// What is sent (it may carry an unsubscribe link): never listed.
    #[serde(skip)]
    pub payload: String,
}

/// One slot's delivery as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub slot: DateTime<Utc>,
    /// `sending`, `sent` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A view to save: a name and the dashboard's query string, its owner's, or everyone's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewView {
    pub name: String,
    pub owner: Option<String>,
    pub shared: bool,
    pub query: String,
    pub created_at: DateTime<Utc>,
}

impl NewView {
    /// The view as stored under `id`, its time as the store keeps it (to the microsecond).
    pub fn saved(&self, id: i64) -> SavedView {
        SavedView {
            id,
            name: self.name.clone(),
            owner: self.owner.clone(),
            shared: self.shared,
            query: self.query.clone(),
            created_at: to_micros(self.created_at),
        }
    }
}

/// A saved view as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedView {
    pub id: i64,
    pub name: String,
    /// The user who saved it; `None` when saved without an account (an open server, the CLI).
    pub owner: Option<String>,
    pub shared: bool,
    pub query: String,
    pub created_at: DateTime<Utc>,
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

/// An alert's kinds as the store keeps them, `spike,emerging`.
pub(crate) fn split_kinds(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Times are kept to the microsecond (PostgreSQL's precision) by every backend, so a store copied
/// across backends reads back exactly the same.
pub(crate) fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
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

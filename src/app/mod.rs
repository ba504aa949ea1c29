//! The application service: owns the [`Store`] and the analytics [`Index`].
//!
//! Every change goes import -> commit -> refresh: what a committed import or delete wrote and
//! removed is applied to the index, and the new index is swapped in whole, so readers see either
//! the old or the new data, never half of it. The command line and the web server only translate their requests
//! into calls here, so both behave the same.
//!
//! A store connection does one thing at a time, so the application keeps one per kind of work
//! ([`Conn`]): requests (sessions, pages of rows), writes (imports, deletes) and index scans. A
//! long import then holds up neither a login nor a page, and an index update after another
//! instance's import (PostgreSQL, [`App::watch_changes`]) runs beside both.

//!
//! The service is split by concern: [`accounts`] (users, sessions, API tokens, the login
//! throttle), [`import`] (imports and deletes), [`queries`] (stats, heatmaps, pages of rows,
//! export), [`refresh`] (the index: loaded once, then each change applied, this process's or another's). Each is an
//! `impl App` block of its own; this file holds the struct, its connections and its clock.

mod accounts;
mod alerts;
mod cache;
mod digest;
mod import;
mod notify;
mod queries;
mod refresh;
mod subscriptions;
mod views;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use chrono::NaiveDate;

use crate::analytics::insights::Insights;
use crate::analytics::risk::Accounts;
use crate::analytics::{Filter, Index, InvalidQuery};
use crate::domain::Period;
use crate::ingest::FileError;
use crate::store::{Location, Store, StoreError};

pub use alerts::{AlertReport, describe as describe_alert};
pub use digest::{DigestOut, DigestRequest};
pub use import::{ImportOptions, display_name, profile_name};
pub use notify::{Outbound, Unsubscribe, Unsubscribing, target};
pub use subscriptions::{DueReport, SubscriptionStatus};
pub use views::Viewer;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The file was refused whole; nothing was imported.
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "the file has more than {limit} rows; split it or raise the limit (--max-import-rows, ESCAMAP_MAX_IMPORT_ROWS)"
    )]
    TooManyRows { limit: u64 },
    #[error(transparent)]
    Query(#[from] InvalidQuery),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the output failed: {0}")]
    Output(String),
    #[error("there is no source profile {0:?}")]
    NoSuchProfile(String),
    #[error("a profile name is 1 to 100 characters, none of them control characters")]
    BadProfileName,
    #[error("there is no saved view {0:?}")]
    NoSuchView(String),
    #[error("a view name is 1 to 80 characters, none of them control characters")]
    BadViewName,
    #[error("the view {0:?} is not yours to change")]
    NotYourView(String),
    #[error("the digest's view cannot be read: {0}")]
    BadDigestQuery(String),
    #[error("{0}")]
    BadSubscription(String),
    #[error("{0} is not yours to change")]
    NotYours(String),
    #[error("mail: {0}")]
    Mail(String),
    #[error("webhook: {0}")]
    Webhook(String),
    /// Every row was rejected: nothing was imported and nothing is recorded.
    #[error("every row was rejected ({}); nothing was imported", .0.rejected_count)]
    AllRejected(Box<crate::ingest::ImportReport>),
    /// A severity no default reads and the mapping does not name, where the caller asked to
    /// stop at one ([`ImportOptions::stop_at_unknown_severity`]): nothing was imported.
    #[error("the file needs a mapping: {0}")]
    NeedsMapping(String),
    #[error(transparent)]
    Hash(#[from] crate::auth::HashError),
}

/// Limits applied to every import.
#[derive(Debug, Clone, Copy)]
pub struct ImportLimits {
    /// Records (imported plus rejected) per file.
    pub max_rows: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self {
            max_rows: 5_000_000,
        }
    }
}

pub struct App {
    /// One connection per [`Conn`] or, for a store that cannot be opened twice, a single one.
    conns: Vec<Mutex<Box<dyn Store>>>,
    index: RwLock<Arc<Index>>,
    /// Memory of indexes replaced, for the next one to be built in.
    recycled: Mutex<refresh::Recycled>,
    /// The store's generation the index holds (once `index_loaded`).
    index_generation: std::sync::atomic::AtomicU64,
    /// Whether an index was loaded: from then on, changes are applied to it.
    index_loaded: std::sync::atomic::AtomicBool,
    limits: ImportLimits,
    location: Option<Location>,
    clock: Clock,
    /// Findings, per filter, period and day, for the index in use.
    insights: cache::PerIndex<InsightsKey, Insights>,
    /// Accounts ranked, per filter and day, for the index in use.
    accounts: cache::PerIndex<(Filter, Option<NaiveDate>), Accounts>,
    /// What this process counts (served by `serve --metrics-addr`).
    metrics: Arc<crate::metrics::Metrics>,
    /// False for a command that only writes (`escamap import`, `user add` …): no index is loaded
    /// at start or updated after a change, since nothing in the process would read it (a server
    /// beside it follows the change by itself).
    indexed: bool,
}

/// What an insights answer depends on besides the index: the filter (without its dates), the
/// period and the day.
type InsightsKey = (Filter, Period, Option<NaiveDate>);

/// The kinds of work that each get a store connection of their own.
#[derive(Debug, Clone, Copy)]
pub(super) enum Conn {
    Requests = 0,
    Writes = 1,
    Scans = 2,
}

/// What day it is, for the contact list's derived dates and the sample data. The system's local
/// date unless a test fixes it ([`App::with_today`]).
#[derive(Clone, Default)]
pub enum Clock {
    #[default]
    Local,
    Fixed(NaiveDate),
}

impl Clock {
    pub fn today(&self) -> NaiveDate {
        match self {
            Self::Local => crate::domain::local_today(),
            Self::Fixed(d) => *d,
        }
    }
}

/// Escalations are fetched from the store in chunks of this many ids.
const FETCH_CHUNK: usize = 1_000;

impl App {
    /// Opens (creating if needed) the SQLite store at `path` and loads the index.
    pub fn open_sqlite(path: &Path) -> Result<Self, AppError> {
        Self::open(&Location::Sqlite(path.to_owned()))
    }

    /// Opens the store (a connection per kind of work), migrates it and loads the index.
    pub fn open(location: &Location) -> Result<Self, AppError> {
        let app = Self::connect(location)?;
        app.refresh()?;
        Ok(app)
    }

    /// Opens the store for a process that never reads the index: it is neither loaded nor updated
    /// after an import or a delete. [`App::index`] stays empty.
    pub fn open_unindexed(location: &Location) -> Result<Self, AppError> {
        Ok(Self {
            indexed: false,
            ..Self::connect(location)?
        })
    }

    /// As [`App::open`], and follows the changes other processes commit (see
    /// [`App::watch_changes`]). The watch starts before the index is loaded, so nothing committed
    /// in between is missed and the index is loaded once.
    pub fn open_watched(location: &Location, limits: ImportLimits) -> Result<Arc<Self>, AppError> {
        let app = Arc::new(Self::connect(location)?.with_limits(limits));
        app.watch_changes()?;
        app.refresh()?;
        app.warm_spare();
        Ok(app)
    }

    fn connect(location: &Location) -> Result<Self, AppError> {
        let conns = [Conn::Requests, Conn::Writes, Conn::Scans]
            .iter()
            .map(|_| location.open().map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            conns,
            index: RwLock::default(),
            recycled: Mutex::default(),
            index_generation: Default::default(),
            index_loaded: Default::default(),
            limits: ImportLimits::default(),
            location: Some(location.clone()),
            clock: Clock::default(),
            insights: Default::default(),
            accounts: Default::default(),
            metrics: Default::default(),
            indexed: true,
        })
    }

    /// An application on one connection (an in-memory store, a test double).
    pub fn new(store: Box<dyn Store>) -> Result<Self, AppError> {
        let app = Self {
            conns: vec![Mutex::new(store)],
            index: RwLock::default(),
            recycled: Mutex::default(),
            index_generation: Default::default(),
            index_loaded: Default::default(),
            limits: ImportLimits::default(),
            location: None,
            clock: Clock::default(),
            insights: Default::default(),
            accounts: Default::default(),
            metrics: Default::default(),
            indexed: true,
        };
        app.refresh()?;
        Ok(app)
    }

    /// Where the store is, when it was opened from a location.
    pub fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    pub fn with_limits(mut self, limits: ImportLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The same application, on a fixed day.
    pub fn with_today(mut self, today: NaiveDate) -> Self {
        self.clock = Clock::Fixed(today);
        self
    }

    /// Today, by the application's clock.
    pub fn today(&self) -> NaiveDate {
        self.clock.today()
    }

    /// The connection for requests.
    pub(super) fn store(&self) -> MutexGuard<'_, Box<dyn Store>> {
        self.conn(Conn::Requests)
    }

    pub(super) fn conn(&self, kind: Conn) -> MutexGuard<'_, Box<dyn Store>> {
        let i = (kind as usize).min(self.conns.len().saturating_sub(1));
        // A panic while holding the lock cannot leave the store half-written (transactions roll
        // back on drop), so a poisoned lock is safe to reuse.
        self.conns[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What this process counts.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// Counts `e` among the store errors when the store failed (work in the background: an
    /// index update, a delivery run; the web layer counts what its answers meet).
    pub fn count_failure(&self, e: &AppError) {
        if let AppError::Store(s) = e
            && let Some(kind) = s.fault()
        {
            self.metrics.store_error(kind);
        }
    }

    /// The current index. Cheap: an `Arc` clone; queries run without holding any lock.
    pub fn index(&self) -> Arc<Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Escalations in the store (a cheap reachability probe for `/readyz`).
    pub fn store_count(&self) -> Result<u64, AppError> {
        Ok(self.store().count()?)
    }
}

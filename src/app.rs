//! The application service: owns the [`Store`] and the analytics [`Index`].
//!
//! Every change goes import -> commit -> refresh: the index is rebuilt from the store after a
//! committed import or delete and swapped in whole, so readers see either the old or the new
//! data, never half of it. The command line and the web server only translate their requests
//! into calls here, so both behave the same.
//!
//! A store connection does one thing at a time, so the application keeps one per kind of work
//! ([`Conn`]): requests (sessions, pages of rows), writes (imports, deletes) and index scans. A
//! long import then holds up neither a login nor a page, and an index rebuild after another
//! instance's import (PostgreSQL, [`App::watch_changes`]) runs beside both.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use chrono::NaiveDate;

use crate::analytics::{Filter, Heatmap, HeatmapQuery, Index, IndexBuilder, InvalidQuery, Stats};
use crate::domain::{Escalation, SortColumn};
use crate::domain::{Password, Role, User, UserName};
use crate::ingest::{FileError, ImportReport, Source};
use crate::render::csv_safe;
use crate::store::{ImportRecord, Location, NewImport, Store, StoreError, TokenRecord};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The file was refused whole; nothing was imported.
    #[error(transparent)]
    File(#[from] FileError),
    #[error("the file has more than {limit} rows; split it or raise the limit")]
    TooManyRows { limit: u64 },
    #[error(transparent)]
    Query(#[from] InvalidQuery),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the output failed: {0}")]
    Output(String),
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
    /// The store's generation the index was built at.
    index_generation: std::sync::atomic::AtomicU64,
    limits: ImportLimits,
    location: Option<Location>,
}

/// The kinds of work that each get a store connection of their own.
#[derive(Debug, Clone, Copy)]
enum Conn {
    Requests = 0,
    Writes = 1,
    Scans = 2,
}

/// Failed logins are counted per account and per address over this window...
const THROTTLE_WINDOW: chrono::Duration = chrono::Duration::minutes(15);
/// ...and a login is refused once either has this many.
const MAX_FAILURES_ACCOUNT: u64 = 5;
const MAX_FAILURES_ADDRESS: u64 = 20;

fn throttle_keys(account: &str, ip: std::net::IpAddr) -> [(String, u64); 2] {
    [
        (
            format!("account:{}", account.trim().to_lowercase()),
            MAX_FAILURES_ACCOUNT,
        ),
        (format!("ip:{ip}"), MAX_FAILURES_ADDRESS),
    ]
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

    /// As [`App::open`], and follows the changes other processes commit (see
    /// [`App::watch_changes`]). The watch starts before the index is loaded, so nothing committed
    /// in between is missed and the index is loaded once.
    pub fn open_watched(location: &Location, limits: ImportLimits) -> Result<Arc<Self>, AppError> {
        let app = Arc::new(Self::connect(location)?.with_limits(limits));
        app.watch_changes()?;
        app.refresh()?;
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
            index_generation: Default::default(),
            limits: ImportLimits::default(),
            location: Some(location.clone()),
        })
    }

    /// An application on one connection (an in-memory store, a test double).
    pub fn new(store: Box<dyn Store>) -> Result<Self, AppError> {
        let app = Self {
            conns: vec![Mutex::new(store)],
            index: RwLock::default(),
            index_generation: Default::default(),
            limits: ImportLimits::default(),
            location: None,
        };
        app.refresh()?;
        Ok(app)
    }

    /// Where the store is, when it was opened from a location.
    pub fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    /// Follows the imports and deletes other processes commit (other instances on PostgreSQL,
    /// `escamap import` run beside a SQLite server) and rebuilds the index after each burst of
    /// them, on a thread of its own: requests keep being answered from the previous index until
    /// the new one is swapped in whole. PostgreSQL announces changes (LISTEN/NOTIFY); a SQLite
    /// file is asked for its generation once a second, one cheap query.
    pub fn watch_changes(self: &Arc<Self>) -> Result<(), AppError> {
        match &self.location {
            Some(Location::Postgres(url)) => self.follow_feed(url),
            Some(Location::Sqlite(_)) => self.poll_generation(),
            None => Ok(()),
        }
    }

    fn poll_generation(self: &Arc<Self>) -> Result<(), AppError> {
        let app = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("escamap-poll".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    let Some(app) = app.upgrade() else {
                        return;
                    };
                    if !app.index_is_current() {
                        match app.refresh() {
                            Ok(()) => tracing::info!(
                                rows = app.index().len(),
                                "index caught up with a change made by another process"
                            ),
                            Err(e) => tracing::warn!(error = %e, "cannot refresh the index yet"),
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Other(format!("cannot start the change poller: {e}")))?;
        Ok(())
    }

    /// Whether the index was built at the store's current generation.
    fn index_is_current(&self) -> bool {
        let seen = self
            .index_generation
            .load(std::sync::atomic::Ordering::SeqCst);
        self.conn(Conn::Scans).generation().is_ok_and(|g| g == seen)
    }

    fn follow_feed(self: &Arc<Self>, url: &str) -> Result<(), AppError> {
        let app = Arc::downgrade(self);
        crate::store::watch_changes(url, move |change| {
            let Some(app) = app.upgrade() else {
                return true;
            };
            // Back after a lost connection: rebuild only if something was committed meanwhile.
            if change == crate::store::Change::Connected && app.index_is_current() {
                tracing::info!("the index is still current");
                return true;
            }
            match app.refresh() {
                Ok(()) => {
                    tracing::info!(
                        ?change,
                        rows = app.index().len(),
                        "index caught up with the store"
                    );
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot refresh the index yet; retrying");
                    false
                }
            }
        })?;
        Ok(())
    }

    pub fn with_limits(mut self, limits: ImportLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The connection for requests.
    fn store(&self) -> MutexGuard<'_, Box<dyn Store>> {
        self.conn(Conn::Requests)
    }

    fn conn(&self, kind: Conn) -> MutexGuard<'_, Box<dyn Store>> {
        let i = (kind as usize).min(self.conns.len().saturating_sub(1));
        // A panic while holding the lock cannot leave the store half-written (transactions roll
        // back on drop), so a poisoned lock is safe to reuse.
        self.conns[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current index. Cheap: an `Arc` clone; queries run without holding any lock.
    pub fn index(&self) -> Arc<Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Rebuilds the index from the store and swaps it in. A scan that fails midway changes
    /// nothing: the previous index stays. Refreshes run one at a time, in order, so an older
    /// scan never replaces a newer one.
    pub fn refresh(&self) -> Result<(), AppError> {
        let started = std::time::Instant::now();
        let mut store = self.conn(Conn::Scans);
        // Read before the scan: a change committed in between makes the index look older than
        // it is, which costs one more refresh, never a missed one.
        let generation = store.generation()?;
        let mut b = IndexBuilder::with_capacity(usize::try_from(store.count()?).unwrap_or(0));
        store.scan(&mut |row| b.push(row))?;
        let scanned = started.elapsed();
        let index = b.finish();
        tracing::debug!(
            rows = index.len(),
            scan_ms = scanned.as_millis() as u64,
            duration_ms = started.elapsed().as_millis() as u64,
            "index refreshed"
        );
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(index);
        self.index_generation
            .store(generation, std::sync::atomic::Ordering::SeqCst);
        drop(store);
        Ok(())
    }

    /// Imports one file in one transaction. Bad rows are reported, the others imported; a file
    /// that cannot be read changes nothing. `progress` is called with (bytes done, bytes total).
    pub fn import(
        &self,
        source_name: &str,
        bytes: &[u8],
        today: NaiveDate,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImportReport, AppError> {
        let started = std::time::Instant::now();
        let source = Source::open(bytes, today)?;
        let total = source.len() as u64;
        let name = display_name(source_name);
        let mut rejected = Vec::new();
        let record = {
            let mut store = self.conn(Conn::Writes);
            let mut tx = store.begin_import(&NewImport {
                source: &name,
                format: source.format.name(),
                encoding: &source.encoding.to_string(),
            })?;
            let mut rows = source.rows();
            let mut seen: u64 = 0;
            while let Some(row) = rows.next() {
                seen += 1;
                if seen > self.limits.max_rows {
                    return Err(AppError::TooManyRows {
                        limit: self.limits.max_rows,
                    });
                }
                match row {
                    Ok(esc) => {
                        tx.write(&esc)?;
                    }
                    Err(e) => rejected.push(e),
                }
                if seen.is_multiple_of(8192) {
                    progress(rows.position(), total);
                }
            }
            progress(total, total);
            tx.commit(rejected.len() as u64)?
        };
        self.refresh()?;
        tracing::info!(
            import.id = record.id,
            import.rows_imported = record.rows_imported,
            import.rows_replaced = record.rows_replaced,
            import.rows_rejected = record.rows_rejected,
            duration_ms = started.elapsed().as_millis() as u64,
            "import committed"
        );
        Ok(ImportReport {
            imported: record.rows_imported,
            replaced: record.rows_replaced,
            rejected_count: record.rows_rejected,
            rejected,
            encoding: source.encoding,
            format: source.format.name(),
            import_id: record.id,
            source: name,
        })
    }

    // ----- accounts -----

    pub fn user_count(&self) -> Result<u64, AppError> {
        Ok(self.store().user_count()?)
    }

    pub fn add_user(
        &self,
        name: &UserName,
        role: Role,
        password: &Password,
    ) -> Result<User, AppError> {
        let hash = crate::auth::hash_password(password)?;
        let user = self.store().create_user(name, role, &hash)?;
        tracing::info!(target: "security", event = "user_added", account = %user.name, role = %role, "account created");
        Ok(user)
    }

    pub fn users(&self) -> Result<Vec<User>, AppError> {
        Ok(self.store().users()?)
    }

    pub fn remove_user(&self, name: &str) -> Result<(), AppError> {
        self.store().delete_user(name)?;
        tracing::info!(target: "security", event = "user_removed", account = %name, "account removed");
        Ok(())
    }

    /// Sets a new password and ends every session of the account.
    pub fn set_password(&self, name: &str, password: &Password) -> Result<(), AppError> {
        let hash = crate::auth::hash_password(password)?;
        self.store().set_password(name, &hash)?;
        tracing::info!(target: "security", event = "password_changed", account = %name, "password changed, sessions ended");
        Ok(())
    }

    pub fn set_role(&self, name: &str, role: Role) -> Result<(), AppError> {
        self.store().set_role(name, role)?;
        tracing::info!(target: "security", event = "role_changed", account = %name, role = %role, "role changed");
        Ok(())
    }

    /// The account when name and password match. A missing account costs the same time as a
    /// wrong password (a decoy hash is verified), and the caller cannot tell them apart.
    pub fn check_password(&self, name: &str, password: &str) -> Result<Option<User>, AppError> {
        let found = self.store().user_by_name(name.trim())?;
        let hash = found
            .as_ref()
            .map_or(crate::auth::decoy_hash(), |(_, h)| h.as_str());
        let ok = crate::auth::verify_password(password, hash);
        Ok(found.filter(|_| ok).map(|(u, _)| u))
    }

    /// Starts a session; returns the raw session id the client keeps (the store keeps its digest).
    pub fn start_session(&self, user: &User) -> Result<String, AppError> {
        let raw = crate::auth::random_token();
        self.store()
            .create_session(&crate::auth::digest(&raw), user.id, chrono::Utc::now())?;
        Ok(raw)
    }

    pub fn session_user(
        &self,
        raw: &str,
        idle: chrono::Duration,
    ) -> Result<Option<User>, AppError> {
        Ok(self
            .store()
            .session_user(&crate::auth::digest(raw), idle, chrono::Utc::now())?)
    }

    pub fn end_session(&self, raw: &str) -> Result<(), AppError> {
        Ok(self.store().delete_session(&crate::auth::digest(raw))?)
    }

    /// Creates an API token for an account; the raw token is returned once and never stored.
    pub fn create_token(
        &self,
        user_name: &str,
        label: &str,
    ) -> Result<(TokenRecord, String), AppError> {
        let mut store = self.store();
        let (user, _) = store.user_by_name(user_name)?.ok_or(StoreError::NotFound)?;
        let raw = crate::auth::random_token();
        let label: String = label
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let record = store.create_token(
            user.id,
            &label,
            &crate::auth::digest(&raw),
            chrono::Utc::now(),
        )?;
        tracing::info!(target: "security", event = "token_created", account = %user.name, token.id = record.id, "API token created");
        Ok((record, raw))
    }

    /// Seconds to wait before the next login attempt for this account from this address, when
    /// either has failed too often lately. Counted in the store, so every instance on it agrees.
    pub fn login_wait(&self, account: &str, ip: std::net::IpAddr) -> Result<Option<u64>, AppError> {
        let now = chrono::Utc::now();
        let mut store = self.store();
        for (key, max) in throttle_keys(account, ip) {
            let (n, oldest) = store.login_failures(&key, now - THROTTLE_WINDOW)?;
            if n >= max {
                let waited = oldest.map_or(chrono::Duration::zero(), |t| now - t);
                let left = (THROTTLE_WINDOW - waited).num_seconds();
                return Ok(Some(u64::try_from(left).unwrap_or(0).max(1)));
            }
        }
        Ok(None)
    }

    pub fn login_failed(&self, account: &str, ip: std::net::IpAddr) -> Result<(), AppError> {
        let keys = throttle_keys(account, ip);
        let keys: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        Ok(self
            .store()
            .record_login_failure(&keys, chrono::Utc::now())?)
    }

    /// A good password clears the account's failures (not the address's).
    pub fn login_succeeded(&self, account: &str, ip: std::net::IpAddr) -> Result<(), AppError> {
        let [(account_key, _), _] = throttle_keys(account, ip);
        Ok(self.store().clear_login_failures(&account_key)?)
    }

    /// The value shared by every instance on the store under `key`, set to `default` the first
    /// time it is asked for.
    pub fn shared_setting(&self, key: &str, default: &str) -> Result<String, AppError> {
        Ok(self.store().setting_or_insert(key, default)?)
    }

    pub fn token_user(&self, raw: &str) -> Result<Option<User>, AppError> {
        Ok(self
            .store()
            .token_user(&crate::auth::digest(raw), chrono::Utc::now())?)
    }

    pub fn tokens(&self) -> Result<Vec<TokenRecord>, AppError> {
        Ok(self.store().tokens()?)
    }

    pub fn delete_token(&self, id: i64) -> Result<(), AppError> {
        self.store().delete_token(id)?;
        tracing::info!(target: "security", event = "token_deleted", token.id = id, "API token deleted");
        Ok(())
    }

    /// Escalations in the store (a cheap reachability probe for `/readyz`).
    pub fn store_count(&self) -> Result<u64, AppError> {
        Ok(self.store().count()?)
    }

    pub fn imports(&self) -> Result<Vec<ImportRecord>, AppError> {
        Ok(self.store().imports()?)
    }

    /// Deletes an import and the escalations it last wrote; returns how many escalations went.
    pub fn delete_import(&self, id: i64) -> Result<u64, AppError> {
        let n = self.conn(Conn::Writes).delete_import(id)?;
        self.refresh()?;
        tracing::info!(import.id = id, rows_deleted = n, "import deleted");
        Ok(n)
    }

    pub fn stats(&self, filter: &Filter) -> Result<Stats, AppError> {
        filter.validate().map_err(InvalidQuery::from)?;
        Ok(self.index().stats(filter))
    }

    pub fn heatmap(&self, q: &HeatmapQuery) -> Heatmap {
        self.index().heatmap(q)
    }

    /// Stats for the filter and, when its period is known, for the period of equal length just
    /// before it (same filters otherwise), for the dashboard's "change" line.
    pub fn stats_compared(&self, filter: &Filter) -> Result<(Stats, Option<Stats>), AppError> {
        filter.validate().map_err(InvalidQuery::from)?;
        let index = self.index();
        let current = index.stats(filter);
        let (Some(from), Some(to)) = (filter.from, filter.to) else {
            return Ok((current, None));
        };
        let days = (to - from).num_days() + 1;
        let prev_to = from.pred_opt();
        let prev_from = prev_to.and_then(|t| {
            t.checked_sub_days(chrono::Days::new(u64::try_from(days - 1).unwrap_or(0)))
        });
        let previous = Filter {
            from: prev_from,
            to: prev_to,
            ..filter.clone()
        };
        Ok((current, Some(index.stats(&previous))))
    }

    /// One page of escalations, sorted, and the number matching the filter.
    pub fn escalations_page(
        &self,
        filter: &Filter,
        sort: SortColumn,
        descending: bool,
        page: usize,
        per_page: usize,
    ) -> Result<(Vec<Escalation>, usize), AppError> {
        filter.validate().map_err(InvalidQuery::from)?;
        let offset = page.saturating_sub(1).saturating_mul(per_page);
        let (ids, total) = self
            .index()
            .page(filter, sort, descending, offset, per_page);
        Ok((self.store().escalations(&ids)?, total))
    }

    /// The escalations behind a filter, in opened-date order.
    pub fn escalations(&self, filter: &Filter) -> Result<Vec<Escalation>, AppError> {
        let ids = self.index().select(filter);
        let mut store = self.store();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(FETCH_CHUNK) {
            out.extend(store.escalations(chunk)?);
        }
        Ok(out)
    }

    /// Writes the filtered escalations as an export-format CSV that EscaMap can import again.
    /// Cells a spreadsheet would run as formulas are neutralised. Returns the number of rows.
    pub fn export_csv(&self, filter: &Filter, out: impl Write) -> Result<u64, AppError> {
        filter.validate().map_err(InvalidQuery::from)?;
        let ids = self.index().select(filter);
        let mut w = csv::Writer::from_writer(out);
        let out_err = |e: csv::Error| AppError::Output(e.to_string());
        w.write_record(EXPORT_HEADER).map_err(out_err)?;
        let mut n = 0;
        for chunk in ids.chunks(FETCH_CHUNK) {
            let rows = self.store().escalations(chunk)?;
            for e in rows {
                w.write_record(export_record(&e).iter().map(|c| csv_safe(c).into_owned()))
                    .map_err(out_err)?;
                n += 1;
            }
        }
        w.flush().map_err(|e| AppError::Output(e.to_string()))?;
        Ok(n)
    }
}

pub const EXPORT_HEADER: [&str; 11] = [
    "id", "client", "product", "region", "severity", "opened", "closed", "status", "summary",
    "email", "phone",
];

/// One escalation as the cells of [`EXPORT_HEADER`].
pub fn export_record(e: &Escalation) -> [String; 11] {
    let f = &e.fields;
    let opt =
        |t: &Option<crate::domain::Text>| t.as_ref().map(|t| t.to_string()).unwrap_or_default();
    [
        opt(&f.ticket),
        f.client.to_string(),
        f.product.to_string(),
        f.region.to_string(),
        f.severity.to_string(),
        f.opened.to_string(),
        f.closed.map(|d| d.to_string()).unwrap_or_default(),
        opt(&f.status),
        opt(&f.summary),
        opt(&f.email),
        opt(&f.phone),
    ]
}

/// The name an import is recorded under: the file name only, never a path, at most 200 chars.
pub fn display_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.trim().is_empty() {
        "upload".to_owned()
    } else {
        clean
    }
}

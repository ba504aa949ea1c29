//! The index: rebuilt from the store after every committed change and swapped in whole, and
//! kept up with the changes other processes commit.

use std::sync::Arc;

use super::{App, AppError, Conn};
use crate::analytics::IndexBuilder;
use crate::store::{Location, StoreError};

impl App {
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

    /// The store's generation the index in use was built at: it moves with every change the
    /// index takes in.
    pub fn index_generation(&self) -> u64 {
        self.index_generation
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether the index was built at the store's current generation.
    ///
    /// The scan connection is taken first: a refresh holds it until it has recorded the
    /// generation it built at, so a check that waited behind the first load at start compares
    /// against that load, not against "nothing loaded yet" (which rebuilt the whole index a second
    /// time, a second after start, with two copies in memory meanwhile).
    fn index_is_current(&self) -> bool {
        let mut scans = self.conn(Conn::Scans);
        let seen = self
            .index_generation
            .load(std::sync::atomic::Ordering::SeqCst);
        scans.generation().is_ok_and(|g| g == seen)
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

    /// [`App::refresh`], unless this process keeps no index ([`App::open_unindexed`]).
    pub(super) fn refresh_if_indexed(&self) -> Result<(), AppError> {
        if self.indexed { self.refresh() } else { Ok(()) }
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
}

//! The index: loaded from the store once, then brought up to date after every committed change
//! (this process's, or another's) by applying what the change wrote and deleted, and swapped in
//! whole.

use std::sync::Arc;

use super::{App, AppError, Conn};
use crate::analytics::{Index, IndexBuilder, Spare};
use crate::store::{Location, Scanned, Store, StoreError};

/// How often a SQLite server asks its store for the generation: one read of one row, so a
/// command-line import beside it is visible a fraction of a second after its commit.
const POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The largest index whose memory is kept, once replaced, for the next one to be built in
/// (about 75 bytes an escalation: some 300 MiB here). Building a million-row index in memory
/// written before takes about half the time it takes in memory just mapped; above this size the
/// memory matters more than the milliseconds, and a replaced index is freed at once.
const RECYCLE_MAX_ROWS: usize = 4_000_000;

/// The index last replaced, and memory taken from earlier ones.
#[derive(Default)]
pub(super) struct Recycled {
    replaced: Option<Arc<Index>>,
    spare: Spare,
}

impl Recycled {
    /// The spare memory, with the replaced index's in it once no request reads that index any
    /// more (one that still does keeps it until it is done, and it is then freed).
    fn spare(&mut self) -> &mut Spare {
        if let Some(index) = self
            .replaced
            .take()
            .and_then(|old| Arc::try_unwrap(old).ok())
        {
            self.spare.take(index);
        }
        &mut self.spare
    }

    /// Keeps `old`, just replaced, for the next index; or, past [`RECYCLE_MAX_ROWS`], nothing.
    fn keep(&mut self, old: Arc<Index>) {
        if old.len() <= RECYCLE_MAX_ROWS {
            self.replaced = Some(old);
        } else {
            *self = Self::default();
        }
    }
}

/// Reads the whole store into `into`, split among the cores (at most [`SCAN_PARTS_MAX`]) where
/// the store can read one snapshot on several connections ([`Store::scan_parts`]): reading and
/// decoding the rows is about two thirds of loading the index. Returns the generation read.
fn scan_whole(store: &mut dyn Store, into: &mut IndexBuilder) -> Result<u64, StoreError> {
    let n = usize::try_from(store.count()?).unwrap_or(0);
    let parts = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, SCAN_PARTS_MAX);
    // The first part's columns are reserved for every row, so the others are appended to it
    // without copying (only the pages it fills are mapped); the others', for their share and a
    // sixteenth more (ids deleted unevenly make the parts uneven; a part past its share grows).
    let mut builders: Vec<IndexBuilder> = (0..parts)
        .map(|i| IndexBuilder::with_capacity(if i == 0 { n } else { n / parts + n / 16 }))
        .collect();
    let generation = crate::store::scan_into(store, &mut builders, IndexBuilder::push)?;
    let mut builders = builders.into_iter();
    *into = builders.next().unwrap_or_default();
    builders.for_each(|b| into.append(b));
    Ok(generation)
}

/// The most threads a whole-store read uses.
const SCAN_PARTS_MAX: usize = 4;

impl App {
    /// Readies memory for the next index, on a thread of its own so the start is not held up:
    /// an index's worth, written, so that even the first change after the start is built in
    /// memory the kernel has mapped already (what every change leaves for the next anyway).
    pub(super) fn warm_spare(self: &Arc<Self>) {
        let app = Arc::clone(self);
        let warm = move || {
            // Held as every update holds it: the spare is not warmed under an update.
            let _scans = app.conn(Conn::Scans);
            let index = app.index();
            let mut recycled = app.recycled();
            let replaced = recycled.replaced.as_ref().map_or(0, |r| r.len());
            if index.len() <= RECYCLE_MAX_ROWS && replaced == 0 && recycled.spare.is_empty() {
                recycled.spare.warm(&index);
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("index-warm".into())
            .spawn(warm)
        {
            tracing::warn!(error = %e, "the memory for the next index is not readied");
        }
    }

    /// Follows the imports and deletes other processes commit (other instances on PostgreSQL,
    /// `escamap import` run beside a SQLite server) and applies each burst of them to the index,
    /// on a thread of its own: requests keep being answered from the previous index until the
    /// new one is swapped in whole. PostgreSQL announces changes (LISTEN/NOTIFY); a SQLite
    /// file is asked for its generation ten times a second, one cheap query.
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
                    std::thread::sleep(POLL);
                    let Some(app) = app.upgrade() else {
                        return;
                    };
                    if !app.index_is_current() {
                        match app.refresh() {
                            Ok(()) => tracing::info!(
                                rows = app.index().len(),
                                "index caught up with a change made by another process"
                            ),
                            Err(e) => {
                                app.count_failure(&e);
                                tracing::warn!(error = %e, "cannot refresh the index yet");
                            }
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
            // Back after a lost connection: catch up only if something was committed meanwhile.
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
                    app.count_failure(&e);
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

    /// Brings the index up to the store's current generation and swaps the new one in whole:
    /// readers hold the old index or the new one, never half of either. Once an index is loaded,
    /// a change is read from the store as the rows it wrote and the ids it deleted
    /// ([`Store::scan_changes`](crate::store::Store::scan_changes)) and applied to the index in
    /// use ([`Index::apply`](crate::analytics::Index::apply)); the whole store is read only at
    /// start, or when the store cannot say what changed (an index too far behind, a restore). A
    /// read that fails midway changes nothing. Refreshes run one at a time, in order, so an
    /// older state never replaces a newer one.
    pub fn refresh(&self) -> Result<(), AppError> {
        self.update(false)
    }

    /// Builds the index from the whole store, whatever it holds now (what start-up does; the
    /// benchmarks measure it with this).
    pub fn reload(&self) -> Result<(), AppError> {
        self.update(true)
    }

    /// [`App::refresh`], or with `whole` the whole store read.
    fn update(&self, whole: bool) -> Result<(), AppError> {
        let started = std::time::Instant::now();
        let mut store = self.conn(Conn::Scans);
        // Read under the scan connection's lock, which every update holds to the end: the
        // generation is the one the index in use holds.
        let loaded = self.index_loaded.load(std::sync::atomic::Ordering::SeqCst);
        let mut since = (loaded && !whole).then(|| self.index_generation());
        loop {
            let mut delta = IndexBuilder::default();
            let mut retired = Vec::new();
            let scanned = match since {
                None => Scanned {
                    generation: scan_whole(store.as_mut(), &mut delta)?,
                    full: true,
                },
                Some(_) => store.scan_changes(since, &mut |row| delta.push(row), &mut |id| {
                    retired.push(id)
                })?,
            };
            let read = started.elapsed();
            let index = if scanned.full {
                let index = delta.finish();
                tracing::debug!(
                    rows = index.len(),
                    scan_ms = read.as_millis() as u64,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "index built from the store"
                );
                index
            } else if delta.is_empty() && retired.is_empty() {
                // Nothing the index holds changed (a change to nothing, or none at all): keep
                // it, and the answers cached for it.
                self.install(None, scanned.generation, None);
                return Ok(());
            } else {
                let (written, gone) = (delta.len(), retired.len());
                let applied = self
                    .index()
                    .apply_into(delta, &retired, self.recycled().spare());
                let Some(index) = applied else {
                    since = None;
                    continue;
                };
                tracing::debug!(
                    rows = index.len(),
                    written,
                    retired = gone,
                    read_ms = read.as_secs_f64() * 1e3,
                    duration_ms = started.elapsed().as_secs_f64() * 1e3,
                    "index updated"
                );
                index
            };
            self.install(
                Some(index),
                scanned.generation,
                Some((scanned.full, started.elapsed().as_secs_f64())),
            );
            return Ok(());
        }
    }

    /// Takes in an import this process has just committed at `generation`, from the rows it
    /// wrote (each a new escalation, under the id the store gave it) instead of reading them back
    /// from the store: what a scan of the change would read, without the scan. That holds only
    /// when the index in use is at the generation just before this import's, so nothing another
    /// process committed in between is missing; otherwise the change is read from the store, as
    /// [`App::refresh`] does.
    pub(super) fn take_in(&self, rows: IndexBuilder, generation: u64) -> Result<(), AppError> {
        let started = std::time::Instant::now();
        {
            // Held to the end, as every update holds it: updates run one at a time, in order.
            let _scans = self.conn(Conn::Scans);
            let loaded = self.index_loaded.load(std::sync::atomic::Ordering::SeqCst);
            if loaded && self.index_generation().checked_add(1) == Some(generation) {
                if rows.is_empty() {
                    self.install(None, generation, None);
                    return Ok(());
                }
                let written = rows.len();
                let applied = self.index().apply_into(rows, &[], self.recycled().spare());
                if let Some(index) = applied {
                    tracing::debug!(
                        rows = index.len(),
                        written,
                        retired = 0,
                        from = "the rows written",
                        duration_ms = started.elapsed().as_secs_f64() * 1e3,
                        "index updated"
                    );
                    self.install(
                        Some(index),
                        generation,
                        Some((false, started.elapsed().as_secs_f64())),
                    );
                    return Ok(());
                }
            }
        }
        self.refresh()
    }

    fn recycled(&self) -> std::sync::MutexGuard<'_, Recycled> {
        self.recycled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts `index` in use as the index at `generation` (with `None`, keeps the one in use: the
    /// change touched nothing it holds), and counts the update (`how`: whether the whole store
    /// was read, and the seconds it took; `None` when nothing was built).
    fn install(&self, index: Option<Index>, generation: u64, how: Option<(bool, f64)>) {
        if let Some(index) = index {
            let old = std::mem::replace(
                &mut *self.index.write().unwrap_or_else(|p| p.into_inner()),
                Arc::new(index),
            );
            self.recycled().keep(old);
        }
        self.index_generation
            .store(generation, std::sync::atomic::Ordering::SeqCst);
        self.metrics.index(self.index().len(), generation, how);
        self.index_loaded
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

//! The application service: owns the [`Store`] and the analytics [`Index`].
//!
//! Every change goes import -> commit -> refresh: the index is rebuilt from the store after a
//! committed import or delete and swapped in whole, so readers see either the old or the new
//! data, never half of it. The command line and the web server only translate their requests
//! into calls here, so both behave the same.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use chrono::NaiveDate;

use crate::analytics::{Filter, Heatmap, HeatmapQuery, Index, IndexBuilder, InvalidQuery, Stats};
use crate::domain::{Escalation, SortColumn};
use crate::ingest::{FileError, ImportReport, Source};
use crate::render::csv_safe;
use crate::store::{ImportRecord, NewImport, SqliteStore, Store, StoreError};

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
    store: Mutex<Box<dyn Store>>,
    index: RwLock<Arc<Index>>,
    limits: ImportLimits,
}

/// Escalations are fetched from the store in chunks of this many ids.
const FETCH_CHUNK: usize = 1_000;

impl App {
    /// Opens (creating if needed) the SQLite store at `path` and loads the index.
    pub fn open_sqlite(path: &Path) -> Result<Self, AppError> {
        Self::new(Box::new(SqliteStore::open(path)?))
    }

    pub fn new(store: Box<dyn Store>) -> Result<Self, AppError> {
        let app = Self {
            store: Mutex::new(store),
            index: RwLock::default(),
            limits: ImportLimits::default(),
        };
        app.refresh()?;
        Ok(app)
    }

    pub fn with_limits(mut self, limits: ImportLimits) -> Self {
        self.limits = limits;
        self
    }

    fn store(&self) -> MutexGuard<'_, Box<dyn Store>> {
        // A panic while holding the lock cannot leave the store half-written (transactions roll
        // back on drop), so a poisoned lock is safe to reuse.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current index. Cheap: an `Arc` clone; queries run without holding any lock.
    pub fn index(&self) -> Arc<Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Rebuilds the index from the store and swaps it in.
    pub fn refresh(&self) -> Result<(), AppError> {
        let started = std::time::Instant::now();
        let index = {
            let store = self.store();
            let mut b = IndexBuilder::with_capacity(usize::try_from(store.count()?).unwrap_or(0));
            store.scan(&mut |row| b.push(row))?;
            b.finish()
        };
        tracing::debug!(
            rows = index.len(),
            duration_ms = started.elapsed().as_millis() as u64,
            "index refreshed"
        );
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(index);
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
            let mut store = self.store();
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

    /// Escalations in the store (a cheap reachability probe for `/readyz`).
    pub fn store_count(&self) -> Result<u64, AppError> {
        Ok(self.store().count()?)
    }

    pub fn imports(&self) -> Result<Vec<ImportRecord>, AppError> {
        Ok(self.store().imports()?)
    }

    /// Deletes an import and the escalations it last wrote; returns how many escalations went.
    pub fn delete_import(&self, id: i64) -> Result<u64, AppError> {
        let n = self.store().delete_import(id)?;
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
        let store = self.store();
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

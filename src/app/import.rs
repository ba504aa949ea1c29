//! Imports (one file, one transaction) and deletes.

use chrono::NaiveDate;

use super::{App, AppError, Conn};
use crate::ingest::{ImportReport, Source};
use crate::store::{ImportRecord, NewImport};

impl App {
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

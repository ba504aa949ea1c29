//! Imports (one file, one transaction) and deletes.

use chrono::NaiveDate;

use super::{App, AppError, Conn};
use crate::analytics::IndexBuilder;
use crate::ingest::mapping::Mapping;
use crate::ingest::preview::{Preview, preview};
use crate::ingest::{ImportReport, Input, RejectionGroup, RowErrorKind, Source};
use crate::metrics::ImportOutcome;
use crate::store::{ImportRecord, IndexRow, NewImport, SourceProfile, StoreError, Written};

/// How to read a file: a mapping given now, a profile to use, a name to keep the mapping under.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Laid over the profile's mapping (or over nothing): named columns win.
    pub mapping: Mapping,
    /// The profile to use; without one, a profile saved for the same header is used.
    pub profile: Option<String>,
    /// Keep the mapping used as this profile, for files with this header.
    pub save_profile: Option<String>,
    /// Import nothing if a row's severity is a value no default reads and the mapping does not
    /// name ([`AppError::NeedsMapping`]): the web import asks for a level instead of rejecting.
    pub stop_at_unknown_severity: bool,
}

/// The mapping a file is read with: a profile (named, or saved for its header) under what the
/// caller names now.
struct Chosen {
    profile: Option<String>,
    mapping: Mapping,
}

impl App {
    /// Imports one file in one transaction. Bad rows are reported, the others imported; a file
    /// that cannot be read changes nothing. `progress` is called with (bytes done, bytes total).
    /// A source profile saved for the file's header is used.
    pub fn import(
        &self,
        source_name: &str,
        bytes: &[u8],
        today: NaiveDate,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImportReport, AppError> {
        self.import_with(
            source_name,
            Input::Bytes(bytes),
            today,
            &ImportOptions::default(),
            progress,
        )
    }

    /// [`App::import`], reading the file as `options` say.
    pub fn import_with(
        &self,
        source_name: &str,
        input: Input<'_>,
        today: NaiveDate,
        options: &ImportOptions,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImportReport, AppError> {
        let started = std::time::Instant::now();
        let result = self.import_counted(source_name, input, today, options, progress, started);
        let (outcome, rows) = match &result {
            Ok(r) => (
                ImportOutcome::Committed,
                Some((r.imported, r.replaced, r.rejected_count)),
            ),
            Err(AppError::Store(_) | AppError::Output(_)) => (ImportOutcome::Failed, None),
            Err(_) => (ImportOutcome::Refused, None),
        };
        self.metrics
            .import(outcome, rows, started.elapsed().as_secs_f64());
        result
    }

    fn import_counted(
        &self,
        source_name: &str,
        input: Input<'_>,
        today: NaiveDate,
        options: &ImportOptions,
        progress: &mut dyn FnMut(u64, u64),
        started: std::time::Instant,
    ) -> Result<ImportReport, AppError> {
        // Checked first: the profile is saved after the import commits.
        if let Some(name) = &options.save_profile {
            profile_name(name)?;
        }
        let mut chosen = None;
        let mut header = String::new();
        let source = Source::open_choosing(input, today, |signature| {
            header = signature.to_owned();
            let c = self.choose_mapping(options, signature)?;
            let mapping = c.mapping.clone();
            chosen = Some(c);
            Ok::<_, AppError>(mapping)
        })?;
        let Chosen {
            profile,
            mapping: used,
        } = chosen.unwrap_or(Chosen {
            profile: None,
            mapping: Mapping::default(),
        });
        let total = source.len() as u64;
        let name = display_name(source_name);
        let mut rejected = Vec::new();
        let (committed, taken) = {
            let mut store = self.conn(Conn::Writes);
            let mut tx = store.begin_import(&NewImport {
                source: &name,
                format: source.format.name(),
                encoding: &source.encoding.to_string(),
            })?;
            let mut rows = source.rows()?;
            let mut seen: u64 = 0;
            let mut written: u64 = 0;
            // A process with an index keeps the rows it writes for it, while each is a new
            // escalation whose id the store gave: then the change need not be read back from the
            // store after the commit. Anything else (a replaced ticket, ids the store settles
            // only at the commit) and the change is read back, as another process's would be.
            let mut taken = self.indexed.then(IndexBuilder::default);
            while let Some(row) = rows.next() {
                seen += 1;
                if seen > self.limits.max_rows {
                    return Err(AppError::TooManyRows {
                        limit: self.limits.max_rows,
                    });
                }
                match row {
                    Ok(esc) => {
                        let stored = tx.write(&esc)?;
                        written += 1;
                        match (stored, &mut taken) {
                            (_, None) => {}
                            (Written::New(id), Some(rows)) => rows.push(IndexRow::of(id, &esc)),
                            (Written::Replaced | Written::Pending, Some(_)) => taken = None,
                        }
                    }
                    Err(e)
                        if options.stop_at_unknown_severity
                            && e.kind == RowErrorKind::UnknownSeverity =>
                    {
                        // Dropping the transaction rolls back what was written so far.
                        return Err(AppError::NeedsMapping(e.to_string()));
                    }
                    Err(e) => rejected.push(e),
                }
                if seen.is_multiple_of(8192) {
                    progress(rows.position(), total);
                }
            }
            // A file that failed or changed as it was read is refused whole: dropping the
            // transaction rolls back what was written.
            rows.finish()?;
            progress(total, total);
            if written == 0 && !rejected.is_empty() {
                // Dropping the transaction rolls the import back: nothing is recorded.
                drop(tx);
                let report = ImportRecord {
                    id: 0,
                    source: name.clone(),
                    format: source.format.name().to_owned(),
                    encoding: source.encoding.to_string(),
                    imported_at: chrono::Utc::now(),
                    rows_imported: 0,
                    rows_replaced: 0,
                    rows_rejected: rejected.len() as u64,
                    rows_current: 0,
                };
                return Err(AppError::AllRejected(Box::new(report_of(
                    &source,
                    &report,
                    name,
                    rejected,
                    profile.clone(),
                ))));
            }
            (tx.commit(rejected.len() as u64)?, taken)
        };
        // After the write connection is let go: an in-memory store's one connection scans too.
        match taken {
            Some(rows) => self.take_in(rows, committed.generation)?,
            None => self.refresh_if_indexed()?,
        }
        let record = committed.record;
        tracing::info!(
            import.id = record.id,
            import.rows_imported = record.rows_imported,
            import.rows_replaced = record.rows_replaced,
            import.rows_rejected = record.rows_rejected,
            duration_ms = started.elapsed().as_millis() as u64,
            "import committed"
        );
        Ok(report_of(&source, &record, name, rejected, profile)).and_then(|mut report| {
            if let Some(name) = &options.save_profile {
                self.save_profile(name, &header, &used)?;
                // Read with it, and kept as it from now on.
                report.profile = Some(profile_name(name)?.to_owned());
            }
            Ok(report)
        })
    }

    /// What `bytes` would become if imported with `options`, importing nothing; with the name of
    /// the profile it would be read with.
    pub fn preview(
        &self,
        bytes: &[u8],
        today: NaiveDate,
        options: &ImportOptions,
    ) -> Result<(Preview, Option<String>), AppError> {
        let mut profile = None;
        let p = preview(bytes, today, |signature| {
            let c = self.choose_mapping(options, signature)?;
            profile = c.profile;
            Ok::<_, AppError>(c.mapping)
        })?;
        Ok((p, profile))
    }

    /// The profile `options` name, else (when they name no columns) the one saved for this
    /// header, with `options`' mapping laid over it.
    fn choose_mapping(&self, options: &ImportOptions, signature: &str) -> Result<Chosen, AppError> {
        let profile = match &options.profile {
            Some(name) => Some(
                self.profile(name)?
                    .ok_or_else(|| AppError::NoSuchProfile(name.clone()))?,
            ),
            None if !options.mapping.names_columns() => self.profile_for_header(signature)?,
            None => None,
        };
        Ok(match profile {
            Some((name, m)) => Chosen {
                profile: Some(name),
                mapping: m.overlaid(&options.mapping),
            },
            None => Chosen {
                profile: None,
                mapping: options.mapping.clone(),
            },
        })
    }

    pub fn imports(&self) -> Result<Vec<ImportRecord>, AppError> {
        Ok(self.store().imports()?)
    }

    /// Deletes an import and the escalations it last wrote; returns how many escalations went.
    pub fn delete_import(&self, id: i64) -> Result<u64, AppError> {
        let n = self.conn(Conn::Writes).delete_import(id)?;
        self.refresh_if_indexed()?;
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

/// The report of an import of `source` whose counts `record` holds (committed or not).
fn report_of(
    source: &Source<'_>,
    record: &ImportRecord,
    name: String,
    rejected: Vec<crate::ingest::RowError>,
    profile: Option<String>,
) -> ImportReport {
    ImportReport {
        imported: record.rows_imported,
        replaced: record.rows_replaced,
        rejected_count: record.rows_rejected,
        rejected_groups: RejectionGroup::of(&rejected),
        rejected,
        encoding: source.encoding,
        format: source.format.name(),
        import_id: record.id,
        source: name,
        recognised: source.format.recognised(),
        columns: source.format.mapping(),
        dates: source.format.dates(),
        header: source.format.header().to_vec(),
        profile,
    }
}

/// A profile name as kept: trimmed, 1 to 100 characters, no control characters.
pub fn profile_name(name: &str) -> Result<&str, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::BadProfileName);
    }
    Ok(name)
}

impl App {
    /// Keeps `mapping` as the profile `name`, for files whose header is `header`.
    pub fn save_profile(
        &self,
        name: &str,
        header: &str,
        mapping: &Mapping,
    ) -> Result<(), AppError> {
        let name = profile_name(name)?;
        let json = serde_json::to_string(mapping).map_err(|e| AppError::Output(e.to_string()))?;
        Ok(self.store().save_profile(&SourceProfile {
            name: name.to_owned(),
            header: header.to_owned(),
            mapping: json,
            created_at: chrono::Utc::now(),
        })?)
    }

    /// Every saved profile, with its mapping.
    pub fn profiles(&self) -> Result<Vec<(SourceProfile, Mapping)>, AppError> {
        let all = self.store().profiles()?;
        all.into_iter()
            .map(|p| {
                let m = serde_json::from_str(&p.mapping).map_err(|e| {
                    StoreError::Other(format!("profile {:?} holds no mapping: {e}", p.name))
                })?;
                Ok((p, m))
            })
            .collect()
    }

    /// The profile `name` (ignoring case): its name as saved and its mapping.
    pub fn profile(&self, name: &str) -> Result<Option<(String, Mapping)>, AppError> {
        Ok(self
            .profiles()?
            .into_iter()
            .find(|(p, _)| p.name.eq_ignore_ascii_case(name.trim()))
            .map(|(p, m)| (p.name, m)))
    }

    /// The most recent profile saved for this header.
    fn profile_for_header(&self, header: &str) -> Result<Option<(String, Mapping)>, AppError> {
        Ok(self
            .profiles()?
            .into_iter()
            .filter(|(p, _)| p.header == header)
            .max_by_key(|(p, _)| p.created_at)
            .map(|(p, m)| (p.name, m)))
    }

    pub fn delete_profile(&self, name: &str) -> Result<(), AppError> {
        Ok(self.store().delete_profile(name.trim())?)
    }
}

//! What a file would become, without importing it: the mapping page's view of an upload. The
//! file's header and first records as written; for each field, the column that would fill it;
//! and, when the header reads, the first rows as they would be imported, the rejections grouped
//! by cause, and every severity value that needs a level (or that the mapping gives one).

use std::collections::HashMap;

use chrono::NaiveDate;

use super::mapping::{Field, Mapping, SeverityChoice};
use super::{
    FileError, Format, Next, RejectionGroup, RowError, RowResult, Source, columns, decode, export,
    header_signature,
};
use crate::domain::Severity;

/// Records shown as written, and rows shown as they would be imported.
pub const SAMPLE_ROWS: usize = 10;

/// Distinct severity values listed; more are counted, not listed.
pub const MAX_SEVERITY_VALUES: usize = 50;

/// An upload as it stands under a mapping.
#[derive(Debug)]
pub struct Preview {
    /// The header as written.
    pub header: Vec<String>,
    /// The first [`SAMPLE_ROWS`] non-blank records, cells as written (short rows padded).
    pub sample: Vec<Vec<String>>,
    /// Each field and the column (as written) that would fill it.
    pub columns: Vec<(Field, Option<String>)>,
    /// What the rows become, or why the header does not read under this mapping.
    pub reading: Result<Reading, FileError>,
}

/// The rows under a mapping whose header reads.
#[derive(Debug)]
pub struct Reading {
    pub recognised: &'static str,
    /// The support tool the header says the file comes from, if one.
    pub tool: Option<&'static str>,
    /// How numeric dates are read, when the file has any.
    pub dates: Option<String>,
    /// The first [`SAMPLE_ROWS`] rows: (line, what it becomes).
    pub rows: Vec<(u64, RowResult)>,
    pub would_import: u64,
    pub rejected: u64,
    /// The rejections grouped by cause, largest first.
    pub groups: Vec<RejectionGroup>,
    /// Severity values no default reads or that the mapping names, most rows first.
    pub severities: Vec<SeverityValue>,
    /// Distinct values beyond [`MAX_SEVERITY_VALUES`], not listed.
    pub more_severities: usize,
}

impl Reading {
    /// Severity values that still need a choice (no default reads them, the mapping names none).
    pub fn unmapped_severities(&self) -> usize {
        self.severities.iter().filter(|v| v.needs_choice()).count() + self.more_severities
    }
}

/// One distinct severity value of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityValue {
    /// As written (trimmed); values differing only in case are one.
    pub value: String,
    pub rows: u64,
    /// What the defaults read it as, if they do.
    pub default: Option<Severity>,
    /// What the mapping says, if it names it.
    pub mapped: Option<SeverityChoice>,
}

impl SeverityValue {
    pub fn needs_choice(&self) -> bool {
        self.default.is_none() && self.mapped.is_none()
    }
}

/// Reads `bytes` as [`Source::open_choosing`] would, and says what they would become.
/// Only a file that cannot be decoded or has no header is an error.
pub fn preview<E: From<FileError>>(
    bytes: &[u8],
    today: NaiveDate,
    choose: impl FnOnce(&str) -> Result<Mapping, E>,
) -> Result<Preview, E> {
    let (text, encoding) = decode::decode(bytes)?;
    let (delimiter, header) = columns::read_header(text.as_bytes())?;
    let mapping = choose(&header_signature(&header))?;
    let sample = sample(&text, delimiter, header.len());
    let columns = export::columns_for(&header, &mapping);
    let reading = Source::read(super::Text::Memory(text), encoding, today, &mapping)
        .and_then(|s| Reading::of(&s));
    Ok(Preview {
        header,
        sample,
        columns,
        reading,
    })
}

fn sample(text: &str, delimiter: u8, width: usize) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map_while(Result::ok)
        .filter(|r| r.iter().any(|f| !f.trim().is_empty()))
        .take(SAMPLE_ROWS)
        .map(|r| {
            let mut cells: Vec<String> = r.iter().map(super::header::short).collect();
            cells.resize(width.max(cells.len()), String::new());
            cells
        })
        .collect()
}

impl Reading {
    fn of(source: &Source<'_>) -> Result<Self, FileError> {
        let mut rows = source.rows()?;
        let mut shown = Vec::new();
        let mut rejected: Vec<RowError> = Vec::new();
        let mut would_import = 0u64;
        // Keyed by the lower-cased value: (as first written, rows, mapped).
        let mut values: HashMap<String, (String, u64, Option<SeverityChoice>)> = HashMap::new();
        while let Some(next) = rows.next_record() {
            let (line, result) = match next {
                Next::Record(line) => {
                    if let Format::Export(cols) = &source.format {
                        let (raw, mapped) = cols.severity_value(&rows.record);
                        let raw = raw.trim();
                        if mapped.is_some() || Severity::parse_lenient(raw).is_err() {
                            let e = values
                                .entry(raw.to_lowercase())
                                .or_insert_with(|| (raw.to_owned(), 0, mapped));
                            e.1 += 1;
                        }
                    }
                    let r = source.format.map_row(line, &rows.record, source.today);
                    (line, r)
                }
                Next::Error(e) => (e.line, Err(e)),
            };
            match &result {
                Ok(_) => would_import += 1,
                Err(e) => rejected.push(e.clone()),
            }
            if shown.len() < SAMPLE_ROWS {
                shown.push((line, result));
            }
        }
        let mut severities: Vec<SeverityValue> = values
            .into_values()
            .map(|(value, rows, mapped)| SeverityValue {
                default: Severity::parse_lenient(&value).ok(),
                value,
                rows,
                mapped,
            })
            .collect();
        severities.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.value.cmp(&b.value)));
        let more_severities = severities.len().saturating_sub(MAX_SEVERITY_VALUES);
        severities.truncate(MAX_SEVERITY_VALUES);
        rows.finish()?;
        Ok(Self {
            recognised: source.format.recognised(),
            tool: source.format.tool(),
            dates: source.format.dates(),
            rows: shown,
            would_import,
            rejected: rejected.len() as u64,
            groups: RejectionGroup::of(&rejected),
            severities,
            more_severities,
        })
    }
}

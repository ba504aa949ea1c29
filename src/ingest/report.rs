use std::fmt;

use serde::Serialize;

use super::TextEncoding;

/// A row that was not imported, and why. Line numbers are 1-based physical lines of the file
/// (the header is line 1); `column` is the header as written in the file, or empty when the
/// problem is the record as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: u64,
    pub column: String,
    pub reason: String,
    /// The row's cells as read, for the rejected-rows file (not in the JSON report).
    #[serde(skip)]
    pub cells: Vec<String>,
    #[serde(skip)]
    pub kind: RowErrorKind,
}

/// What a mapping could change about a rejected row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowErrorKind {
    /// The value is wrong as it stands.
    #[default]
    Invalid,
    /// The severity is a word no default reads and the mapping does not name: mapping it to a
    /// level (or to "reject") decides the row.
    UnknownSeverity,
}

impl RowError {
    pub fn new(line: u64, column: &str, reason: impl Into<String>) -> Self {
        Self {
            line,
            column: column.to_owned(),
            reason: reason.into(),
            cells: Vec::new(),
            kind: RowErrorKind::Invalid,
        }
    }

    /// This error, marked as a severity a mapping could read.
    pub(super) fn unknown_severity(mut self) -> Self {
        self.kind = RowErrorKind::UnknownSeverity;
        self
    }
}

/// Rejected rows that share a cause: the same column and the same reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectionGroup {
    pub column: String,
    pub reason: String,
    pub count: u64,
    /// Every line with this cause, in file order.
    pub lines: Vec<u64>,
}

impl RejectionGroup {
    /// The groups of `rejected`, largest first (then in order of first appearance).
    pub fn of(rejected: &[RowError]) -> Vec<Self> {
        let mut groups: Vec<Self> = Vec::new();
        let mut at: std::collections::HashMap<(&str, &str), usize> = Default::default();
        for e in rejected {
            let key = (e.column.as_str(), e.reason.as_str());
            let i = *at.entry(key).or_insert_with(|| {
                groups.push(Self {
                    column: e.column.clone(),
                    reason: e.reason.clone(),
                    count: 0,
                    lines: Vec::new(),
                });
                groups.len() - 1
            });
            groups[i].count += 1;
            groups[i].lines.push(e.line);
        }
        groups.sort_by_key(|g| std::cmp::Reverse(g.count));
        groups
    }
}

impl fmt::Display for RejectionGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = if self.count == 1 { "row" } else { "rows" };
        let lines: Vec<String> = self.lines.iter().take(10).map(u64::to_string).collect();
        let more = if self.lines.len() > 10 { ", ..." } else { "" };
        let lines_word = if self.lines.len() == 1 {
            "line"
        } else {
            "lines"
        };
        if self.column.is_empty() {
            write!(
                f,
                "{} {rows}: {} ({lines_word} {}{more})",
                self.count,
                self.reason,
                lines.join(", ")
            )
        } else {
            write!(
                f,
                "{} {rows}: {:?} {} ({lines_word} {}{more})",
                self.count,
                self.column,
                self.reason,
                lines.join(", ")
            )
        }
    }
}

/// The rejected rows as a CSV to fix and import again: the file's header and each row's cells as
/// read, plus a `rejected because` column.
pub fn rejected_csv(
    header: &[String],
    rejected: &[RowError],
    out: impl std::io::Write,
) -> Result<(), csv::Error> {
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(out);
    w.write_record(
        header
            .iter()
            .map(String::as_str)
            .chain(["rejected because"]),
    )?;
    for e in rejected {
        let mut cells = e.cells.clone();
        cells.resize(header.len().max(cells.len()), String::new());
        cells.push(e.to_string());
        w.write_record(&cells)?;
    }
    w.flush()?;
    Ok(())
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column.is_empty() {
            write!(f, "line {}: {}", self.line, self.reason)
        } else {
            write!(
                f,
                "line {}, column {:?}: {}",
                self.line, self.column, self.reason
            )
        }
    }
}

/// What an import did. The JSON shape is a contract (`escamap import --json`, `POST /api/v1/imports`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    /// Rows written, replacements included.
    pub imported: u64,
    /// Of those, rows that replaced an existing escalation with the same ticket id
    /// (from an earlier import or earlier in the same file).
    pub replaced: u64,
    pub rejected_count: u64,
    pub rejected: Vec<RowError>,
    /// The rejected rows grouped by cause, largest group first.
    pub rejected_groups: Vec<RejectionGroup>,
    pub encoding: TextEncoding,
    /// `contact-list` (the original's) or `export` (a support tool's).
    pub format: &'static str,
    /// The import's id, for `escamap imports delete`.
    pub import_id: i64,
    pub source: String,
    /// What the file was recognised as: "Jira issues export", "escalation export" ...
    pub recognised: &'static str,
    /// Which column became which field, as `{"client": "Account Name", ...}`.
    #[serde(serialize_with = "as_map")]
    pub columns: Vec<(&'static str, String)>,
    /// How numeric day-month dates were read, when the file has any.
    pub dates: Option<String>,
    /// The source profile the file was read with, if any.
    pub profile: Option<String>,
    /// The file's header, for the rejected-rows file (not in the JSON report).
    #[serde(skip)]
    pub header: Vec<String>,
}

impl ImportReport {
    /// The rejected rows as CSV ([`rejected_csv`]).
    pub fn rejected_csv(&self, out: impl std::io::Write) -> Result<(), csv::Error> {
        rejected_csv(&self.header, &self.rejected, out)
    }
}

fn as_map<S: serde::Serializer>(pairs: &[(&'static str, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

impl ImportReport {
    /// How many rejected rows the text report lists before summarising the rest.
    pub const TEXT_LIMIT: usize = 20;
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: imported {} rows ({} replaced existing ones), rejected {}; {} format, {} (import #{})",
            self.source,
            self.imported,
            self.replaced,
            self.rejected_count,
            self.format,
            self.encoding,
            self.import_id
        )?;
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|(field, column)| format!("{field} <- {column:?}"))
            .collect();
        writeln!(f, "read as {}: {}", self.recognised, columns.join(", "))?;
        if let Some(p) = &self.profile {
            writeln!(f, "with the source profile {p:?}")?;
        }
        if let Some(d) = &self.dates {
            writeln!(f, "{d}")?;
        }
        if self.encoding == TextEncoding::Windows1252 {
            writeln!(
                f,
                "note: the file is not valid UTF-8 and was read as Windows-1252"
            )?;
        }
        for g in &self.rejected_groups {
            writeln!(f, "  {g}")?;
        }
        for e in self.rejected.iter().take(Self::TEXT_LIMIT) {
            writeln!(f, "  rejected {e}")?;
        }
        let more = self.rejected.len().saturating_sub(Self::TEXT_LIMIT);
        if more > 0 {
            writeln!(
                f,
                "  ... and {more} more rejected rows (use --json for all of them)"
            )?;
        }
        Ok(())
    }
}

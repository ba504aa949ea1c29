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
}

impl RowError {
    pub fn new(line: u64, column: &str, reason: impl Into<String>) -> Self {
        Self {
            line,
            column: column.to_owned(),
            reason: reason.into(),
        }
    }
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
    pub encoding: TextEncoding,
    /// `contact-list` (the original's) or `export` (a support tool's).
    pub format: &'static str,
    /// The import's id, for `escamap imports delete`.
    pub import_id: i64,
    pub source: String,
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
        if self.encoding == TextEncoding::Windows1252 {
            writeln!(
                f,
                "note: the file is not valid UTF-8 and was read as Windows-1252"
            )?;
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

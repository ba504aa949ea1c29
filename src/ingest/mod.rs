//! Bytes in, valid [`NewEscalation`]s out.
//!
//! The pipeline is `decode` (UTF-8 with or without BOM, UTF-16 with BOM, otherwise Windows-1252)
//! -> `detect` (separator, header, which of the two formats) -> `rows` (one
//! `Result<NewEscalation, RowError>` per non-blank record, streamed so a million-row file is never
//! held twice in memory).
//!
//! A bad row is data, not failure: it becomes a [`RowError`] naming the line, the column and the
//! reason, and the other rows go on. Only a file that cannot be read at all is a [`FileError`].

mod columns;
mod contact;
mod decode;
pub mod export;
mod header;
pub mod mapping;
pub mod preview;
mod report;

use std::borrow::Cow;

use chrono::NaiveDate;

use crate::domain::NewEscalation;
pub use columns::Format;
pub use decode::TextEncoding;
pub use header::header_key;
pub use report::{ImportReport, RejectionGroup, RowError, RowErrorKind, rejected_csv};

/// Longest physical record accepted, in bytes. A longer one is rejected as a row.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Why a whole file was refused. Nothing is imported from such a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("this looks like a binary file, not CSV or TSV text (a NUL byte at byte {offset})")]
    Binary { offset: usize },
    #[error("the header row could not be read: {0}")]
    BadHeader(String),
    #[error(
        "no recognisable columns (found: {found}). An escalation export needs {needs}; the \
         original's contact list needs name, email and numberrange. Name the columns with \
         `escamap import --map FIELD=COLUMN`"
    )]
    Unrecognised { found: String, needs: String },
    #[error(
        "{field} is mapped to the column {column:?}, which the header does not have. The header has: {found}"
    )]
    MappedColumnMissing {
        field: &'static str,
        column: String,
        found: String,
    },
    #[error("the {format} is missing required column(s): {missing}. The header has: {found}")]
    MissingColumns {
        format: &'static str,
        missing: String,
        found: String,
    },
}

/// A header as the comparison keys a source profile is matched by (joined by U+001F).
fn header_signature(header: &[String]) -> String {
    header
        .iter()
        .map(|h| header_key(h))
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// A decoded file with a recognised header, ready to yield rows.
#[derive(Debug)]
pub struct Source<'a> {
    text: Cow<'a, str>,
    pub encoding: TextEncoding,
    pub delimiter: u8,
    pub format: Format,
    /// The import day: the contact-list format derives its dates from it.
    today: NaiveDate,
}

impl<'a> Source<'a> {
    /// Decodes `bytes` and recognises the header. `today` anchors the contact-list format's dates.
    pub fn open(bytes: &'a [u8], today: NaiveDate) -> Result<Self, FileError> {
        Self::open_mapped(bytes, today, &mapping::Mapping::default())
    }

    /// As [`Source::open`], reading the columns, severities and dates as `mapping` says.
    pub fn open_mapped(
        bytes: &'a [u8],
        today: NaiveDate,
        mapping: &mapping::Mapping,
    ) -> Result<Self, FileError> {
        Self::open_choosing(bytes, today, |_| Ok::<_, FileError>(mapping.clone()))
    }

    /// As [`Source::open_mapped`], with the mapping chosen once the header is known: `choose` is
    /// given the header's signature (what a source profile is matched by). The file is decoded
    /// once.
    pub fn open_choosing<E: From<FileError>>(
        bytes: &'a [u8],
        today: NaiveDate,
        choose: impl FnOnce(&str) -> Result<mapping::Mapping, E>,
    ) -> Result<Self, E> {
        let (text, encoding) = decode::decode(bytes)?;
        let mapping = choose(&header_signature(&columns::read_header(&text)?.1))?;
        Ok(Self::read(text, encoding, today, &mapping)?)
    }

    /// Recognises the header of decoded text as `mapping` says and decides how its dates read.
    fn read(
        text: Cow<'a, str>,
        encoding: TextEncoding,
        today: NaiveDate,
        mapping: &mapping::Mapping,
    ) -> Result<Self, FileError> {
        let (delimiter, format) = columns::detect(&text, mapping)?;
        let mut source = Self {
            text,
            encoding,
            delimiter,
            format,
            today,
        };
        if let Format::Export(cols) = &source.format {
            let mut cols = cols.clone();
            let mut rows = source.rows();
            cols.decide_dates(std::iter::from_fn(|| {
                loop {
                    match rows.next_record()? {
                        Next::Record(line) => return Some((line, rows.record.clone())),
                        Next::Error(_) => continue,
                    }
                }
            }));
            source.format = Format::Export(cols);
        }
        Ok(source)
    }

    /// Size of the decoded text, for progress reporting.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Every non-blank record after the header, in file order.
    pub fn rows(&self) -> Rows<'_> {
        let reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(self.text.as_bytes());
        Rows {
            reader,
            record: csv::StringRecord::new(),
            source: self,
            done: false,
            line_at: (0, 1),
        }
    }
}

/// One parsed record: where it was and what it became.
pub type RowResult = Result<NewEscalation, RowError>;

pub struct Rows<'s> {
    reader: csv::Reader<&'s [u8]>,
    record: csv::StringRecord,
    source: &'s Source<'s>,
    done: bool,
    /// (byte offset, physical line at that offset) of the last record, to count lines forward.
    /// The csv crate's own line counter skips blank lines, so lines are counted here.
    line_at: (usize, u64),
}

impl Rows<'_> {
    /// Bytes consumed so far, for a progress bar.
    pub fn position(&self) -> u64 {
        self.reader.position().byte()
    }

    /// The physical line (1-based) at byte offset `byte`, counted on from the previous record.
    fn line_of(&mut self, byte: usize) -> u64 {
        let (from, line) = self.line_at;
        let text = self.source.text.as_bytes();
        // A record's recorded start includes the blank lines skipped before it.
        let mut to = byte.min(text.len());
        while to < text.len() && (text[to] == b'\n' || text[to] == b'\r') {
            to += 1;
        }
        let newlines = text
            .get(from..to)
            .map_or(0, |s| s.iter().filter(|&&b| b == b'\n').count());
        let line = line + newlines as u64;
        self.line_at = (to.max(from), line);
        line
    }
}

/// What the reader found next: a record (now in `Rows::record`) on a line, or a row error.
enum Next {
    Record(u64),
    Error(RowError),
}

impl Rows<'_> {
    /// Reads the next non-blank record into `self.record`, counting lines.
    fn next_record(&mut self) -> Option<Next> {
        while !self.done {
            let before = usize::try_from(self.reader.position().byte()).unwrap_or(usize::MAX);
            match self.reader.read_record(&mut self.record) {
                Ok(false) => self.done = true,
                Ok(true) => {
                    let start = self
                        .record
                        .position()
                        .map_or(before, |p| usize::try_from(p.byte()).unwrap_or(before));
                    let line = self.line_of(start);
                    if self.record.iter().all(|f| f.trim().is_empty()) {
                        continue; // blank line, or only separators
                    }
                    let bytes: usize = self.record.as_slice().len();
                    if bytes > MAX_RECORD_BYTES {
                        return Some(Next::Error(RowError::new(
                            line,
                            "",
                            format!(
                                "the record is longer than {MAX_RECORD_BYTES} bytes (unbalanced quotes?)"
                            ),
                        )));
                    }
                    return Some(Next::Record(line));
                }
                Err(e) => {
                    let line = self.line_of(before);
                    // The decoded text is valid UTF-8 and the reader is flexible, so this is
                    // an IO-level surprise; report it against the line and stop.
                    self.done = true;
                    return Some(Next::Error(RowError::new(
                        line,
                        "",
                        format!("unreadable record: {e}"),
                    )));
                }
            }
        }
        None
    }
}

impl Iterator for Rows<'_> {
    type Item = RowResult;

    fn next(&mut self) -> Option<RowResult> {
        match self.next_record()? {
            Next::Record(line) => Some(
                self.source
                    .format
                    .map_row(line, &self.record, self.source.today)
                    .map_err(|mut e| {
                        e.cells = self.record.iter().map(str::to_owned).collect();
                        e
                    }),
            ),
            Next::Error(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests;

use std::io::{BufRead, BufReader, Read};

use chrono::NaiveDate;

use super::header::header_key;
use super::mapping::Mapping;
use super::{FileError, RowResult, contact, export};

/// Which of the two input formats a file is in, with the position of each known column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// The original's `name, phone, email, numberrange` contact list.
    ContactList(Box<contact::Columns>),
    /// An escalation export from a support tool.
    Export(Box<export::Columns>),
}

impl Format {
    pub fn name(&self) -> &'static str {
        match self {
            Self::ContactList(_) => "contact-list",
            Self::Export(_) => "export",
        }
    }

    /// The file's header as written.
    pub fn header(&self) -> &[String] {
        match self {
            Self::ContactList(c) => &c.header,
            Self::Export(c) => &c.header,
        }
    }

    /// What the file was recognised as, for people: a tool's export, or the generic forms.
    pub fn recognised(&self) -> &'static str {
        match self {
            Self::ContactList(_) => "the original's contact list",
            Self::Export(c) => c.tool.unwrap_or("escalation export"),
        }
    }

    /// The support tool whose export the header says this is, if one.
    pub fn tool(&self) -> Option<&'static str> {
        match self {
            Self::ContactList(_) => None,
            Self::Export(c) => c.tool,
        }
    }

    /// Which column became which field: (field, header as written).
    pub fn mapping(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::ContactList(c) => c.mapping(),
            Self::Export(c) => c.mapping(),
        }
    }

    /// How numeric dates were read, when the file has any.
    pub fn dates(&self) -> Option<String> {
        match self {
            Self::ContactList(_) => None,
            Self::Export(c) => c.dates.describe(),
        }
    }

    pub(super) fn map_row(
        &self,
        line: u64,
        record: &csv::StringRecord,
        today: NaiveDate,
    ) -> RowResult {
        let header_len = match self {
            Self::ContactList(c) => c.header.len(),
            Self::Export(c) => c.header.len(),
        };
        if record.len() > header_len {
            return Err(super::RowError::new(
                line,
                "",
                format!(
                    "the row has {} fields but the header has {header_len} (an unquoted separator inside a value?)",
                    record.len()
                ),
            ));
        }
        match self {
            Self::ContactList(c) => c.map_row(line, record, today),
            Self::Export(c) => c.map_row(line, record),
        }
    }
}

/// The separator and the header of a decoded file, read from its start: the separator from its
/// first non-blank line, the header as the first record.
pub(super) fn read_header(text: impl Read) -> Result<(u8, Vec<String>), FileError> {
    let mut text = BufReader::new(text);
    let mut lines = Vec::new();
    let delimiter = loop {
        let start = lines.len();
        let n = text
            .read_until(b'\n', &mut lines)
            .map_err(|e| FileError::Read(e.to_string()))?;
        if n == 0 {
            return Err(FileError::Empty);
        }
        // Decoded text is UTF-8, and a line ends before a character does.
        let line = String::from_utf8_lossy(&lines[start..]);
        if !line.trim().is_empty() {
            break sniff_delimiter(line.trim_end_matches(['\n', '\r']));
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(lines.as_slice().chain(text));
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| FileError::BadHeader(e.to_string()))?
        .iter()
        .map(str::to_owned)
        .collect();
    Ok((delimiter, header))
}

pub(super) fn detect(text: impl Read, mapping: &Mapping) -> Result<(u8, Format), FileError> {
    let (delimiter, header) = read_header(text)?;
    let keys: Vec<String> = header.iter().map(|h| header_key(h)).collect();

    // A column the mapping names must be there.
    for (field, column) in &mapping.columns {
        if export::find_named(&header, column).is_none() {
            return Err(FileError::MappedColumnMissing {
                field: field.as_str(),
                column: column.clone(),
                found: describe_header(&header),
            });
        }
    }
    if mapping.columns.is_empty()
        && let Some(cols) = contact::Columns::detect(&keys, &header)
    {
        return Ok((delimiter, Format::ContactList(Box::new(cols))));
    }
    match export::Columns::detect(&keys, &header, mapping) {
        Ok(cols) => Ok((delimiter, Format::Export(Box::new(cols)))),
        Err(missing) => {
            let contact_found = contact::Columns::found_any(&keys);
            let export_found = export::Columns::found_any(&keys);
            if !contact_found && !export_found {
                Err(FileError::Unrecognised {
                    found: describe_header(&header),
                    needs: export::required_names(),
                })
            } else if contact_found && !export_found {
                Err(FileError::MissingColumns {
                    format: "contact list (name, phone, email, numberrange)",
                    missing: contact::Columns::missing(&keys).join(", "),
                    found: describe_header(&header),
                })
            } else {
                Err(FileError::MissingColumns {
                    format: "escalation export",
                    missing: missing.join("; "),
                    found: describe_header(&header),
                })
            }
        }
    }
}

/// The separator is the one of comma, tab and semicolon found most often outside quotes on the
/// header line; a one-column file falls back to comma.
fn sniff_delimiter(line: &str) -> u8 {
    let (mut commas, mut tabs, mut semis, mut quoted) = (0usize, 0usize, 0usize, false);
    for b in line.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            b'\t' if !quoted => tabs += 1,
            b';' if !quoted => semis += 1,
            _ => {}
        }
    }
    if tabs >= commas && tabs >= semis && tabs > 0 {
        b'\t'
    } else if semis > commas {
        b';'
    } else {
        b','
    }
}

fn describe_header(header: &[String]) -> String {
    let shown: Vec<String> = header
        .iter()
        .take(12)
        .map(|h| {
            let short: String = h.trim().chars().take(40).collect();
            format!("{short:?}")
        })
        .collect();
    let mut s = shown.join(", ");
    if header.len() > 12 {
        s.push_str(&format!(" and {} more", header.len() - 12));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_keys_ignore_case_spaces_and_separators() {
        assert_eq!(header_key("  Created_At "), "created at");
        assert_eq!(header_key("ISSUE-KEY"), "issue key");
        assert_eq!(header_key("Ticket   ID"), "ticket id");
    }

    #[test]
    fn sniffs_the_separator() {
        assert_eq!(sniff_delimiter("a,b,c"), b',');
        assert_eq!(sniff_delimiter("a\tb\tc"), b'\t');
        assert_eq!(sniff_delimiter("a;b;c"), b';');
        assert_eq!(sniff_delimiter("\"a;b\",c,d"), b',');
        assert_eq!(sniff_delimiter("\"x,y\";z;w"), b';');
        assert_eq!(sniff_delimiter("single"), b',');
    }
}

//! The leaf both row mappers share: how header names compare, how a header cell is found and
//! read, and how a rejected value is quoted in a message. Nothing here knows either format.

use crate::domain::InvalidText;

/// Header names are compared ignoring case, surrounding spaces, and `_`/`-` vs space.
pub fn header_key(raw: &str) -> String {
    let lowered = raw.trim().to_lowercase().replace(['_', '-'], " ");
    lowered.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A header cell: its position, its text as written (for messages), and the positions of later
/// columns with the same name (Jira repeats `Component/s` once per component).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCell {
    pub index: usize,
    pub written: String,
    pub repeats: Vec<usize>,
}

/// Finds the first header whose key is in `synonyms`, trying synonyms in priority order.
pub(crate) fn find(keys: &[String], header: &[String], synonyms: &[&str]) -> Option<HeaderCell> {
    synonyms.iter().find_map(|syn| {
        let mut at = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k == syn)
            .map(|(i, _)| i);
        let index = at.next()?;
        Some(HeaderCell {
            index,
            written: header[index].trim().to_owned(),
            repeats: at.collect(),
        })
    })
}

/// The cell of `record` under `col`, or "" when the row is short (Excel drops trailing empties).
/// A repeated column gives its first non-empty cell.
pub(crate) fn cell<'r>(record: &'r csv::StringRecord, col: &HeaderCell) -> &'r str {
    let first = record.get(col.index).unwrap_or("");
    if !first.trim().is_empty() || col.repeats.is_empty() {
        return first;
    }
    col.repeats
        .iter()
        .filter_map(|&i| record.get(i))
        .find(|v| !v.trim().is_empty())
        .unwrap_or(first)
}

/// "`what` `e`": a field's name and why its text was refused.
pub(crate) fn text_reason(what: &str, e: InvalidText) -> String {
    format!("{what} {e}")
}

/// A value as quoted in a message: trimmed, and cut after 40 characters.
pub(crate) fn short(raw: &str) -> String {
    let s = raw.trim();
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Severity;

/// Longest text accepted in any field, in characters. Longer cells are rejected with their row,
/// not truncated: nothing is silently lost.
pub const MAX_TEXT_CHARS: usize = 4_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidText {
    #[error("is empty")]
    Empty,
    #[error("is longer than {MAX_TEXT_CHARS} characters")]
    TooLong,
    #[error("contains a control character")]
    Control,
}

/// Non-empty text, trimmed, at most [`MAX_TEXT_CHARS`] characters, without control characters
/// other than tab and newline (which summaries may carry).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    pub fn new(raw: &str) -> Result<Self, InvalidText> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(InvalidText::Empty);
        }
        // Most cells are short ASCII: one pass over the bytes decides those (a byte count at
        // most the limit is a character count at most the limit; a control character there is a
        // byte below 0x20 or 0x7F). Anything else takes the careful way.
        let ascii_ok = s.len() <= MAX_TEXT_CHARS
            && s.bytes()
                .all(|b| (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r'));
        if !ascii_ok {
            if s.chars().nth(MAX_TEXT_CHARS).is_some() {
                return Err(InvalidText::TooLong);
            }
            if s.chars()
                .any(|c| c.is_control() && c != '\t' && c != '\n' && c != '\r')
            {
                return Err(InvalidText::Control);
            }
        }
        Ok(Self(s.to_owned()))
    }

    /// `None` for an empty cell, the text otherwise.
    pub fn optional(raw: &str) -> Result<Option<Self>, InvalidText> {
        match Self::new(raw) {
            Ok(t) => Ok(Some(t)),
            Err(InvalidText::Empty) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Text {
    type Error = InvalidText;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A product or region: like [`Text`], but an empty cell becomes `Unknown`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(Text);

impl Label {
    pub const UNKNOWN: &'static str = "Unknown";

    pub fn new(raw: &str) -> Result<Self, InvalidText> {
        match Text::new(raw) {
            Ok(t) => Ok(Self(t)),
            Err(InvalidText::Empty) => Ok(Self::unknown()),
            Err(e) => Err(e),
        }
    }

    pub fn unknown() -> Self {
        Self(Text(Self::UNKNOWN.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl TryFrom<String> for Label {
    type Error = InvalidText;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<Label> for String {
    fn from(l: Label) -> String {
        l.0.into()
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An escalation that is valid but not yet stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEscalation {
    /// The ticket key from the source system; the last row with a given key wins.
    pub ticket: Option<Text>,
    pub client: Text,
    pub product: Label,
    pub region: Label,
    pub severity: Severity,
    pub opened: NaiveDate,
    pub closed: Option<NaiveDate>,
    pub status: Option<Text>,
    pub summary: Option<Text>,
    pub email: Option<Text>,
    pub phone: Option<Text>,
}

/// A stored escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// The store's row id.
    pub id: i64,
    /// The import that last wrote this row.
    pub import_id: i64,
    #[serde(flatten)]
    pub fields: NewEscalation,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(
            Text::new("  Acme  ").map(|t| t.to_string()),
            Ok("Acme".to_owned())
        );
        assert_eq!(Text::new(" \t "), Err(InvalidText::Empty));
        assert_eq!(
            Text::new(&"x".repeat(MAX_TEXT_CHARS)).map(|t| t.as_str().len()),
            Ok(MAX_TEXT_CHARS)
        );
        assert_eq!(
            Text::new(&"x".repeat(MAX_TEXT_CHARS + 1)),
            Err(InvalidText::TooLong)
        );
        assert_eq!(Text::new("a\u{0}b"), Err(InvalidText::Control));
        assert!(Text::new("line one\nline two").is_ok());
        assert_eq!(Text::optional(""), Ok(None));
    }

    #[test]
    fn empty_label_is_unknown() {
        assert_eq!(
            Label::new("  ").map(|l| l.to_string()),
            Ok("Unknown".to_owned())
        );
        assert_eq!(
            Label::new(" EMEA ").map(|l| l.to_string()),
            Ok("EMEA".to_owned())
        );
    }

    #[test]
    fn serde_goes_through_the_constructor() {
        let bad: Result<Text, _> = serde_json::from_str("\"   \"");
        assert!(bad.is_err());
        let sev: Result<Severity, _> = serde_json::from_str("\"P1\"");
        assert_eq!(sev.ok(), Some(Severity::Critical));
    }
}

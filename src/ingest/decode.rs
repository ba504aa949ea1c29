use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

use super::FileError;

/// How the file's bytes were turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TextEncoding {
    #[serde(rename = "utf-8")]
    Utf8,
    /// What Excel writes for "CSV" on Windows; used when the bytes are not valid UTF-8.
    #[serde(rename = "windows-1252")]
    Windows1252,
    /// Excel's "Unicode text", recognised by its byte-order mark.
    #[serde(rename = "utf-16le")]
    Utf16Le,
    #[serde(rename = "utf-16be")]
    Utf16Be,
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Utf8 => "utf-8",
            Self::Windows1252 => "windows-1252",
            Self::Utf16Le => "utf-16le",
            Self::Utf16Be => "utf-16be",
        })
    }
}

pub(super) fn decode(bytes: &[u8]) -> Result<(Cow<'_, str>, TextEncoding), FileError> {
    let (text, encoding) = if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let (t, _) = encoding_rs::UTF_16LE.decode_without_bom_handling(rest);
        (t, TextEncoding::Utf16Le)
    } else if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let (t, _) = encoding_rs::UTF_16BE.decode_without_bom_handling(rest);
        (t, TextEncoding::Utf16Be)
    } else {
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match std::str::from_utf8(body) {
            Ok(s) => (Cow::Borrowed(s), TextEncoding::Utf8),
            Err(_) => {
                let (t, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(body);
                (t, TextEncoding::Windows1252)
            }
        }
    };
    if let Some(offset) = text.find('\0') {
        return Err(FileError::Binary { offset });
    }
    if text.trim().is_empty() {
        return Err(FileError::Empty);
    }
    Ok((text, encoding))
}

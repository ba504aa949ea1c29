use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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

impl TextEncoding {
    /// The decoder of text in this encoding (UTF-8 text is read as it is, not decoded).
    fn decoder(self) -> &'static encoding_rs::Encoding {
        match self {
            Self::Utf8 => encoding_rs::UTF_8,
            Self::Windows1252 => encoding_rs::WINDOWS_1252,
            Self::Utf16Le => encoding_rs::UTF_16LE,
            Self::Utf16Be => encoding_rs::UTF_16BE,
        }
    }
}

/// The encoding a byte-order mark at the start of `head` names, and the mark's length in bytes.
fn byte_order_mark(head: &[u8]) -> Option<(TextEncoding, u8)> {
    if head.starts_with(&[0xFF, 0xFE]) {
        Some((TextEncoding::Utf16Le, 2))
    } else if head.starts_with(&[0xFE, 0xFF]) {
        Some((TextEncoding::Utf16Be, 2))
    } else if head.starts_with(b"\xEF\xBB\xBF") {
        Some((TextEncoding::Utf8, 3))
    } else {
        None
    }
}

pub(super) fn decode(bytes: &[u8]) -> Result<(Cow<'_, str>, TextEncoding), FileError> {
    let mark = byte_order_mark(bytes);
    let body = &bytes[mark.map_or(0, |(_, n)| usize::from(n))..];
    let decoded = |e: TextEncoding| (e.decoder().decode_without_bom_handling(body).0, e);
    let (text, encoding) = match mark {
        Some((encoding, _)) if encoding != TextEncoding::Utf8 => decoded(encoding),
        _ => match std::str::from_utf8(body) {
            Ok(s) => (Cow::Borrowed(s), TextEncoding::Utf8),
            Err(_) => decoded(TextEncoding::Windows1252),
        },
    };
    if let Some(offset) = text.find('\0') {
        return Err(FileError::Binary { offset });
    }
    if text.trim().is_empty() {
        return Err(FileError::Empty);
    }
    Ok((text, encoding))
}

/// A file's text, read from the file again each time it is wanted: a file of any size is imported
/// in memory that does not grow with it (the bytes were read whole before, 1.8 GB for ten million
/// rows). Its encoding is settled first by one pass over the whole file, by the rule [`decode`]
/// follows: a byte-order mark, else UTF-8 if every byte is, else Windows-1252.
#[derive(Debug)]
pub(super) struct FileText {
    path: PathBuf,
    pub(super) encoding: TextEncoding,
    /// Bytes of byte-order mark before the text.
    bom: u64,
    /// The file's length and time of change when its encoding was settled: a file that changes
    /// afterwards is refused, not read half as it was and half as it is.
    seen: (u64, Option<SystemTime>),
    /// Length of the decoded text.
    pub(super) len: u64,
}

/// Bytes read from a file at a time.
const CHUNK: usize = 1 << 20;

fn read_error(path: &Path, e: &io::Error) -> FileError {
    FileError::Read(format!("{}: {e}", path.display()))
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn fill(file: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl FileText {
    /// Settles the encoding of the file at `path`, and refuses a binary one as [`decode`] does.
    pub(super) fn scan(path: &Path) -> Result<Self, FileError> {
        let err = |e: io::Error| read_error(path, &e);
        let mut file = File::open(path).map_err(err)?;
        let seen = Self::stamp(&file).map_err(err)?;
        let mut head = [0u8; 3];
        let got = fill(&mut file, &mut head).map_err(err)?;
        let head = &head[..got];
        let (encoding, bom) = match byte_order_mark(head) {
            Some((encoding, n)) if encoding != TextEncoding::Utf8 => (encoding, u64::from(n)),
            mark => {
                let bom = mark.map_or(0, |(_, n)| u64::from(n));
                file.seek(SeekFrom::Start(bom)).map_err(err)?;
                match utf8_nul(&mut file).map_err(err)? {
                    Some(nul) => {
                        let text = Self {
                            path: path.to_owned(),
                            encoding: TextEncoding::Utf8,
                            bom,
                            seen,
                            len: seen.0 - bom,
                        };
                        return match nul {
                            Some(offset) => Err(FileError::Binary { offset }),
                            None => Ok(text),
                        };
                    }
                    None => (TextEncoding::Windows1252, bom),
                }
            }
        };
        // Not UTF-8: the decoded text is measured, and searched for a NUL, as it is read.
        let mut text = Self {
            path: path.to_owned(),
            encoding,
            bom,
            seen,
            len: 0,
        };
        let mut len = 0u64;
        let mut decoded = text.open()?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = fill(&mut decoded, &mut buf).map_err(err)?;
            if n == 0 {
                break;
            }
            if let Some(i) = memchr::memchr(0, &buf[..n]) {
                return Err(FileError::Binary {
                    offset: usize::try_from(len).unwrap_or(usize::MAX) + i,
                });
            }
            len += n as u64;
        }
        drop(decoded);
        text.len = len;
        Ok(text)
    }

    fn stamp(file: &File) -> io::Result<(u64, Option<SystemTime>)> {
        let meta = file.metadata()?;
        Ok((meta.len(), meta.modified().ok()))
    }

    /// The decoded text, from its start.
    pub(super) fn open(&self) -> Result<Box<dyn Read + '_>, FileError> {
        let err = |e: io::Error| read_error(&self.path, &e);
        let mut file = File::open(&self.path).map_err(err)?;
        file.seek(SeekFrom::Start(self.bom)).map_err(err)?;
        let file = file.take(self.seen.0 - self.bom);
        Ok(match self.encoding {
            TextEncoding::Utf8 => Box::new(file),
            other => Box::new(Decoding::new(file, other.decoder())),
        })
    }

    /// Refuses a file changed since its encoding was settled.
    pub(super) fn unchanged(&self) -> Result<(), FileError> {
        let now = File::open(&self.path)
            .and_then(|f| Self::stamp(&f))
            .map_err(|e| read_error(&self.path, &e))?;
        if now == self.seen {
            Ok(())
        } else {
            Err(FileError::Changed)
        }
    }
}

/// Reads `file` to its end: `None` if it is not UTF-8, else the offset of its first NUL, if any.
fn utf8_nul(file: &mut impl Read) -> io::Result<Option<Option<usize>>> {
    let mut buf = vec![0u8; CHUNK + 4];
    // Bytes of a character cut by the end of the last chunk, moved to the start of this one.
    let mut carried = 0;
    let mut before = 0usize;
    let mut nul = None;
    loop {
        let n = fill(file, &mut buf[carried..carried + CHUNK])?;
        let end = carried + n;
        let valid = match std::str::from_utf8(&buf[..end]) {
            Ok(_) => end,
            // Cut at the end of the chunk: completed by the next one.
            Err(e) if e.error_len().is_none() && n > 0 => e.valid_up_to(),
            Err(_) => return Ok(None),
        };
        if nul.is_none()
            && let Some(i) = memchr::memchr(0, &buf[..valid])
        {
            nul = Some(before + i);
        }
        if n == 0 {
            return Ok(Some(nul));
        }
        before += valid;
        buf.copy_within(valid..end, 0);
        carried = end - valid;
    }
}

/// Windows-1252 `bytes`, read as UTF-8 as they come (for tests of the reader).
#[cfg(test)]
pub(super) fn windows_1252_reader(bytes: &[u8]) -> impl Read + '_ {
    Decoding::new(bytes, encoding_rs::WINDOWS_1252)
}

/// Text in another encoding, read as UTF-8 as it comes.
struct Decoding<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    raw: Box<[u8]>,
    at: usize,
    end: usize,
    eof: bool,
    done: bool,
    /// A character decoded for a read asking for fewer bytes than it takes.
    small: ([u8; 4], usize, usize),
}

impl<R: Read> Decoding<R> {
    fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Self {
        Self {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            raw: vec![0; CHUNK].into_boxed_slice(),
            at: 0,
            end: 0,
            eof: false,
            done: false,
            small: ([0; 4], 0, 0),
        }
    }
}

impl<R: Read> Read for Decoding<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let (small, from, to) = &mut self.small;
        if *from < *to {
            let n = out.len().min(*to - *from);
            out[..n].copy_from_slice(&small[*from..*from + n]);
            *from += n;
            return Ok(n);
        }
        if out.is_empty() || self.done {
            return Ok(0);
        }
        loop {
            if self.at == self.end && !self.eof {
                self.end = fill(&mut self.inner, &mut self.raw)?;
                self.at = 0;
                self.eof = self.end == 0;
            }
            let into_small = out.len() < 4;
            let dst: &mut [u8] = if into_small { &mut self.small.0 } else { out };
            let (result, read, written, _) =
                self.decoder
                    .decode_to_utf8(&self.raw[self.at..self.end], dst, self.eof);
            self.at += read;
            if self.eof && matches!(result, encoding_rs::CoderResult::InputEmpty) {
                self.done = true;
            }
            if written > 0 {
                if !into_small {
                    return Ok(written);
                }
                let n = out.len().min(written);
                out[..n].copy_from_slice(&self.small.0[..n]);
                self.small.1 = n;
                self.small.2 = written;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
        }
    }
}

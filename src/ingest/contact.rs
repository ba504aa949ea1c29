//! The original dashboard's contact-list format: `name, phone, email, numberrange`.
//!
//! Severity, region, product and date are derived exactly as the original did; the one change is
//! that the date is drawn deterministically from the row's content instead of at random, so the
//! same file imported twice on the same day gives the same dates.

use chrono::{Days, NaiveDate};

use super::RowError;
use super::header::{HeaderCell, cell, find, short, text_reason};
use crate::domain::{Label, NewEscalation, Severity, Text};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub(super) header: Vec<String>,
    name: HeaderCell,
    email: HeaderCell,
    numberrange: HeaderCell,
    phone: Option<HeaderCell>,
}

const REQUIRED: [&str; 3] = ["name", "email", "numberrange"];

impl Columns {
    /// Which column became which field: the name is the client; region, product and severity are
    /// derived from the e-mail, the name and the number range.
    pub fn mapping(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("client", self.name.written.clone()),
            ("email", self.email.written.clone()),
            ("severity", self.numberrange.written.clone()),
        ];
        if let Some(p) = &self.phone {
            out.push(("phone", p.written.clone()));
        }
        out
    }

    pub(super) fn detect(keys: &[String], header: &[String]) -> Option<Self> {
        Some(Self {
            header: header.to_vec(),
            name: find(keys, header, &["name"])?,
            email: find(keys, header, &["email", "e mail"])?,
            numberrange: find(keys, header, &["numberrange", "number range"])?,
            phone: find(keys, header, &["phone"]),
        })
    }

    pub(super) fn found_any(keys: &[String]) -> bool {
        keys.iter().any(|k| REQUIRED.contains(&k.as_str()))
    }

    pub(super) fn missing(keys: &[String]) -> Vec<&'static str> {
        REQUIRED
            .into_iter()
            .filter(|r| !keys.iter().any(|k| k == r))
            .collect()
    }

    pub(super) fn map_row(
        &self,
        line: u64,
        record: &csv::StringRecord,
        today: NaiveDate,
    ) -> Result<NewEscalation, RowError> {
        let err = |col: &HeaderCell, reason: String| RowError::new(line, &col.written, reason);
        let raw_name = cell(record, &self.name);
        let raw_email = cell(record, &self.email);
        let raw_range = cell(record, &self.numberrange);
        let raw_phone = self.phone.as_ref().map_or("", |p| cell(record, p));

        let client = Text::new(raw_name).map_err(|e| err(&self.name, text_reason("name", e)))?;
        let number = parse_number(raw_range).ok_or_else(|| {
            err(
                &self.numberrange,
                format!("{:?} is not a number", short(raw_range)),
            )
        })?;
        let email =
            Text::optional(raw_email).map_err(|e| err(&self.email, text_reason("email", e)))?;
        let phone = match &self.phone {
            Some(col) => {
                Text::optional(raw_phone).map_err(|e| err(col, text_reason("phone", e)))?
            }
            None => None,
        };
        let opened = derived_date(today, number, &[raw_name, raw_phone, raw_email, raw_range]);
        Ok(NewEscalation {
            ticket: None,
            product: product_for(client.as_str()),
            region: region_for(raw_email),
            client,
            severity: Severity::from_number_range(number),
            opened,
            closed: None,
            status: None,
            summary: None,
            email,
            phone,
        })
    }
}

/// A finite number; infinities are clipped like any other out-of-range value, NaN is refused.
fn parse_number(raw: &str) -> Option<f64> {
    raw.trim().parse::<f64>().ok().filter(|n| !n.is_nan())
}

/// Region from the e-mail's domain, as the original: hotmail/aol -> North America, yahoo -> Asia,
/// google -> Europe, any other domain -> South America; no `@` or over 254 characters -> Unknown.
pub fn region_for(email: &str) -> Label {
    let email = email.trim().to_lowercase();
    let region = match email.rsplit_once('@') {
        Some((_, domain)) if email.chars().count() <= 254 => {
            if domain.contains("hotmail") || domain.contains("aol") {
                "North America"
            } else if domain.contains("yahoo") {
                "Asia"
            } else if domain.contains("google") {
                "Europe"
            } else {
                "South America"
            }
        }
        _ => Label::UNKNOWN,
    };
    Label::new(region).unwrap_or_else(|_| Label::unknown())
}

/// Product from the first letter of the name's first word, as the original:
/// a-e Analytics, f-j API, k-o Dashboard, anything else Reporting.
pub fn product_for(name: &str) -> Label {
    let first = name
        .split_whitespace()
        .next()
        .and_then(|w| w.chars().next());
    let product = match first.map(|c| c.to_ascii_lowercase()) {
        Some('a'..='e') => "Analytics",
        Some('f'..='j') => "API",
        Some('k'..='o') => "Dashboard",
        _ => "Reporting",
    };
    Label::new(product).unwrap_or_else(|_| Label::unknown())
}

/// The original drew a random day in `[today - 30, today - 30 + (30 - 2 * floor(n)))` with `n`
/// the numberrange clipped to 0..=10. Same window here, but the day is picked by a hash of the
/// row's cells, so re-importing a file the same day reproduces its dates.
pub fn derived_date(today: NaiveDate, number: f64, cells: &[&str]) -> NaiveDate {
    let n = number.clamp(0.0, 10.0).floor() as u64;
    let window = 30 - 2 * n; // 10..=30 days
    let offset = fnv1a(cells) % window;
    let start = today.checked_sub_days(Days::new(30)).unwrap_or(today);
    start.checked_add_days(Days::new(offset)).unwrap_or(start)
}

/// FNV-1a over the trimmed cells with a unit separator between them: stable across Rust
/// versions and platforms, unlike `std`'s `DefaultHasher`.
fn fnv1a(cells: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            h ^= 0x1f;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for b in c.trim().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid date {0:?}: expected YYYY-MM-DD (optionally with a time and offset), YYYY/MM/DD or M/D/YYYY"
)]
pub struct InvalidDate(pub String);

/// Parses the date forms found in support-tool exports and returns the calendar date *as written*:
/// `2024-03-05T23:30:00-08:00` is 5 March, not converted to UTC.
///
/// Accepted: ISO 8601 dates and date-times (`T` or space separator, optional seconds and
/// fraction, optional `Z` or `±HH[:MM]` offset), `YYYY/MM/DD` and US `M/D/YYYY`, the last two
/// optionally followed by a time.
/// Today's date on this machine's clock (local time).
pub fn local_today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

pub fn parse_flexible_date(raw: &str) -> Result<NaiveDate, InvalidDate> {
    let s = raw.trim();
    let err = || InvalidDate(s.chars().take(64).collect());
    let (date_part, time_part) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim_start())),
        None => (s, None),
    };
    if let Some(time) = time_part
        && !is_valid_time(time)
    {
        return Err(err());
    }
    let date = if let Some((y, m, d)) = split3(date_part, '-') {
        if y.len() != 4 {
            return Err(err());
        }
        ymd(y, m, d)
    } else if let Some((a, b, c)) = split3(date_part, '/') {
        if a.len() == 4 {
            ymd(a, b, c)
        } else if c.len() == 4 {
            ymd(c, a, b)
        } else {
            None
        }
    } else {
        None
    };
    date.ok_or_else(err)
}

fn split3(s: &str, sep: char) -> Option<(&str, &str, &str)> {
    let mut it = s.split(sep);
    let parts = (it.next()?, it.next()?, it.next()?);
    it.next().is_none().then_some(parts)
}

fn ymd(y: &str, m: &str, d: &str) -> Option<NaiveDate> {
    let all_digits =
        |p: &str| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit());
    if !(all_digits(y) && all_digits(m) && all_digits(d)) || m.len() > 2 || d.len() > 2 {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// `HH:MM[:SS[.fff]]` then an optional `Z`, `±HH`, `±HHMM` or `±HH:MM`; also a 12-hour clock
/// with ` AM`/` PM`, as Excel writes US dates.
fn is_valid_time(t: &str) -> bool {
    let t = t.trim();
    let (clock, rest) = t.split_at(
        t.find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
            .unwrap_or(t.len()),
    );
    let mut fields = clock.split(':');
    let (Some(h), Some(m)) = (fields.next(), fields.next()) else {
        return false;
    };
    let sec = fields.next();
    if fields.next().is_some() {
        return false;
    }
    let two = |p: &str, max: u32| p.len() == 2 && p.parse::<u32>().is_ok_and(|v| v <= max);
    let hour_ok = (h.len() == 1 || h.len() == 2) && h.parse::<u32>().is_ok_and(|v| v <= 23);
    let sec_ok = match sec {
        None => true,
        Some(s) => {
            let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
            two(whole, 60) && !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit())
        }
    };
    if !(hour_ok && two(m, 59) && sec_ok) {
        return false;
    }
    let rest = rest.trim();
    match rest {
        "" | "Z" | "z" => true,
        _ if rest.eq_ignore_ascii_case("am") || rest.eq_ignore_ascii_case("pm") => true,
        _ => {
            let Some(off) = rest.strip_prefix(['+', '-']) else {
                return false;
            };
            let off = off.replace(':', "");
            (off.len() == 2 || off.len() == 4) && off.bytes().all(|b| b.is_ascii_digit())
        }
    }
}

/// A calendar month, `YYYY-MM`. Ordered chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Months since year 0: `year * 12 + (month - 1)`.
    index: i32,
}

impl Month {
    pub fn of(date: NaiveDate) -> Self {
        Self {
            index: date.year() * 12 + date.month0() as i32,
        }
    }
    pub fn from_index(index: i32) -> Self {
        Self { index }
    }
    pub fn index(self) -> i32 {
        self.index
    }
    pub fn year(self) -> i32 {
        self.index.div_euclid(12)
    }
    /// 1..=12
    pub fn month(self) -> u32 {
        self.index.rem_euclid(12) as u32 + 1
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

impl FromStr for Month {
    type Err = InvalidDate;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (y, m) = s
            .trim()
            .split_once('-')
            .ok_or_else(|| InvalidDate(s.to_owned()))?;
        let date = ymd(y, m, "1")
            .filter(|_| y.len() == 4)
            .ok_or_else(|| InvalidDate(s.to_owned()))?;
        Ok(Self::of(date))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    #[test]
    fn accepts_every_documented_form() {
        let cases = [
            ("2024-03-05", d(2024, 3, 5)),
            (" 2024-03-05 ", d(2024, 3, 5)),
            ("2024-03-05T10:11", d(2024, 3, 5)),
            ("2024-03-05T10:11:12", d(2024, 3, 5)),
            ("2024-03-05T10:11:12.123456", d(2024, 3, 5)),
            ("2024-03-05T10:11:12Z", d(2024, 3, 5)),
            ("2024-03-05 10:11:12", d(2024, 3, 5)),
            // The calendar date as written, not converted to UTC (this is 6 March in UTC).
            ("2024-03-05T23:30:00-08:00", d(2024, 3, 5)),
            ("2024-03-05T00:30:00+0530", d(2024, 3, 5)),
            ("2024-03-05T00:30:00+05", d(2024, 3, 5)),
            ("2024/03/05", d(2024, 3, 5)),
            ("2024/3/5", d(2024, 3, 5)),
            ("3/5/2024", d(2024, 3, 5)),
            ("03/05/2024", d(2024, 3, 5)),
            ("12/31/2023", d(2023, 12, 31)),
            ("3/5/2024 14:02", d(2024, 3, 5)),
            ("3/5/2024 2:02 PM", d(2024, 3, 5)),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_flexible_date(raw), Ok(want), "{raw}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_date() {
        for raw in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-02-30",
            "31/12/2023",
            "2024-03",
            "24-03-05",
            "2024-03-05T25:00",
            "2024-03-05Tnoon",
            "2024-03-05T10:11+5",
            "5.3.2024",
            "2024-03-05-01",
            "2024-03-05T10:11:12 extra",
        ] {
            assert!(
                parse_flexible_date(raw).is_err(),
                "{raw:?} should be refused"
            );
        }
    }

    #[test]
    fn months_print_and_parse() {
        let m = Month::of(d(2024, 1, 31));
        assert_eq!(m.to_string(), "2024-01");
        assert_eq!(Month::from_index(m.index() - 1).to_string(), "2023-12");
        assert_eq!("2024-01".parse::<Month>(), Ok(m));
        assert!("2024-13".parse::<Month>().is_err());
    }
}

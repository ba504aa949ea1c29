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

/// How a numeric `a/b/YYYY` (or `a.b.YYYY`, `a-b-YYYY`) date is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DayOrder {
    /// `03/04/2026` is 3 April (most of the world; `DD.MM.YYYY`, `DD-MM-YYYY`).
    DayFirst,
    /// `03/04/2026` is 4 March (the United States; Salesforce, Excel in en-US).
    MonthFirst,
}

impl fmt::Display for DayOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DayFirst => "day first (DD/MM/YYYY)",
            Self::MonthFirst => "month first (MM/DD/YYYY)",
        })
    }
}

/// The separator of a numeric day-month-year date (`/`, `.` or `-`), when `raw` is one.
pub fn numeric_date_separator(raw: &str) -> Option<char> {
    let (date, _) = split_date_time(raw)?;
    numeric_dmy(date).map(|(_, _, _, sep)| sep)
}

/// What a numeric `a/b/YYYY` date says of the order its file writes dates in: a first field above
/// 12 can only be a day, a second above 12 only a day. `None` when it does not say (both 12 or
/// less, or not a numeric day-month date at all).
pub fn day_order_evidence(raw: &str) -> Option<DayOrder> {
    let (date, _) = split_date_time(raw)?;
    let (a, b, _, _) = numeric_dmy(date)?;
    match (a > 12, b > 12) {
        (true, false) => Some(DayOrder::DayFirst),
        (false, true) => Some(DayOrder::MonthFirst),
        _ => None,
    }
}

/// A date as support tools export it, read as the calendar date written (a time and offset after
/// it are checked and dropped, never converted):
/// - ISO: `2026-11-03`, `2026-11-03T10:12:45Z`, `2026-11-03 10:12:45 +0100`, `2026/11/03`;
/// - numeric day-month-year with a four-digit year, `03/11/2026`, `03.11.2026`, `03-11-2026`,
///   read in `order` (decided per file from all its dates, see [`day_order_evidence`]);
/// - with a month name, whose order is never in doubt: `03/Nov/26 10:12 AM` (Jira),
///   `3-Nov-2026`, `3 November 2026`, `Nov 3, 2026`, `November 3 2026 10:12`.
///
/// A reader of many dates tries [`iso_date_quick`] first: the same answer, for the common forms,
/// without splitting.
pub fn parse_export_date(raw: &str, order: DayOrder) -> Result<NaiveDate, InvalidDate> {
    let s = raw.trim();
    let err = || InvalidDate(s.chars().take(64).collect());
    let (date, time) = split_date_time(s).ok_or_else(err)?;
    if let Some(t) = time
        && !is_valid_time(t)
    {
        return Err(err());
    }
    let d = date.as_bytes();
    if d.len() == 10 && d[4] == b'-' && d[7] == b'-' {
        return ymd(&date[..4], &date[5..7], &date[8..]).ok_or_else(err);
    }
    let tokens: Vec<&str> = date
        .split([' ', ','])
        .map(|t| t.trim_end_matches('.'))
        .filter(|t| !t.is_empty())
        .collect();
    let parsed = match tokens.as_slice() {
        [one] => one_token_date(one, order),
        [d, m, y] if month_named(m).is_some() => day_month_year(d, m, y),
        [m, d, y] if month_named(m).is_some() => day_month_year(d, m, y),
        _ => None,
    };
    parsed.ok_or_else(err)
}

/// The forms nearly every export writes, read in one pass over the bytes without splitting:
/// `YYYY-MM-DD`, alone or followed by `T` (or `t`) and `HH:MM:SS`, then `Z` (or `z`) or nothing.
/// `None` for anything else, which [`parse_export_date`] reads; never a different answer than it
/// gives (a property test holds the two together). An ISO date
/// says its own order, so a file's day order does not matter to it.
pub fn iso_date_quick(raw: &str) -> Option<NaiveDate> {
    let b = raw.as_bytes();
    let number = |at: usize, len: usize| -> Option<u32> {
        b.get(at..at + len)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let time_ok = match &b[10..] {
        [] => true,
        [b'T' | b't', _, _, b':', _, _, b':', _, _, zone @ ..] => {
            matches!(zone, [] | [b'Z' | b'z'])
                && number(11, 2).is_some_and(|h| h <= 23)
                && number(14, 2).is_some_and(|m| m <= 59)
                && number(17, 2).is_some_and(|s| s <= 60)
        }
        _ => false,
    };
    if !time_ok {
        return None;
    }
    let year = i32::try_from(number(0, 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5, 2)?, number(8, 2)?)
}

/// The date and (when there is one) the time: ISO's `T`, else everything from the first
/// whitespace-separated piece that holds a `:`.
fn split_date_time(s: &str) -> Option<(&str, Option<&str>)> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    if b.len() > 10 && b[4] == b'-' && (b[10] == b'T' || b[10] == b't') {
        return Some((&s[..10], Some(&s[11..])));
    }
    let mut at = 0;
    for piece in s.split_inclusive(char::is_whitespace) {
        if piece.contains(':') {
            let (date, time) = s.split_at(at);
            return Some((date.trim(), Some(time.trim())));
        }
        at += piece.len();
    }
    Some((s, None))
}

/// `a?b?YYYY` with `?` one of `/ . -` used twice: (a, b, year, separator).
fn numeric_dmy(date: &str) -> Option<(u32, u32, i32, char)> {
    let sep = ['/', '.', '-'].into_iter().find(|c| date.contains(*c))?;
    let (a, b, y) = split3(date, sep)?;
    let num = |p: &str, max_len: usize| {
        (!p.is_empty() && p.len() <= max_len && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
    };
    if y.len() != 4 {
        return None;
    }
    Some((num(a, 2)?, num(b, 2)?, i32::try_from(num(y, 4)?).ok()?, sep))
}

fn one_token_date(t: &str, order: DayOrder) -> Option<NaiveDate> {
    for sep in ['-', '/', '.'] {
        if let Some((a, b, c)) = split3(t, sep) {
            if a.len() == 4 {
                return ymd(a, b, c);
            }
            if month_named(b).is_some() {
                return day_month_year(a, b, c);
            }
            let (d, m, y, _) = numeric_dmy(t)?;
            let (day, month) = match order {
                DayOrder::DayFirst => (d, m),
                DayOrder::MonthFirst => (m, d),
            };
            return NaiveDate::from_ymd_opt(y, month, day);
        }
    }
    None
}

/// `3`, `Nov`/`November`, `26`/`2026` (a two-digit year is this century's).
fn day_month_year(d: &str, m: &str, y: &str) -> Option<NaiveDate> {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !(digits(d) && digits(y)) || d.len() > 2 || !(y.len() == 2 || y.len() == 4) {
        return None;
    }
    let year: i32 = y.parse().ok()?;
    let year = if y.len() == 2 { 2000 + year } else { year };
    NaiveDate::from_ymd_opt(year, month_named(m)?, d.parse().ok()?)
}

/// An English month name, abbreviated or whole, any case.
fn month_named(m: &str) -> Option<u32> {
    const NAMES: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let m = m.to_ascii_lowercase();
    if m.len() < 3 {
        return None;
    }
    let m = if m == "sept" { "sep".to_owned() } else { m };
    NAMES
        .iter()
        .position(|n| *n == m || (m.len() == 3 && n.starts_with(&m)))
        .and_then(|i| u32::try_from(i + 1).ok())
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

    #[test]
    fn export_dates_in_every_vendors_form() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).expect("valid");
        let cases = [
            ("03/Nov/26 10:12 AM", d(2026, 11, 3)),
            ("3-Nov-2026", d(2026, 11, 3)),
            ("3 November 2026", d(2026, 11, 3)),
            ("Nov 3, 2026", d(2026, 11, 3)),
            ("November 3 2026 10:12", d(2026, 11, 3)),
            ("2026-11-03", d(2026, 11, 3)),
            ("2026-11-03T23:30:00-08:00", d(2026, 11, 3)),
            ("2026-11-03 10:12:45 +0100", d(2026, 11, 3)),
            ("2026-11-03 10:12:45", d(2026, 11, 3)),
            ("2026/11/03", d(2026, 11, 3)),
            ("11/3/2026 10:12 AM", d(2026, 11, 3)),
            ("03.11.2026", d(2026, 3, 11)),
        ];
        for (raw, want) in cases {
            assert_eq!(
                parse_export_date(raw, DayOrder::MonthFirst),
                Ok(want),
                "{raw}"
            );
        }
        assert_eq!(
            parse_export_date("03.11.2026", DayOrder::DayFirst),
            Ok(d(2026, 11, 3))
        );
        assert_eq!(
            parse_export_date("03-11-2026 08:00", DayOrder::DayFirst),
            Ok(d(2026, 11, 3))
        );
    }

    #[test]
    fn export_dates_that_are_not_dates_are_refused() {
        for raw in [
            "",
            "31/Foo/26",
            "13/13/2026",
            "03/11/26",
            "2026-13-01",
            "Nov 31, 2026",
            "3 Nov 2026 25:00",
            "yesterday",
            "03/Nov",
        ] {
            assert!(
                parse_export_date(raw, DayOrder::DayFirst).is_err(),
                "{raw:?} should be refused"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// The quick reading answers only what the careful one answers the same, in either
        /// order: on strings near the ISO forms (digits, separators, zones) and on any string.
        #[test]
        fn the_quick_iso_reading_agrees_with_the_careful_one(
            quick in "[0-9]{4}-(0[0-9]|1[0-3])-([0-2][0-9]|3[0-2])([Tt]([01][0-9]|2[0-5]):[0-6][0-9]:[0-6][0-9][Zz]?)?",
            raw in "[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,3})?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?)?",
            any in "\\PC{0,24}",
        ) {
            for s in [quick.as_str(), raw.as_str(), any.as_str()] {
                if let Some(quick) = iso_date_quick(s) {
                    for order in [DayOrder::DayFirst, DayOrder::MonthFirst] {
                        proptest::prop_assert_eq!(parse_export_date(s, order), Ok(quick), "{}", s);
                    }
                }
            }
        }
    }

    #[test]
    fn the_quick_iso_reading_takes_the_common_forms_and_leaves_the_rest() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd);
        assert_eq!(iso_date_quick("2026-11-03"), d(2026, 11, 3));
        assert_eq!(iso_date_quick("2026-11-03T23:59:60Z"), d(2026, 11, 3));
        assert_eq!(iso_date_quick("2026-11-03t00:00:00"), d(2026, 11, 3));
        for left in [
            " 2026-11-03",
            "2026-11-03 10:12:45",
            "2026-11-03T10:12",
            "2026-11-03T10:12:45+01:00",
            "2026-11-03T24:00:00Z",
            "2026-02-30",
            "2026-1-03",
            "+026-11-03",
        ] {
            assert_eq!(iso_date_quick(left), None, "{left:?}");
        }
    }

    #[test]
    fn a_day_above_twelve_settles_the_order() {
        assert_eq!(day_order_evidence("23/04/2026"), Some(DayOrder::DayFirst));
        assert_eq!(
            day_order_evidence("04/23/2026 10:00 AM"),
            Some(DayOrder::MonthFirst)
        );
        assert_eq!(day_order_evidence("03/04/2026"), None);
        assert_eq!(day_order_evidence("2026-04-23"), None);
        assert_eq!(day_order_evidence("23/Apr/26"), None);
        assert_eq!(numeric_date_separator("03.04.2026"), Some('.'));
        assert_eq!(numeric_date_separator("2026-04-03"), None);
    }
}

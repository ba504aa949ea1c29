use std::collections::HashMap;
use std::ops::Range;

use chrono::{Datelike, NaiveDate};

use super::{Filter, Unmatched};
use crate::domain::{Dimension, Month, Severity, SortColumn};

/// Per severity code (the index's `severity` column): whether it is high, and its score, read off
/// [`Severity`] at compile time so the rule stays in the domain and the hot loops index a table.
pub(super) const HIGH_BY_CODE: [bool; 4] = {
    let mut t = [false; 4];
    let mut i = 0;
    while i < 4 {
        t[i] = Severity::ALL[i].is_high();
        i += 1;
    }
    t
};
/// The lowest high code. High levels are the top of the scale ([`Severity::is_high`] holds for
/// exactly the codes from here up; checked at compile time), so the stats loop compares
/// instead of looking a table up, and the comparison vectorises.
pub(super) const FIRST_HIGH_CODE: u8 = {
    let mut first = 4;
    let mut i = 4;
    while i > 0 {
        i -= 1;
        if Severity::ALL[i].is_high() {
            first = i;
        }
    }
    let mut j = 0;
    while j < 4 {
        assert!(Severity::ALL[j].is_high() == (j >= first));
        j += 1;
    }
    first as u8
};
pub(super) const SCORE_BY_CODE: [u64; 4] = {
    let mut t = [0; 4];
    let mut i = 0;
    while i < 4 {
        t[i] = Severity::ALL[i].score() as u64;
        i += 1;
    }
    t
};
use crate::store::IndexRow;

mod apply;

pub use apply::Spare;

/// A dictionary: code -> text, and text -> code while building. Hashed with foldhash: building
/// the index looks up four dictionaries per row, a million rows at a time, and keys come from the
/// store (no attacker chooses them and sees timings).
#[derive(Debug, Default, Clone, PartialEq)]
struct Dict {
    values: Vec<String>,
    codes: HashMap<String, u32, foldhash::fast::FixedState>,
    /// How many escalations have each code: a change that retires rows knows from these which
    /// values no escalation has any more, without a pass over the column.
    rows: Vec<u32>,
}

impl Dict {
    /// The value's code, counting one more escalation with it.
    fn code(&mut self, s: &str) -> u32 {
        if let Some(&c) = self.codes.get(s) {
            self.rows[c as usize] += 1;
            return c;
        }
        let c = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        self.values.push(s.to_owned());
        self.codes.insert(s.to_owned(), c);
        self.rows.push(1);
        c
    }

    fn lookup(&self, s: &str) -> Option<u32> {
        self.codes.get(s).copied()
    }

    /// Marks in `mask` the codes `wanted` names: its exact spelling, or else every value equal
    /// to it ignoring case (`europe` finds `Europe`, and both `ACME` and `Acme` when the data has
    /// both). Returns whether anything matched.
    fn mark(&self, wanted: &str, mask: &mut [bool]) -> bool {
        let wanted = wanted.trim();
        if let Some(c) = self.lookup(wanted) {
            mask[c as usize] = true;
            return true;
        }
        let folded = wanted.to_lowercase();
        let mut any = false;
        for (code, v) in self.values.iter().enumerate() {
            if v.to_lowercase() == folded {
                mask[code] = true;
                any = true;
            }
        }
        any
    }

    /// The value most like `wanted` (edit distance, ignoring case), when one is close enough to
    /// be worth suggesting.
    fn closest(&self, wanted: &str) -> Option<&str> {
        let folded = wanted.trim().to_lowercase();
        self.values
            .iter()
            .map(|v| {
                let lower = v.to_lowercase();
                let score = if lower.contains(&folded) || folded.contains(&lower) {
                    0.9
                } else {
                    strsim::normalized_damerau_levenshtein(&lower, &folded)
                };
                (score, v)
            })
            .filter(|(score, _)| *score >= 0.6)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, v)| v.as_str())
    }

    /// Appends a value the dictionary does not hold yet, held by `rows` escalations; returns
    /// its code.
    fn push(&mut self, s: String, rows: u32) -> u32 {
        let c = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        self.codes.insert(s.clone(), c);
        self.values.push(s);
        self.rows.push(rows);
        c
    }

    /// Takes in `other`'s values and their counts; returns the code here of each of `other`'s
    /// codes.
    fn absorb(&mut self, other: Dict) -> Vec<u32> {
        other
            .values
            .into_iter()
            .zip(other.rows)
            .map(|(value, rows)| match self.codes.get(value.as_str()) {
                Some(&c) => {
                    self.rows[c as usize] += rows;
                    c
                }
                None => self.push(value, rows),
            })
            .collect()
    }
}

/// Case-insensitive, then exact, with digits compared as numbers ("ESC-9" before "ESC-10").
///
/// Compares chunk by chunk without allocating: sorting a million ticket ids calls this some
/// twenty million times, in whatever order the store returns them.
fn natural_cmp(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let (a, b) = (a.unwrap_or(""), b.unwrap_or(""));
    let (mut x, mut y) = (Chunks(a), Chunks(b));
    loop {
        let order = match (x.next(), y.next()) {
            (None, None) => break,
            (None, Some(_)) => Less,
            (Some(_), None) => Greater,
            (Some(Chunk::Number(m)), Some(Chunk::Number(n))) => m.cmp(&n),
            (Some(Chunk::Number(_)), Some(Chunk::Text(_))) => Less,
            (Some(Chunk::Text(_)), Some(Chunk::Number(_))) => Greater,
            // Most ticket ids share their text ("ESC-"), and most are ASCII: both are cheaper
            // than folding every character's case.
            (Some(Chunk::Text(s)), Some(Chunk::Text(t))) if s == t => Equal,
            (Some(Chunk::Text(s)), Some(Chunk::Text(t))) if s.is_ascii() && t.is_ascii() => s
                .bytes()
                .map(|b| b.to_ascii_lowercase())
                .cmp(t.bytes().map(|b| b.to_ascii_lowercase())),
            (Some(Chunk::Text(s)), Some(Chunk::Text(t))) => s
                .chars()
                .flat_map(char::to_lowercase)
                .cmp(t.chars().flat_map(char::to_lowercase)),
        };
        if order != Equal {
            return order;
        }
    }
    a.cmp(b)
}

/// A byte string that sorts as [`natural_cmp`] does (before its exact-text tie-break): per
/// chunk, 0 and the number in 8 big-endian bytes, or 1 and the lower-cased text ended by a 0
/// (text never holds a NUL).
fn natural_key(s: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(s.len() + 8);
    for chunk in Chunks(s) {
        match chunk {
            Chunk::Number(n) => {
                key.push(0);
                key.extend_from_slice(&n.to_be_bytes());
            }
            Chunk::Text(t) => {
                key.push(1);
                let mut buf = [0u8; 4];
                for c in t.chars().flat_map(char::to_lowercase) {
                    key.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                key.push(0);
            }
        }
    }
    key
}

enum Chunk<'a> {
    /// A run of ASCII digits, by value (saturating).
    Number(u64),
    Text(&'a str),
}

/// Splits a string into runs of digits and runs of anything else.
struct Chunks<'a>(&'a str);

impl<'a> Iterator for Chunks<'a> {
    type Item = Chunk<'a>;
    fn next(&mut self) -> Option<Chunk<'a>> {
        let rest = self.0;
        let first = rest.chars().next()?;
        let digit = first.is_ascii_digit();
        let len = rest
            .find(|c: char| c.is_ascii_digit() != digit)
            .unwrap_or(rest.len());
        let (chunk, tail) = rest.split_at(len);
        self.0 = tail;
        Some(if digit {
            Chunk::Number(chunk.parse().unwrap_or(u64::MAX))
        } else {
            Chunk::Text(chunk)
        })
    }
}

/// Period numbers: months and quarters since year 0, weeks since 0001-01-01 (a Monday).
pub(super) fn month_of(day: i32) -> i32 {
    NaiveDate::from_num_days_from_ce_opt(day).map_or(0, |d| Month::of(d).index())
}
pub(super) fn quarter_of_month(month: i32) -> i32 {
    month.div_euclid(3)
}
pub(super) fn week_of(day: i32) -> i32 {
    (day - 1).div_euclid(7)
}

/// The label of period `p` of a time dimension.
pub(super) fn period_label(dim: Dimension, p: i32) -> String {
    match dim {
        Dimension::Month => Month::from_index(p).to_string(),
        Dimension::Quarter => format!("{:04}-Q{}", p.div_euclid(4), p.rem_euclid(4) + 1),
        Dimension::Week => {
            let monday = NaiveDate::from_num_days_from_ce_opt(p * 7 + 1).unwrap_or_default();
            let w = monday.iso_week();
            format!("{:04}-W{:02}", w.year(), w.week())
        }
        _ => String::new(),
    }
}

/// First and last day of the period a time-dimension label names (`2024-03`, `2024-Q1`, `2024-W09`).
pub fn period_bounds(dim: Dimension, label: &str) -> Option<(NaiveDate, NaiveDate)> {
    let (y, rest) = label.split_once('-')?;
    let year: i32 = y.parse().ok()?;
    let month_range = |first: u32, last: u32| -> Option<(NaiveDate, NaiveDate)> {
        let a = NaiveDate::from_ymd_opt(year, first, 1)?;
        let next = if last == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, last + 1, 1)?
        };
        Some((a, next.pred_opt()?))
    };
    match dim {
        Dimension::Month => {
            let m: u32 = rest.parse().ok()?;
            month_range(m, m)
        }
        Dimension::Quarter => {
            let q: u32 = rest.strip_prefix('Q')?.parse().ok()?;
            (1..=4)
                .contains(&q)
                .then(|| month_range(3 * q - 2, 3 * q))
                .flatten()
        }
        Dimension::Week => {
            let w: u32 = rest.strip_prefix('W')?.parse().ok()?;
            let monday = NaiveDate::from_isoywd_opt(year, w, chrono::Weekday::Mon)?;
            Some((monday, monday + chrono::Days::new(6)))
        }
        _ => None,
    }
}

/// Collects rows (from the store's scan, a change's rows, or a test), then
/// [`IndexBuilder::finish`] sorts and encodes them, or [`Index::apply`] merges them into an
/// index.
#[derive(Debug, Default)]
pub struct IndexBuilder {
    ids: Vec<i64>,
    day: Vec<i32>,
    client: Vec<u32>,
    product: Vec<u32>,
    region: Vec<u32>,
    severity: Vec<u8>,
    closed: Vec<u32>,
    status: Vec<u32>,
    tickets: RowTickets,
    clients: Dict,
    products: Dict,
    regions: Dict,
    statuses: Dict,
}

/// The tickets of a builder's rows, in one string: row `k`'s ends at `ends[k]`, or it has none
/// when [`NO_TICKET`] is set there. One allocation for them all: a `Box<str>` each was ten
/// million allocations and as many frees at ten million rows, and some 40 bytes a row.
#[derive(Debug, Default)]
struct RowTickets {
    text: String,
    ends: Vec<u64>,
}

/// Marks a row without a ticket in [`RowTickets::ends`].
const NO_TICKET: u64 = 1 << 63;

impl RowTickets {
    fn push(&mut self, ticket: Option<&str>) {
        let end = match ticket {
            Some(t) => {
                self.text.push_str(t);
                self.text.len() as u64
            }
            None => self.text.len() as u64 | NO_TICKET,
        };
        self.ends.push(end);
    }

    /// Row `k`'s ticket.
    fn get(&self, k: usize) -> Option<&str> {
        let end = *self.ends.get(k)?;
        if end & NO_TICKET != 0 {
            return None;
        }
        let start = k
            .checked_sub(1)
            .and_then(|p| self.ends.get(p))
            .map_or(0, |e| e & !NO_TICKET);
        self.text.get(start as usize..end as usize)
    }

    fn append(&mut self, other: RowTickets) {
        let base = self.text.len() as u64;
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.into_iter().map(|e| e + base));
    }
}

/// Sort key of a missing closed date or ticket: after every present one.
const LAST: u32 = u32::MAX;

/// `Index::close_month` of an escalation without a closed date (and the months past the u16
/// range, 5,000 years on, are its last value but one).
pub(super) const NOT_CLOSED: u16 = u16::MAX;

/// `Index::resolve` of an escalation without a closed date.
pub(super) const OPEN: u32 = u32::MAX;

/// Whole days from opened to closed (`closed` as the builder keeps it, a [`day_key`] or
/// [`LAST`]); a closed date before the opened one counts as 0 (it is kept as imported), and an
/// open escalation is [`OPEN`].
fn resolve_days(opened: i32, closed: u32) -> u32 {
    match closed {
        LAST => OPEN,
        key => {
            let days = (i64::from(key_day(key)) - i64::from(opened)).max(0);
            u32::try_from(days).map_or(OPEN - 1, |d| d.min(OPEN - 1))
        }
    }
}

/// The month an escalation was closed in, from `month_base` (the opened month for a closed date
/// before it), or [`NOT_CLOSED`].
fn close_month(opened: i32, closed: u32, month_base: i32) -> u16 {
    match closed {
        LAST => NOT_CLOSED,
        key => {
            let month = month_of(key_day(key).max(opened));
            u16::try_from(month - month_base).unwrap_or(NOT_CLOSED - 1)
        }
    }
}

/// A date as an order-preserving `u32`.
fn day_key(day: i32) -> u32 {
    (i64::from(day) - i64::from(i32::MIN)) as u32
}

/// The day a [`day_key`] stands for.
fn key_day(key: u32) -> i32 {
    (i64::from(key) + i64::from(i32::MIN)) as i32
}

impl IndexBuilder {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            ids: Vec::with_capacity(n),
            day: Vec::with_capacity(n),
            client: Vec::with_capacity(n),
            product: Vec::with_capacity(n),
            region: Vec::with_capacity(n),
            severity: Vec::with_capacity(n),
            closed: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            tickets: RowTickets {
                text: String::new(),
                ends: Vec::with_capacity(n),
            },
            ..Self::default()
        }
    }

    pub fn push(&mut self, row: IndexRow<'_>) {
        self.ids.push(row.id);
        self.day.push(row.opened.num_days_from_ce());
        self.client.push(self.clients.code(row.client));
        self.product.push(self.products.code(row.product));
        self.region.push(self.regions.code(row.region));
        self.severity.push(row.severity.code());
        self.closed
            .push(row.closed.map_or(LAST, |d| day_key(d.num_days_from_ce())));
        self.status
            .push(self.statuses.code(row.status.unwrap_or("")));
        self.tickets.push(row.ticket);
    }

    /// Adds the rows `other` collected (a part of the same scan: [`Store::scan_parts`]), its
    /// codes recoded into this builder's dictionaries.
    ///
    /// [`Store::scan_parts`]: crate::store::Store::scan_parts
    pub fn append(&mut self, other: IndexBuilder) {
        fn recoded(col: &mut Vec<u32>, add: Vec<u32>, codes: &[u32]) {
            col.extend(add.into_iter().map(|c| codes[c as usize]));
        }
        let clients = self.clients.absorb(other.clients);
        recoded(&mut self.client, other.client, &clients);
        let products = self.products.absorb(other.products);
        recoded(&mut self.product, other.product, &products);
        let regions = self.regions.absorb(other.regions);
        recoded(&mut self.region, other.region, &regions);
        let statuses = self.statuses.absorb(other.statuses);
        recoded(&mut self.status, other.status, &statuses);
        self.ids.extend(other.ids);
        self.day.extend(other.day);
        self.severity.extend(other.severity);
        self.closed.extend(other.closed);
        self.tickets.append(other.tickets);
    }

    /// Rows collected so far.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The index of these rows: the rows applied to an empty index, so a new index and one
    /// that followed changes are made by the same rule ([`Index::apply`]).
    pub fn finish(self) -> Index {
        // Only an index of 2^31 rows or more cannot be made, far past what memory holds.
        Index::default().apply(self, &[]).unwrap_or_default()
    }
}

/// Ticket ids in natural order (see [`natural_cmp`]), one string: an escalation's
/// `ticket_rank` is its ticket's position here. Kept so a change's new tickets can be ranked
/// among the old ones; about 16 bytes per ticketed escalation.
#[derive(Debug, Default, Clone, PartialEq)]
struct Tickets {
    text: String,
    /// Where each ticket ends in `text`.
    ends: Vec<u32>,
}

impl Tickets {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, rank: usize) -> &str {
        let start = rank
            .checked_sub(1)
            .and_then(|r| self.ends.get(r))
            .map_or(0, |&e| e as usize);
        let end = self.ends.get(rank).map_or(start, |&e| e as usize);
        self.text.get(start..end).unwrap_or("")
    }

    /// Appends a ticket (the caller keeps the order); `None` once the text outgrows `u32`
    /// offsets (4 GiB of ticket ids).
    fn push(&mut self, s: &str) -> Option<u32> {
        let end = u32::try_from(self.text.len() + s.len()).ok()?;
        let rank = u32::try_from(self.ends.len()).ok()?;
        self.text.push_str(s);
        self.ends.push(end);
        Some(rank)
    }
}

/// The escalations as columns, sorted by opened date then store id. Immutable once built: a
/// change makes a new one ([`Index::apply`]) that is swapped in whole, so a query never sees a
/// half-applied change.
///
/// Canonical: dictionaries hold exactly the values some escalation has, each coded by its rank
/// in natural order, and ticket ranks are dense, so the same escalations give the same index
/// (`==`) however it was reached, and a code doubles as its value's sort key.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Index {
    pub(super) ids: Vec<i64>,
    /// Opened date as days from the common era, ascending.
    pub(super) day: Vec<i32>,
    pub(super) client: Vec<u32>,
    pub(super) product: Vec<u32>,
    pub(super) region: Vec<u32>,
    /// `Severity as u8`: 0 = Low .. 3 = Critical.
    pub(super) severity: Vec<u8>,
    /// Whole days from opened to closed (a closed date before the opened one counts 0), or
    /// [`OPEN`]: what `mttr`, `open` and the backlog read.
    pub(super) resolve: Vec<u32>,
    /// The month it was closed in, relative to `month_base` (the opened month for a closed date
    /// before it), or [`NOT_CLOSED`]: the monthly backlog's closings without a calendar per row.
    /// With `resolve`, 6 bytes per escalation.
    pub(super) close_month: Vec<u16>,
    /// Period codes relative to the bases below.
    pub(super) month: Vec<u32>,
    pub(super) quarter: Vec<u32>,
    pub(super) week: Vec<u32>,
    /// Sort keys for the escalation list: the closed date as a [`day_key`] (or [`LAST`]), the
    /// status's code, the ticket's rank (or [`LAST`]).
    closed: Vec<u32>,
    status: Vec<u32>,
    ticket_rank: Vec<u32>,
    clients: Dict,
    products: Dict,
    regions: Dict,
    /// Statuses, the empty one for escalations without.
    statuses: Dict,
    /// `None` only past [`Tickets::push`]'s limit, or on the default (empty) index.
    tickets: Option<Tickets>,
    pub(super) month_base: i32,
    pub(super) quarter_base: i32,
    pub(super) week_base: i32,
}

/// A filter resolved against one index: a row range from the date bounds plus per-code masks.
pub(super) struct Compiled {
    pub range: Range<usize>,
    pub client: Option<Vec<bool>>,
    pub product: Option<Vec<bool>>,
    pub region: Option<Vec<bool>>,
    /// Bit `s` set when severity `s` is wanted.
    pub severity: u8,
}

impl Compiled {
    /// True when every row in the range passes: no value lists, every severity.
    pub fn is_trivial(&self) -> bool {
        self.severity == 0b1111
            && self.client.is_none()
            && self.product.is_none()
            && self.region.is_none()
    }

    /// Whether row `i` passes. Branch-free on the data: the `Option` tests are the same for every
    /// row (predictable), and the mask lookups combine with `&`, so a filter that keeps rows at
    /// random costs no mispredictions.
    #[inline(always)]
    pub fn keeps(&self, ix: &Index, i: usize) -> bool {
        let sev = (self.severity >> ix.severity[i]) & 1 == 1;
        let client = match &self.client {
            Some(m) => m[ix.client[i] as usize],
            None => true,
        };
        let product = match &self.product {
            Some(m) => m[ix.product[i] as usize],
            None => true,
        };
        let region = match &self.region {
            Some(m) => m[ix.region[i] as usize],
            None => true,
        };
        sev & client & product & region
    }
}

impl Index {
    /// Builds an index from any source of rows (the store's scan, or rows made in a test).
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = IndexRow<'a>>) -> Self {
        let mut b = IndexBuilder::default();
        rows.into_iter().for_each(|r| b.push(r));
        b.finish()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// First and last opened date.
    pub fn date_range(&self) -> Option<(NaiveDate, NaiveDate)> {
        let first = NaiveDate::from_num_days_from_ce_opt(*self.day.first()?)?;
        let last = NaiveDate::from_num_days_from_ce_opt(*self.day.last()?)?;
        Some((first, last))
    }

    /// The days a filter can see data on: from the later of its `from` and the first escalation
    /// to the earlier of its `to` and the last. `None` on an empty index.
    pub fn coverage(&self, f: &Filter) -> Option<(NaiveDate, NaiveDate)> {
        let (first, last) = self.date_range()?;
        let from = f.from.map_or(first, |d| d.max(first));
        let to = f.to.map_or(last, |d| d.min(last));
        Some((from, to))
    }

    /// Distinct values of a text dimension, alphabetically.
    pub fn values(&self, dim: Dimension) -> Vec<&str> {
        let mut v: Vec<&str> = match dim {
            Dimension::Client => self.clients.values.iter().map(String::as_str).collect(),
            Dimension::Product => self.products.values.iter().map(String::as_str).collect(),
            Dimension::Region => self.regions.values.iter().map(String::as_str).collect(),
            Dimension::Severity => return Severity::ALL.iter().map(|s| s.as_str()).collect(),
            _ => return Vec::new(),
        };
        v.sort_unstable();
        v
    }

    /// Number of distinct values a text dimension has (4 for severity, 0 for time).
    pub(super) fn cardinality(&self, dim: Dimension) -> usize {
        match dim {
            Dimension::Client => self.clients.values.len(),
            Dimension::Product => self.products.values.len(),
            Dimension::Region => self.regions.values.len(),
            Dimension::Severity => Severity::ALL.len(),
            _ => 0,
        }
    }

    /// The label of a text dimension's code, borrowed (empty for time dimensions).
    pub(super) fn text_label(&self, dim: Dimension, code: u32) -> &str {
        match dim {
            Dimension::Client => self
                .clients
                .values
                .get(code as usize)
                .map_or("", String::as_str),
            Dimension::Product => self
                .products
                .values
                .get(code as usize)
                .map_or("", String::as_str),
            Dimension::Region => self
                .regions
                .values
                .get(code as usize)
                .map_or("", String::as_str),
            Dimension::Severity => Severity::ALL.get(code as usize).map_or("", |s| s.as_str()),
            _ => "",
        }
    }

    pub(super) fn label(&self, dim: Dimension, code: u32) -> String {
        let dict = |d: &Dict| d.values.get(code as usize).cloned().unwrap_or_default();
        match dim {
            Dimension::Client => dict(&self.clients),
            Dimension::Product => dict(&self.products),
            Dimension::Region => dict(&self.regions),
            Dimension::Severity => Severity::ALL
                .get(code as usize)
                .map_or("", |s| s.as_str())
                .to_owned(),
            Dimension::Month => period_label(dim, self.month_base + code as i32),
            Dimension::Quarter => period_label(dim, self.quarter_base + code as i32),
            Dimension::Week => period_label(dim, self.week_base + code as i32),
        }
    }

    pub(super) fn compile(&self, f: &Filter) -> Compiled {
        let lo = f.from.map_or(0, |d| {
            self.day.partition_point(|&x| x < d.num_days_from_ce())
        });
        let hi = f.to.map_or(self.day.len(), |d| {
            self.day.partition_point(|&x| x <= d.num_days_from_ce())
        });
        let mask = |dict: &Dict, wanted: &[String]| -> Option<Vec<bool>> {
            if wanted.is_empty() {
                return None;
            }
            let mut m = vec![false; dict.values.len()];
            for w in wanted {
                dict.mark(w, &mut m);
            }
            Some(m)
        };
        let severity = if f.severities.is_empty() {
            0b1111
        } else {
            f.severities
                .iter()
                .fold(0u8, |acc, s| acc | 1 << (*s as u8))
        };
        let mut client = mask(&self.clients, &f.clients);
        if let Some(needle) = f
            .client_search
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
        {
            let m = client.get_or_insert_with(|| vec![true; self.clients.values.len()]);
            for (code, name) in self.clients.values.iter().enumerate() {
                m[code] &= name.to_lowercase().contains(&needle);
            }
        }
        Compiled {
            range: lo..hi.max(lo),
            client,
            product: mask(&self.products, &f.products),
            region: mask(&self.regions, &f.regions),
            severity,
        }
    }

    /// The filter's values that name nothing in this index (a product nobody reported, a client
    /// search no name contains), each with the closest real value when one is near: so a page,
    /// the API and the command line can say why there is nothing instead of showing zeros.
    pub fn unmatched(&self, f: &Filter) -> Vec<Unmatched> {
        let mut out = Vec::new();
        for (field, dict, wanted) in [
            (Dimension::Client, &self.clients, &f.clients),
            (Dimension::Product, &self.products, &f.products),
            (Dimension::Region, &self.regions, &f.regions),
        ] {
            let mut scratch = vec![false; dict.values.len()];
            for w in wanted {
                if !dict.mark(w, &mut scratch) {
                    out.push(Unmatched {
                        field: field.as_str(),
                        value: w.trim().to_owned(),
                        suggestion: dict.closest(w).map(str::to_owned),
                    });
                }
            }
        }
        if let Some(q) = f
            .client_search
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
        {
            let needle = q.to_lowercase();
            if !self
                .clients
                .values
                .iter()
                .any(|c| c.to_lowercase().contains(&needle))
            {
                out.push(Unmatched {
                    field: "q",
                    value: q.to_owned(),
                    suggestion: self.clients.closest(q).map(str::to_owned),
                });
            }
        }
        out
    }

    /// One page of the escalations that pass the filter, sorted by `sort` (ties keep opened-date
    /// order): their store ids, and how many passed in all. Only the rows up to the end of the
    /// page are fully sorted, so a first page out of a million is cheap.
    pub fn page(
        &self,
        f: &Filter,
        sort: SortColumn,
        descending: bool,
        offset: usize,
        limit: usize,
    ) -> (Vec<i64>, usize) {
        let c = self.compile(f);
        if sort == SortColumn::Opened {
            // Rows are stored in opened order: walk them, no sorting at all.
            let total = if c.is_trivial() {
                c.range.len()
            } else {
                c.range.clone().filter(|&i| c.keeps(self, i)).count()
            };
            let kept = |i: &usize| c.keeps(self, *i);
            let ids = |it: &mut dyn Iterator<Item = usize>| -> Vec<i64> {
                it.filter(kept)
                    .skip(offset)
                    .take(limit)
                    .map(|i| self.ids[i])
                    .collect()
            };
            let page = if descending {
                ids(&mut c.range.clone().rev())
            } else {
                ids(&mut c.range.clone())
            };
            return (page, total);
        }
        let mut pos: Vec<u32> = c
            .range
            .clone()
            .filter(|&i| c.keeps(self, i))
            .map(|i| i as u32)
            .collect();
        let total = pos.len();
        let end = offset.saturating_add(limit).min(total);
        if offset >= end {
            return (Vec::new(), total);
        }
        let key = |i: u32| -> u32 {
            let i = i as usize;
            match sort {
                SortColumn::Opened => 0,
                SortColumn::Id => self.ticket_rank[i],
                // Codes are ranks (the index is canonical).
                SortColumn::Client => self.client[i],
                SortColumn::Product => self.product[i],
                SortColumn::Region => self.region[i],
                SortColumn::Severity => u32::from(self.severity[i]),
                SortColumn::Closed => self.closed[i],
                SortColumn::Status => self.status[i],
            }
        };
        // Rows are stored in opened order, so the position breaks ties by date.
        let composite = |i: u32| -> u64 {
            let k = (u64::from(key(i)) << 32) | u64::from(i);
            if descending { !k } else { k }
        };
        if end < total {
            pos.select_nth_unstable_by_key(end, |&i| composite(i));
            pos.truncate(end);
        }
        pos.sort_unstable_by_key(|&i| composite(i));
        (
            pos[offset..end]
                .iter()
                .map(|&i| self.ids[i as usize])
                .collect(),
            total,
        )
    }

    /// Store ids of the escalations that pass the filter, in opened-date order.
    pub fn select(&self, f: &Filter) -> Vec<i64> {
        let c = self.compile(f);
        c.range
            .clone()
            .filter(|&i| c.keeps(self, i))
            .map(|i| self.ids[i])
            .collect()
    }
}

#[cfg(test)]
mod natural_order {
    use super::natural_cmp;

    #[test]
    fn digits_by_value_letters_without_case_then_exact() {
        let mut v = vec![
            "esc-10",
            "ESC-9",
            "esc-9",
            "abc",
            "Abc2",
            "abc10",
            "",
            "Zeta",
            "alpha",
            "9",
            "10",
            "ÉCLAIR",
            "éclair",
            "x99999999999999999999999",
            "x1",
        ];
        v.sort_by(|a, b| natural_cmp(Some(a), Some(b)));
        assert_eq!(
            v,
            [
                "",
                "9",
                "10",
                "abc",
                "Abc2",
                "abc10",
                "alpha",
                "ESC-9",
                "esc-9",
                "esc-10",
                "x1",
                "x99999999999999999999999",
                "Zeta",
                "ÉCLAIR",
                "éclair",
            ]
        );
        assert_eq!(natural_cmp(None, Some("")), std::cmp::Ordering::Equal);
        // The cached keys used for big sorts give the same order.
        let mut by_key = v.clone();
        by_key.reverse();
        by_key.sort_by_cached_key(|t| (super::natural_key(t), *t));
        assert_eq!(by_key, v);
    }

    proptest::proptest! {
        /// The comparison's shortcuts (equal text, ASCII text) order as the sort keys do.
        #[test]
        fn natural_cmp_agrees_with_the_sort_keys(
            a in "[aAbB0-9É é\\-]{0,8}",
            b in "[aAbB0-9É é\\-]{0,8}",
        ) {
            let by_key = (super::natural_key(&a), &a).cmp(&(super::natural_key(&b), &b));
            proptest::prop_assert_eq!(natural_cmp(Some(&a), Some(&b)), by_key);
        }
    }
}

//! The backlog over time: per month or week, how many escalations were opened, how many closed,
//! how many were open at the period's end, and how long those closed in it took.
//!
//! The client, product, region and severity filters select escalations; `from` and `to` only
//! choose which periods are shown, since what is open at a date depends on everything opened
//! before it. An escalation closed before it was opened counts as closed the day it was opened
//! (0 days, as `mttr` counts it).

use chrono::NaiveDate;
use serde::Serialize;

use super::Filter;
use super::index::{Index, OPEN, month_of, period_label, week_of};
use crate::domain::Period;

/// Periods a series holds at most (a century of months; about 40 years of weeks). A closed date
/// beyond the last of them leaves its escalation open throughout the series.
pub const MAX_PERIODS: usize = 2_100;

/// The series. The JSON shape (`periods`, `opened`, `closed`, `open_at_end`, `mttr_days`) is a
/// contract shared by `escamap backlog --json` and `GET /api/v1/backlog`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backlog {
    pub period: Period,
    /// `YYYY-MM` or `YYYY-Www`, oldest first.
    pub periods: Vec<String>,
    /// Opened in the period.
    pub opened: Vec<u64>,
    /// Closed in the period.
    pub closed: Vec<u64>,
    /// Opened on or before the period's last day and not closed by it.
    pub open_at_end: Vec<u64>,
    /// Mean days to resolve of those closed in the period (two decimals); `null` when none was.
    pub mttr_days: Vec<Option<f64>>,
}

/// Per-period counters over the whole span, before `from`/`to` pick the periods shown.
struct Series {
    opened: Vec<u64>,
    closed: Vec<u64>,
    days: Vec<u64>,
}

impl Series {
    fn bump(v: &mut Vec<u64>, at: usize, by: u64) {
        if at >= v.len() {
            v.resize(at + 1, 0);
        }
        v[at] += by;
    }
}

impl Index {
    /// The backlog of the escalations `filter` selects (its dates choose the periods shown).
    pub fn backlog(&self, filter: &Filter, period: Period) -> Backlog {
        let f = self.compile(&filter.without_dates());
        let trivial = f.is_trivial();
        let mut first = None;
        let mut s = Series {
            opened: Vec::new(),
            closed: Vec::new(),
            days: Vec::new(),
        };
        // Month of a day, by table over the span (the calendar is slow per row). Built lazily
        // from the first selected row's day, which is the earliest: rows are sorted by date.
        let mut months = MonthTable::default();
        for i in f.range.clone() {
            if !trivial && !f.keeps(self, i) {
                continue;
            }
            let day = self.day[i];
            let p = |d: i32, months: &mut MonthTable| match period {
                Period::Month => months.month(d),
                Period::Week => week_of(d),
            };
            let opened = p(day, &mut months);
            let base = *first.get_or_insert(opened);
            let at = (opened - base) as usize;
            if at >= MAX_PERIODS {
                break; // later rows open later still
            }
            Series::bump(&mut s.opened, at, 1);
            let d = self.resolve[i];
            if d != OPEN {
                let closed_on = i64::from(day) + i64::from(d);
                let closed_on = i32::try_from(closed_on).unwrap_or(i32::MAX);
                let at = usize::try_from(p(closed_on, &mut months) - base).unwrap_or(usize::MAX);
                if at < MAX_PERIODS {
                    Series::bump(&mut s.closed, at, 1);
                    Series::bump(&mut s.days, at, u64::from(d));
                }
            }
        }
        let Some(base) = first else {
            return Backlog::empty(period);
        };
        let len = s.opened.len().max(s.closed.len());
        let (mut open, mut shown) = (0u64, Backlog::empty(period));
        let label_of = |p: i32| period_label(period.dimension(), p);
        let period_of = |d: NaiveDate| {
            let n = chrono::Datelike::num_days_from_ce(&d);
            match period {
                Period::Month => month_of(n),
                Period::Week => week_of(n),
            }
        };
        let lo = filter.from.map_or(i32::MIN, period_of);
        let hi = filter.to.map_or(i32::MAX, period_of);
        for at in 0..len {
            let get = |v: &[u64]| v.get(at).copied().unwrap_or(0);
            let (opened, closed) = (get(&s.opened), get(&s.closed));
            open = open + opened - closed.min(open + opened);
            let p = base + at as i32;
            if p < lo || p > hi {
                continue;
            }
            shown.periods.push(label_of(p));
            shown.opened.push(opened);
            shown.closed.push(closed);
            shown.open_at_end.push(open);
            shown.mttr_days.push(
                (closed > 0).then(|| (get(&s.days) as f64 / closed as f64 * 100.0).round() / 100.0),
            );
        }
        shown
    }
}

impl Backlog {
    fn empty(period: Period) -> Self {
        Self {
            period,
            periods: Vec::new(),
            opened: Vec::new(),
            closed: Vec::new(),
            open_at_end: Vec::new(),
            mttr_days: Vec::new(),
        }
    }
}

/// Month numbers (as [`month_of`] gives them) of consecutive days from the first one asked for.
#[derive(Default)]
struct MonthTable {
    first: i32,
    months: Vec<i32>,
}

impl MonthTable {
    /// Days a table covers at most; later days are computed one by one.
    const MAX_DAYS: usize = 40 * 366;

    fn month(&mut self, day: i32) -> i32 {
        if self.months.is_empty() {
            self.first = day;
        }
        let Ok(at) = usize::try_from(i64::from(day) - i64::from(self.first)) else {
            return month_of(day);
        };
        if at >= Self::MAX_DAYS {
            return month_of(day);
        }
        while self.months.len() <= at {
            let d = self.first + self.months.len() as i32;
            self.months.push(month_of(d));
        }
        self.months[at]
    }
}

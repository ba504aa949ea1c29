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
use super::index::{Compiled, Index, OPEN, month_of, period_label, week_of};
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

impl Index {
    /// The backlog of the escalations `filter` selects (its dates choose the periods shown).
    pub fn backlog(&self, filter: &Filter, period: Period) -> Backlog {
        let f = self.compile(&filter.without_dates());
        let Some(first_row) = f.range.clone().find(|&i| f.keeps(self, i)) else {
            return Backlog::empty(period);
        };
        let series = match period {
            Period::Month => self.monthly(&f, first_row),
            Period::Week => self.weekly(&f, first_row),
        };
        series.shown(filter, period)
    }

    /// Per month, from the first selected row's: opened and closed months both come precomputed.
    fn monthly(&self, f: &Compiled, first_row: usize) -> Series {
        let base = self.month[first_row];
        let span = (self.month[f.range.end - 1] - base) as usize + 1;
        let mut s = Series::new(span, self.month_base + base as i32);
        let at_closed = |i: usize| usize::from(self.close_month[i]).wrapping_sub(base as usize);
        if f.is_trivial() {
            s.pass::<false>(self, f, first_row, &self.month, base, at_closed);
        } else {
            s.pass::<true>(self, f, first_row, &self.month, base, at_closed);
        }
        s.finish()
    }

    /// Per ISO week, from the first selected row's: a closed date's week is its day over 7.
    fn weekly(&self, f: &Compiled, first_row: usize) -> Series {
        let base = self.week[first_row];
        let span = (self.week[f.range.end - 1] - base) as usize + 1;
        let week0 = self.week_base + base as i32;
        let mut s = Series::new(span, week0);
        let at_closed = |i: usize| {
            let closed_on = i64::from(self.day[i]) + i64::from(self.resolve[i].min(OPEN - 1));
            usize::try_from((closed_on - 1).div_euclid(7) - i64::from(week0)).unwrap_or(usize::MAX)
        };
        if f.is_trivial() {
            s.pass::<false>(self, f, first_row, &self.week, base, at_closed);
        } else {
            s.pass::<true>(self, f, first_row, &self.week, base, at_closed);
        }
        s.finish()
    }
}

/// Per-period counters from `base`, before `from`/`to` pick the periods shown: opened, closed,
/// and the closed ones' days to resolve.
struct Series {
    base: i32,
    cells: Vec<[u64; 3]>,
    last: usize,
}

impl Series {
    fn new(span: usize, base: i32) -> Self {
        Self {
            base,
            cells: vec![[0; 3]; span.min(MAX_PERIODS) + 1],
            last: 0,
        }
    }

    /// The hot loop, monomorphised on whether the filter needs checking. Rows are sorted by date,
    /// so the rows opened in one period are one run of the range (`opened` holds each row's period
    /// code, from `base`): each run is counted in a register, and only its closings are written.
    /// Branch-free on the data (a row the filter drops adds 0) but for a closing beyond the room
    /// made so far, which grows the room once to fit it; closings past [`MAX_PERIODS`] are not
    /// counted.
    #[inline(always)]
    fn pass<const CHECK: bool>(
        &mut self,
        ix: &Index,
        f: &Compiled,
        from: usize,
        opened: &[u32],
        base: u32,
        at_closed: impl Fn(usize) -> usize,
    ) {
        let mut last_closed = 0usize;
        let mut start = from;
        while start < f.range.end {
            let code = opened[start];
            let end = start + opened[start..f.range.end].partition_point(|&c| c == code);
            let at = ((code - base) as usize).min(MAX_PERIODS);
            let mut count = 0u64;
            for i in start..end {
                let keep = u64::from(!CHECK || f.keeps(ix, i));
                let d = ix.resolve[i];
                let closed = u64::from(d != OPEN) & keep;
                let mut at_c = at_closed(i).min(MAX_PERIODS);
                let room = self.cells.len();
                if at_c >= room {
                    if closed == 1 {
                        let grown = (at_c + 1).max(room * 2).min(MAX_PERIODS + 1);
                        self.cells.resize(grown, [0; 3]);
                    }
                    at_c = at_c.min(self.cells.len() - 1);
                }
                count += keep;
                let c = &mut self.cells[at_c];
                c[1] += closed;
                c[2] += u64::from(d) * closed;
                last_closed = last_closed.max(at_c * closed as usize);
            }
            let at = at.min(self.cells.len() - 1);
            self.cells[at][0] += count;
            if count > 0 {
                self.last = self.last.max(at);
            }
            start = end;
        }
        self.last = self.last.max(last_closed);
    }

    /// Drops the periods after the last one anything happened in, and what fell past the end.
    fn finish(mut self) -> Self {
        self.cells.truncate((self.last + 1).min(MAX_PERIODS));
        self
    }

    /// The series with open-at-end counts, cut to the periods `filter`'s dates reach.
    fn shown(self, filter: &Filter, period: Period) -> Backlog {
        let period_of = |d: NaiveDate| {
            let n = chrono::Datelike::num_days_from_ce(&d);
            match period {
                Period::Month => month_of(n),
                Period::Week => week_of(n),
            }
        };
        let lo = filter.from.map_or(i32::MIN, period_of);
        let hi = filter.to.map_or(i32::MAX, period_of);
        let (mut open, mut shown) = (0u64, Backlog::empty(period));
        for (at, &[opened, closed, days]) in self.cells.iter().enumerate() {
            open = open + opened - closed.min(open + opened);
            let p = self.base + at as i32;
            if p < lo || p > hi {
                continue;
            }
            shown.periods.push(period_label(period.dimension(), p));
            shown.opened.push(opened);
            shown.closed.push(closed);
            shown.open_at_end.push(open);
            shown
                .mttr_days
                .push((closed > 0).then(|| (days as f64 / closed as f64 * 100.0).round() / 100.0));
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

use chrono::NaiveDate;
use serde::Serialize;

use super::index::{Compiled, FIRST_HIGH_CODE};
use super::{Filter, Index};

/// The original's four stat cards. The JSON shape is a contract (`escamap stats --json`,
/// `GET /api/v1/stats`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    pub total_escalations: u64,
    /// High or Critical.
    pub high_severity_count: u64,
    pub unique_clients: u64,
    /// Percent of escalations that are high severity, one decimal; 0 with no data.
    pub high_severity_rate: f64,
}

impl Stats {
    fn from_counts(total: u64, high: u64, clients: u64) -> Self {
        let rate = if total == 0 {
            0.0
        } else {
            (high as f64 * 1000.0 / total as f64).round() / 10.0
        };
        Self {
            total_escalations: total,
            high_severity_count: high,
            unique_clients: clients,
            high_severity_rate: rate,
        }
    }
}

/// The cards compare with a period before that the data covers this much of, or not at all.
pub const MIN_COVERED: f64 = 0.9;

/// What the stat cards compare: the filter's stats, and those of the period just before it when
/// that period is known and the data covers enough of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    pub now: Stats,
    /// `None` without a date range, or when the data covers less than [`MIN_COVERED`] of it.
    pub before: Option<Stats>,
    /// The share of the period before that the data covers (1 unless it starts before
    /// `first_record`): counts compare per day when it is under 1.
    pub covered: f64,
    /// The period just before the filter's, when it has both dates.
    pub previous: Option<Filter>,
    pub first_record: Option<NaiveDate>,
}

impl Index {
    /// Stats for the filter and, when its period is known, for the period of equal length just
    /// before it (same filters otherwise). A period before that begins before the data does is
    /// only partly covered, and its counts would read as growth: compared per day when the data
    /// covers most of it ([`MIN_COVERED`]), not at all when it covers less.
    pub fn stats_compared(&self, filter: &Filter) -> Compared {
        let now = self.stats(filter);
        let previous = filter.previous_period();
        let first_record = self.date_range().map(|(first, _)| first);
        let covered = match (&previous, first_record) {
            (
                Some(Filter {
                    from: Some(a),
                    to: Some(b),
                    ..
                }),
                Some(first),
            ) if *a < first => {
                let days = (*b - *a).num_days() + 1;
                let seen = (*b - first).num_days() + 1;
                seen.max(0) as f64 / days.max(1) as f64
            }
            _ => 1.0,
        };
        let before = previous
            .as_ref()
            .filter(|_| covered >= MIN_COVERED)
            .map(|p| self.stats(p));
        Compared {
            now,
            before,
            covered,
            previous,
            first_record,
        }
    }

    /// One pass over the date range: totals, high count, and distinct clients via a seen-mask.
    pub fn stats(&self, filter: &Filter) -> Stats {
        let f = self.compile(filter);
        let seen = vec![false; self.cardinality(crate::domain::Dimension::Client)];
        let (total, high, clients) = if f.is_trivial() {
            self.count::<false>(&f, seen)
        } else {
            self.count::<true>(&f, seen)
        };
        Stats::from_counts(total, high, clients)
    }

    #[inline(always)]
    fn count<const CHECK: bool>(&self, f: &Compiled, mut seen: Vec<bool>) -> (u64, u64, u64) {
        let (mut total, mut high, mut clients) = (0u64, 0u64, 0u64);
        for i in f.range.clone() {
            // Branch-free: add the keep bit instead of testing it.
            let keep = !CHECK || f.keeps(self, i);
            total += u64::from(keep);
            high += u64::from(keep & (self.severity[i] >= FIRST_HIGH_CODE));
            let s = &mut seen[self.client[i] as usize];
            clients += u64::from(keep & !*s);
            *s |= keep;
        }
        (total, high, clients)
    }
}

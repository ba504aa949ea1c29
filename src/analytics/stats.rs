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

impl Index {
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

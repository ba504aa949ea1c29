use serde::Serialize;

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
        let mut seen = vec![false; self.cardinality(crate::domain::Dimension::Client)];
        let (mut total, mut high, mut clients) = (0u64, 0u64, 0u64);
        for i in f.range.clone() {
            if f.keeps(self, i) {
                total += 1;
                high += u64::from(self.severity[i] >= 2);
                let s = &mut seen[self.client[i] as usize];
                clients += u64::from(!*s);
                *s = true;
            }
        }
        Stats::from_counts(total, high, clients)
    }
}

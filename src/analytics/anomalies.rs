//! Flagged heatmap cells: what a heatmap outlines and names in its tooltips.
//!
//! - With a time dimension, every cell is judged against the same row's (or, with time down the
//!   rows, the same column's) preceding periods, up to 12, as the insight engine judges a slice:
//!   a spike by the negative-binomial tail of its Farrington-style baseline with the spike
//!   guards (at least 3 times the expected and 6 more), a new hotspot after next to nothing, at
//!   least 3 periods of history. Across the cells judged, Benjamini-Hochberg at the engine's rate
//!   keeps the discoveries, with a floor ten times stricter than the engine's (a grid has a
//!   thousand cells; the floor keeps a flag to well under one false one per map).
//! - With two non-time dimensions, the cells are the findings of the current period whose slice
//!   is that pair (client × product, product × region, either way round), with the finding's
//!   current-period count and expectation.

use serde::Serialize;

use super::Heatmap;
use super::detect::{Baseline, benjamini_hochberg, upper_tail};
use super::insights::{
    ALPHA, FDR, Finding, Kind, MIN_EMERGING, MIN_SPIKE, QUIET_TOTAL, SPIKE_EXCESS, SPIKE_RATIO,
};
use crate::domain::Dimension;

/// Preceding periods a time cell is judged against.
const HISTORY: usize = 12;
/// Fewest preceding periods to judge a cell by.
const MIN_HISTORY: usize = 3;

/// One flagged cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    pub row: String,
    pub col: String,
    pub kind: Kind,
    pub observed: u64,
    pub expected: f64,
}

/// The flagged cells of a grid with a time dimension (none without one).
pub fn over_time(map: &Heatmap) -> Vec<Anomaly> {
    let (time_cols, time_rows) = (map.col_dimension.is_time(), map.row_dimension.is_time());
    if !time_cols && !time_rows {
        return Vec::new();
    }
    // Each series along the time axis, as (row, col) positions.
    let series: Vec<Vec<(usize, usize)>> = if time_cols {
        (0..map.rows.len())
            .map(|i| (0..map.cols.len()).map(|j| (i, j)).collect())
            .collect()
    } else {
        (0..map.cols.len())
            .map(|j| (0..map.rows.len()).map(|i| (i, j)).collect())
            .collect()
    };
    let mut tested: Vec<(usize, usize, Kind, f64, f64)> = Vec::new(); // row, col, kind, expected, p
    for cells in &series {
        let counts: Vec<u32> = cells
            .iter()
            .map(|&(i, j)| u32::try_from(map.counts[i][j]).unwrap_or(u32::MAX))
            .collect();
        for t in MIN_HISTORY..counts.len() {
            let past = &counts[t.saturating_sub(HISTORY)..t];
            let observed = counts[t];
            let (i, j) = cells[t];
            let base = Baseline::of(past);
            if past.iter().sum::<u32>() <= QUIET_TOTAL && past.len() >= HISTORY / 2 {
                let p = if observed >= MIN_EMERGING {
                    upper_tail(observed, base.expected, 1.0)
                } else {
                    1.0
                };
                tested.push((i, j, Kind::Emerging, base.expected, p));
                continue;
            }
            let (o, e) = (f64::from(observed), base.expected);
            let p = if observed >= MIN_SPIKE && o >= SPIKE_RATIO * e && o - e >= SPIKE_EXCESS {
                upper_tail(observed, e, base.predictive(1))
            } else {
                1.0
            };
            tested.push((i, j, Kind::Spike, e, p));
        }
    }
    let ps: Vec<f64> = tested.iter().map(|t| t.4).collect();
    let kept = benjamini_hochberg(&ps, FDR);
    tested
        .into_iter()
        .zip(kept)
        .filter(|((.., p), keep)| *p < 1.0 && (*keep || *p <= ALPHA / 10.0))
        .map(|((i, j, kind, expected, _), _)| Anomaly {
            row: map.rows[i].clone(),
            col: map.cols[j].clone(),
            kind,
            observed: map.counts[i][j],
            expected: (expected * 100.0).round() / 100.0,
        })
        .collect()
}

/// The findings that are cells of a grid of two non-time dimensions, where shown.
pub fn from_findings(map: &Heatmap, findings: &[Finding]) -> Vec<Anomaly> {
    let value = |f: &Finding, d: Dimension| -> Option<String> {
        match d {
            Dimension::Client => f.slice.client.clone(),
            Dimension::Product => f.slice.product.clone(),
            Dimension::Region => f.slice.region.clone(),
            _ => None,
        }
    };
    let keys = |f: &Finding| {
        usize::from(f.slice.client.is_some())
            + usize::from(f.slice.product.is_some())
            + usize::from(f.slice.region.is_some())
    };
    findings
        .iter()
        .filter(|f| keys(f) == 2)
        .filter_map(|f| {
            let row = value(f, map.row_dimension)?;
            let col = value(f, map.col_dimension)?;
            // Only the cells the grid shows.
            map.rows.iter().position(|r| *r == row)?;
            map.cols.iter().position(|c| *c == col)?;
            Some(Anomaly {
                observed: u64::from(f.observed),
                row,
                col,
                kind: f.kind,
                expected: f.expected,
            })
        })
        .collect()
}

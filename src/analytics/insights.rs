//! Findings: which slices changed enough for a manager to act (issue 13, in progress: the
//! engine over [`SliceSeries`]; not yet reachable from the command line, the API or the
//! dashboard, and its thresholds are still to be measured on planted worlds).
//!
//! Each slice's current period is judged against its own 12 previous periods with the
//! statistics of [`super::detect`]; a current period still under way is judged against the part
//! of its expectation that has elapsed.
//! - `spike`: the count is improbably high under the slice's baseline (negative-binomial tail),
//!   at least [`MIN_SPIKE`] escalations and twice what was expected, and it survives
//!   Benjamini-Hochberg at [`FDR`] across every slice tested.
//! - `emerging`: a slice with at most one escalation in the 12 previous periods now has at least
//!   [`MIN_EMERGING`] (tested like a spike, against "next to nothing").
//! - `rising`: each of the last three periods runs above 1.25 times the level of the nine
//!   before them, together at least 1.5 times it, and a Poisson CUSUM against that level alarms
//!   within the last four: a sustained climb, which a single period's test misses while the
//!   climb is still inflating the trailing mean. It takes the place of a spike on the same slice.
//! - `cooling`: a slice whose earlier level was at least [`MIN_COOLING_LEVEL`] a period has run
//!   at most a third of it over the last two periods (a full one and the current one).

use serde::Serialize;

use super::detect::{Baseline, benjamini_hochberg, poisson_cusum, upper_tail};
use super::slices::{Counts, PERIODS, Slice, SliceSeries};

/// False-discovery rate across the slices tested.
pub const FDR: f64 = 0.01;
/// Fewest escalations a spike may have.
pub const MIN_SPIKE: u32 = 5;
/// Fewest escalations an emerging slice may have now.
pub const MIN_EMERGING: u32 = 5;
/// Lowest earlier level (per period) a cooling slice must have had.
pub const MIN_COOLING_LEVEL: f64 = 8.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Spike,
    Emerging,
    Rising,
    Cooling,
}

/// One thing that changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub slice: Slice,
    /// The slice's count in the current period.
    pub observed: u32,
    /// What its history predicted for (the elapsed part of) the current period.
    pub expected: f64,
    /// For the kinds that are a test (spike, emerging).
    pub p_value: Option<f64>,
    /// Larger is more urgent; findings are sorted by it.
    pub score: f64,
    /// The 13 periods' counts, oldest first, the current period last.
    pub history: Counts,
}

/// The share of the current period that has elapsed at `as_of` (1 for a full period).
fn elapsed(series: &SliceSeries) -> f64 {
    let Some(&(from, to)) = series.periods.last() else {
        return 1.0;
    };
    let full = match series.period {
        crate::domain::Period::Month => from
            .checked_add_months(chrono::Months::new(1))
            .map_or(30, |n| (n - from).num_days()),
        crate::domain::Period::Week => 7,
    };
    (((to - from).num_days() + 1) as f64 / full as f64).clamp(0.0, 1.0)
}

/// Every finding in `series`, most urgent first.
pub fn find(series: &SliceSeries) -> Vec<Finding> {
    let share = elapsed(series);
    let mut tested: Vec<(usize, Kind, f64, f64)> = Vec::new(); // (slice, kind, expected, p)
    let mut out = Vec::new();
    for (k, (slice, counts)) in series.slices.iter().enumerate() {
        let past = &counts[..PERIODS - 1];
        let observed = counts[PERIODS - 1];
        let quiet = past.iter().sum::<u32>() <= 1;
        // One finding per slice: a sustained climb (or a fall) explains this period's count.
        if let Some(f) = rising(slice, counts, share).or_else(|| cooling(slice, counts, share)) {
            out.push(f);
            continue;
        }
        let base = Baseline::of(past);
        let expected = base.expected * share;
        if quiet {
            if observed >= MIN_EMERGING {
                tested.push((
                    k,
                    Kind::Emerging,
                    expected,
                    upper_tail(observed, expected, 1.0),
                ));
            }
        } else if observed >= MIN_SPIKE && f64::from(observed) >= 2.0 * expected {
            let p = upper_tail(observed, expected, base.dispersion);
            tested.push((k, Kind::Spike, expected, p));
        }
    }
    let kept = benjamini_hochberg(&tested.iter().map(|t| t.3).collect::<Vec<_>>(), FDR);
    for ((k, kind, expected, p), keep) in tested.into_iter().zip(kept) {
        if !keep {
            continue;
        }
        let (slice, counts) = &series.slices[k];
        out.push(Finding {
            kind,
            slice: slice.clone(),
            observed: counts[PERIODS - 1],
            expected: round2(expected),
            p_value: Some(p),
            score: round2(-p.max(1e-300).log10()),
            history: *counts,
        });
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.slice.cmp(&b.slice))
    });
    out
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The last three periods (the current one scaled up to a full period) against the nine before:
/// each of them above 1.25 times that level, and together at least 1.5 times it.
fn rising(slice: &Slice, counts: &Counts, share: f64) -> Option<Finding> {
    let level = Baseline::of(&counts[..PERIODS - 4]).expected;
    let current = f64::from(counts[PERIODS - 1]) / share.max(1e-9);
    let last = [
        f64::from(counts[PERIODS - 3]),
        f64::from(counts[PERIODS - 2]),
        current,
    ];
    let recent = last.iter().sum::<f64>() / 3.0;
    if last.iter().any(|&n| n < 1.25 * level) || recent < 1.5 * level || recent - level < 2.0 {
        return None;
    }
    let tail: Vec<u32> = counts[PERIODS - 4..].to_vec();
    let (stat, alarm) = poisson_cusum(&tail, level, 2.0, 4.0);
    alarm?;
    Some(Finding {
        kind: Kind::Rising,
        slice: slice.clone(),
        observed: counts[PERIODS - 1],
        expected: round2(level * share),
        p_value: None,
        score: round2(stat.ln_1p() * 2.0),
        history: *counts,
    })
}

/// The last full period and the current one against the ten before them.
fn cooling(slice: &Slice, counts: &Counts, share: f64) -> Option<Finding> {
    let level = Baseline::of(&counts[..PERIODS - 3]).expected;
    if level < MIN_COOLING_LEVEL {
        return None;
    }
    let recent = (f64::from(counts[PERIODS - 2]) + f64::from(counts[PERIODS - 1])) / (1.0 + share);
    if recent > level / 3.0 {
        return None;
    }
    Some(Finding {
        kind: Kind::Cooling,
        slice: slice.clone(),
        observed: counts[PERIODS - 1],
        expected: round2(level * share),
        p_value: None,
        score: round2((level / recent.max(0.5)).ln()),
        history: *counts,
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::domain::Period;

    fn slice(client: &str) -> Slice {
        Slice {
            client: Some(client.to_owned()),
            product: None,
            region: None,
        }
    }

    /// A monthly series with full periods (as_of on a month's last day).
    fn series(slices: Vec<(Slice, Counts)>) -> SliceSeries {
        let d = |m: u32| NaiveDate::from_ymd_opt(2025, m, 1).expect("valid");
        let mut periods: Vec<(NaiveDate, NaiveDate)> = (1..=12)
            .map(|m| {
                let from = d(m);
                (
                    from,
                    from.checked_add_months(chrono::Months::new(1))
                        .and_then(|n| n.pred_opt())
                        .expect("valid"),
                )
            })
            .collect();
        let jan = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid");
        periods.push((jan, NaiveDate::from_ymd_opt(2026, 1, 31).expect("valid")));
        SliceSeries {
            as_of: NaiveDate::from_ymd_opt(2026, 1, 31).expect("valid"),
            period: Period::Month,
            periods,
            slices,
        }
    }

    /// A steady slice: about `level` a month, with some noise.
    fn steady(level: u32) -> Counts {
        let mut c = [level; PERIODS];
        for (i, n) in c.iter_mut().enumerate() {
            *n = (*n + (i as u32 * 7) % 3).saturating_sub(1);
        }
        c
    }

    fn kinds(found: &[Finding]) -> Vec<(Kind, &str)> {
        found
            .iter()
            .map(|f| (f.kind, f.slice.client.as_deref().unwrap_or("")))
            .collect()
    }

    #[test]
    fn each_kind_on_its_own_history_and_nothing_in_a_quiet_world() {
        let mut spike = steady(3);
        spike[12] = 16;
        let mut emerging = [0; PERIODS];
        emerging[12] = 8;
        let rising: Counts = [4, 5, 3, 4, 4, 5, 4, 3, 4, 8, 9, 11, 12];
        let cooling: Counts = [12, 11, 13, 12, 10, 12, 11, 13, 12, 12, 6, 3, 2];
        let noise: Vec<(Slice, Counts)> = (0..200)
            .map(|i| (slice(&format!("Noise {i:03}")), steady(2 + i % 7)))
            .collect();
        let mut all = noise.clone();
        all.extend([
            (slice("Spike Co"), spike),
            (slice("Emerging Co"), emerging),
            (slice("Rising Co"), rising),
            (slice("Cooling Co"), cooling),
        ]);
        let found = find(&series(all));
        let mut got = kinds(&found);
        got.sort_by_key(|(_, c)| c.to_owned());
        assert_eq!(
            got,
            [
                (Kind::Cooling, "Cooling Co"),
                (Kind::Emerging, "Emerging Co"),
                (Kind::Rising, "Rising Co"),
                (Kind::Spike, "Spike Co"),
            ]
        );
        let s = found
            .iter()
            .find(|f| f.kind == Kind::Spike)
            .expect("the spike");
        assert_eq!(s.observed, 16);
        assert!(
            s.expected < 4.0 && s.p_value.is_some_and(|p| p < 1e-4),
            "{s:?}"
        );
        assert_eq!(s.history, spike);
        assert!(
            found.windows(2).all(|w| w[0].score >= w[1].score),
            "sorted by score"
        );
        assert!(
            find(&series(noise)).is_empty(),
            "a quiet world has nothing to say"
        );
    }

    #[test]
    fn a_period_under_way_is_judged_on_its_elapsed_part() {
        // Ten days into the month: 9 already is three times the month's pace of 9.
        let mut s = series(vec![(
            slice("Pace Co"),
            [9, 9, 8, 10, 9, 9, 9, 8, 10, 9, 9, 9, 9],
        )]);
        let last = s.periods.len() - 1;
        s.periods[last].1 = NaiveDate::from_ymd_opt(2026, 1, 10).expect("valid");
        let found = find(&s);
        assert_eq!(kinds(&found), [(Kind::Spike, "Pace Co")]);
        assert!(found[0].expected < 3.5);
        // The same 9 over the whole month is no news.
        assert!(
            find(&series(vec![(
                slice("Pace Co"),
                [9, 9, 8, 10, 9, 9, 9, 8, 10, 9, 9, 9, 9]
            )]))
            .is_empty()
        );
    }
}

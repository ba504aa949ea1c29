//! Findings: which slices changed enough for a manager to act, each explained in a sentence and
//! linked to its tickets.
//!
//! Each slice's current period is judged against its own 12 previous periods with the
//! statistics of [`super::detect`]. A period still under way is judged on its elapsed part: what
//! is expected of it is scaled by the share of its days gone by. Every kind is a test with a
//! p-value, so the false discoveries can be controlled where thousands of slices are tested at
//! once: each kind is a family of tests over the slices its history makes eligible (a rule fixed
//! before the current period is looked at), and Benjamini-Hochberg at [`FDR`] keeps the
//! discoveries of each family.
//! - `spike` (any slice with history): the count is improbably high under the slice's
//!   Farrington-style baseline (negative-binomial tail), at least [`MIN_SPIKE`], twice what was
//!   expected and at least 3 more.
//! - `emerging` (a slice with at most one escalation in the 12 previous periods): at least
//!   [`MIN_EMERGING`] now, tested against "next to nothing".
//! - `rising` (a slice averaging at least one a period over the 9 periods before the last three):
//!   the last three periods together are improbably high for that level, the
//!   current one runs above 1.25 times it, the two before it are both at or above it and
//!   together at least 1.3 times it on average (so not one bad period), and the three average at
//!   least twice it and hold 10 more. The three periods under judgement are left out of the level
//!   (EARS-style), so a climb that is already inflating a plain trailing mean is still measured
//!   against where the slice was. A rise explains the current period's count, so it takes the
//!   place of a spike on the same slice.
//! - `cooling` (a slice whose average over its 12 previous periods, or the 10 before the last
//!   two, is at least [`MIN_COOLING_LEVEL`] a period): the last one to
//!   three periods each ran at most a third of the level fitted on the periods before them, and
//!   together they are improbably low (negative-binomial lower tail). Good news to report.
//!
//! **De-duplication along the hierarchy.** A client × product cell lies within its client and
//! its product, a product × region pair within its product and its region. A parent's finding
//! is dropped when one child's finding of the same direction explains it: the child's excess
//! (its counts over its own expected level, in the periods it is flagged for) is at least half
//! the parent's over those periods, and with it taken out the parent would no longer pass its
//! test. So a cell that explains its client's rise is
//! listed and the client is not; a parent is listed when its change is spread over several
//! children, or is more than one child's. A client's slices also explain a region's (a client
//! sits mostly in one region): there the child's part inside the parent is counted from the
//! index (the escalations in both), and its level scaled by the share of its past that fell
//! inside.

use chrono::NaiveDate;
use serde::Serialize;

use super::detect::{
    Baseline, benjamini_hochberg, lower_tail, plain_mean, pooled_size, upper_tail,
};
use super::slices::{Counts, PERIODS, Slice, SliceSeries};
use super::{Filter, Index};
use crate::domain::Period;

/// False-discovery rate within each kind's family of tests.
pub const FDR: f64 = 0.05;
/// The cooling family's false-discovery rate: good news can wait for stronger evidence (a single
/// low period of an over-dispersed slice is often noise).
pub const COOLING_FDR: f64 = 0.01;
/// With [`ALPHA`]: a rise passes when its p-value is under `FLOOR_TESTS / tests` in its family
/// (at most two false ones expected over the family before the guards), so the floor tightens as
/// the slices multiply.
pub const FLOOR_TESTS: f64 = 1.0;
/// A rise (spike, emerging, rising) whose p-value is this small (and under the
/// [`FLOOR_TESTS`] bound) passes whatever the false-discovery control says. Its guards (three
/// times the expected and six more, for a spike) already restrict it to what a manager would
/// call a rise; among those, ordinary noise
/// rarely reaches this p, while Benjamini-Hochberg alone, which needs about `FDR / slices` for
/// the first discovery among thousands of slices, would drop a fair spike on a small account
/// (7 where 0.75 were usual has p ≈ 2e-4).
pub const ALPHA: f64 = 1e-3;
/// A spike is at least this many times what was expected...
pub const SPIKE_RATIO: f64 = 3.0;
/// ... and at least this many more.
pub const SPIKE_EXCESS: f64 = 6.0;
/// A rise's last three periods average at least this many times the level before...
pub const RISE_RATIO: f64 = 2.0;
/// ... and hold at least this many more escalations than it.
pub const RISE_EXCESS: f64 = 10.0;
/// Fewest escalations a spike may have.
pub const MIN_SPIKE: u32 = 5;
/// Most escalations over the 12 previous periods of a slice that was quiet ("next to nothing").
pub const QUIET_TOTAL: u32 = 3;
/// Fewest escalations an emerging slice may have now.
pub const MIN_EMERGING: u32 = 5;
/// Lowest earlier level (per period) a rising slice must have had.
pub const MIN_RISING_LEVEL: f64 = 1.0;
/// Lowest earlier level (per period) a cooling slice must have had.
pub const MIN_COOLING_LEVEL: f64 = 8.0;
/// The default number of findings answered.
pub const DEFAULT_LIMIT: usize = 25;
/// The most findings one answer may carry.
pub const MAX_LIMIT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Spike,
    Emerging,
    Rising,
    Cooling,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spike => "spike",
            Self::Emerging => "emerging",
            Self::Rising => "rising",
            Self::Cooling => "cooling",
        }
    }

    /// Whether the kind is news of more escalations (spike, emerging, rising).
    pub fn is_up(self) -> bool {
        self != Self::Cooling
    }

    fn family(self) -> usize {
        self as usize
    }
}

/// One thing that changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub slice: Slice,
    /// The slice's exact count in the current period.
    pub observed: u32,
    /// What its history predicted for (the elapsed part of) the current period.
    pub expected: f64,
    /// The test's p-value (before the false-discovery control).
    pub p_value: Option<f64>,
    /// `-log10(p)`: larger is more urgent; findings are sorted by it.
    pub score: f64,
    /// The 13 periods' counts, oldest first, the current period last.
    pub history: Counts,
    /// One sentence a person reads.
    pub summary: String,
    /// The slice's escalations in the current period: a `/data` link.
    pub drill: String,
}

/// First and last day of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The answer of `escamap insights` and `GET /api/v1/insights`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Insights {
    /// `None` only when nothing is selected and no `as_of` was given.
    pub as_of: Option<NaiveDate>,
    pub period: Period,
    pub current: Option<Span>,
    /// Slices judged.
    pub slices_tested: usize,
    /// All findings that passed, before `limit`.
    pub total: usize,
    pub findings: Vec<Finding>,
}

impl Insights {
    /// The same answer with its first `limit` findings only.
    pub fn first(&self, limit: usize) -> Self {
        Self {
            findings: self.findings.iter().take(limit).cloned().collect(),
            ..*self
        }
    }
}

impl Index {
    /// The findings over the slices `filter` selects (its dates are not used: `as_of` says
    /// when), most urgent first, at most `limit`.
    pub fn insights(
        &self,
        filter: &Filter,
        period: Period,
        as_of: Option<NaiveDate>,
        limit: usize,
    ) -> Insights {
        let Some(series) = self.slice_series(filter, period, as_of) else {
            return Insights {
                as_of,
                period,
                current: None,
                slices_tested: 0,
                total: 0,
                findings: Vec::new(),
            };
        };
        let overlap = |a: &Slice, b: &Slice| {
            let both = Filter {
                clients: a.client.iter().chain(&b.client).take(1).cloned().collect(),
                products: a
                    .product
                    .iter()
                    .chain(&b.product)
                    .take(1)
                    .cloned()
                    .collect(),
                regions: a.region.iter().chain(&b.region).take(1).cloned().collect(),
                ..filter.without_dates()
            };
            Some(self.period_counts(&both, &series))
        };
        let mut findings = find_with(&series, filter, &overlap);
        let total = findings.len();
        findings.truncate(limit);
        let current = series.periods.last().map(|&(from, to)| Span { from, to });
        Insights {
            as_of: Some(series.as_of),
            period,
            current,
            slices_tested: series.slices.len(),
            total,
            findings,
        }
    }
}

/// The share of the current period that has elapsed at `as_of` (1 for a full period).
fn elapsed(series: &SliceSeries) -> f64 {
    let Some(&(from, to)) = series.periods.last() else {
        return 1.0;
    };
    let full = match series.period {
        Period::Month => from
            .checked_add_months(chrono::Months::new(1))
            .map_or(30, |n| (n - from).num_days()),
        Period::Week => 7,
    };
    (((to - from).num_days() + 1) as f64 / full as f64).clamp(0.0, 1.0)
}

/// A slice's test in one family: its p-value and what it needs to be explained.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Test {
    kind: Kind,
    p: f64,
    /// Expected count in the current period (its elapsed part).
    expected: f64,
    /// Expected count per full period, for the periods flagged.
    level: f64,
    /// The periods flagged: the last `span` ones.
    span: usize,
}

/// Every family's test of one series: `None` where the slice is not eligible, a p of 1 where it
/// is eligible but nothing is remarkable.
fn judge(counts: &Counts, share: f64, size: Option<f64>) -> [Option<Test>; 4] {
    let past = &counts[..PERIODS - 1];
    let observed = counts[PERIODS - 1];
    let quiet = past.iter().sum::<u32>() <= QUIET_TOTAL;
    let mut out = [None; 4];
    // Most slices are small and unremarkable: a test that cannot pass (fewer escalations than
    // the kind's minimum) is answered without fitting a baseline.
    let needs_fit = quiet || observed >= MIN_SPIKE;
    let base = if needs_fit {
        Baseline::of(past).pooled(size)
    } else {
        Baseline {
            expected: plain_mean(past),
            dispersion: 1.0,
            raw_dispersion: 1.0,
            periods: past.len(),
        }
    };
    let expected = base.expected * share;
    let test = |kind, p, expected, level, span| {
        Some(Test {
            kind,
            p,
            expected,
            level,
            span,
        })
    };
    if quiet {
        let p = if observed >= MIN_EMERGING {
            upper_tail(observed, expected, 1.0)
        } else {
            1.0
        };
        out[Kind::Emerging.family()] = test(Kind::Emerging, p, expected, base.expected, 1);
    } else {
        let o = f64::from(observed);
        let p =
            if observed >= MIN_SPIKE && o >= SPIKE_RATIO * expected && o - expected >= SPIKE_EXCESS
            {
                upper_tail(observed, expected, base.predictive(1))
            } else {
                1.0
            };
        out[Kind::Spike.family()] = test(Kind::Spike, p, expected, base.expected, 1);
    }
    out[Kind::Rising.family()] = rising(counts, share, size);
    out[Kind::Cooling.family()] = cooling(counts, share, size);
    out
}

/// The last three periods (the current one scaled up to a full period) against the level of the
/// nine before them.
fn rising(counts: &Counts, share: f64, size: Option<f64>) -> Option<Test> {
    // Eligible by the average of the nine periods (fixed before the current one is looked at).
    let plain = plain_mean(&counts[..PERIODS - 4]);
    if plain < MIN_RISING_LEVEL {
        return None;
    }
    let total: u32 = counts[PERIODS - 3..].iter().sum();
    if f64::from(total) < RISE_EXCESS {
        // Ten more than the level at least: impossible.
        return Some(Test {
            kind: Kind::Rising,
            p: 1.0,
            expected: plain * share,
            level: plain,
            span: 3,
        });
    }
    let base = Baseline::of(&counts[..PERIODS - 4]).pooled(size);
    let level = base.expected;
    let current = f64::from(counts[PERIODS - 1]) / share.max(1e-9);
    let last = [
        f64::from(counts[PERIODS - 3]),
        f64::from(counts[PERIODS - 2]),
        current,
    ];
    let recent = last.iter().sum::<f64>() / 3.0;
    // Not one bad period: the two before the current one already carry the rise.
    let sustained = current >= 1.25 * level
        && last[0] >= level
        && last[1] >= level
        && last[0] + last[1] >= 2.6 * level;
    let expected_total = level * (2.0 + share);
    let p = if sustained
        && recent >= RISE_RATIO * level
        && f64::from(total) - expected_total >= RISE_EXCESS
    {
        upper_tail(total, expected_total, base.predictive(3))
    } else {
        1.0
    };
    Some(Test {
        kind: Kind::Rising,
        p,
        expected: level * share,
        level,
        span: 3,
    })
}

/// The longest run (up to three) of low periods at the end, each at most a third of the level of
/// the periods before it (the current one scaled up to a full period).
fn cooling(counts: &Counts, share: f64, size: Option<f64>) -> Option<Test> {
    // Eligible by the average of its 12 previous periods, or of the 10 before the last two
    // (fixed by the history, before the current period is looked at).
    let plain = plain_mean(&counts[..PERIODS - 1]);
    if plain < MIN_COOLING_LEVEL && plain_mean(&counts[..PERIODS - 3]) < MIN_COOLING_LEVEL {
        return None;
    }
    let nothing = Test {
        kind: Kind::Cooling,
        p: 1.0,
        expected: plain * share,
        level: plain,
        span: 1,
    };
    // A fitted level is never above the plain mean: a current period above a third of it is
    // not low for any span.
    if f64::from(counts[PERIODS - 1]) / share.max(1e-9)
        > plain.max(plain_mean(&counts[..PERIODS - 3])) / 3.0
    {
        return Some(nothing);
    }
    let mut best: Option<Test> = None;
    for span in 1..=3 {
        let base = Baseline::of(&counts[..PERIODS - span]).pooled(size);
        let level = base.expected;
        if level < MIN_COOLING_LEVEL {
            continue;
        }
        let low = (0..span).all(|back| {
            let i = PERIODS - 1 - back;
            let n = f64::from(counts[i]) / if back == 0 { share.max(1e-9) } else { 1.0 };
            n <= level / 3.0
        });
        if !low {
            break;
        }
        let total: u32 = counts[PERIODS - span..].iter().sum();
        let p = lower_tail(
            total,
            level * (span as f64 - 1.0 + share),
            base.predictive(span),
        );
        if best.is_none_or(|b| p < b.p) {
            best = Some(Test {
                kind: Kind::Cooling,
                p,
                expected: level * share,
                level,
                span,
            });
        }
    }
    Some(best.unwrap_or(nothing))
}

/// The largest p each kind's Benjamini-Hochberg keeps among one kind of slice (`None`: it
/// keeps nothing).
type Cuts = [Option<f64>; 4];

/// The finding a slice's tests make under the cuts: a rise before a spike, one per slice.
fn decide(tests: &[Option<Test>; 4], cuts: &Cuts) -> Option<Test> {
    let passes = |k: Kind| {
        tests[k.family()].filter(|t| t.p < 1.0 && cuts[k.family()].is_some_and(|cut| t.p <= cut))
    };
    passes(Kind::Rising)
        .or_else(|| passes(Kind::Emerging))
        .or_else(|| passes(Kind::Spike))
        .or_else(|| passes(Kind::Cooling))
}

/// [`find_with`] without the index's counts (no client's finding explains a region's), for
/// series written in the tests.
#[cfg(test)]
fn find(series: &SliceSeries, filter: &Filter) -> Vec<Finding> {
    find_with(series, filter, &|_, _| None)
}

/// Every finding in `series`, most urgent first; `filter` is what selected the series (its
/// lists go into each drill link); `overlap` counts two slices' common escalations, so a
/// client's finding can explain a region's.
pub fn find_with(series: &SliceSeries, filter: &Filter, overlap: Overlap<'_>) -> Vec<Finding> {
    let share = elapsed(series);
    let sizes = pooled_sizes(series);
    let tests: Vec<[Option<Test>; 4]> = series
        .slices
        .iter()
        .map(|(slice, counts)| judge(counts, share, sizes[level_of(slice)]))
        .collect();
    let levels: Vec<usize> = series.slices.iter().map(|(s, _)| level_of(s)).collect();
    let mut cuts: [Cuts; 5] = [[None; 4]; 5];
    for (level, level_cuts) in cuts.iter_mut().enumerate() {
        for (family, cut) in level_cuts.iter_mut().enumerate() {
            let ps: Vec<f64> = tests
                .iter()
                .zip(&levels)
                .filter(|(_, l)| **l == level)
                .filter_map(|(t, _)| t[family])
                .map(|t| t.p)
                .collect();
            let cooling = family == Kind::Cooling.family();
            let q = if cooling { COOLING_FDR } else { FDR };
            let kept = benjamini_hochberg(&ps, q)
                .iter()
                .zip(&ps)
                .filter(|(kept, _)| **kept)
                .map(|(_, &p)| p)
                .reduce(f64::max);
            // A rise also passes under the floor: ALPHA, or fewer than FLOOR_TESTS false ones
            // expected over the family, whichever is stricter.
            let floor = if cooling || ps.is_empty() {
                None
            } else {
                Some(ALPHA.min(FLOOR_TESTS / ps.len() as f64))
            };
            *cut = match (kept, floor) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    let found: Vec<(usize, Test)> = tests
        .iter()
        .enumerate()
        .filter_map(|(k, t)| decide(t, &cuts[levels[k]]).map(|t| (k, t)))
        .collect();
    let kept = explained(series, &found, &cuts, share, &sizes, overlap);
    let mut out: Vec<Finding> = found
        .into_iter()
        .zip(kept)
        .filter(|(_, keep)| *keep)
        .map(|((k, t), _)| finding(series, filter, k, t))
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.slice.cmp(&b.slice))
    });
    out
}

/// One pooled negative-binomial size per kind of slice (see [`level_of`]).
type Sizes = [Option<f64>; 5];

/// The kind of slice: 0 client, 1 product, 2 region, 3 client × product, 4 product × region.
fn level_of(s: &Slice) -> usize {
    match (s.client.is_some(), s.product.is_some(), s.region.is_some()) {
        (true, true, _) => 3,
        (false, true, true) => 4,
        (true, false, _) => 0,
        (false, true, false) => 1,
        (false, false, _) => 2,
    }
}

/// Each kind of slice's pooled size, from every such slice's 12 previous periods.
fn pooled_sizes(series: &SliceSeries) -> Sizes {
    let mut by_level: [Vec<Baseline>; 5] = Default::default();
    for (slice, counts) in &series.slices {
        // Only slices of one a period or more count towards the pool.
        if plain_mean(&counts[..PERIODS - 1]) >= 1.0 {
            by_level[level_of(slice)].push(Baseline::of(&counts[..PERIODS - 1]));
        }
    }
    by_level.map(|b| pooled_size(&b))
}

/// Whether `child` lies within `parent` along the slice hierarchy (client × product within its
/// client and its product, product × region within its product and its region).
fn within(child: &Slice, parent: &Slice) -> bool {
    let keys = |s: &Slice| [s.client.is_some(), s.product.is_some(), s.region.is_some()];
    let (c, p) = (keys(child), keys(parent));
    let fewer = p.iter().filter(|&&b| b).count() < c.iter().filter(|&&b| b).count();
    let agrees = |a: &Option<String>, b: &Option<String>| b.is_none() || a == b;
    fewer
        && agrees(&child.client, &parent.client)
        && agrees(&child.product, &parent.product)
        && agrees(&child.region, &parent.region)
}

/// Whether `child` and `parent` can share escalations without one lying within the other: a
/// client's slice against a region's (`Globex on Billing` and `Billing in Europe`, `Globex` and
/// `Europe`). Their common escalations are counted by the index (see [`Overlap`]).
fn across(child: &Slice, parent: &Slice) -> bool {
    let agrees = |a: &Option<String>, b: &Option<String>| a.is_none() || b.is_none() || a == b;
    child.client.is_some()
        && parent.client.is_none()
        && parent.region.is_some()
        && child.region.is_none()
        && agrees(&child.product, &parent.product)
}

/// The counts over the series' periods of the escalations in both slices, when the index can
/// tell (the slices do not record how a client's escalations spread over the regions).
pub type Overlap<'a> = &'a dyn Fn(&Slice, &Slice) -> Option<Counts>;

/// For each finding, whether it stays: a parent goes when one child's finding explains it.
fn explained(
    series: &SliceSeries,
    found: &[(usize, Test)],
    cuts: &[Cuts; 5],
    share: f64,
    sizes: &Sizes,
    overlap: Overlap<'_>,
) -> Vec<bool> {
    found
        .iter()
        .map(|&(k, test)| {
            let (parent, counts) = &series.slices[k];
            !found.iter().any(|&(j, child_test)| {
                let (child, child_counts) = &series.slices[j];
                if j == k || child_test.kind.is_up() != test.kind.is_up() {
                    return false;
                }
                let excess_in = |part_counts: &Counts, inside: f64| {
                    let mut total = 0.0;
                    let mut by_period = [0.0; PERIODS];
                    for back in 0..child_test.span {
                        let i = PERIODS - 1 - back;
                        let part = if back == 0 { share } else { 1.0 };
                        by_period[i] = f64::from(part_counts[i]) - child_test.level * part * inside;
                        total += by_period[i];
                    }
                    (total, by_period)
                };
                let parent_excess: f64 = (0..child_test.span)
                    .map(|back| {
                        let i = PERIODS - 1 - back;
                        let part = if back == 0 { share } else { 1.0 };
                        f64::from(counts[i]) - test.level * part
                    })
                    .sum();
                // The child's excess inside the parent.
                let (child_excess, by_period) = if within(child, parent) {
                    excess_in(child_counts, 1.0)
                } else if across(child, parent) {
                    // The child's whole excess bounds its part inside: check that first.
                    if excess_in(child_counts, 1.0).0.abs() < 0.5 * parent_excess.abs() {
                        return false;
                    }
                    let Some(both) = overlap(child, parent) else {
                        return false;
                    };
                    let past = |c: &Counts| c[..PERIODS - child_test.span].iter().sum::<u32>();
                    let inside = if past(child_counts) > 0 {
                        f64::from(past(&both)) / f64::from(past(child_counts))
                    } else {
                        1.0
                    };
                    excess_in(&both, inside)
                } else {
                    return false;
                };
                // It explains the parent when it is most of the parent's change, and the
                // parent without it would not be a finding.
                if child_excess.abs() < 0.5 * parent_excess.abs() {
                    return false;
                }
                let mut adjusted = *counts;
                for (i, e) in by_period.iter().enumerate() {
                    adjusted[i] = (f64::from(counts[i]) - e).round().max(0.0) as u32;
                }
                decide(
                    &judge(&adjusted, share, sizes[level_of(parent)]),
                    &cuts[level_of(parent)],
                )
                .is_none_or(|t| t.kind.is_up() != test.kind.is_up())
            })
        })
        .collect()
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn finding(series: &SliceSeries, filter: &Filter, k: usize, t: Test) -> Finding {
    let (slice, counts) = &series.slices[k];
    let observed = counts[PERIODS - 1];
    Finding {
        kind: t.kind,
        slice: slice.clone(),
        observed,
        expected: round2(t.expected),
        p_value: Some(t.p),
        score: round2(-t.p.max(1e-300).log10()),
        history: *counts,
        summary: summary(series, slice, counts, t),
        drill: drill(series, slice, filter),
    }
}

/// An expected count as people read it, in summaries, cards and tooltips alike: two decimals
/// under 1 (`0.05`), one above (`2.1`).
pub fn expected_text(e: f64) -> String {
    if e < 1.0 {
        format!("{e:.2}")
    } else {
        format!("{e:.1}")
    }
}

/// `Globex`, `Billing`, `Europe`, `Globex on Billing`, `Billing in Europe`.
pub fn slice_name(s: &Slice) -> String {
    match (&s.client, &s.product, &s.region) {
        (Some(c), Some(p), _) => format!("{c} on {p}"),
        (None, Some(p), Some(r)) => format!("{p} in {r}"),
        (Some(c), None, _) => c.clone(),
        (None, Some(p), None) => p.clone(),
        (None, None, Some(r)) => r.clone(),
        (None, None, None) => "All escalations".to_owned(),
    }
}

/// `November 2026` or `the week of 2026-11-23`.
fn period_name(period: Period, from: NaiveDate) -> String {
    match period {
        Period::Month => from.format("%B %Y").to_string(),
        Period::Week => format!("the week of {from}"),
    }
}

fn summary(series: &SliceSeries, slice: &Slice, counts: &Counts, t: Test) -> String {
    let who = slice_name(slice);
    let unit = series.period.as_str();
    let Some(&(from, to)) = series.periods.last() else {
        return who;
    };
    let partial = elapsed(series) < 1.0;
    let when = if partial {
        format!(
            "so far in {} (to {})",
            period_name(series.period, from),
            to.format("%-d %b")
        )
    } else {
        format!("in {}", period_name(series.period, from))
    };
    let observed = counts[PERIODS - 1];
    let plural = |n: u32| if n == 1 { "escalation" } else { "escalations" };
    match t.kind {
        Kind::Spike => format!(
            "{who}: {observed} {} {when}, against {} expected from the 12 {unit}s before \
             ({:.1}× the usual).",
            plural(observed),
            expected_text(t.expected),
            f64::from(observed) / t.expected.max(0.05)
        ),
        Kind::Emerging => format!(
            "{who}: {observed} {} {when}, after next to nothing in the 12 {unit}s before.",
            plural(observed)
        ),
        Kind::Rising => {
            let [a, b, c] = [
                counts[PERIODS - 3],
                counts[PERIODS - 2],
                counts[PERIODS - 1],
            ];
            format!(
                "{who}: climbing for three {unit}s ({a}, {b}, then {c} {when}), against about \
                 {:.1} a {unit} before.",
                t.level
            )
        }
        Kind::Cooling => {
            let lasting = if t.span > 1 {
                format!(", low for {} {unit}s", t.span)
            } else {
                String::new()
            };
            format!(
                "{who}: down to {observed} {when}{lasting}, from about {:.1} a {unit} before: \
                 good news to report.",
                t.level
            )
        }
    }
}

/// `/data?client=…&product=…&from=…&to=…`: the filter's lists with the slice's values in place
/// of those it fixes, over the current period.
fn drill(series: &SliceSeries, slice: &Slice, filter: &Filter) -> String {
    let (from, to) = series
        .periods
        .last()
        .copied()
        .unwrap_or((series.as_of, series.as_of));
    let one = |v: &Option<String>, all: &Vec<String>| match v {
        Some(v) => vec![v.clone()],
        None => all.clone(),
    };
    let f = Filter {
        from: Some(from),
        to: Some(to),
        clients: one(&slice.client, &filter.clients),
        products: one(&slice.product, &filter.products),
        regions: one(&slice.region, &filter.regions),
        ..filter.clone()
    };
    format!("/data?{}", f.query_string())
}

/// Used by the tests and the dashboard: a finding's kind in people's words.
pub fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Spike => "Spike",
        Kind::Emerging => "New hotspot",
        Kind::Rising => "Rising",
        Kind::Cooling => "Cooling",
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn slice(client: &str) -> Slice {
        Slice {
            client: Some(client.to_owned()),
            product: None,
            region: None,
        }
    }

    fn cell(client: &str, product: &str) -> Slice {
        Slice {
            client: Some(client.to_owned()),
            product: Some(product.to_owned()),
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

    fn noise() -> Vec<(Slice, Counts)> {
        (0..200)
            .map(|i| (slice(&format!("Noise {i:03}")), steady(2 + i % 7)))
            .collect()
    }

    fn kinds(found: &[Finding]) -> Vec<(Kind, String)> {
        found
            .iter()
            .map(|f| (f.kind, slice_name(&f.slice)))
            .collect()
    }

    fn run(slices: Vec<(Slice, Counts)>) -> Vec<Finding> {
        find(&series(slices), &Filter::default())
    }

    #[test]
    fn each_kind_on_its_own_history_and_nothing_in_a_quiet_world() {
        let mut spike = steady(3);
        spike[12] = 16;
        let mut emerging = [0; PERIODS];
        emerging[12] = 8;
        let rising: Counts = [4, 5, 3, 4, 4, 5, 4, 3, 4, 8, 9, 11, 12];
        let cooling: Counts = [12, 11, 13, 12, 10, 12, 11, 13, 12, 12, 12, 3, 2];
        let mut all = noise();
        all.extend([
            (slice("Spike Co"), spike),
            (slice("Emerging Co"), emerging),
            (slice("Rising Co"), rising),
            (slice("Cooling Co"), cooling),
        ]);
        let found = run(all);
        let mut got = kinds(&found);
        got.sort_by(|a, b| a.1.cmp(&b.1));
        let want = |k, s: &str| (k, s.to_owned());
        assert_eq!(
            got,
            [
                want(Kind::Cooling, "Cooling Co"),
                want(Kind::Emerging, "Emerging Co"),
                want(Kind::Rising, "Rising Co"),
                want(Kind::Spike, "Spike Co"),
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
        assert_eq!(
            s.drill,
            "/data?from=2026-01-01&to=2026-01-31&client=Spike+Co"
        );
        assert!(
            s.summary
                .starts_with("Spike Co: 16 escalations in January 2026, against 3.0 expected")
                && s.summary.ends_with("the usual)."),
            "{}",
            s.summary
        );
        let c = found
            .iter()
            .find(|f| f.kind == Kind::Cooling)
            .expect("cooling");
        assert!(c.summary.contains("low for 2 months"), "{}", c.summary);
        assert!(
            found.windows(2).all(|w| w[0].score >= w[1].score),
            "sorted by score"
        );
        assert!(run(noise()).is_empty(), "a quiet world has nothing to say");
    }

    #[test]
    fn a_rise_that_inflates_the_trailing_mean_is_still_caught_and_one_bad_month_is_not_a_rise() {
        // A plain mean of the last 12 months is 7.2: the current 12 is not twice it.
        let climb: Counts = [4, 5, 4, 4, 5, 4, 4, 5, 4, 9, 11, 13, 14];
        let mut all = noise();
        all.push((slice("Climb Co"), climb));
        let found = run(all);
        assert_eq!(kinds(&found), [(Kind::Rising, "Climb Co".to_owned())]);
        assert!((4.0..=4.6).contains(&found[0].expected), "{:?}", found[0]);
        // One bad month, then back: no rise, and no spike either (the current month is normal).
        let blip: Counts = [4, 5, 4, 4, 5, 4, 4, 5, 4, 4, 16, 4, 5];
        let mut all = noise();
        all.push((slice("Blip Co"), blip));
        assert!(run(all).is_empty());
    }

    #[test]
    fn a_cell_that_explains_its_client_is_listed_and_the_client_is_not() {
        // Globex's rise is all on Billing; Initech's is spread over three products.
        let quiet_cell = steady(3);
        let mut billing = steady(3);
        billing[12] = 25;
        let mut globex = [0; PERIODS];
        for (i, n) in globex.iter_mut().enumerate() {
            *n = quiet_cell[i] * 2 + billing[i];
        }
        let mut spread = Vec::new();
        let mut initech = [0; PERIODS];
        for p in ["API", "Billing", "Dashboard"] {
            let mut c = steady(3);
            c[12] = 10;
            for (i, n) in initech.iter_mut().enumerate() {
                *n += c[i];
            }
            spread.push((cell("Initech", p), c));
        }
        let mut all = noise();
        all.extend([
            (slice("Globex"), globex),
            (cell("Globex", "Billing"), billing),
            (cell("Globex", "API"), quiet_cell),
            (cell("Globex", "Dashboard"), quiet_cell),
            (slice("Initech"), initech),
        ]);
        all.extend(spread);
        let found = run(all);
        let names: Vec<String> = found.iter().map(|f| slice_name(&f.slice)).collect();
        assert!(names.contains(&"Globex on Billing".to_owned()), "{names:?}");
        assert!(
            !names.contains(&"Globex".to_owned()),
            "explained by its cell: {names:?}"
        );
        assert!(
            names.contains(&"Initech".to_owned()),
            "spread over its products: {names:?}"
        );
    }

    #[test]
    fn a_period_under_way_is_judged_on_its_elapsed_part() {
        // Ten days into the month: 9 already is three times the month's pace of 9.
        let pace: Counts = [9, 9, 8, 10, 9, 9, 9, 8, 10, 9, 9, 9, 9];
        let mut s = series(vec![(slice("Pace Co"), pace)]);
        let last = s.periods.len() - 1;
        s.periods[last].1 = NaiveDate::from_ymd_opt(2026, 1, 10).expect("valid");
        let found = find(&s, &Filter::default());
        assert_eq!(kinds(&found), [(Kind::Spike, "Pace Co".to_owned())]);
        assert!(found[0].expected < 3.5);
        assert!(
            found[0]
                .summary
                .contains("so far in January 2026 (to 10 Jan)"),
            "{}",
            found[0].summary
        );
        assert!(
            found[0].drill.ends_with("to=2026-01-10&client=Pace+Co"),
            "{}",
            found[0].drill
        );
        // The same 9 over the whole month is no news.
        assert!(run(vec![(slice("Pace Co"), pace)]).is_empty());
    }

    #[test]
    fn a_clients_cell_explains_a_region_when_the_index_counts_them_together() {
        let mut cell_counts = [0; PERIODS];
        cell_counts[12] = 9;
        let pair = Slice {
            client: None,
            product: Some("Mobile App".into()),
            region: Some("Europe".into()),
        };
        let slices = vec![
            (cell("Initech", "Mobile App"), cell_counts),
            (pair.clone(), cell_counts),
        ];
        let s = series(slices.clone());
        // Without the index's counts, both are listed.
        assert_eq!(find(&s, &Filter::default()).len(), 2);
        // With them: the nine are the same nine, and the cell alone is listed.
        let overlap = |_: &Slice, _: &Slice| Some(cell_counts);
        let found = find_with(&s, &Filter::default(), &overlap);
        assert_eq!(
            kinds(&found),
            [(Kind::Emerging, "Initech on Mobile App".to_owned())]
        );
        // Had only two of the nine been in Europe, the pair stays.
        let mut two = [0; PERIODS];
        two[12] = 2;
        let overlap = |_: &Slice, _: &Slice| Some(two);
        assert_eq!(find_with(&s, &Filter::default(), &overlap).len(), 2);
    }

    #[test]
    fn within_follows_the_hierarchy() {
        let region = Slice {
            client: None,
            product: None,
            region: Some("Europe".into()),
        };
        let product_region = Slice {
            client: None,
            product: Some("API".into()),
            region: Some("Europe".into()),
        };
        let product = Slice {
            client: None,
            product: Some("API".into()),
            region: None,
        };
        assert!(within(&cell("A", "API"), &slice("A")));
        assert!(within(&cell("A", "API"), &product));
        assert!(within(&product_region, &product));
        assert!(within(&product_region, &region));
        assert!(!within(&cell("A", "API"), &slice("B")));
        assert!(!within(&slice("A"), &slice("A")));
        assert!(!within(&slice("A"), &cell("A", "API")));
        assert!(!within(&cell("A", "API"), &region));
    }
}

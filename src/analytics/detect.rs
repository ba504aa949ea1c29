//! The statistics the insight detectors (issue 13) stand on, for sparse, over-dispersed counts
//! such as a client's escalations per month. Pure functions over a slice's history; no index.
//!
//! - [`Baseline::of`]: what a slice's history predicts, after Farrington and Noufaily (the
//!   public-health outbreak detectors): a quasi-Poisson mean and dispersion from the past periods,
//!   refitted with the periods that were themselves outbreaks down-weighted (Farrington's rule
//!   with Noufaily's threshold: an Anscombe residual above 2.58 gets weight `1/r²`; three rounds,
//!   since a big outbreak first inflates the dispersion that would reveal it), so a past spike
//!   does not hide the next one; [`Baseline::predictive`] adds the estimate's own uncertainty.
//! - [`upper_tail`]: how unlikely a count at least this high is, under a negative binomial with
//!   that mean and variance `dispersion × mean` (a Poisson when the history is not
//!   over-dispersed). A negative binomial's heavier tail is what keeps a noisy slice from
//!   alarming every other month.
//!   [`lower_tail`] is the same for a count this low (a slice cooling down).
//! - [`benjamini_hochberg`]: which of many tests stand at a false-discovery rate, since thousands
//!   of slices are tested at once.

use statrs::distribution::{DiscreteCDF, NegativeBinomial, Poisson};

/// Anscombe residuals above this are down-weighted: Noufaily et al. (2013)'s 2.58 rather than
/// Farrington et al. (1996)'s 1, which at low counts treats every ordinary non-zero period as an
/// outbreak and so predicts too little.
const OUTBREAK_RESIDUAL: f64 = 2.58;

/// Rounds of refitting with down-weighted outbreaks.
const REWEIGHT_ROUNDS: usize = 3;

/// The smallest mean a test is run against: a history of zeros predicts "next to nothing", not
/// "impossible".
const MIN_MEAN: f64 = 0.05;

/// What a slice's history predicts for the next period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// The expected count.
    pub expected: f64,
    /// Variance over mean, at least 1 (1: Poisson).
    pub dispersion: f64,
    /// The history's own variance over mean, unfloored (for [`pooled_size`]).
    pub raw_dispersion: f64,
    /// Periods it was fitted on.
    pub periods: usize,
}

/// The negative-binomial size `k` (variance `μ + μ²/k`) that best fits many slices of one kind
/// at once, by the method of moments over those with at least one escalation a period:
/// `k = Σ μ² / Σ (variance − μ)`. `None` when they are not over-dispersed together (Poisson).
///
/// One slice's dispersion, from 12 periods, is a noisy estimate (its relative error is about
/// 40 %): too low, and ordinary noise alarms; too high, and a real spike is missed. Pooling
/// over the thousands of slices of a kind gives a steady one, which [`Baseline::pooled`] blends
/// with the slice's own.
pub fn pooled_size<'a>(baselines: impl IntoIterator<Item = &'a Baseline>) -> Option<f64> {
    let (mut squares, mut excess) = (0.0, 0.0);
    for b in baselines {
        if b.expected >= 1.0 && b.periods >= 6 {
            squares += b.expected * b.expected;
            excess += (b.raw_dispersion - 1.0) * b.expected;
        }
    }
    (excess > 0.0 && squares > 0.0).then(|| (squares / excess).clamp(0.5, 1e6))
}

impl Baseline {
    /// The baseline with its dispersion blended half and half with the pooled one at its mean
    /// (`1 + μ/k`), at least 1.
    pub fn pooled(self, size: Option<f64>) -> Self {
        let Some(k) = size else {
            return self;
        };
        // The slice's own estimate counts for as much as its escalations tell: little for a
        // slice with a handful, as much as the pool for one with a hundred.
        let n = self.expected * self.periods as f64;
        let own = n / (n + 100.0);
        Self {
            dispersion: (own * self.raw_dispersion + (1.0 - own) * (1.0 + self.expected / k))
                .max(1.0),
            ..self
        }
    }

    /// The dispersion to test a total over `ahead` future periods with: the count's own
    /// variance plus that of the estimated mean (`φ μ (1 + ahead / n)` for the total's mean
    /// `ahead μ`), as Farrington's threshold does.
    pub fn predictive(&self, ahead: usize) -> f64 {
        self.dispersion * (1.0 + ahead as f64 / self.periods.max(1) as f64)
    }

    /// Fits the history (oldest first, the period being judged not included).
    pub fn of(history: &[u32]) -> Self {
        let n = history.len();
        if n == 0 || history.iter().all(|&y| y == 0) {
            return Self {
                expected: MIN_MEAN,
                dispersion: 1.0,
                raw_dispersion: 1.0,
                periods: n,
            };
        }
        // Weights on the stack for the usual histories (13 periods at most), so the thousands of
        // slices an answer judges allocate nothing here.
        let mut stack = [1.0f64; 16];
        let mut heap = Vec::new();
        let weights: &mut [f64] = if n <= stack.len() {
            &mut stack[..n]
        } else {
            heap.resize(n, 1.0);
            &mut heap
        };
        // The first fit leaves out the largest period, so a big past outbreak does not inflate
        // the dispersion that would reveal it (masking); the rounds then weigh every period.
        if n >= 4
            && let Some(top) = (0..n).max_by_key(|&i| history[i])
        {
            weights[top] = 0.0;
        }
        let (mut expected, mut dispersion) = fit(history, weights);
        let mut previous_outliers = usize::MAX;
        for _ in 0..REWEIGHT_ROUNDS {
            // Refit with past outbreaks down-weighted; the weights keep their sum at n.
            let mut outliers = 0;
            for (w, &y) in weights.iter_mut().zip(history) {
                let r = anscombe(f64::from(y), expected, dispersion.max(1.0));
                *w = if r > OUTBREAK_RESIDUAL {
                    outliers += 1;
                    1.0 / (r * r)
                } else {
                    1.0
                };
            }
            let total: f64 = weights.iter().sum();
            for w in weights.iter_mut() {
                *w *= n as f64 / total;
            }
            (expected, dispersion) = fit(history, weights);
            // No outlier twice running: the fit is the plain one, and the next round would
            // repeat it.
            if outliers == 0 && previous_outliers == 0 {
                break;
            }
            previous_outliers = outliers;
        }
        Self {
            expected: expected.max(MIN_MEAN),
            dispersion: dispersion.max(1.0),
            raw_dispersion: dispersion,
            periods: n,
        }
    }
}

/// The plain mean of a history: an upper bound of its [`Baseline::of`] expectation (which only
/// ever down-weights periods above its mean), for skipping fits that could not pass a bar.
pub fn plain_mean(history: &[u32]) -> f64 {
    history.iter().map(|&y| f64::from(y)).sum::<f64>() / history.len().max(1) as f64
}

/// Weighted mean, and dispersion `Σ w (y - μ)² / μ / (Σ w - 1)` (1 without a mean).
fn fit(history: &[u32], weights: &[f64]) -> (f64, f64) {
    let n = history.len() as f64;
    let wsum: f64 = weights.iter().sum();
    let mean = history
        .iter()
        .zip(weights)
        .map(|(&y, w)| w * f64::from(y))
        .sum::<f64>()
        / wsum.max(f64::MIN_POSITIVE);
    if mean <= 0.0 || n < 2.0 {
        return (mean, 1.0);
    }
    let chi: f64 = history
        .iter()
        .zip(weights)
        .map(|(&y, w)| w * (f64::from(y) - mean).powi(2) / mean)
        .sum();
    (mean, chi / (wsum - 1.0).max(1.0))
}

/// The Anscombe residual of a count `y` against a quasi-Poisson mean and dispersion.
fn anscombe(y: f64, mean: f64, phi: f64) -> f64 {
    if mean <= 0.0 {
        return if y > 0.0 { f64::INFINITY } else { 0.0 };
    }
    let (cy, cm) = (y.cbrt(), mean.cbrt());
    1.5 * (cy * cy - cm * cm) / (cm.sqrt() * phi.sqrt())
}

/// `P(X ≥ observed)` for `X` negative binomial with this mean and variance `dispersion × mean`
/// (Poisson when `dispersion` is 1). 1 for an observed 0.
pub fn upper_tail(observed: u32, expected: f64, dispersion: f64) -> f64 {
    if observed == 0 {
        return 1.0;
    }
    let mean = expected.max(MIN_MEAN);
    let at_least = u64::from(observed - 1); // sf(k) is P(X > k)
    let p = if dispersion <= 1.0 + 1e-9 {
        Poisson::new(mean).map(|d| d.sf(at_least))
    } else {
        // Variance μ + μ²/r = φμ gives r = μ / (φ - 1); success probability r / (r + μ).
        let r = mean / (dispersion - 1.0);
        NegativeBinomial::new(r, r / (r + mean))
            .map(|d| d.sf(at_least))
            .map_err(|_| ())
            .or_else(|()| Poisson::new(mean).map(|d| d.sf(at_least)))
    };
    p.map_or(1.0, |v| v.clamp(0.0, 1.0))
}

/// `P(X ≤ observed)` for `X` distributed as in [`upper_tail`]: how unlikely a count this low is.
pub fn lower_tail(observed: u32, expected: f64, dispersion: f64) -> f64 {
    let mean = expected.max(MIN_MEAN);
    let k = u64::from(observed);
    let p = if dispersion <= 1.0 + 1e-9 {
        Poisson::new(mean).map(|d| d.cdf(k))
    } else {
        let r = mean / (dispersion - 1.0);
        NegativeBinomial::new(r, r / (r + mean))
            .map(|d| d.cdf(k))
            .map_err(|_| ())
            .or_else(|()| Poisson::new(mean).map(|d| d.cdf(k)))
    };
    p.map_or(1.0, |v| v.clamp(0.0, 1.0))
}

/// Which of `p_values` are discoveries at false-discovery rate `q` (Benjamini and Hochberg,
/// 1995): sorted ascending, every p up to the largest `p(k) ≤ k q / m`.
pub fn benjamini_hochberg(p_values: &[f64], q: f64) -> Vec<bool> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let cut = order
        .iter()
        .enumerate()
        .rev()
        .find(|(k, i)| p_values[**i] <= (*k + 1) as f64 * q / m as f64)
        .map(|(k, _)| k + 1)
        .unwrap_or(0);
    let mut out = vec![false; m];
    for &i in &order[..cut] {
        out[i] = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn tails_are_the_poisson_and_negative_binomial_ones() {
        // P(X ≥ 6) for Poisson(2) = 1 - Σ_{k≤5} e^-2 2^k / k! = 0.016563608...
        assert!(close(
            upper_tail(6, 2.0, 1.0),
            0.016_563_608_480_614_49,
            1e-9
        ));
        assert_eq!(upper_tail(0, 5.0, 3.0), 1.0);
        // Over-dispersion makes the same count less surprising.
        assert!(upper_tail(10, 3.0, 4.0) > upper_tail(10, 3.0, 1.0) * 10.0);
        // NB with mean 2 and dispersion 2: r = 2, p = 0.5; P(X ≥ 6) = P(X > 5) = 0.0625.
        assert!(close(upper_tail(6, 2.0, 2.0), 0.0625, 1e-9));
        // P(X ≤ 1) for Poisson(10) = 11 e^-10; NB(mean 2, dispersion 2): P(X ≤ 0) = 0.25.
        assert!(close(
            lower_tail(1, 10.0, 1.0),
            11.0 * (-10.0f64).exp(),
            1e-9
        ));
        assert!(close(lower_tail(0, 2.0, 2.0), 0.25, 1e-9));
        assert!(lower_tail(2, 10.0, 4.0) > lower_tail(2, 10.0, 1.0) * 5.0);
        // A history of zeros still yields a finite, tiny tail for a burst.
        assert!(upper_tail(7, 0.0, 1.0) < 1e-9);
    }

    #[test]
    fn a_past_outbreak_is_down_weighted_in_the_baseline() {
        let quiet = [3, 2, 4, 3, 3, 2, 4, 3, 2, 3, 4, 3];
        let with_spike = [3, 2, 4, 3, 40, 2, 4, 3, 2, 3, 4, 3];
        let a = Baseline::of(&quiet);
        let b = Baseline::of(&with_spike);
        assert!(close(a.expected, 3.0, 1e-9));
        assert_eq!(a.dispersion, 1.0, "no over-dispersion in a quiet history");
        // A plain mean would be 6.08; the outbreak month counts for little.
        assert!(b.expected < 3.3, "{b:?}");
        assert!(
            b.dispersion < 1.5,
            "the outbreak does not inflate the dispersion: {b:?}"
        );
        let plain_mean = with_spike.iter().sum::<u32>() as f64 / 12.0;
        assert!(b.expected < plain_mean / 1.5);
        // So the next spike still stands out.
        assert!(upper_tail(14, b.expected, b.dispersion) < 1e-3);
        let empty = Baseline::of(&[0; 12]);
        assert_eq!((empty.expected, empty.dispersion), (MIN_MEAN, 1.0));
        assert_eq!(Baseline::of(&[]).periods, 0);
    }

    #[test]
    fn benjamini_hochberg_keeps_the_textbook_discoveries() {
        // Benjamini & Hochberg's example shape: 15 p-values, q = 0.05 keeps the first four.
        let p = [
            0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
            0.5719, 0.6528, 0.7590, 1.000,
        ];
        let kept = benjamini_hochberg(&p, 0.05);
        assert_eq!(kept.iter().filter(|&&k| k).count(), 4);
        assert!(kept[..4].iter().all(|&k| k));
        // Order does not matter.
        let mut shuffled = p;
        shuffled.reverse();
        let kept = benjamini_hochberg(&shuffled, 0.05);
        assert!(kept[11..].iter().all(|&k| k) && kept[..11].iter().all(|&k| !k));
        assert!(benjamini_hochberg(&[], 0.05).is_empty());
        assert_eq!(benjamini_hochberg(&[0.9, 0.8], 0.05), [false, false]);
    }
}

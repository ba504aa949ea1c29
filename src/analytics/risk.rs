//! Accounts ranked by risk: which clients a Technical Account Manager should call first.
//!
//! Risk is what a TAM fears, each part measured against the account itself or against everyone,
//! never by size alone, so a large steady account does not crowd out a small one that is
//! deteriorating. It is the sum of five factors (0 to 100 in all), each named with its points so
//! a score explains itself:
//! - **Volume against its norm** (up to 40): the last 90 days against the account's own average
//!   90 days over the 270 before them, `(last + 4) / (norm + 4)`, full points at three times,
//!   weighed by how sure the rise is (`(last − norm) / √(last + norm + 1)`, full weight at 3)
//!   and by how much it is (full weight at 10 more). The `+ 4` and the weights keep an account
//!   going from 0 to 5 escalations from outranking one going from 13 to 24, or 100 to 300.
//! - **Growth** (up to 25): the last 90 days against the 90 before, likewise, full points at
//!   2.5 times.
//! - **Severity** (up to 15): the High and Critical share of its last 90 days above everyone's
//!   share, shrunk towards everyone's by ten escalations' worth; full points at 40 points above.
//! - **Open backlog** (up to 12): the last 90 days' escalations still open at `as_of`, in months
//!   of the account's recent volume (plus two); full points at two months' worth. Tickets left
//!   open for years are a clean-up, not this quarter's risk.
//! - **Slow resolution** (up to 8): its mean days to resolve over the last 90 days against
//!   everyone's; full points at three times.
//!
//! `trend` is `up` when the last 90 days are at least 1.25 times the 90 before and 3 more,
//! `down` when at most 0.8 times and 3 fewer, `flat` otherwise. `history` is its 12 calendar
//! months to `as_of`'s, oldest first. One pass over the rows opened up to `as_of`.

use chrono::{Datelike, NaiveDate};

use serde::Serialize;

use super::Filter;
use super::index::{FIRST_HIGH_CODE, Index, OPEN};
use crate::domain::{Dimension, Month};

/// The default number of accounts answered.
pub const DEFAULT_LIMIT: usize = 25;
/// The most accounts one answer may carry.
pub const MAX_LIMIT: usize = 100_000;

/// Days in each of the windows compared.
const WINDOW: i32 = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    Up,
    Flat,
    Down,
}

/// One part of a risk score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    pub name: &'static str,
    pub points: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub client: String,
    /// 0 to 100: the sum of `factors`' points.
    pub risk: f64,
    pub trend: Trend,
    pub last_90_days: u32,
    pub previous_90_days: u32,
    /// High and Critical share of the last 90 days, 0 to 1.
    pub high_share: f64,
    /// Still open at `as_of`.
    pub open: u32,
    /// Mean days to resolve of the last 90 days' closed escalations.
    pub mttr_days: Option<f64>,
    /// Largest first; only those with points.
    pub factors: Vec<Factor>,
    /// 12 monthly counts, oldest first, `as_of`'s month last.
    pub history: [u32; 12],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accounts {
    /// `None` only when nothing is selected and no `as_of` was given.
    pub as_of: Option<NaiveDate>,
    /// Accounts ranked, before `limit`.
    pub total: usize,
    pub accounts: Vec<Account>,
}

impl Accounts {
    /// The same answer with its first `limit` accounts only.
    pub fn first(&self, limit: usize) -> Self {
        Self {
            accounts: self.accounts.iter().take(limit).cloned().collect(),
            ..*self
        }
    }
}

/// Per client, what the pass adds up.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    last: u32,
    previous: u32,
    /// Days 91 to 360 before `as_of`.
    before: u32,
    high: u32,
    open: u32,
    /// Opened in the last 90 days and still open.
    open_recent: u32,
    closed: u32,
    days: u64,
    history: [u32; 12],
}

impl Index {
    /// The accounts among the escalations `filter` selects (its dates are not used: `as_of`
    /// says when), riskiest first, at most `limit`.
    pub fn accounts(&self, filter: &Filter, as_of: Option<NaiveDate>, limit: usize) -> Accounts {
        let f = self.compile(&filter.without_dates());
        let Some(as_of) = as_of.or_else(|| self.last_selected_day(&f)) else {
            return Accounts {
                as_of: None,
                total: 0,
                accounts: Vec::new(),
            };
        };
        let end = as_of.num_days_from_ce();
        let hi = self.day.partition_point(|&d| d <= end);
        let lo = f.range.start.min(hi);
        let first_month = Month::of(as_of).index() - 11 - self.month_base;
        let mut tally = vec![Tally::default(); self.cardinality(Dimension::Client)];
        let (mut all_recent, mut all_high, mut all_closed, mut all_days) = (0u64, 0u64, 0u64, 0u64);
        for i in lo..hi.min(f.range.end) {
            if !f.keeps(self, i) {
                continue;
            }
            let t = &mut tally[self.client[i] as usize];
            let age = end - self.day[i];
            let resolve = self.resolve[i];
            let closed_by =
                resolve != OPEN && i64::from(self.day[i]) + i64::from(resolve) <= i64::from(end);
            t.open += u32::from(!closed_by);
            if let Ok(m) = usize::try_from(i64::from(self.month[i]) - i64::from(first_month))
                && m < 12
            {
                t.history[m] += 1;
            }
            if age < WINDOW {
                t.last += 1;
                let high = self.severity[i] >= FIRST_HIGH_CODE;
                t.high += u32::from(high);
                all_recent += 1;
                all_high += u64::from(high);
                if closed_by {
                    t.closed += 1;
                    t.days += u64::from(resolve);
                    all_closed += 1;
                    all_days += u64::from(resolve);
                }
            } else if age < 2 * WINDOW {
                t.previous += 1;
                t.before += 1;
            } else if age < 4 * WINDOW {
                t.before += 1;
            }
        }
        let everyone_high = ratio(all_high, all_recent).unwrap_or(0.0);
        let everyone_mttr = ratio(all_days, all_closed);
        let mut accounts: Vec<Account> = tally
            .iter()
            .enumerate()
            .filter(|(_, t)| t.last + t.before > 0 || t.open > 0)
            .map(|(code, t)| account(self, code as u32, t, everyone_high, everyone_mttr))
            .collect();
        accounts.sort_by(|a, b| {
            b.risk
                .total_cmp(&a.risk)
                .then(b.last_90_days.cmp(&a.last_90_days))
                .then_with(|| a.client.cmp(&b.client))
        });
        let total = accounts.len();
        accounts.truncate(limit);
        Accounts {
            as_of: Some(as_of),
            total,
            accounts,
        }
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A rise of this many escalations weighs fully.
const MORE: f64 = 10.0;

/// Escalations added to both sides of a ratio of counts.
const SHRINK: f64 = 4.0;

/// How sure a rise from `before` to `now` is: its standardised size `(now − before) /
/// √(now + before + 1)` over 3, between 0 and 1.
fn evidence(now: f64, before: f64) -> f64 {
    let sure = ((now - before) / (now + before + 1.0).sqrt() / 3.0).clamp(0.0, 1.0);
    // And how much: a TAM feels ten more escalations, not two.
    let more = ((now - before) / MORE).clamp(0.0, 1.0);
    sure * more
}

/// `max × clamp(x, 0, 1)`, to a tenth of a point.
fn points(max: f64, x: f64) -> f64 {
    round1(max * x.clamp(0.0, 1.0))
}

fn account(
    ix: &Index,
    code: u32,
    t: &Tally,
    everyone_high: f64,
    everyone_mttr: Option<f64>,
) -> Account {
    let (last, prev) = (f64::from(t.last), f64::from(t.previous));
    let norm = f64::from(t.before) / 3.0;
    // How far up, shrunk for small counts, times how sure: a rise from 1 to 8 is as steep as
    // one from 40 to 320 but far less certain.
    let volume = ((last + SHRINK) / (norm + SHRINK) - 1.0) / 2.0 * evidence(last, norm);
    let growth = ((last + SHRINK) / (prev + SHRINK) - 1.0) / 1.5 * evidence(last, prev);
    // Shrunk towards everyone's share by ten escalations' worth.
    let high_share = (f64::from(t.high) + 10.0 * everyone_high) / (last + 10.0);
    // The last 90 days' escalations still open, in months of recent volume (two a month at
    // least): tickets left open for years are a clean-up, not this quarter's risk.
    let monthly = last / 3.0;
    let backlog = f64::from(t.open_recent) / (monthly + 2.0);
    let mttr = ratio(t.days, u64::from(t.closed));
    let slow = match (mttr, everyone_mttr) {
        (Some(m), Some(e)) if e > 0.0 && t.closed >= 3 => m / e,
        _ => 1.0,
    };
    let mut factors = vec![
        Factor {
            name: "volume against its norm",
            points: points(40.0, volume),
        },
        Factor {
            name: "growth",
            points: points(25.0, growth),
        },
        Factor {
            name: "severity",
            points: points(15.0, (high_share - everyone_high) / 0.4),
        },
        Factor {
            name: "open backlog",
            points: points(12.0, backlog / 2.0),
        },
        Factor {
            name: "slow resolution",
            points: points(8.0, (slow - 1.0) / 2.0),
        },
    ];
    factors.retain(|f| f.points > 0.0);
    factors.sort_by(|a, b| b.points.total_cmp(&a.points));
    let risk = round1(factors.iter().map(|f| f.points).sum());
    let trend = if last >= 1.25 * prev && last >= prev + 3.0 {
        Trend::Up
    } else if last <= 0.8 * prev && last + 3.0 <= prev {
        Trend::Down
    } else {
        Trend::Flat
    };
    Account {
        client: ix.text_label(Dimension::Client, code).to_owned(),
        risk,
        trend,
        last_90_days: t.last,
        previous_90_days: t.previous,
        high_share: (ratio(u64::from(t.high), u64::from(t.last)).unwrap_or(0.0) * 1000.0).round()
            / 1000.0,
        open: t.open,
        mttr_days: mttr.map(|m| (m * 100.0).round() / 100.0),
        factors,
        history: t.history,
    }
}

/// `as_of`'s month and the 11 before, for labelling `history`.
pub fn history_months(as_of: NaiveDate) -> Vec<Month> {
    let last = Month::of(as_of).index();
    (0..12).map(|k| Month::from_index(last - 11 + k)).collect()
}

#[cfg(test)]
mod tests {
    use chrono::Days;

    use super::*;
    use crate::domain::Severity;
    use crate::store::IndexRow;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("valid")
    }

    /// `n` escalations for `client`, one every `every` days back from `last`.
    fn rows(
        client: &str,
        n: u64,
        every: u64,
        last: &str,
        sev: Severity,
    ) -> Vec<(String, NaiveDate, Severity)> {
        (0..n)
            .map(|k| (client.to_owned(), day(last) - Days::new(k * every), sev))
            .collect()
    }

    fn index(all: &[(String, NaiveDate, Severity)]) -> Index {
        Index::from_rows(all.iter().enumerate().map(|(i, (c, d, s))| IndexRow {
            id: i as i64,
            ticket: Some("T"),
            client: c,
            product: "API",
            region: "Europe",
            severity: *s,
            opened: *d,
            closed: Some(*d + Days::new(3)),
            status: Some("Closed"),
        }))
    }

    #[test]
    fn a_small_account_deteriorating_outranks_a_large_steady_one() {
        let mut all = rows("Big Steady", 360, 1, "2026-06-30", Severity::Medium);
        // Small: 2 a month for a year, then 12 in the last 90 days, half of them critical.
        all.extend(rows("Small Worse", 8, 40, "2026-03-31", Severity::Low));
        all.extend(rows("Small Worse", 6, 15, "2026-06-30", Severity::Critical));
        all.extend(rows("Small Worse", 6, 14, "2026-06-29", Severity::Low));
        let ix = index(&all);
        let a = ix.accounts(&Filter::default(), None, 10);
        assert_eq!(a.as_of, Some(day("2026-06-30")));
        let names: Vec<&str> = a.accounts.iter().map(|x| x.client.as_str()).collect();
        assert_eq!(names, ["Small Worse", "Big Steady"]);
        let small = &a.accounts[0];
        assert_eq!(small.trend, Trend::Up);
        assert_eq!(small.last_90_days, 12);
        assert!((small.high_share - 0.5).abs() < 1e-9);
        let sum: f64 = small.factors.iter().map(|f| f.points).sum();
        assert!(
            (round1(sum) - small.risk).abs() < 1e-9,
            "factors add up to risk"
        );
        assert!(small.factors.iter().any(|f| f.name == "severity"));
        // June 2025's one is before the 12 months.
        assert_eq!(small.history.iter().sum::<u32>(), 19);
        assert_eq!(
            small.open, 2,
            "opened on the last two days, closed three days later"
        );
        let big = &a.accounts[1];
        assert_eq!(big.trend, Trend::Flat);
        assert!(big.risk < 10.0, "{big:?}");
        assert_eq!(
            big.history,
            [26, 31, 30, 31, 30, 31, 31, 28, 31, 30, 31, 30]
        );
        assert_eq!(big.mttr_days, Some(3.0));
        // A filter and an as_of: the same account a quarter earlier was flat.
        let earlier = ix.accounts(
            &Filter {
                clients: vec!["Small Worse".into()],
                ..Filter::default()
            },
            Some(day("2026-03-31")),
            10,
        );
        assert_eq!(earlier.accounts.len(), 1);
        assert_eq!(earlier.accounts[0].trend, Trend::Flat);
        assert!(earlier.accounts[0].risk < small.risk);
        assert!(
            ix.accounts(
                &Filter {
                    clients: vec!["Nobody".into()],
                    ..Filter::default()
                },
                None,
                10
            )
            .as_of
            .is_none()
        );
    }
}

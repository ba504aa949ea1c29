//! The four stat cards as people read them, for the dashboard and the digest alike: the number,
//! and its change against the period before, or why there is none.

use super::numbers::{grouped, grouped_f};
use crate::analytics::Compared;

/// One stat card: its label, its number as printed, and its change line with the class that
/// colours it (`bad`, `good`, `neutral`; the arrow and sign say it without colour).
pub struct Card {
    pub label: &'static str,
    pub value: String,
    pub delta: String,
    pub delta_class: &'static str,
}

/// A card's change line against the period before (`before`, already per day when the data
/// covers only part of that period).
fn delta(now: f64, before: f64, percent_points: bool, scaled: &str) -> (String, &'static str) {
    let diff = now - before;
    // More escalations is worse, whichever card.
    let class = if diff.abs() < 1e-9 {
        "neutral"
    } else if diff > 0.0 {
        "bad"
    } else {
        "good"
    };
    // Arrows and signs carry the direction; the colour only repeats it.
    let arrow = if diff > 0.0 {
        "▲"
    } else if diff < 0.0 {
        "▼"
    } else {
        "="
    };
    let text = if percent_points {
        format!("{arrow} {diff:+.1} pts vs previous period ({before:.1}%)")
    } else if before > 0.0 {
        format!(
            "{arrow} {:+.0}% vs previous period ({}{scaled})",
            diff / before * 100.0,
            grouped_f(before, 0)
        )
    } else {
        format!("{arrow} +{} vs previous period (0)", grouped_f(diff, 0))
    };
    (text, class)
}

/// Why a card has no change line: no date range, or a period before that the data covers too
/// little of.
fn no_comparison(c: &Compared) -> String {
    match (&c.previous, c.first_record) {
        (Some(p), Some(first)) => format!(
            "no comparison: the period before ({} to {}) starts before the first record ({first})",
            p.from.map(|d| d.to_string()).unwrap_or_default(),
            p.to.map(|d| d.to_string()).unwrap_or_default(),
        ),
        _ => "all time · pick a date range to compare".to_owned(),
    }
}

/// A card's label, its number now and before, the number as printed, whether it is a rate (its
/// change in points) and whether it is a count (compared per day on a partly covered period).
type CardRow = (&'static str, f64, Option<f64>, String, bool, bool);

pub fn cards(c: &Compared) -> Vec<Card> {
    let (now, before) = (&c.now, c.before.as_ref());
    // Counts of a partly covered period, per day of the whole: the data's days scaled up.
    let per_day = |n: u64| n as f64 / c.covered;
    let scaled = if c.covered < 1.0 {
        format!(", per day: data covers {:.0}%", (c.covered * 100.0).floor())
    } else {
        String::new()
    };
    let rows: [CardRow; 4] = [
        (
            "Total Escalations",
            now.total_escalations as f64,
            before.map(|b| per_day(b.total_escalations)),
            grouped(now.total_escalations),
            false,
            true,
        ),
        (
            "High Severity",
            now.high_severity_count as f64,
            before.map(|b| per_day(b.high_severity_count)),
            grouped(now.high_severity_count),
            false,
            true,
        ),
        (
            "Unique Clients",
            now.unique_clients as f64,
            before.map(|b| b.unique_clients as f64),
            grouped(now.unique_clients),
            false,
            false,
        ),
        (
            "High Severity Rate",
            now.high_severity_rate,
            before.map(|b| b.high_severity_rate),
            format!("{:.1}%", now.high_severity_rate),
            true,
            false,
        ),
    ];
    rows.into_iter()
        .map(|(label, n, b, value, pts, counts)| {
            let (delta, delta_class) = match b {
                Some(b) => delta(n, b, pts, if counts { &scaled } else { "" }),
                None => (no_comparison(c), "neutral"),
            };
            Card {
                label,
                value,
                delta,
                delta_class,
            }
        })
        .collect()
}

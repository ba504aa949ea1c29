//! Issue 12's rules on rows written here: mttr and open on every dimension pair, margins with
//! `top`, shares and their refusal, this period against the last, the backlog, sparklines.

use chrono::NaiveDate;

use super::*;
use crate::domain::{Compare, Dimension, Measure, Normalize, Period, Severity};
use crate::store::IndexRow;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid test date")
}

/// (client, product, severity, opened, closed)
type Row = (
    &'static str,
    &'static str,
    Severity,
    &'static str,
    Option<&'static str>,
);

use Severity::{Critical, High, Low, Medium};

const ROWS: &[Row] = &[
    ("Acme", "API", High, "2026-01-10", Some("2026-01-14")), // 4 days
    ("Acme", "API", Critical, "2026-01-20", None),
    ("Acme", "Billing", Low, "2026-02-03", Some("2026-02-03")), // same day: 0
    ("Globex", "API", Medium, "2026-02-10", Some("2026-03-12")), // 30 days
    ("Globex", "Billing", Low, "2026-03-01", Some("2026-02-20")), // closed before opened: 0
    ("Initech", "Dashboard", Low, "2026-03-05", None),
];

fn index(rows: &[Row]) -> Index {
    Index::from_rows(rows.iter().enumerate().map(|(i, r)| IndexRow {
        id: i as i64 + 1,
        client: r.0,
        product: r.1,
        region: "Europe",
        severity: r.2,
        opened: d(r.3),
        closed: r.4.map(d),
        ticket: None,
        status: None,
    }))
}

fn q(rows: Dimension, cols: Dimension, m: Measure) -> HeatmapQuery {
    HeatmapQuery::new(rows, cols, m, None, Filter::default()).expect("valid query")
}

fn cell(map: &Heatmap, row: &str, col: &str) -> Option<f64> {
    let i = map.rows.iter().position(|r| r == row)?;
    let j = map.cols.iter().position(|c| c == col)?;
    map.values[i][j]
}

#[test]
fn mttr_and_open_on_every_dimension_pair() {
    let ix = index(ROWS);
    let dims = [
        Dimension::Client,
        Dimension::Product,
        Dimension::Region,
        Dimension::Severity,
        Dimension::Month,
        Dimension::Quarter,
        Dimension::Week,
    ];
    for a in dims {
        for b in dims {
            if a == b {
                continue;
            }
            let open = ix.heatmap(&q(a, b, Measure::Open));
            let mttr = ix.heatmap(&q(a, b, Measure::Mttr));
            // Two open escalations wherever they fall; every closed one's days in the mean.
            assert_eq!(open.total, Some(2.0), "{a} x {b}");
            let closed_days = [4.0, 0.0, 30.0, 0.0];
            let mean = (closed_days.iter().sum::<f64>() / 4.0 * 100.0).round() / 100.0;
            assert_eq!(mttr.total, Some(mean), "{a} x {b}");
            // An empty cell: 0 open, no mttr.
            for (map, empty) in [(&mttr, None), (&open, Some(0.0))] {
                for (i, row) in map.values.iter().enumerate() {
                    for (j, v) in row.iter().enumerate() {
                        if map.counts[i][j] == 0 {
                            assert_eq!(*v, empty, "{a} x {b}: empty {} cell", map.measure);
                        }
                    }
                }
            }
        }
    }
    let by = ix.heatmap(&q(Dimension::Client, Dimension::Product, Measure::Mttr));
    assert_eq!(
        cell(&by, "Acme", "API"),
        Some(4.0),
        "the open one is left out"
    );
    assert_eq!(
        cell(&by, "Acme", "Billing"),
        Some(0.0),
        "closed the same day"
    );
    assert_eq!(
        cell(&by, "Globex", "Billing"),
        Some(0.0),
        "closed before opened"
    );
    assert_eq!(cell(&by, "Initech", "Dashboard"), None, "none closed");
    assert_eq!(cell(&by, "Initech", "API"), None, "no escalation");
    let open = ix.heatmap(&q(Dimension::Client, Dimension::Product, Measure::Open));
    assert_eq!(cell(&open, "Acme", "API"), Some(1.0));
    assert_eq!(cell(&open, "Initech", "Dashboard"), Some(1.0));
    assert_eq!(cell(&open, "Globex", "API"), Some(0.0));
}

#[test]
fn margins_cover_the_rows_top_hides_and_means_are_over_escalations() {
    let ix = index(ROWS);
    let mut query = q(Dimension::Client, Dimension::Product, Measure::Count);
    query.top = Some(1);
    let m = ix.heatmap(&query);
    assert_eq!(m.rows, ["Acme"]);
    assert_eq!(m.hidden_rows, 2);
    assert_eq!(m.row_totals, [Some(3.0)]);
    // Columns in order of their totals over every row, hidden ones included.
    assert_eq!(m.cols, ["API", "Billing", "Dashboard"]);
    assert_eq!(m.col_totals, [Some(3.0), Some(2.0), Some(1.0)]);
    assert_eq!(m.total, Some(6.0));

    // mean: over the escalations of the row, column, whole set; not a mean of cell means.
    let mut query = q(Dimension::Client, Dimension::Product, Measure::Mean);
    query.top = Some(1);
    let m = ix.heatmap(&query);
    // Scores: High 3, Critical 4, Low 1, Medium 2, Low 1, Low 1.
    assert_eq!(m.total, Some(2.0));
    let acme = m.rows.iter().position(|r| r == "Acme").expect("Acme shown");
    assert_eq!(m.row_totals[acme], Some(2.67), "(3 + 4 + 1) / 3");
    let api = m.cols.iter().position(|c| c == "API").expect("API");
    assert_eq!(m.col_totals[api], Some(3.0), "(3 + 4 + 2) / 3");
    let json = serde_json::to_value(&m).expect("json");
    assert_eq!(json["total"], 2);
    assert!(json["col_totals"].is_array());
}

#[test]
fn shares_divide_by_the_row_the_column_or_the_total_and_refuse_a_mean() {
    let ix = index(ROWS);
    let base = q(Dimension::Client, Dimension::Product, Measure::Count);
    let row = ix.heatmap(
        &base
            .clone()
            .with_normalize(Some(Normalize::Row))
            .expect("ok"),
    );
    for r in &row.values {
        let sum: f64 = r.iter().flatten().sum();
        assert!((sum - 1.0).abs() < 1e-3, "{r:?}");
    }
    assert_eq!(cell(&row, "Acme", "API"), Some(0.6667));
    assert_eq!(
        row.row_totals,
        [Some(3.0), Some(2.0), Some(1.0)],
        "margins stay absolute"
    );
    let col = ix.heatmap(
        &base
            .clone()
            .with_normalize(Some(Normalize::Col))
            .expect("ok"),
    );
    assert_eq!(cell(&col, "Globex", "API"), Some(0.3333));
    assert_eq!(cell(&col, "Initech", "Dashboard"), Some(1.0));
    let total = ix.heatmap(
        &base
            .clone()
            .with_normalize(Some(Normalize::Total))
            .expect("ok"),
    );
    let all: f64 = total.values.iter().flatten().flatten().sum();
    assert!((all - 1.0).abs() < 1e-3);
    assert_eq!(
        serde_json::to_value(&total).expect("json")["normalize"],
        "total"
    );
    let open = q(Dimension::Client, Dimension::Product, Measure::Open)
        .with_normalize(Some(Normalize::Row))
        .expect("open is a count");
    assert_eq!(cell(&ix.heatmap(&open), "Acme", "API"), Some(1.0));
    for m in [Measure::Mean, Measure::Mttr] {
        let e = q(Dimension::Client, Dimension::Product, m)
            .with_normalize(Some(Normalize::Row))
            .expect_err("refused");
        assert_eq!(e.parameter(), "normalize");
    }
}

#[test]
fn the_previous_period_is_as_long_and_ends_the_day_before() {
    let ix = index(ROWS);
    let f = Filter {
        from: Some(d("2026-02-01")),
        to: Some(d("2026-03-31")),
        ..Filter::default()
    };
    let query = HeatmapQuery::new(
        Dimension::Client,
        Dimension::Product,
        Measure::Count,
        None,
        f,
    )
    .expect("valid")
    .with_compare(Some(Compare::Previous))
    .expect("valid");
    // 59 days (Feb + Mar 2026): the previous 59 end on 31 January.
    assert_eq!(
        query.previous_period(),
        Some((d("2025-12-04"), d("2026-01-31")))
    );
    let m = ix.heatmap(&query);
    assert_eq!(m.previous_from, Some(d("2025-12-04")));
    assert_eq!(m.previous_to, Some(d("2026-01-31")));
    let (prev, delta) = (
        m.previous.as_ref().expect("previous"),
        m.delta.as_ref().expect("delta"),
    );
    let at = |grid: &Vec<Vec<Option<f64>>>, r: &str, c: &str| {
        let i = m.rows.iter().position(|x| x == r).expect("row");
        let j = m.cols.iter().position(|x| x == c).expect("col");
        grid[i][j]
    };
    // Acme had 2 API escalations in January, none in Feb-Mar.
    assert_eq!(at(prev, "Acme", "Billing"), Some(0.0));
    assert_eq!(at(&m.values, "Acme", "Billing"), Some(1.0));
    assert_eq!(at(delta, "Acme", "Billing"), Some(1.0));
    // The current period's rows and columns only: Acme/API is a column here only if present now.
    assert!(m.cols.contains(&"API".to_owned()));
    assert_eq!(
        at(prev, "Acme", "API"),
        Some(2.0),
        "a label present before too"
    );
    assert_eq!(at(delta, "Acme", "API"), Some(-2.0));
    // A mean is null where a side has none, and so is its delta.
    let mean = HeatmapQuery {
        measure: Measure::Mttr,
        ..query.clone()
    };
    let m = ix.heatmap(&mean);
    let i = m.rows.iter().position(|r| r == "Initech").expect("Initech");
    assert_eq!(m.previous.as_ref().expect("previous")[i][0], None);
    assert_eq!(m.delta.as_ref().expect("delta")[i][0], None);
    // Refusals name the parameter.
    let no_dates = q(Dimension::Client, Dimension::Product, Measure::Count)
        .with_compare(Some(Compare::Previous))
        .expect_err("needs dates");
    assert_eq!(no_dates.parameter(), "compare");
    let f = Filter {
        from: Some(d("2026-02-01")),
        to: Some(d("2026-03-31")),
        ..Filter::default()
    };
    let time = HeatmapQuery::new(Dimension::Client, Dimension::Month, Measure::Count, None, f)
        .expect("valid")
        .with_compare(Some(Compare::Previous))
        .expect_err("time");
    assert_eq!(time.parameter(), "compare");
}

#[test]
fn the_backlog_counts_what_was_open_at_each_periods_end() {
    let ix = index(ROWS);
    let b = ix.backlog(&Filter::default(), Period::Month);
    assert_eq!(b.periods, ["2026-01", "2026-02", "2026-03"]);
    assert_eq!(b.opened, [2, 2, 2]);
    // Closed: Jan 14; Feb 3 (same day); Mar 12; the one "closed" Feb 20 before its March opening
    // counts as closed the day it opened.
    assert_eq!(b.closed, [1, 1, 2]);
    assert_eq!(
        b.open_at_end,
        [1, 2, 2],
        "Globex/API opened in Feb, closed in March"
    );
    assert_eq!(b.mttr_days, [Some(4.0), Some(0.0), Some(15.0)]);

    // A filter on the escalations changes the counts; from/to only which periods are shown.
    let acme = Filter {
        clients: vec!["Acme".into()],
        ..Filter::default()
    };
    let b = ix.backlog(&acme, Period::Month);
    assert_eq!(b.open_at_end, [1, 1]);
    let shown = Filter {
        from: Some(d("2026-03-01")),
        to: Some(d("2026-03-31")),
        ..Filter::default()
    };
    let b = ix.backlog(&shown, Period::Month);
    assert_eq!(b.periods, ["2026-03"]);
    assert_eq!(
        b.open_at_end,
        [2],
        "what was opened before March still counts"
    );

    let weeks = ix.backlog(&Filter::default(), Period::Week);
    assert_eq!(weeks.periods.first().map(String::as_str), Some("2026-W02"));
    assert_eq!(weeks.opened.iter().sum::<u64>(), 6);
    assert_eq!(weeks.open_at_end.last(), Some(&2));

    let json = serde_json::to_value(ix.backlog(&Filter::default(), Period::Month)).expect("json");
    for key in ["periods", "opened", "closed", "open_at_end", "mttr_days"] {
        assert!(json[key].is_array(), "{key}");
    }
    assert!(
        Index::default()
            .backlog(&Filter::default(), Period::Month)
            .periods
            .is_empty()
    );
}

#[test]
fn a_backlog_runs_to_the_last_closed_date() {
    let rows: &[Row] = &[
        ("A", "P", Low, "2026-01-10", Some("2026-04-02")),
        ("A", "P", Low, "2026-01-11", None),
    ];
    let b = index(rows).backlog(&Filter::default(), Period::Month);
    assert_eq!(b.periods, ["2026-01", "2026-02", "2026-03", "2026-04"]);
    assert_eq!(b.open_at_end, [2, 2, 2, 1]);
    assert_eq!(b.mttr_days, [None, None, None, Some(82.0)]);
}

#[test]
fn rows_without_a_time_axis_carry_their_last_twelve_months() {
    let ix = index(ROWS);
    let m = ix.heatmap(&q(Dimension::Client, Dimension::Product, Measure::Count));
    let h = m.row_history.as_ref().expect("a history");
    assert_eq!(h.periods.len(), 12);
    assert_eq!(h.periods.last().map(String::as_str), Some("2026-03"));
    assert_eq!(h.periods.first().map(String::as_str), Some("2025-04"));
    let acme = m.rows.iter().position(|r| r == "Acme").expect("Acme");
    let tail: Vec<Option<f64>> = h.values[acme][9..].to_vec();
    assert_eq!(tail, [Some(2.0), Some(1.0), Some(0.0)]);
    assert_eq!(h.values.len(), m.rows.len());
    // With a time axis there is none.
    let timed = ix.heatmap(&q(Dimension::Client, Dimension::Month, Measure::Count));
    assert!(timed.row_history.is_none());
    assert!(
        serde_json::to_value(&timed)
            .expect("json")
            .get("row_history")
            .is_none()
    );
    // The measure's, month by month: mttr is null where nothing closed.
    let mttr = ix.heatmap(&q(Dimension::Client, Dimension::Product, Measure::Mttr));
    let h = mttr.row_history.expect("a history");
    let globex = mttr
        .rows
        .iter()
        .position(|r| r == "Globex")
        .expect("Globex");
    assert_eq!(h.values[globex][10..].to_vec(), [Some(30.0), Some(0.0)]);
    assert_eq!(h.values[globex][0], None);
}

#[test]
fn sparklines_are_the_same_whether_fused_into_the_grid_or_a_pass_of_their_own() {
    // 6,000 clients and a top of 5: the sparklines of the five shown, one escalation each.
    let names: Vec<String> = (0..6_000).map(|i| format!("C{i:04}")).collect();
    let many = Index::from_rows(names.iter().enumerate().map(|(i, c)| IndexRow {
        id: i as i64,
        client: c,
        product: "P",
        region: "R",
        severity: Low,
        opened: d("2026-01-01") + chrono::Days::new((i % 300) as u64),
        closed: None,
        ticket: None,
        status: None,
    }));
    let query = HeatmapQuery {
        top: Some(5),
        ..q(Dimension::Client, Dimension::Product, Measure::Count)
    };
    let m = many.heatmap(&query);
    let h = m.row_history.expect("a history");
    assert_eq!(h.values.len(), 5);
    let sums: Vec<f64> = h.values.iter().map(|r| r.iter().flatten().sum()).collect();
    assert_eq!(sums, [1.0; 5], "each client's one escalation, in its month");

    // Each row's months are its escalations counted by hand.
    let ix = index(ROWS);
    let m = ix.heatmap(&q(Dimension::Client, Dimension::Product, Measure::Count));
    let h = m.row_history.expect("a history");
    for (row, series) in m.rows.iter().zip(&h.values) {
        for (period, v) in h.periods.iter().zip(series) {
            let by_hand = ROWS
                .iter()
                .filter(|r| r.0 == row && r.3.starts_with(period.as_str()))
                .count();
            assert_eq!(*v, Some(by_hand as f64), "{row} {period}");
        }
    }
}

//! Every dimension, measure, filter, ordering rule and the top-N cut, on rows written here.

use chrono::NaiveDate;

use super::*;
use crate::domain::{Dimension, Measure, Severity, View};
use crate::store::IndexRow;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid test date")
}

/// (client, product, region, severity, opened)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Severity,
    &'static str,
);

use Severity::{Critical, High, Low, Medium};

const ROWS: &[Row] = &[
    ("Acme", "API", "Europe", High, "2024-01-15"),
    ("Acme", "API", "Europe", Critical, "2024-01-20"),
    ("Acme", "Billing", "Asia", Low, "2024-03-02"),
    ("Globex", "API", "Europe", Medium, "2024-03-30"),
    ("Globex", "Billing", "North America", Low, "2024-04-01"),
    ("Initech", "Dashboard", "North America", Low, "2024-04-02"),
    ("Initech", "Dashboard", "North America", Low, "2024-04-03"),
    ("Initech", "Dashboard", "North America", Low, "2024-04-04"),
    ("Hooli", "API", "Asia", Critical, "2024-06-28"),
];

fn index(rows: &[Row]) -> Index {
    Index::from_rows(rows.iter().enumerate().map(|(i, r)| IndexRow {
        id: i as i64 + 1,
        client: r.0,
        product: r.1,
        region: r.2,
        severity: r.3,
        opened: d(r.4),
        closed: None,
        ticket: None,
        status: None,
    }))
}

fn q(
    rows: Dimension,
    cols: Dimension,
    measure: Measure,
    top: Option<usize>,
    filter: Filter,
) -> HeatmapQuery {
    HeatmapQuery::new(rows, cols, measure, top, filter).expect("valid query")
}

fn num(v: &[Vec<Option<f64>>]) -> Vec<Vec<f64>> {
    v.iter()
        .map(|r| r.iter().map(|x| x.unwrap_or(f64::NAN)).collect())
        .collect()
}

#[test]
fn stats_match_the_original_cards() {
    let ix = index(ROWS);
    let s = ix.stats(&Filter::default());
    assert_eq!(s.total_escalations, 9);
    assert_eq!(s.high_severity_count, 3);
    assert_eq!(s.unique_clients, 4);
    assert_eq!(s.high_severity_rate, 33.3);
    let empty = Index::default().stats(&Filter::default());
    assert_eq!(
        (empty.total_escalations, empty.high_severity_rate),
        (0, 0.0)
    );
}

#[test]
fn measures() {
    let ix = index(ROWS);
    let by = |m| {
        ix.heatmap(&q(
            Dimension::Client,
            Dimension::Product,
            m,
            None,
            Filter::default(),
        ))
    };
    let count = by(Measure::Count);
    // Rows ranked by total count: Initech 3, Acme 3 (tie -> name), Globex 2, Hooli 1.
    assert_eq!(count.rows, ["Acme", "Initech", "Globex", "Hooli"]);
    // Columns ranked too: API 4, Dashboard 3, Billing 2.
    assert_eq!(count.cols, ["API", "Dashboard", "Billing"]);
    assert_eq!(
        num(&count.values),
        [
            [2.0, 0.0, 1.0],
            [0.0, 3.0, 0.0],
            [1.0, 0.0, 1.0],
            [1.0, 0.0, 0.0]
        ]
    );

    let score = by(Measure::Score);
    // Acme: 3+4+1 = 8, Hooli 4, Globex 2+1 = 3, Initech 3.
    assert_eq!(score.rows, ["Acme", "Hooli", "Globex", "Initech"]);
    assert_eq!(
        score.row_totals,
        [Some(8.0), Some(4.0), Some(3.0), Some(3.0)]
    );

    let high = by(Measure::High);
    assert_eq!(high.rows[..2], ["Acme", "Hooli"]);
    assert_eq!(high.values[0], [Some(2.0), Some(0.0), Some(0.0)]);

    let mean = by(Measure::Mean);
    let acme = mean
        .rows
        .iter()
        .position(|r| r == "Acme")
        .expect("Acme row");
    let api = mean.cols.iter().position(|c| c == "API").expect("API col");
    let dash = mean
        .cols
        .iter()
        .position(|c| c == "Dashboard")
        .expect("Dashboard col");
    assert_eq!(mean.values[acme][api], Some(3.5));
    assert_eq!(
        mean.values[acme][dash], None,
        "the mean of no escalations is empty, not 0"
    );
    assert_eq!(mean.counts[acme][api], 2);
}

#[test]
fn severity_is_ordered_by_level_and_time_chronologically_with_gaps() {
    let ix = index(ROWS);
    let m = ix.heatmap(&q(
        Dimension::Severity,
        Dimension::Month,
        Measure::Count,
        None,
        Filter::default(),
    ));
    assert_eq!(m.rows, ["Low", "Medium", "High", "Critical"]);
    assert_eq!(
        m.cols,
        [
            "2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"
        ]
    );
    assert_eq!(num(&m.values)[0], [0.0, 0.0, 1.0, 4.0, 0.0, 0.0]);
    assert_eq!(num(&m.values)[3], [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);

    let quarters = ix.heatmap(&q(
        Dimension::Quarter,
        Dimension::Region,
        Measure::Count,
        None,
        Filter::default(),
    ));
    assert_eq!(quarters.rows, ["2024-Q1", "2024-Q2"]);
    assert_eq!(quarters.row_totals, [Some(4.0), Some(5.0)]);

    let weeks = ix.heatmap(&q(
        Dimension::Week,
        Dimension::Severity,
        Measure::Count,
        None,
        Filter::default(),
    ));
    assert_eq!(weeks.rows.first().map(String::as_str), Some("2024-W03"));
    assert_eq!(weeks.rows.last().map(String::as_str), Some("2024-W26"));
    assert_eq!(
        weeks.rows.len(),
        24,
        "every week between the first and the last, empty ones included"
    );
    // Present severities only: no row has Medium missing here, all four appear.
    assert_eq!(weeks.cols, ["Low", "Medium", "High", "Critical"]);
}

#[test]
fn iso_weeks_and_quarters_at_year_boundaries() {
    let rows: &[Row] = &[
        ("A", "P", "R", Low, "2020-12-31"),
        ("A", "P", "R", Low, "2021-01-03"),
        ("A", "P", "R", Low, "2021-01-04"),
    ];
    let ix = index(rows);
    let w = ix.heatmap(&q(
        Dimension::Week,
        Dimension::Client,
        Measure::Count,
        None,
        Filter::default(),
    ));
    // 2020-12-31 and 2021-01-03 are both in ISO week 2020-W53; 2021-01-04 starts 2021-W01.
    assert_eq!(w.rows, ["2020-W53", "2021-W01"]);
    assert_eq!(num(&w.values), [[2.0], [1.0]]);
    let qd = ix.heatmap(&q(
        Dimension::Quarter,
        Dimension::Client,
        Measure::Count,
        None,
        Filter::default(),
    ));
    assert_eq!(qd.rows, ["2020-Q4", "2021-Q1"]);
}

#[test]
fn filters() {
    let ix = index(ROWS);
    let total = |f: Filter| ix.stats(&f).total_escalations;
    assert_eq!(
        total(Filter {
            from: Some(d("2024-03-30")),
            ..Filter::default()
        }),
        6,
        "from is inclusive"
    );
    assert_eq!(
        total(Filter {
            to: Some(d("2024-03-02")),
            ..Filter::default()
        }),
        3,
        "to is inclusive"
    );
    assert_eq!(
        total(Filter {
            from: Some(d("2024-04-02")),
            to: Some(d("2024-04-03")),
            ..Filter::default()
        }),
        2
    );
    assert_eq!(
        total(Filter {
            from: Some(d("2030-01-01")),
            ..Filter::default()
        }),
        0
    );
    assert_eq!(
        total(Filter {
            clients: vec!["Acme".into(), "Hooli".into()],
            ..Filter::default()
        }),
        4
    );
    assert_eq!(
        total(Filter {
            clients: vec!["Nobody".into()],
            ..Filter::default()
        }),
        0
    );
    assert_eq!(
        total(Filter {
            products: vec!["API".into()],
            ..Filter::default()
        }),
        4
    );
    assert_eq!(
        total(Filter {
            regions: vec!["North America".into(), "Asia".into()],
            ..Filter::default()
        }),
        6
    );
    assert_eq!(
        total(Filter {
            severities: vec![Critical, High],
            ..Filter::default()
        }),
        3
    );
    let combined = Filter {
        products: vec!["API".into()],
        regions: vec!["Europe".into()],
        severities: vec![Medium, Critical],
        ..Filter::default()
    };
    assert_eq!(total(combined.clone()), 2);
    let m = ix.heatmap(&q(
        Dimension::Client,
        Dimension::Severity,
        Measure::Count,
        None,
        combined,
    ));
    assert_eq!(m.rows, ["Acme", "Globex"]);
    assert_eq!(m.cols, ["Medium", "Critical"]);
    // Time axes shrink to the filtered range.
    let jan = Filter {
        to: Some(d("2024-01-31")),
        ..Filter::default()
    };
    let m = ix.heatmap(&q(
        Dimension::Month,
        Dimension::Client,
        Measure::Count,
        None,
        jan,
    ));
    assert_eq!(m.rows, ["2024-01"]);
    let bad = Filter {
        from: Some(d("2024-02-01")),
        to: Some(d("2024-01-01")),
        ..Filter::default()
    };
    assert!(
        HeatmapQuery::new(
            Dimension::Client,
            Dimension::Month,
            Measure::Count,
            None,
            bad
        )
        .is_err()
    );
}

#[test]
fn select_returns_store_ids_in_date_order() {
    let ix = index(ROWS);
    let ids = ix.select(&Filter {
        clients: vec!["Initech".into()],
        ..Filter::default()
    });
    assert_eq!(ids, [6, 7, 8]);
}

#[test]
fn top_n_keeps_the_first_rows_and_counts_the_rest() {
    let ix = index(ROWS);
    let m = ix.heatmap(&q(
        Dimension::Client,
        Dimension::Product,
        Measure::Score,
        Some(2),
        Filter::default(),
    ));
    assert_eq!(m.rows, ["Acme", "Hooli"]);
    assert_eq!(m.hidden_rows, 2);
    let all = ix.heatmap(&q(
        Dimension::Client,
        Dimension::Product,
        Measure::Score,
        Some(10),
        Filter::default(),
    ));
    assert_eq!((all.rows.len(), all.hidden_rows), (4, 0));
    assert_eq!(
        HeatmapQuery::new(
            Dimension::Client,
            Dimension::Product,
            Measure::Count,
            Some(0),
            Filter::default()
        ),
        Err(InvalidQuery::TopZero)
    );
    assert!(matches!(
        HeatmapQuery::new(
            Dimension::Client,
            Dimension::Client,
            Measure::Count,
            None,
            Filter::default()
        ),
        Err(InvalidQuery::SameDimension(Dimension::Client))
    ));
}

#[test]
fn the_originals_views() {
    let ix = index(ROWS);
    let regional =
        ix.heatmap(&HeatmapQuery::view(View::Regional, None, Filter::default()).expect("valid"));
    assert_eq!(
        (
            regional.row_dimension,
            regional.col_dimension,
            regional.measure
        ),
        (Dimension::Region, Dimension::Severity, Measure::Count)
    );
    assert_eq!(regional.rows, ["North America", "Europe", "Asia"]);
    assert_eq!(num(&regional.values)[0], [4.0, 0.0, 0.0, 0.0]);
    let timeline = ix.heatmap(
        &HeatmapQuery::view(View::ProductTimeline, None, Filter::default()).expect("valid"),
    );
    assert_eq!((timeline.rows[0].as_str(), timeline.cols.len()), ("API", 6));
    let overview = ix.heatmap(
        &HeatmapQuery::view(View::ClientOverview, None, Filter::default()).expect("valid"),
    );
    assert_eq!(overview.measure, Measure::Score);
}

#[test]
fn json_shape_is_the_contract() {
    let ix = index(ROWS);
    let m = ix.heatmap(&q(
        Dimension::Region,
        Dimension::Severity,
        Measure::Count,
        Some(1),
        Filter::default(),
    ));
    let v = serde_json::to_value(&m).expect("serialises");
    assert_eq!(v["rows"], serde_json::json!(["North America"]));
    // Columns cover the filtered data, not only the rows kept by `top`.
    assert_eq!(
        v["cols"],
        serde_json::json!(["Low", "Medium", "High", "Critical"])
    );
    assert_eq!(
        v["values"],
        serde_json::json!([[4, 0, 0, 0]]),
        "integral measures are JSON integers"
    );
    assert_eq!(v["measure"], "count");
    assert_eq!(v["hidden_rows"], 2);
}

#[test]
fn many_weeks_over_many_clients_use_the_sparse_path() {
    // 3,000 clients x 500 weeks is 1.5M cells: above the dense limit when crossed with week.
    let names: Vec<String> = (0..3_000).map(|i| format!("Client {i:04}")).collect();
    let start = d("2000-01-03");
    let ix = Index::from_rows((0..6_000).map(|i| IndexRow {
        id: i,
        client: &names[i as usize % names.len()],
        product: "P",
        region: "R",
        severity: Low,
        opened: start + chrono::Days::new((i as u64 * 7) % 3_500),
        closed: None,
        ticket: None,
        status: None,
    }));
    let m = ix.heatmap(&q(
        Dimension::Client,
        Dimension::Week,
        Measure::Count,
        None,
        Filter::default(),
    ));
    let sum: f64 = m.values.iter().flatten().flatten().sum();
    assert_eq!(sum, 6_000.0);
    assert_eq!(m.rows.len(), 3_000);
    assert_eq!(m.cols.len(), 500);
}

#[test]
fn client_search_matches_substrings_ignoring_case() {
    let ix = index(ROWS);
    let f = |s: &str| Filter {
        client_search: Some(s.into()),
        ..Filter::default()
    };
    assert_eq!(ix.stats(&f("O")).total_escalations, 3, "GlObex and HOoli");
    assert_eq!(
        ix.stats(&f("  ")).total_escalations,
        9,
        "blank search is no search"
    );
    let both = Filter {
        clients: vec!["Acme".into(), "Hooli".into()],
        ..f("hoo")
    };
    assert_eq!(
        ix.stats(&both).total_escalations,
        1,
        "search and list combine"
    );
}

#[test]
fn pages_sort_by_every_column() {
    use crate::domain::SortColumn;
    let rows: Vec<IndexRow<'_>> = vec![
        IndexRow {
            id: 1,
            client: "beta",
            product: "P",
            region: "R",
            severity: High,
            opened: d("2024-01-03"),
            closed: None,
            ticket: Some("ESC-10"),
            status: Some("Open"),
        },
        IndexRow {
            id: 2,
            client: "Alpha",
            product: "P",
            region: "R",
            severity: Low,
            opened: d("2024-01-01"),
            closed: Some(d("2024-02-01")),
            ticket: Some("ESC-9"),
            status: Some("closed"),
        },
        IndexRow {
            id: 3,
            client: "gamma",
            product: "P",
            region: "R",
            severity: Critical,
            opened: d("2024-01-02"),
            closed: Some(d("2024-01-05")),
            ticket: None,
            status: None,
        },
    ];
    let ix = Index::from_rows(rows);
    let all = |s, desc| ix.page(&Filter::default(), s, desc, 0, 10).0;
    assert_eq!(all(SortColumn::Opened, false), [2, 3, 1]);
    assert_eq!(all(SortColumn::Opened, true), [1, 3, 2]);
    assert_eq!(
        all(SortColumn::Client, false),
        [2, 1, 3],
        "case-insensitive names"
    );
    assert_eq!(
        all(SortColumn::Id, false),
        [2, 1, 3],
        "ESC-9 before ESC-10; no ticket last"
    );
    assert_eq!(all(SortColumn::Severity, true), [3, 1, 2]);
    assert_eq!(
        all(SortColumn::Closed, false),
        [3, 2, 1],
        "open tickets last"
    );
    assert_eq!(
        all(SortColumn::Status, false),
        [3, 2, 1],
        "empty status first"
    );
    let (page, total) = ix.page(&Filter::default(), SortColumn::Opened, false, 1, 1);
    assert_eq!((page, total), (vec![3], 3));
    let (page, total) = ix.page(&Filter::default(), SortColumn::Opened, false, 5, 1);
    assert_eq!((page.len(), total), (0, 3));
    let (page, total) = ix.page(
        &Filter {
            severities: vec![Low, High],
            ..Filter::default()
        },
        SortColumn::Client,
        true,
        0,
        1,
    );
    assert_eq!((page, total), (vec![1], 2));
}

/// A row made from numbers: (client, product, region, severity, days after 2024-01-01, days to
/// close or none).
type Numbered = (u8, u8, u8, u8, u16, Option<u8>);

fn numbered(rows: &[Numbered]) -> Index {
    let names = |p: &str, n: u8| format!("{p}{n}");
    let (clients, products, regions): (Vec<_>, Vec<_>, Vec<_>) = rows
        .iter()
        .map(|r| (names("c", r.0), names("p", r.1), names("r", r.2)))
        .collect();
    let start = d("2024-01-01");
    Index::from_rows(rows.iter().enumerate().map(|(i, r)| {
        let opened = start + chrono::Days::new(u64::from(r.4));
        IndexRow {
            id: i as i64 + 1,
            client: &clients[i],
            product: &products[i],
            region: &regions[i],
            severity: Severity::ALL[usize::from(r.3 % 4)],
            opened,
            closed: r.5.map(|n| opened + chrono::Days::new(u64::from(n))),
            ticket: None,
            status: None,
        }
    }))
}

proptest::proptest! {
    /// A grid cut to its top `k` rows is the whole grid's first `k` rows (only those are sorted,
    /// after a partial selection), with the same columns and margins; and its cells are the rows
    /// counted one by one.
    #[test]
    fn a_cut_grid_is_the_whole_grid_truncated(
        rows in proptest::collection::vec(
            (0u8..14, 0u8..4, 0u8..3, 0u8..4, 0u16..500, proptest::option::of(0u8..60)),
            1..120,
        ),
        k in 1usize..16,
        measure in proptest::sample::select(vec![Measure::Count, Measure::Score, Measure::Mttr]),
        dims in proptest::sample::select(vec![
            (Dimension::Client, Dimension::Product),
            (Dimension::Client, Dimension::Month),
            (Dimension::Product, Dimension::Region),
            (Dimension::Region, Dimension::Severity),
            (Dimension::Month, Dimension::Client),
            (Dimension::Week, Dimension::Product),
        ]),
    ) {
        let ix = numbered(&rows);
        let whole = ix.heatmap(&q(dims.0, dims.1, measure, None, Filter::default()));
        let cut = ix.heatmap(&q(dims.0, dims.1, measure, Some(k), Filter::default()));
        let shown = k.min(whole.rows.len());
        proptest::prop_assert_eq!(&cut.rows[..], &whole.rows[..shown]);
        proptest::prop_assert_eq!(&cut.values[..], &whole.values[..shown]);
        proptest::prop_assert_eq!(&cut.counts[..], &whole.counts[..shown]);
        proptest::prop_assert_eq!(&cut.row_totals[..], &whole.row_totals[..shown]);
        proptest::prop_assert_eq!(cut.hidden_rows, whole.rows.len() - shown);
        proptest::prop_assert_eq!(&cut.cols, &whole.cols);
        proptest::prop_assert_eq!(&cut.col_totals, &whole.col_totals);
        proptest::prop_assert_eq!(cut.total, whole.total);
        if dims == (Dimension::Client, Dimension::Product) {
            for (i, client) in whole.rows.iter().enumerate() {
                for (j, product) in whole.cols.iter().enumerate() {
                    let n = rows
                        .iter()
                        .filter(|r| format!("c{}", r.0) == *client && format!("p{}", r.1) == *product)
                        .count() as u64;
                    proptest::prop_assert_eq!(whole.counts[i][j], n);
                }
            }
            let listed: u64 = whole.counts.iter().flatten().sum();
            proptest::prop_assert_eq!(listed, rows.len() as u64);
        }
    }
}

/// A grid too large to hold every cell (clients by weeks over two thousand years) is kept as a
/// map of the cells that have escalations, and answers as a dense one would: the same clients in
/// the same order with the same totals as clients by month, each week's escalations in place.
#[test]
fn a_grid_too_large_for_every_cell_answers_like_a_dense_one() {
    let mut rows: Vec<(String, NaiveDate)> = (0..45)
        .map(|c| {
            (
                format!("c{c:02}"),
                d("2024-03-04") + chrono::Days::new(c % 3),
            )
        })
        .collect();
    rows.extend(
        (0..45)
            .step_by(2)
            .map(|c| (format!("c{c:02}"), d("2024-03-11"))),
    );
    rows.push(("c07".into(), d("0002-01-01")));
    let ix = Index::from_rows(
        rows.iter()
            .enumerate()
            .map(|(i, (client, opened))| IndexRow {
                id: i as i64 + 1,
                client,
                product: "API",
                region: "Europe",
                severity: High,
                opened: *opened,
                closed: None,
                ticket: None,
                status: None,
            }),
    );
    let by = |cols, top| {
        ix.heatmap(&q(
            Dimension::Client,
            cols,
            Measure::Count,
            top,
            Filter::default(),
        ))
    };
    let (weeks, months) = (
        by(Dimension::Week, Some(30)),
        by(Dimension::Month, Some(30)),
    );
    assert!(
        weeks.cols.len() * 45 > 1 << 22,
        "{} weeks",
        weeks.cols.len()
    );
    assert_eq!(weeks.rows, months.rows);
    assert_eq!(weeks.rows[0], "c00");
    assert_eq!(weeks.row_totals, months.row_totals);
    assert_eq!(weeks.hidden_rows, 15);
    assert_eq!(weeks.total, Some(rows.len() as f64));
    let week = |label: &str| weeks.cols.iter().position(|c| c == label).expect(label);
    let (first, second) = (week("2024-W10"), week("2024-W11"));
    assert_eq!((weeks.counts[0][first], weeks.counts[0][second]), (1, 1));
    let c07 = weeks
        .rows
        .iter()
        .position(|r| r == "c07")
        .expect("c07 shown");
    assert_eq!(
        weeks.counts[c07][0], 1,
        "the year-2 escalation in the first week"
    );
    assert_eq!(weeks.counts[c07].iter().sum::<u64>(), 2);
}

//! Property tests on the library's public API. Raise the case count for a long run with
//! `PROPTEST_CASES=20000 cargo test --test it properties`.

use chrono::{Days, NaiveDate};
use escamap::analytics::{Filter, HeatmapQuery, Index};
use escamap::domain::{Dimension, Measure, Severity};
use escamap::ingest::{FileError, Source};
use escamap::render::{SvgOptions, heatmap_svg};
use escamap::store::IndexRow;
use proptest::prelude::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).expect("valid")
}

proptest! {
    /// Whatever the bytes, the importer answers with rows or a refusal, never a panic.
    #[test]
    fn importer_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(src) = Source::open(&bytes, today()) {
            let rows = src.rows().map_err(|e| TestCaseError::fail(format!("text in memory cannot fail to read: {e}")))?;
            for row in rows {
                let _ = row;
            }
        }
    }

    /// Behind a valid header, arbitrary text reaches the row mappers.
    #[test]
    fn importer_never_panics_behind_a_valid_header(
        header in prop_oneof![
            Just("client,severity,opened,closed,id,product,region,summary\n"),
            Just("name;phone;email;numberrange\n"),
            Just("Customer\tPriority\tCreated\tResolved\n"),
        ],
        body in "(?s).{0,600}",
    ) {
        let text = format!("{header}{body}");
        let src = match Source::open(text.as_bytes(), today()) {
            Ok(src) => src,
            // A NUL byte marks a binary file: refusing it whole is the right answer.
            Err(FileError::Binary { .. }) if body.contains('\0') => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("a valid header was refused: {e}"))),
        };
        let rows = src.rows().map_err(|e| TestCaseError::fail(format!("text in memory cannot fail to read: {e}")))?;
        for row in rows {
            if let Err(e) = row {
                prop_assert!(e.line >= 2, "rejections point at data lines: {e:?}");
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Row {
    client: u8,
    product: u8,
    region: u8,
    severity: u8,
    day: u16,
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    proptest::collection::vec(
        (0u8..12, 0u8..5, 0u8..4, 0u8..4, 0u16..800).prop_map(
            |(client, product, region, severity, day)| Row {
                client,
                product,
                region,
                severity,
                day,
            },
        ),
        0..300,
    )
}

fn build(rows: &[Row]) -> Index {
    let clients: Vec<String> = (0..12).map(|i| format!("Client {i}")).collect();
    let products: Vec<String> = (0..5).map(|i| format!("Product {i}")).collect();
    let regions: Vec<String> = (0..4).map(|i| format!("Region {i}")).collect();
    let start = NaiveDate::from_ymd_opt(2023, 1, 1).expect("valid");
    Index::from_rows(rows.iter().enumerate().map(|(i, r)| IndexRow {
        id: i as i64,
        client: &clients[r.client as usize],
        product: &products[r.product as usize],
        region: &regions[r.region as usize],
        severity: Severity::ALL[r.severity as usize],
        opened: start + Days::new(u64::from(r.day)),
        closed: None,
        ticket: None,
        status: None,
    }))
}

fn filter() -> impl Strategy<Value = Filter> {
    let start = NaiveDate::from_ymd_opt(2023, 1, 1).expect("valid");
    (
        proptest::option::of(0u64..800),
        proptest::option::of(0u64..800),
        proptest::collection::vec(0u8..13, 0..3),
        proptest::collection::vec(0u8..5, 0..2),
        proptest::collection::vec(0u8..4, 0..3),
    )
        .prop_map(move |(a, b, clients, products, sev)| {
            let (from, to) = match (a, b) {
                (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                other => other,
            };
            Filter {
                from: from.map(|d| start + Days::new(d)),
                to: to.map(|d| start + Days::new(d)),
                clients: clients.iter().map(|c| format!("Client {c}")).collect(),
                products: products.iter().map(|p| format!("Product {p}")).collect(),
                regions: Vec::new(),
                severities: sev.iter().map(|s| Severity::ALL[*s as usize]).collect(),
                client_search: None,
            }
        })
}

fn dims() -> impl Strategy<Value = (Dimension, Dimension)> {
    (0..Dimension::ALL.len(), 0..Dimension::ALL.len() - 1).prop_map(|(a, b)| {
        let b = if b >= a { b + 1 } else { b };
        (Dimension::ALL[a], Dimension::ALL[b])
    })
}

proptest! {
    /// Whatever the data, filter and dimensions, count cells add up to the total, high cells to
    /// the high-severity count, and nothing is lost or double-counted.
    #[test]
    fn heatmap_cells_sum_to_the_stats(rows in rows(), f in filter(), (r, c) in dims()) {
        let ix = build(&rows);
        let stats = ix.stats(&f);
        let sum = |m: Measure| -> f64 {
            let q = HeatmapQuery::new(r, c, m, None, f.clone()).expect("valid");
            ix.heatmap(&q).values.iter().flatten().flatten().sum()
        };
        prop_assert_eq!(sum(Measure::Count), stats.total_escalations as f64);
        prop_assert_eq!(sum(Measure::High), stats.high_severity_count as f64);
        let q = HeatmapQuery::new(r, c, Measure::Count, None, f.clone()).expect("valid");
        let map = ix.heatmap(&q);
        prop_assert!(map.rows.len() * map.cols.len() == map.values.iter().map(Vec::len).sum::<usize>());
        let counted: u64 = map.counts.iter().flatten().sum();
        prop_assert_eq!(counted, stats.total_escalations);
        prop_assert_eq!(ix.select(&f).len() as u64, stats.total_escalations);
    }

    /// The SVG stays well-formed XML whatever the labels.
    #[test]
    fn svg_is_well_formed_for_any_label(labels in proptest::collection::vec("\\PC{0,60}", 1..6), title in "\\PC{0,40}") {
        let day = NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid");
        let ix = Index::from_rows(labels.iter().enumerate().map(|(i, l)| IndexRow {
            id: i as i64, client: l, product: l, region: "R", severity: Severity::High, opened: day, closed: None, ticket: None, status: None,
        }));
        let q = HeatmapQuery::new(Dimension::Client, Dimension::Product, Measure::Mean, None, Filter::default()).expect("valid");
        let svg = heatmap_svg(&ix.heatmap(&q), &SvgOptions { title, ..SvgOptions::default() });
        prop_assert!(roxmltree::Document::parse(&svg).is_ok(), "not well-formed: {svg}");
    }
}

proptest! {
    /// The query-string parser answers every string with values or a 400-worthy error naming a
    /// parameter, never a panic.
    #[test]
    fn query_strings_never_panic(raw in "(?s).{0,300}", pairs in proptest::collection::vec(
        (prop_oneof![Just("from"), Just("to"), Just("client"), Just("product"), Just("region"), Just("severity"),
            Just("rows"), Just("cols"), Just("measure"), Just("top"), Just("view"), Just("page"), Just("per_page"),
            Just("sort"), Just("order"), Just("palette"), Just("q"), Just("tab")], "\\PC{0,20}"), 0..8)) {
        use escamap::web::params::Params;
        let structured: String = pairs.iter().map(|(k, v)| format!("{k}={}&", form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>())).collect();
        for q in [raw.as_str(), structured.as_str()] {
            let p = Params::parse(Some(q));
            for e in [p.filter().err(), p.heatmap().err(), p.paging().err(), p.palette().err(), p.top().err()].into_iter().flatten() {
                prop_assert!(!e.parameter.is_empty());
            }
        }
    }
}

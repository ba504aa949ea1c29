//! The index follows changes by applying them (issue 16): after any sequence of imports,
//! re-imports (last id wins) and deletes, an application that applied each change answers exactly
//! as one that loads the same store from scratch, on both backends; readers during a change see
//! the state before it or after it, never a mix.

use std::time::Duration;

use chrono::NaiveDate;
use escamap::analytics::{Filter, HeatmapQuery};
use escamap::app::App;
use escamap::domain::{Dimension, Measure, Severity, SortColumn, View};
use escamap::store::Location;
use escamap::store::testing::ScratchDb;
use proptest::prelude::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).expect("valid")
}

/// One row of a test file: pool indexes and days, the ticket from a small pool so files repeat
/// each other's tickets (and their own), and a few rows without a ticket.
#[derive(Debug, Clone)]
struct Row {
    ticket: Option<u8>,
    client: u8,
    product: u8,
    region: u8,
    severity: u8,
    opened: u16,
    closed_after: Option<u16>,
    status: Option<u8>,
}

const CLIENTS: &[&str] = &["Acme", "acme", "Zeta 10", "Zeta 9", "Émile", "Globex"];
const PRODUCTS: &[&str] = &["API", "Billing"];
const REGIONS: &[&str] = &["Europe", "Asia", "North America"];
const STATUSES: &[&str] = &["Open", "Closed", "Waiting"];

fn row() -> impl Strategy<Value = Row> {
    (
        prop::option::weighted(0.85, 0..40u8),
        0..CLIENTS.len() as u8,
        0..PRODUCTS.len() as u8,
        0..REGIONS.len() as u8,
        0..4u8,
        0..900u16,
        prop::option::of(0..120u16),
        prop::option::of(0..STATUSES.len() as u8),
    )
        .prop_map(
            |(ticket, client, product, region, severity, opened, closed_after, status)| Row {
                ticket,
                client,
                product,
                region,
                severity,
                opened,
                closed_after,
                status,
            },
        )
}

#[derive(Debug, Clone)]
enum Op {
    Import(Vec<Row>),
    /// Deletes the n-th stored import (modulo their number).
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop::collection::vec(row(), 1..20).prop_map(Op::Import),
        1 => any::<usize>().prop_map(Op::Delete),
    ]
}

fn csv(rows: &[Row]) -> String {
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid");
    let day = |d: u16| start + chrono::Days::new(u64::from(d));
    let mut out = String::from("id,client,product,region,severity,opened,closed,status\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            r.ticket.map(|t| format!("T-{t}")).unwrap_or_default(),
            CLIENTS[r.client as usize],
            PRODUCTS[r.product as usize],
            REGIONS[r.region as usize],
            Severity::ALL[r.severity as usize].as_str(),
            day(r.opened),
            r.closed_after
                .map(|c| day(r.opened + c).to_string())
                .unwrap_or_default(),
            r.status.map_or("", |s| STATUSES[s as usize]),
        ));
    }
    out
}

fn run(app: &App, op: &Op) {
    match op {
        Op::Import(rows) => {
            app.import("t.csv", csv(rows).as_bytes(), today(), &mut |_, _| {})
                .expect("imports");
        }
        Op::Delete(n) => {
            let imports = app.imports().expect("imports");
            if !imports.is_empty() {
                app.delete_import(imports[n % imports.len()].id)
                    .expect("deletes");
            }
        }
    }
}

/// Every answer the pages and the API read from the index, as text: the stats (all and a
/// filter), every view and every measure on two grids, and the escalation pages in every order.
fn answers(app: &App) -> Vec<String> {
    let filters = [
        Filter::default(),
        Filter {
            clients: vec!["acme".into()],
            severities: vec![Severity::High, Severity::Critical],
            ..Filter::default()
        },
        Filter {
            from: NaiveDate::from_ymd_opt(2024, 6, 1),
            to: NaiveDate::from_ymd_opt(2025, 3, 31),
            regions: vec!["Asia".into()],
            ..Filter::default()
        },
    ];
    let mut out = Vec::new();
    for f in &filters {
        out.push(format!("{:?}", app.stats(f).expect("stats")));
        out.push(format!("{:?}", app.stats_compared(f).expect("stats")));
        for view in View::ALL {
            let (rows, cols, measure) = view.spec();
            let q = HeatmapQuery::new(rows, cols, measure, None, f.clone()).expect("query");
            out.push(format!("{view:?} {:?}", app.heatmap(&q)));
        }
        for m in Measure::ALL {
            for (rows, cols) in [
                (Dimension::Client, Dimension::Month),
                (Dimension::Product, Dimension::Region),
            ] {
                let q = HeatmapQuery::new(rows, cols, *m, Some(4), f.clone()).expect("query");
                out.push(format!("{m:?} {:?}", app.heatmap(&q)));
            }
        }
        for sort in SortColumn::ALL {
            for descending in [false, true] {
                for page in [1, 2] {
                    let (rows, total) = app
                        .escalations_page(f, *sort, descending, page, 7)
                        .expect("page");
                    let ids: Vec<i64> = rows.iter().map(|e| e.id).collect();
                    out.push(format!("{sort:?} {descending} {page} {total} {ids:?}"));
                }
            }
        }
    }
    out
}

/// Runs `ops` on one application (which applies each change to its index) and, after each,
/// compares it with an application that loads the store from scratch.
fn follows(location: &Location, ops: &[Op]) -> Result<(), TestCaseError> {
    let app = App::open(location).expect("open").with_today(today());
    for (i, op) in ops.iter().enumerate() {
        run(&app, op);
        let fresh = App::open(location).expect("open").with_today(today());
        prop_assert!(
            *app.index() == *fresh.index(),
            "after step {i} ({op:?}) the applied index differs from the loaded one"
        );
        let (a, b) = (answers(&app), answers(&fresh));
        for (x, y) in a.iter().zip(&b) {
            prop_assert_eq!(x, y, "after step {} ({:?})", i, op);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn applied_changes_answer_as_a_full_load_sqlite(ops in prop::collection::vec(op(), 1..8)) {
        let dir = tempfile::tempdir().expect("tempdir");
        follows(&Location::Sqlite(dir.path().join("t.db")), &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn applied_changes_answer_as_a_full_load_postgres(ops in prop::collection::vec(op(), 1..8)) {
        let Some(db) = ScratchDb::create("applied_changes_answer_as_a_full_load_postgres") else {
            return Ok(());
        };
        follows(&Location::Postgres(db.url().to_owned()), &ops)?;
    }
}

/// A server answering while changes are applied: every answer a reader gets is one of the states
/// the store went through (count and high-severity count together, so a re-import that only
/// changes severities counts), and no reader sees an older state after a newer one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_during_changes_see_one_state_or_the_next() {
    let t = crate::helpers::TestApp::spawn().await;
    let batch = |from: usize, n: usize, severity: &str| {
        let mut s = String::from("id,client,product,region,severity,opened\n");
        for i in from..from + n {
            s.push_str(&format!(
                "R-{i},Client {},API,Europe,{severity},2026-0{}-1{}\n",
                i % 17,
                1 + i % 9,
                i % 10
            ));
        }
        s
    };
    // (file, state after it): new rows, more new rows, then the first rows again as high.
    let steps = [
        (batch(0, 3_000, "low"), (3_000, 0)),
        (batch(3_000, 2_000, "medium"), (5_000, 0)),
        (batch(0, 1_500, "high"), (5_000, 1_500)),
        (batch(5_000, 500, "critical"), (5_500, 2_000)),
    ];
    let app = t.state.app.clone();
    app.import("0.csv", steps[0].0.as_bytes(), today(), &mut |_, _| {})
        .expect("imports");
    let states: Vec<(u64, u64)> = steps.iter().map(|s| s.1).collect();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (t, done, states) = (t.with_new_client(), done.clone(), states.clone());
        readers.push(tokio::spawn(async move {
            let mut last = 0;
            let mut seen = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || seen == 0 {
                let (status, body) = t.json("/api/v1/stats").await;
                assert_eq!(status, 200);
                let state = (
                    body["total_escalations"].as_u64().expect("total"),
                    body["high_severity_count"].as_u64().expect("high"),
                );
                let at = states
                    .iter()
                    .position(|s| *s == state)
                    .unwrap_or_else(|| panic!("{state:?} is no state the store was in"));
                assert!(at >= last, "{state:?} came after a newer state");
                last = at;
                seen += 1;
            }
            seen
        }));
    }
    for (file, _) in &steps[1..] {
        let app = app.clone();
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            app.import("n.csv", file.as_bytes(), today(), &mut |_, _| {})
                .expect("imports")
        })
        .await
        .expect("import task");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for r in readers {
        assert!(r.await.expect("reader") > 0);
    }
    let (_, body) = t.json("/api/v1/stats").await;
    assert_eq!(body["total_escalations"], 5_500);
    assert_eq!(body["high_severity_count"], 2_000);
}

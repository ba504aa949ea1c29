//! Engine benchmarks at one million escalations made by the `demo-data` generator.
//!
//! ```text
//! cargo bench --bench engine                  # everything
//! cargo bench --bench engine -- aggregate     # only the queries
//! ESCAMAP_BENCH_ROWS=100000 cargo bench ...   # a smaller data set
//! ```
//!
//! The PostgreSQL benchmarks (`postgres/...`) run against the server in `ESCAMAP_TEST_PG` (default:
//! the local one, user postgres), each import into a new scratch database; without a server they
//! are skipped with a notice.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use escamap::analytics::{Filter, HeatmapQuery};
use escamap::app::App;
use escamap::demo::{DemoSpec, generate};
use escamap::domain::{Dimension, Measure, Period, Severity, View};

fn rows() -> u64 {
    std::env::var("ESCAMAP_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).expect("valid")
}

fn csv() -> &'static [u8] {
    static CSV: OnceLock<Vec<u8>> = OnceLock::new();
    CSV.get_or_init(|| {
        let mut buf = Vec::new();
        generate(
            &DemoSpec {
                rows: rows(),
                seed: 42,
                end: end(),
                months: 24,
            },
            &mut buf,
        )
        .expect("generate");
        buf
    })
}

/// One store with the data imported, shared by the query benchmarks.
fn app() -> &'static App {
    static APP: OnceLock<(tempfile::TempDir, App)> = OnceLock::new();
    &APP.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = App::open_sqlite(&dir.path().join("bench.db"))
            .expect("open")
            .with_limits(escamap::app::ImportLimits { max_rows: u64::MAX });
        app.import("bench.csv", csv(), end(), &mut |_, _| {})
            .expect("import");
        (dir, app)
    })
    .1
}

fn import(c: &mut Criterion) {
    let data = csv();
    let mut g = c.benchmark_group("import");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(40))
        .throughput(Throughput::Elements(rows()));
    g.bench_function("demo_csv_into_fresh_sqlite", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let app = App::open_sqlite(&dir.path().join("i.db")).expect("open");
                (dir, app)
            },
            |(dir, app)| {
                let report = app
                    .import("bench.csv", data, end(), &mut |_, _| {})
                    .expect("import");
                assert_eq!(report.imported, rows());
                (dir, app)
            },
            criterion::BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn index_load(c: &mut Criterion) {
    let app = app();
    let mut g = c.benchmark_group("index");
    g.sample_size(10).throughput(Throughput::Elements(rows()));
    g.bench_function("load_from_sqlite", |b| {
        b.iter(|| app.reload().expect("reload"))
    });
    g.finish();

    // A change of 1,000 rows committed beside the server (as `escamap import` does), then taken
    // into its index: what the server does between the commit and answering with the change.
    // Each file re-imports the same 1,000 tickets with other values, so the store stays the same
    // size from one iteration to the next: 1,000 rows retired and 1,000 applied.
    let writer = App::open_unindexed(app.location().expect("a file")).expect("open");
    let mut round = 0u32;
    let mut g = c.benchmark_group("index");
    g.sample_size(30).throughput(Throughput::Elements(1_000));
    g.bench_function("apply_1000_row_import", |b| {
        b.iter_batched(
            || {
                round += 1;
                let file = change(round);
                writer
                    .import("change.csv", file.as_bytes(), end(), &mut |_, _| {})
                    .expect("import");
            },
            |()| app.refresh().expect("refresh"),
            criterion::BatchSize::PerIteration,
        );
    });
    g.finish();
}

/// 1,000 rows with tickets of their own (`CHG-…`), their values moved by `round`.
fn change(round: u32) -> String {
    let mut s = String::from("id,client,product,region,severity,opened\n");
    for i in 0..1_000u32 {
        let day = end() - chrono::Days::new(u64::from((i * 7 + round) % 700));
        s.push_str(&format!(
            "CHG-{i},Change Client {},Billing,Europe,{},{day}\n",
            (i + round) % 50,
            ["low", "medium", "high", "critical"][((i + round) % 4) as usize],
        ));
    }
    s
}

fn postgres(c: &mut Criterion) {
    use escamap::store::Location;
    use escamap::store::testing::ScratchDb;
    let data = csv();
    let Some(db) = ScratchDb::create("postgres benchmarks") else {
        return;
    };
    let mut g = c.benchmark_group("postgres");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(60))
        .throughput(Throughput::Elements(rows()));
    g.bench_function("import_into_fresh_database", |b| {
        b.iter_batched(
            || {
                let db = ScratchDb::create("postgres import").expect("server");
                let app = App::open(&Location::parse(db.url())).expect("open");
                (db, app)
            },
            |(db, app)| {
                let report = app
                    .import("bench.csv", data, end(), &mut |_, _| {})
                    .expect("import");
                assert_eq!(report.imported, rows());
                (db, app)
            },
            criterion::BatchSize::PerIteration,
        );
    });
    let app = App::open(&Location::parse(db.url()))
        .expect("open")
        .with_limits(escamap::app::ImportLimits { max_rows: u64::MAX });
    app.import("bench.csv", data, end(), &mut |_, _| {})
        .expect("import");
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("index_load", |b| b.iter(|| app.reload().expect("reload")));
    g.finish();
}

fn filtered() -> Filter {
    Filter {
        from: NaiveDate::from_ymd_opt(2025, 11, 24),
        to: NaiveDate::from_ymd_opt(2026, 11, 24),
        products: vec!["API".into(), "Billing".into(), "Analytics".into()],
        severities: vec![Severity::High, Severity::Critical, Severity::Medium],
        ..Filter::default()
    }
}

fn aggregate(c: &mut Criterion) {
    let ix = app().index();
    assert_eq!(ix.len() as u64, rows());
    let mut g = c.benchmark_group("aggregate");
    for (name, f) in [("unfiltered", Filter::default()), ("filtered", filtered())] {
        let views: Vec<HeatmapQuery> =
            [View::ProductTimeline, View::Regional, View::ClientOverview]
                .into_iter()
                .map(|v| {
                    HeatmapQuery::view(
                        v,
                        if v == View::ClientOverview {
                            Some(25)
                        } else {
                            None
                        },
                        f.clone(),
                    )
                    .expect("valid")
                })
                .collect();
        g.bench_function(format!("stats_plus_three_views/{name}"), |b| {
            b.iter(|| {
                black_box(ix.stats(&f));
                for q in &views {
                    black_box(ix.heatmap(q));
                }
            })
        });
        g.bench_function(format!("stats/{name}"), |b| {
            b.iter(|| black_box(ix.stats(&f)))
        });
        g.bench_function(format!("client_overview/{name}"), |b| {
            b.iter(|| black_box(ix.heatmap(&views[2])))
        });
        let mttr = HeatmapQuery::new(
            Dimension::Client,
            Dimension::Product,
            Measure::Mttr,
            Some(25),
            f.clone(),
        )
        .expect("valid");
        g.bench_function(format!("client_product_mttr/{name}"), |b| {
            b.iter(|| black_box(ix.heatmap(&mttr)))
        });
        g.bench_function(format!("backlog_by_month/{name}"), |b| {
            b.iter(|| black_box(ix.backlog(&f, Period::Month)))
        });
        g.bench_function(format!("slice_series_by_month/{name}"), |b| {
            b.iter(|| black_box(ix.slice_series(&f, Period::Month, None)))
        });
        g.bench_function(format!("findings_by_month/{name}"), |b| {
            b.iter(|| black_box(ix.insights(&f, Period::Month, None, 25)))
        });
        g.bench_function(format!("accounts_ranking/{name}"), |b| {
            b.iter(|| black_box(ix.accounts(&f, None, 25)))
        });
    }
    g.finish();
}

criterion_group!(benches, aggregate, index_load, import, postgres);
criterion_main!(benches);

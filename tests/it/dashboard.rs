//! The dashboard a manager reads in ten seconds: heatmaps fitted to their panel, partial periods
//! marked, numbers with separators, people's words in every control, a default range with its
//! comparison, several values per filter in any case, a word when a filter matches nothing, and
//! no page that carries every row.

use chrono::{Datelike, Months, NaiveDate};

use crate::helpers::{TestApp, TestCli, attrs, texts};

fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

/// `n` escalations a month over the `months` months up to `last` (its month cut at `last`), over
/// two products and two regions; plus `extra` rows of Globex on Billing in Europe on `last`.
fn months_csv(months: u32, last: NaiveDate, extra: usize) -> String {
    let mut s = String::from("id,client,product,region,severity,opened\n");
    let mut id = 0;
    for m in 0..months {
        let month = last - Months::new(m);
        for k in 0..6u32 {
            let day = (1 + k * 5).min(last.day());
            let day = if m == 0 { day } else { 1 + k * 5 % 28 };
            let d = NaiveDate::from_ymd_opt(month.year(), month.month(), day).expect("a day");
            let (p, r) =
                [("Billing", "Europe"), ("API", "Asia"), ("API", "Europe")][(k % 3) as usize];
            id += 1;
            s.push_str(&format!("T-{id},Client {},{p},{r},high,{d}\n", k % 4));
        }
    }
    for _ in 0..extra {
        id += 1;
        s.push_str(&format!("T-{id},Globex,Billing,Europe,low,{last}\n"));
    }
    s
}

fn svg_width(doc: &scraper::Html, wrap: &str) -> f64 {
    attrs(doc, &format!("{wrap} svg.heatmap"), "width")[0]
        .parse()
        .expect("a width")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_year_timeline_fits_its_panel_at_desktop_and_phone_widths_with_the_newest_month() {
    let last = today() - chrono::Days::new(3);
    let t = TestApp::with_csv(&months_csv(36, last, 0)).await;
    let newest = format!("{:04}-{:02}", last.year(), last.month());
    let (status, doc) = t.html("/?range=all").await;
    assert_eq!(status, 200);
    for (wrap, panel) in [(".hm-wide", 1300.0), (".hm-narrow", 310.0)] {
        let w = svg_width(&doc, wrap);
        assert!(w <= panel, "{wrap}: {w} px in a {panel} px panel");
        let labels = texts(&doc, &format!("{wrap} .hm-cols text"));
        assert!(
            labels
                .iter()
                .any(|l| l.trim_end_matches('*').ends_with(&newest)),
            "{wrap}: the newest month {newest} is labelled: {labels:?}"
        );
        // And the SVG parses, its legend inside its width.
        let svg = doc
            .select(&scraper::Selector::parse(&format!("{wrap} svg.heatmap")).expect("sel"))
            .next()
            .expect("an svg")
            .html();
        roxmltree::Document::parse(&svg).expect("well-formed SVG");
        for x in attrs(&doc, &format!("{wrap} .hm-legend rect"), "x") {
            let x: f64 = x.parse().expect("x");
            assert!(x < w, "{wrap}: legend at {x} inside {w}");
        }
    }
    // On the phone, what is left out is the oldest, and said.
    let notes = texts(&doc, ".hm-narrow .hm-note").join(" ");
    assert!(notes.contains("the latest"), "{notes}");
    // The same fitting through the API and the command line.
    let svg = t
        .get("/api/v1/heatmap.svg?view=product-timeline&width=400")
        .await
        .text()
        .await
        .expect("svg");
    let doc = roxmltree::Document::parse(&svg).expect("svg");
    let w: f64 = doc
        .root_element()
        .attribute("width")
        .expect("w")
        .parse()
        .expect("w");
    assert!(w <= 400.0, "{w}");
    let (status, _) = t
        .json("/api/v1/heatmap.svg?view=product-timeline&width=5")
        .await;
    assert_eq!(status, 400, "a width under 200 is refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_period_the_data_does_not_cover_whole_is_marked_partial_in_json_svg_and_tooltip() {
    // The data ends on the 10th: that month is partial; the month before is whole.
    let t0 = today();
    let last = NaiveDate::from_ymd_opt(t0.year(), t0.month(), 10).expect("day") - Months::new(1);
    let t = TestApp::with_csv(&months_csv(6, last, 0)).await;
    let (_, map) = t.json("/api/v1/heatmap?view=product-timeline").await;
    let periods = map["col_periods"].as_array().expect("col_periods");
    let newest = periods.last().expect("a period");
    assert_eq!(newest["partial"], true, "{newest}");
    assert_eq!(newest["covered_to"], last.to_string());
    assert_eq!(periods[periods.len() - 2]["partial"], false);
    let (_, doc) = t.html("/?range=all").await;
    let labels = texts(&doc, ".hm-wide .hm-cols text");
    assert!(labels.last().expect("a label").ends_with('*'), "{labels:?}");
    assert_eq!(
        attrs(&doc, ".hm-wide .hm-partial rect", "data-partial").len(),
        1
    );
    let tips = texts(&doc, ".hm-wide .hm-cell title");
    assert!(
        tips.iter().any(|t| t.contains("partial period: data")),
        "{tips:?}"
    );
    assert!(
        texts(&doc, ".hm-wide .hm-note")
            .join(" ")
            .contains("* partial"),
        "the note says it in words"
    );
    // Not a time axis: no periods.
    let (_, map) = t.json("/api/v1/heatmap?view=regional").await;
    assert!(map.get("col_periods").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn numbers_carry_thousands_separators_in_cards_cells_and_tooltips() {
    let last = today() - chrono::Days::new(2);
    let t = TestApp::with_csv(&months_csv(3, last, 1_234)).await;
    let (_, doc) = t.html("/?range=all&tab=regional").await;
    let total = texts(&doc, ".card .card-value")[0].clone();
    let (_, api) = t.json("/api/v1/stats").await;
    let n = api["total_escalations"].as_u64().expect("n");
    assert!(n > 1_234);
    assert_eq!(total, format!("{},{:03}", n / 1000, n % 1000));
    let cells = texts(&doc, ".hm-wide .hm-cell text");
    assert!(cells.iter().any(|c| c.contains(',')), "{cells:?}");
    let tips = texts(&doc, ".hm-wide .hm-cell title");
    assert!(tips.iter().any(|t| t.contains("1,2")), "{tips:?}");
    let (_, data) = t.html("/data?product=Billing").await;
    assert!(texts(&data, "#data-heading")[0].contains(','));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_control_speaks_peoples_words() {
    let last = today() - chrono::Days::new(2);
    let t = TestApp::with_csv(&months_csv(3, last, 0)).await;
    let (_, doc) = t.html("/?tab=custom").await;
    let sel = scraper::Selector::parse("select option").expect("selector");
    let mut seen = 0;
    for o in doc.select(&sel) {
        let value = o.value().attr("value").unwrap_or("");
        let label = o.text().collect::<String>();
        if value.is_empty() {
            continue;
        }
        seen += 1;
        assert_ne!(label, value, "an option shows its internal name {value:?}");
    }
    assert!(
        seen >= 13,
        "rows, columns, measure and colour options: {seen}"
    );
    let measures = texts(&doc, "#c-measure option");
    for words in ["Severity score", "High + Critical", "Mean score"] {
        assert!(measures.iter().any(|m| m == words), "{measures:?}");
    }
    let (_, doc) = t.html("/?tab=resolution").await;
    assert_eq!(texts(&doc, "#bl-period option"), ["Month", "Week"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_opens_on_the_last_twelve_months_and_the_current_one_with_comparisons() {
    let last = today() - chrono::Days::new(1);
    let t = TestApp::with_csv(&months_csv(30, last, 1)).await;
    let (_, doc) = t.html("/").await;
    let first = last - Months::new(12);
    let from = NaiveDate::from_ymd_opt(first.year(), first.month(), 1).expect("day");
    assert_eq!(attrs(&doc, "#f-from", "value"), [from.to_string()]);
    assert_eq!(attrs(&doc, "#f-to", "value"), [last.to_string()]);
    let (_, api) = t
        .json(&format!("/api/v1/stats?from={from}&to={last}"))
        .await;
    let total = api["total_escalations"].as_u64().expect("n");
    assert_eq!(texts(&doc, ".card .card-value")[0], total.to_string());
    for d in texts(&doc, ".card .card-delta") {
        assert!(d.contains("vs previous period"), "every card compares: {d}");
    }
    // The range is in every link; "All time" is one click, and kept across tabs.
    let tabs = attrs(&doc, ".tabs a", "href");
    assert!(
        tabs.iter().all(|h| h.contains(&format!("from={from}"))),
        "{tabs:?}"
    );
    let all = attrs(&doc, ".ranges a", "href")
        .into_iter()
        .find(|h| h.contains("range=all"))
        .expect("an All time link");
    let (_, doc) = t.html(&all).await;
    let (_, everything) = t.json("/api/v1/stats").await;
    assert_eq!(
        texts(&doc, ".card .card-value")[0],
        everything["total_escalations"].to_string()
    );
    assert!(
        attrs(&doc, ".tabs a", "href")
            .iter()
            .all(|h| h.contains("range=all"))
    );
    // A previous period the data covers too little of is said, not turned into "+116 %".
    let short = TestApp::with_csv(&months_csv(14, last, 0)).await;
    let (_, doc) = short
        .html(&format!("/?from={}&to={last}", last - Months::new(12)))
        .await;
    let d = texts(&doc, ".card .card-delta")[0].clone();
    assert!(d.contains("starts before the first record"), "{d}");
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_take_several_values_in_any_case_on_pages_api_and_cli() {
    let last = today() - chrono::Days::new(2);
    let csv = months_csv(4, last, 5);
    let t = TestApp::with_csv(&csv).await;
    let (_, exact) = t
        .json("/api/v1/stats?product=Billing&product=API&region=Europe")
        .await;
    let (_, folded) = t
        .json("/api/v1/stats?product=billing&product=api&region=EUROPE")
        .await;
    assert_eq!(exact["total_escalations"], folded["total_escalations"]);
    assert!(
        folded["unmatched"]
            .as_array()
            .expect("unmatched")
            .is_empty()
    );
    let (_, doc) = t
        .html("/?range=all&product=billing&product=API&region=europe")
        .await;
    assert_eq!(
        texts(&doc, ".card .card-value")[0],
        exact["total_escalations"].to_string()
    );
    let mut ticked = attrs(&doc, "#f-product input[checked]", "value");
    ticked.sort();
    assert_eq!(
        ticked,
        ["API", "Billing"],
        "both boxes ticked, whatever the case"
    );
    assert_eq!(texts(&doc, "#f-product summary"), ["API + 1 more"]);

    let cli = TestCli::new();
    let file = cli.write("rows.csv", &csv);
    cli.ok(&["import", &file]);
    let out = cli.json(&[
        "stats",
        "--json",
        "--product",
        "BILLING",
        "--product",
        "api",
        "--region",
        "europe",
    ]);
    assert_eq!(out["total_escalations"], exact["total_escalations"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_that_matches_nothing_says_so_and_suggests_the_nearest_value() {
    let last = today() - chrono::Days::new(2);
    let csv = months_csv(2, last, 0);
    let t = TestApp::with_csv(&csv).await;
    let want = "no escalations for product `Biling`; did you mean Billing?";
    let (_, doc) = t.html("/?product=Biling").await;
    assert_eq!(texts(&doc, ".notice.warn"), [want]);
    let (_, doc) = t.html("/data?product=Biling").await;
    assert_eq!(texts(&doc, ".notice.warn"), [want]);
    let (_, api) = t.json("/api/v1/stats?product=Biling&region=Mars").await;
    assert_eq!(api["total_escalations"], 0);
    let unmatched = api["unmatched"].as_array().expect("unmatched");
    assert_eq!(unmatched.len(), 2);
    assert_eq!(unmatched[0]["field"], "product");
    assert_eq!(unmatched[0]["suggestion"], "Billing");
    assert_eq!(unmatched[0]["message"], want);
    assert_eq!(unmatched[1]["suggestion"], serde_json::Value::Null);
    let (_, api) = t.json("/api/v1/stats?q=nobody").await;
    assert_eq!(api["unmatched"][0]["field"], "q");

    let cli = TestCli::new();
    let file = cli.write("rows.csv", &csv);
    cli.ok(&["import", &file]);
    let out = cli.run(&["stats", "--product", "Biling"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(want), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_show_all_builds_an_unbounded_page() {
    let last = today() - chrono::Days::new(2);
    let mut csv = String::from("id,client,product,region,severity,opened\n");
    for i in 0..700 {
        csv.push_str(&format!("T-{i},Client {i:04},API,Europe,high,{last}\n"));
    }
    let t = TestApp::with_csv(&csv).await;
    let (_, doc) = t.html("/?tab=client-overview").await;
    let more = attrs(&doc, ".more a:not([download])", "href");
    for h in &more {
        let top: usize = h
            .split('&')
            .find_map(|kv| kv.strip_prefix("top="))
            .and_then(|v| v.parse().ok())
            .expect("a top");
        assert!(top <= 500, "{h}");
    }
    assert!(!more.iter().any(|h| h.contains("top=700")), "{more:?}");
    let csv_all = attrs(&doc, ".more a[download]", "href");
    let body = t.get(&csv_all[0]).await.text().await.expect("csv");
    assert_eq!(body.lines().count(), 1 + 700, "the header and every client");
    // Asking for more rows in the URL draws at most 500, and says what is hidden.
    let (_, doc) = t.html("/?tab=client-overview&top=100000").await;
    assert_eq!(
        attrs(&doc, ".hm-wide .hm-cell[data-col=\"0\"]", "data-row").len(),
        500
    );
    assert!(texts(&doc, ".more")[0].contains("200 more hidden"));
    // The table pages at most 1,000 rows and offers the CSV for the rest.
    let (status, _) = t.html("/data?per_page=5000").await;
    assert_eq!(status, 400);
    let (_, doc) = t.html("/data?per_page=1000").await;
    assert!(
        attrs(&doc, ".sizes a[download]", "href")[0].starts_with("/data.csv"),
        "every row as CSV"
    );
}

//! The web server over real HTTP: every page, tab, filter, sort, page, drill-down link,
//! download, upload and API route, and every invalid-parameter case. HTML is parsed, not
//! string-matched.

use serde_json::{Value, json};

use crate::helpers::{TestApp, attrs, fixture_csv, texts};

fn num(v: &Value) -> u64 {
    v.as_u64().expect("a number")
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_cards_match_the_stats_api_and_follow_filters() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    let (status, stats) = t.json("/api/v1/stats").await;
    assert_eq!(status, 200);
    assert_eq!(num(&stats["total_escalations"]), 60);
    let (status, doc) = t.html("/").await;
    assert_eq!(status, 200);
    let labels = texts(&doc, ".card .card-label");
    assert_eq!(
        labels,
        [
            "Total Escalations",
            "High Severity",
            "Unique Clients",
            "High Severity Rate"
        ]
    );
    let values = texts(&doc, ".card .card-value");
    assert_eq!(values[0], stats["total_escalations"].to_string());
    assert_eq!(values[1], stats["high_severity_count"].to_string());
    assert_eq!(values[2], stats["unique_clients"].to_string());
    assert_eq!(
        values[3],
        format!(
            "{:.1}%",
            stats["high_severity_rate"].as_f64().expect("rate")
        )
    );

    // A filter applies to the whole page, and the cards compare with the previous period.
    let (_, api) = t
        .json("/api/v1/stats?product=API&from=2024-03-01&to=2024-03-31")
        .await;
    let (_, doc) = t.html("/?product=API&from=2024-03-01&to=2024-03-31").await;
    assert_eq!(
        texts(&doc, ".card .card-value")[0],
        api["total_escalations"].to_string()
    );
    let (_, before) = t
        .json("/api/v1/stats?product=API&from=2024-01-31&to=2024-02-29")
        .await;
    let delta = &texts(&doc, ".card .card-delta")[0];
    assert!(delta.contains("vs previous period"), "{delta}");
    let diff = num(&api["total_escalations"]) as i64 - num(&before["total_escalations"]) as i64;
    let class = attrs(&doc, ".card .card-delta", "class")[0].clone();
    let want = if diff > 0 {
        "bad"
    } else if diff < 0 {
        "good"
    } else {
        "neutral"
    };
    assert!(
        class.contains(want),
        "an increase in escalations shows as bad: diff {diff}, class {class}"
    );
    // Filter state is in the form, so the page can be bookmarked.
    assert_eq!(attrs(&doc, "#f-from", "value"), ["2024-03-01"]);
    assert_eq!(attrs(&doc, "#f-product input[checked]", "value"), ["API"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_tab_renders_its_heatmap_as_the_api_computes_it() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    for (tab, query) in [
        ("product-timeline", "view=product-timeline"),
        ("regional", "view=regional"),
        ("client-overview", "view=client-overview&top=25"),
        ("custom", "rows=region&cols=product&measure=high&top=25"),
    ] {
        let extra = if tab == "custom" {
            "&rows=region&cols=product&measure=high"
        } else {
            ""
        };
        let (status, doc) = t.html(&format!("/?tab={tab}{extra}")).await;
        assert_eq!(status, 200, "{tab}");
        assert_eq!(attrs(&doc, ".tabs a[aria-current=page]", "href").len(), 1);
        let (_, map) = t.json(&format!("/api/v1/heatmap?{query}")).await;
        let cells = attrs(&doc, ".hm-wide .heatmap .hm-cell", "data-count");
        let rows = map["rows"].as_array().expect("rows").len();
        let cols = map["cols"].as_array().expect("cols").len();
        assert_eq!(cells.len(), rows * cols, "{tab}: one cell per value");
        let page_total: u64 = cells.iter().map(|c| c.parse::<u64>().expect("count")).sum();
        let api_total: u64 = map["counts"]
            .as_array()
            .expect("counts")
            .iter()
            .flat_map(|r| r.as_array().expect("row").iter().map(num))
            .sum();
        assert_eq!(page_total, api_total, "{tab}");
        // Every cell is a link, and names its values for screen readers via <title>.
        assert_eq!(
            attrs(&doc, ".hm-wide .heatmap a.hm-link", "href").len(),
            rows * cols
        );
        assert_eq!(
            texts(&doc, ".hm-wide .heatmap .hm-cell title").len(),
            rows * cols
        );
    }
    // Custom with the same dimension twice says so instead of failing.
    let (status, doc) = t.html("/?tab=custom&rows=client&cols=client").await;
    assert_eq!(status, 200);
    assert!(texts(&doc, ".custom .error")[0].contains("must be different"));
    let (status, doc) = t.html("/?tab=weird").await;
    assert_eq!(status, 400);
    assert!(texts(&doc, ".error-page p")[0].contains("unknown tab"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_cell_drills_down_to_exactly_its_escalations() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    for tab in ["regional", "product-timeline", "client-overview"] {
        let (_, doc) = t
            .html(&format!("/?tab={tab}&severity=high&severity=critical"))
            .await;
        let sel = scraper::Selector::parse(".hm-wide .heatmap a.hm-link").expect("selector");
        let cell_sel = scraper::Selector::parse(".hm-cell").expect("selector");
        let links: Vec<(String, u64)> = doc
            .select(&sel)
            .map(|a| {
                let count = a
                    .select(&cell_sel)
                    .next()
                    .and_then(|c| c.value().attr("data-count"))
                    .expect("count");
                (
                    a.value().attr("href").expect("href").to_owned(),
                    count.parse().expect("number"),
                )
            })
            .collect();
        assert!(!links.is_empty());
        for (href, count) in links {
            assert!(href.starts_with("/data?"), "{href}");
            let api = href.replacen("/data?", "/api/v1/escalations?per_page=1000&", 1);
            let (status, page) = t.json(&api).await;
            assert_eq!(status, 200);
            assert_eq!(num(&page["total"]), count, "{tab}: {href}");
            for item in page["items"].as_array().expect("items") {
                assert!(
                    ["High", "Critical"].contains(&item["severity"].as_str().expect("severity")),
                    "the page filter is kept"
                );
            }
            let (status, data) = t.html(&href).await;
            assert_eq!(status, 200);
            assert!(texts(&data, "#data-heading")[0].starts_with(&format!("{count} escalations")));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_overview_shows_the_top_rows_and_offers_more() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    let (_, doc) = t.html("/?tab=client-overview&top=2").await;
    assert_eq!(
        attrs(&doc, ".hm-wide .hm-cell[data-col=\"0\"]", "data-row").len(),
        2
    );
    let more = texts(&doc, ".more")[0].clone();
    assert!(more.contains("2 rows shown, 2 more hidden"), "{more}");
    let hrefs = attrs(&doc, ".more a:not([download])", "href");
    assert!(
        hrefs
            .iter()
            .any(|h| h.contains("top=4") && h.contains("tab=client-overview")),
        "{hrefs:?}"
    );
    let csv = attrs(&doc, ".more a[download]", "href");
    assert!(
        csv.len() == 1 && csv[0].starts_with("/api/v1/heatmap.csv?") && !csv[0].contains("top="),
        "every row as CSV: {csv:?}"
    );
    let (_, doc) = t.html(&hrefs[hrefs.len() - 1]).await;
    assert!(texts(&doc, ".more").is_empty(), "all rows shown");
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_are_real_files() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    let (_, doc) = t.html("/?tab=regional&region=Europe").await;
    let links = attrs(&doc, ".downloads a", "href");
    assert_eq!(links.len(), 3);
    let svg = t.get(&links[0]).await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let body = svg.text().await.expect("svg");
    roxmltree::Document::parse(&body).expect("well-formed SVG");
    assert!(
        body.contains("region: Europe"),
        "the download keeps the filter"
    );
    let png = t.get(&links[1]).await;
    assert_eq!(png.headers()["content-type"], "image/png");
    let bytes = png.bytes().await.expect("png");
    png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a decodable PNG");
    let csv = t.get(&links[2]).await.text().await.expect("csv");
    assert!(csv.starts_with("region \\ severity,"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "header and the Europe row");
}

#[tokio::test(flavor = "multi_thread")]
async fn data_pages_sort_and_download() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    // Paging: per_page=7 over 60 rows is 9 pages; together they hold every id once.
    let mut seen = std::collections::BTreeSet::new();
    for page in 1..=9 {
        let (status, doc) = t.html(&format!("/data?per_page=7&page={page}")).await;
        assert_eq!(status, 200);
        let ids = texts(&doc, "tbody tr td:first-child");
        assert_eq!(ids.len(), if page == 9 { 4 } else { 7 });
        seen.extend(ids);
        assert!(texts(&doc, ".pager span")[0].contains(&format!("Page {page} of 9")));
        assert_eq!(
            attrs(&doc, ".pager a[rel=next]", "href").len(),
            usize::from(page < 9)
        );
        assert_eq!(
            attrs(&doc, ".pager a[rel=prev]", "href").len(),
            usize::from(page > 1)
        );
    }
    assert_eq!(seen.len(), 60);

    // Sorting: every sortable header's link sorts that column.
    let (_, doc) = t.html("/data?per_page=100").await;
    let headers = attrs(&doc, "thead th a", "href");
    assert_eq!(headers.len(), 8);
    for (col, href) in headers.iter().enumerate() {
        let (_, sorted) = t.html(href).await;
        let cells: Vec<String> = texts(&sorted, &format!("tbody tr td:nth-child({})", col + 1));
        let mut expected = cells.clone();
        let key = |s: &String| s.to_lowercase();
        let desc = href.contains("order=desc");
        expected.sort_by(|a, b| {
            let (a, b) = if desc { (b, a) } else { (a, b) };
            if col == 0 {
                // ids sort naturally: T-2 before T-10
                let n = |s: &str| s.trim_start_matches("T-").parse::<u32>().unwrap_or(0);
                n(a).cmp(&n(b))
            } else if col == 4 {
                let rank = |s: &str| {
                    ["Low", "Medium", "High", "Critical"]
                        .iter()
                        .position(|x| *x == s)
                };
                rank(a).cmp(&rank(b))
            } else if col == 6 {
                // open tickets (empty closed) sort last ascending
                (a.is_empty(), key(a)).cmp(&(b.is_empty(), key(b)))
            } else {
                key(a).cmp(&key(b))
            }
        });
        assert_eq!(cells, expected, "column {col} via {href}");
        assert_eq!(attrs(&sorted, "th[aria-sort]", "aria-sort").len(), 1);
    }
    // The hostile summary is shown as text.
    let (_, doc) = t.html("/data?client=Acme&per_page=100").await;
    assert!(
        texts(&doc, "td.summary")
            .iter()
            .any(|s| s == "<script>alert('x')</script> & \"quotes\"")
    );
    assert!(
        scraper::Selector::parse("td.summary script")
            .map(|s| doc.select(&s).count())
            .unwrap_or(1)
            == 0
    );

    // CSV download of the whole filtered set.
    let (_, doc) = t.html("/data?region=Asia&per_page=5").await;
    let csv_href = attrs(&doc, ".downloads a", "href")[0].clone();
    let resp = t.get(&csv_href).await;
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .expect("header")
            .contains("attachment")
    );
    let csv = resp.text().await.expect("csv");
    assert_eq!(
        csv.lines().count(),
        1 + 20,
        "all 20 Asia rows, not one page"
    );
}

async fn upload(t: &TestApp, path: &str, name: &str, content: &[u8]) -> reqwest::Response {
    t.upload(path, name, content).await
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_from_the_browser_form() {
    let t = TestApp::spawn().await;
    let (_, doc) = t.html("/").await;
    assert_eq!(texts(&doc, "#empty-title"), ["No escalations yet"]);

    let good = upload(&t, "/import", "good.csv", fixture_csv().as_bytes()).await;
    assert_eq!(good.status().as_u16(), 201);
    let doc = scraper::Html::parse_document(&good.text().await.expect("html"));
    assert_eq!(texts(&doc, "#r-imported"), ["60"]);
    assert_eq!(texts(&doc, "#r-rejected"), ["0"]);

    // (An unknown severity would open the mapping step instead: see `mapping.rs`.)
    let bad = "client,severity,opened\nA,low,2024-01-01\n,low,2024-01-02\nB,high,2024-13-03\n";
    let resp = upload(&t, "/import", "../../etc/passwd", bad.as_bytes()).await;
    let doc = scraper::Html::parse_document(&resp.text().await.expect("html"));
    assert_eq!(texts(&doc, "#r-imported"), ["1"]);
    assert_eq!(
        texts(&doc, "table.rejected tbody tr td:first-child"),
        ["3", "4"]
    );
    assert_eq!(
        texts(&doc, "#report-title"),
        ["Imported passwd"],
        "only the file name is kept"
    );

    let resp = upload(&t, "/import", "pic.png", b"\x89PNG\r\n\x1a\n\x00\x00").await;
    assert_eq!(resp.status().as_u16(), 422);
    let doc = scraper::Html::parse_document(&resp.text().await.expect("html"));
    assert!(texts(&doc, ".refused")[0].contains("binary"));

    // The new data is on the dashboard at the next request.
    let (_, doc) = t.html("/").await;
    assert_eq!(texts(&doc, ".card .card-value")[0], "61");

    // Delete with confirmation.
    let (_, doc) = t.html("/import").await;
    let delete_links = attrs(&doc, "table.imports a.danger", "href");
    assert_eq!(delete_links.len(), 2);
    let (status, confirm) = t.html(&delete_links[1]).await;
    assert_eq!(status, 200);
    assert!(texts(&confirm, "h1")[0].starts_with("Delete import"));
    let action = attrs(&confirm, "form.confirm", "action")[0].clone();
    let resp = t.post_form(&action, &[]).await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/import?deleted=60");
    let (_, doc) = t.html("/import?deleted=60").await;
    assert!(texts(&doc, ".notice")[0].contains("60 escalations"));
    let (_, stats) = t.json("/api/v1/stats").await;
    assert_eq!(stats["total_escalations"], 1);
    assert_eq!(t.get("/import/999/delete").await.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_heatmaps_answer_as_json_svg_and_png() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    let (status, map) = t.json("/api/v1/heatmap?view=regional").await;
    assert_eq!(status, 200);
    assert_eq!(map["measure"], "count");
    assert_eq!(map["cols"], json!(["Low", "Medium", "High", "Critical"]));
    let (_, same) = t
        .json("/api/v1/heatmap?rows=region&cols=severity&measure=count")
        .await;
    assert_eq!(map["values"], same["values"]);
    let (_, top) = t
        .json("/api/v1/heatmap?rows=client&cols=month&measure=score&top=1")
        .await;
    assert_eq!(
        (
            top["rows"].as_array().map(Vec::len),
            num(&top["hidden_rows"])
        ),
        (Some(1), 3)
    );
    assert_eq!(top["cols"], json!(["2024-01", "2024-02", "2024-03"]));

    let svg = t.get("/api/v1/heatmap.svg?view=client-overview").await;
    assert_eq!(svg.status().as_u16(), 200);
    roxmltree::Document::parse(&svg.text().await.expect("svg")).expect("well-formed");
    let png = t
        .get("/api/v1/heatmap.png?view=product-timeline&palette=reds")
        .await;
    assert_eq!(png.headers()["content-type"], "image/png");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_escalations_come_in_sorted_filtered_pages_of_whole_rows() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    let (status, page) = t
        .json("/api/v1/escalations?page=2&per_page=25&sort=client&order=asc&region=Europe")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            num(&page["total"]),
            num(&page["page"]),
            num(&page["per_page"])
        ),
        (20, 2, 25)
    );
    assert_eq!(page["items"], json!([]));
    let (_, page) = t.json("/api/v1/escalations?per_page=3").await;
    let item = &page["items"][0];
    for key in [
        "id", "ticket", "client", "product", "region", "severity", "opened", "closed", "status",
        "summary", "email",
    ] {
        assert!(item.get(key).is_some(), "item has {key}: {item}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn api_imports_take_multipart_and_raw_bodies_and_deletes_show_at_once() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    // Imports: multipart and a raw text/csv body.
    let resp = upload(
        &t,
        "/api/v1/imports",
        "more.csv",
        b"client,severity,opened\nNew,P1,2024-03-30\n",
    )
    .await;
    assert_eq!(resp.status().as_u16(), 201);
    let report: Value = resp.json().await.expect("report");
    assert_eq!(
        (num(&report["imported"]), num(&report["rejected_count"])),
        (1, 0)
    );
    let csrf = t.csrf().await;
    let resp = t
        .client
        .post(t.url("/api/v1/imports?filename=raw.tsv"))
        .header("x-csrf-token", &csrf)
        .header("content-type", "text/csv")
        .body("client\tseverity\topened\nRaw\tlow\t2024-03-30\nBad\tnope\t2024-03-30\n")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 201);
    let report: Value = resp.json().await.expect("report");
    assert_eq!(
        report["rejected"],
        json!([{"line": 3, "column": "severity", "reason": report["rejected"][0]["reason"]}])
    );
    assert_eq!(report["source"], "raw.tsv");
    let resp = t
        .client
        .post(t.url("/api/v1/imports"))
        .header("x-csrf-token", &csrf)
        .header("content-type", "text/csv")
        .body("a,b\n1,2\n")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 422);
    let err: Value = resp.json().await.expect("error");
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("message")
            .contains("no recognisable columns")
    );

    let (_, imports) = t.json("/api/v1/imports").await;
    assert_eq!(imports.as_array().map(Vec::len), Some(3));
    let id = num(&imports[0]["id"]);
    let resp = t
        .client
        .delete(t.url(&format!("/api/v1/imports/{id}")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["deleted_escalations"],
        1
    );
    let resp = t
        .client
        .delete(t.url(&format!("/api/v1/imports/{id}")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 404);
    let (_, stats) = t.json("/api/v1/stats").await;
    assert_eq!(
        stats["total_escalations"], 61,
        "the change is visible at once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness_answer_without_data() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    let (status, health) = t.json("/healthz").await;
    assert_eq!((status, health["status"].clone()), (200, json!("ok")));
    // Ready or not, nothing more: anyone may ask, so it tells no counts.
    let (status, ready) = t.json("/readyz").await;
    assert_eq!((status, ready), (200, json!({"status": "ready"})));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_parameters_are_400_naming_the_parameter() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    let cases = [
        ("/api/v1/heatmap?rows=day&cols=client", "rows"),
        ("/api/v1/heatmap?rows=client", "cols"),
        ("/api/v1/heatmap", "rows"),
        ("/api/v1/heatmap?view=pie", "view"),
        (
            "/api/v1/heatmap?view=regional&rows=client&cols=month",
            "view",
        ),
        ("/api/v1/heatmap?rows=client&cols=client", "cols"),
        (
            "/api/v1/heatmap?rows=client&cols=month&measure=median",
            "measure",
        ),
        ("/api/v1/heatmap?view=regional&top=0", "top"),
        ("/api/v1/heatmap?view=regional&top=many", "top"),
        ("/api/v1/heatmap?view=regional&palette=rainbow", "palette"),
        ("/api/v1/heatmap.svg?view=regional&from=2024-13-01", "from"),
        ("/api/v1/heatmap.png?rows=week", "cols"),
        ("/api/v1/heatmap.csv?view=regional&to=tomorrow", "to"),
        ("/api/v1/stats?from=2024-03-01&to=2024-01-01", "from"),
        ("/api/v1/stats?severity=P0", "severity"),
        ("/api/v1/escalations?per_page=1001", "per_page"),
        ("/api/v1/escalations?per_page=0", "per_page"),
        ("/api/v1/escalations?page=0", "page"),
        ("/api/v1/escalations?page=-1", "page"),
        ("/api/v1/escalations?sort=summary", "sort"),
        ("/api/v1/escalations?order=sideways", "order"),
    ];
    for (path, param) in cases {
        let (status, body) = t.json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["parameter"], param, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_parameter");
    }
    for path in [
        "/?from=nope",
        "/data?per_page=5000",
        "/data?sort=nope",
        "/data.csv?severity=P0",
    ] {
        let (status, doc) = t.html(path).await;
        assert_eq!(status, 400, "{path}");
        assert!(
            !texts(&doc, ".error-page").is_empty(),
            "{path}: the error page is in the layout"
        );
    }
    let (status, body) = t.json("/api/v1/nothing").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("not_found"))
    );
    let (status, doc) = t.html("/nothing").await;
    assert_eq!(status, 404);
    assert_eq!(
        texts(&doc, "nav[aria-label=Main] a").len(),
        6,
        "404 page in the same layout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_over_the_limit_are_413() {
    let config = escamap::web::ServerConfig {
        max_body_bytes: 64 << 10,
        ..Default::default()
    };
    let t = TestApp::spawn_with(config).await;
    let big = format!(
        "client,severity,opened\n{}",
        "Acme,low,2024-01-01\n".repeat(5_000)
    );
    let resp = upload(&t, "/import", "big.csv", big.as_bytes()).await;
    assert_eq!(resp.status().as_u16(), 413);
    let doc = scraper::Html::parse_document(&resp.text().await.expect("html"));
    assert!(texts(&doc, ".error-page h1")[0].starts_with("413"));
    let resp = t
        .client
        .post(t.url("/api/v1/imports"))
        .header("x-csrf-token", t.csrf().await)
        .header("content-type", "text/csv")
        .body(big)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 413);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["error"]["code"],
        "payload_too_large"
    );
    let (_, stats) = t.json("/api/v1/stats").await;
    assert_eq!(stats["total_escalations"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn assets_are_embedded_hashed_and_cached() {
    let t = TestApp::spawn().await;
    let (_, doc) = t.html("/").await;
    let mut urls = attrs(&doc, "link[rel=stylesheet]", "href");
    urls.extend(attrs(&doc, "script[src]", "src"));
    urls.extend(attrs(&doc, "link[rel=icon]", "href"));
    assert_eq!(urls.len(), 3);
    let css = t.get(&urls[0]).await;
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .expect("header")
            .contains("immutable")
    );
    let css = css.text().await.expect("css");
    let font = css
        .split("url(\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a font url")
        .to_owned();
    let font = t.get(&font).await;
    assert_eq!(font.headers()["content-type"], "font/ttf");
    assert!(font.bytes().await.expect("font").len() > 100_000);
    for u in &urls[1..] {
        assert_eq!(t.get(u).await.status().as_u16(), 200, "{u}");
    }
    assert_eq!(
        t.get("/assets/app-000000000000.css")
            .await
            .status()
            .as_u16(),
        404
    );
    // No inline script or style anywhere on the pages.
    for page in ["/", "/data", "/import", "/?tab=custom"] {
        let (_, doc) = t.html(page).await;
        assert!(
            attrs(&doc, "script:not([src])", "type").is_empty()
                && texts(&doc, "script:not([src])").is_empty(),
            "{page}"
        );
        assert!(
            attrs(&doc, "[style]", "style").is_empty(),
            "{page}: style attribute"
        );
        assert!(texts(&doc, "style").is_empty(), "{page}: style element");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_matches_the_routes() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    let (status, doc) = t.json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    let documented: std::collections::BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .expect("ops")
                .keys()
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .collect();
    // What the route table serves under /api, and the health checks.
    let served: std::collections::BTreeSet<(String, String)> = escamap::web::routes::declared()
        .into_iter()
        .filter(|(m, p, _)| {
            *m != reqwest::Method::HEAD
                && (p.starts_with("/api/") || *p == "/healthz" || *p == "/readyz")
        })
        .map(|(m, p, _)| (m.to_string(), p.to_owned()))
        .collect();
    assert_eq!(documented, served);
    // Every documented GET answers, and every documented query parameter is accepted.
    for (method, path) in &served {
        if method != "GET" {
            continue;
        }
        let q = if path.contains("heatmap") {
            "?view=regional"
        } else {
            ""
        };
        assert_eq!(
            t.get(&format!("{path}{q}")).await.status().as_u16(),
            200,
            "{path}"
        );
        for p in paths[path]["get"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = p["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .expect("a parameter ref");
            let schema = &doc["components"]["parameters"][name];
            assert_eq!(schema["name"], name, "{path}: {name}");
        }
    }
    // The enums in the document are what the server accepts.
    for d in doc["components"]["schemas"]["Dimension"]["enum"]
        .as_array()
        .expect("dims")
    {
        let other = if d == "client" { "product" } else { "client" };
        let (status, _) = t
            .json(&format!(
                "/api/v1/heatmap?rows={}&cols={other}",
                d.as_str().expect("dim")
            ))
            .await;
        assert_eq!(status, 200, "{d}");
    }
    for s in doc["components"]["parameters"]["sort"]["schema"]["enum"]
        .as_array()
        .expect("sorts")
    {
        let (status, _) = t
            .json(&format!(
                "/api/v1/escalations?sort={}",
                s.as_str().expect("sort")
            ))
            .await;
        assert_eq!(status, 200, "{s}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn startup_builds_a_bound_server_that_reports_its_port() {
    use clap::Parser;
    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        serve: escamap::config::ServeArgs,
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = escamap::store::Location::Sqlite(dir.path().join("startup.db"));
    let args = Args::parse_from(["serve", "--port", "0", "--host", "127.0.0.1", "--no-sample"]);
    let settings = escamap::config::Settings::from_args(&db, &args.serve).expect("settings");
    let application = escamap::startup::Application::build(settings).expect("built");
    let addr = application.local_addr();
    assert_ne!(addr.port(), 0, "the port the system chose is reported");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async {
        let _ = stopped.await;
    }));
    crate::helpers::crypto();
    let resp = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .expect("served");
    assert_eq!(resp.status().as_u16(), 200);
    let _ = stop.send(());
    server.await.expect("joined").expect("a clean stop");
}

//! Issue 12 through the real interfaces: the heatmap API's measures, margins, shares and
//! comparison, the backlog route and command, their refusals, and the dashboard's controls.

use serde_json::Value;

use crate::helpers::{TestApp, TestCli, attrs, texts};

/// Rows written here: opened and closed dates chosen so every rule has a case.
const ROWS: &str = "id,client,product,region,severity,opened,closed\n\
    T-1,Acme,API,Europe,high,2026-01-10,2026-01-14\n\
    T-2,Acme,API,Europe,critical,2026-01-20,\n\
    T-3,Acme,Billing,Europe,low,2026-02-03,2026-02-03\n\
    T-4,Globex,API,Asia,medium,2026-02-10,2026-03-12\n\
    T-5,Globex,Billing,Asia,low,2026-03-01,2026-02-20\n\
    T-6,Initech,Dashboard,Asia,low,2026-03-05,\n";

async fn api(t: &TestApp, query: &str) -> (u16, Value) {
    t.json(&format!("/api/v1/{query}")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_heatmap_api_gives_mttr_open_and_the_margins() {
    let t = TestApp::with_csv(ROWS).await;
    let (status, m) = api(&t, "heatmap?rows=client&cols=product&measure=mttr").await;
    assert_eq!(status, 200);
    assert_eq!(m["measure"], "mttr");
    assert_eq!(
        m["total"], 8.5,
        "(4 + 0 + 30 + 0) / 4: the open ones are left out"
    );
    let rows: Vec<&str> = m["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let initech = rows.iter().position(|r| *r == "Initech").expect("Initech");
    assert_eq!(
        m["row_totals"][initech],
        Value::Null,
        "none of Initech's is closed"
    );
    assert_eq!(
        m["col_totals"].as_array().map(Vec::len),
        m["cols"].as_array().map(Vec::len)
    );
    assert!(
        m["row_history"]["periods"]
            .as_array()
            .is_some_and(|p| p.len() == 12)
    );

    let (_, m) = api(&t, "heatmap?rows=client&cols=product&measure=open&top=1").await;
    assert_eq!(
        m["total"], 2,
        "the whole filtered set, hidden rows included"
    );
    assert_eq!(m["hidden_rows"], 2);
    assert_eq!(m["rows"].as_array().map(Vec::len), Some(1));

    let (_, m) = api(
        &t,
        "heatmap?rows=client&cols=product&measure=count&normalize=row",
    )
    .await;
    assert_eq!(m["normalize"], "row");
    for row in m["values"].as_array().expect("values") {
        let sum: f64 = row
            .as_array()
            .expect("row")
            .iter()
            .filter_map(Value::as_f64)
            .sum();
        assert!((sum - 1.0).abs() < 1e-3, "{row}");
    }
    assert_eq!(m["row_totals"][0], 3, "margins stay absolute");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_comparison_and_the_refusals_name_their_parameter() {
    let t = TestApp::with_csv(ROWS).await;
    let (status, m) = api(
        &t,
        "heatmap?rows=client&cols=product&from=2026-02-01&to=2026-03-31&compare=previous",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(m["previous_from"], "2025-12-04");
    assert_eq!(m["previous_to"], "2026-01-31");
    assert_eq!(
        m["previous"].as_array().map(Vec::len),
        m["rows"].as_array().map(Vec::len)
    );
    assert!(m["delta"].is_array());

    for (query, parameter) in [
        (
            "rows=client&cols=product&measure=mean&normalize=row",
            "normalize",
        ),
        (
            "rows=client&cols=product&measure=mttr&normalize=total",
            "normalize",
        ),
        ("rows=client&cols=product&normalize=rows", "normalize"),
        ("rows=client&cols=product&compare=previous", "compare"),
        (
            "rows=client&cols=product&from=2026-01-01&compare=previous",
            "compare",
        ),
        (
            "rows=client&cols=month&from=2026-01-01&to=2026-02-01&compare=previous",
            "compare",
        ),
        ("rows=client&cols=product&compare=next", "compare"),
    ] {
        for route in ["heatmap", "heatmap.svg", "heatmap.png", "heatmap.csv"] {
            let (status, body) = api(&t, &format!("{route}?{query}")).await;
            assert_eq!(status, 400, "{route}?{query}");
            assert_eq!(
                body["error"]["parameter"], parameter,
                "{route}?{query}: {body}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_backlog_route_counts_per_period_and_takes_its_filters() {
    let t = TestApp::with_csv(ROWS).await;
    let (status, b) = api(&t, "backlog").await;
    assert_eq!(status, 200);
    assert_eq!(
        b["periods"],
        serde_json::json!(["2026-01", "2026-02", "2026-03"])
    );
    assert_eq!(b["opened"], serde_json::json!([2, 2, 2]));
    assert_eq!(b["closed"], serde_json::json!([1, 1, 2]));
    assert_eq!(b["open_at_end"], serde_json::json!([1, 2, 2]));
    assert_eq!(b["mttr_days"], serde_json::json!([4.0, 0.0, 15.0]));

    let (_, b) = api(&t, "backlog?from=2026-03-01&to=2026-03-31").await;
    assert_eq!(b["periods"], serde_json::json!(["2026-03"]));
    assert_eq!(
        b["open_at_end"],
        serde_json::json!([2]),
        "earlier openings still count"
    );
    let (_, b) = api(&t, "backlog?client=Acme").await;
    assert_eq!(b["open_at_end"], serde_json::json!([1, 1]));
    let (_, b) = api(&t, "backlog?period=week").await;
    assert_eq!(b["period"], "week");
    assert_eq!(b["periods"][0], "2026-W02");

    for (query, parameter) in [
        ("period=year", "period"),
        ("from=2026-03-01&to=2026-01-01", "from"),
    ] {
        let (status, body) = api(&t, &format!("backlog?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}");
    }
}

#[test]
fn the_command_line_draws_the_same() {
    let t = TestCli::new();
    let f = t.write("rows.csv", ROWS);
    t.ok(&["import", &f]);
    let b = t.json(&["backlog", "--json"]);
    assert_eq!(b["open_at_end"], serde_json::json!([1, 2, 2]));
    let text = t.ok(&["backlog", "--period", "month", "--client", "Acme"]);
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.contains("open at end")),
        "{text}"
    );
    assert!(text.contains("2026-01"), "{text}");

    let out = t.path("mttr.json");
    t.ok(&[
        "render",
        "--rows",
        "client",
        "--cols",
        "product",
        "--measure",
        "mttr",
        "--out",
        &out,
    ]);
    let m: Value = serde_json::from_slice(&std::fs::read(&out).expect("written")).expect("JSON");
    assert_eq!(m["total"], 8.5);
    let svg = t.path("share.svg");
    t.ok(&[
        "render",
        "--rows",
        "client",
        "--cols",
        "severity",
        "--normalize",
        "row",
        "--out",
        &svg,
    ]);
    assert!(
        String::from_utf8(std::fs::read(&svg).expect("svg"))
            .expect("utf-8")
            .contains("100%")
    );

    let err = t.fails(&[
        "render",
        "--rows",
        "client",
        "--cols",
        "product",
        "--measure",
        "mean",
        "--normalize",
        "row",
        "--out",
        &out,
    ]);
    assert!(err.contains("--normalize"), "{err}");
    let err = t.fails(&[
        "render",
        "--rows",
        "client",
        "--cols",
        "product",
        "--compare",
        "previous",
        "--out",
        &out,
    ]);
    assert!(err.contains("--compare"), "{err}");
    let err = t.fails(&["backlog", "--period", "year"]);
    assert!(err.contains("year"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_offers_the_controls_and_the_resolution_tab() {
    let t = TestApp::with_csv(ROWS).await;
    let (status, doc) = t.html("/?tab=resolution").await;
    assert_eq!(status, 200);
    assert_eq!(
        texts(&doc, "#hm-heading"),
        ["Mean days to resolve by Product and Month"]
    );
    assert_eq!(texts(&doc, "#backlog-chart svg .bl-slot title").len(), 3);
    assert_eq!(
        attrs(&doc, "#hm-colour option", "value"),
        ["", "row", "col", "total"]
    );
    assert_eq!(
        attrs(&doc, "#hm-compare[disabled]", "name").len(),
        1,
        "no dates: nothing to compare"
    );

    let (_, doc) = t
        .html("/?tab=client-overview&from=2026-02-01&to=2026-03-31&compare=previous&normalize=")
        .await;
    assert!(attrs(&doc, "#hm-compare[disabled]", "name").is_empty());
    assert_eq!(
        attrs(&doc, "#hm-compare option[selected]", "value"),
        ["previous"]
    );
    assert!(
        texts(&doc, ".heatmap-wrap svg text")
            .iter()
            .any(|t| t == "Change from the previous period")
    );
    // Links carry the controls: the SVG download draws the same.
    let svg_link = attrs(&doc, ".downloads a", "href").remove(0);
    assert!(svg_link.contains("compare=previous"), "{svg_link}");

    let (_, doc) = t.html("/?tab=regional&normalize=col").await;
    assert_eq!(attrs(&doc, "#hm-colour option[selected]", "value"), ["col"]);
    assert!(
        attrs(&doc, ".heatmap-wrap .hm-cell", "data-value")
            .iter()
            .any(|v| v.ends_with('%'))
    );
    // A share of a mean is said, not failed on.
    let (status, doc) = t
        .html("/?tab=custom&rows=client&cols=product&measure=mean&normalize=row")
        .await;
    assert_eq!(status, 200);
    assert!(texts(&doc, "#hm-controls-error")[0].contains("normalize"));
}

#[test]
fn the_openapi_document_lists_the_new_parameters_and_route() {
    let doc: Value = serde_json::from_str(include_str!("../../static/openapi.json")).expect("JSON");
    let params = |path: &str| -> Vec<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                p["name"]
                    .as_str()
                    .or_else(|| p["$ref"].as_str())
                    .map(str::to_owned)
            })
            .collect()
    };
    for p in ["normalize", "compare"] {
        assert!(
            params("/api/v1/heatmap").iter().any(|x| x.ends_with(p)),
            "{p}"
        );
    }
    assert!(
        params("/api/v1/backlog")
            .iter()
            .any(|x| x.ends_with("period"))
    );
    let measures = doc.to_string();
    assert!(measures.contains("\"mttr\"") && measures.contains("\"open\""));
}

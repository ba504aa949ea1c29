//! Issue 13 through the real interfaces: findings and accounts from the command line and the
//! API (the same JSON), their contracts, period boundaries, filters, drill links that hold
//! exactly the escalations counted, the dashboard's cards and flagged cells, and recall and
//! precision on planted worlds.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{Served, TestApp, TestCli, attrs, free_port, texts};

/// A CSV of `rows` (client, product, region, severity, opened).
fn csv(rows: &[(String, &str, &str, &str, String)]) -> String {
    let mut out = String::from("id,client,product,region,severity,opened,closed\n");
    for (i, (c, p, r, s, d)) in rows.iter().enumerate() {
        out.push_str(&format!("T-{i},{c},{p},{r},{s},{d},\n"));
    }
    out
}

/// Twelve steady months of 2025 for a few clients, then January 2026 with Globex's Billing
/// jumping from 2 a month to 20 and Initech new on Mobile App.
pub fn world() -> String {
    let mut rows = Vec::new();
    for month in 1..=13u32 {
        let (y, m) = if month == 13 {
            (2026, 1)
        } else {
            (2025, month)
        };
        let date = |d: u32| format!("{y}-{m:02}-{d:02}");
        for (client, product, region, n) in [
            ("Globex", "Billing", "Europe", 2u32),
            ("Globex", "API", "Europe", 3),
            ("Acme", "API", "North America", 4),
            ("Acme", "Dashboard", "North America", 3),
            ("Umbrella", "Reporting", "Asia-Pacific", 5),
        ] {
            let n = if month == 13 && client == "Globex" && product == "Billing" {
                20
            } else {
                n
            };
            for k in 0..n {
                let sev = if k % 3 == 0 { "high" } else { "low" };
                rows.push((client.to_owned(), product, region, sev, date(1 + k % 28)));
            }
        }
        if month == 13 {
            for k in 0..9 {
                rows.push((
                    "Initech".into(),
                    "Mobile App",
                    "Europe",
                    "critical",
                    date(2 + k),
                ));
            }
        }
        // Hooli climbs for three months; Soylent, steady at 12, falls away for the last two.
        let hooli = match month {
            1..=9 => 4,
            10 => 8,
            11 => 10,
            _ => 12,
        };
        for k in 0..hooli {
            rows.push((
                "Hooli".into(),
                "Integrations",
                "Middle East & Africa",
                "medium",
                date(1 + k % 20),
            ));
        }
        let soylent = match month {
            1..=11 => 12,
            12 => 2,
            _ => 1,
        };
        for k in 0..soylent {
            rows.push((
                "Soylent".into(),
                "Analytics",
                "Latin America",
                "low",
                date(1 + k % 20),
            ));
        }
    }
    csv(&rows)
}

fn slice_name(f: &Value) -> String {
    ["client", "product", "region"]
        .iter()
        .filter_map(|k| f["slice"][*k].as_str())
        .collect::<Vec<_>>()
        .join(" / ")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_the_contract_and_the_same_as_the_command_line() {
    let t = TestCli::new();
    let f = t.write("world.csv", world());
    t.ok(&["import", &f]);
    let cli = t.json(&["insights", "--json"]);
    assert_eq!(cli["as_of"], "2026-01-20", "the last opened date");
    assert_eq!(cli["period"], "month");
    assert_eq!(cli["current"]["from"], "2026-01-01");
    assert_eq!(cli["current"]["to"], "2026-01-20");
    let findings = cli["findings"].as_array().expect("findings");
    let names: Vec<String> = findings.iter().map(slice_name).collect();
    assert!(names.contains(&"Globex / Billing".to_owned()), "{names:?}");
    assert!(
        names.contains(&"Initech / Mobile App".to_owned()),
        "{names:?}"
    );
    let kind_of = |name: &str| {
        findings
            .iter()
            .find(|f| slice_name(f) == name)
            .map(|f| f["kind"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(
        kind_of("Initech / Mobile App").as_deref(),
        Some("emerging"),
        "{names:?}"
    );
    assert_eq!(
        kind_of("Hooli / Integrations").as_deref(),
        Some("rising"),
        "{names:?}"
    );
    assert_eq!(
        kind_of("Soylent / Analytics").as_deref(),
        Some("cooling"),
        "{names:?}"
    );
    // Each change is explained by one cell, so the cell is listed, not its parents.
    for parent in [
        "Globex",
        "Billing",
        "Billing / Europe",
        "Initech",
        "Mobile App",
        "Mobile App / Europe",
        "Hooli",
        "Integrations",
        "Middle East & Africa",
        "Soylent",
        "Analytics",
        "Latin America",
    ] {
        assert!(
            !names.contains(&parent.to_owned()),
            "{parent} is explained by its cell: {names:?}"
        );
    }
    let scores: Vec<f64> = findings
        .iter()
        .filter_map(|f| f["score"].as_f64())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "sorted by score: {scores:?}"
    );

    let port = free_port();
    let _s: Served = t.serve(&["--no-sample", "--port", &port.to_string()], &[], port);
    let base = format!("http://127.0.0.1:{port}");
    crate::helpers::crypto();
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        async move {
            let r = client.get(path).send().await.expect("answers");
            let status = r.status().as_u16();
            let ctype = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            (status, ctype, r.json::<Value>().await.expect("json"))
        }
    };
    let (status, ctype, api) = get(format!("{base}/api/v1/insights")).await;
    assert_eq!((status, ctype.as_str()), (200, "application/json"));
    assert_eq!(api, cli, "API and command line answer the same");
    let (_, _, api) = get(format!("{base}/api/v1/insights?limit=1&product=Billing")).await;
    let cli = t.json(&["insights", "--json", "--limit", "1", "--product", "Billing"]);
    assert_eq!(api, cli);
    assert_eq!(api["findings"].as_array().map(Vec::len), Some(1));
    assert!(api["total"].as_u64().is_some_and(|n| n >= 1));
    let (_, _, accounts_api) = get(format!("{base}/api/v1/accounts")).await;
    assert_eq!(accounts_api, t.json(&["accounts", "--json"]));
    // Refusals name the parameter.
    for (q, parameter) in [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("as_of=2026-13-45", "as_of"),
        ("period=quarter", "period"),
        ("severity=P7", "severity"),
    ] {
        let (status, ctype, body) = get(format!("{base}/api/v1/insights?{q}")).await;
        assert_eq!((status, ctype.as_str()), (400, "application/json"), "{q}");
        assert_eq!(body["error"]["parameter"], parameter, "{q}: {body}");
        let (status, _, body) = get(format!("{base}/api/v1/accounts?{q}")).await;
        if parameter != "period" {
            assert_eq!(status, 400, "{q}");
            assert_eq!(body["error"]["parameter"], parameter, "{q}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn as_of_and_the_period_boundaries() {
    let t = TestApp::with_csv(&world()).await;
    let current = |v: &Value| {
        (
            v["current"]["from"].as_str().unwrap_or("").to_owned(),
            v["current"]["to"].as_str().unwrap_or("").to_owned(),
        )
    };
    for (q, from, to) in [
        ("as_of=2026-01-01", "2026-01-01", "2026-01-01"),
        ("as_of=2025-12-31", "2025-12-01", "2025-12-31"),
        ("as_of=2025-02-28", "2025-02-01", "2025-02-28"),
        // ISO week 1 of 2026 runs from Monday 29 December 2025.
        ("as_of=2026-01-02&period=week", "2025-12-29", "2026-01-02"),
        ("as_of=2025-12-28&period=week", "2025-12-22", "2025-12-28"),
        ("to=2025-06-15", "2025-06-01", "2025-06-15"),
    ] {
        let (status, v) = t.json(&format!("/api/v1/insights?{q}")).await;
        assert_eq!(status, 200, "{q}");
        assert_eq!(current(&v), (from.to_owned(), to.to_owned()), "{q}");
        assert_eq!(v["as_of"], to, "{q}");
        for f in v["findings"].as_array().into_iter().flatten() {
            let drill = f["drill"].as_str().unwrap_or("");
            assert!(
                drill.contains(&format!("from={from}&to={to}")),
                "{q}: {drill}"
            );
        }
    }
    // On the first day of January the spike has barely begun: nothing to say yet.
    let (_, v) = t.json("/api/v1/insights?as_of=2026-01-01").await;
    assert!(
        !v["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| slice_name(f) == "Globex / Billing"),
        "{v}"
    );
    // A steady September has nothing to say at all.
    let (_, v) = t.json("/api/v1/insights?as_of=2025-09-30").await;
    assert_eq!(v["findings"], serde_json::json!([]), "{v}");
    // Filters: only slices within them.
    let (_, v) = t.json("/api/v1/insights?region=Europe").await;
    for f in v["findings"].as_array().into_iter().flatten() {
        let s = &f["slice"];
        assert!(s["region"].is_null() || s["region"] == "Europe", "{f}");
        assert!(
            f["drill"]
                .as_str()
                .is_some_and(|d| d.contains("region=Europe")),
            "{f}"
        );
    }
    // Nothing selected: an empty answer, not an error.
    let (status, v) = t.json("/api/v1/insights?client=Nobody").await;
    assert_eq!(status, 200);
    assert_eq!(v["findings"], serde_json::json!([]));
    assert_eq!(v["as_of"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_the_cards_and_outlines_the_flagged_cells() {
    let t = TestApp::with_csv(&world()).await;
    let (status, doc) = t.html("/").await;
    assert_eq!(status, 200);
    let titles = texts(&doc, ".finding .finding-title");
    assert!(
        titles.contains(&"Globex on Billing".to_owned()),
        "{titles:?}"
    );
    let links = attrs(&doc, ".finding a", "href");
    assert!(links.iter().all(|h| h.starts_with("/data?")), "{links:?}");
    assert!(
        texts(&doc, ".finding .finding-numbers")
            .iter()
            .any(|n| n.starts_with("20 vs ")),
        "observed vs expected"
    );
    assert!(!attrs(&doc, ".finding svg.spark", "aria-label").is_empty());
    // Each card's tickets are exactly the ones it counts.
    let (_, data) = t.html(&links[0]).await;
    assert!(!texts(&data, "table tbody tr").is_empty());
    // as_of in the query string, like every other state.
    let (_, doc) = t.html("/?as_of=2025-09-30").await;
    assert!(texts(&doc, ".finding").is_empty());
    assert!(
        texts(&doc, ".attention .hint")
            .iter()
            .any(|h| h.contains("Nothing stands out"))
    );
    // Client Overview (client × product) outlines the finding's cell and names it.
    let (_, doc) = t.html("/?tab=client-overview").await;
    let tooltips = texts(&doc, "g.hm-cell[data-flag] > rect > title");
    assert!(
        tooltips
            .iter()
            .any(|s| s.contains("Globex × Billing") && s.contains("Spike: 20 vs")),
        "{tooltips:?}"
    );
    assert_eq!(texts(&doc, "g.hm-flag").len(), tooltips.len());
    // A time view: each cell against its row's past months.
    let (_, m) = t.json("/api/v1/heatmap?rows=client&cols=month").await;
    let anomalies = m["anomalies"].as_array().expect("anomalies");
    assert!(
        anomalies
            .iter()
            .any(|a| a["row"] == "Globex" && a["col"] == "2026-01" && a["kind"] == "spike"),
        "{anomalies:?}"
    );
    assert!(
        anomalies.iter().all(|a| a["col"] == "2026-01"),
        "steady months are not flagged: {anomalies:?}"
    );
    let (_, m) = t.json("/api/v1/heatmap?view=regional").await;
    assert_eq!(
        m["anomalies"],
        serde_json::json!([]),
        "region × severity has no slices"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_accounts_page_ranks_and_explains() {
    let t = TestApp::with_csv(&world()).await;
    let (status, v) = t.json("/api/v1/accounts").await;
    assert_eq!(status, 200);
    let accounts = v["accounts"].as_array().expect("accounts");
    let risks: Vec<f64> = accounts.iter().filter_map(|a| a["risk"].as_f64()).collect();
    assert!(risks.windows(2).all(|w| w[0] >= w[1]), "{risks:?}");
    for a in accounts {
        let sum: f64 = a["factors"]
            .as_array()
            .expect("factors")
            .iter()
            .filter_map(|f| f["points"].as_f64())
            .sum();
        assert!(
            (sum - a["risk"].as_f64().unwrap_or(-1.0)).abs() < 0.051,
            "{a}"
        );
        assert_eq!(a["history"].as_array().map(Vec::len), Some(12));
        assert!(["up", "flat", "down"].contains(&a["trend"].as_str().unwrap_or("")));
    }
    let (_, doc) = t.html("/accounts").await;
    let clients = texts(&doc, "table.accounts tbody th a");
    assert_eq!(clients.len(), accounts.len());
    assert_eq!(clients[0], accounts[0]["client"].as_str().unwrap_or(""));
    let hrefs = attrs(&doc, "table.accounts tbody th a", "href");
    assert!(
        hrefs[0].starts_with("/?tab=client-overview&client="),
        "{hrefs:?}"
    );
    let (status, _) = t.html(&hrefs[0]).await;
    assert_eq!(status, 200);
}

/// Findings against a planted world's key, as the issue scores them.
struct Score {
    fair: usize,
    hit: usize,
    findings: usize,
    right: usize,
}

fn sub(a: &Value, b: &Value) -> bool {
    ["client", "product", "region"]
        .iter()
        .all(|k| a[*k].is_null() || a[*k] == b[*k])
}

fn score(key: &Value, found: &Value) -> Score {
    let events = key["events"].as_array().cloned().unwrap_or_default();
    let findings = found["findings"].as_array().cloned().unwrap_or_default();
    let hits = |e: &Value, f: &Value| {
        f["slice"]["client"] == e["slice"]["client"]
            && (e["slice"]["product"].is_null() || f["slice"]["product"] == e["slice"]["product"])
    };
    let fair: Vec<&Value> = events.iter().filter(|e| e["fair"] == true).collect();
    Score {
        fair: fair.len(),
        hit: fair
            .iter()
            .filter(|e| findings.iter().any(|f| hits(e, f)))
            .count(),
        findings: findings.len(),
        right: findings
            .iter()
            .filter(|f| {
                events
                    .iter()
                    .any(|e| sub(&f["slice"], &e["slice"]) || sub(&e["slice"], &f["slice"]))
            })
            .count(),
    }
}

/// Writes a planted world, imports it and scores `insights --json --limit 1000` on it.
fn planted(rows: u64, seed: u64, events: usize) -> (Score, TestCli) {
    let (s, t, _) = planted_with_key(rows, seed, events);
    (s, t)
}

fn planted_with_key(rows: u64, seed: u64, events: usize) -> (Score, TestCli, Value) {
    let t = TestCli::new();
    let out = t.path("world.csv");
    let key = t.path("key.json");
    t.ok(&[
        "demo-data",
        "--plant",
        &key,
        "--rows",
        &rows.to_string(),
        "--seed",
        &seed.to_string(),
        "--events",
        &events.to_string(),
        "--end",
        "2026-11-30",
        "--out",
        &out,
    ]);
    t.ok(&["import", &out]);
    let found = t.json(&["insights", "--json", "--limit", "1000"]);
    let key: Value = serde_json::from_slice(&crate::helpers::read(&key)).expect("the key");
    (score(&key, &found), t, key)
}

#[test]
fn planted_events_are_found_and_a_quiet_world_stays_quiet() {
    let (mut fair, mut hit, mut findings, mut right) = (0, 0, 0, 0);
    for seed in [21, 22, 23] {
        let (s, t, key) = planted_with_key(40_000, seed, 12);
        // The accounts that are rising are in the top 20.
        let top: Vec<Value> = t.json(&["accounts", "--json", "--limit", "20"])["accounts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for e in key["events"].as_array().into_iter().flatten() {
            if e["kind"] == "rising" && e["fair"] == true {
                assert!(
                    top.iter().any(|a| a["client"] == e["slice"]["client"]),
                    "seed {seed}: rising {} not in the top 20",
                    e["slice"]["client"]
                );
            }
        }
        fair += s.fair;
        hit += s.hit;
        findings += s.findings;
        right += s.right;
    }
    let recall = hit as f64 / fair.max(1) as f64;
    let precision = right as f64 / findings.max(1) as f64;
    println!("recall {hit}/{fair} = {recall:.3}, precision {right}/{findings} = {precision:.3}");
    assert!(fair >= 24, "most planted events are fair: {fair}");
    assert!(recall >= 0.9, "recall {recall:.3}");
    assert!(precision >= 0.85, "precision {precision:.3}");
    for seed in [24, 25] {
        let (s, _) = planted(40_000, seed, 0);
        assert!(s.findings <= 3, "a quiet world: {} findings", s.findings);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_finding_counts_exactly_the_escalations_behind_its_drill_link() {
    let (_, t) = planted(30_000, 31, 12);
    let port = free_port();
    let _s = t.serve(&["--no-sample", "--port", &port.to_string()], &[], port);
    let base = format!("http://127.0.0.1:{port}");
    crate::helpers::crypto();
    let client = reqwest::Client::new();
    let get_json = |url: String| {
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.expect("answers");
            r.json::<Value>().await.expect("json")
        }
    };
    let mut checked = BTreeSet::new();
    for query in [
        "",
        "?period=week",
        "?severity=critical&severity=high",
        "?region=Europe",
    ] {
        let found = get_json(format!(
            "{base}/api/v1/insights{query}{}limit=200",
            if query.is_empty() { "?" } else { "&" }
        ))
        .await;
        for f in found["findings"].as_array().into_iter().flatten() {
            let drill = f["drill"].as_str().expect("a drill link");
            let q = drill.strip_prefix("/data?").expect("a /data link");
            let page = get_json(format!("{base}/api/v1/escalations?{q}&per_page=1")).await;
            assert_eq!(page["total"], f["observed"], "{drill}");
            checked.insert(drill.to_owned());
        }
    }
    assert!(
        checked.len() >= 5,
        "enough findings to check: {}",
        checked.len()
    );
}

/// The README's figures, on worlds no test or tuning used (seeds from 101):
/// `cargo test --release --test it insights_figures -- --ignored --nocapture`.
#[test]
#[ignore = "slow: the README's recall and precision figures"]
fn insights_figures() {
    let mut lines = Vec::new();
    for (rows, seeds) in [(100_000u64, 101..=106u64), (1_000_000, 107..=108)] {
        let (mut fair, mut hit, mut findings, mut right) = (0, 0, 0, 0);
        for seed in seeds.clone() {
            let (s, _) = planted(rows, seed, 12);
            println!(
                "rows {rows} seed {seed}: fair {} hit {} findings {} right {}",
                s.fair, s.hit, s.findings, s.right
            );
            fair += s.fair;
            hit += s.hit;
            findings += s.findings;
            right += s.right;
        }
        lines.push(format!(
            "{rows} rows, seeds {seeds:?}: recall {hit}/{fair} = {:.3}, precision {right}/{findings} = {:.3}",
            hit as f64 / fair.max(1) as f64,
            right as f64 / findings.max(1) as f64
        ));
    }
    for seed in 111..=115 {
        let (s, _) = planted(100_000, seed, 0);
        lines.push(format!(
            "quiet world, 100000 rows, seed {seed}: {} findings",
            s.findings
        ));
    }
    for l in lines {
        println!("{l}");
    }
}

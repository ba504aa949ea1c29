//! Operations, through the real binary: Prometheus metrics (`serve --metrics-addr` scraped
//! before and after traffic this test sends; every counter must have moved by exactly that
//! traffic; the exposition parsed here, line by line, by the text format's rules; the public
//! listener must not serve it; the Grafana dashboard asks only for metrics that exist), and
//! `escamap healthcheck`, the container's HEALTHCHECK.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use escamap::store::testing::ScratchDb;

use crate::helpers::{TestCli, free_port};
use crate::notify::{Receiver, world_in_two};

/// One scrape: every sample by its name and sorted labels (`name{a="1",b="2"}`), and each
/// family's type.
#[derive(Debug, Default)]
struct Scrape {
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
}

impl Scrape {
    fn get(&self, key: &str) -> f64 {
        self.samples.get(key).copied().unwrap_or(0.0)
    }

    /// Every sample of the family `name` whose labels include all of `labels`, summed.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(k, _)| {
                k.split('{').next() == Some(name)
                    && labels
                        .iter()
                        .all(|(l, v)| k.contains(&format!("{l}=\"{v}\"")))
            })
            .map(|(_, v)| v)
            .sum()
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses the labels of `{a="x",b="y"}` (the braces removed), with the format's escapes.
fn labels(mut s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let (name, rest) = s.split_once("=\"").ok_or(format!("no =\" in {s:?}"))?;
        if !is_name(name) || name.starts_with("__") {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err("unterminated label value".into()),
            }
        };
        out.push((name.to_owned(), value));
        s = &rest[end + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
    Ok(out)
}

/// The text exposition format, version 0.0.4: `# HELP` and `# TYPE` lines, then samples
/// `name{labels} value`, each family's TYPE once and before its samples; a histogram's buckets
/// cumulative, ending in `+Inf` equal to its `_count`.
fn parse(text: &str) -> Result<Scrape, String> {
    let mut scrape = Scrape::default();
    for (n, line) in text.lines().enumerate() {
        let at = |why: String| format!("line {}: {why}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !is_name(name) {
                        return Err(at("bad metric name".into()));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at(format!("unknown type {kind}")));
                    }
                    if scrape.samples.keys().any(|k| k.starts_with(name)) {
                        return Err(at("TYPE after its samples".into()));
                    }
                    if scrape.types.insert(name.into(), kind.into()).is_some() {
                        return Err(at("a second TYPE".into()));
                    }
                }
                (Some("HELP"), Some(name), _) if is_name(name) => {}
                _ => return Err(at("a comment that is neither HELP nor TYPE".into())),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or(at("no value".into()))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|e| at(format!("value: {e}")))?,
        };
        let (name, mut labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let inner = rest
                    .strip_suffix('}')
                    .ok_or(at("no closing brace".into()))?;
                (name, labels(inner).map_err(at)?)
            }
            None => (series, Vec::new()),
        };
        if !is_name(name) {
            return Err(at("bad metric name".into()));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| scrape.types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        if !scrape.types.contains_key(family) {
            return Err(at(format!("no TYPE for {family}")));
        }
        labels.sort();
        let key = if labels.is_empty() {
            name.to_owned()
        } else {
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            format!("{name}{{{}}}", l.join(","))
        };
        if scrape.samples.insert(key, value).is_some() {
            return Err(at("the same series twice".into()));
        }
    }
    check_histograms(&scrape)?;
    Ok(scrape)
}

/// Each histogram series: buckets non-decreasing in `le`, the `+Inf` bucket equal to `_count`.
fn check_histograms(s: &Scrape) -> Result<(), String> {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (key, v) in &s.samples {
        let Some((name, rest)) = key.split_once("_bucket{") else {
            continue;
        };
        let ls = labels(rest.trim_end_matches('}'))?;
        let le = ls
            .iter()
            .find(|(k, _)| k == "le")
            .map(|(_, v)| {
                if v == "+Inf" {
                    f64::INFINITY
                } else {
                    v.parse().unwrap_or(f64::NAN)
                }
            })
            .ok_or(format!("{key}: a bucket without le"))?;
        let others: Vec<String> = ls
            .iter()
            .filter(|(k, _)| k != "le")
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        let id = if others.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", others.join(","))
        };
        series.entry(id).or_default().push((le, *v));
    }
    for (id, mut buckets) in series {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
            return Err(format!("{id}: buckets not cumulative"));
        }
        let count_key = match id.split_once('{') {
            Some((n, l)) => format!("{n}_count{{{l}"),
            None => format!("{id}_count"),
        };
        let last = buckets.last().copied().unwrap_or((0.0, 0.0));
        if last.0 != f64::INFINITY || Some(&last.1) != s.samples.get(&count_key) {
            return Err(format!("{id}: +Inf bucket is not {count_key}"));
        }
    }
    Ok(())
}

fn client() -> reqwest::Client {
    crate::helpers::crypto();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn scrape(metrics: &str) -> Scrape {
    let r = client()
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text().await.expect("text");
    parse(&text).unwrap_or_else(|e| panic!("the exposition does not parse: {e}\n{text}"))
}

/// Scrapes until `ready` holds (a counter the server moves after answering), for up to 30 s.
async fn scrape_until(metrics: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = scrape(metrics).await;
        if ready(&s) || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn requests(route: &str, method: &str, status: &str) -> String {
    format!(
        "escamap_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_counters_move_by_exactly_the_traffic_the_server_answered() {
    let cli = TestCli::new();
    let (before, after) = world_in_two();
    cli.ok(&["import", &cli.write("2025.csv", &before)]);
    cli.add_user("ops", "admin", "a long enough password");
    let token = cli
        .ok(&["user", "token", "ops", "--label", "metrics"])
        .trim()
        .to_owned();
    // Two alerts on the same finding: one receiver takes it, the other answers 503.
    let (good, bad) = (Receiver::start(), Receiver::start());
    bad.statuses.lock().expect("lock").push_back(503);
    for hook in [&good, &bad] {
        cli.ok(&[
            "alerts",
            "add",
            "--user",
            "ops",
            "--kind",
            "spike",
            "--webhook",
            &hook.url("/a"),
        ]);
    }
    let (port, mport) = (free_port(), free_port());
    let _served = cli.serve(
        &[
            "--port",
            &port.to_string(),
            "--no-sample",
            "--rate-limit",
            "login=2/minute",
        ],
        &[
            ("ESCAMAP_METRICS_ADDR", format!("127.0.0.1:{mport}")),
            (
                "ESCAMAP_PUBLIC_URL",
                "https://escamap.example.com".to_owned(),
            ),
        ],
        port,
    );
    let (base, metrics) = (
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{mport}"),
    );
    let start = scrape_until(&metrics, |s| s.get("escamap_index_rows") > 0.0).await;
    assert_eq!(start.types["escamap_index_rows"], "gauge");
    assert_eq!(start.types["escamap_open_connections"], "gauge");
    assert_eq!(
        start.sum("escamap_http_requests_total", &[]),
        0.0,
        "nothing asked yet"
    );
    assert_eq!(
        start.get("escamap_index_rows"),
        before.lines().count() as f64 - 1.0
    );

    // Connections: three held open, then closed.
    assert_eq!(start.get("escamap_open_connections"), 0.0);
    let held: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let s = scrape_until(&metrics, |s| s.get("escamap_open_connections") == 3.0).await;
    assert_eq!(s.get("escamap_open_connections"), 3.0, "three open");
    drop(held);
    let s = scrape_until(&metrics, |s| s.get("escamap_open_connections") == 0.0).await;
    assert_eq!(s.get("escamap_open_connections"), 0.0, "all closed");

    // The traffic.
    let http = client();
    let status = |r: reqwest::Response| r.status().as_u16();
    for _ in 0..3 {
        assert_eq!(
            status(
                http.get(format!("{base}/healthz"))
                    .send()
                    .await
                    .expect("get")
            ),
            200
        );
    }
    for _ in 0..2 {
        let r = http
            .get(format!("{base}/api/v1/stats"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("stats");
        assert_eq!(status(r), 200);
    }
    let r = http
        .get(format!("{base}/api/v1/stats"))
        .send()
        .await
        .expect("stats");
    assert_eq!(status(r), 401, "no token");
    for path in ["/no/such/page", "/escalations/4711/x", "/metrics"] {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 404, "{path}");
        let body = r.text().await.expect("body");
        assert!(
            !body.contains("escamap_http_requests_total"),
            "the public listener has no metrics"
        );
    }
    // January, one row that replaces a 2025 one (same id), and one that cannot be read.
    let first_2025 = before.lines().nth(1).expect("a row");
    let mut january = after.clone();
    january.push_str(first_2025);
    january.push('\n');
    january.push_str("T-bad,Acme,API,Europe,high,not a date,\n");
    let r = http
        .post(format!("{base}/api/v1/imports"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(january)
        .send()
        .await
        .expect("import");
    assert_eq!(r.status().as_u16(), 201);
    let report: serde_json::Value = r.json().await.expect("report");
    let (imported, replaced, rejected) = (
        report["imported"].as_f64().expect("imported"),
        report["replaced"].as_f64().expect("replaced"),
        report["rejected_count"].as_f64().expect("rejected"),
    );
    assert_eq!((replaced, rejected), (1.0, 1.0), "{report}");
    assert_eq!(
        imported,
        after.lines().count() as f64,
        "January and the replacement"
    );
    let r = http
        .post(format!("{base}/api/v1/imports"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body("just one line and no header that reads")
        .send()
        .await
        .expect("import");
    assert_eq!(r.status().as_u16(), 422, "refused whole");
    // Three sign-ins without a CSRF token: two refused for it, the third by the rate limit.
    for want in [403, 403, 429] {
        let r = http
            .post(format!("{base}/login"))
            .form(&[("name", "ops"), ("password", "wrong")])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status().as_u16(), want);
    }
    let stats: serde_json::Value = http
        .get(format!("{base}/api/v1/stats"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    let total = stats["total_escalations"].as_f64().expect("total");

    // Both alerts were tried once: one sent, one failed (its retry waits a minute).
    assert_eq!(good.wait_for(1, 30).len(), 1);
    assert_eq!(bad.wait_for(1, 30).len(), 1);
    let end = scrape_until(&metrics, |s| {
        s.get("escamap_alerts_total{outcome=\"sent\"}") >= 1.0
            && s.get("escamap_alerts_total{outcome=\"failed\"}") >= 1.0
    })
    .await;

    assert_eq!(end.types["escamap_http_requests_total"], "counter");
    assert_eq!(
        end.types["escamap_http_request_duration_seconds"],
        "histogram"
    );
    let moved = |key: &str| end.get(key) - start.get(key);
    let expected = [
        (requests("/healthz", "GET", "200"), 3.0),
        (requests("/api/v1/stats", "GET", "200"), 3.0),
        (requests("/api/v1/stats", "GET", "401"), 1.0),
        (requests("unmatched", "GET", "404"), 3.0),
        (requests("/api/v1/imports", "POST", "201"), 1.0),
        (requests("/api/v1/imports", "POST", "422"), 1.0),
        (requests("/login", "POST", "403"), 2.0),
        (requests("/login", "POST", "429"), 1.0),
    ];
    for (key, n) in &expected {
        assert_eq!(moved(key), *n, "{key}");
    }
    let sent: f64 = expected.iter().map(|(_, n)| n).sum();
    assert_eq!(
        end.sum("escamap_http_requests_total", &[]),
        sent,
        "every request counted once, nothing else"
    );
    for (route, method, n) in [
        ("/healthz", "GET", 3.0),
        ("/api/v1/stats", "GET", 4.0),
        ("unmatched", "GET", 3.0),
        ("/api/v1/imports", "POST", 2.0),
        ("/login", "POST", 3.0),
    ] {
        let key = format!(
            "escamap_http_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\"}}"
        );
        assert_eq!(moved(&key), n, "{key}");
    }
    assert!(
        !end.samples
            .keys()
            .any(|k| k.contains("4711") || k.contains("no/such")),
        "no path in any label"
    );
    assert_eq!(moved("escamap_imports_total{outcome=\"committed\"}"), 1.0);
    assert_eq!(moved("escamap_imports_total{outcome=\"refused\"}"), 1.0);
    assert_eq!(moved("escamap_imports_total{outcome=\"failed\"}"), 0.0);
    assert_eq!(
        moved("escamap_import_rows_total{result=\"imported\"}"),
        imported
    );
    assert_eq!(
        moved("escamap_import_rows_total{result=\"replaced\"}"),
        replaced
    );
    assert_eq!(
        moved("escamap_import_rows_total{result=\"rejected\"}"),
        rejected
    );
    assert_eq!(moved("escamap_import_duration_seconds_count"), 1.0);
    assert_eq!(end.get("escamap_index_rows"), total);
    assert_eq!(moved("escamap_index_generation"), 1.0, "one change");
    assert_eq!(
        moved("escamap_index_update_duration_seconds_count{kind=\"apply\"}"),
        1.0
    );
    assert_eq!(
        moved("escamap_index_update_duration_seconds_count{kind=\"rebuild\"}"),
        0.0,
        "the index was loaded once, at start"
    );
    assert_eq!(moved("escamap_csrf_refused_total"), 2.0);
    assert_eq!(moved("escamap_rate_limited_total{kind=\"login\"}"), 1.0);
    assert_eq!(end.sum("escamap_rate_limited_total", &[]), 1.0);
    assert_eq!(moved("escamap_alerts_total{outcome=\"sent\"}"), 1.0);
    assert_eq!(moved("escamap_alerts_total{outcome=\"failed\"}"), 1.0);
    assert_eq!(end.sum("escamap_store_errors_total", &[]), 0.0);
    assert_eq!(moved("escamap_connections_refused_total"), 0.0);
    assert!(end.get("process_resident_memory_bytes") > 0.0);

    // The Grafana dashboard in docs/ reads only what is served.
    let dashboard = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/grafana-dashboard.json"),
    )
    .expect("the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).expect("JSON");
    let mut asked = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("escamap_") || word.starts_with("process_") {
                    asked.insert(word.to_owned());
                }
            }
        }
    }
    assert!(asked.len() >= 12, "{asked:?}");
    for name in &asked {
        let family = name.strip_suffix("_bucket").unwrap_or(name);
        assert!(
            end.types.contains_key(family),
            "the dashboard asks for {name}, which is not served"
        );
    }
}

#[test]
fn healthcheck_says_whether_a_server_answers_with_its_exit_status() {
    let cli = TestCli::new();
    let port = free_port();
    let _served = cli.serve(&["--port", &port.to_string(), "--no-sample"], &[], port);
    let url = format!("http://127.0.0.1:{port}/healthz");
    let out = cli.run(&["healthcheck", "--url", &url]);
    assert!(out.status.success(), "{out:?}");
    // Without --url it asks 127.0.0.1 on the port serve would take: FLASK_PORT here.
    let out = cli
        .cmd()
        .arg("healthcheck")
        .env_remove("ESCAMAP_PORT")
        .env("FLASK_PORT", port.to_string())
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    // Nothing listening, a page that is not a health answer, a 404: unhealthy, exit 1.
    let closed = free_port();
    for url in [
        format!("http://127.0.0.1:{closed}/healthz"),
        format!("http://127.0.0.1:{port}/login"),
        format!("http://127.0.0.1:{port}/no-such-page"),
    ] {
        let out = cli.run(&["healthcheck", "--url", &url, "--timeout-secs", "2"]);
        assert_eq!(out.status.code(), Some(1), "{url}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("unhealthy: "), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_database_is_counted_as_store_errors_by_kind() {
    let Some(db) = ScratchDb::create("a_lost_database_is_counted_as_store_errors_by_kind") else {
        return;
    };
    let cli = TestCli::on(db.url());
    let (port, mport) = (free_port(), free_port());
    let _served = cli.serve(
        &["--port", &port.to_string(), "--no-sample"],
        &[("ESCAMAP_METRICS_ADDR", format!("127.0.0.1:{mport}"))],
        port,
    );
    let (base, metrics) = (
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{mport}"),
    );
    let http = client();
    let ready = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);
    let start = scrape(&metrics).await;
    assert_eq!(start.sum("escamap_store_errors_total", &[]), 0.0);

    // The database refuses every connection, and the server's are closed under it.
    db.admin(&format!(
        "ALTER DATABASE {0} ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{0}'",
        db.name()
    ));
    let mut refused = 0.0;
    for _ in 0..3 {
        let r = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(r.status().as_u16(), 503, "the store is gone");
        refused += 1.0;
    }
    let not_ready = refused;
    // A route that reads the store itself reconnects, and the server answers the reconnect with
    // a SQLSTATE of its own (55000, not a connection class): still a store that cannot be
    // reached, so 503 and `unavailable`, never a 500 counted as `other`.
    let listed = http
        .get(format!("{base}/api/v1/imports"))
        .send()
        .await
        .expect("imports");
    assert_eq!(listed.status().as_u16(), 503, "the store is gone");
    refused += 1.0;
    let end = scrape(&metrics).await;
    let unavailable = end.get("escamap_store_errors_total{kind=\"unavailable\"}")
        - start.get("escamap_store_errors_total{kind=\"unavailable\"}");
    // Each refused answer counts; the server's own background work (the change feed
    // reconnecting, a delivery run) may add more, never fewer.
    assert!(
        unavailable >= refused,
        "{unavailable} store errors for {refused} refusals"
    );
    assert_eq!(end.get("escamap_store_errors_total{kind=\"other\"}"), 0.0);
    assert_eq!(
        end.get(&requests("/readyz", "GET", "503")) - start.get(&requests("/readyz", "GET", "503")),
        not_ready
    );
    assert_eq!(
        end.get(&requests("/api/v1/imports", "GET", "503"))
            - start.get(&requests("/api/v1/imports", "GET", "503")),
        1.0
    );
    db.admin(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        db.name()
    ));
}

/// Digests are counted where they are sent, by the application: a run with one receiver that
/// takes its digest and one that answers 503 counts one of each.
#[test]
fn digest_deliveries_are_counted_sent_and_failed() {
    let cli = TestCli::new();
    cli.ok(&["import", &cli.write("world.csv", crate::insights::world())]);
    cli.add_user("ana", "viewer", "a long enough password");
    cli.ok(&["views", "save", "Billing", "--query", "product=Billing"]);
    let (good, bad) = (Receiver::start(), Receiver::start());
    bad.statuses.lock().expect("lock").push_back(503);
    for hook in [&good, &bad] {
        cli.ok(&[
            "subscriptions",
            "add",
            "--user",
            "ana",
            "--schedule",
            "monthly 1 08:00",
            "--view",
            "Billing",
            "--webhook",
            &hook.url("/digest"),
        ]);
    }
    let slot = escamap::domain::Schedule::parse("monthly 1 08:00", "UTC")
        .expect("schedule")
        .next_slot(chrono::Utc::now())
        .expect("next");
    let app = escamap::app::App::open_sqlite(&cli.db).expect("open");
    let counted = |text: &str, outcome: &str| -> f64 {
        parse(text)
            .expect("parses")
            .get(&format!("escamap_digests_total{{outcome=\"{outcome}\"}}"))
    };
    let before = app.metrics().render();
    assert_eq!(
        (counted(&before, "sent"), counted(&before, "failed")),
        (0.0, 0.0)
    );
    let out = escamap::app::Outbound {
        mailer: None,
        from: "EscaMap <escamap@localhost>",
        public_url: "https://escamap.example.com",
    };
    let report = app
        .run_due(slot + chrono::Duration::seconds(30), &out)
        .expect("run");
    assert_eq!((report.sent.len(), report.failed.len()), (1, 1));
    assert_eq!((good.hits().len(), bad.hits().len()), (1, 1));
    let after = app.metrics().render();
    assert_eq!(
        (counted(&after, "sent"), counted(&after, "failed")),
        (1.0, 1.0)
    );
}

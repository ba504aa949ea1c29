//! Webhooks, alerts and unsubscribing, through the real binary: a webhook receiver this test
//! starts (a few lines of HTTP/1.1 over a TCP socket) checks every body's signature itself;
//! alerts are asked after imports by `alerts run` (each run a new process, so a restart) and by
//! `serve` beside a command-line import; the unsubscribe link from a real mail is followed
//! without signing in.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::helpers::{TestCli, free_port};
use crate::mail::SmtpServer;

/// One POST as the receiver read it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// A webhook receiver on 127.0.0.1: records each request and answers with the next status queued
/// (204 once the queue is empty).
pub struct Receiver {
    pub port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
    pub statuses: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(VecDeque::new()));
        let (h, s) = (hits.clone(), statuses.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (h, s) = (h.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(stream, &h, &s);
                });
            }
        });
        Self {
            port,
            hits,
            statuses,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("lock").clone()
    }

    /// Waits up to `secs` for at least `n` hits.
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.hits().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.hits()
    }
}

fn serve_one(
    stream: std::net::TcpStream,
    hits: &Mutex<Vec<Hit>>,
    statuses: &Mutex<VecDeque<u16>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(stream.try_clone()?);
    let mut first = String::new();
    r.read_line(&mut first)?;
    let path = first.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    let status = statuses.lock().expect("lock").pop_front().unwrap_or(204);
    hits.lock().expect("lock").push(Hit {
        path,
        headers,
        body,
    });
    let mut w = stream;
    write!(
        w,
        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    w.flush()
}

/// Checks `X-EscaMap-Signature` against the body, computed here with the HMAC crate.
pub fn signed_with(hit: &Hit, secret: &str) -> bool {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(&hit.body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hit.headers.get("x-escamap-signature") == Some(&format!("sha256={want}"))
}

/// The secret a command printed, the one time it is shown.
pub fn secret_in(out: &str) -> String {
    let mut lines = out.lines();
    lines
        .find(|l| l.starts_with("webhook secret"))
        .and_then(|_| lines.next())
        .map(|s| s.trim().to_owned())
        .filter(|s| s.len() == 64)
        .unwrap_or_else(|| panic!("a secret in {out:?}"))
}

/// The insights world split in two: the twelve months of 2025, then January 2026 (the spike
/// and the new hotspot), each row keeping its id.
pub fn world_in_two() -> (String, String) {
    let all = crate::insights::world();
    let mut lines = all.lines();
    let header = lines.next().expect("header").to_owned();
    let (mut before, mut after) = (header.clone() + "\n", header + "\n");
    for l in lines {
        if l.contains(",2026-01-") {
            after.push_str(l);
            after.push('\n');
        } else {
            before.push_str(l);
            before.push('\n');
        }
    }
    (before, after)
}

fn alerts_run(cli: &TestCli, envs: &[(&str, String)]) -> (bool, Value) {
    let out = cli
        .cmd()
        .args(["alerts", "run", "--json"])
        .env("ESCAMAP_PUBLIC_URL", "https://escamap.example.com")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), v)
}

#[test]
fn an_alert_sends_each_new_finding_once_signed_across_runs_re_imports_and_a_failing_receiver() {
    let cli = TestCli::new();
    let (before, after) = world_in_two();
    cli.ok(&["import", &cli.write("2025.csv", before)]);
    cli.add_user("ana", "viewer", "a long enough password");
    let hook = Receiver::start();
    let out = cli.ok(&[
        "alerts",
        "add",
        "--user",
        "ana",
        "--kind",
        "spike,emerging",
        "--webhook",
        &hook.url("/hooks/escamap"),
    ]);
    let secret = secret_in(&out);
    assert!(
        out.contains("alert 1: ana hears of spike or emerging findings anywhere"),
        "{out}"
    );
    // The findings there are already were seen at creation: nothing to send.
    let (ok, r) = alerts_run(&cli, &[]);
    assert!(ok, "{r}");
    assert_eq!(r["queued"], serde_json::json!([]), "{r}");
    assert!(hook.hits().is_empty());

    // January arrives, and the receiver is down at first (HTTP 503).
    cli.ok(&["import", &cli.write("2026-01.csv", &after)]);
    hook.statuses.lock().expect("lock").push_back(503);
    let (ok, r) = alerts_run(&cli, &[]);
    assert!(!ok, "a failed send is a failing exit: {r}");
    assert_eq!(r["queued"].as_array().map(Vec::len), Some(1), "{r}");
    assert!(
        r["failed"][0][1].as_str().unwrap_or("").contains("503"),
        "{r}"
    );
    assert_eq!(hook.hits().len(), 1, "tried once");
    // Not again before its retry is due...
    let (ok, r) = alerts_run(&cli, &[]);
    assert!(ok && r["sent"] == serde_json::json!([]), "{r}");
    assert_eq!(hook.hits().len(), 1);
    // ... and then exactly once.
    let later = (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339();
    let out = cli
        .cmd()
        .args(["alerts", "run", "--json", "--now", &later])
        .env("ESCAMAP_PUBLIC_URL", "https://escamap.example.com")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let hits = hook.hits();
    assert_eq!(hits.len(), 2, "retried once");
    assert_eq!(hits[0].body, hits[1].body, "the same message");
    let hit = &hits[1];
    assert_eq!(hit.path, "/hooks/escamap");
    assert_eq!(
        hit.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert!(
        signed_with(hit, &secret),
        "the signature is the HMAC of the body"
    );
    assert!(!signed_with(hit, "another secret"));
    let body = hit.json();
    assert_eq!(body["type"], "alert");
    assert!(
        body["text"].as_str().unwrap_or("").contains("Globex"),
        "{body}"
    );
    assert!(
        body["url"]
            .as_str()
            .unwrap_or("")
            .starts_with("https://escamap.example.com/"),
        "{body}"
    );
    let findings = body["findings"].as_array().expect("findings");
    assert!(!findings.is_empty());
    for f in findings {
        assert!(
            ["spike", "emerging"].contains(&f["kind"].as_str().unwrap_or("")),
            "{f}"
        );
        assert!(
            f["url"]
                .as_str()
                .unwrap_or("")
                .starts_with("https://escamap.example.com/data?"),
            "{f}"
        );
        assert_eq!(f["period"]["from"], "2026-01-01", "{f}");
    }
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "spike" && f["slice"]["client"] == "Globex"),
        "{body}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "emerging" && f["slice"]["client"] == "Initech"),
        "{body}"
    );

    // A new process (a restart), and a re-import of the same January (last id wins: nothing
    // changes): nothing is sent again.
    let (ok, r) = alerts_run(&cli, &[]);
    assert!(ok && r["queued"] == serde_json::json!([]), "{r}");
    cli.ok(&["import", &cli.write("again.csv", &after)]);
    let (ok, r) = alerts_run(&cli, &[]);
    assert!(ok && r["queued"] == serde_json::json!([]), "{r}");
    assert_eq!(hook.hits().len(), 2);
    let listed = cli.json(&["alerts", "list", "--json"]);
    assert_eq!(listed[0]["messages"][0]["state"], "sent", "{listed}");
    assert_eq!(listed[0]["messages"][0]["attempts"], 2, "{listed}");
    assert!(listed[0].get("secret").is_none() && !listed.to_string().contains(&secret));
}

#[test]
fn an_alert_is_narrowed_by_kind_slice_and_score_and_refuses_what_it_cannot_read() {
    let cli = TestCli::new();
    let (before, after) = world_in_two();
    cli.ok(&["import", &cli.write("2025.csv", before)]);
    cli.add_user("ana", "viewer", "a long enough password");
    let hook = Receiver::start();
    // Only Acme's slice: nothing there changes in January.
    cli.ok(&[
        "alerts",
        "add",
        "--user",
        "ana",
        "--client",
        "Acme",
        "--webhook",
        &hook.url("/acme"),
    ]);
    // Spikes only, at a score no finding reaches.
    cli.ok(&[
        "alerts",
        "add",
        "--user",
        "ana",
        "--kind",
        "spike",
        "--min-score",
        "1000",
        "--webhook",
        &hook.url("/never"),
    ]);
    // Every kind, anywhere.
    cli.ok(&[
        "alerts",
        "add",
        "--user",
        "ana",
        "--webhook",
        &hook.url("/all"),
    ]);
    cli.ok(&["import", &cli.write("2026-01.csv", &after)]);
    let (ok, r) = alerts_run(&cli, &[]);
    assert!(ok, "{r}");
    let hits = hook.hits();
    let paths: Vec<&str> = hits.iter().map(|h| h.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/all"],
        "{r} {:?}",
        hits.iter().map(Hit::json).collect::<Vec<_>>()
    );
    let kinds: std::collections::BTreeSet<String> = hits[0].json()["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["kind"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(kinds.contains("spike") && kinds.len() >= 2, "{kinds:?}");

    for (args, says) in [
        (vec!["--kind", "sneeze"], "unknown kind"),
        (vec!["--min-score=-1"], "minimum score"),
        (vec!["--min-score=NaN"], "minimum score"),
        (
            vec!["--webhook", "ftp://example.com/x"],
            "http:// or https://",
        ),
        (
            vec!["--webhook", "https://u:p@example.com/x"],
            "no user or password",
        ),
        (vec!["--email", "not-an-address"], "invalid e-mail"),
    ] {
        let mut a = vec!["alerts", "add", "--user", "ana"];
        a.extend(args.iter().copied());
        if !args.contains(&"--webhook") && !args.contains(&"--email") {
            a.extend(["--email", "ana@example.com"]);
        }
        let err = cli.fails(&a);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let err = cli.fails(&[
        "alerts",
        "add",
        "--user",
        "nobody",
        "--email",
        "a@example.com",
    ]);
    assert!(err.contains("no user"), "{err}");
    let err = cli.fails(&["alerts", "add", "--user", "ana"]);
    assert!(
        err.contains("--email") && err.contains("--webhook"),
        "{err}"
    );
    let err = cli.fails(&["alerts", "remove", "99"]);
    assert!(!err.is_empty());
}

#[test]
fn serve_sends_an_alert_after_an_import_beside_it_and_not_again_after_a_restart() {
    let cli = TestCli::new();
    let (before, after) = world_in_two();
    cli.ok(&["import", &cli.write("2025.csv", before)]);
    cli.add_user("ana", "viewer", "a long enough password");
    let hook = Receiver::start();
    cli.ok(&[
        "alerts",
        "add",
        "--user",
        "ana",
        "--kind",
        "spike",
        "--webhook",
        &hook.url("/a"),
    ]);
    let envs = [(
        "ESCAMAP_PUBLIC_URL",
        "https://escamap.example.com".to_owned(),
    )];
    let port = free_port();
    let served = cli.serve(&["--port", &port.to_string(), "--no-sample"], &envs, port);
    std::thread::sleep(Duration::from_secs(2));
    assert!(hook.hits().is_empty(), "nothing new at start");
    let started = Instant::now();
    cli.ok(&["import", &cli.write("2026-01.csv", &after)]);
    let hits = hook.wait_for(1, 30);
    assert_eq!(
        hits.len(),
        1,
        "the server sent the alert after the import beside it"
    );
    eprintln!(
        "alert received {:?} after the import began",
        started.elapsed()
    );
    assert_eq!(hits[0].json()["type"], "alert");
    drop(served);
    // Restarted: the finding was sent; it is not sent again.
    let port = free_port();
    let _served = cli.serve(&["--port", &port.to_string(), "--no-sample"], &envs, port);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(hook.hits().len(), 1, "once, across the restart");
}

#[test]
fn a_webhook_subscription_gets_the_digest_as_signed_json() {
    let cli = TestCli::new();
    cli.ok(&["import", &cli.write("world.csv", crate::insights::world())]);
    cli.add_user("ana", "viewer", "a long enough password");
    cli.ok(&[
        "views",
        "save",
        "Billing",
        "--query",
        "tab=product-timeline&product=Billing",
    ]);
    let hook = Receiver::start();
    let out = cli.ok(&[
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
    let secret = secret_in(&out);
    let slot = escamap::domain::Schedule::parse("monthly 1 08:00", "UTC")
        .expect("schedule")
        .next_slot(chrono::Utc::now())
        .expect("next");
    let out = cli
        .cmd()
        .args(["subscriptions", "run-due", "--json", "--now"])
        .arg((slot + chrono::Duration::seconds(30)).to_rfc3339())
        .env("ESCAMAP_PUBLIC_URL", "https://escamap.example.com")
        .env_remove("ESCAMAP_SMTP_URL")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let hits = hook.hits();
    assert_eq!(hits.len(), 1);
    assert!(signed_with(&hits[0], &secret));
    let body = hits[0].json();
    assert_eq!(body["type"], "digest");
    assert!(
        body["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("EscaMap digest: Billing"),
        "{body}"
    );
    assert!(
        body["url"]
            .as_str()
            .unwrap_or("")
            .starts_with("https://escamap.example.com/?"),
        "{body}"
    );
    assert!(body["findings"].is_array(), "{body}");
    assert_eq!(body["subscription"], 1);
}

/// The link in `data` after `Unsubscribe: ` (the text part, quoted-printable undone).
fn unsubscribe_link(data: &str) -> String {
    let text = crate::mail::unqp(data);
    let at = text.find("\nUnsubscribe: ").expect("an unsubscribe line");
    text[at + "\nUnsubscribe: ".len()..]
        .split_whitespace()
        .next()
        .expect("a link")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_unsubscribe_link_in_a_digest_works_without_signing_in_once() {
    crate::helpers::crypto();
    let cli = TestCli::new();
    cli.ok(&["import", &cli.write("world.csv", crate::insights::world())]);
    cli.add_user("ana", "viewer", "a long enough password");
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    cli.ok(&[
        "subscriptions",
        "add",
        "--user",
        "ana",
        "--schedule",
        "daily 08:00",
        "--email",
        "ana@example.com",
    ]);
    let smtp = SmtpServer::start(0).await;
    let ca = cli.write("ca.pem", &smtp.ca_pem);
    let slot = escamap::domain::Schedule::parse("daily 08:00", "UTC")
        .expect("schedule")
        .next_slot(chrono::Utc::now())
        .expect("next");
    let out = cli
        .cmd()
        .args(["subscriptions", "run-due", "--json", "--now"])
        .arg((slot + chrono::Duration::seconds(5)).to_rfc3339())
        .env(
            "ESCAMAP_SMTP_URL",
            format!("smtp://127.0.0.1:{}", smtp.port),
        )
        .env("ESCAMAP_MAIL_FROM", "EscaMap <escamap@example.com>")
        .env("ESCAMAP_PUBLIC_URL", &public)
        .env("ESCAMAP_SMTP_CA_FILE", &ca)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mail = smtp.messages().pop().expect("a digest");
    let link = unsubscribe_link(&mail.data);
    assert!(
        link.starts_with(&format!("{public}/unsubscribe/s1.")),
        "{link}"
    );
    let header = mail
        .data
        .lines()
        .find(|l| l.starts_with("List-Unsubscribe:"))
        .expect("List-Unsubscribe");
    assert!(header.contains(&link), "{header}");
    assert!(
        mail.data
            .contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    );

    // A server with accounts: the link needs no session and no CSRF token.
    let _served = cli.serve(&["--port", &port.to_string(), "--no-sample"], &[], port);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client.get(&link).send().await.expect("get");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("body");
    assert!(
        html.contains("This link ends the digest of the whole dashboard"),
        "{html}"
    );
    assert_eq!(
        cli.json(&["subscriptions", "list", "--json"])
            .as_array()
            .map(Vec::len),
        Some(1),
        "a GET ends nothing"
    );
    // Tampered: not found, and the subscription stays.
    let mut forged = link.clone();
    let last = forged.pop().expect("a character");
    forged.push(if last == '0' { '1' } else { '0' });
    for url in [
        forged.clone(),
        link.replace("/s1.", "/s2."),
        format!("{public}/unsubscribe/s1"),
        format!("{public}/unsubscribe/%00"),
    ] {
        let r = client.post(&url).send().await.expect("post");
        assert_eq!(r.status(), 404, "{url}");
    }
    assert_eq!(
        cli.json(&["subscriptions", "list", "--json"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // RFC 8058 one-click, as a mail program sends it: a form body, no cookie, no token.
    let r = client
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("is removed"));
    assert_eq!(
        cli.json(&["subscriptions", "list", "--json"]),
        serde_json::json!([])
    );
    // Twice is fine.
    let r = client.post(&link).send().await.expect("again");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("removed already"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_subscriptions_page_is_each_users_own_and_an_admins_whole() {
    use crate::helpers::{TestApp, fixture_csv, texts};
    use crate::security::{add_user, signed_in};
    use escamap::domain::Role;
    let t = TestApp::with_csv(&fixture_csv()).await;
    add_user(&t, "ana", Role::Viewer);
    add_user(&t, "bo", Role::Viewer);
    add_user(&t, "root", Role::Admin);
    let ana = signed_in(&t, "ana").await;
    let bo = signed_in(&t, "bo").await;
    let root = signed_in(&t, "root").await;
    let r = ana
        .post_form(
            "/views",
            &[
                ("name", "API"),
                ("query", "tab=client-overview&product=API"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    // Ana subscribes by mail: a redirect to the listing.
    let r = ana
        .post_form(
            "/subscriptions",
            &[
                ("view", "API"),
                ("schedule", "weekly mon 08:00"),
                ("tz", "Europe/Berlin"),
                ("email", "ana@example.com"),
                ("webhook", ""),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    // ... and to a webhook: the answer shows the secret, once.
    let r = ana
        .post_form(
            "/subscriptions",
            &[
                ("view", ""),
                ("schedule", "daily 09:00"),
                ("tz", "UTC"),
                ("email", ""),
                ("webhook", "https://hooks.example.com/T/B/X"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let doc = scraper::Html::parse_document(&r.text().await.expect("body"));
    let secret = texts(&doc, "#webhook-secret");
    assert_eq!(secret.len(), 1);
    assert_eq!(secret[0].len(), 64);
    let (_, doc) = ana.html("/subscriptions").await;
    let rows = texts(&doc, "tr.subscription th");
    assert_eq!(rows, ["API", "The whole dashboard"]);
    assert!(!doc.html().contains(&secret[0]), "never shown again");
    // An alert, with kinds and a slice.
    let r = ana
        .post_form(
            "/alerts",
            &[
                ("kind_spike", "on"),
                ("view", "API"),
                ("min_score", "2"),
                ("email", "ana@example.com"),
                ("webhook", ""),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, doc) = ana.html("/subscriptions").await;
    assert_eq!(
        texts(&doc, "tr.alert th"),
        ["spike findings in product: API, score ≥ 2"]
    );
    // Mistakes come back on the page, the form as filled, with a 400.
    for (path, fields, says) in [
        (
            "/subscriptions",
            vec![
                ("schedule", "hourly"),
                ("tz", "UTC"),
                ("email", "ana@example.com"),
            ],
            "schedule",
        ),
        (
            "/subscriptions",
            vec![
                ("schedule", "daily 08:00"),
                ("tz", "Mars/Olympus"),
                ("email", "ana@example.com"),
            ],
            "Mars/Olympus",
        ),
        (
            "/subscriptions",
            vec![
                ("schedule", "daily 08:00"),
                ("tz", "UTC"),
                ("email", "a@example.com"),
                ("webhook", "https://x.example/h"),
            ],
            "not both",
        ),
        (
            "/alerts",
            vec![("min_score", "lots"), ("email", "ana@example.com")],
            "not a number",
        ),
        (
            "/alerts",
            vec![("view", "nope"), ("email", "ana@example.com")],
            "no saved view",
        ),
    ] {
        let r = ana.post_form(path, &fields).await;
        assert_eq!(r.status().as_u16(), 400, "{fields:?}");
        let html = r.text().await.expect("body");
        assert!(html.contains(says), "{says}: {html}");
    }
    // Bo sees none of Ana's and cannot remove them; the admin sees and removes all.
    let (_, doc) = bo.html("/subscriptions").await;
    assert!(texts(&doc, "tr.subscription th").is_empty());
    assert!(texts(&doc, "tr.alert th").is_empty());
    let r = bo.post_form("/subscriptions/delete", &[("id", "1")]).await;
    assert_eq!(r.status().as_u16(), 403);
    let r = bo.post_form("/alerts/delete", &[("id", "1")]).await;
    assert_eq!(r.status().as_u16(), 403);
    let r = bo.post_form("/subscriptions/delete", &[("id", "x")]).await;
    assert_eq!(r.status().as_u16(), 400);
    let (_, doc) = root.html("/subscriptions").await;
    assert_eq!(texts(&doc, "tr.subscription th").len(), 2);
    assert_eq!(
        texts(&doc, "tr.subscription td:first-child"),
        ["ana", "ana"]
    );
    let r = root
        .post_form("/subscriptions/delete", &[("id", "1")])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let r = ana.post_form("/alerts/delete", &[("id", "1")]).await;
    assert_eq!(r.status().as_u16(), 303);
    let r = ana.post_form("/alerts/delete", &[("id", "1")]).await;
    assert_eq!(r.status().as_u16(), 404);
    let (_, doc) = ana.html("/subscriptions").await;
    assert_eq!(texts(&doc, "tr.subscription th"), ["The whole dashboard"]);
    // Without its CSRF token, a change is refused; signed out, there is no page.
    let r = ana
        .client
        .post(ana.url("/subscriptions/delete"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("id=2")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);
    let anon = t.with_new_client();
    assert_eq!(anon.get("/subscriptions").await.status().as_u16(), 303);
}

#[test]
fn a_daily_digest_keeps_its_local_hour_across_the_daylight_saving_change() {
    let cli = TestCli::new();
    cli.ok(&["import", &cli.write("world.csv", crate::insights::world())]);
    cli.add_user("ana", "viewer", "a long enough password");
    let hook = Receiver::start();
    for tz in ["Europe/Berlin", "America/New_York"] {
        cli.ok(&[
            "subscriptions",
            "add",
            "--user",
            "ana",
            "--schedule",
            "daily 08:00",
            "--tz",
            tz,
            "--webhook",
            &hook.url(&format!("/{tz}")),
        ]);
    }
    // Europe moves its clocks on 28 March 2027, America on 14 March 2027: 08:00 in Berlin is
    // 07:00 UTC before and 06:00 UTC after; in New York 13:00 UTC before and 12:00 after.
    let run = |now: &str| -> Vec<(i64, String)> {
        let out = cli
            .cmd()
            .args(["subscriptions", "run-due", "--json", "--now", now])
            .env("ESCAMAP_PUBLIC_URL", "https://escamap.example.com")
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        v["sent"]
            .as_array()
            .expect("sent")
            .iter()
            .map(|s| {
                (
                    s["subscription"].as_i64().unwrap_or(0),
                    s["slot"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let slot = |id: i64, t: &str| (id, t.to_owned());
    assert_eq!(
        run("2027-03-13T13:00:30Z"),
        [
            slot(1, "2027-03-13T07:00:00Z"),
            slot(2, "2027-03-13T13:00:00Z")
        ]
    );
    // New York has moved: 08:00 is 12:00 UTC now, and 13:00 is not due again.
    assert_eq!(
        run("2027-03-14T12:00:30Z"),
        [
            slot(1, "2027-03-14T07:00:00Z"),
            slot(2, "2027-03-14T12:00:00Z")
        ]
    );
    assert_eq!(run("2027-03-14T13:00:30Z"), []);
    // Days missed: the latest slot of each, once.
    assert_eq!(
        run("2027-03-27T07:00:30Z"),
        [
            slot(1, "2027-03-27T07:00:00Z"),
            slot(2, "2027-03-26T12:00:00Z")
        ]
    );
    // Berlin has moved: 08:00 is 06:00 UTC, and 07:00 is not due again.
    assert_eq!(
        run("2027-03-28T06:00:30Z"),
        [
            slot(1, "2027-03-28T06:00:00Z"),
            slot(2, "2027-03-27T12:00:00Z")
        ]
    );
    assert_eq!(run("2027-03-28T07:00:30Z"), []);
    assert_eq!(hook.hits().len(), 8);
}

#[test]
fn four_processes_on_one_postgresql_database_send_an_alert_exactly_once() {
    let Some(db) = escamap::store::testing::ScratchDb::create(
        "four_processes_on_one_postgresql_database_send_an_alert_exactly_once",
    ) else {
        return;
    };
    let cli = TestCli::on(db.url());
    let (before, after) = world_in_two();
    cli.ok(&["import", &cli.write("2025.csv", before)]);
    cli.add_user("ana", "viewer", "a long enough password");
    let hook = Receiver::start();
    cli.ok(&[
        "alerts",
        "add",
        "--user",
        "ana",
        "--kind",
        "spike",
        "--webhook",
        &hook.url("/pg"),
    ]);
    cli.ok(&["import", &cli.write("2026-01.csv", &after)]);
    // Four instances asking at once, as four servers would after the same change.
    let runs: Vec<std::process::Child> = (0..4)
        .map(|_| {
            cli.cmd()
                .args(["alerts", "run", "--json"])
                .env("ESCAMAP_PUBLIC_URL", "https://escamap.example.com")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("runs")
        })
        .collect();
    let (mut queued, mut sent) = (0, 0);
    for r in runs {
        let out = r.wait_with_output().expect("wait");
        assert!(out.status.success());
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        queued += v["queued"].as_array().map_or(0, Vec::len);
        sent += v["sent"].as_array().map_or(0, Vec::len);
    }
    assert_eq!((queued, sent), (1, 1), "one queued it, one sent it");
    assert_eq!(hook.hits().len(), 1, "one POST");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_by_mail_names_its_findings_and_carries_its_own_unsubscribe_link() {
    let cli = TestCli::new();
    let (before, after) = world_in_two();
    cli.ok(&["import", &cli.write("2025.csv", before)]);
    cli.add_user("ana", "viewer", "a long enough password");
    cli.ok(&[
        "views",
        "save",
        "Globex",
        "--query",
        "tab=client-overview&client=Globex",
    ]);
    cli.ok(&[
        "alerts",
        "add",
        "--user",
        "ana",
        "--view",
        "Globex",
        "--email",
        "ana@example.com",
    ]);
    cli.ok(&["import", &cli.write("2026-01.csv", &after)]);
    let smtp = SmtpServer::start(0).await;
    let ca = cli.write("ca.pem", &smtp.ca_pem);
    let (ok, r) = alerts_run(
        &cli,
        &[
            (
                "ESCAMAP_SMTP_URL",
                format!("smtp://127.0.0.1:{}", smtp.port),
            ),
            (
                "ESCAMAP_MAIL_FROM",
                "EscaMap <escamap@example.com>".to_owned(),
            ),
            ("ESCAMAP_SMTP_CA_FILE", ca),
        ],
    );
    assert!(ok, "{r}");
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert!(m.starttls, "STARTTLS offered and used");
    assert_eq!(m.to, ["<ana@example.com>"]);
    let text = crate::mail::unqp(&m.data);
    assert!(text.contains("Subject: EscaMap alert: "), "{text}");
    assert!(text.contains("in client: Globex"), "{text}");
    assert!(text.contains("Spike: Globex"), "{text}");
    assert!(
        text.contains("Tickets: https://escamap.example.com/data?"),
        "{text}"
    );
    let link = unsubscribe_link(&m.data);
    assert!(
        link.starts_with("https://escamap.example.com/unsubscribe/a1."),
        "{link}"
    );
    assert!(
        text.contains(&format!("List-Unsubscribe: <{link}>")),
        "{text}"
    );
    // Only Globex's slice: no other client's finding is in it.
    assert!(
        !text.contains("Initech") && !text.contains("Hooli"),
        "{text}"
    );
}

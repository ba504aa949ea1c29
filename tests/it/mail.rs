//! Digests by mail: a real SMTP conversation with a small server this test starts (greeting,
//! EHLO, STARTTLS with a certificate made here, AUTH PLAIN, MAIL, RCPT, DATA), so the message
//! EscaMap's mailer (lettre) sends is read as a mail server reads it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

use crate::helpers::TestCli;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One message as the server received it.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub starttls: bool,
    /// The `AUTH PLAIN` credentials, decoded: `user\0password`.
    pub auth: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

pub struct SmtpServer {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// The CA file the client must trust (the server's own self-signed certificate).
    pub ca_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    /// Listens on 127.0.0.1 (on `port`, or any), offering STARTTLS.
    pub async fn start(port: u16) -> Self {
        crate::helpers::crypto();
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
            .expect("a certificate");
        let ca_pem = cert.cert.pem();
        let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())
            .expect("key");
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, sink) = (acceptor.clone(), sink.clone());
                tokio::spawn(async move {
                    let _ = converse(Box::new(tcp), acceptor, sink).await;
                });
            }
        });
        Self {
            port,
            received,
            ca_pem,
            task,
        }
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

async fn converse(
    stream: Box<dyn Stream>,
    acceptor: tokio_rustls::TlsAcceptor,
    sink: Arc<Mutex<Vec<Received>>>,
) -> std::io::Result<()> {
    let mut io = BufReader::new(stream);
    let mut msg = Received::default();
    io.get_mut().write_all(b"220 test.local ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if io.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let tls = if msg.starttls { "" } else { "250-STARTTLS\r\n" };
            format!("250-test.local\r\n{tls}250-AUTH PLAIN\r\n250 8BITMIME\r\n")
        } else if upper == "STARTTLS" {
            io.get_mut().write_all(b"220 go ahead\r\n").await?;
            let tcp = io.into_inner();
            let tls = acceptor.accept(tcp).await?;
            io = BufReader::new(Box::new(tls) as Box<dyn Stream>);
            msg.starttls = true;
            continue;
        } else if let Some(b64) = upper.strip_prefix("AUTH PLAIN ") {
            let raw = cmd[cmd.len() - b64.len()..].to_owned();
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(raw.trim())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            msg.auth = Some(text.trim_start_matches('\0').to_owned());
            "235 2.7.0 authenticated\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            msg.from = cmd[10..].trim().to_owned();
            "250 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            msg.to.push(cmd[8..].trim().to_owned());
            "250 ok\r\n".into()
        } else if upper == "DATA" {
            io.get_mut().write_all(b"354 end with .\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if io.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            msg.data = data;
            sink.lock().expect("lock").push(msg.clone());
            "250 2.0.0 queued\r\n".into()
        } else if upper == "QUIT" {
            io.get_mut().write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            "250 ok\r\n".into()
        } else {
            "502 not implemented\r\n".into()
        };
        io.get_mut().write_all(reply.as_bytes()).await?;
        io.get_mut().flush().await?;
    }
}

/// Quoted-printable soft line breaks and `=XX` escapes undone, for reading a text part.
pub fn unqp(s: &str) -> String {
    let joined = s.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn world_cli() -> TestCli {
    let cli = TestCli::new();
    let file = cli.write("world.csv", crate::insights::world());
    cli.ok(&["import", &file]);
    cli
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digest_goes_out_over_starttls_with_both_alternatives_the_inline_heatmap_and_absolute_links()
 {
    let server = SmtpServer::start(0).await;
    let cli = world_cli();
    let ca = cli.write("smtp-ca.pem", &server.ca_pem);
    cli.ok(&[
        "views",
        "save",
        "Billing watch",
        "--query",
        "tab=product-timeline&product=Billing",
    ]);
    let url = format!(
        "smtp://digest%40example.com:s3cret%21@127.0.0.1:{}",
        server.port
    );
    let out = cli
        .cmd()
        .args([
            "digest",
            "send",
            "--view",
            "Billing watch",
            "--every",
            "monthly",
            "--to",
            "ana@example.com",
            "--to",
            "Bo <bo@example.com>",
            "--public-url",
            "https://escamap.example.com/",
        ])
        .env("ESCAMAP_SMTP_URL", &url)
        .env("ESCAMAP_MAIL_FROM", "EscaMap <escamap@example.com>")
        .env("ESCAMAP_SMTP_CA_FILE", &ca)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains("s3cret") && !stderr.contains("s3cret"),
        "no password in the output: {stdout} {stderr}"
    );
    assert!(
        stdout.contains("smtp://digest@example.com@127.0.0.1"),
        "{stdout}"
    );
    let got = server.messages();
    assert_eq!(got.len(), 1, "one message");
    let m = &got[0];
    assert!(
        m.starttls,
        "the server offered STARTTLS and the client used it"
    );
    assert_eq!(m.auth.as_deref(), Some("digest@example.com\0s3cret!"));
    assert_eq!(m.from, "<escamap@example.com>");
    assert_eq!(m.to, ["<ana@example.com>", "<bo@example.com>"]);
    let data = &m.data;
    assert!(
        data.contains("Subject: EscaMap digest: Billing watch"),
        "{data}"
    );
    assert!(data.contains("Content-Type: multipart/alternative"));
    assert!(data.contains("Content-Type: text/plain; charset=utf-8"));
    assert!(data.contains("Content-Type: multipart/related"));
    assert!(data.contains("Content-Type: text/html; charset=utf-8"));
    assert!(data.contains("Content-Type: image/png"));
    assert!(data.contains("Content-ID: <heatmap>"));
    assert!(data.contains("Content-Disposition: inline"));
    // Quoted-printable undone, and the HTML's escaped ampersands read back.
    let body = unqp(data).replace("&#38;", "&").replace("&amp;", "&");
    assert!(
        body.contains("src=\"cid:heatmap\""),
        "the HTML shows the inline image"
    );
    assert!(
        body.contains("href=\"https://escamap.example.com/?tab=product-timeline&product=Billing\""),
        "the dashboard link, absolute, in the view's state"
    );
    assert!(
        body.contains(
            "Dashboard: https://escamap.example.com/?tab=product-timeline&product=Billing"
        )
    );
    // The findings, with their links to the tickets, in both alternatives.
    assert!(
        body.contains("Tickets: https://escamap.example.com/data?"),
        "{body}"
    );
    assert!(body.contains("href=\"https://escamap.example.com/data?"));
    assert!(body.contains("Total Escalations"));
    for href in body.split("href=\"").skip(1) {
        let link = href.split('"').next().unwrap_or("");
        assert!(
            link.starts_with("https://escamap.example.com/"),
            "absolute: {link}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_to_a_server_that_is_down_fails_clearly_and_a_preview_writes_the_message() {
    let cli = world_cli();
    let port = crate::helpers::free_port();
    let out = cli
        .cmd()
        .args(["digest", "send", "--to", "ana@example.com"])
        .env(
            "ESCAMAP_SMTP_URL",
            format!("smtp://u:pw-not-shown@127.0.0.1:{port}"),
        )
        .env("ESCAMAP_MAIL_FROM", "escamap@example.com")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sending failed"), "{err}");
    assert!(!err.contains("pw-not-shown"), "{err}");
    for (url, why) in [
        ("http://host", "expected smtp or smtps"),
        ("smtp://", "invalid SMTP URL"),
    ] {
        let out = cli
            .cmd()
            .args([
                "digest",
                "send",
                "--to",
                "a@example.com",
                "--mail-from",
                "b@example.com",
            ])
            .env("ESCAMAP_SMTP_URL", url)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(why), "{url}: {err}");
    }
    // Preview: the message as it would be sent, and an HTML file with the image inside.
    let eml = cli.path("digest.eml");
    cli.ok(&[
        "digest",
        "preview",
        "--every",
        "monthly",
        "--out",
        &eml,
        "--to",
        "ana@example.com",
    ]);
    let text = String::from_utf8(std::fs::read(&eml).expect("eml")).expect("utf-8");
    assert!(text.contains("To: ana@example.com") && text.contains("multipart/alternative"));
    let html = cli.path("digest.html");
    cli.ok(&["digest", "preview", "--out", &html]);
    let page = std::fs::read_to_string(&html).expect("html");
    assert!(
        page.contains("src=\"data:image/png;base64,iVBOR"),
        "the PNG inside"
    );
    let err = cli.fails(&["digest", "preview", "--out", &cli.path("digest.pdf")]);
    assert!(err.contains(".html or .eml"), "{err}");
    let err = cli.fails(&["digest", "preview", "--view", "nope", "--out", &html]);
    assert!(err.contains("no saved view"), "{err}");
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// `subscriptions run-due --now T` with the test server's mail settings.
fn run_due(
    cli: &TestCli,
    now: chrono::DateTime<chrono::Utc>,
    port: u16,
    ca: &str,
) -> serde_json::Value {
    let out = cli
        .cmd()
        .args([
            "subscriptions",
            "run-due",
            "--json",
            "--now",
            &now.to_rfc3339(),
        ])
        .env("ESCAMAP_SMTP_URL", format!("smtp://127.0.0.1:{port}"))
        .env("ESCAMAP_MAIL_FROM", "EscaMap <escamap@example.com>")
        .env("ESCAMAP_PUBLIC_URL", "https://escamap.example.com")
        .env("ESCAMAP_SMTP_CA_FILE", ca)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

fn subscribed(cli: &TestCli) -> (i64, chrono::DateTime<chrono::Utc>) {
    cli.add_user("ana", "viewer", "a long enough password");
    cli.ok(&[
        "views",
        "save",
        "Billing watch",
        "--query",
        "tab=product-timeline&product=Billing",
    ]);
    let out = cli.ok(&[
        "subscriptions",
        "add",
        "--user",
        "ana",
        "--schedule",
        "weekly mon 08:00",
        "--tz",
        "Europe/Berlin",
        "--view",
        "billing WATCH",
        "--email",
        "ana@example.com",
    ]);
    let id: i64 = out
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.trim_end_matches(':').parse().ok())
        .unwrap_or_else(|| panic!("an id in {out:?}"));
    let slot = escamap::domain::Schedule::parse("weekly mon 08:00", "Europe/Berlin")
        .expect("schedule")
        .next_slot(chrono::Utc::now())
        .expect("a next Monday");
    (id, slot)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_is_sent_once_per_slot_late_once_and_retried_until_it_goes_exactly_once() {
    let cli = world_cli();
    let (id, slot) = subscribed(&cli);
    let m = chrono::Duration::minutes;
    let port = crate::helpers::free_port();
    let ca_dir = tempfile::tempdir().expect("dir");
    // Before the first slot: nothing is due (the one before the subscription is not sent).
    let r = run_due(&cli, slot - m(1), port, "");
    assert_eq!(
        (r["sent"].as_array().map(Vec::len), r["not_due"].as_u64()),
        (Some(0), Some(1))
    );
    // The slot comes while the mail server is down: a failure, recorded, retried later.
    let r = run_due(&cli, slot + chrono::Duration::seconds(30), port, "");
    assert_eq!(r["failed"][0]["attempt"], 1, "{r}");
    assert_eq!(r["failed"][0]["subscription"], id);
    // Not before its retry time (a minute on).
    let r = run_due(&cli, slot + chrono::Duration::seconds(45), port, "");
    assert!(
        r["sent"].as_array().is_some_and(Vec::is_empty)
            && r["failed"].as_array().is_some_and(Vec::is_empty),
        "{r}"
    );
    // The server is back: sent, once.
    let server = SmtpServer::start(port).await;
    let ca = ca_dir.path().join("ca.pem");
    std::fs::write(&ca, &server.ca_pem).expect("ca");
    let ca = ca.to_string_lossy().into_owned();
    let r = run_due(&cli, slot + m(2), port, &ca);
    let want_id = format!(
        "<digest.{id}.{}@example.com>",
        slot.format("%Y%m%dT%H%M%SZ")
    );
    assert_eq!(r["sent"][0]["message_id"], want_id.as_str(), "{r}");
    for later in [m(3), m(60), chrono::Duration::days(6)] {
        let r = run_due(&cli, slot + later, port, &ca);
        assert!(
            r["sent"].as_array().is_some_and(Vec::is_empty),
            "never twice: {r}"
        );
    }
    let got = server.messages();
    assert_eq!(got.len(), 1, "exactly one delivery");
    let mail = &got[0];
    assert!(mail.starttls);
    assert_eq!(mail.to, ["<ana@example.com>"]);
    assert!(
        mail.data.contains(&format!("Message-ID: {want_id}")),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("Subject: EscaMap digest: Billing watch"));
    let body = unqp(&mail.data);
    assert!(
        body.contains("ana subscribed to Billing watch, weekly mon 08:00 (Europe/Berlin)"),
        "{body}"
    );
    // The week's period ends the day before the slot, in Berlin.
    let last = (slot.with_timezone(&chrono_tz::Europe::Berlin).date_naive())
        .pred_opt()
        .expect("day");
    let first = last - chrono::Duration::days(6);
    assert!(body.contains(&format!("{first} to {last}")), "{body}");
    // Two weeks missed: the latest slot goes late, once; the one in between is not sent.
    let r = run_due(
        &cli,
        slot + chrono::Duration::days(14) + chrono::Duration::hours(3),
        port,
        &ca,
    );
    assert_eq!(r["sent"].as_array().map(Vec::len), Some(1), "{r}");
    let r = run_due(
        &cli,
        slot + chrono::Duration::days(14) + chrono::Duration::hours(4),
        port,
        &ca,
    );
    assert!(r["sent"].as_array().is_some_and(Vec::is_empty), "{r}");
    assert_eq!(server.messages().len(), 2);
    // The list shows it; removing it stops it.
    let list = cli.json(&["subscriptions", "list", "--json"]);
    assert_eq!(list[0]["schedule"], "weekly mon 08:00");
    assert_eq!(list[0]["view"], "Billing watch");
    cli.ok(&["subscriptions", "remove", &id.to_string()]);
    let r = run_due(
        &cli,
        slot + chrono::Duration::days(21) + chrono::Duration::hours(1),
        port,
        &ca,
    );
    assert_eq!(r["not_due"], 0, "no subscription left: {r}");
}

#[test]
fn a_subscription_names_what_is_wrong_with_it() {
    let cli = world_cli();
    cli.add_user("ana", "viewer", "a long enough password");
    for (args, why) in [
        (
            vec!["--user", "nobody", "--schedule", "daily 08:00"],
            "no user \"nobody\"",
        ),
        (
            vec!["--user", "ana", "--schedule", "hourly"],
            "expected 'daily HH:MM'",
        ),
        (
            vec![
                "--user",
                "ana",
                "--schedule",
                "daily 08:00",
                "--tz",
                "Mars/Base",
            ],
            "unknown time zone",
        ),
        (
            vec![
                "--user",
                "ana",
                "--schedule",
                "daily 08:00",
                "--view",
                "nope",
            ],
            "no saved view",
        ),
    ] {
        let mut all = vec!["subscriptions", "add", "--email", "ana@example.com"];
        all.extend(args);
        let err = cli.fails(&all);
        assert!(err.contains(why), "{all:?}: {err}");
    }
    let err = cli.fails(&[
        "subscriptions",
        "add",
        "--user",
        "ana",
        "--schedule",
        "daily 08:00",
        "--email",
        "not an address",
    ]);
    assert!(err.contains("invalid e-mail address"), "{err}");
    assert!(
        cli.ok(&["subscriptions", "list"])
            .contains("no subscriptions yet")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_postgresql_database_send_a_slot_exactly_once() {
    let Some(db) = escamap::store::testing::ScratchDb::create(
        "two_instances_on_one_postgresql_database_send_a_slot_exactly_once",
    ) else {
        return;
    };
    let cli = TestCli::on(db.url());
    let file = cli.write("world.csv", crate::insights::world());
    cli.ok(&["import", &file]);
    let (_, slot) = subscribed(&cli);
    let server = SmtpServer::start(0).await;
    let ca = cli.write("ca.pem", &server.ca_pem);
    let now = slot + chrono::Duration::minutes(1);
    // Several processes at the same instant, as instances whose minute ticks line up.
    let runs: Vec<std::process::Child> = (0..4)
        .map(|_| {
            cli.cmd()
                .args([
                    "subscriptions",
                    "run-due",
                    "--json",
                    "--now",
                    &now.to_rfc3339(),
                ])
                .env(
                    "ESCAMAP_SMTP_URL",
                    format!("smtp://127.0.0.1:{}", server.port),
                )
                .env("ESCAMAP_MAIL_FROM", "escamap@example.com")
                .env("ESCAMAP_SMTP_CA_FILE", &ca)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("runs")
        })
        .collect();
    let mut sent = 0;
    for r in runs {
        let out = r.wait_with_output().expect("wait");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        sent += v["sent"].as_array().map_or(0, Vec::len);
    }
    assert_eq!(sent, 1, "one instance claimed the slot");
    assert_eq!(server.messages().len(), 1, "one mail");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_sends_what_is_due_each_minute_by_itself() {
    let cli = world_cli();
    cli.add_user("ana", "viewer", "a long enough password");
    let server = SmtpServer::start(0).await;
    let ca = cli.write("ca.pem", &server.ca_pem);
    // A daily slot a minute or two from now, in UTC.
    let now = chrono::Utc::now();
    let at = now
        + chrono::Duration::seconds(if chrono::Timelike::second(&now) > 50 {
            120
        } else {
            60
        });
    let schedule = format!("daily {}", at.format("%H:%M"));
    cli.ok(&[
        "subscriptions",
        "add",
        "--user",
        "ana",
        "--schedule",
        &schedule,
        "--email",
        "ana@example.com",
    ]);
    let port = crate::helpers::free_port();
    let _served = cli.serve(
        &["--port", &port.to_string(), "--no-sample"],
        &[
            (
                "ESCAMAP_SMTP_URL",
                format!("smtp://127.0.0.1:{}", server.port),
            ),
            (
                "ESCAMAP_MAIL_FROM",
                "EscaMap <escamap@example.com>".to_owned(),
            ),
            (
                "ESCAMAP_PUBLIC_URL",
                "https://escamap.example.com".to_owned(),
            ),
            ("ESCAMAP_SMTP_CA_FILE", ca.clone()),
        ],
        port,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(200);
    while server.messages().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let got = server.messages();
    assert_eq!(
        got.len(),
        1,
        "the slot at {schedule} was sent by the server"
    );
    assert!(got[0].data.contains("Subject: EscaMap digest"));
    // And not again on the next minute's run.
    tokio::time::sleep(Duration::from_secs(62)).await;
    assert_eq!(server.messages().len(), 1, "once");
}

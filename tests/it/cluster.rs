//! Several `escamap serve` processes on one PostgreSQL database, as a team behind a load balancer
//! runs them: what one instance is told, the others know within two seconds, and a database
//! restart is survived by all of them.
//!
//! `two_instances_share_one_database` uses a scratch database on the PostgreSQL server (CI's,
//! on 127.0.0.1:5432). `instances_survive_a_database_restart` starts a PostgreSQL cluster of its
//! own (initdb, pg_ctl), so that restarting it disturbs no other test. Both skip with a notice
//! when PostgreSQL is missing, and fail instead under `ESCAMAP_CI=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use escamap::store::testing::{ScratchDb, skip_notice};

use crate::helpers::{Served, TestCli, cookie_client, free_port, sign_in};

const PASSWORD: &str = "a long enough password";
/// What the issue promises: a change on one instance is visible on the others within this.
const PROPAGATION: Duration = Duration::from_secs(2);

fn rows(n: usize, prefix: &str) -> String {
    let mut csv = String::from("Ticket,Customer,Product,Region,Priority,Created\n");
    for i in 0..n {
        csv.push_str(&format!(
            "{prefix}-{i},Client {},API,EMEA,P{},2025-0{}-1{}\n",
            i % 7,
            i % 4 + 1,
            i % 9 + 1,
            i % 10
        ));
    }
    csv
}

struct Instance {
    _served: Served,
    base: String,
}

fn start(t: &TestCli) -> Instance {
    let port = free_port();
    let served = t.serve(&["--port", &port.to_string(), "--no-sample"], &[], port);
    Instance {
        _served: served,
        base: format!("http://127.0.0.1:{port}"),
    }
}

impl Instance {
    async fn import(&self, token: &str, csv: String) -> serde_json::Value {
        let r = api()
            .post(format!("{}/api/v1/imports", self.base))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("import");
        assert_eq!(r.status().as_u16(), 201);
        r.json().await.expect("report")
    }

    async fn total(&self, token: &str) -> Option<u64> {
        let r = api()
            .get(format!("{}/api/v1/stats", self.base))
            .bearer_auth(token)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json::<serde_json::Value>().await.ok()?["total_escalations"].as_u64()
    }

    /// Polls until the instance reports `want` escalations; returns how long that took.
    async fn sees(&self, token: &str, want: u64, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let got = self.total(token).await;
            if got == Some(want) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "{} still shows {got:?} escalations, not {want}, after {within:?}",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn status(&self, client: &reqwest::Client, path: &str) -> u16 {
        match client.get(format!("{}{path}", self.base)).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }
}

fn api() -> reqwest::Client {
    crate::helpers::crypto();
    reqwest::Client::new()
}

fn token(t: &TestCli, user: &str) -> String {
    t.ok(&["user", "token", user, "--label", "cluster-test"])
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_one_database() {
    let Some(db) = ScratchDb::create("two_instances_share_one_database") else {
        return;
    };
    let t = TestCli::on(db.url());
    t.add_user("ada", "admin", PASSWORD);
    let token = token(&t, "ada");
    let (a, b) = (start(&t), start(&t));

    // An import on A is on B within two seconds; a delete on B is gone from A as fast.
    let report = a.import(&token, rows(300, "T")).await;
    assert_eq!(report["imported"], 300);
    let took = b.sees(&token, 300, PROPAGATION).await;
    eprintln!("import on A visible on B after {took:?}");
    let id = report["import_id"].as_i64().expect("id");
    let r = api()
        .delete(format!("{}/api/v1/imports/{id}", b.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 200);
    a.sees(&token, 0, PROPAGATION).await;

    // A session started on A is accepted by B (the cookie jar sends it to both, as a browser
    // behind a load balancer would); signing out on B ends it on A.
    let browser = cookie_client();
    assert_eq!(
        b.status(&browser, "/").await,
        303,
        "B wants a sign-in first"
    );
    assert_eq!(sign_in(&browser, &a.base, "ada", PASSWORD).await, 303);
    assert_eq!(b.status(&browser, "/").await, 200, "B accepts A's session");
    assert_eq!(b.status(&browser, "/admin").await, 200, "with its role");
    let logout_page = browser
        .get(format!("{}/", b.base))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let csrf = crate::helpers::attrs(
        &scraper::Html::parse_document(&logout_page),
        "form[action='/logout'] input[name=csrf]",
        "value",
    );
    let r = browser
        .post(format!("{}/logout", b.base))
        .form(&[("csrf", csrf[0].as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(a.status(&browser, "/").await, 303, "signed out everywhere");

    // Failed logins are counted in the database: spreading a guessing attack over both
    // instances gains nothing.
    let guesser = cookie_client();
    for i in 0..5 {
        let on = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            sign_in(&guesser, &on.base, "ada", "wrong password!!").await,
            401
        );
    }
    assert_eq!(
        sign_in(&guesser, &b.base, "ada", PASSWORD).await,
        429,
        "the sixth try is refused whichever instance takes it"
    );
}

/// A PostgreSQL cluster of the test's own, in a temporary directory, on a free port.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
    /// Extra server settings (`-c name=value ...`).
    settings: String,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// `None` after a notice when PostgreSQL's server programs are not installed.
    fn create(test: &str) -> Option<Self> {
        Self::create_with(test, |_| String::new())
    }

    /// As [`Cluster::create`]; `setup` gets the data directory before the first start and returns
    /// extra server settings.
    fn create_with(test: &str, setup: impl FnOnce(&Path) -> String) -> Option<Self> {
        let Some(bin) = postgres_bin() else {
            let why = format!(
                "{test}: needs PostgreSQL's server programs (initdb, pg_ctl) under /usr/lib/postgresql"
            );
            if std::env::var("ESCAMAP_CI").is_ok_and(|v| v == "1") {
                panic!("{why}; required because ESCAMAP_CI=1");
            }
            skip_notice(&why);
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        // PostgreSQL refuses to run as root: then the cluster belongs to the postgres user.
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let mut cluster = Self {
            bin,
            data,
            port: free_port(),
            as_postgres,
            settings: String::new(),
            _dir: dir,
        };
        cluster.pg(
            "initdb",
            &[
                "-D",
                &cluster.data.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        cluster.settings = setup(&cluster.data);
        if cluster.as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&cluster.data));
        }
        cluster.start();
        Some(cluster)
    }

    fn pg(&self, program: &str, args: &[&str]) {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.args(args).current_dir("/");
        run(&mut cmd);
    }

    fn start(&self) {
        let socket_dir = self.data.parent().unwrap_or(Path::new("/tmp"));
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off {}",
            self.port,
            socket_dir.display(),
            self.settings
        );
        let log = socket_dir.join("server.log");
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self) {
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data.to_string_lossy().into_owned();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(exe)
                .args(args)
                .output()
        } else {
            Command::new(exe).args(args).output()
        };
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The newest installed PostgreSQL's `bin` directory.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_survive_a_database_restart() {
    let Some(cluster) = Cluster::create("instances_survive_a_database_restart") else {
        return;
    };
    let t = TestCli::on(&cluster.url());
    t.add_user("ada", "admin", PASSWORD);
    let token = token(&t, "ada");
    let (a, b) = (start(&t), start(&t));
    let browser = cookie_client();
    assert_eq!(sign_in(&browser, &a.base, "ada", PASSWORD).await, 303);
    a.import(&token, rows(120, "R")).await;
    b.sees(&token, 120, PROPAGATION).await;

    cluster.stop();
    // While the database is away: not ready, a clear error page, never a crash.
    for i in [&a, &b] {
        assert_eq!(i.status(&browser, "/readyz").await, 503);
        let r = browser
            .get(format!("{}/data", i.base))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(r.status().as_u16(), 503);
        let page = scraper::Html::parse_document(&r.text().await.expect("html"));
        let text = crate::helpers::texts(&page, "main").join(" ");
        assert!(text.contains("unavailable"), "{text}");
    }
    std::thread::sleep(Duration::from_secs(1));
    cluster.start();

    // Both come back by themselves...
    for i in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(20);
        while i.status(&browser, "/readyz").await != 200 {
            assert!(
                Instant::now() < deadline,
                "{} never became ready again",
                i.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // ...with the session from before the restart, and the change feed working again.
    assert_eq!(b.status(&browser, "/").await, 200, "still signed in on B");
    assert_eq!(a.status(&browser, "/").await, 200, "and on A");
    b.import(&token, rows(30, "S")).await;
    a.sees(&token, 150, PROPAGATION).await;
    let later = cookie_client();
    assert_eq!(sign_in(&later, &b.base, "ada", PASSWORD).await, 303);
    assert_eq!(
        a.status(&later, "/").await,
        200,
        "a login on B after the restart works on A"
    );
}

#[test]
fn migrate_store_moves_a_sqlite_store_to_postgres_all_or_nothing() {
    let Some(db) = ScratchDb::create("migrate_store_moves_a_sqlite_store_to_postgres") else {
        return;
    };
    let local = TestCli::new();
    let csv = local.path("demo.csv");
    local.ok(&["demo-data", "--rows", "3000", "--out", &csv]);
    local.ok(&["import", &csv, "--save-profile", "Demo"]);
    local.add_user("ada", "editor", PASSWORD);
    let sqlite = local.db.to_string_lossy().into_owned();
    let copy = |extra: &[&str]| {
        let mut args = vec!["migrate-store", "--from", sqlite.as_str(), "--to", db.url()];
        args.extend_from_slice(extra);
        local.run(&args)
    };
    let out = copy(&["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        summary,
        serde_json::json!({"imports": 1, "escalations": 3000, "users": 1, "tokens": 0, "profiles": 1})
    );

    // The PostgreSQL store answers exactly as the SQLite one did.
    let remote = TestCli::on(db.url());
    for args in [
        &["stats", "--json"][..],
        &[
            "render",
            "--view",
            "client-overview",
            "--out",
            "-",
            "--format",
            "json",
        ][..],
        &[
            "render", "--rows", "month", "--cols", "severity", "--out", "-", "--format", "json",
        ][..],
        &["imports", "list", "--json"][..],
        &["user", "list", "--json"][..],
    ] {
        assert_eq!(remote.ok(args), local.ok(args), "escamap {args:?}");
    }
    assert_eq!(
        remote.ok(&["export", "--out", "-"]),
        local.ok(&["export", "--out", "-"]),
        "every field of every escalation"
    );

    // A second copy would mix two stores: refused, and the target is untouched.
    let again = copy(&[]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("not empty") && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(remote.total(), 3000);
    // A source that is not there is refused before anything is opened.
    let err = local.fails(&[
        "migrate-store",
        "--from",
        "/nonexistent/store.db",
        "--to",
        db.url(),
    ]);
    assert!(err.contains("no store at"), "{err}");
}

/// Instances started together on a new database load the sample data once between them.
#[test]
fn concurrent_first_starts_load_the_sample_once() {
    let Some(db) = ScratchDb::create("concurrent_first_starts_load_the_sample_once") else {
        return;
    };
    let t = TestCli::on(db.url());
    let ports = [free_port(), free_port()];
    let _servers: Vec<Served> = ports
        .iter()
        .map(|port| {
            Served(
                t.cmd()
                    .args(["serve", "--port", &port.to_string()])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("serve starts"),
            )
        })
        .collect();
    for port in ports {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "never listened on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let imports = t.json(&["imports", "list", "--json"]);
    let imports = imports.as_array().expect("a list");
    assert_eq!(imports.len(), 1, "{imports:?}");
    assert_eq!(imports[0]["rows_current"], 2000);
}

/// `sslmode=require` connects with TLS and verifies the server: trusted through
/// `ESCAMAP_DB_CA_FILE` it works, and the server sees an encrypted connection; an unknown CA or a
/// name the certificate does not carry is refused.
#[test]
fn tls_connections_verify_the_server() {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "EscaMap test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
    let server_key = rcgen::KeyPair::generate().expect("key");
    let server_cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&server_key, &ca)
        .expect("server certificate");
    let Some(cluster) = Cluster::create_with("tls_connections_verify_the_server", |data| {
        std::fs::write(data.join("server.crt"), server_cert.pem()).expect("cert");
        std::fs::write(data.join("server.key"), server_key.serialize_pem()).expect("key");
        let key = data.join("server.key");
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod");
        "-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key -c log_connections=on"
            .to_owned()
    }) else {
        return;
    };
    let t = TestCli::new();
    let ca_file = t.write("ca.pem", ca.pem());
    let url = |host: &str| {
        format!(
            "postgres://postgres@{host}:{}/postgres?sslmode=require",
            cluster.port
        )
    };
    let escamap = |db: &str, ca: Option<&str>| {
        let cli = TestCli::on(db);
        let mut c = cli.cmd();
        c.env_remove("ESCAMAP_DB_CA_FILE");
        if let Some(ca) = ca {
            c.env("ESCAMAP_DB_CA_FILE", ca);
        }
        c.args(["stats", "--json"]).output().expect("runs")
    };

    let trusted = escamap(&url("localhost"), Some(&ca_file));
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let log = std::fs::read_to_string(cluster.data.parent().expect("dir").join("server.log"))
        .expect("server log");
    assert!(
        log.lines()
            .any(|l| l.contains("application_name=escamap") && l.contains("SSL enabled")),
        "the server saw no encrypted EscaMap connection:\n{log}"
    );

    let unknown_ca = escamap(&url("localhost"), None);
    assert!(!unknown_ca.status.success());
    let err = String::from_utf8_lossy(&unknown_ca.stderr);
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let wrong_name = escamap(&url("127.0.0.1"), Some(&ca_file));
    assert!(
        !wrong_name.status.success(),
        "a certificate for localhost is not one for 127.0.0.1"
    );
}

//! `TestCli`: a temp directory with its own store, and the real `escamap` binary pointed at it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct TestCli {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl TestCli {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("store.db");
        Self { dir, db }
    }

    /// The binary, with `--db` pointing at this test's store and a clean environment.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_escamap"));
        c.env_remove("ESCAMAP_DB")
            .env_remove("RUST_LOG")
            .arg("--db")
            .arg(&self.db)
            .current_dir(self.dir.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("escamap runs")
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "escamap {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs and requires failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "escamap {args:?} should have failed");
        String::from_utf8(out.stderr).expect("utf-8 output")
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("JSON output")
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write test file");
        path.to_string_lossy().into_owned()
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    pub fn total(&self) -> u64 {
        self.json(&["stats", "--json"])["total_escalations"]
            .as_u64()
            .expect("a count")
    }
}

/// A running `escamap serve`, killed and reaped when dropped.
pub struct Served(pub std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl TestCli {
    /// Starts `escamap serve ARGS` with only `envs` of the server's variables set, and waits until
    /// it listens on `port`.
    pub fn serve(&self, args: &[&str], envs: &[(&str, String)], port: u16) -> Served {
        let mut cmd = self.cmd();
        cmd.arg("serve")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for k in [
            "ESCAMAP_HOST",
            "ESCAMAP_PORT",
            "FLASK_HOST",
            "FLASK_PORT",
            "ESCAMAP_LOG_FILE",
            "LOG_FILE",
            "LOG_LEVEL",
            "ESCAMAP_LOG_LEVEL",
        ] {
            cmd.env_remove(k);
        }
        cmd.envs(envs.iter().map(|(k, v)| (*k, v.as_str())));
        let served = Served(cmd.spawn().expect("serve starts"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the server never listened on {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        served
    }
}

impl TestCli {
    /// A test whose store is `db` (a PostgreSQL URL, say) rather than a file of its own.
    pub fn on(db: &str) -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            db: PathBuf::from(db),
        }
    }

    /// Runs with `input` on standard input, as a script feeding a password would.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd()
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        child.wait_with_output().expect("wait")
    }

    /// `escamap user add NAME --role ROLE`, the password fed on standard input.
    pub fn add_user(&self, name: &str, role: &str, password: &str) {
        let out = self.run_with_input(
            &["user", "add", name, "--role", role],
            &format!("{password}\n"),
        );
        assert!(out.status.success(), "user add {name} failed");
    }
}

/// A client that keeps cookies and shows redirects instead of following them.
pub fn cookie_client() -> reqwest::Client {
    crypto();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Signs in through the login form at `base`; returns the status (303 on success). The client
/// keeps the session cookie.
pub async fn sign_in(client: &reqwest::Client, base: &str, name: &str, password: &str) -> u16 {
    let login = client
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let csrf = attrs(
        &scraper::Html::parse_document(&login),
        "input[name=csrf]",
        "value",
    )[0]
    .clone();
    client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", name),
            ("password", password),
        ])
        .send()
        .await
        .expect("login")
        .status()
        .as_u16()
}

pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path).expect("read output file")
}

/// reqwest is built without a default TLS provider; install ring's once (also used by the TLS test).
pub fn crypto() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

/// Keeps a test server alive: its store directory and its shutdown signal.
struct Server {
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A running server (the real router on a random port over a temp-dir SQLite store) and an HTTP
/// client with its own cookie jar. [`TestApp::with_new_client`] is a second browser.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: escamap::web::AppState,
    server: std::sync::Arc<Server>,
}

fn new_client() -> reqwest::Client {
    crypto();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(escamap::web::ServerConfig::default()).await
    }

    pub async fn spawn_with(config: escamap::web::ServerConfig) -> Self {
        Self::spawn_router(config, escamap::web::router).await
    }

    /// Serves the router `make` builds from the state (tests may add routes to the real ones).
    pub async fn spawn_router(
        config: escamap::web::ServerConfig,
        make: impl FnOnce(escamap::web::AppState) -> axum::Router,
    ) -> Self {
        crypto();
        let dir = tempfile::tempdir().expect("tempdir");
        let app = escamap::app::App::open_sqlite(&dir.path().join("web.db")).expect("open store");
        let secret = escamap::auth::SecretKey::from_bytes(escamap::auth::random_token().as_bytes());
        let state = escamap::web::AppState::new(app, config, secret);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let router = make(state.clone());
        let served = state.clone();
        tokio::spawn(async move {
            let _ = escamap::web::serve_with(listener, None, router, served, async {
                let _ = rx.await;
            })
            .await;
        });
        let server = std::sync::Arc::new(Server {
            _dir: dir,
            shutdown: Some(tx),
        });
        Self {
            base: format!("http://{addr}"),
            client: new_client(),
            state,
            server,
        }
    }

    /// Another client (a second browser, with its own cookies) on the same server.
    pub fn with_new_client(&self) -> Self {
        Self {
            base: self.base.clone(),
            client: new_client(),
            state: self.state.clone(),
            server: self.server.clone(),
        }
    }

    /// A server whose store holds `csv` (imported through the application service).
    pub async fn with_csv(csv: &str) -> Self {
        let t = Self::spawn().await;
        t.state
            .app
            .import(
                "fixture.csv",
                csv.as_bytes(),
                chrono::Local::now().date_naive(),
                &mut |_, _| {},
            )
            .expect("fixture imports");
        t
    }

    /// The CSRF token this client's forms carry (read from a page, as a browser would).
    pub async fn csrf(&self) -> String {
        let (_, doc) = self.html("/login").await;
        let token = attrs(&doc, "input[name=csrf]", "value").into_iter().next();
        token
            .or_else(|| attrs(&doc, "meta[name=csrf]", "content").into_iter().next())
            .unwrap_or_default()
    }

    /// A multipart upload of `content` as `name`, with the CSRF field first, as the page's form sends it.
    pub async fn upload(&self, path: &str, name: &str, content: &[u8]) -> reqwest::Response {
        let csrf = self.csrf().await;
        let part = reqwest::multipart::Part::bytes(content.to_vec()).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf)
            .part("file", part);
        self.client
            .post(self.url(path))
            .multipart(form)
            .send()
            .await
            .expect("upload")
    }

    /// A URL-encoded form POST with the CSRF token added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let csrf = self.csrf().await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.client
            .post(self.url(path))
            .form(&all)
            .send()
            .await
            .expect("post")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn html(&self, path: &str) -> (u16, scraper::Html) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (
            status,
            scraper::Html::parse_document(&r.text().await.expect("body")),
        )
    }

    pub async fn json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (status, r.json().await.expect("JSON body"))
    }
}

/// Texts of the elements matching `selector`, whitespace-trimmed.
pub fn texts(doc: &scraper::Html, selector: &str) -> Vec<String> {
    let sel = scraper::Selector::parse(selector).expect("valid selector");
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

/// Values of attribute `attr` on the elements matching `selector`.
pub fn attrs(doc: &scraper::Html, selector: &str, attr: &str) -> Vec<String> {
    let sel = scraper::Selector::parse(selector).expect("valid selector");
    doc.select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_owned))
        .collect()
}

/// A fixture export: 4 clients, 4 products, 3 regions, every severity, over 3 months (Jan-Mar
/// 2024), with ticket ids, a closed date on some, and hostile text in one summary.
pub fn fixture_csv() -> String {
    let mut s =
        String::from("id,client,product,region,severity,opened,closed,status,summary,email\n");
    let clients = ["Acme", "Globex", "Initech", "Hooli"];
    let products = ["API", "Billing", "Dashboard", "Mobile"];
    let regions = ["Europe", "Asia", "North America"];
    let sev = ["low", "medium", "high", "critical"];
    for i in 0..60u32 {
        let c = clients[(i % 7 % 4) as usize];
        let p = products[(i % 5 % 4) as usize];
        let r = regions[(i % 3) as usize];
        let sv = sev[(i * 7 % 11 % 4) as usize];
        let month = 1 + i % 3;
        let day = 1 + i % 27;
        let closed = if i % 4 == 0 {
            format!("2024-{:02}-{:02}", month, (day + 1).min(28))
        } else {
            String::new()
        };
        let summary = if i == 7 {
            "<script>alert('x')</script> & \"quotes\"".to_owned()
        } else {
            format!("Issue {i}")
        };
        s.push_str(&format!("T-{i},{c},{p},{r},{sv},2024-{month:02}-{day:02},{closed},Open,\"{}\",user{i}@example.com\n", summary.replace('"', "\"\"")));
    }
    s
}

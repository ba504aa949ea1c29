//! Scratch PostgreSQL databases for tests (the library's own and the integration tests).
//!
//! Each test gets a database of its own on the server in `ESCAMAP_TEST_PG` (default: the local
//! server, user postgres), created empty and dropped when the guard goes. Without a server the
//! test is skipped with a printed reason, unless `ESCAMAP_CI=1`: then a missing server fails it,
//! so CI can never skip silently.

use postgres::{Client, NoTls};

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server scratch databases are made on (a URL to its maintenance database).
pub fn server_url() -> String {
    std::env::var("ESCAMAP_TEST_PG").unwrap_or_else(|_| DEFAULT_SERVER.to_owned())
}

/// Says that a test skipped and why, on the terminal: written to stderr directly, because the
/// test harness swallows `eprintln!` from tests that pass.
pub fn skip_notice(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {why}");
}

/// A database that exists for the life of this value.
pub struct ScratchDb {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDb {
    /// A fresh, empty database; `None` (after printing why) when there is no server and this is
    /// not CI. Panics in CI, or on any other failure.
    pub fn create(test: &str) -> Option<Self> {
        let admin_url = server_url();
        let mut admin = match off_runtime({
            let url = admin_url.clone();
            move || Client::connect(&url, NoTls)
        }) {
            Ok(c) => c,
            Err(e) => {
                let why = format!("no PostgreSQL server at {admin_url} ({e})");
                if std::env::var("ESCAMAP_CI").is_ok_and(|v| v == "1") {
                    panic!("{test}: {why}; ESCAMAP_CI=1 requires it");
                }
                skip_notice(&format!(
                    "{test}: {why}; set ESCAMAP_TEST_PG or start one to run it"
                ));
                return None;
            }
        };
        let name = format!(
            "escamap_test_{}_{:08x}",
            std::process::id(),
            fastrand::u32(..)
        );
        let create = format!("CREATE DATABASE {name}");
        off_runtime(move || admin.batch_execute(&create))
            .unwrap_or_else(|e| panic!("{test}: creating {name}: {e}"));
        let url = replace_db(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `sql` on the server's maintenance database (to close this database's connections,
    /// say).
    pub fn admin(&self, sql: &str) {
        let (url, sql) = (self.admin_url.clone(), sql.to_owned());
        off_runtime(move || {
            Client::connect(&url, NoTls)
                .and_then(|mut c| c.batch_execute(&sql))
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        });
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        off_runtime(move || {
            if let Ok(mut admin) = Client::connect(&url, NoTls) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        });
    }
}

/// Runs blocking client code on a thread of its own, so async tests can use these helpers too
/// (the blocking client refuses to run inside an async runtime).
fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The URL with its database name replaced.
pub fn replace_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{base}/{db}{query}")
}

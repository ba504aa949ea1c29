//! Wiring, in one place: [`Application::build`] turns [`Settings`] into a server that is bound
//! and ready (store opened and watched, index loaded, the access policy checked, sample data
//! loaded once, the signing key found, TLS set up), reports its address, and
//! [`Application::run_until`] serves until a shutdown signal. The binary ([`serve`]) and the
//! tests go through the same path.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::app::{App, ImportLimits};
use crate::auth::SecretKey;
use crate::config::{AuthMode, SAMPLE_ROWS, Settings};
use crate::demo::{DemoSpec, generate};
use crate::store::Location;
use crate::web::AppState;

/// A server that is bound and ready to serve.
pub struct Application {
    listener: std::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: AppState,
    addr: SocketAddr,
    /// The metrics' own listener, when `--metrics-addr` asked for one.
    metrics: Option<std::net::TcpListener>,
    db: Location,
    /// The mail server, when one was given, and how digests and alerts go out.
    outbound: (
        Option<std::sync::Arc<crate::mail::Mailer>>,
        crate::config::OutboundSettings,
    ),
}

impl Application {
    /// Opens the store, applies the start-up policy and binds. Runs no async code: call it
    /// before or inside a runtime.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let app = open_store(&settings)?;
        check_access_policy(&app, &settings)?;
        load_sample_once(&app, &settings)?;
        let tls = match &settings.tls {
            Some((cert, key)) => Some(crate::web::listener::tls_acceptor(cert, key)?),
            None => None,
        };
        let secret = signing_key(&app, &settings.db)?;
        let listener = std::net::TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let metrics = match settings.metrics_addr {
            Some(at) => {
                let l = std::net::TcpListener::bind(at)
                    .with_context(|| format!("cannot listen on {at} for the metrics"))?;
                l.set_nonblocking(true)?;
                Some(l)
            }
            None => None,
        };
        let mailer = match &settings.outbound.smtp_url {
            Some(url) => Some(std::sync::Arc::new(
                crate::mail::Mailer::from_url(url)
                    .map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?,
            )),
            None => None,
        };
        Ok(Self {
            listener,
            tls,
            state: AppState::shared(app, settings.server, secret),
            addr,
            metrics,
            db: settings.db,
            outbound: (mailer, settings.outbound),
        })
    }

    /// The address it listens on (the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes (see [`crate::web::serve_with`]). Must run inside a
    /// Tokio runtime.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let addr = self.addr;
        tracing::info!(%addr, db = %self.db, "EscaMap is serving on {scheme}://{addr}/");
        eprintln!(
            "EscaMap is serving on {scheme}://{addr}/ (store: {})",
            self.db
        );
        let (mailer, out) = self.outbound;
        match &mailer {
            Some(m) => eprintln!("sending digests and alerts by mail through {m} and to webhooks"),
            None => eprintln!(
                "sending digests and alerts to webhooks (no mail server: --smtp-url for e-mail)"
            ),
        }
        tokio::spawn(deliver(self.state.app.clone(), mailer, out));
        let metrics = match self.metrics {
            Some(l) => {
                let l = tokio::net::TcpListener::from_std(l)?;
                let at = l.local_addr()?;
                tracing::info!(%at, "serving metrics on http://{at}/metrics");
                eprintln!("metrics on http://{at}/metrics");
                Some(tokio::spawn(crate::web::observe::serve_metrics(
                    l,
                    self.state.app.metrics().clone(),
                )))
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let router = crate::web::router(self.state.clone());
        let served = crate::web::serve_with(listener, self.tls, router, self.state, shutdown).await;
        if let Some(task) = metrics {
            task.abort();
        }
        served?;
        Ok(())
    }
}

/// Sends what is due until the runtime ends, on blocking threads (the store, the mail server and
/// the webhooks are synchronous): the alerts' questions after every change the index takes in
/// (and once at start, for an import made while no server ran), the digests due a few seconds
/// into every minute, and the alert messages waiting for a retry with them. Several instances
/// may do the same: each slot and each message is claimed in the store.
async fn deliver(
    app: std::sync::Arc<App>,
    mailer: Option<std::sync::Arc<crate::mail::Mailer>>,
    out: crate::config::OutboundSettings,
) {
    let mut seen_index: Option<u64> = None;
    let mut last_minute: Option<i64> = None;
    loop {
        let now = chrono::Utc::now();
        let minute = now.timestamp() / 60;
        let generation = app.index_generation();
        let changed = seen_index != Some(generation);
        let due = last_minute != Some(minute) && chrono::Timelike::second(&now) >= 2;
        if changed || due {
            seen_index = Some(generation);
            if due {
                last_minute = Some(minute);
            }
            let (worker, mailer, out) = (app.clone(), mailer.clone(), out.clone());
            let ran = tokio::task::spawn_blocking(move || {
                let app = worker;
                let o = crate::app::Outbound {
                    mailer: mailer.as_deref(),
                    from: &out.from,
                    public_url: &out.public_url,
                };
                let now = chrono::Utc::now();
                let mut alerts = if changed {
                    app.check_alerts(&out.public_url, now)?
                } else {
                    crate::app::AlertReport::default()
                };
                app.send_alerts(&o, now, &mut alerts)?;
                let digests = if due {
                    app.run_due(now, &o)?
                } else {
                    crate::app::DueReport::default()
                };
                Ok::<_, crate::app::AppError>((alerts, digests))
            })
            .await;
            match ran {
                Ok(Ok((a, d))) => {
                    if !(a.sent.is_empty() && a.failed.is_empty()) {
                        tracing::info!(sent = a.sent.len(), failed = a.failed.len(), "alerts run");
                    }
                    if !(d.sent.is_empty() && d.failed.is_empty()) {
                        tracing::info!(
                            sent = d.sent.len(),
                            failed = d.failed.len(),
                            "subscriptions run"
                        );
                    }
                }
                Ok(Err(e)) => {
                    app.count_failure(&e);
                    tracing::error!(error = %e, "sending digests and alerts failed");
                }
                Err(e) => tracing::error!(error = %e, "the delivery task failed"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// `escamap serve`: build, then serve on a runtime of its own until SIGTERM or Ctrl-C. The
/// runtime is dropped only after blocking work (an import in flight) has finished.
pub fn serve(settings: Settings) -> anyhow::Result<()> {
    let application = Application::build(settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(application.run_until(crate::web::shutdown_signal()))
}

fn open_store(settings: &Settings) -> anyhow::Result<std::sync::Arc<App>> {
    let started = Instant::now();
    let db = &settings.db;
    let app = App::open_watched(
        db,
        ImportLimits {
            max_rows: settings.max_import_rows,
        },
    )
    .with_context(|| format!("opening the store {db}"))?;
    tracing::info!(
        rows = app.index().len(),
        duration_ms = started.elapsed().as_millis() as u64,
        "index loaded"
    );
    Ok(app)
}

/// Whether every address `host` resolves to is a loopback one.
fn is_loopback(host: &str, port: u16) -> bool {
    let resolved: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map(Iterator::collect)
        .unwrap_or_default();
    !resolved.is_empty() && resolved.iter().all(|a| a.ip().is_loopback())
}

/// Secure by default: without accounts, only a loopback address may be served (open, as the
/// original did), unless `--no-auth` says so on purpose.
fn check_access_policy(app: &App, settings: &Settings) -> anyhow::Result<()> {
    let (host, port) = (&settings.host, settings.port);
    let accounts = app.user_count()?;
    if settings.server.auth == AuthMode::NoAuth {
        tracing::warn!(
            "--no-auth: no accounts are checked; anyone who reaches {host}:{port} can read and change the data"
        );
    } else if accounts == 0 && !is_loopback(host, port) {
        bail!(
            "refusing to serve on {host} without accounts: the data is personal. Create an admin first \
             (escamap user add NAME --role admin), or pass --no-auth to run open on purpose"
        );
    } else if accounts == 0 {
        tracing::warn!(
            "no accounts yet: running open on the loopback address, as the original did; create one with `escamap user add NAME --role admin`"
        );
    }
    Ok(())
}

/// Sample data goes into a store only once, ever: not again after someone deleted it, and not
/// twice when several instances start together on one new PostgreSQL database.
fn load_sample_once(app: &App, settings: &Settings) -> anyhow::Result<()> {
    let claim = crate::auth::random_token();
    if settings.load_sample
        && app.index().is_empty()
        && app.imports()?.is_empty()
        && app.shared_setting("sample_data_claimed_by", &claim)? == claim
    {
        let mut buf = Vec::new();
        generate(
            &DemoSpec {
                rows: SAMPLE_ROWS,
                seed: 42,
                end: app.today(),
                months: 26,
            },
            &mut buf,
        )?;
        let report = app.import("sample-data.csv", &buf, app.today(), &mut |_, _| {})?;
        tracing::info!(
            rows = report.imported,
            "loaded sample data into the empty store (delete it on the Import page)"
        );
    }
    Ok(())
}

/// The key that signs cookies and forms: `ESCAMAP_SECRET_KEY` (or `SECRET_KEY`); else instances on
/// one PostgreSQL database share one through it (a session started on one is valid on all); a
/// SQLite server keeps it in a file beside its store.
fn signing_key(app: &App, db: &Location) -> anyhow::Result<SecretKey> {
    Ok(match (SecretKey::from_env(), db) {
        (Some(key), _) => key,
        (None, Location::Sqlite(path)) => SecretKey::load(
            path.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )?,
        (None, Location::Postgres(_)) => SecretKey::from_bytes(
            app.shared_setting("signing_key", &crate::auth::random_token())?
                .as_bytes(),
        ),
    })
}

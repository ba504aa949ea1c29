//! Typed settings, built from the command line's arguments and the environment, with no side
//! effects: reading them opens nothing, binds nothing and writes nothing. [`crate::startup`] turns
//! [`Settings`] into a running server; the web layer reads [`ServerConfig`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::store::Location;

/// `escamap serve`'s flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [env: ESCAMAP_HOST, then FLASK_HOST; default 127.0.0.1]
    #[arg(long)]
    pub host: Option<String>,
    /// Port [env: ESCAMAP_PORT, then FLASK_PORT; default 5000]
    #[arg(long)]
    pub port: Option<u16>,
    /// Start with an empty store instead of loading sample data on first start.
    #[arg(long)]
    pub no_sample: bool,
    /// Largest request body (uploads included), in MB.
    #[arg(long, env = "ESCAMAP_MAX_UPLOAD_MB", default_value_t = 16)]
    pub max_upload_mb: usize,
    /// Rows (imported plus rejected) accepted in one import.
    #[arg(long, env = "ESCAMAP_MAX_IMPORT_ROWS", default_value_t = 5_000_000)]
    pub max_import_rows: u64,
    /// Run without accounts even on a non-loopback address (everyone may do everything).
    #[arg(long)]
    pub no_auth: bool,
    /// Serve HTTPS directly with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key", env = "ESCAMAP_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert", env = "ESCAMAP_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// A reverse proxy whose X-Forwarded-For/-Proto are believed (repeatable, or comma-separated
    /// in ESCAMAP_TRUSTED_PROXIES).
    #[arg(
        long = "trusted-proxy",
        value_name = "IP",
        env = "ESCAMAP_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "ESCAMAP_SESSION_IDLE_MINUTES", default_value_t = 60)]
    pub session_idle_minutes: u64,
    /// Override a rate limit, e.g. `pages=600/minute` or `anonymous-day=1000/day` (repeatable).
    /// Kinds: anonymous-day, anonymous-hour, anonymous-dashboard, anonymous-data, pages, api, login, import.
    #[arg(long = "rate-limit", value_name = "KIND=RATE")]
    pub rate_limits: Vec<String>,
    /// Turn rate limiting off (e.g. behind a proxy that does it).
    #[arg(long, env = "ESCAMAP_NO_RATE_LIMIT")]
    pub no_rate_limit: bool,
    /// Open connections at most.
    #[arg(long, env = "ESCAMAP_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a request may take, reading its body included.
    #[arg(long, env = "ESCAMAP_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub request_timeout_secs: u64,
    /// Open connections from one client address at most; further ones are closed at once
    /// (trusted proxies are exempt).
    #[arg(long, env = "ESCAMAP_MAX_CONNECTIONS_PER_IP", default_value_t = 64)]
    pub max_connections_per_ip: usize,
    /// Seconds a connection may take to send a request's headers, from opening or from its
    /// previous answer; then it is closed.
    #[arg(long, env = "ESCAMAP_HEADER_READ_TIMEOUT_SECS", default_value_t = 30)]
    pub header_read_timeout_secs: u64,
    /// Seconds to let open connections finish after SIGTERM or Ctrl-C; then they are closed (an
    /// import in flight still commits or rolls back whole).
    #[arg(long, env = "ESCAMAP_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,
    /// Send the subscriptions' digests and the alerts' e-mails through this SMTP server:
    /// smtp://user:password@host:587 (STARTTLS when offered) or smtps://host:465 (needs
    /// --mail-from).
    #[arg(
        long,
        env = "ESCAMAP_SMTP_URL",
        hide_env_values = true,
        requires = "mail_from"
    )]
    pub smtp_url: Option<String>,
    /// The digests' sender, e.g. 'EscaMap <escamap@example.com>'.
    #[arg(long, env = "ESCAMAP_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Where users reach this server, for the links in mails (default: the address it listens
    /// on).
    #[arg(long, env = "ESCAMAP_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics, on a listener of its own (never the
    /// public one), e.g. 127.0.0.1:9464. Off by default; the metrics need no sign-in, so keep the
    /// address private.
    #[arg(long, value_name = "ADDR", env = "ESCAMAP_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// How `serve` sends digests and alerts: the mail server (webhooks need none), the sender, and
/// where users reach the server (the links in what is sent are absolute).
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    pub smtp_url: Option<String>,
    pub from: String,
    pub public_url: String,
}

/// Rows of sample data loaded on a first start with an empty store.
pub const SAMPLE_ROWS: u64 = 2_000;

/// Everything `escamap serve` needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    pub db: Location,
    pub host: String,
    pub port: u16,
    /// Load sample data into a store that has never held any.
    pub load_sample: bool,
    pub max_import_rows: u64,
    /// PEM certificate chain and key, to serve HTTPS directly.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub server: ServerConfig,
    /// Digests due each minute and alerts after each change.
    pub outbound: OutboundSettings,
    /// Where `GET /metrics` is served, if anywhere.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// The first set variable among `names`.
fn env_first(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

/// The port `serve` takes when no `--port` is given: `ESCAMAP_PORT`, then the original's
/// `FLASK_PORT`, then 5000.
pub fn port_from_env() -> anyhow::Result<u16> {
    match env_first(&["ESCAMAP_PORT", "FLASK_PORT"]) {
        Some(p) => p
            .trim()
            .parse()
            .with_context(|| format!("invalid port {p:?} in ESCAMAP_PORT/FLASK_PORT")),
        None => Ok(5000),
    }
}

impl Settings {
    /// From `serve`'s flags, then the environment (`ESCAMAP_HOST`/`ESCAMAP_PORT`, then the
    /// original's `FLASK_HOST`/`FLASK_PORT`), then the defaults.
    pub fn from_args(db: &Location, a: &ServeArgs) -> anyhow::Result<Self> {
        let host = a
            .host
            .clone()
            .or_else(|| env_first(&["ESCAMAP_HOST", "FLASK_HOST"]))
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        let port = match a.port {
            Some(p) => p,
            None => port_from_env()?,
        };
        let mut rate_limits = RateLimits {
            enabled: !a.no_rate_limit,
            ..Default::default()
        };
        for spec in &a.rate_limits {
            rate_limits
                .set(spec)
                .map_err(|e| anyhow::anyhow!("--rate-limit {spec}: {e}"))?;
        }
        let tls = match (&a.tls_cert, &a.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            _ => None,
        };
        let server = ServerConfig {
            max_body_bytes: a.max_upload_mb.max(1) << 20,
            request_timeout: Duration::from_secs(a.request_timeout_secs.max(1)),
            auth: if a.no_auth {
                AuthMode::NoAuth
            } else {
                AuthMode::Accounts
            },
            session_idle: Duration::from_secs(a.session_idle_minutes.max(1) * 60),
            https: tls.is_some(),
            trusted_proxies: a.trusted_proxies.clone(),
            rate_limits,
            max_connections: a.max_connections.max(1),
            max_connections_per_ip: a.max_connections_per_ip.max(1),
            header_read_timeout: Duration::from_secs(a.header_read_timeout_secs.max(1)),
            shutdown_timeout: Duration::from_secs(a.shutdown_timeout_secs),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        if a.smtp_url.is_some() && a.mail_from.is_none() {
            anyhow::bail!("--smtp-url needs --mail-from (or ESCAMAP_MAIL_FROM)");
        }
        let outbound = OutboundSettings {
            smtp_url: a.smtp_url.clone(),
            from: a
                .mail_from
                .clone()
                .unwrap_or_else(|| "EscaMap <escamap@localhost>".to_owned()),
            public_url: a
                .public_url
                .clone()
                .unwrap_or_else(|| format!("{scheme}://{host}:{port}")),
        };
        Ok(Self {
            db: db.clone(),
            host,
            port,
            load_sample: !a.no_sample,
            max_import_rows: a.max_import_rows.max(1),
            tls,
            server,
            outbound,
            metrics_addr: a.metrics_addr,
        })
    }
}

/// Who may use the server without an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Accounts are required once one exists; until then the server is open (it only starts that
    /// way on a loopback address).
    Accounts,
    /// `--no-auth`: everyone may do everything. Refused by default on non-loopback addresses.
    NoAuth,
}

/// Server settings. Reading them has no side effects; `cli` builds them from flags and env.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body (uploads included), in bytes.
    pub max_body_bytes: usize,
    /// A request taking longer than this is answered 408 (a slow or stalled client included).
    pub request_timeout: Duration,
    pub auth: AuthMode,
    /// A session unused for this long ends.
    pub session_idle: Duration,
    /// Served over HTTPS directly: cookies are Secure (`__Host-` names) and HSTS is sent.
    pub https: bool,
    /// Peers whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<IpAddr>,
    pub rate_limits: RateLimits,
    /// Open connections at most; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Open connections from one client address at most (a trusted proxy is exempt); further
    /// ones are closed at once.
    pub max_connections_per_ip: usize,
    /// A connection must send a whole request head within this long of opening, or of its last
    /// answer, or it is closed (a stalled or slow-loris client, an idle keep-alive connection).
    pub header_read_timeout: Duration,
    /// After a shutdown signal, connections still open this much later are closed (an import
    /// in flight still commits or rolls back whole).
    pub shutdown_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
            request_timeout: Duration::from_secs(60),
            auth: AuthMode::Accounts,
            session_idle: Duration::from_secs(3_600),
            https: false,
            trusted_proxies: Vec::new(),
            rate_limits: RateLimits::default(),
            max_connections: 1_024,
            max_connections_per_ip: 64,
            header_read_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// `N/second|minute|hour|day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate {0:?}: expected N/second, N/minute, N/hour or N/day with N at least 1")]
pub struct InvalidRate(pub String);

impl FromStr for Rate {
    type Err = InvalidRate;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InvalidRate(s.chars().take(40).collect());
        let (n, unit) = s.trim().split_once('/').ok_or_else(err)?;
        let count: u32 = n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(err)?;
        let per = match unit.trim().to_ascii_lowercase().trim_end_matches('s') {
            "second" | "sec" => 1,
            "minute" | "min" => 60,
            "hour" => 3_600,
            "day" => 86_400,
            _ => return Err(err()),
        };
        Ok(Self {
            count,
            per: Duration::from_secs(per),
        })
    }
}

/// Which limits apply, by kind of route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub enabled: bool,
    pub anonymous_day: Rate,
    pub anonymous_hour: Rate,
    pub anonymous_dashboard: Rate,
    pub anonymous_data: Rate,
    pub pages: Rate,
    pub api: Rate,
    pub login: Rate,
    pub import: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        let r = |count, secs| Rate {
            count,
            per: Duration::from_secs(secs),
        };
        Self {
            enabled: true,
            anonymous_day: r(200, 86_400),
            anonymous_hour: r(50, 3_600),
            anonymous_dashboard: r(10, 60),
            anonymous_data: r(5, 60),
            pages: r(300, 60),
            api: r(1_200, 60),
            login: r(10, 60),
            import: r(30, 60),
        }
    }
}

impl RateLimits {
    /// Applies `KIND=RATE` (kinds: anonymous-day, anonymous-hour, anonymous-dashboard,
    /// anonymous-data, pages, api, login, import).
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (kind, rate) = spec
            .split_once('=')
            .ok_or_else(|| format!("expected KIND=RATE, got {spec:?}"))?;
        let rate: Rate = rate.parse().map_err(|e: InvalidRate| e.to_string())?;
        let slot = match kind.trim() {
            "anonymous-day" => &mut self.anonymous_day,
            "anonymous-hour" => &mut self.anonymous_hour,
            "anonymous-dashboard" => &mut self.anonymous_dashboard,
            "anonymous-data" => &mut self.anonymous_data,
            "pages" => &mut self.pages,
            "api" => &mut self.api,
            "login" => &mut self.login,
            "import" => &mut self.import,
            other => return Err(format!("unknown rate-limit kind {other:?}")),
        };
        *slot = rate;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(
            "10/minute".parse(),
            Ok(Rate {
                count: 10,
                per: Duration::from_secs(60)
            })
        );
        assert_eq!(
            "200/day".parse::<Rate>().map(|r| r.per),
            Ok(Duration::from_secs(86_400))
        );
        assert_eq!("5/sec".parse::<Rate>().map(|r| r.count), Ok(5));
        for bad in ["0/minute", "ten/minute", "10/fortnight", "10"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        let mut r = RateLimits::default();
        r.set("login=3/minute").expect("valid");
        assert_eq!(r.login.count, 3);
        assert!(r.set("everything=1/day").is_err());
    }
}

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::limits::{Limiters, RateLimits};
use crate::app::App;
use crate::auth::SecretKey;

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

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    pub config: Arc<ServerConfig>,
    pub secret: SecretKey,
    pub limiters: Arc<Limiters>,
}

impl AppState {
    pub fn new(app: App, config: ServerConfig, secret: SecretKey) -> Self {
        Self::shared(Arc::new(app), config, secret)
    }

    /// For an application that is shared already (one following a store's change feed).
    pub fn shared(app: Arc<App>, config: ServerConfig, secret: SecretKey) -> Self {
        let limiters = Arc::new(Limiters::new(&config.rate_limits));
        Self {
            app,
            config: Arc::new(config),
            secret,
            limiters,
        }
    }
}

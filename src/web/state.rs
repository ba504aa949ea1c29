use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
        }
    }
}

/// Failed logins per account and per address: 5 per account or 20 per address in 15 minutes,
/// then the login answers 429 until the window has passed.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_FAILURES_ACCOUNT: usize = 5;
const MAX_FAILURES_ADDRESS: usize = 20;

impl LoginThrottle {
    fn keys(account: &str, ip: IpAddr) -> [(String, usize); 2] {
        [
            (
                format!("account:{}", account.trim().to_lowercase()),
                MAX_FAILURES_ACCOUNT,
            ),
            (format!("ip:{ip}"), MAX_FAILURES_ADDRESS),
        ]
    }

    /// `Err(seconds to wait)` when the account or the address has failed too often.
    pub fn check(&self, account: &str, ip: IpAddr) -> Result<(), u64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for (key, max) in Self::keys(account, ip) {
            if let Some(q) = map.get_mut(&key) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > THROTTLE_WINDOW)
                {
                    q.pop_front();
                }
                if q.len() >= max
                    && let Some(first) = q.front()
                {
                    return Err(THROTTLE_WINDOW
                        .saturating_sub(now.duration_since(*first))
                        .as_secs()
                        .max(1));
                }
            }
        }
        Ok(())
    }

    pub fn failed(&self, account: &str, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for (key, _) in Self::keys(account, ip) {
            map.entry(key).or_default().push_back(Instant::now());
        }
    }

    pub fn succeeded(&self, account: &str, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Self::keys(account, ip)[0].0);
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    pub config: Arc<ServerConfig>,
    pub secret: SecretKey,
    pub limiters: Arc<Limiters>,
    pub throttle: Arc<LoginThrottle>,
}

impl AppState {
    pub fn new(app: App, config: ServerConfig, secret: SecretKey) -> Self {
        let limiters = Arc::new(Limiters::new(&config.rate_limits));
        Self {
            app: Arc::new(app),
            config: Arc::new(config),
            secret,
            limiters,
            throttle: Arc::default(),
        }
    }
}

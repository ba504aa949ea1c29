use std::sync::Arc;

use crate::app::App;

/// Server settings. Reading them has no side effects; `cli` builds them from flags and env.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body (uploads included), in bytes.
    pub max_body_bytes: usize,
    /// A request taking longer than this is answered 408.
    pub request_timeout: std::time::Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 << 20,
            request_timeout: std::time::Duration::from_secs(60),
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    pub config: Arc<ServerConfig>,
}

impl AppState {
    pub fn new(app: App, config: ServerConfig) -> Self {
        Self {
            app: Arc::new(app),
            config: Arc::new(config),
        }
    }
}

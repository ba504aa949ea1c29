use std::sync::Arc;

use super::held::HeldFiles;
use super::limits::Limiters;
use crate::app::App;
use crate::auth::SecretKey;
pub use crate::config::{AuthMode, ServerConfig};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    pub config: Arc<ServerConfig>,
    pub secret: SecretKey,
    pub limiters: Arc<Limiters>,
    /// Uploads waiting for their mapping, and rejected rows to download.
    pub held: Arc<HeldFiles>,
}

impl AppState {
    pub fn new(app: App, config: ServerConfig, secret: SecretKey) -> Self {
        Self::shared(Arc::new(app), config, secret)
    }

    /// For an application that is shared already (one following a store's change feed).
    pub fn shared(app: Arc<App>, config: ServerConfig, secret: SecretKey) -> Self {
        let limiters = Arc::new(Limiters::new(&config.rate_limits));
        // Room for two uploads of the largest size accepted.
        let held = Arc::new(HeldFiles::new(config.max_body_bytes.saturating_mul(2)));
        Self {
            app,
            config: Arc::new(config),
            secret,
            limiters,
            held,
        }
    }
}

//! The web dashboard and JSON API.
//!
//! [`router`] is a plain function of the state and [`serve`] takes an already-bound listener, so
//! the binary, the tests (which bind `127.0.0.1:0`) and graceful shutdown share one path.

pub mod api;
pub mod assets;
pub mod error;
pub mod gate;
pub mod limits;
pub mod listener;
pub mod pages;
pub mod params;
pub mod state;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use error::{ApiError, WebError};
pub use state::{AppState, AuthMode, ServerConfig};

/// The Content-Security-Policy: everything from this origin, nothing inline.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Denies every browser feature the dashboard does not use.
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), \
    microphone=(), payment=(), usb=(), interest-cohort=()";

/// Every route, in one table. Access rules: [`gate::required_role`].
pub fn routes() -> Router<AppState> {
    Router::new()
        // pages
        .route("/", get(pages::show_dashboard))
        .route("/data", get(pages::list_escalations))
        .route("/data.csv", get(pages::download_data_csv))
        .route(
            "/import",
            get(pages::show_import).post(pages::create_import),
        )
        .route(
            "/import/{id}/delete",
            get(pages::confirm_delete_import).post(pages::delete_import),
        )
        .route("/login", get(pages::show_login).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/admin", get(pages::admin::show_admin))
        .route("/admin/users", post(pages::admin::create_user))
        .route(
            "/admin/users/{name}/delete",
            post(pages::admin::remove_user),
        )
        .route(
            "/admin/users/{name}/password",
            post(pages::admin::set_password),
        )
        .route("/admin/users/{name}/role", post(pages::admin::set_role))
        .route("/admin/tokens", post(pages::admin::create_token))
        .route(
            "/admin/tokens/{id}/delete",
            post(pages::admin::delete_token),
        )
        // API
        .route("/api/v1/stats", get(api::get_stats))
        .route("/api/v1/heatmap", get(api::get_heatmap))
        .route("/api/v1/heatmap.svg", get(api::get_heatmap_svg))
        .route("/api/v1/heatmap.png", get(api::get_heatmap_png))
        .route("/api/v1/heatmap.csv", get(api::get_heatmap_csv))
        .route("/api/v1/escalations", get(api::list_escalations))
        .route(
            "/api/v1/imports",
            post(api::create_import).get(api::list_imports),
        )
        .route(
            "/api/v1/imports/{id}",
            axum::routing::delete(api::delete_import),
        )
        .route("/api/openapi.json", get(api::openapi))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        // assets
        .route("/assets/{name}", get(assets::serve_asset))
        .route("/favicon.ico", get(assets::favicon))
        .fallback(not_found)
}

/// The layers every route runs behind, outermost last: security headers on every answer (errors,
/// 429s and panics included), tracing by route template, timeouts, no-store, panics as 500s, the
/// gate (caller, rate limits, roles, CSRF), and the body limit.
pub fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let timeout = state.config.request_timeout;
    routes
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate::gate,
        ))
        .layer(CatchPanicLayer::custom(on_panic))
        .layer(axum::middleware::from_fn(no_store))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The matched route, never the raw path (it may carry ids or names).
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("<unmatched>", |m| m.as_str())
                .to_owned();
            tracing::info_span!("request", method = %req.method(), route)
        }))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

pub fn router(state: AppState) -> Router {
    with_layers(routes(), state)
}

async fn security_headers(req: Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(
        h,
        header::REFERRER_POLICY,
        "strict-origin-when-cross-origin",
    );
    set(
        h,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        h,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(
        h,
        HeaderName::from_static("permissions-policy"),
        PERMISSIONS_POLICY,
    );
    h.remove(header::SERVER);
    resp
}

/// Pages and API answers carry personal data: never cache them. Assets set their own caching.
async fn no_store(req: Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    WebError::Internal("a handler panicked".into()).into_response()
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        ApiError(WebError::NotFound).into_response()
    } else {
        WebError::NotFound.into_response()
    }
}

/// Serves plain HTTP until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, None, router(state.clone()), state, shutdown).await
}

/// Serves `app` over `listener`, with TLS when an acceptor is given.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener::EscaListener::new(listener, tls, state.config.max_connections)?;
    // Forget rate-limit state of quiet addresses now and then.
    let limiters = state.limiters.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiters.shrink();
        }
    });
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<listener::Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    sweeper.abort();
    result
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

//! The web dashboard and JSON API.
//!
//! [`router`] is a plain function of the state and [`serve`] takes an already-bound listener, so
//! the binary, the tests (which bind `127.0.0.1:0`) and graceful shutdown share one path.

pub mod api;
pub mod assets;
pub mod error;
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
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use error::{ApiError, WebError};
pub use state::{AppState, ServerConfig};

/// The Content-Security-Policy: everything from this origin, nothing inline.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Every route, in one table.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let timeout = state.config.request_timeout;
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
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(no_store))
        .layer(CatchPanicLayer::custom(on_panic))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(security_headers())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The matched route, never the raw path (it may carry ids or names).
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("<unmatched>", |m| m.as_str())
                .to_owned();
            tracing::info_span!("request", method = %req.method(), route)
        }))
        .with_state(state)
}

fn security_headers() -> tower::layer::util::Stack<
    SetResponseHeaderLayer<HeaderValue>,
    tower::layer::util::Stack<
        SetResponseHeaderLayer<HeaderValue>,
        SetResponseHeaderLayer<HeaderValue>,
    >,
> {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    tower::layer::util::Stack::new(
        set(header::CONTENT_SECURITY_POLICY, CSP),
        tower::layer::util::Stack::new(
            set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            set(header::X_FRAME_OPTIONS, "DENY"),
        ),
    )
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

/// Serves until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
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

/// Keeps the compiler honest about the timeout type.
const _: Duration = Duration::from_secs(0);

//! The web dashboard and JSON API.
//!
//! [`router`] is a plain function of the state and [`serve`] takes an already-bound listener, so
//! the binary, the tests (which bind `127.0.0.1:0`) and graceful shutdown share one path.

pub mod api;
pub mod assets;
pub mod audit;
pub mod bounds;
pub mod embedded;
pub mod error;
pub mod extract;
pub mod gate;
pub mod held;
pub mod limits;
pub mod listener;
pub mod observe;
pub mod pages;
pub mod params;
pub mod routes;
pub mod state;
pub mod upload;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use error::WebError;
pub use routes::routes;
pub use state::{AppState, AuthMode, ServerConfig};

/// The Content-Security-Policy: everything from this origin, nothing inline.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Denies every browser feature the dashboard does not use.
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), \
    microphone=(), payment=(), usb=(), interest-cohort=()";

/// The layers every route runs behind, outermost first: the metrics' count of every answer,
/// security headers on every answer (errors, 429s and panics included), the bounds on a request's head (414, 431), tracing by route
/// template, timeouts, no-store, panics as 500s, the gate (caller, rate limits, roles, CSRF), and
/// the body limit.
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
        .layer(axum::middleware::from_fn(bounds::request_bounds))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::count,
        ))
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

pub(crate) async fn not_found(req: Request) -> Response {
    error::respond(req.uri().path(), WebError::NotFound)
}

/// A route asked with a method it does not have: 405 in the house shape (axum adds `Allow`).
pub(crate) async fn method_not_allowed(req: Request) -> Response {
    error::respond(req.uri().path(), WebError::MethodNotAllowed)
}

/// Runs store work (or any blocking work) on a blocking thread and returns its result with the
/// house error: one `.await?` in a handler instead of `spawn_blocking(...).await??`.
pub async fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, WebError>
where
    T: Send + 'static,
    E: Into<WebError> + Send + 'static,
{
    tokio::task::spawn_blocking(work).await?.map_err(Into::into)
}

/// Serves plain HTTP until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, None, router(state.clone()), state, shutdown).await
}

/// Serves `app` over `listener`, with TLS when an acceptor is given, until `shutdown` completes.
///
/// HTTP/1.1 through hyper, with its header-read timer: a connection that does not send a whole
/// request head within `header_read_timeout` (of opening, or of its previous answer) is closed.
/// After `shutdown`, open connections finish their request and close; those still open after
/// `shutdown_timeout` are dropped. Imports run on blocking threads that a dropped connection does
/// not stop, so an import in flight still commits or rolls back whole.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = state.config.clone();
    let mut listener = listener::EscaListener::new(
        listener,
        tls,
        listener::ConnLimits {
            max: config.max_connections,
            per_address: config.max_connections_per_ip,
            exempt: config.trusted_proxies.clone(),
        },
        listener::ConnCounters {
            open: state.app.metrics().open_connections.clone(),
            refused: state.app.metrics().connections_refused.clone(),
        },
    )?;
    // Forget rate-limit state of quiet addresses now and then.
    let limiters = state.limiters.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiters.shrink();
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        // Above the house limits (`request_limits`), so that the house answers first.
        .max_headers(bounds::HYPER_MAX_HEADERS);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            (conn, addr) = listener.accept() => {
                let service = connection_service(app.clone(), addr);
                let conn = http.serve_connection(hyper_util::rt::TokioIo::new(conn), service);
                let mut stopping = stopping.clone();
                connections.spawn(async move {
                    let mut conn = std::pin::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stopping.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(config.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            timeout_s = config.shutdown_timeout.as_secs(),
            "shutdown deadline passed: closing the connections still open"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    sweeper.abort();
    Ok(())
}

/// The router for one connection: every request carries the client's socket address.
fn connection_service(
    app: Router,
    addr: std::net::SocketAddr,
) -> impl hyper::service::Service<
    Request<hyper::body::Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(listener::Peer(addr)));
        tower::ServiceExt::oneshot(app.clone(), req.map(Body::new))
    })
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

//! The web side of the service's metrics ([`crate::metrics`]): every answer counted and timed by
//! route template, method and status ([`count`], the outermost layer, so 404s, 414s, 429s and
//! timeouts count too), a store failure counted when an answer carries one ([`StoreFault`]),
//! and `GET /metrics` served on a listener of its own ([`serve_metrics`]), never on the public
//! one.
//!
//! Labels stay bounded and impersonal: the route is the template the router matched (an
//! unmatched path is `unmatched`, whatever was asked), an unusual method is `other`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::metrics::Metrics;

/// Marks an answer that a store failure caused, with the failure's kind (`unavailable`,
/// `other`): [`count`] adds it to the store errors.
#[derive(Debug, Clone, Copy)]
pub struct StoreFault(pub &'static str);

/// The route label: the matched template, or `unmatched`.
fn route_label(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned())
}

/// The method label: the standard methods by name, any other as `other`.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times every request, by the answer's status.
pub async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_label(&req);
    let method = method_label(req.method());
    let resp = next.run(req).await;
    let m = state.app.metrics();
    m.http_requests
        .with_label_values(&[route.as_str(), method, resp.status().as_str()])
        .inc();
    m.http_request_duration
        .with_label_values(&[route.as_str(), method])
        .observe(started.elapsed().as_secs_f64());
    if let Some(StoreFault(kind)) = resp.extensions().get::<StoreFault>() {
        m.store_error(kind);
    }
    resp
}

/// The metrics listener's one page: `GET /metrics` (and `HEAD`); anything else is a 404 or a 405.
async fn metrics_page(metrics: Arc<Metrics>, req: Request) -> Response {
    if req.uri().path() != "/metrics" {
        return (
            StatusCode::NOT_FOUND,
            "not found: the metrics are at /metrics\n",
        )
            .into_response();
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut resp = (StatusCode::METHOD_NOT_ALLOWED, "GET only\n").into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let mut resp = metrics.render().into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Connections the metrics listener holds at most (a scraper needs one or two).
const METRICS_CONNECTIONS: usize = 16;

/// Serves `GET /metrics` on `listener` until the task is dropped or aborted: HTTP/1.1, a few
/// connections at most, each given 10 s to send its request's head and a minute in all.
pub async fn serve_metrics(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    let permits = Arc::new(tokio::sync::Semaphore::new(METRICS_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let metrics = metrics.clone();
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            metrics_page(metrics, req.map(axum::body::Body::new)).await,
                        )
                    }
                });
                let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                connections.spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(60), conn).await;
                    drop(permit);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

//! The gate every request passes: who is calling (session cookie, API token, or an open server),
//! rate limits, the role the route needs, CSRF for state changes, and the HSTS header.
//!
//! The route table's access rules live in [`required_role`], in one place.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tracing::Instrument;

use super::error::{ApiError, WebError};
use super::limits::Kind;
use super::listener::Peer;
use super::state::{AppState, AuthMode};
use crate::domain::{Role, User};

/// How the caller got in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A signed-in browser; the raw session id.
    Session(String),
    /// `Authorization: Bearer`.
    Token,
    /// No accounts needed (no account exists on a loopback server, or `--no-auth`).
    Open,
    /// Not signed in.
    Anonymous,
}

/// The caller, available to every handler as an extension.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: Option<User>,
    pub via: Via,
    pub ip: IpAddr,
    /// The CSRF token forms must carry (`csrf` field or `X-CSRF-Token` header).
    pub csrf: String,
    pub request_id: String,
}

impl Caller {
    /// The role the caller acts with; an open server lets everyone act as admin.
    pub fn role(&self) -> Option<Role> {
        match self.via {
            Via::Open => Some(Role::Admin),
            _ => self.user.as_ref().map(|u| u.role),
        }
    }

    pub fn account(&self) -> &str {
        match (&self.user, &self.via) {
            (Some(u), _) => &u.name,
            (None, Via::Open) => "(open)",
            _ => "(anonymous)",
        }
    }

    /// Signed in, or the local user of an open server: the generous rate limits.
    fn trusted(&self) -> bool {
        matches!(self.via, Via::Session(_) | Via::Token)
            || (self.via == Via::Open && self.ip.is_loopback())
    }
}

/// A multipart form's CSRF token is read by the handler (it sits in the body, before the file).
#[derive(Debug, Clone)]
pub struct CsrfPending(pub String);

pub const SESSION_COOKIE: &str = "escamap_session";
pub const SECURE_SESSION_COOKIE: &str = "__Host-escamap_session";
pub const CSRF_COOKIE: &str = "escamap_csrf";
pub const SECURE_CSRF_COOKIE: &str = "__Host-escamap_csrf";

/// `None`: anyone. Pages and the read API need a viewer, changes an editor, accounts an admin.
pub fn required_role(method: &Method, path: &str) -> Option<Role> {
    if path == "/login"
        || path.starts_with("/assets/")
        || ["/favicon.ico", "/healthz", "/readyz"].contains(&path)
    {
        None
    } else if path.starts_with("/admin") {
        Some(Role::Admin)
    } else if method == Method::GET || method == Method::HEAD || path == "/logout" {
        Some(Role::Viewer)
    } else {
        Some(Role::Editor)
    }
}

fn kind_of(method: &Method, path: &str) -> Option<Kind> {
    if path.starts_with("/assets/") || ["/favicon.ico", "/healthz", "/readyz"].contains(&path) {
        return None;
    }
    Some(match (method == Method::POST, path) {
        (true, "/login") => Kind::Login,
        (true, p) if p == "/import" || p == "/api/v1/imports" => Kind::Import,
        (_, p) if p.starts_with("/api/") => Kind::Api,
        (_, "/") => Kind::Dashboard,
        (_, p) if p.starts_with("/data") => Kind::Data,
        _ => Kind::Page,
    })
}

pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn trusted_peer(state: &AppState, peer: SocketAddr) -> bool {
    state.config.trusted_proxies.contains(&peer.ip())
}

/// The client's address: the socket peer, or the last untrusted hop of `X-Forwarded-For` when
/// the peer is a trusted proxy.
pub fn client_ip(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if !trusted_peer(state, peer) {
        return peer.ip();
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    hops.iter()
        .rev()
        .find(|ip| !state.config.trusted_proxies.contains(ip))
        .copied()
        .unwrap_or(peer.ip())
}

/// Served over HTTPS, directly or behind a trusted proxy that says so.
pub fn is_https(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    state.config.https
        || (trusted_peer(state, peer)
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https")))
}

fn wants_json(path: &str) -> bool {
    path.starts_with("/api/")
}

fn reject(path: &str, e: WebError) -> Response {
    if wants_json(path) {
        ApiError(e).into_response()
    } else {
        e.into_response()
    }
}

fn security_event(event: &str, caller_account: &str, ip: IpAddr, request_id: &str, route: &str) {
    tracing::warn!(target: "security", event, account = caller_account, client = %ip, request.id = request_id, route, "security event");
}

pub async fn gate(
    State(state): State<AppState>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let https = is_https(&state, peer, req.headers());
    let mut resp = pass(state, peer, req, next, &path, &method, https).await;
    if https {
        resp.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    resp
}

async fn pass(
    state: AppState,
    peer: SocketAddr,
    mut req: Request,
    next: Next,
    path: &str,
    method: &Method,
    https: bool,
) -> Response {
    let Some(kind) = kind_of(method, path) else {
        return next.run(req).await;
    };
    let ip = client_ip(&state, peer, req.headers());
    let request_id = format!("{:016x}", fastrand::u64(..));
    let (session_name, csrf_name) = if https {
        (SECURE_SESSION_COOKIE, SECURE_CSRF_COOKIE)
    } else {
        (SESSION_COOKIE, CSRF_COOKIE)
    };

    // Who is calling.
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let session = cookie(req.headers(), session_name)
        .and_then(|v| v.split_once('.'))
        .filter(|(raw, sig)| state.secret.verify("session", raw, sig))
        .map(|(raw, _)| raw.to_owned());
    let app = state.app.clone();
    let idle =
        chrono::Duration::from_std(state.config.session_idle).unwrap_or(chrono::Duration::hours(1));
    let mode = state.config.auth;
    let identified = tokio::task::spawn_blocking(
        move || -> Result<(Option<User>, Via), crate::app::AppError> {
            if let Some(token) = bearer {
                return Ok((app.token_user(&token)?, Via::Token));
            }
            if let Some(raw) = session
                && let Some(user) = app.session_user(&raw, idle)?
            {
                return Ok((Some(user), Via::Session(raw)));
            }
            if mode == AuthMode::NoAuth || app.user_count()? == 0 {
                return Ok((None, Via::Open));
            }
            Ok((None, Via::Anonymous))
        },
    )
    .await;
    let (user, via) = match identified {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return reject(path, e.into()),
        Err(e) => return reject(path, e.into()),
    };
    if via == Via::Token && user.is_none() {
        security_event("bad_token", "(unknown token)", ip, &request_id, path);
        let mut r = reject(path, WebError::Unauthorized("invalid API token".into()));
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }

    // The CSRF cookie: a random value, and the token forms carry is its signature.
    let existing_csrf = cookie(req.headers(), csrf_name)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    let csrf_value = existing_csrf
        .clone()
        .unwrap_or_else(crate::auth::random_token);
    let caller = Caller {
        csrf: state.secret.sign("csrf", &csrf_value),
        user,
        via,
        ip,
        request_id,
    };

    // Rate limits.
    if let Err(wait) = state.limiters.check(ip, kind, caller.trusted()) {
        security_event(
            "rate_limited",
            caller.account(),
            ip,
            &caller.request_id,
            path,
        );
        return reject(
            path,
            WebError::TooManyRequests {
                retry_after_secs: wait,
            },
        );
    }

    // Roles.
    if let Some(needed) = required_role(method, path) {
        match caller.role() {
            None if wants_json(path) => {
                security_event(
                    "unauthenticated",
                    caller.account(),
                    ip,
                    &caller.request_id,
                    path,
                );
                let mut r = ApiError(WebError::Unauthorized(
                    "sign in or send an API token".into(),
                ))
                .into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return r;
            }
            None if method == Method::GET => {
                let next_url = req.uri().path_and_query().map_or("/", |p| p.as_str());
                let q = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", next_url)
                    .finish();
                return Redirect::to(&format!("/login?{q}")).into_response();
            }
            None => return reject(path, WebError::Unauthorized("sign in first".into())),
            Some(role) if role < needed => {
                security_event(
                    "access_denied",
                    caller.account(),
                    ip,
                    &caller.request_id,
                    path,
                );
                return reject(
                    path,
                    WebError::Forbidden(format!("this needs the {needed} role; you are {role}")),
                );
            }
            Some(_) => {}
        }
    }

    // CSRF: every cookie-borne or open change carries the token. API tokens need none; scripts on
    // an open server (no cookie, no Origin, no Sec-Fetch-Site: not a browser) neither.
    let unsafe_method = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let browserish = ["cookie", "origin", "sec-fetch-site"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    let needs_csrf =
        unsafe_method && caller.via != Via::Token && (browserish || caller.via != Via::Open);
    if needs_csrf {
        let header_token = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let valid =
            |t: &str| existing_csrf.is_some() && state.secret.verify("csrf", &csrf_value, t);
        let ok = if let Some(t) = header_token {
            valid(&t)
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            let (parts, body) = req.into_parts();
            let bytes = match axum::body::to_bytes(body, state.config.max_body_bytes).await {
                Ok(b) => b,
                Err(_) => return reject(path, WebError::PayloadTooLarge),
            };
            let token = form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v.into_owned());
            req = Request::from_parts(parts, Body::from(bytes));
            token.is_some_and(|t| valid(&t))
        } else if content_type.starts_with("multipart/form-data") && existing_csrf.is_some() {
            req.extensions_mut()
                .insert(CsrfPending(caller.csrf.clone()));
            true
        } else {
            false
        };
        if !ok {
            security_event(
                "csrf_rejected",
                caller.account(),
                ip,
                &caller.request_id,
                path,
            );
            return reject(
                path,
                WebError::Forbidden(
                    "the form expired or came from another site: reload the page and try again"
                        .into(),
                ),
            );
        }
    }

    let span = tracing::info_span!("caller", request.id = %caller.request_id, account = caller.account(), client = %ip);
    req.extensions_mut().insert(caller);
    let mut resp = next.run(req).instrument(span).await;
    if existing_csrf.is_none() {
        let secure = if https { "; Secure" } else { "" };
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{csrf_name}={csrf_value}; Path=/; HttpOnly; SameSite=Lax{secure}"
        )) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// The `Set-Cookie` value that starts a session.
pub fn session_cookie(state: &AppState, raw: &str, https: bool) -> String {
    let name = if https {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    };
    let secure = if https { "; Secure" } else { "" };
    format!(
        "{name}={raw}.{}; Path=/; HttpOnly; SameSite=Lax{secure}",
        state.secret.sign("session", raw)
    )
}

/// The `Set-Cookie` value that ends it.
pub fn clear_session_cookie(https: bool) -> String {
    let name = if https {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    };
    let secure = if https { "; Secure" } else { "" };
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

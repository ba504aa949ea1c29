//! The gate every request passes, as four named steps, each returning a typed [`Rejection`]:
//! [`identify`] the caller (API token, signed session cookie, or an open server), apply the
//! [`rate_limit`], [`authorize`] against the role the route declares, and [`check_csrf`] on
//! changes. Then the HSTS header on HTTPS.
//!
//! What each route needs is declared beside it in [`super::routes`]; the gate only looks it up.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tracing::Instrument;

use super::error::{WebError, is_api, respond};
use super::limits::Kind;
use super::listener::Peer;
use super::routes::{self, Access, TokenIn};
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

    /// Whom held files belong to: the account's id, or the open server's one caller.
    pub fn owner(&self) -> String {
        match (&self.user, &self.via) {
            (Some(u), _) => format!("user {}", u.id),
            (None, Via::Open) => "(open)".to_owned(),
            _ => String::new(),
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

/// Why the gate turned a request away. Each step returns one; [`Rejection::respond`] renders it
/// in the house shape (JSON under `/api/`, the error page elsewhere) and the gate logs it once.
#[derive(Debug)]
pub enum Rejection {
    /// An `Authorization: Bearer` token that matches no account.
    BadToken,
    RateLimited {
        retry_after_secs: u64,
    },
    /// Not signed in: an API caller gets a 401, a page read the login page with `next`, any other
    /// page request a 401.
    SignIn {
        next: Option<String>,
    },
    Forbidden {
        needed: Role,
        role: Role,
    },
    /// A cookie-borne change without a valid CSRF token.
    Csrf,
    /// A cookie-borne change that a browser says came from another site or origin.
    CrossSite,
    /// The store failed, or the body was too large to read.
    Failed(WebError),
}

/// The longest `next` a login redirect carries; a longer address is cut back to its path (or `/`).
pub const MAX_NEXT: usize = 2_048;

/// What a refused change is told, by the gate or by the upload reader.
pub const CSRF_MESSAGE: &str =
    "the form expired or came from another site: reload the page and try again";

impl Rejection {
    /// The security event this rejection is logged as, if any.
    pub fn event(&self) -> Option<&'static str> {
        match self {
            Self::BadToken => Some("bad_token"),
            Self::RateLimited { .. } => Some("rate_limited"),
            Self::SignIn { next: None } => Some("unauthenticated"),
            Self::SignIn { next: Some(_) } | Self::Failed(_) => None,
            Self::Forbidden { .. } => Some("access_denied"),
            Self::Csrf => Some("csrf_rejected"),
            Self::CrossSite => Some("cross_site_rejected"),
        }
    }

    pub fn respond(self, path: &str) -> Response {
        let api = is_api(path);
        let bearer = |mut r: Response| {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        };
        match self {
            Self::BadToken => bearer(respond(
                path,
                WebError::Unauthorized("invalid API token".into()),
            )),
            Self::RateLimited { retry_after_secs } => {
                respond(path, WebError::TooManyRequests { retry_after_secs })
            }
            Self::SignIn { .. } if api => bearer(respond(
                path,
                WebError::Unauthorized("sign in or send an API token".into()),
            )),
            Self::SignIn { next: Some(next) } => {
                let q = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", &next)
                    .finish();
                Redirect::to(&format!("/login?{q}")).into_response()
            }
            Self::SignIn { next: None } => {
                respond(path, WebError::Unauthorized("sign in first".into()))
            }
            Self::Forbidden { needed, role } => respond(
                path,
                WebError::Forbidden(format!("this needs the {needed} role; you are {role}")),
            ),
            Self::Csrf | Self::CrossSite => respond(path, WebError::Forbidden(CSRF_MESSAGE.into())),
            Self::Failed(e) => respond(path, e),
        }
    }
}

/// The cookie names in use: `__Host-` ones over HTTPS.
#[derive(Debug, Clone, Copy)]
struct CookieNames {
    session: &'static str,
    csrf: &'static str,
}

impl CookieNames {
    fn new(https: bool) -> Self {
        if https {
            Self {
                session: SECURE_SESSION_COOKIE,
                csrf: SECURE_CSRF_COOKIE,
            }
        } else {
            Self {
                session: SESSION_COOKIE,
                csrf: CSRF_COOKIE,
            }
        }
    }
}

pub async fn gate(
    State(state): State<AppState>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let access = routes::access(req.method(), route.as_deref(), &path);
    let https = is_https(&state, peer, req.headers());
    let mut resp = match access.limit {
        None => next.run(req).await,
        Some(kind) => guarded(&state, peer, https, access, kind, req, next).await,
    };
    if https {
        resp.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    resp
}

/// Identify, count, authorize, check CSRF; then run the handler with the [`Caller`].
async fn guarded(
    state: &AppState,
    peer: SocketAddr,
    https: bool,
    access: Access,
    kind: Kind,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let ip = client_ip(state, peer, req.headers());
    let request_id = format!("{:016x}", fastrand::u64(..));
    let names = CookieNames::new(https);
    let identified = identify(state, req.headers(), names.session).await;
    // The CSRF cookie: a random value; the token forms carry is its signature.
    let existing_csrf = csrf_cookie(req.headers(), names.csrf);
    let csrf_value = existing_csrf
        .clone()
        .unwrap_or_else(crate::auth::random_token);
    let (user, via) = match identified {
        Ok(found) => found,
        Err(rejection) => {
            let account = match rejection {
                Rejection::BadToken => "(unknown token)",
                _ => "(anonymous)",
            };
            if let Some(event) = rejection.event() {
                super::audit::refused(event, account, &path, ip, &request_id);
            }
            return rejection.respond(&path);
        }
    };
    let caller = Caller {
        csrf: state.secret.sign("csrf", &csrf_value),
        user,
        via,
        ip,
        request_id,
    };
    let admitted = async {
        rate_limit(state, &caller, kind)?;
        authorize(&caller, access.role, req.method(), req.uri())?;
        check_csrf(state, &caller, existing_csrf.as_deref(), access, req).await
    }
    .await;
    let mut req = match admitted {
        Ok(req) => req,
        Err(rejection) => {
            if let Some(event) = rejection.event() {
                super::audit::refused(event, caller.account(), &path, ip, &caller.request_id);
            }
            let metrics = state.app.metrics();
            match rejection {
                Rejection::RateLimited { .. } => metrics
                    .rate_limited
                    .with_label_values(&[kind.label()])
                    .inc(),
                Rejection::Csrf | Rejection::CrossSite => metrics.csrf_refused.inc(),
                _ => {}
            }
            return rejection.respond(&path);
        }
    };
    let span = tracing::info_span!("caller", request.id = %caller.request_id, account = caller.account(), client = %ip);
    req.extensions_mut().insert(caller);
    let mut resp = next.run(req).instrument(span).await;
    if existing_csrf.is_none() {
        let secure = if https { "; Secure" } else { "" };
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{}={csrf_value}; Path=/; HttpOnly; SameSite=Lax{secure}",
            names.csrf
        )) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Step 1, who is calling: an API token, else a valid signed session, else an open server's
/// local user, else anonymous.
async fn identify(
    state: &AppState,
    headers: &HeaderMap,
    session_cookie: &str,
) -> Result<(Option<User>, Via), Rejection> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let session = cookie(headers, session_cookie)
        .and_then(|v| v.split_once('.'))
        .filter(|(raw, sig)| state.secret.verify("session", raw, sig))
        .map(|(raw, _)| raw.to_owned());
    let app = state.app.clone();
    let idle =
        chrono::Duration::from_std(state.config.session_idle).unwrap_or(chrono::Duration::hours(1));
    let mode = state.config.auth;
    let found = super::blocking(
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
    match found {
        Ok((None, Via::Token)) => Err(Rejection::BadToken),
        Ok(found) => Ok(found),
        Err(e) => Err(Rejection::Failed(e)),
    }
}

/// The CSRF cookie's value, when it is well-formed (64 hex digits).
fn csrf_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookie(headers, name)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
}

/// Step 2, the rate limit for this kind of route, generous for a trusted caller.
fn rate_limit(state: &AppState, caller: &Caller, kind: Kind) -> Result<(), Rejection> {
    state
        .limiters
        .check(caller.ip, kind, caller.trusted())
        .map_err(|retry_after_secs| Rejection::RateLimited { retry_after_secs })
}

/// Step 3, the role the route needs.
pub fn authorize(
    caller: &Caller,
    needed: Option<Role>,
    method: &Method,
    uri: &Uri,
) -> Result<(), Rejection> {
    let Some(needed) = needed else {
        return Ok(());
    };
    match caller.role() {
        None if *method == Method::GET && !is_api(uri.path()) => Err(Rejection::SignIn {
            next: Some(login_next(uri)),
        }),
        None => Err(Rejection::SignIn { next: None }),
        Some(role) if role < needed => Err(Rejection::Forbidden { needed, role }),
        Some(_) => Ok(()),
    }
}

/// Where to come back to after signing in: the address asked for, bounded by [`MAX_NEXT`].
pub fn login_next(uri: &Uri) -> String {
    [uri.path_and_query().map_or("/", |p| p.as_str()), uri.path()]
        .into_iter()
        .find(|s| s.len() <= MAX_NEXT)
        .unwrap_or("/")
        .to_owned()
}

/// Whether a request must carry a CSRF token: a change (not GET, HEAD or OPTIONS) that a handler
/// will act on, by anyone but an API-token caller. Scripts on an open server (no cookie, no
/// `Origin`, no `Sec-Fetch-Site`: not a browser) need none either.
pub fn csrf_needed(method: &Method, via: &Via, access: Access, headers: &HeaderMap) -> bool {
    let change = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let browserish = ["cookie", "origin", "sec-fetch-site"]
        .iter()
        .any(|h| headers.contains_key(*h));
    change
        && !matches!(access.token_in, TokenIn::Unused | TokenIn::Signed)
        && *via != Via::Token
        && (browserish || *via != Via::Open)
}

/// The second wall: a browser that says where a request came from must say it came from this
/// origin. `Sec-Fetch-Site` must be `same-origin` (or `none`, typed by the user), and `Origin`, when
/// sent, must name the host the request was sent to. A page on another port of the same host is
/// same-site, so `SameSite=Lax` cookies reach us from it: only these headers tell it apart.
pub fn same_origin(headers: &HeaderMap, forwarded_host: Option<&str>) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = forwarded_host.or_else(|| header("host")) else {
        return false;
    };
    origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host.trim()))
}

/// Step 4, CSRF: a change carries a valid token in `X-CSRF-Token`, in a URL-encoded form's
/// `csrf` field, or (on upload routes only) in the multipart body, where the upload reader checks
/// it before the file. Any other Content-Type without the header is refused.
async fn check_csrf(
    state: &AppState,
    caller: &Caller,
    existing: Option<&str>,
    access: Access,
    req: Request,
) -> Result<Request, Rejection> {
    if !csrf_needed(req.method(), &caller.via, access, req.headers()) {
        return Ok(req);
    }
    let forwarded_host = state
        .config
        .trusted_proxies
        .contains(&caller.ip)
        .then(|| req.headers().get("x-forwarded-host"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if !same_origin(req.headers(), forwarded_host.as_deref()) {
        return Err(Rejection::CrossSite);
    }
    let Some(cookie_value) = existing else {
        return Err(Rejection::Csrf);
    };
    let valid = |t: &str| state.secret.verify("csrf", cookie_value, t.trim());
    if let Some(t) = req.headers().get("x-csrf-token") {
        return match t.to_str() {
            Ok(t) if valid(t) => Ok(req),
            _ => Err(Rejection::Csrf),
        };
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, state.config.max_body_bytes)
            .await
            .map_err(|_| Rejection::Failed(WebError::PayloadTooLarge))?;
        let token = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
        return if token.is_some_and(|t| valid(&t)) {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        } else {
            Err(Rejection::Csrf)
        };
    }
    if access.token_in == TokenIn::Upload && content_type.starts_with("multipart/form-data") {
        let mut req = req;
        req.extensions_mut()
            .insert(CsrfPending(caller.csrf.clone()));
        return Ok(req);
    }
    Err(Rejection::Csrf)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::routes::Access;

    fn caller(via: Via, role: Option<Role>) -> Caller {
        Caller {
            user: role.map(|role| User {
                id: 1,
                name: "someone".to_owned(),
                role,
                created_at: chrono::Utc::now(),
            }),
            via,
            ip: [127, 0, 0, 1].into(),
            csrf: String::new(),
            request_id: String::new(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn authorize_sends_anonymous_page_reads_to_the_login_and_refuses_the_rest() {
        let anon = caller(Via::Anonymous, None);
        let uri: Uri = "/data?product=API".parse().expect("uri");
        assert!(matches!(
            authorize(&anon, Some(Role::Viewer), &Method::GET, &uri),
            Err(Rejection::SignIn { next: Some(n) }) if n == "/data?product=API"
        ));
        let api: Uri = "/api/v1/stats".parse().expect("uri");
        assert!(matches!(
            authorize(&anon, Some(Role::Viewer), &Method::GET, &api),
            Err(Rejection::SignIn { next: None })
        ));
        assert!(matches!(
            authorize(&anon, Some(Role::Editor), &Method::POST, &uri),
            Err(Rejection::SignIn { next: None })
        ));
        assert!(authorize(&anon, None, &Method::POST, &uri).is_ok());
    }

    #[test]
    fn authorize_compares_roles() {
        let viewer = caller(Via::Session("s".into()), Some(Role::Viewer));
        let uri: Uri = "/import".parse().expect("uri");
        assert!(authorize(&viewer, Some(Role::Viewer), &Method::GET, &uri).is_ok());
        assert!(matches!(
            authorize(&viewer, Some(Role::Editor), &Method::POST, &uri),
            Err(Rejection::Forbidden {
                needed: Role::Editor,
                role: Role::Viewer
            })
        ));
        // An open server's caller acts as admin.
        let open = caller(Via::Open, None);
        assert!(authorize(&open, Some(Role::Admin), &Method::POST, &uri).is_ok());
    }

    #[test]
    fn login_next_is_bounded() {
        let long: Uri = format!("/data?q={}", "x".repeat(MAX_NEXT))
            .parse()
            .expect("uri");
        assert_eq!(login_next(&long), "/data");
        let short: Uri = "/?tab=regional".parse().expect("uri");
        assert_eq!(login_next(&short), "/?tab=regional");
    }

    #[test]
    fn csrf_is_needed_on_changes_by_browsers_and_sessions_but_not_tokens_or_open_scripts() {
        let change = Access::editor(Kind::Page);
        let none = headers(&[]);
        let browser = headers(&[("cookie", "a=b")]);
        let session = Via::Session("s".into());
        assert!(csrf_needed(&Method::POST, &session, change, &none));
        assert!(csrf_needed(&Method::DELETE, &Via::Anonymous, change, &none));
        assert!(!csrf_needed(&Method::GET, &session, change, &browser));
        assert!(!csrf_needed(&Method::POST, &Via::Token, change, &browser));
        assert!(!csrf_needed(&Method::POST, &Via::Open, change, &none));
        assert!(csrf_needed(&Method::POST, &Via::Open, change, &browser));
        let unused = Access {
            token_in: TokenIn::Unused,
            ..change
        };
        let trace = Method::from_bytes(b"TRACE").expect("method");
        assert!(!csrf_needed(&trace, &session, unused, &browser));
    }

    #[test]
    fn same_origin_reads_sec_fetch_site_and_origin() {
        let host = ("host", "127.0.0.1:5000");
        assert!(same_origin(&headers(&[host]), None));
        assert!(same_origin(
            &headers(&[host, ("sec-fetch-site", "same-origin")]),
            None
        ));
        assert!(!same_origin(
            &headers(&[host, ("sec-fetch-site", "same-site")]),
            None
        ));
        assert!(same_origin(
            &headers(&[host, ("origin", "http://127.0.0.1:5000")]),
            None
        ));
        assert!(!same_origin(
            &headers(&[host, ("origin", "http://127.0.0.1:5001")]),
            None
        ));
        assert!(!same_origin(&headers(&[host, ("origin", "null")]), None));
        assert!(!same_origin(
            &headers(&[("origin", "http://127.0.0.1:5000")]),
            None
        ));
        // Behind a trusted proxy, the host the browser asked for.
        assert!(same_origin(
            &headers(&[
                ("host", "backend:5000"),
                ("origin", "https://escamap.example.com")
            ]),
            Some("escamap.example.com")
        ));
    }
}

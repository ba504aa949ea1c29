//! `/login` and `/logout`. A wrong name and a wrong password get the same answer (and cost the
//! same time); failures are throttled per account and per address.

use askama::Template;
use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Layout, render_html};
use crate::web::error::WebError;
use crate::web::extract::{Form, Query};
use crate::web::gate::{Caller, Via, clear_session_cookie, is_https, session_cookie};
use crate::web::listener::Peer;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "pages/login.html")]
pub struct LoginPage {
    layout: Layout,
    next: String,
    error: Option<String>,
    name: String,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// Only same-site paths: `/...` but not `//host` or `/\\host`.
fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains(['\r', '\n']);
    if ok { next.to_owned() } else { "/".to_owned() }
}

pub async fn show_login(
    Extension(caller): Extension<Caller>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let page = LoginPage {
        layout: Layout::new("Sign in", "login", Some(&caller)),
        next: safe_next(q.next.as_deref().unwrap_or("/")),
        error: None,
        name: String::new(),
    };
    render_html(&page).into_response()
}

pub async fn login(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let ip = caller.ip;
    let account: String = form.name.trim().chars().take(64).collect();
    let (app, who) = (state.app.clone(), account.clone());
    if let Some(wait) = crate::web::blocking(move || app.login_wait(&who, ip)).await? {
        crate::web::audit::refused(
            "login_throttled",
            caller.account(),
            &account,
            ip,
            &caller.request_id,
        );
        state
            .app
            .metrics()
            .rate_limited
            .with_label_values(&["login_throttle"])
            .inc();
        return Err(WebError::TooManyRequests {
            retry_after_secs: wait,
        });
    }
    let app = state.app.clone();
    let (name, password) = (account.clone(), form.password);
    let user = crate::web::blocking(move || app.check_password(&name, &password)).await?;
    let Some(user) = user else {
        let (app, who) = (state.app.clone(), account.clone());
        crate::web::blocking(move || app.login_failed(&who, ip)).await?;
        crate::web::audit::refused(
            "login_failed",
            caller.account(),
            &account,
            ip,
            &caller.request_id,
        );
        let page = LoginPage {
            layout: Layout::new("Sign in", "login", Some(&caller)),
            next: safe_next(&form.next),
            error: Some("Invalid name or password.".to_owned()),
            name: account,
        };
        return Ok((StatusCode::UNAUTHORIZED, render_html(&page)).into_response());
    };
    let (app, who) = (state.app.clone(), account.clone());
    crate::web::blocking(move || app.login_succeeded(&who, ip)).await?;
    // A new session id at every login: a session fixed before login is worthless.
    if let Via::Session(old) = &caller.via {
        let (app, old) = (state.app.clone(), old.clone());
        crate::web::blocking(move || app.end_session(&old)).await?;
    }
    let app = state.app.clone();
    let u = user.clone();
    let raw = crate::web::blocking(move || app.start_session(&u)).await?;
    tracing::info!(target: "security", event = "login", actor = %user.name, target = %user.name, client = %ip, request.id = %caller.request_id, "security event");
    let https = is_https(&state, peer, &headers);
    let mut resp = Redirect::to(&safe_next(&form.next)).into_response();
    if let Ok(v) = HeaderValue::from_str(&session_cookie(&state, &raw, https)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub async fn logout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if let Via::Session(raw) = &caller.via {
        let (app, raw) = (state.app.clone(), raw.clone());
        crate::web::blocking(move || app.end_session(&raw)).await?;
        crate::web::audit::changed(&caller, "logout", caller.account());
    }
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_session_cookie(is_https(&state, peer, &headers))) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

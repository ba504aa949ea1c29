//! `/admin`: accounts and API tokens, for admins. A new token is shown once, on the page that
//! created it; only its digest is stored.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Layout, render_html};
use crate::app::AppError;
use crate::domain::{Password, Role, User, UserName};
use crate::store::TokenRecord;
use crate::web::error::WebError;
use crate::web::extract::{Form, Path, Query};
use crate::web::gate::Caller;
use crate::web::params::ParamError;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "pages/admin.html")]
pub struct AdminPage {
    layout: Layout,
    users: Vec<User>,
    tokens: Vec<TokenRecord>,
    new_token: Option<(String, String)>,
    notice: Option<String>,
    error: Option<String>,
    roles: [&'static str; 3],
}

#[derive(Debug, Deserialize)]
pub struct AdminQuery {
    done: Option<String>,
}

async fn page(
    state: &AppState,
    caller: &Caller,
    new_token: Option<(String, String)>,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    let app = state.app.clone();
    let (users, tokens) =
        crate::web::blocking(move || Ok::<_, AppError>((app.users()?, app.tokens()?))).await?;
    Ok(render_html(&AdminPage {
        layout: Layout::new("Users", "admin", Some(caller)),
        users,
        tokens,
        new_token,
        notice,
        error,
        roles: ["viewer", "editor", "admin"],
    }))
}

pub async fn show_admin(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<AdminQuery>,
) -> Result<Html<String>, WebError> {
    let notice = q.done.map(|d| {
        match d.as_str() {
            "added" => "Account created.",
            "removed" => "Account removed.",
            "password" => "Password changed; the account's sessions were ended.",
            "role" => "Role changed.",
            "token-deleted" => "Token deleted.",
            _ => "Done.",
        }
        .to_owned()
    });
    page(&state, &caller, None, notice, None).await
}

fn log(caller: &Caller, event: &'static str, target: &str) {
    crate::web::audit::changed(caller, event, target);
}

/// Runs an account change; a validation or conflict error is shown on the page (422/409).
async fn change(
    state: &AppState,
    caller: &Caller,
    f: impl FnOnce() -> Result<(), WebError> + Send + 'static,
    done: &str,
) -> Result<Response, WebError> {
    match tokio::task::spawn_blocking(f).await? {
        Ok(()) => Ok(Redirect::to(&format!("/admin?done={done}")).into_response()),
        Err(e @ (WebError::BadRequest(_) | WebError::Conflict(_) | WebError::NotFound)) => {
            let status = e.status();
            let message = match &e {
                WebError::BadRequest(p) => p.message.clone(),
                WebError::NotFound => "There is no such account.".to_owned(),
                other => other.to_string(),
            };
            Ok((
                status,
                page(state, caller, None, None, Some(message)).await?,
            )
                .into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct NewUserForm {
    name: String,
    role: String,
    password: String,
}

pub async fn create_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(f): Form<NewUserForm>,
) -> Result<Response, WebError> {
    let app = state.app.clone();
    let name = f.name.clone();
    let resp = change(
        &state,
        &caller,
        move || {
            let name: UserName = f
                .name
                .parse()
                .map_err(|e: crate::domain::InvalidUserName| {
                    ParamError::new("name", e.to_string())
                })?;
            let role: Role = f
                .role
                .parse()
                .map_err(|e: crate::domain::InvalidRole| ParamError::new("role", e.to_string()))?;
            let password = Password::new(&f.password)
                .map_err(|e| ParamError::new("password", e.to_string()))?;
            app.add_user(&name, role, &password)?;
            Ok(())
        },
        "added",
    )
    .await?;
    log(&caller, "user_added", &name);
    Ok(resp)
}

pub async fn remove_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    if caller
        .user
        .as_ref()
        .is_some_and(|u| u.name.eq_ignore_ascii_case(&name))
    {
        return Ok((
            StatusCode::CONFLICT,
            page(
                &state,
                &caller,
                None,
                None,
                Some("You cannot remove your own account.".into()),
            )
            .await?,
        )
            .into_response());
    }
    let app = state.app.clone();
    let n = name.clone();
    let resp = change(&state, &caller, move || Ok(app.remove_user(&n)?), "removed").await?;
    log(&caller, "user_removed", &name);
    Ok(resp)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

pub async fn set_password(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Form(f): Form<PasswordForm>,
) -> Result<Response, WebError> {
    let app = state.app.clone();
    let n = name.clone();
    let resp = change(
        &state,
        &caller,
        move || {
            let password = Password::new(&f.password)
                .map_err(|e| ParamError::new("password", e.to_string()))?;
            Ok(app.set_password(&n, &password)?)
        },
        "password",
    )
    .await?;
    log(&caller, "password_changed", &name);
    Ok(resp)
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Form(f): Form<RoleForm>,
) -> Result<Response, WebError> {
    let app = state.app.clone();
    let n = name.clone();
    let resp = change(
        &state,
        &caller,
        move || {
            let role: Role = f
                .role
                .parse()
                .map_err(|e: crate::domain::InvalidRole| ParamError::new("role", e.to_string()))?;
            Ok(app.set_role(&n, role)?)
        },
        "role",
    )
    .await?;
    log(&caller, "role_changed", &name);
    Ok(resp)
}

#[derive(Deserialize)]
pub struct TokenForm {
    user: String,
    label: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(f): Form<TokenForm>,
) -> Result<Response, WebError> {
    let app = state.app.clone();
    let user = f.user.clone();
    match tokio::task::spawn_blocking(move || app.create_token(&f.user, &f.label)).await? {
        Ok((record, raw)) => {
            log(&caller, "token_created", &user);
            Ok((
                StatusCode::CREATED,
                page(&state, &caller, Some((record.label, raw)), None, None).await?,
            )
                .into_response())
        }
        Err(AppError::Store(crate::store::StoreError::NotFound)) => Ok((
            StatusCode::NOT_FOUND,
            page(
                &state,
                &caller,
                None,
                None,
                Some("There is no such account.".into()),
            )
            .await?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let app = state.app.clone();
    let resp = change(
        &state,
        &caller,
        move || Ok(app.delete_token(id)?),
        "token-deleted",
    )
    .await?;
    log(&caller, "token_deleted", &id.to_string());
    Ok(resp)
}

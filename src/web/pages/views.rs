//! `/views`: the saved views the caller sees, saving the dashboard's state under a name (the
//! dashboard's "Save view" posts here), and deleting one's own.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;

use super::{Layout, render_html};
use crate::app::Viewer;
use crate::store::SavedView;
use crate::web::error::WebError;
use crate::web::extract::Form;
use crate::web::gate::Caller;
use crate::web::params::{Params, dashboard_query};
use crate::web::state::AppState;

pub struct ViewRow {
    name: String,
    href: String,
    shared: bool,
    owner: String,
    saved: String,
    can_delete: bool,
}

#[derive(Template)]
#[template(path = "pages/views.html")]
pub struct ViewsPage {
    layout: Layout,
    rows: Vec<ViewRow>,
    notice: Option<String>,
}

fn row(v: &SavedView, who: Viewer<'_>) -> ViewRow {
    ViewRow {
        href: format!("/?{}", v.query),
        name: v.name.clone(),
        shared: v.shared,
        owner: v.owner.clone().unwrap_or_else(|| "—".to_owned()),
        saved: v.created_at.format("%Y-%m-%d %H:%M").to_string(),
        can_delete: who.manages(v),
    }
}

pub async fn show_views(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Html<String>, WebError> {
    let p = Params::parse(raw.as_deref());
    let notice = p
        .get("saved")
        .map(|n| format!("Saved the view “{n}”: it is in the navigation."))
        .or_else(|| p.get("deleted").map(|n| format!("Deleted the view “{n}”.")));
    let views = super::caller_views(&state, &caller).await?;
    let (user, admin) = super::viewer_parts(&caller);
    let who = Viewer::of(user.as_deref(), admin);
    let page = ViewsPage {
        layout: Layout::new("Saved views", "views", Some(&caller)).with_views(&views),
        rows: views.iter().map(|v| row(v, who)).collect(),
        notice,
    };
    Ok(render_html(&page))
}

#[derive(Debug, Deserialize)]
pub struct SaveForm {
    name: String,
    #[serde(default)]
    query: String,
    /// A checkbox: present (any value) when ticked.
    #[serde(default)]
    shared: Option<String>,
}

/// `POST /views`: saves `query` (the dashboard's state) as `name`, for the caller or shared.
pub async fn save_view(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(form): Form<SaveForm>,
) -> Result<Redirect, WebError> {
    let query = dashboard_query(&form.query)?;
    let app = state.app.clone();
    let (user, admin) = super::viewer_parts(&caller);
    let shared = form.shared.is_some();
    let name = form.name.clone();
    let saved = crate::web::blocking(move || {
        let who = Viewer::of(user.as_deref(), admin);
        app.save_view(&name, &query, shared, who)
    })
    .await?;
    crate::web::audit::changed(&caller, "view_saved", &saved.name);
    Ok(Redirect::to(&format!(
        "/views?{}",
        Params::encode([("saved", saved.name)])
    )))
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    name: String,
}

/// `POST /views/delete`: deletes a view the caller may manage.
pub async fn delete_view(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(form): Form<DeleteForm>,
) -> Result<Redirect, WebError> {
    let app = state.app.clone();
    let (user, admin) = super::viewer_parts(&caller);
    let name = form.name.clone();
    crate::web::blocking(move || {
        let who = Viewer::of(user.as_deref(), admin);
        app.delete_view(&name, who)
    })
    .await?;
    crate::web::audit::changed(&caller, "view_deleted", form.name.trim());
    Ok(Redirect::to(&format!(
        "/views?{}",
        Params::encode([("deleted", form.name.trim().to_owned())])
    )))
}

//! HTML pages: `*Page` structs next to their handlers, rendered by askama templates that extend
//! `base.html`. Every page works without JavaScript: tabs, filters, sorting, paging and
//! drill-down are links and GET forms.

mod accounts;
pub mod admin;
mod dashboard;
mod data;
pub mod import;
mod login;
mod mapping;
mod subscriptions;
mod views;

pub use accounts::show_accounts;
use askama::Template;
use axum::http::StatusCode;
use axum::response::Html;
pub use dashboard::show_dashboard;
pub use data::{download_data_csv, list_escalations};
pub use import::{
    confirm_delete_import, create_import, delete_import, delete_profile, download_rejected,
    show_import,
};
pub use login::{login, logout, show_login};
pub use mapping::{cancel_mapping, show_mapping, submit_mapping};
pub use subscriptions::{
    add_alert, add_subscription, remove_alert, remove_subscription, show_subscriptions,
    show_unsubscribe, unsubscribe,
};
pub use views::{delete_view, save_view, show_views};

use super::embedded::assets;
use super::params::{Params, filter_pairs};
use crate::analytics::{Filter, Index};
use crate::domain::{Dimension, Role, Severity};
use crate::web::gate::{Caller, Via};

/// What every page's layout needs.
pub struct Layout {
    pub title: String,
    pub nav: &'static str,
    pub css: &'static str,
    pub js: &'static str,
    pub icon: &'static str,
    /// The CSRF token every form carries.
    pub csrf: String,
    /// "name (role)" when signed in.
    pub account: Option<String>,
    pub signed_in: bool,
    pub is_admin: bool,
    /// No accounts: say so, so nobody mistakes an open server for a protected one.
    pub open: bool,
    /// The saved views the caller sees, as (name, dashboard link), for the navigation.
    pub views: Vec<(String, String)>,
}

impl Layout {
    pub fn new(title: impl Into<String>, nav: &'static str, caller: Option<&Caller>) -> Self {
        let a = assets();
        Self {
            title: title.into(),
            nav,
            css: &a.css.url,
            js: &a.js.url,
            icon: &a.icon.url,
            csrf: caller.map(|c| c.csrf.clone()).unwrap_or_default(),
            account: caller
                .and_then(|c| c.user.as_ref())
                .map(|u| format!("{} ({})", u.name, u.role)),
            signed_in: caller.is_some_and(|c| matches!(c.via, Via::Session(_))),
            is_admin: caller.and_then(Caller::role) == Some(Role::Admin),
            open: caller.is_some_and(|c| c.via == Via::Open),
            views: Vec::new(),
        }
    }

    /// The same layout, listing `views` in the navigation.
    pub fn with_views(mut self, views: &[crate::store::SavedView]) -> Self {
        self.views = views
            .iter()
            .map(|v| (v.name.clone(), format!("/?{}", v.query)))
            .collect();
        self
    }
}

/// The caller as the saved views see them ([`crate::app::Viewer::of`]): a user's name, or nobody
/// in particular on an open server, and whether they act as an admin. Owned, for the store's
/// blocking thread.
fn viewer_parts(caller: &Caller) -> (Option<String>, bool) {
    (
        caller.user.as_ref().map(|u| u.name.clone()),
        caller.role() == Some(Role::Admin),
    )
}

/// The saved views `caller` sees, by name.
async fn caller_views(
    state: &crate::web::state::AppState,
    caller: &Caller,
) -> Result<Vec<crate::store::SavedView>, crate::web::error::WebError> {
    let app = state.app.clone();
    let (user, admin) = viewer_parts(caller);
    crate::web::blocking(move || app.views(crate::app::Viewer::of(user.as_deref(), admin))).await
}

/// [`caller_views`], for the navigation: none when the store cannot say (the page is still worth
/// showing).
pub async fn nav_views(
    state: &crate::web::state::AppState,
    caller: &Caller,
) -> Vec<crate::store::SavedView> {
    caller_views(state, caller).await.unwrap_or_default()
}

/// Renders a template, or a minimal page if rendering itself fails (it cannot with owned data).
pub fn render_html(t: &impl Template) -> Html<String> {
    Html(t.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "template failed");
        "<!doctype html><title>EscaMap</title><p>Something went wrong.</p>".to_owned()
    }))
}

#[derive(Template)]
#[template(path = "pages/error.html")]
pub struct ErrorPage {
    layout: Layout,
    status: u16,
    reason: &'static str,
    message: String,
}

impl ErrorPage {
    pub fn new(status: StatusCode, message: String, _error_id: Option<String>) -> Self {
        Self {
            layout: Layout::new(status.canonical_reason().unwrap_or("Error"), "", None),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message,
        }
    }

    pub fn into_html(self) -> Html<String> {
        render_html(&self)
    }
}

/// An option of a select or a checkbox of a group: the value sent, the words shown.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// Data values as choices (shown as they are), selected when the filter names them in any case.
fn choices<'a>(values: impl IntoIterator<Item = &'a str>, selected: &[String]) -> Vec<Choice> {
    values
        .into_iter()
        .map(|v| Choice {
            value: v.to_owned(),
            label: v.to_owned(),
            selected: selected
                .iter()
                .any(|s| s.trim().to_lowercase() == v.to_lowercase()),
        })
        .collect()
}

/// "All products", "Billing", "Billing + 2 more": what a closed group of checkboxes says.
fn summary(all: &str, chosen: &[Choice]) -> String {
    let on: Vec<&str> = chosen
        .iter()
        .filter(|c| c.selected)
        .map(|c| c.label.as_str())
        .collect();
    match on.as_slice() {
        [] => all.to_owned(),
        [one] => (*one).to_owned(),
        [first, rest @ ..] => format!("{first} + {} more", rest.len()),
    }
}

/// A group of checkboxes in the filter bar (`name=A&name=B`: either).
pub struct FilterGroup {
    pub name: &'static str,
    pub title: &'static str,
    /// What the closed group says: "All products", "Billing + 1 more".
    pub summary: String,
    pub options: Vec<Choice>,
}

impl FilterGroup {
    fn new(name: &'static str, title: &'static str, all: &str, options: Vec<Choice>) -> Self {
        Self {
            name,
            title,
            summary: summary(all, &options),
            options,
        }
    }
}

/// The filter bar shared by the dashboard and the data page.
pub struct FilterBar {
    pub action: &'static str,
    /// Non-filter state carried through a filter change (tab, measure ...).
    pub keep: Vec<(&'static str, String)>,
    pub from: String,
    pub to: String,
    pub q: String,
    /// Products, regions and severities: several of each may be chosen.
    pub groups: Vec<FilterGroup>,
    pub clients: Vec<String>,
    pub reset: String,
    pub clear_clients: String,
    pub ranges: Vec<(&'static str, String)>,
}

impl FilterBar {
    pub fn new(
        action: &'static str,
        f: &Filter,
        index: &Index,
        keep: Vec<(&'static str, String)>,
    ) -> Self {
        let sev: Vec<String> = f.severities.iter().map(|s| s.to_string()).collect();
        // Quick ranges and Reset choose the dates themselves: an "all time" choice is not kept.
        let base: Vec<(&'static str, String)> = keep
            .iter()
            .filter(|(k, _)| *k != "range")
            .cloned()
            .collect();
        let href = |filter: &Filter| {
            let mut pairs = base.clone();
            pairs.extend(filter_pairs(filter));
            format!("{action}?{}", Params::encode(pairs))
        };
        let last = index.date_range().map(|(_, last)| last);
        let mut ranges = Vec::new();
        if let Some(last) = last {
            for (label, days) in [("30 days", 30u64), ("90 days", 90), ("12 months", 365)] {
                let from = last.checked_sub_days(chrono::Days::new(days - 1));
                ranges.push((
                    label,
                    href(&Filter {
                        from,
                        to: Some(last),
                        ..f.clone()
                    }),
                ));
            }
        }
        let mut all = base.clone();
        all.push(("range", "all".to_owned()));
        all.extend(filter_pairs(&f.without_dates()));
        ranges.push(("All time", format!("{action}?{}", Params::encode(all))));
        let products = choices(index.values(Dimension::Product), &f.products);
        let regions = choices(index.values(Dimension::Region), &f.regions);
        let severities = choices(Severity::ALL.iter().map(|s| s.as_str()), &sev);
        Self {
            action,
            from: f.from.map(|d| d.to_string()).unwrap_or_default(),
            to: f.to.map(|d| d.to_string()).unwrap_or_default(),
            q: f.client_search.clone().unwrap_or_default(),
            groups: vec![
                FilterGroup::new("product", "Product", "All products", products),
                FilterGroup::new("region", "Region", "All regions", regions),
                FilterGroup::new("severity", "Severity", "All severities", severities),
            ],
            clients: f.clients.clone(),
            reset: format!("{action}?{}", Params::encode(base.clone())),
            clear_clients: href(&Filter {
                clients: Vec::new(),
                ..f.clone()
            }),
            ranges,
            keep,
        }
    }
}

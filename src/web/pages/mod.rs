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
        }
    }
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

pub struct Choice {
    pub value: String,
    pub selected: bool,
}

fn choices<'a>(values: impl IntoIterator<Item = &'a str>, selected: &[String]) -> Vec<Choice> {
    values
        .into_iter()
        .map(|v| Choice {
            value: v.to_owned(),
            selected: selected.iter().any(|s| s == v),
        })
        .collect()
}

/// The filter bar shared by the dashboard and the data page.
pub struct FilterBar {
    pub action: &'static str,
    /// Non-filter state carried through a filter change (tab, measure ...).
    pub keep: Vec<(&'static str, String)>,
    pub from: String,
    pub to: String,
    pub q: String,
    pub products: Vec<Choice>,
    pub regions: Vec<Choice>,
    pub severities: Vec<Choice>,
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
        let href = |filter: &Filter| {
            let mut pairs = keep.clone();
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
        ranges.push(("All time", href(&f.without_dates())));
        Self {
            action,
            from: f.from.map(|d| d.to_string()).unwrap_or_default(),
            to: f.to.map(|d| d.to_string()).unwrap_or_default(),
            q: f.client_search.clone().unwrap_or_default(),
            products: choices(index.values(Dimension::Product), &f.products),
            regions: choices(index.values(Dimension::Region), &f.regions),
            severities: choices(Severity::ALL.iter().map(|s| s.as_str()), &sev),
            clients: f.clients.clone(),
            reset: format!("{action}?{}", Params::encode(keep.clone())),
            clear_clients: href(&Filter {
                clients: Vec::new(),
                ..f.clone()
            }),
            ranges,
            keep,
        }
    }
}

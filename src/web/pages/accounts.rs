//! `/accounts`: the clients ranked by risk, each with its trend, last 12 months, the factors of
//! its score, its open backlog and time to resolve; each row opens the dashboard on that client.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Html;

use super::{FilterBar, Layout, render_html};
use crate::analytics::Filter;
use crate::analytics::risk::{self, Account, Trend, history_months};
use crate::render::spark_points;
use crate::web::error::WebError;
use crate::web::gate::Caller;
use crate::web::params::{Params, filter_pairs};
use crate::web::state::AppState;

/// Rows shown unless `limit` says otherwise.
const DEFAULT_ROWS: usize = 50;

pub struct AccountRow {
    pub client: String,
    pub href: String,
    pub risk: String,
    /// 0 to 100, the bar's width.
    pub risk_width: String,
    pub trend: &'static str,
    pub arrow: &'static str,
    pub spark: String,
    pub spark_label: String,
    pub factors: String,
    pub last_90_days: u32,
    pub previous_90_days: u32,
    pub high_share: String,
    pub open: u32,
    pub mttr: String,
}

#[derive(Template)]
#[template(path = "pages/accounts.html")]
pub struct AccountsPage {
    layout: Layout,
    filters: FilterBar,
    as_of: String,
    total: usize,
    rows: Vec<AccountRow>,
    more: Option<String>,
}

fn row(a: &Account, filter: &Filter, months: &[String]) -> AccountRow {
    let (trend, arrow) = match a.trend {
        Trend::Up => ("up", "▲"),
        Trend::Flat => ("flat", "▶"),
        Trend::Down => ("down", "▼"),
    };
    let mut pairs = vec![("tab", "client-overview".to_owned())];
    pairs.extend(filter_pairs(&Filter {
        clients: vec![a.client.clone()],
        ..filter.without_dates()
    }));
    let spark_label = months
        .iter()
        .zip(a.history)
        .map(|(m, n)| format!("{m}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    AccountRow {
        client: a.client.clone(),
        href: format!("/?{}", Params::encode(pairs)),
        risk: format!("{:.0}", a.risk),
        risk_width: format!("{:.0}", a.risk.clamp(0.0, 100.0)),
        trend,
        arrow,
        spark: spark_points(&a.history, 96.0, 24.0),
        spark_label: format!("Escalations per month, {spark_label}"),
        factors: a
            .factors
            .iter()
            .take(3)
            .map(|f| format!("{} {:.0}", f.name, f.points))
            .collect::<Vec<_>>()
            .join(" · "),
        last_90_days: a.last_90_days,
        previous_90_days: a.previous_90_days,
        high_share: format!("{:.0}%", a.high_share * 100.0),
        open: a.open,
        mttr: a
            .mttr_days
            .map_or("–".to_owned(), |d| format!("{d:.1} days")),
    }
}

pub async fn show_accounts(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Html<String>, WebError> {
    let p = Params::parse(raw.as_deref());
    let filter = p.filter()?;
    let as_of = p.as_of()?;
    let limit = p.limit(DEFAULT_ROWS, risk::MAX_LIMIT)?;
    let ranked = state.app.accounts(&filter, as_of, limit)?;
    let months: Vec<String> = ranked
        .as_of
        .map(|d| history_months(d).iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    let index = state.app.index();
    let mut keep = Vec::new();
    if let Some(d) = as_of {
        keep.push(("as_of", d.to_string()));
    }
    let more = (ranked.total > ranked.accounts.len()).then(|| {
        let mut pairs = keep.clone();
        pairs.push(("limit", (limit * 4).min(risk::MAX_LIMIT).to_string()));
        pairs.extend(filter_pairs(&filter));
        format!("/accounts?{}", Params::encode(pairs))
    });
    let page = AccountsPage {
        layout: Layout::new("Accounts at risk", "accounts", Some(&caller))
            .with_views(&super::nav_views(&state, &caller).await),
        filters: FilterBar::new("/accounts", &filter, &index, keep),
        as_of: ranked.as_of.map(|d| d.to_string()).unwrap_or_default(),
        total: ranked.total,
        rows: ranked
            .accounts
            .iter()
            .map(|a| row(a, &filter, &months))
            .collect(),
        more,
    };
    Ok(render_html(&page))
}

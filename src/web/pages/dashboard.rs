//! `/`: stat cards with their change against the previous period, the original's three views
//! plus a custom one, drill-down links on every cell, downloads.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Html;

use super::{Choice, FilterBar, Layout, choices, render_html};
use crate::analytics::{Filter, Heatmap, HeatmapQuery, Stats, cell_filter};
use crate::domain::{Dimension, Measure, View};
use crate::render::{SvgOptions, heatmap_svg};
use crate::web::error::WebError;
use crate::web::gate::Caller;
use crate::web::params::{ParamError, Params, filter_pairs};
use crate::web::state::AppState;

/// Client Overview shows this many rows unless `top` says otherwise.
pub const DEFAULT_CLIENT_ROWS: usize = 25;

pub struct Card {
    label: &'static str,
    value: String,
    delta: String,
    delta_class: &'static str,
}

pub struct Tab {
    label: &'static str,
    href: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "pages/dashboard.html")]
pub struct DashboardPage {
    layout: Layout,
    filters: FilterBar,
    empty: bool,
    cards: Vec<Card>,
    tabs: Vec<Tab>,
    tab: &'static str,
    heading: String,
    svg: String,
    hidden_rows: usize,
    shown_rows: usize,
    more: Vec<(&'static str, String)>,
    download_svg: String,
    download_png: String,
    download_csv: String,
    custom_keep: Vec<(&'static str, String)>,
    custom_rows: Vec<Choice>,
    custom_cols: Vec<Choice>,
    custom_measures: Vec<Choice>,
    custom_error: Option<String>,
}

fn delta(
    now: f64,
    before: Option<f64>,
    more_is_bad: bool,
    percent_points: bool,
) -> (String, &'static str) {
    let Some(before) = before else {
        return (
            "all time · pick a date range to compare".to_owned(),
            "neutral",
        );
    };
    let diff = now - before;
    let class = if diff.abs() < 1e-9 {
        "neutral"
    } else if (diff > 0.0) == more_is_bad {
        "bad"
    } else {
        "good"
    };
    let arrow = if diff > 0.0 {
        "▲"
    } else if diff < 0.0 {
        "▼"
    } else {
        "="
    };
    let text = if percent_points {
        format!("{arrow} {:+.1} pts vs previous period", diff)
    } else if before > 0.0 {
        format!(
            "{arrow} {:+.0}% vs previous period ({before:.0})",
            diff / before * 100.0
        )
    } else {
        format!("{arrow} {:+.0} vs previous period", diff)
    };
    (text, class)
}

fn cards(now: &Stats, before: Option<&Stats>) -> Vec<Card> {
    let rows: [(&'static str, f64, Option<f64>, String, bool); 4] = [
        (
            "Total Escalations",
            now.total_escalations as f64,
            before.map(|b| b.total_escalations as f64),
            now.total_escalations.to_string(),
            false,
        ),
        (
            "High Severity",
            now.high_severity_count as f64,
            before.map(|b| b.high_severity_count as f64),
            now.high_severity_count.to_string(),
            false,
        ),
        (
            "Unique Clients",
            now.unique_clients as f64,
            before.map(|b| b.unique_clients as f64),
            now.unique_clients.to_string(),
            false,
        ),
        (
            "High Severity Rate",
            now.high_severity_rate,
            before.map(|b| b.high_severity_rate),
            format!("{:.1}%", now.high_severity_rate),
            true,
        ),
    ];
    rows.into_iter()
        .map(|(label, n, b, value, pts)| {
            let (delta, delta_class) = delta(n, b, true, pts);
            Card {
                label,
                value,
                delta,
                delta_class,
            }
        })
        .collect()
}

/// The query pairs that describe the dashboard's state (tab, custom axes, top).
fn state_pairs(tab: &str, p: &Params) -> Vec<(&'static str, String)> {
    let mut pairs = vec![("tab", tab.to_owned())];
    if tab == "custom" {
        for k in ["rows", "cols", "measure"] {
            if let Some(v) = p.get(k) {
                pairs.push((k, v.to_owned()));
            }
        }
    }
    if let Some(v) = p.get("top") {
        pairs.push(("top", v.to_owned()));
    }
    pairs
}

/// `/data?...` for the escalations behind cell (i, j).
fn drill_down(map: &Heatmap, i: usize, j: usize, base: &Filter) -> String {
    let f = cell_filter(map, i, j, base);
    format!("/data?{}", Params::encode(filter_pairs(&f)))
}

pub async fn show_dashboard(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Html<String>, WebError> {
    let p = Params::parse(raw.as_deref());
    let filter = p.filter()?;
    let tab: &'static str = match p.get("tab") {
        None | Some("product-timeline") => "product-timeline",
        Some("regional") => "regional",
        Some("client-overview") => "client-overview",
        Some("custom") => "custom",
        Some(other) => {
            return Err(ParamError::new("tab", format!("unknown tab {other:?}: expected product-timeline, regional, client-overview or custom")).into());
        }
    };
    let top = p.top()?;
    let palette = p.palette()?;
    let app = state.app.clone();
    let index = app.index();
    let (now, before) = app.stats_compared(&filter)?;

    let mut custom_error = None;
    let query = match tab {
        "custom" => {
            let rows = p.typed::<Dimension>("rows")?.unwrap_or(Dimension::Client);
            let cols = p.typed::<Dimension>("cols")?.unwrap_or(Dimension::Severity);
            let measure = p.typed::<Measure>("measure")?.unwrap_or(Measure::Count);
            match HeatmapQuery::new(
                rows,
                cols,
                measure,
                Some(top.unwrap_or(DEFAULT_CLIENT_ROWS)),
                filter.clone(),
            ) {
                Ok(q) => q,
                Err(e) => {
                    custom_error = Some(e.to_string());
                    HeatmapQuery::new(
                        Dimension::Client,
                        Dimension::Severity,
                        measure,
                        Some(DEFAULT_CLIENT_ROWS),
                        filter.clone(),
                    )
                    .map_err(|e| ParamError::new("rows", e.to_string()))?
                }
            }
        }
        _ => {
            let view: View = tab
                .parse()
                .map_err(|e: crate::domain::InvalidView| ParamError::new("tab", e.to_string()))?;
            let top = if view == View::ClientOverview {
                Some(top.unwrap_or(DEFAULT_CLIENT_ROWS))
            } else {
                top
            };
            HeatmapQuery::view(view, top, filter.clone())
                .map_err(|e| ParamError::new("top", e.to_string()))?
        }
    };
    let map = index.heatmap(&query);
    let heading = match tab {
        "custom" => format!(
            "{} by {} and {}",
            query.measure.title(),
            query.rows.title(),
            query.cols.title()
        ),
        _ => tab
            .parse::<View>()
            .map(|v| v.title().to_owned())
            .unwrap_or_default(),
    };
    let link = |m: &Heatmap, i: usize, j: usize| drill_down(m, i, j, &filter);
    let svg = heatmap_svg(
        &map,
        &SvgOptions {
            title: heading.clone(),
            subtitle: query.describe(),
            palette,
            link: Some(&link),
            ..SvgOptions::default()
        },
    );

    let state_now = state_pairs(tab, &p);
    let with = |extra: Vec<(&'static str, String)>| {
        let mut pairs = extra;
        pairs.extend(filter_pairs(&filter));
        Params::encode(pairs)
    };
    let tabs = [
        ("Product Timeline", "product-timeline"),
        ("Regional Analysis", "regional"),
        ("Client Overview", "client-overview"),
        ("Custom", "custom"),
    ]
    .into_iter()
    .map(|(label, t)| Tab {
        label,
        href: format!("/?{}", with(vec![("tab", t.to_owned())])),
        active: t == tab,
    })
    .collect();
    let api_pairs = {
        let mut v: Vec<(&'static str, String)> = vec![
            ("rows", query.rows.to_string()),
            ("cols", query.cols.to_string()),
            ("measure", query.measure.to_string()),
        ];
        if let Some(t) = query.top {
            v.push(("top", t.to_string()));
        }
        v.push(("palette", palette.to_string()));
        with(v)
    };
    let shown = map.rows.len();
    let total_rows = shown + map.hidden_rows;
    let more = [("50", 50usize), ("100", 100), ("500", 500)]
        .into_iter()
        .filter(|(_, n)| *n > shown && *n < total_rows)
        .map(|(l, n)| (l, n.to_string()))
        .chain(std::iter::once(("all", total_rows.to_string())))
        .map(|(label, n)| {
            let mut pairs: Vec<(&'static str, String)> = state_now
                .iter()
                .filter(|(k, _)| *k != "top")
                .cloned()
                .collect();
            pairs.push(("top", n));
            (label, format!("/?{}", with(pairs)))
        })
        .collect();
    let dims: Vec<&str> = Dimension::NAMES.to_vec();
    let page = DashboardPage {
        layout: Layout::new("Dashboard", "dashboard", Some(&caller)),
        filters: FilterBar::new("/", &filter, &index, state_now.clone()),
        empty: index.is_empty(),
        cards: cards(&now, before.as_ref()),
        tabs,
        tab,
        heading,
        svg,
        hidden_rows: map.hidden_rows,
        shown_rows: shown,
        more,
        download_svg: format!("/api/v1/heatmap.svg?{api_pairs}"),
        download_png: format!("/api/v1/heatmap.png?{api_pairs}"),
        download_csv: format!("/api/v1/heatmap.csv?{api_pairs}"),
        custom_keep: filter_pairs(&filter),
        custom_rows: choices(dims.iter().copied(), &[query.rows.to_string()]),
        custom_cols: choices(dims.iter().copied(), &[query.cols.to_string()]),
        custom_measures: choices(Measure::NAMES.iter().copied(), &[query.measure.to_string()]),
        custom_error,
    };
    Ok(render_html(&page))
}

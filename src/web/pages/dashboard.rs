//! `/`: stat cards with their change against the previous period, the original's three views
//! plus a custom one, drill-down links on every cell, downloads.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Html;

use super::{Choice, FilterBar, Layout, choices, render_html};
use crate::analytics::insights::{Insights, expected_text, kind_label, slice_name};
use crate::analytics::{Filter, Heatmap, HeatmapQuery, Stats, cell_filter};
use crate::domain::{Compare, Dimension, Measure, Normalize, Period, View};
use crate::render::{Palette, SvgOptions, backlog_svg, heatmap_svg, spark_points};
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

/// One finding on the dashboard's "Needs attention".
pub struct AttentionCard {
    kind: &'static str,
    label: &'static str,
    title: String,
    numbers: String,
    summary: String,
    href: String,
    spark: String,
    spark_label: String,
}

/// `escamap --db STORE import export.csv` for this server's store (a PostgreSQL URL without its
/// password), so the empty state's command works as written.
fn import_command(location: Option<&crate::store::Location>) -> String {
    match location {
        Some(l) => {
            let db = l.to_string();
            if db
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-:@".contains(c))
            {
                format!("escamap --db {db} import export.csv")
            } else {
                format!(
                    "escamap --db '{}' import export.csv",
                    db.replace('\'', r"'\''")
                )
            }
        }
        None => "escamap import export.csv".to_owned(),
    }
}

/// Findings shown as cards.
const ATTENTION_CARDS: usize = 6;

fn attention(found: &Insights) -> Vec<AttentionCard> {
    found
        .findings
        .iter()
        .take(ATTENTION_CARDS)
        .map(|f| {
            let history: Vec<String> = f.history.iter().map(u32::to_string).collect();
            AttentionCard {
                kind: f.kind.as_str(),
                label: kind_label(f.kind),
                title: slice_name(&f.slice),
                numbers: format!("{} vs {} expected", f.observed, expected_text(f.expected)),
                summary: f.summary.clone(),
                href: f.drill.clone(),
                spark: spark_points(&f.history, 96.0, 24.0),
                spark_label: format!(
                    "Escalations per {}, the last 13 oldest first: {}",
                    found.period,
                    history.join(", ")
                ),
            }
        })
        .collect()
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
    tab: DashboardTab,
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
    /// The heatmap's controls: colour by value or share, against the previous period.
    controls_keep: Vec<(&'static str, String)>,
    colour_by: Vec<(&'static str, &'static str, bool)>,
    can_compare: bool,
    compare_hint: Option<&'static str>,
    comparing: bool,
    controls_error: Option<String>,
    /// The Resolution tab's backlog chart, and its period choice.
    backlog_svg: Option<String>,
    periods: Vec<(&'static str, bool)>,
    /// "Needs attention": the top findings, the period they are about, how many there are.
    attention: Vec<AttentionCard>,
    attention_when: String,
    attention_total: usize,
    attention_api: String,
    /// The empty state's command, naming this server's store.
    import_command: String,
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

/// The dashboard's tabs: the original's three views, and a custom pair of dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashboardTab {
    View(View),
    /// The backlog over time and the time to resolve by product and month.
    Resolution,
    Custom,
}

impl DashboardTab {
    pub const ALL: [Self; 5] = [
        Self::View(View::ProductTimeline),
        Self::View(View::Regional),
        Self::View(View::ClientOverview),
        Self::Resolution,
        Self::Custom,
    ];

    /// The `tab=` value.
    pub fn slug(self) -> &'static str {
        match self {
            Self::View(View::ProductTimeline) => "product-timeline",
            Self::View(View::Regional) => "regional",
            Self::View(View::ClientOverview) => "client-overview",
            Self::Resolution => "resolution",
            Self::Custom => "custom",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::View(v) => v.title(),
            Self::Resolution => "Resolution",
            Self::Custom => "Custom",
        }
    }

    pub fn is_resolution(self) -> bool {
        self == Self::Resolution
    }

    pub fn is_custom(self) -> bool {
        self == Self::Custom
    }

    /// `tab=`, the Product Timeline when absent.
    fn from_params(p: &Params) -> Result<Self, ParamError> {
        match p.get("tab") {
            None => Ok(Self::View(View::ProductTimeline)),
            Some(t) => Self::ALL.into_iter().find(|x| x.slug() == t).ok_or_else(|| {
                ParamError::new(
                    "tab",
                    format!("unknown tab {t:?}: expected product-timeline, regional, client-overview, resolution or custom"),
                )
            }),
        }
    }
}

/// The query pairs that describe the dashboard's state (tab, custom axes, top).
fn state_pairs(tab: DashboardTab, p: &Params) -> Vec<(&'static str, String)> {
    let mut pairs = vec![("tab", tab.slug().to_owned())];
    if tab.is_custom() {
        for k in ["rows", "cols", "measure"] {
            if let Some(v) = p.get(k) {
                pairs.push((k, v.to_owned()));
            }
        }
    }
    for k in ["top", "normalize", "compare", "as_of"] {
        if let Some(v) = p.get(k) {
            pairs.push((k, v.to_owned()));
        }
    }
    if tab.is_resolution()
        && let Some(v) = p.get("period")
    {
        pairs.push(("period", v.to_owned()));
    }
    pairs
}

/// `/data?...` for the escalations behind cell (i, j).
fn drill_down(map: &Heatmap, i: usize, j: usize, base: &Filter) -> String {
    let f = cell_filter(map, i, j, base);
    format!("/data?{}", Params::encode(filter_pairs(&f)))
}

/// The heatmap the tab asks for, and for a custom tab whose axes cannot be drawn, why (the
/// client x severity default is shown instead).
fn heatmap_query(
    tab: DashboardTab,
    p: &Params,
    filter: &Filter,
) -> Result<(HeatmapQuery, Option<String>), ParamError> {
    let top = p.top()?;
    match tab {
        DashboardTab::Custom => {
            let rows = p.typed::<Dimension>("rows")?.unwrap_or(Dimension::Client);
            let cols = p.typed::<Dimension>("cols")?.unwrap_or(Dimension::Severity);
            let measure = p.typed::<Measure>("measure")?.unwrap_or(Measure::Count);
            let top = Some(top.unwrap_or(DEFAULT_CLIENT_ROWS));
            match HeatmapQuery::new(rows, cols, measure, top, filter.clone()) {
                Ok(q) => Ok((q, None)),
                Err(e) => {
                    let fallback = HeatmapQuery::new(
                        Dimension::Client,
                        Dimension::Severity,
                        measure,
                        top,
                        filter.clone(),
                    )
                    .map_err(|e| ParamError::new("rows", e.to_string()))?;
                    Ok((fallback, Some(e.to_string())))
                }
            }
        }
        DashboardTab::Resolution => {
            let q = HeatmapQuery::new(
                Dimension::Product,
                Dimension::Month,
                Measure::Mttr,
                top,
                filter.clone(),
            )
            .map_err(|e| ParamError::new("top", e.to_string()))?;
            Ok((q, None))
        }
        DashboardTab::View(view) => {
            let top = if view == View::ClientOverview {
                Some(top.unwrap_or(DEFAULT_CLIENT_ROWS))
            } else {
                top
            };
            let q = HeatmapQuery::view(view, top, filter.clone())
                .map_err(|e| ParamError::new("top", e.to_string()))?;
            Ok((q, None))
        }
    }
}

/// The heatmap as SVG, every cell a link to its escalations.
fn draw(map: &Heatmap, query: &HeatmapQuery, palette: Palette, filter: &Filter) -> String {
    let link = |m: &Heatmap, i: usize, j: usize| drill_down(m, i, j, filter);
    heatmap_svg(
        map,
        &SvgOptions {
            title: query.title(),
            subtitle: query.describe(),
            palette,
            link: Some(&link),
            ..SvgOptions::default()
        },
    )
}

/// `?` plus `extra` and the filter's pairs.
fn with_filter(filter: &Filter, extra: Vec<(&'static str, String)>) -> String {
    let mut pairs = extra;
    pairs.extend(filter_pairs(filter));
    Params::encode(pairs)
}

fn tab_links(active: DashboardTab, filter: &Filter) -> Vec<Tab> {
    DashboardTab::ALL
        .into_iter()
        .map(|t| Tab {
            label: t.label(),
            href: format!(
                "/?{}",
                with_filter(filter, vec![("tab", t.slug().to_owned())])
            ),
            active: t == active,
        })
        .collect()
}

/// The API query for the same heatmap, for the downloads.
fn api_query(query: &HeatmapQuery, palette: Palette, filter: &Filter) -> String {
    let mut v: Vec<(&'static str, String)> = vec![
        ("rows", query.rows.to_string()),
        ("cols", query.cols.to_string()),
        ("measure", query.measure.to_string()),
    ];
    if let Some(t) = query.top {
        v.push(("top", t.to_string()));
    }
    if let Some(n) = query.normalize {
        v.push(("normalize", n.to_string()));
    }
    if let Some(c) = query.compare {
        v.push(("compare", c.to_string()));
    }
    v.push(("palette", palette.to_string()));
    with_filter(filter, v)
}

/// "Show 50 / 100 / 500 / all" rows, for the sizes between what is shown and what there is.
fn more_links(
    map: &Heatmap,
    state_now: &[(&'static str, String)],
    filter: &Filter,
) -> Vec<(&'static str, String)> {
    let shown = map.rows.len();
    let total_rows = shown + map.hidden_rows;
    [("50", 50usize), ("100", 100), ("500", 500)]
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
            (label, format!("/?{}", with_filter(filter, pairs)))
        })
        .collect()
}

/// `/`: read the state from the query string, answer it through the application, and lay it
/// out.
pub async fn show_dashboard(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Html<String>, WebError> {
    let p = Params::parse(raw.as_deref());
    let filter = p.filter()?;
    let tab = DashboardTab::from_params(&p)?;
    let palette = p.palette()?;
    let (query, custom_error) = heatmap_query(tab, &p, &filter)?;
    let normalize = p.typed::<Normalize>("normalize")?;
    let compare = p.typed::<Compare>("compare")?;
    let has_time = query.rows.is_time() || query.cols.is_time();
    let has_dates = filter.from.is_some() && filter.to.is_some();
    let compare_hint = match (has_dates, has_time) {
        (false, _) => Some("pick a date range (from and to) to compare it with the period before"),
        (true, true) => Some(
            "this view has a time axis: compare on Regional Analysis, Client Overview or a custom pair",
        ),
        (true, false) => None,
    };
    // A control the view cannot take is said, not failed on: the view is drawn without it.
    let mut controls_error = None;
    let query = match query.clone().with_normalize(normalize) {
        Ok(q) => q,
        Err(e) => {
            controls_error = Some(e.to_string());
            query
        }
    };
    let query = match query.clone().with_compare(compare) {
        Ok(q) => q,
        Err(_) => query,
    };
    let app = &state.app;
    let as_of = p.as_of()?;
    let found = app.insights(&filter, Period::Month, as_of, ATTENTION_CARDS)?;
    let attention_when = match found.current {
        Some(c) if found.as_of.is_some() => format!("{} to {}", c.from, c.to),
        _ => String::new(),
    };
    let mut attention_api = vec![];
    if let Some(d) = as_of {
        attention_api.push(("as_of", d.to_string()));
    }
    let attention_api = format!("/api/v1/insights?{}", with_filter(&filter, attention_api));
    let (now, before) = app.stats_compared(&filter)?;
    let map = app.heatmap(&query);
    let period = p.typed::<Period>("period")?.unwrap_or(Period::Month);
    let backlog = if tab.is_resolution() {
        let b = app.backlog(&filter, period)?;
        Some(backlog_svg(
            &b,
            &format!("Backlog by {period}"),
            &format!(
                "opened, closed and open at the end of each {period} · {}",
                filter.describe()
            ),
        ))
    } else {
        None
    };
    let index = app.index();
    let state_now = state_pairs(tab, &p);
    let api = api_query(&query, palette, &filter);
    let dims: Vec<&str> = Dimension::NAMES.to_vec();
    let page = DashboardPage {
        layout: Layout::new("Dashboard", "dashboard", Some(&caller)),
        filters: FilterBar::new("/", &filter, &index, state_now.clone()),
        empty: index.is_empty(),
        cards: cards(&now, before.as_ref()),
        tabs: tab_links(tab, &filter),
        tab,
        heading: query.title(),
        svg: draw(&map, &query, palette, &filter),
        hidden_rows: map.hidden_rows,
        shown_rows: map.rows.len(),
        more: more_links(&map, &state_now, &filter),
        download_svg: format!("/api/v1/heatmap.svg?{api}"),
        download_png: format!("/api/v1/heatmap.png?{api}"),
        download_csv: format!("/api/v1/heatmap.csv?{api}"),
        custom_keep: filter_pairs(&filter),
        custom_rows: choices(dims.iter().copied(), &[query.rows.to_string()]),
        custom_cols: choices(dims.iter().copied(), &[query.cols.to_string()]),
        custom_measures: choices(Measure::NAMES.iter().copied(), &[query.measure.to_string()]),
        custom_error,
        controls_keep: {
            let mut keep: Vec<(&'static str, String)> = state_now
                .iter()
                .filter(|(k, _)| !matches!(*k, "normalize" | "compare" | "period"))
                .cloned()
                .collect();
            keep.extend(filter_pairs(&filter));
            keep
        },
        colour_by: [
            ("", "value"),
            ("row", "share of row"),
            ("col", "share of column"),
            ("total", "share of total"),
        ]
        .into_iter()
        .map(|(v, label)| {
            let on = query.normalize.map_or("", |n| n.as_str()) == v;
            (v, label, on)
        })
        .collect(),
        can_compare: compare_hint.is_none(),
        compare_hint,
        comparing: query.compare.is_some(),
        controls_error,
        backlog_svg: backlog,
        periods: Period::ALL
            .iter()
            .map(|x| (x.as_str(), *x == period))
            .collect(),
        attention: attention(&found),
        attention_when,
        attention_total: found.total,
        attention_api,
        import_command: import_command(app.location()),
    };
    Ok(render_html(&page))
}

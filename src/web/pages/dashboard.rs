//! `/`: stat cards with their change against the previous period, the original's three views
//! plus a custom one, drill-down links on every cell, downloads.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Html;

use super::{Choice, FilterBar, Layout, render_html};
use crate::analytics::insights::{Insights, expected_text, kind_label, slice_name};
use crate::analytics::{Filter, Heatmap, HeatmapQuery, cell_filter};
use crate::app::Compared;
use crate::domain::{Compare, Dimension, Measure, Normalize, Period, View};
use crate::render::{
    Palette, SvgOptions, backlog_svg, grouped, grouped_f, heatmap_svg, spark_points,
};
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
    /// The heatmap fitted to the panel at a desktop width, and at a phone's (CSS shows one).
    svg: String,
    svg_narrow: String,
    hidden_rows: usize,
    shown_rows: usize,
    more: Vec<(String, String)>,
    download_svg: String,
    download_png: String,
    download_csv: String,
    /// Every row, whatever `top` says.
    download_all_csv: String,
    /// The filter's values that match nothing, said above the cards.
    unmatched: Vec<String>,
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
    periods: Vec<(&'static str, &'static str, bool)>,
    /// "Needs attention": the top findings, the period they are about, how many there are.
    attention: Vec<AttentionCard>,
    attention_when: String,
    attention_total: usize,
    attention_api: String,
    /// The empty state's command, naming this server's store.
    import_command: String,
    /// The query a "Save view" keeps: the dashboard's state as asked (a default range stays
    /// the moving default).
    save_query: String,
}

/// A card's change line against the period before (`before`, already per day when the data
/// covers only part of that period).
fn delta(now: f64, before: f64, percent_points: bool, scaled: &str) -> (String, &'static str) {
    let diff = now - before;
    // More escalations is worse, whichever card.
    let class = if diff.abs() < 1e-9 {
        "neutral"
    } else if diff > 0.0 {
        "bad"
    } else {
        "good"
    };
    // Arrows and signs carry the direction; the colour only repeats it.
    let arrow = if diff > 0.0 {
        "▲"
    } else if diff < 0.0 {
        "▼"
    } else {
        "="
    };
    let text = if percent_points {
        format!("{arrow} {diff:+.1} pts vs previous period ({before:.1}%)")
    } else if before > 0.0 {
        format!(
            "{arrow} {:+.0}% vs previous period ({}{scaled})",
            diff / before * 100.0,
            grouped_f(before, 0)
        )
    } else {
        format!("{arrow} +{} vs previous period (0)", grouped_f(diff, 0))
    };
    (text, class)
}

/// Why a card has no change line: no date range, or a period before that the data covers too
/// little of.
fn no_comparison(c: &Compared) -> String {
    match (&c.previous, c.first_record) {
        (Some(p), Some(first)) => format!(
            "no comparison: the period before ({} to {}) starts before the first record ({first})",
            p.from.map(|d| d.to_string()).unwrap_or_default(),
            p.to.map(|d| d.to_string()).unwrap_or_default(),
        ),
        _ => "all time · pick a date range to compare".to_owned(),
    }
}

/// A card's label, its number now and before, the number as printed, whether it is a rate (its
/// change in points) and whether it is a count (compared per day on a partly covered period).
type CardRow = (&'static str, f64, Option<f64>, String, bool, bool);

fn cards(c: &Compared) -> Vec<Card> {
    let (now, before) = (&c.now, c.before.as_ref());
    // Counts of a partly covered period, per day of the whole: the data's days scaled up.
    let per_day = |n: u64| n as f64 / c.covered;
    let scaled = if c.covered < 1.0 {
        format!(", per day: data covers {:.0}%", (c.covered * 100.0).floor())
    } else {
        String::new()
    };
    let rows: [CardRow; 4] = [
        (
            "Total Escalations",
            now.total_escalations as f64,
            before.map(|b| per_day(b.total_escalations)),
            grouped(now.total_escalations),
            false,
            true,
        ),
        (
            "High Severity",
            now.high_severity_count as f64,
            before.map(|b| per_day(b.high_severity_count)),
            grouped(now.high_severity_count),
            false,
            true,
        ),
        (
            "Unique Clients",
            now.unique_clients as f64,
            before.map(|b| b.unique_clients as f64),
            grouped(now.unique_clients),
            false,
            false,
        ),
        (
            "High Severity Rate",
            now.high_severity_rate,
            before.map(|b| b.high_severity_rate),
            format!("{:.1}%", now.high_severity_rate),
            true,
            false,
        ),
    ];
    rows.into_iter()
        .map(|(label, n, b, value, pts, counts)| {
            let (delta, delta_class) = match b {
                Some(b) => delta(n, b, pts, if counts { &scaled } else { "" }),
                None => (no_comparison(c), "neutral"),
            };
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
    for k in ["top", "normalize", "compare", "as_of", "range"] {
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
    let top = p.top()?.map(|t| t.min(MAX_PAGE_ROWS));
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

/// The panel's inner width at a 1440 px window (the page is at most 1400 px wide, less its
/// padding and the panel's), and at a 375 px phone.
pub const WIDE_PANEL: f64 = 1300.0;
pub const NARROW_PANEL: f64 = 310.0;

/// The heatmap as SVG, every cell a link to its escalations, fitted to `width`; `id` keeps the
/// ids inside apart when a page carries two.
fn draw(
    map: &Heatmap,
    query: &HeatmapQuery,
    palette: Palette,
    filter: &Filter,
    width: f64,
    id: &str,
) -> String {
    let link = |m: &Heatmap, i: usize, j: usize| drill_down(m, i, j, filter);
    heatmap_svg(
        map,
        &SvgOptions {
            title: query.title(),
            subtitle: query.describe(),
            palette,
            link: Some(&link),
            max_width: Some(width),
            id,
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

/// The dimensions, each by its title, `current` selected.
fn dimension_choices(current: Dimension) -> Vec<Choice> {
    Dimension::ALL
        .iter()
        .map(|d| Choice {
            value: d.to_string(),
            label: d.title().to_owned(),
            selected: *d == current,
        })
        .collect()
}

fn tab_links(active: DashboardTab, filter: &Filter, all_time: bool) -> Vec<Tab> {
    DashboardTab::ALL
        .into_iter()
        .map(|t| {
            let mut pairs = vec![("tab", t.slug().to_owned())];
            if all_time {
                pairs.push(("range", "all".to_owned()));
            }
            Tab {
                label: t.label(),
                href: format!("/?{}", with_filter(filter, pairs)),
                active: t == active,
            }
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

/// The most rows the dashboard draws: more is a download (the CSV has them all), not a page of
/// tens of megabytes.
pub const MAX_PAGE_ROWS: usize = 500;

/// "Show 50 / 100 / 500" rows, for the sizes between what is shown and what there is (and "all"
/// when all fit a page).
fn more_links(
    map: &Heatmap,
    state_now: &[(&'static str, String)],
    filter: &Filter,
) -> Vec<(String, String)> {
    let shown = map.rows.len();
    let total_rows = shown + map.hidden_rows;
    [50usize, 100, MAX_PAGE_ROWS]
        .into_iter()
        .filter(|n| *n > shown && *n < total_rows)
        .map(|n| (n.to_string(), n))
        .chain((total_rows <= MAX_PAGE_ROWS).then(|| (format!("all {total_rows}"), total_rows)))
        .map(|(label, n)| {
            let mut pairs: Vec<(&'static str, String)> = state_now
                .iter()
                .filter(|(k, _)| *k != "top")
                .cloned()
                .collect();
            pairs.push(("top", n.to_string()));
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
    let app = &state.app;
    let index = app.index();
    // No dates asked for: the last 12 whole months and the current one, up to the newest
    // escalation (or today), so the cards compare with the period before. `range=all` is the
    // one click back to all time.
    let all_time = p.get("range") == Some("all");
    let asked = p.filter()?;
    let filter = match index.date_range() {
        Some((_, last)) if !all_time && asked.from.is_none() && asked.to.is_none() => {
            asked.recent(last.min(app.today()))
        }
        _ => asked,
    };
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
    let compared = app.stats_compared(&filter)?;
    let unmatched: Vec<String> = app
        .unmatched(&filter)
        .iter()
        .map(|u| u.to_string())
        .collect();
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
    let state_now = state_pairs(tab, &p);
    let api = api_query(&query, palette, &filter);
    let page = DashboardPage {
        layout: Layout::new("Dashboard", "dashboard", Some(&caller))
            .with_views(&super::nav_views(&state, &caller).await),
        filters: FilterBar::new("/", &filter, &index, state_now.clone()),
        empty: index.is_empty(),
        unmatched,
        cards: cards(&compared),
        tabs: tab_links(tab, &filter, all_time),
        tab,
        heading: query.title(),
        svg: draw(&map, &query, palette, &filter, WIDE_PANEL, "hm"),
        svg_narrow: draw(&map, &query, palette, &filter, NARROW_PANEL, "hmn"),
        hidden_rows: map.hidden_rows,
        shown_rows: map.rows.len(),
        more: more_links(&map, &state_now, &filter),
        download_svg: format!("/api/v1/heatmap.svg?{api}"),
        download_png: format!("/api/v1/heatmap.png?{api}"),
        download_csv: format!("/api/v1/heatmap.csv?{api}"),
        download_all_csv: format!(
            "/api/v1/heatmap.csv?{}",
            api_query(
                &HeatmapQuery {
                    top: None,
                    ..query.clone()
                },
                palette,
                &filter
            )
        ),
        custom_keep: filter_pairs(&filter),
        custom_rows: dimension_choices(query.rows),
        custom_cols: dimension_choices(query.cols),
        custom_measures: Measure::ALL
            .iter()
            .map(|m| Choice {
                value: m.to_string(),
                label: m.label().to_owned(),
                selected: *m == query.measure,
            })
            .collect(),
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
            .map(|x| (x.as_str(), x.dimension().title(), *x == period))
            .collect(),
        attention: attention(&found),
        attention_when,
        attention_total: found.total,
        attention_api,
        import_command: import_command(app.location()),
        save_query: crate::web::params::dashboard_query(raw.as_deref().unwrap_or(""))
            .unwrap_or_default(),
    };
    Ok(render_html(&page))
}

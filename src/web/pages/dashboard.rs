//! `/`: stat cards with their change against the previous period, the original's three views
//! plus a custom one, drill-down links on every cell, downloads.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Html;

use super::{Choice, FilterBar, Layout, render_html};
use crate::analytics::insights::{Insights, expected_text, kind_label, slice_name};
use crate::analytics::{Filter, Heatmap, HeatmapQuery, cell_filter};
use crate::domain::{Compare, Dimension, Measure, Normalize, Period};
use crate::render::{Card, Palette, SvgOptions, backlog_svg, cards, heatmap_svg, spark_points};
use crate::web::error::WebError;
use crate::web::gate::Caller;
use crate::web::params::dashboard::{DashboardTab, MAX_PAGE_ROWS, heatmap_query};
use crate::web::params::{Params, filter_pairs};
use crate::web::state::AppState;

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

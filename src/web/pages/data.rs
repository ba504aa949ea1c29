//! `/data`: the escalations behind the current filters, paginated and sortable server-side, and
//! `/data.csv`: the full filtered set as CSV.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::{FilterBar, Layout, render_html};
use crate::domain::{Escalation, SortColumn};
use crate::render::grouped;
use crate::web::error::WebError;
use crate::web::gate::Caller;
use crate::web::params::{Params, filter_pairs};
use crate::web::state::AppState;

pub struct Header {
    label: &'static str,
    href: Option<String>,
    arrow: Option<&'static str>,
    aria_sort: Option<&'static str>,
}

pub struct RowView {
    ticket: String,
    client: String,
    product: String,
    region: String,
    severity: String,
    severity_class: String,
    opened: String,
    closed: String,
    status: String,
    summary: String,
    /// The summary cut to a table cell's length, whole in its tooltip.
    summary_short: String,
    email: String,
    phone: String,
}

/// Summaries longer than this are cut in the table (the cell's tooltip has them whole).
const SUMMARY_CHARS: usize = 140;

impl From<Escalation> for RowView {
    fn from(e: Escalation) -> Self {
        let f = e.fields;
        let opt = |t: Option<crate::domain::Text>| t.map(String::from).unwrap_or_default();
        Self {
            ticket: opt(f.ticket),
            client: f.client.into(),
            product: f.product.into(),
            region: f.region.into(),
            severity: f.severity.to_string(),
            severity_class: f.severity.as_str().to_lowercase(),
            opened: f.opened.to_string(),
            closed: f.closed.map(|d| d.to_string()).unwrap_or_default(),
            status: opt(f.status),
            summary_short: {
                let s = opt(f.summary.clone());
                if s.chars().count() > SUMMARY_CHARS {
                    format!("{}…", s.chars().take(SUMMARY_CHARS - 1).collect::<String>())
                } else {
                    s
                }
            },
            summary: opt(f.summary),
            email: opt(f.email),
            phone: opt(f.phone),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/data.html")]
pub struct DataPage {
    layout: Layout,
    filters: FilterBar,
    total: usize,
    page: usize,
    headers: Vec<Header>,
    rows: Vec<RowView>,
    prev: Option<String>,
    next: Option<String>,
    csv_href: String,
    /// The counts as printed (`1,000,000`).
    total_text: String,
    range_text: String,
    pages_text: String,
    /// Rows per page: the sizes offered, each a link but the current one.
    sizes: Vec<(String, Option<String>)>,
    unmatched: Vec<String>,
}

/// The page sizes offered; the largest is the bound (the CSV has every row).
const PAGE_SIZES: [usize; 3] = [50, 200, crate::web::params::MAX_PER_PAGE];

const COLUMNS: [(&str, Option<SortColumn>); 11] = [
    ("ID", Some(SortColumn::Id)),
    ("Client", Some(SortColumn::Client)),
    ("Product", Some(SortColumn::Product)),
    ("Region", Some(SortColumn::Region)),
    ("Severity", Some(SortColumn::Severity)),
    ("Opened", Some(SortColumn::Opened)),
    ("Closed", Some(SortColumn::Closed)),
    ("Status", Some(SortColumn::Status)),
    ("Summary", None),
    ("E-mail", None),
    ("Phone", None),
];

pub async fn list_escalations(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Html<String>, WebError> {
    let p = Params::parse(raw.as_deref());
    let filter = p.filter()?;
    let (page, per_page, sort, descending) = p.paging()?;
    let app = state.app.clone();
    let f = filter.clone();
    let (items, total) =
        crate::web::blocking(move || app.escalations_page(&f, sort, descending, page, per_page))
            .await?;
    let index = state.app.index();

    let link = |pairs: Vec<(&'static str, String)>| {
        let mut all = filter_pairs(&filter);
        all.extend(pairs);
        format!("/data?{}", Params::encode(all))
    };
    let order = |d: bool| if d { "desc" } else { "asc" }.to_owned();
    let paging = |pg: usize| {
        vec![
            ("sort", sort.to_string()),
            ("order", order(descending)),
            ("page", pg.to_string()),
            ("per_page", per_page.to_string()),
        ]
    };
    let headers = COLUMNS
        .iter()
        .map(|(label, col)| match col {
            None => Header {
                label,
                href: None,
                arrow: None,
                aria_sort: None,
            },
            Some(c) => {
                let active = *c == sort;
                // Clicking the active column flips the order; another column starts ascending
                // (dates start with the newest).
                let next_desc = if active {
                    !descending
                } else {
                    *c == SortColumn::Opened || *c == SortColumn::Closed
                };
                Header {
                    label,
                    href: Some(link(vec![
                        ("sort", c.to_string()),
                        ("order", order(next_desc)),
                        ("per_page", per_page.to_string()),
                    ])),
                    arrow: active.then_some(if descending { "▼" } else { "▲" }),
                    aria_sort: active.then_some(if descending {
                        "descending"
                    } else {
                        "ascending"
                    }),
                }
            }
        })
        .collect();
    let pages = total.div_ceil(per_page).max(1);
    let first = (page - 1) * per_page + 1;
    let last = (first + items.len()).saturating_sub(1);
    let sizes = PAGE_SIZES
        .iter()
        .map(|&n| {
            let href = (n != per_page).then(|| {
                link(vec![
                    ("sort", sort.to_string()),
                    ("order", order(descending)),
                    ("per_page", n.to_string()),
                ])
            });
            (grouped(n as u64), href)
        })
        .collect();
    let page_view = DataPage {
        total_text: grouped(total as u64),
        range_text: format!("{}–{}", grouped(first as u64), grouped(last as u64)),
        pages_text: grouped(pages as u64),
        sizes,
        unmatched: index
            .unmatched(&filter)
            .iter()
            .map(|u| u.to_string())
            .collect(),
        layout: Layout::new("Escalations", "data", Some(&caller))
            .with_views(&super::nav_views(&state, &caller).await),
        filters: FilterBar::new(
            "/data",
            &filter,
            &index,
            vec![("sort", sort.to_string()), ("order", order(descending))],
        ),
        total,
        page,
        headers,
        rows: items.into_iter().map(RowView::from).collect(),
        prev: (page > 1).then(|| link(paging(page - 1))),
        next: (page < pages).then(|| link(paging(page + 1))),
        csv_href: format!("/data.csv?{}", Params::encode(filter_pairs(&filter))),
    };
    Ok(render_html(&page_view))
}

pub async fn download_data_csv(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let filter = Params::parse(raw.as_deref()).filter()?;
    let app = state.app.clone();
    let body = crate::web::blocking(move || -> Result<Vec<u8>, crate::app::AppError> {
        let mut buf = Vec::new();
        app.export_csv(&filter, &mut buf)?;
        Ok(buf)
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"escalations.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

//! `/api/v1/...`: JSON (and SVG/PNG/CSV) over the same application service as the pages. Same
//! filter parameters as the command line: `from`, `to`, and repeatable `client`, `product`,
//! `region`, `severity`. Errors are [`ApiError`] JSON with the offending `parameter`.

use axum::extract::{RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::json;

use super::error::{ApiError, WebError};
use super::extract::Path;
use super::gate::Caller;
use super::params::Params;
use super::state::AppState;
use super::upload;
use crate::analytics::insights::{self, Insights};
use crate::analytics::risk::{self, Accounts};
use crate::analytics::{Heatmap, HeatmapQuery, Stats};
use crate::app::AppError;
use crate::domain::Escalation;
use crate::render::{SvgOptions, heatmap_csv, heatmap_svg, svg_to_png};
use crate::store::{ImportRecord, StoreError};

/// `GET /api/v1/stats`: the four numbers, and `unmatched`: the filter's values that name nothing
/// in the data, each with `suggestion` (the closest value, or null) and `message`.
#[derive(serde::Serialize)]
pub struct StatsAnswer {
    #[serde(flatten)]
    stats: Stats,
    unmatched: Vec<UnmatchedAnswer>,
}

#[derive(serde::Serialize)]
struct UnmatchedAnswer {
    #[serde(flatten)]
    value: crate::analytics::Unmatched,
    message: String,
}

pub async fn get_stats(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<StatsAnswer>, ApiError> {
    let filter = Params::parse(raw.as_deref()).filter()?;
    let stats = state.app.stats(&filter)?;
    let unmatched = state
        .app
        .unmatched(&filter)
        .into_iter()
        .map(|u| UnmatchedAnswer {
            message: u.to_string(),
            value: u,
        })
        .collect();
    Ok(Json(StatsAnswer { stats, unmatched }))
}

/// `GET /api/v1/backlog`: the filters select escalations; `from`/`to` choose the periods shown;
/// `period=month|week`.
pub async fn get_backlog(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<crate::analytics::Backlog>, ApiError> {
    let p = Params::parse(raw.as_deref());
    let filter = p.filter()?;
    let period = p.period()?;
    Ok(Json(state.app.backlog(&filter, period)?))
}

/// `GET /api/v1/insights`: the findings, as `escamap insights --json`: the filters select
/// escalations (`to` is the default `as_of`), `as_of`, `period=month|week`, `limit` (default 25).
pub async fn get_insights(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Insights>, ApiError> {
    let p = Params::parse(raw.as_deref());
    let filter = p.filter()?;
    let (as_of, period) = (p.as_of()?, p.period()?);
    let limit = p.limit(insights::DEFAULT_LIMIT, insights::MAX_LIMIT)?;
    Ok(Json(state.app.insights(&filter, period, as_of, limit)?))
}

/// `GET /api/v1/accounts`: the accounts ranked by risk, as `escamap accounts --json`.
pub async fn get_accounts(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Accounts>, ApiError> {
    let p = Params::parse(raw.as_deref());
    let filter = p.filter()?;
    let as_of = p.as_of()?;
    let limit = p.limit(risk::DEFAULT_LIMIT, risk::MAX_LIMIT)?;
    Ok(Json(state.app.accounts(&filter, as_of, limit)?))
}

fn heatmap_of(
    state: &AppState,
    raw: Option<&str>,
) -> Result<(Params, HeatmapQuery, Heatmap), ApiError> {
    let p = Params::parse(raw);
    let q = p.heatmap()?;
    p.palette()?; // validated on every heatmap route, drawn or not
    let map = state.app.heatmap(&q);
    Ok((p, q, map))
}

pub async fn get_heatmap(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Heatmap>, ApiError> {
    Ok(Json(heatmap_of(&state, raw.as_deref())?.2))
}

fn draw(state: &AppState, raw: Option<&str>) -> Result<String, ApiError> {
    let (p, q, map) = heatmap_of(state, raw)?;
    Ok(heatmap_svg(
        &map,
        &SvgOptions {
            title: q.title(),
            subtitle: q.describe(),
            palette: p.palette()?,
            max_width: p.width()?,
            ..SvgOptions::default()
        },
    ))
}

fn download(
    content_type: &'static str,
    filename: &'static str,
    body: impl IntoResponse,
) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, filename),
        ],
        body,
    )
        .into_response()
}

pub async fn get_heatmap_svg(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let svg = draw(&state, raw.as_deref())?;
    Ok(download(
        "image/svg+xml",
        "inline; filename=\"heatmap.svg\"",
        svg,
    ))
}

pub async fn get_heatmap_png(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let svg = draw(&state, raw.as_deref())?;
    let png = tokio::task::spawn_blocking(move || svg_to_png(&svg, 2.0))
        .await?
        .map_err(|e| WebError::Unprocessable(e.to_string()))?;
    Ok(download(
        "image/png",
        "inline; filename=\"heatmap.png\"",
        png,
    ))
}

pub async fn get_heatmap_csv(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (_, _, map) = heatmap_of(&state, raw.as_deref())?;
    let mut buf = Vec::new();
    heatmap_csv(&map, &mut buf).map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(download(
        "text/csv; charset=utf-8",
        "attachment; filename=\"heatmap.csv\"",
        buf,
    ))
}

#[derive(Serialize)]
pub struct EscalationsResponse {
    items: Vec<Escalation>,
    total: usize,
    page: usize,
    per_page: usize,
}

pub async fn list_escalations(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<EscalationsResponse>, ApiError> {
    let p = Params::parse(raw.as_deref());
    let filter = p.filter()?;
    let (page, per_page, sort, descending) = p.paging()?;
    let app = state.app.clone();
    let (items, total) = crate::web::blocking(move || {
        app.escalations_page(&filter, sort, descending, page, per_page)
    })
    .await?;
    Ok(Json(EscalationsResponse {
        items,
        total,
        page,
        per_page,
    }))
}

/// `POST /api/v1/imports`: a multipart `file` field, or the file itself as the body
/// (`text/csv`, `text/tab-separated-values`, `text/plain`), named by `?filename=`.
pub async fn create_import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
    req: Request,
) -> Result<Response, ApiError> {
    let params = Params::parse(raw.as_deref());
    let name = params.get("filename").unwrap_or("upload.csv").to_owned();
    let options = crate::web::params::import_options(&params)?;
    let file = upload::read(&state, req, upload::Body::MultipartOrRaw { name }).await?;
    match upload::import(&state, &caller, &file, options).await {
        Ok(report) => Ok((StatusCode::CREATED, Json(report)).into_response()),
        // The report, with the house error beside it: nothing was recorded.
        Err(AppError::AllRejected(report)) => {
            let mut body =
                serde_json::to_value(&*report).map_err(|e| WebError::Internal(e.to_string()))?;
            body["error"] = json!({
                "status": 422,
                "code": "all_rejected",
                "message": format!("every row was rejected ({}); nothing was imported", report.rejected_count),
            });
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list_imports(
    State(state): State<AppState>,
) -> Result<Json<Vec<ImportRecord>>, ApiError> {
    let app = state.app.clone();
    Ok(Json(crate::web::blocking(move || app.imports()).await?))
}

pub async fn delete_import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let app = state.app.clone();
    let n = crate::web::blocking(move || app.delete_import(id)).await?;
    super::audit::changed(&caller, "import_deleted", &format!("import {id}"));
    Ok(Json(json!({"id": id, "deleted_escalations": n})))
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the store answers and the index is loaded. Anyone may ask (a load balancer does),
/// so the answer says ready or not and nothing about the data.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let app = state.app.clone();
    match tokio::task::spawn_blocking(move || app.store_count()).await {
        Ok(Ok(_)) => Json(json!({"status": "ready"})).into_response(),
        _ => {
            let mut resp = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable"})),
            )
                .into_response();
            resp.extensions_mut()
                .insert(super::observe::StoreFault(StoreError::UNAVAILABLE));
            resp
        }
    }
}

pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../static/openapi.json"),
    )
        .into_response()
}

//! `/import`: upload a file from the browser and see its report; list and delete past imports.

use askama::Template;
use axum::Extension;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Layout, render_html};
use crate::app::AppError;
use crate::ingest::ImportReport;
use crate::store::ImportRecord;
use crate::web::error::WebError;
use crate::web::extract::{Path, Query};
use crate::web::gate::Caller;
use crate::web::state::AppState;
use crate::web::upload;

#[derive(Template)]
#[template(path = "pages/import.html")]
pub struct ImportPage {
    layout: Layout,
    report: Option<ImportReport>,
    refused: Option<String>,
    deleted: Option<u64>,
    imports: Vec<ImportRecord>,
    max_mb: usize,
    can_edit: bool,
}

#[derive(Template)]
#[template(path = "pages/confirm_delete.html")]
pub struct ConfirmDeletePage {
    layout: Layout,
    import: ImportRecord,
}

#[derive(Debug, Deserialize)]
pub struct ImportQuery {
    deleted: Option<u64>,
}

async fn page(
    state: &AppState,
    caller: &Caller,
    report: Option<ImportReport>,
    refused: Option<String>,
    deleted: Option<u64>,
) -> Result<Html<String>, WebError> {
    let app = state.app.clone();
    let imports = crate::web::blocking(move || app.imports()).await?;
    Ok(render_html(&ImportPage {
        layout: Layout::new("Import", "import", Some(caller)),
        report,
        refused,
        deleted,
        imports,
        max_mb: state.config.max_body_bytes >> 20,
        can_edit: caller.role() >= Some(crate::domain::Role::Editor),
    }))
}

pub async fn show_import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ImportQuery>,
) -> Result<Html<String>, WebError> {
    page(&state, &caller, None, None, q.deleted).await
}

pub async fn create_import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    req: Request,
) -> Result<Response, WebError> {
    let file = upload::read(&state, req, upload::Body::Multipart).await?;
    match upload::import(&state, &caller, file).await {
        Ok(report) => Ok((
            StatusCode::CREATED,
            page(&state, &caller, Some(report), None, None).await?,
        )
            .into_response()),
        Err(AppError::AllRejected(report)) => {
            let refused = format!(
                "every row was rejected ({}); nothing was imported",
                report.rejected_count
            );
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                page(&state, &caller, Some(*report), Some(refused), None).await?,
            )
                .into_response())
        }
        Err(e @ (AppError::File(_) | AppError::TooManyRows { .. })) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            page(&state, &caller, None, Some(e.to_string()), None).await?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

pub async fn confirm_delete_import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let app = state.app.clone();
    let imports = crate::web::blocking(move || app.imports()).await?;
    let import = imports
        .into_iter()
        .find(|i| i.id == id)
        .ok_or(WebError::NotFound)?;
    Ok(render_html(&ConfirmDeletePage {
        layout: Layout::new("Delete import", "import", Some(&caller)),
        import,
    }))
}

pub async fn delete_import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Redirect, WebError> {
    let app = state.app.clone();
    let n = crate::web::blocking(move || app.delete_import(id)).await?;
    crate::web::audit::changed(&caller, "import_deleted", &format!("import {id}"));
    Ok(Redirect::to(&format!("/import?deleted={n}")))
}

//! `/import`: upload a file from the browser and see its report; list and delete past imports.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Layout, render_html};
use crate::app::AppError;
use crate::ingest::ImportReport;
use crate::store::ImportRecord;
use crate::web::error::WebError;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "pages/import.html")]
pub struct ImportPage {
    layout: Layout,
    report: Option<ImportReport>,
    refused: Option<String>,
    deleted: Option<u64>,
    imports: Vec<ImportRecord>,
    max_mb: usize,
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
    report: Option<ImportReport>,
    refused: Option<String>,
    deleted: Option<u64>,
) -> Result<Html<String>, WebError> {
    let app = state.app.clone();
    let imports = tokio::task::spawn_blocking(move || app.imports()).await??;
    Ok(render_html(&ImportPage {
        layout: Layout::new("Import", "import"),
        report,
        refused,
        deleted,
        imports,
        max_mb: state.config.max_body_bytes >> 20,
    }))
}

pub async fn show_import(
    State(state): State<AppState>,
    Query(q): Query<ImportQuery>,
) -> Result<Html<String>, WebError> {
    page(&state, None, None, q.deleted).await
}

/// Reads the `file` field of a multipart upload: (file name, bytes).
pub async fn read_upload(mut multipart: Multipart) -> Result<(String, Vec<u8>), WebError> {
    while let Some(field) = multipart.next_field().await.map_err(upload_error)? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("upload").to_owned();
            let bytes = field.bytes().await.map_err(upload_error)?;
            return Ok((name, bytes.to_vec()));
        }
    }
    Err(WebError::BadRequest(crate::web::params::ParamError::new(
        "file",
        "the upload has no `file` field",
    )))
}

fn upload_error(e: axum::extract::multipart::MultipartError) -> WebError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        WebError::PayloadTooLarge
    } else {
        WebError::BadRequest(crate::web::params::ParamError::new("file", e.body_text()))
    }
}

/// Imports on a blocking thread (it is CPU and disk work) and returns the report.
pub async fn import_bytes(
    state: &AppState,
    name: String,
    bytes: Vec<u8>,
) -> Result<ImportReport, AppError> {
    let app = state.app.clone();
    tokio::task::spawn_blocking(move || {
        app.import(&name, &bytes, crate::cli::today(), &mut |_, _| {})
    })
    .await
    .map_err(|e| AppError::Output(format!("import task failed: {e}")))?
}

pub async fn create_import(
    State(state): State<AppState>,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let (name, bytes) = read_upload(multipart).await?;
    match import_bytes(&state, name, bytes).await {
        Ok(report) => Ok((
            StatusCode::CREATED,
            page(&state, Some(report), None, None).await?,
        )
            .into_response()),
        Err(AppError::File(e)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            page(&state, None, Some(e.to_string()), None).await?,
        )
            .into_response()),
        Err(e @ AppError::TooManyRows { .. }) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            page(&state, None, Some(e.to_string()), None).await?,
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

pub async fn confirm_delete_import(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let app = state.app.clone();
    let imports = tokio::task::spawn_blocking(move || app.imports()).await??;
    let import = imports
        .into_iter()
        .find(|i| i.id == id)
        .ok_or(WebError::NotFound)?;
    Ok(render_html(&ConfirmDeletePage {
        layout: Layout::new("Delete import", "import"),
        import,
    }))
}

pub async fn delete_import(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Redirect, WebError> {
    let app = state.app.clone();
    let n = tokio::task::spawn_blocking(move || app.delete_import(id)).await??;
    Ok(Redirect::to(&format!("/import?deleted={n}")))
}

//! `/import`: upload a file from the browser and see its report; list and delete past imports.

use askama::Template;
use axum::Extension;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Layout, render_html};
use crate::app::AppError;
use crate::ingest::ImportReport;
use crate::store::ImportRecord;
use crate::web::error::WebError;
use crate::web::gate::{Caller, CsrfPending};
use crate::web::params::ParamError;
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
    let imports = tokio::task::spawn_blocking(move || app.imports()).await??;
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

/// Reads a multipart upload: (file name, bytes). When the gate left the CSRF check to us, the
/// `csrf` field must come before the file and match, or nothing is read further.
pub async fn read_upload(
    mut multipart: Multipart,
    csrf: Option<&CsrfPending>,
) -> Result<(String, Vec<u8>), WebError> {
    let mut csrf_ok = csrf.is_none();
    while let Some(field) = multipart.next_field().await.map_err(upload_error)? {
        match field.name() {
            Some("csrf") => {
                let value = field.text().await.map_err(upload_error)?;
                csrf_ok = csrf.is_none_or(|c| c.0 == value.trim());
            }
            Some("file") => {
                if !csrf_ok {
                    return Err(WebError::Forbidden(
                        "the form expired or came from another site: reload the page and try again"
                            .into(),
                    ));
                }
                // Only the base name is kept; it never touches the file system.
                let name = field.file_name().unwrap_or("upload").to_owned();
                let bytes = field.bytes().await.map_err(upload_error)?;
                return Ok((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    Err(WebError::BadRequest(ParamError::new(
        "file",
        "the upload has no `file` field",
    )))
}

fn upload_error(e: axum::extract::multipart::MultipartError) -> WebError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        WebError::PayloadTooLarge
    } else {
        WebError::BadRequest(ParamError::new("file", e.body_text()))
    }
}

/// Imports on a blocking thread (it is CPU and disk work) and returns the report.
pub async fn import_bytes(
    state: &AppState,
    caller: &Caller,
    name: String,
    bytes: Vec<u8>,
) -> Result<ImportReport, AppError> {
    let app = state.app.clone();
    let result = tokio::task::spawn_blocking(move || {
        app.import(&name, &bytes, crate::cli::today(), &mut |_, _| {})
    })
    .await
    .map_err(|e| AppError::Output(format!("import task failed: {e}")))?;
    if let Ok(r) = &result {
        tracing::info!(target: "security", event = "import", account = caller.account(), client = %caller.ip,
            request.id = %caller.request_id, import.id = r.import_id, import.rows_imported = r.imported, "import");
    }
    result
}

pub async fn create_import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    csrf: Option<Extension<CsrfPending>>,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let (name, bytes) = read_upload(multipart, csrf.as_ref().map(|c| &c.0)).await?;
    match import_bytes(&state, &caller, name, bytes).await {
        Ok(report) => Ok((
            StatusCode::CREATED,
            page(&state, &caller, Some(report), None, None).await?,
        )
            .into_response()),
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
    let imports = tokio::task::spawn_blocking(move || app.imports()).await??;
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
    let n = tokio::task::spawn_blocking(move || app.delete_import(id)).await??;
    tracing::info!(target: "security", event = "delete", account = caller.account(), client = %caller.ip,
        request.id = %caller.request_id, import.id = id, rows_deleted = n, "import deleted");
    Ok(Redirect::to(&format!("/import?deleted={n}")))
}

//! `/import`: upload a file from the browser and see its report; list and delete past imports.

use askama::Template;
use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Layout, render_html};
use crate::app::{AppError, ImportOptions};
use crate::ingest::{FileError, ImportReport};
use crate::store::ImportRecord;
use crate::web::error::WebError;
use crate::web::extract::{Form, Path, Query};
use crate::web::gate::Caller;
use crate::web::held::{HeldUpload, RejectedRows};
use crate::web::params::Params;
use crate::web::state::AppState;
use crate::web::upload;

#[derive(Template)]
#[template(path = "pages/import.html")]
pub struct ImportPage {
    layout: Layout,
    report: Option<ImportReport>,
    /// Where the report's rejected rows can be downloaded, while they are held.
    rejected_link: Option<String>,
    /// Back to the mapping step, when the report is of a mapped upload still held.
    mapping_link: Option<String>,
    refused: Option<String>,
    notice: Option<String>,
    imports: Vec<ImportRecord>,
    profiles: Vec<ProfileRow>,
    max_mb: usize,
    can_edit: bool,
}

/// A saved source profile as the Import page lists it.
pub struct ProfileRow {
    name: String,
    columns: String,
    severities: usize,
    created_at: chrono::DateTime<chrono::Utc>,
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
    profile_deleted: Option<String>,
}

/// What the Import page shows besides its lists.
#[derive(Default)]
pub struct Outcome {
    pub report: Option<ImportReport>,
    pub rejected_link: Option<String>,
    pub mapping_link: Option<String>,
    pub refused: Option<String>,
    pub notice: Option<String>,
}

pub async fn page(
    state: &AppState,
    caller: &Caller,
    outcome: Outcome,
) -> Result<Html<String>, WebError> {
    let app = state.app.clone();
    let (imports, profiles) =
        crate::web::blocking(move || Ok::<_, AppError>((app.imports()?, app.profiles()?))).await?;
    let profiles = profiles
        .into_iter()
        .map(|(p, m)| ProfileRow {
            name: p.name,
            columns: m
                .columns
                .iter()
                .map(|(f, c)| format!("{f} ← “{c}”"))
                .collect::<Vec<_>>()
                .join(", "),
            severities: m.severities.len(),
            created_at: p.created_at,
        })
        .collect();
    Ok(render_html(&ImportPage {
        layout: Layout::new("Import", "import", Some(caller)),
        report: outcome.report,
        rejected_link: outcome.rejected_link,
        mapping_link: outcome.mapping_link,
        refused: outcome.refused,
        notice: outcome.notice,
        imports,
        profiles,
        max_mb: state.config.max_body_bytes >> 20,
        can_edit: caller.role() >= Some(crate::domain::Role::Editor),
    }))
}

pub async fn show_import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ImportQuery>,
) -> Result<Html<String>, WebError> {
    let notice = match (q.deleted, q.profile_deleted) {
        (Some(n), _) => Some(format!("Import deleted with its {n} escalations.")),
        (None, Some(name)) => Some(format!("Source profile “{name}” deleted.")),
        (None, None) => None,
    };
    page(
        &state,
        &caller,
        Outcome {
            notice,
            ..Outcome::default()
        },
    )
    .await
}

/// `POST /import`: imports the file if it reads as it stands; otherwise (columns not recognised,
/// severities no default reads, or not one row that would import) holds it and sends the user
/// to its mapping step, with nothing stored.
pub async fn create_import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    req: Request,
) -> Result<Response, WebError> {
    let file = upload::read(&state, req, upload::Body::Multipart).await?;
    let options = ImportOptions {
        stop_at_unknown_severity: true,
        ..ImportOptions::default()
    };
    match upload::import(&state, &caller, &file, options).await {
        Ok(report) => imported(&state, &caller, report).await,
        Err(
            e @ (AppError::NeedsMapping(_)
            | AppError::AllRejected(_)
            | AppError::File(FileError::Unrecognised { .. } | FileError::MissingColumns { .. })),
        ) => {
            let size = file.bytes.len();
            let held = HeldUpload {
                name: file.name,
                bytes: file.bytes,
            };
            match state.held.uploads.put(&caller.owner(), held, size) {
                Some(id) => Ok(Redirect::to(&format!("/import/mapping/{id}")).into_response()),
                None => refuse(&state, &caller, format!("{e} (the file is too large to hold for the mapping step: map it with `escamap import --map`)")).await,
            }
        }
        Err(e @ (AppError::File(_) | AppError::TooManyRows { .. })) => {
            refuse(&state, &caller, e.to_string()).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The Import page with a committed import's report (201), its rejected rows held to download.
pub async fn imported(
    state: &AppState,
    caller: &Caller,
    report: ImportReport,
) -> Result<Response, WebError> {
    let rejected_link = hold_rejected(state, caller, &report);
    Ok((
        StatusCode::CREATED,
        page(
            state,
            caller,
            Outcome {
                report: Some(report),
                rejected_link,
                ..Outcome::default()
            },
        )
        .await?,
    )
        .into_response())
}

/// The Import page saying why nothing was imported (422).
pub async fn refuse(state: &AppState, caller: &Caller, why: String) -> Result<Response, WebError> {
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        page(
            state,
            caller,
            Outcome {
                refused: Some(why),
                ..Outcome::default()
            },
        )
        .await?,
    )
        .into_response())
}

/// Holds `report`'s rejected rows as CSV for `caller`; the link to download them.
pub fn hold_rejected(state: &AppState, caller: &Caller, report: &ImportReport) -> Option<String> {
    if report.rejected.is_empty() {
        return None;
    }
    let mut csv = Vec::new();
    if let Err(e) = report.rejected_csv(&mut csv) {
        tracing::warn!(error = %e, "the rejected rows could not be written");
        return None;
    }
    let stem = report
        .source
        .rsplit_once('.')
        .map_or(report.source.as_str(), |(stem, _)| stem);
    let safe: String = stem
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(80)
        .collect();
    let file_name = format!(
        "{}-rejected.csv",
        if safe.is_empty() { "import" } else { &safe }
    );
    let size = csv.len();
    state
        .held
        .rejected
        .put(&caller.owner(), RejectedRows { file_name, csv }, size)
        .map(|id| format!("/import/rejected/{id}"))
}

/// `GET /import/rejected/{id}`: an import's rejected rows (the file's cells and why), to fix and
/// import again.
pub async fn download_rejected(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let rows = state
        .held
        .rejected
        .get(&caller.owner(), &id)
        .ok_or(WebError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", rows.file_name),
            ),
        ],
        rows.csv.clone(),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    name: String,
}

/// `POST /import/profiles/delete`: forgets a source profile (files already imported stay).
pub async fn delete_profile(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(form): Form<ProfileForm>,
) -> Result<Redirect, WebError> {
    let app = state.app.clone();
    let name = form.name.clone();
    crate::web::blocking(move || app.delete_profile(&name)).await?;
    crate::web::audit::changed(&caller, "profile_deleted", &form.name);
    Ok(Redirect::to(&format!(
        "/import?{}",
        Params::encode([("profile_deleted", form.name.trim().to_owned())])
    )))
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

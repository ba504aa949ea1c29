//! Uploads, for the Import page and `POST /api/v1/imports` alike: reading the file out of a
//! request (a multipart `file` field, or the body itself where the route allows it), the CSRF
//! check the gate leaves to the upload reader on upload routes, and the import on a blocking
//! thread.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};

use super::error::WebError;
use super::gate::{CSRF_MESSAGE, Caller, CsrfPending};
use super::params::ParamError;
use super::state::AppState;
use crate::app::{AppError, ImportOptions};
use crate::ingest::{ImportReport, Input};

/// A file as uploaded: its base name (never touching the file system) and its bytes.
pub struct Upload {
    pub name: String,
    pub bytes: Bytes,
}

/// How the file may arrive.
pub enum Body {
    /// Only as the `file` field of a `multipart/form-data` body (a browser form).
    Multipart,
    /// Also as the body itself, named `name` (a script's `text/csv` upload).
    MultipartOrRaw { name: String },
}

/// Reads the upload from `req`. When the gate deferred the CSRF check ([`CsrfPending`]), the
/// multipart body's `csrf` field must come before the file and match, or nothing further is read
/// and the request is refused.
pub async fn read(state: &AppState, req: Request, accepts: Body) -> Result<Upload, WebError> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let csrf = req.extensions().get::<CsrfPending>().cloned();
    match accepts {
        _ if is_multipart => {
            let mp = Multipart::from_request(req, state)
                .await
                .map_err(|e| WebError::BadRequest(ParamError::new("file", e.body_text())))?;
            read_multipart(mp, csrf.as_ref()).await
        }
        Body::Multipart => Err(WebError::BadRequest(ParamError::new(
            "file",
            "send the file as multipart/form-data",
        ))),
        Body::MultipartOrRaw { name } => {
            let body = Bytes::from_request(req, state).await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    WebError::PayloadTooLarge
                } else {
                    WebError::BadRequest(ParamError::new("body", e.body_text()))
                }
            })?;
            Ok(Upload { name, bytes: body })
        }
    }
}

async fn read_multipart(
    mut multipart: Multipart,
    csrf: Option<&CsrfPending>,
) -> Result<Upload, WebError> {
    let mut csrf_ok = csrf.is_none();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("csrf") => {
                let value = field.text().await.map_err(multipart_error)?;
                csrf_ok = csrf.is_none_or(|c| c.0 == value.trim());
            }
            Some("file") => {
                if !csrf_ok {
                    return Err(WebError::Forbidden(CSRF_MESSAGE.into()));
                }
                let name = field.file_name().unwrap_or("upload").to_owned();
                let bytes = field.bytes().await.map_err(multipart_error)?;
                return Ok(Upload { name, bytes });
            }
            _ => {}
        }
    }
    if !csrf_ok {
        return Err(WebError::Forbidden(CSRF_MESSAGE.into()));
    }
    Err(WebError::BadRequest(ParamError::new(
        "file",
        "the upload has no `file` field",
    )))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> WebError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        WebError::PayloadTooLarge
    } else {
        WebError::BadRequest(ParamError::new("file", e.body_text()))
    }
}

/// Imports on a blocking thread (it is CPU and disk work) and returns the report.
pub async fn import(
    state: &AppState,
    caller: &Caller,
    upload: &Upload,
    options: ImportOptions,
) -> Result<ImportReport, AppError> {
    let app = state.app.clone();
    let (name, bytes) = (upload.name.clone(), upload.bytes.clone());
    let result = tokio::task::spawn_blocking(move || {
        app.import_with(
            &name,
            Input::Bytes(&bytes),
            app.today(),
            &options,
            &mut |_, _| {},
        )
    })
    .await
    .map_err(|e| AppError::Output(format!("import task failed: {e}")))?;
    if let Ok(r) = &result {
        super::audit::changed(caller, "import", &format!("import {}", r.import_id));
    }
    result
}

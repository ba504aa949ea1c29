//! `/assets/{name}` and `/favicon.ico`: the embedded files ([`super::embedded`]) with year-long
//! immutable caching.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::embedded::{Asset, assets};
use super::error::WebError;
use super::extract::Path;

fn respond(a: &'static Asset) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        a.bytes.as_slice(),
    )
        .into_response()
}

pub async fn serve_asset(Path(name): Path<String>) -> Result<Response, WebError> {
    let a = assets();
    [&a.css, &a.js, &a.font, &a.font_bold, &a.icon]
        .into_iter()
        .find(|x| x.url.strip_prefix("/assets/") == Some(name.as_str()))
        .map(respond)
        .ok_or(WebError::NotFound)
}

pub async fn favicon() -> Response {
    respond(&assets().icon)
}

//! axum's extractors, with their rejections in the house shape: a malformed path segment, query
//! string or form answers 400 `invalid_parameter` naming the parameter, as JSON under `/api/` and
//! as the error page elsewhere, never the framework's plain text. Handlers use these instead of
//! axum's own.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::error::{WebError, respond};
use super::params::ParamError;

/// Path segments, e.g. `Path(id): Path<i64>`.
pub struct Path<T>(pub T);

/// A query string deserialized into `T`.
pub struct Query<T>(pub T);

/// A URL-encoded form body deserialized into `T`.
pub struct Form<T>(pub T);

/// The field a serde message names (`missing field `role``), else `fallback`.
fn named_field(message: &str, fallback: &str) -> String {
    message
        .split('`')
        .nth(1)
        .filter(|name| {
            !name.is_empty()
                && name.len() <= 40
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .unwrap_or(fallback)
        .to_owned()
}

/// The route template's only `{name}`, if it has exactly one.
fn only_param(template: Option<&str>) -> Option<&str> {
    let mut names = template?
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'));
    let first = names.next()?;
    names.next().is_none().then_some(first)
}

fn path_error(e: &PathRejection, template: Option<&str>) -> ParamError {
    use axum::extract::path::ErrorKind;
    let single = only_param(template).unwrap_or("path");
    match e {
        PathRejection::FailedToDeserializePathParams(d) => match d.kind() {
            ErrorKind::ParseErrorAtKey {
                key,
                value,
                expected_type,
            } => ParamError::new(key, format!("{value:?} is not a valid {expected_type}")),
            ErrorKind::ParseError {
                value,
                expected_type,
            }
            | ErrorKind::ParseErrorAtIndex {
                value,
                expected_type,
                ..
            } => ParamError::new(single, format!("{value:?} is not a valid {expected_type}")),
            ErrorKind::InvalidUtf8InPathParam { key } => {
                ParamError::new(key, "the value is not valid UTF-8")
            }
            _ => ParamError::new("path", "the address has a malformed segment"),
        },
        _ => ParamError::new("path", "the address has a malformed segment"),
    }
}

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(e) => {
                let template = parts
                    .extensions
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str);
                Err(respond(
                    parts.uri.path(),
                    WebError::BadRequest(path_error(&e, template)),
                ))
            }
        }
    }
}

/// Deserializes URL-encoded pairs into `T`; a failure names the field it is about.
fn decode<T: DeserializeOwned>(pairs: &[u8], fallback: &str) -> Result<T, ParamError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(pairs));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let field = if path.is_empty() || path == "." {
            named_field(&message, fallback)
        } else {
            named_field(&format!("`{path}`"), fallback)
        };
        ParamError::new(&field, clean(&message))
    })
}

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        decode(raw.as_bytes(), "query")
            .map(Self)
            .map_err(|e| respond(parts.uri.path(), WebError::BadRequest(e)))
    }
}

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let path = req.uri().path().to_owned();
        let urlencoded = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if !urlencoded {
            return Err(respond(
                &path,
                WebError::BadRequest(ParamError::new(
                    "content-type",
                    "send the form as application/x-www-form-urlencoded",
                )),
            ));
        }
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            let err = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                WebError::PayloadTooLarge
            } else {
                WebError::BadRequest(ParamError::new("form", "the form could not be read"))
            };
            respond(&path, err)
        })?;
        decode(&body, "form")
            .map(Self)
            .map_err(|e| respond(&path, WebError::BadRequest(e)))
    }
}

/// axum's message without its "Failed to deserialize ..." preamble.
fn clean(message: &str) -> String {
    message
        .rsplit_once(": ")
        .map_or(message, |(_, tail)| tail)
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_path_parameter_is_named_from_the_route() {
        assert_eq!(only_param(Some("/api/v1/imports/{id}")), Some("id"));
        assert_eq!(only_param(Some("/a/{x}/b/{y}")), None);
        assert_eq!(only_param(Some("/a")), None);
        assert_eq!(only_param(None), None);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Deleted {
        #[expect(dead_code, reason = "only its parsing is tested")]
        deleted: Option<u64>,
    }

    #[test]
    fn a_bad_value_names_its_field() {
        let e = decode::<Deleted>(b"deleted=abc", "query").expect_err("refused");
        assert_eq!(e.parameter, "deleted");
        assert!(decode::<Deleted>(b"deleted=3", "query").is_ok());
    }

    #[test]
    fn the_field_named_in_a_serde_message_is_the_parameter() {
        assert_eq!(
            named_field(
                "Failed to deserialize form body: missing field `role`",
                "form"
            ),
            "role"
        );
        assert_eq!(named_field("no backticks here", "form"), "form");
        assert_eq!(named_field("odd `a b` name", "form"), "form");
        assert_eq!(
            clean("Failed to deserialize form body: missing field `role`"),
            "missing field `role`"
        );
    }
}

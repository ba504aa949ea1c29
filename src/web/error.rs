//! One error type for the web layer, rendered once: as the HTML error page for pages
//! ([`WebError`]) and as JSON for the API ([`ApiError`]). 4xx messages are safe to show; a 5xx
//! shows a generic message with an error id, and the cause is logged once under that id.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::observe::StoreFault;
use super::pages::ErrorPage;
use super::params::ParamError;
use crate::app::AppError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    /// Not signed in (or a bad API token).
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in, but the role does not allow it; or a failed CSRF check.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// Something that was here for a while is not any more (a held upload).
    #[error("{0}")]
    Gone(String),
    #[error("this address does not take that method")]
    MethodNotAllowed,
    #[error("the address is longer than the server accepts")]
    UriTooLong,
    #[error("the request's headers are larger than the server accepts")]
    HeadersTooLarge,
    #[error(transparent)]
    BadRequest(#[from] ParamError),
    /// A request that is well-formed but cannot be processed, e.g. a file refused whole.
    #[error("{0}")]
    Unprocessable(String),
    #[error("the request body is larger than the limit")]
    PayloadTooLarge,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("the store is unavailable")]
    Unavailable,
    /// The store failed otherwise: answered as [`WebError::Internal`], and counted as a store
    /// error.
    #[error("internal error")]
    StoreFailed(String),
    /// Never shown: logged with its id.
    #[error("internal error")]
    Internal(String),
}

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::File(f) => Self::Unprocessable(f.to_string()),
            AppError::TooManyRows { .. } | AppError::AllRejected(_) | AppError::NeedsMapping(_) => {
                Self::Unprocessable(e.to_string())
            }
            AppError::NoSuchProfile(_) | AppError::BadProfileName => {
                Self::BadRequest(ParamError::new("profile", e.to_string()))
            }
            AppError::BadViewName => Self::BadRequest(ParamError::new("name", e.to_string())),
            AppError::NoSuchView(_) => Self::NotFound,
            AppError::NotYourView(_) | AppError::NotYours(_) => Self::Forbidden(e.to_string()),
            AppError::BadSubscription(_) => {
                Self::BadRequest(ParamError::new("subscription", e.to_string()))
            }
            AppError::Query(q) => Self::BadRequest(ParamError::new(q.parameter(), q.to_string())),
            AppError::Store(StoreError::NotFound) => Self::NotFound,
            AppError::Store(StoreError::Conflict(m)) => Self::Conflict(m),
            AppError::Store(StoreError::Unavailable(cause)) => {
                tracing::error!(error = %cause, "store unavailable");
                Self::Unavailable
            }
            AppError::Store(StoreError::Other(cause)) => Self::StoreFailed(cause),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for WebError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Internal(format!("background task failed: {e}"))
    }
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) | Self::StoreFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Conflict(_) => "conflict",
            Self::Gone(_) => "gone",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UriTooLong => "uri_too_long",
            Self::HeadersTooLarge => "headers_too_large",
            Self::BadRequest(_) => "invalid_parameter",
            Self::Unprocessable(_) => "unprocessable",
            Self::PayloadTooLarge => "payload_too_large",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal(_) | Self::StoreFailed(_) => "internal",
        }
    }

    /// What a person may be told, and for a 5xx the id under which the cause was logged.
    fn public(&self) -> (String, Option<String>) {
        match self {
            Self::Internal(cause) | Self::StoreFailed(cause) => {
                let id = format!("{:016x}", fastrand::u64(..));
                tracing::error!(error.id = %id, error = %cause, "request failed");
                (
                    format!("Something went wrong on our side. Error id: {id}"),
                    Some(id),
                )
            }
            Self::Unavailable => (
                "The data store is unavailable right now. Please retry shortly.".into(),
                None,
            ),
            Self::NotFound => ("There is nothing at this address.".into(), None),
            Self::PayloadTooLarge => ("The upload is larger than the server accepts.".into(), None),
            Self::TooManyRequests { retry_after_secs } => (
                format!("Too many requests. Please retry in {retry_after_secs} seconds."),
                None,
            ),
            other => (other.to_string(), None),
        }
    }

    fn finish(&self, mut resp: Response) -> Response {
        match self {
            Self::TooManyRequests { retry_after_secs } => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Unavailable => {
                resp.extensions_mut()
                    .insert(StoreFault(StoreError::UNAVAILABLE));
            }
            Self::StoreFailed(_) => {
                resp.extensions_mut().insert(StoreFault(StoreError::OTHER));
            }
            _ => {}
        }
        resp
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, error_id) = self.public();
        let page = ErrorPage::new(status, message, error_id);
        self.finish((status, page.into_html()).into_response())
    }
}

/// Whether `path` is the API's, whose errors are JSON.
pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// `e` in the house shape for `path`: JSON on the API, the error page elsewhere.
pub fn respond(path: &str, e: WebError) -> Response {
    if is_api(path) {
        ApiError(e).into_response()
    } else {
        e.into_response()
    }
}

/// The same errors, as JSON: `{"error": {"status", "code", "message", "parameter"?, "error_id"?}}`.
#[derive(Debug)]
pub struct ApiError(pub WebError);

impl<E: Into<WebError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let (message, error_id) = self.0.public();
        let mut body =
            json!({"status": status.as_u16(), "code": self.0.code(), "message": message});
        if let WebError::BadRequest(p) = &self.0 {
            body["parameter"] = json!(p.parameter);
        }
        if let Some(id) = error_id {
            body["error_id"] = json!(id);
        }
        self.0
            .finish((status, Json(json!({ "error": body }))).into_response())
    }
}

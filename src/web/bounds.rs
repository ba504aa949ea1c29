//! Bounds on a request's head: the address's length and the headers' count and size.
//!
//! hyper refuses what it cannot parse (an address over 64 KiB, more headers than it was told to
//! accept, a head over its buffer) with a bare status line, before any layer of ours runs. The
//! house bounds here are lower than hyper's, so that every such request within hyper's reach is
//! answered by us, in the house shape and with the security headers: 414 and 431 as JSON under
//! `/api/`, the error page elsewhere.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use super::error::{WebError, respond};

/// The longest path and query string accepted, in bytes (browsers and proxies such as nginx
/// stop at 8 KiB by default).
pub const MAX_URI_BYTES: usize = 16 * 1024;
/// Headers at most.
pub const MAX_HEADERS: usize = 100;
/// All header names and values together, in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// hyper's own cap on the header count, well above [`MAX_HEADERS`] so that ours answers first.
pub const HYPER_MAX_HEADERS: usize = 1_000;

/// Refuses a request over the bounds with 414 or 431 in the house shape.
pub async fn request_bounds(req: Request, next: Next) -> Response {
    match check(&req) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            // Only the path is echoed into the error's shape, never the over-long query.
            let path: String = req.uri().path().chars().take(64).collect();
            respond(&path, e)
        }
    }
}

fn check(req: &Request) -> Result<(), WebError> {
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Err(WebError::UriTooLong);
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Err(WebError::HeadersTooLarge);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn req(uri: &str, headers: &[(String, String)]) -> Request {
        let mut b = Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(k, v);
        }
        b.body(Body::empty()).expect("request")
    }

    #[test]
    fn an_address_at_the_bound_passes_and_one_byte_more_does_not() {
        let at = format!("/?q={}", "a".repeat(MAX_URI_BYTES - 4));
        assert!(check(&req(&at, &[])).is_ok());
        let over = format!("{at}a");
        assert!(matches!(check(&req(&over, &[])), Err(WebError::UriTooLong)));
    }

    #[test]
    fn too_many_or_too_large_headers_are_refused() {
        let many: Vec<_> = (0..=MAX_HEADERS)
            .map(|i| (format!("x-h{i}"), "1".to_owned()))
            .collect();
        assert!(matches!(
            check(&req("/", &many)),
            Err(WebError::HeadersTooLarge)
        ));
        assert!(check(&req("/", &many[..MAX_HEADERS])).is_ok());
        let big = vec![("x-big".to_owned(), "a".repeat(MAX_HEADER_BYTES))];
        assert!(matches!(
            check(&req("/", &big)),
            Err(WebError::HeadersTooLarge)
        ));
    }
}

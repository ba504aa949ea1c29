//! Webhooks: a JSON body POSTed to a URL, signed so the receiver can tell it came from us.
//!
//! `X-EscaMap-Signature: sha256=<hex HMAC-SHA256 of the exact body under the target's secret>`,
//! the GitHub and Stripe convention: the receiver recomputes it over the bytes it read and
//! compares in constant time. The body carries a `text` field, so a Slack or Microsoft Teams
//! incoming-webhook URL works as a target as it is.
//!
//! Sent with ureq: certificates are checked by the platform's verifier (the system's roots), no
//! redirect is followed (a target is the URL its owner gave, not where it points), and any answer
//! but 2xx is a failure, retried by the caller.

use std::time::Duration;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-EscaMap-Signature";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("invalid webhook URL {0:?}: {1}")]
    Url(String, String),
    #[error("the webhook answered HTTP {0}")]
    Status(u16),
    #[error("the webhook could not be reached: {0}")]
    Transport(String),
}

/// The signature header's value for `body`: `sha256=<hex>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        crate::auth::hmac_hex(secret.as_bytes(), &[body])
    )
}

/// Checks a target URL: `http` or `https`, a host, no user name or password in it (a secret
/// there would be shown in every listing).
pub fn check_url(url: &str) -> Result<String, WebhookError> {
    let bad = |why: &str| WebhookError::Url(url.to_owned(), why.to_owned());
    let u = url::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("expected an http:// or https:// URL"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad(
            "no user or password in the URL; the body is signed instead",
        ));
    }
    Ok(u.to_string())
}

/// The HTTP client EscaMap calls out with (webhooks, and `escamap healthcheck`): certificates
/// checked by the platform's verifier, no redirect followed, every status an answer (the caller
/// judges it), `timeout` for the whole exchange.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent(concat!("EscaMap/", env!("CARGO_PKG_VERSION")))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .into()
}

/// POSTs `body` (JSON) to `url`, signed with `secret`. `Ok` only on a 2xx answer.
pub fn post(url: &str, secret: &str, body: &[u8]) -> Result<(), WebhookError> {
    let answer = agent(Duration::from_secs(20))
        .post(url)
        .header("Content-Type", "application/json")
        .header(SIGNATURE_HEADER, signature(secret, body))
        .send(body)
        .map_err(|e| WebhookError::Transport(e.to_string()))?;
    let status = answer.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(WebhookError::Status(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_hmac_of_the_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn urls_are_http_with_a_host_and_no_credentials() {
        assert!(check_url("https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        for bad in [
            "ftp://example.com/x",
            "https://user:pw@example.com/x",
            "not a url",
            "mailto:a@example.com",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}

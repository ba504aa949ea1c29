//! Logging with `tracing`: `escamap=<default>` unless `RUST_LOG` says otherwise; JSON lines when
//! `ESCAMAP_LOG_FORMAT=json`. Logs go to stderr so that stdout stays clean for data.
//!
//! Never log row contents, names, e-mails or phone numbers: the data is personal. Log line
//! numbers, column names, counts and durations instead.

use tracing_subscriber::EnvFilter;

pub fn init(default_level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("escamap={default_level}")));
    let json = std::env::var("ESCAMAP_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// For tests: debug output, captured by the test harness.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("escamap=debug"))
        .with_test_writer()
        .try_init();
}

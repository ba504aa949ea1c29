//! Logging with `tracing`, to stderr and optionally to a file.
//!
//! - level: `RUST_LOG` if set, else `ESCAMAP_LOG_LEVEL` or the original's `LOG_LEVEL`
//!   (`info`, `debug` ...), else the command's default;
//! - file: `ESCAMAP_LOG_FILE` or the original's `LOG_FILE`, appended to, in addition to stderr;
//! - format: JSON lines when `ESCAMAP_LOG_FORMAT=json`.
//!
//! Never log row contents, names, e-mails or phone numbers: the data is personal. Log line
//! numbers, column names, counts and durations instead.

use std::sync::Mutex;

use anyhow::Context;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

fn env_first(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

pub fn init(default_level: &str) -> anyhow::Result<()> {
    let filter = match EnvFilter::try_from_default_env() {
        Ok(f) => f,
        Err(_) => {
            let level = env_first(&["ESCAMAP_LOG_LEVEL", "LOG_LEVEL"])
                .unwrap_or_else(|| default_level.to_owned());
            EnvFilter::try_new(format!("escamap={}", level.trim().to_lowercase()))
                .with_context(|| format!("invalid log level {level:?}"))?
        }
    };
    let json = std::env::var("ESCAMAP_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let file = match env_first(&["ESCAMAP_LOG_FILE", "LOG_FILE"]) {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open the log file {path}"))?,
        ),
        None => None,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = match (file, json) {
        (Some(f), true) => builder
            .json()
            .with_writer(std::io::stderr.and(Mutex::new(f)))
            .try_init(),
        (Some(f), false) => builder
            .with_ansi(false)
            .with_writer(std::io::stderr.and(Mutex::new(f)))
            .try_init(),
        (None, true) => builder.json().with_writer(std::io::stderr).try_init(),
        // Colour only for a person at a terminal: a redirected log (`2> escamap.log`, a service
        // manager's journal) gets plain text, and NO_COLOR is honoured.
        (None, false) => builder
            .with_ansi(
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none(),
            )
            .with_writer(std::io::stderr)
            .try_init(),
    };
    Ok(())
}

/// For tests: debug output, captured by the test harness.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("escamap=debug"))
        .with_test_writer()
        .try_init();
}

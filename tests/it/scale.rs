//! Scale (issue 16) through the real binary: the index a server loads, counted from its own log.

use std::time::{Duration, Instant};

use crate::helpers::{TestCli, free_port};

/// Lines of the server's log that say `what` happened to the index: "index built from the
/// store" (the whole store read) or "index updated" (a change applied).
fn count(log: &str, what: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

fn loads(log: &str) -> usize {
    count(log, "index built from the store")
}

fn wait_for(log: &str, what: &str, n: usize, secs: u64) -> usize {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while count(log, what) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    count(log, what)
}

#[test]
fn a_server_loads_the_index_once_at_start_and_applies_each_change_beside_it() {
    let cli = TestCli::new();
    let file = cli.path("demo.csv");
    cli.ok(&["demo-data", "--rows", "50000", "--out", &file]);
    cli.ok(&["import", &file]);
    let log = cli.path("serve.log");
    let port = free_port();
    let _served = cli.serve(
        &["--port", &port.to_string(), "--no-sample"],
        &[
            ("ESCAMAP_LOG_FILE", log.clone()),
            ("ESCAMAP_LOG_LEVEL", "debug".to_owned()),
        ],
        port,
    );
    assert_eq!(
        wait_for(&log, "index built from the store", 1, 20),
        1,
        "loaded at start"
    );
    // The SQLite server asks the store for changes ten times a second: idle, it builds nothing
    // more.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        loads(&log),
        1,
        "loaded once at start, not again a second later"
    );
    // A command-line import beside it is one change, applied to the server's index: the store is
    // not read again. The command itself builds no index (it would throw it away).
    let more = cli.write(
        "more.csv",
        "id,client,product,region,severity,opened\nX-1,Acme,API,Europe,high,2026-11-01\n",
    );
    let out = cli
        .cmd()
        .args(["import", &more])
        .env("ESCAMAP_LOG_LEVEL", "debug")
        .output()
        .expect("import runs");
    assert!(out.status.success());
    assert!(
        !["index built from the store", "index updated"]
            .iter()
            .any(|w| String::from_utf8_lossy(&out.stderr).contains(w)),
        "the import command builds no index"
    );
    assert_eq!(
        wait_for(&log, "index updated", 1, 20),
        1,
        "the server took the change in"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&log, "index updated"), 1, "once per change");
    assert_eq!(loads(&log), 1, "and never loaded again");
}

#[test]
fn the_command_lines_row_limit_can_be_raised_and_is_named_when_hit() {
    let cli = TestCli::new();
    let file = cli.write(
        "three.csv",
        "id,client,product,region,severity,opened\n\
         A-1,Acme,API,Europe,high,2026-11-01\n\
         A-2,Acme,API,Europe,low,2026-11-02\n\
         A-3,Acme,API,Europe,low,2026-11-03\n",
    );
    let err = cli.fails(&["import", "--max-import-rows", "2", &file]);
    assert!(
        err.contains("more than 2 rows") && err.contains("--max-import-rows"),
        "{err}"
    );
    assert_eq!(cli.total(), 0, "refused whole");
    let out = cli
        .cmd()
        .args(["import", &file])
        .env("ESCAMAP_MAX_IMPORT_ROWS", "3")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cli.total(), 3);
}

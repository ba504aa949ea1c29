//! Scale (issue 16) through the real binary: the index a server loads, counted from its own log.

use std::time::{Duration, Instant};

use crate::helpers::{Served, TestCli, free_port};

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

/// `escamap serve` on the test's store with its debug log in a file: the server, its port and the
/// log's path.
fn serve_logged(cli: &TestCli) -> (Served, u16, String) {
    let log = cli.path("serve.log");
    let port = free_port();
    let served = cli.serve(
        &["--port", &port.to_string(), "--no-sample"],
        &[
            ("ESCAMAP_LOG_FILE", log.clone()),
            ("ESCAMAP_LOG_LEVEL", "debug".to_owned()),
        ],
        port,
    );
    (served, port, log)
}

#[test]
fn a_server_loads_the_index_once_at_start_and_applies_each_change_beside_it() {
    let cli = TestCli::new();
    let file = cli.path("demo.csv");
    cli.ok(&["demo-data", "--rows", "50000", "--out", &file]);
    cli.ok(&["import", &file]);
    let (_served, _, log) = serve_logged(&cli);
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

/// The lines of the server's log that say `what`.
fn lines(log: &str, what: &str) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .map(str::to_owned)
        .collect()
}

/// A server's own import of new escalations is taken into its index from the rows it wrote,
/// under the ids the store gave them: the change is not read back from the store. An import
/// that meets its tickets again (last id wins) is read back, as another process's change is.
/// Either way the answers are the store's.
#[tokio::test(flavor = "multi_thread")]
async fn a_servers_own_import_of_new_rows_is_taken_in_without_reading_it_back() {
    let cli = TestCli::new();
    let (_served, port, log) = serve_logged(&cli);
    assert_eq!(wait_for(&log, "index built from the store", 1, 20), 1);
    let base = format!("http://127.0.0.1:{port}");
    crate::helpers::crypto();
    let http = reqwest::Client::new();
    let import = |csv: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .post(format!("{base}/api/v1/imports?filename=n.csv"))
                .header("content-type", "text/csv")
                .body(csv)
                .send()
                .await
                .expect("import");
            assert_eq!(r.status().as_u16(), 201);
        }
    };
    let total = || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let stats: serde_json::Value = http
                .get(format!("{base}/api/v1/stats"))
                .send()
                .await
                .expect("stats")
                .json()
                .await
                .expect("JSON");
            (
                stats["total_escalations"].as_u64(),
                stats["high_severity_count"].as_u64(),
            )
        }
    };
    let csv = "id,client,product,region,severity,opened\n\
               N-1,Acme,API,Europe,high,2026-11-01\n\
               N-2,Beta,API,Europe,low,2026-11-02\n";
    import(csv).await;
    let updated = lines(&log, "index updated");
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert!(updated[0].contains("the rows written"), "{}", updated[0]);
    assert_eq!(total().await, (Some(2), Some(1)));
    // The same tickets again, one now low: replaced rows, read back from the store.
    import(
        "id,client,product,region,severity,opened\n\
         N-1,Acme,API,Europe,low,2026-11-01\n\
         N-2,Beta,API,Europe,low,2026-11-02\n",
    )
    .await;
    let updated = lines(&log, "index updated");
    assert_eq!(updated.len(), 2, "{updated:?}");
    assert!(!updated[1].contains("the rows written"), "{}", updated[1]);
    assert_eq!(total().await, (Some(2), Some(0)));
    assert_eq!(loads(&log), 1, "never loaded again");
}

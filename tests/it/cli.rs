//! The command line, end to end, through the real binary.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestCli, free_port, read};

const EXPORT: &str = "Ticket ID,Customer,Product,Region,Priority,Created,Resolved,Status,Subject\n\
    ESC-1,Acme,API,Europe,P1,2024-01-15T10:00:00Z,2024-01-16,Closed,Outage\n\
    ESC-2,Acme,Billing,Europe,P3,2024-02-01,,Open,Invoice wrong\n\
    ESC-3,Globex,API,Asia,P2,2024-02-10,,Open,Slow\n\
    ESC-4,,API,Asia,P2,2024-02-10,,Open,No client\n\
    ESC-5,Initech,Dashboard,North America,P9,2024-03-01,,Open,Bad priority\n\
    ESC-6,Initech,Dashboard,North America,low,2024-03-05,,Open,Fine\n";

#[test]
fn import_prints_the_json_report() {
    let t = TestCli::new();
    let f = t.write("export.csv", EXPORT);
    let report = t.json(&["import", &f, "--json"]);
    assert_eq!(report["imported"], 4);
    assert_eq!(report["replaced"], 0);
    assert_eq!(report["rejected_count"], 2);
    assert_eq!(report["encoding"], "utf-8");
    assert_eq!(
        report["rejected"],
        json!([
            {"line": 5, "column": "Customer", "reason": "client is empty"},
            {"line": 6, "column": "Priority", "reason": report["rejected"][1]["reason"]},
        ])
    );
    let reason = report["rejected"][1]["reason"].as_str().expect("a reason");
    assert!(reason.starts_with("unknown severity \"P9\""), "{reason}");
    assert_eq!(t.total(), 4);
}

#[test]
fn text_report_lists_twenty_rejections_and_counts_the_rest() {
    let t = TestCli::new();
    let mut body = String::from("client,severity,opened\nGood,low,2024-01-01\n");
    for i in 0..25 {
        body.push_str(&format!("Bad {i},nope,2024-01-01\n"));
    }
    let f = t.write("bad.csv", body);
    let out = t.ok(&["import", &f]);
    assert!(out.contains("imported 1 rows"), "{out}");
    assert!(out.contains("rejected 25"), "{out}");
    assert_eq!(out.matches("  rejected line").count(), 20, "{out}");
    assert!(
        out.contains("line 3, column \"severity\": unknown severity \"nope\""),
        "{out}"
    );
    assert!(out.contains("... and 5 more rejected rows"), "{out}");
}

#[test]
fn a_refused_file_changes_nothing_and_fails() {
    let t = TestCli::new();
    let good = t.write("good.csv", EXPORT);
    t.ok(&["import", &good]);
    let before = t.ok(&["imports", "list", "--json"]);
    for (name, content, want) in [
        ("empty.csv", &b""[..], "the file is empty"),
        (
            "image.png",
            &b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00"[..],
            "binary",
        ),
        (
            "other.csv",
            &b"a,b,c\n1,2,3\n"[..],
            "no recognisable columns",
        ),
        (
            "partial.csv",
            &b"client,severity\nAcme,low\n"[..],
            "missing required column(s): opened",
        ),
    ] {
        let f = t.write(name, content);
        let err = t.fails(&["import", &f]);
        assert!(err.contains(want), "{name}: {err}");
    }
    assert_eq!(t.ok(&["imports", "list", "--json"]), before);
    assert_eq!(t.total(), 4);
}

#[test]
fn windows_1252_files_are_read_and_reported() {
    let t = TestCli::new();
    let f = t.write(
        "excel.csv",
        b"Customer;Priority;Created\nCaf\xe9 M\xfcller;P2;05/06/2024\n",
    );
    let report = t.json(&["import", &f, "--json"]);
    assert_eq!(report["encoding"], "windows-1252");
    assert_eq!(report["imported"], 1);
    let text = t.ok(&["import", &f]);
    assert!(text.contains("read as Windows-1252"), "{text}");
    let out = t.path("out.json");
    t.ok(&[
        "render", "--rows", "client", "--cols", "month", "--out", &out,
    ]);
    let map: serde_json::Value = serde_json::from_slice(&read(&out)).expect("json");
    assert_eq!(map["rows"], json!(["Café Müller"]));
    assert_eq!(map["cols"], json!(["2024-05"]));
}

#[test]
fn the_originals_contact_list_imports_with_derived_fields() {
    let t = TestCli::new();
    let f = t.write(
        "contacts.tsv",
        "name\tphone\temail\tnumberrange\n\
         Drake Austin\t(721) 652-5425\tpellentesque@hotmail.edu\t5\n\
         Quynn Velez\t(889) 346-2128\tjusto@yahoo.org\t9\n\
         Tyrone Andrews\t1-427-331-7633\tmassa@google.ca\t7\n\
         Lila Gibson\t1-178-483-7360\taliquam@protonmail.net\t3\n",
    );
    let report = t.json(&["import", &f, "--json"]);
    assert_eq!(
        (report["imported"].as_u64(), report["format"].as_str()),
        (Some(4), Some("contact-list"))
    );
    let stats = t.json(&["stats", "--json"]);
    assert_eq!(
        stats,
        json!({"total_escalations": 4, "high_severity_count": 2, "unique_clients": 4, "high_severity_rate": 50.0})
    );
    let out = t.path("regional.json");
    t.ok(&["render", "--view", "regional", "--out", &out]);
    let map: serde_json::Value = serde_json::from_slice(&read(&out)).expect("json");
    assert_eq!(
        map["rows"],
        json!(["Asia", "Europe", "North America", "South America"])
    );
    assert_eq!(map["cols"], json!(["Low", "Medium", "High"]));
    assert_eq!(
        map["values"],
        json!([[0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0]])
    );
    // Products from the first letter: D(rake) Analytics, Q Reporting, T Reporting, L Dashboard.
    let out = t.path("clients.json");
    t.ok(&[
        "render", "--rows", "product", "--cols", "severity", "--out", &out,
    ]);
    let map: serde_json::Value = serde_json::from_slice(&read(&out)).expect("json");
    assert_eq!(map["rows"], json!(["Reporting", "Analytics", "Dashboard"]));
    // Re-importing the same file the same day reproduces the same dates.
    let dates = |t: &TestCli| {
        let out = t.path("d.csv");
        t.ok(&["export", "--out", &out]);
        let text = String::from_utf8(read(&out)).expect("utf-8");
        text.lines()
            .skip(1)
            .map(|l| l.split(',').nth(5).unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    let first = dates(&t);
    let t2 = TestCli::new();
    t2.ok(&["import", &t2.write("contacts.tsv", read(&f))]);
    assert_eq!(dates(&t2), first);
}

#[test]
fn stats_filters_are_repeatable_and_combine() {
    let t = TestCli::new();
    t.ok(&["import", &t.write("e.csv", EXPORT)]);
    let s = |args: &[&str]| {
        let mut all = vec!["stats", "--json"];
        all.extend_from_slice(args);
        t.json(&all)["total_escalations"].as_u64().expect("count")
    };
    assert_eq!(s(&[]), 4);
    assert_eq!(s(&["--client", "Acme", "--client", "Globex"]), 3);
    assert_eq!(s(&["--product", "API"]), 2);
    assert_eq!(s(&["--region", "Europe", "--severity", "P1"]), 1);
    assert_eq!(s(&["--severity", "high", "--severity", "critical"]), 2);
    assert_eq!(s(&["--from", "2024-02-01", "--to", "2024-02-10"]), 2);
    let err = t.fails(&["stats", "--from", "2024-03-01", "--to", "2024-01-01"]);
    assert!(
        err.contains("`from` (2024-03-01) is after `to` (2024-01-01)"),
        "{err}"
    );
    let err = t.fails(&["stats", "--from", "someday"]);
    assert!(err.contains("invalid date"), "{err}");
    let err = t.fails(&["stats", "--severity", "P7"]);
    assert!(err.contains("unknown severity"), "{err}");
    let text = t.ok(&["stats"]);
    assert!(
        text.contains("Total escalations") && text.contains("High severity rate"),
        "{text}"
    );
}

#[test]
fn render_writes_every_format() {
    let t = TestCli::new();
    t.ok(&["import", &t.write("e.csv", EXPORT)]);
    let json_out = t.path("h.json");
    t.ok(&[
        "render",
        "--rows",
        "client",
        "--cols",
        "product",
        "--measure",
        "high",
        "--top",
        "1",
        "--out",
        &json_out,
    ]);
    let map: serde_json::Value = serde_json::from_slice(&read(&json_out)).expect("json");
    for key in ["rows", "cols", "values", "measure", "hidden_rows"] {
        assert!(map.get(key).is_some(), "missing {key}");
    }
    assert_eq!(
        (
            map["rows"].clone(),
            map["measure"].clone(),
            map["hidden_rows"].clone()
        ),
        (json!(["Acme"]), json!("high"), json!(2))
    );

    let svg_out = t.path("h.svg");
    t.ok(&[
        "render",
        "--view",
        "client-overview",
        "--out",
        &svg_out,
        "--palette",
        "reds",
        "--title",
        "Q1 <review>",
    ]);
    let svg = String::from_utf8(read(&svg_out)).expect("utf-8");
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let title = doc
        .descendants()
        .find(|n| n.has_tag_name("title"))
        .and_then(|n| n.text());
    assert_eq!(
        title,
        Some("Q1 <review>"),
        "the title is escaped in the markup and intact as text"
    );

    let png_out = t.path("h.png");
    t.ok(&["render", "--view", "product-timeline", "--out", &png_out]);
    let decoder = png::Decoder::new(std::io::Cursor::new(read(&png_out)));
    let info = decoder.read_info().expect("a decodable PNG");
    assert!(info.info().width > 100 && info.info().height > 100);

    let csv_out = t.path("h.csv");
    t.ok(&["render", "--view", "regional", "--out", &csv_out]);
    let csv = String::from_utf8(read(&csv_out)).expect("utf-8");
    assert_eq!(
        csv.lines().next(),
        Some("region \\ severity,Low,Medium,High,Critical")
    );

    let stdout = t.ok(&[
        "render", "--view", "regional", "--out", "-", "--format", "json",
    ]);
    assert!(stdout.contains("\"measure\": \"count\""));
}

#[test]
fn render_refuses_bad_arguments_clearly() {
    let t = TestCli::new();
    let out = t.path("x.gif");
    assert!(
        t.fails(&["render", "--view", "regional", "--out", &out])
            .contains("cannot tell the format")
    );
    assert!(
        t.fails(&[
            "render", "--rows", "day", "--cols", "client", "--out", "x.svg"
        ])
        .contains("unknown dimension \"day\"")
    );
    assert!(
        t.fails(&[
            "render", "--rows", "client", "--cols", "client", "--out", "x.svg"
        ])
        .contains("must be different")
    );
    assert!(
        t.fails(&[
            "render", "--view", "regional", "--rows", "client", "--out", "x.svg"
        ])
        .contains("cannot be used with")
    );
    assert!(t.fails(&["render", "--out", "x.svg"]).contains("required"));
    assert!(
        t.fails(&["render", "--view", "heat", "--out", "x.svg"])
            .contains("unknown view")
    );
    assert!(
        t.fails(&[
            "render",
            "--rows",
            "client",
            "--cols",
            "month",
            "--measure",
            "sum",
            "--out",
            "x.svg"
        ])
        .contains("unknown measure")
    );
}

#[test]
fn export_round_trips_and_neutralises_formulas() {
    let t = TestCli::new();
    let hostile = "id,client,severity,opened,summary,product\n\
        F-1,=HYPERLINK(\"http://evil\"),high,2024-01-01,+cmd|' /C calc'!A0,@SUM(1)\n\
        F-2,Acme,low,2024-01-02,-2+3,API\n\
        F-3,Plain,P2,2024-01-03,\"multi\nline\",API\n";
    t.ok(&["import", &t.write("h.csv", hostile)]);
    let out = t.path("export.csv");
    t.ok(&["export", "--out", &out]);
    let text = String::from_utf8(read(&out)).expect("utf-8");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "id", "client", "product", "region", "severity", "opened", "closed", "status",
            "summary", "email", "phone"
        ]
    );
    for rec in reader.records() {
        for cell in rec.expect("record").iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "formula cell left live: {cell:?}"
            );
        }
    }
    assert!(text.contains("'=HYPERLINK"), "{text}");
    assert!(text.contains("'@SUM(1)"), "{text}");
    // Filters apply, and the export imports back into an identical store.
    let only = t.path("acme.csv");
    t.ok(&["export", "--client", "Acme", "--out", &only]);
    assert_eq!(
        String::from_utf8(read(&only))
            .expect("utf-8")
            .lines()
            .count(),
        2
    );
    let t2 = TestCli::new();
    let report = t2.json(&["import", &t2.write("back.csv", read(&out)), "--json"]);
    assert_eq!(report["imported"], 3);
    assert_eq!(t2.json(&["stats", "--json"]), t.json(&["stats", "--json"]));
}

#[test]
fn the_last_row_with_an_id_wins_across_imports() {
    let t = TestCli::new();
    t.ok(&["import", &t.write("v1.csv", EXPORT)]);
    let update = "Ticket ID,Customer,Priority,Created,Status\nESC-1,Acme,P4,2024-01-15,Closed\nESC-3,Globex,P1,2024-02-10,Open\nESC-3,Globex,P1,2024-02-11,Reopened\n";
    let report = t.json(&["import", &t.write("v2.csv", update), "--json"]);
    assert_eq!(
        (report["imported"].as_u64(), report["replaced"].as_u64()),
        (Some(3), Some(3))
    );
    let stats = t.json(&["stats", "--json"]);
    assert_eq!(stats["total_escalations"], 4, "replaced, not duplicated");
    assert_eq!(
        stats["high_severity_count"], 1,
        "ESC-1 is now Low, ESC-3 Critical"
    );
}

#[test]
fn imports_are_listed_and_deleted_with_their_rows() {
    let t = TestCli::new();
    t.ok(&["import", &t.write("a.csv", EXPORT)]);
    t.ok(&[
        "import",
        &t.write("b.csv", "client,severity,opened\nOther,low,2024-05-05\n"),
    ]);
    let list = t.json(&["imports", "list", "--json"]);
    let ids: Vec<i64> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(list[0]["source"], "b.csv");
    assert_eq!(list[1]["rows_rejected"], 2);
    let text = t.ok(&["imports", "list"]);
    assert!(text.contains("a.csv") && text.contains("b.csv"), "{text}");
    let out = t.ok(&["imports", "delete", &ids[1].to_string()]);
    assert!(out.contains("its 4 escalations"), "{out}");
    assert_eq!(t.total(), 1);
    assert!(
        t.fails(&["imports", "delete", &ids[1].to_string()])
            .contains("there is no import")
    );
}

#[test]
fn demo_data_is_deterministic_and_imports_cleanly() {
    let t = TestCli::new();
    let make = |name: &str, seed: &str| {
        let out = t.path(name);
        t.ok(&[
            "demo-data",
            "--rows",
            "3000",
            "--seed",
            seed,
            "--end",
            "2026-06-30",
            "--out",
            &out,
        ]);
        read(&out)
    };
    let a = make("a.csv", "7");
    assert_eq!(a, make("b.csv", "7"), "same seed, same file");
    assert_ne!(a, make("c.csv", "8"), "another seed, another file");
    let report = t.json(&["import", &t.path("a.csv"), "--json"]);
    assert_eq!(
        (
            report["imported"].as_u64(),
            report["rejected_count"].as_u64()
        ),
        (Some(3000), Some(0))
    );
    let stats = t.json(&["stats", "--json"]);
    assert!(stats["unique_clients"].as_u64().expect("count") > 50);
    let rate = stats["high_severity_rate"].as_f64().expect("rate");
    assert!((15.0..50.0).contains(&rate), "severity mix: {rate}");
    // The billing hotspot: the top client by score, concentrated in Billing.
    let out = t.path("o.json");
    t.ok(&[
        "render",
        "--view",
        "client-overview",
        "--top",
        "1",
        "--out",
        &out,
    ]);
    let map: serde_json::Value = serde_json::from_slice(&read(&out)).expect("json");
    assert_eq!(map["rows"], json!(["Globex Manufacturing"]));
    let billing = map["cols"]
        .as_array()
        .expect("cols")
        .iter()
        .position(|c| c == "Billing")
        .expect("Billing");
    let row = map["values"][0].as_array().expect("row");
    let max = row.iter().filter_map(|v| v.as_u64()).max();
    assert_eq!(
        row[billing].as_u64(),
        max,
        "Billing is the client's hottest product"
    );
    // 26 months of dates (two periods of 13, the dashboard's default range and the one before):
    // 26 or 27 calendar months on the timeline, ending at --end.
    let out = t.path("t.json");
    t.ok(&["render", "--view", "product-timeline", "--out", &out]);
    let map: serde_json::Value = serde_json::from_slice(&read(&out)).expect("json");
    let cols = map["cols"].as_array().expect("cols");
    assert!((26..=27).contains(&cols.len()), "{} months", cols.len());
    assert_eq!(cols.last(), Some(&json!("2026-06")));
}

/// An import killed halfway leaves the store exactly as it was: the transaction never commits.
#[test]
fn an_import_killed_halfway_leaves_the_store_unchanged() {
    let t = TestCli::new();
    t.ok(&["import", &t.write("small.csv", EXPORT)]);
    let before_stats = t.ok(&["stats", "--json"]);
    let before_imports = t.ok(&["imports", "list", "--json"]);
    let big = t.path("big.csv");
    t.ok(&["demo-data", "--rows", "400000", "--out", &big]);

    let mut child = t
        .cmd()
        .args(["import", &big])
        .spawn()
        .expect("spawn import");
    let wal = t.db.with_extension("db-wal");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait until the import is demonstrably writing (the WAL grows past 1 MiB), then kill it.
    loop {
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if size > 1 << 20 {
            break;
        }
        if let Some(status) = child.try_wait().expect("poll") {
            panic!(
                "the import finished ({status}) before it could be killed; make the file bigger"
            );
        }
        assert!(
            Instant::now() < deadline,
            "the import never started writing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "the import was killed, not completed");

    assert_eq!(t.ok(&["stats", "--json"]), before_stats);
    assert_eq!(t.ok(&["imports", "list", "--json"]), before_imports);
    // And the store is healthy: the next import works.
    let report = t.json(&[
        "import",
        &t.write(
            "after.csv",
            "client,severity,opened\nAfter,low,2024-01-01\n",
        ),
        "--json",
    ]);
    assert_eq!(report["imported"], 1);
}

#[test]
fn help_exists_for_every_command() {
    let t = TestCli::new();
    for cmd in [
        "import",
        "stats",
        "render",
        "export",
        "imports",
        "demo-data",
    ] {
        let out = t.ok(&[cmd, "--help"]);
        assert!(out.contains("Usage: escamap"), "{cmd}: {out}");
    }
    let out = t.ok(&["--help"]);
    assert!(out.contains("--db"));
}

fn get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn serve_loads_sample_data_once_and_honours_the_originals_env() {
    let t = TestCli::new();
    let (ours, flask) = (free_port(), free_port());
    let log = t.path("server.log");
    {
        // FLASK_PORT alone is honoured; ESCAMAP_PORT wins when both are set. LOG_FILE gets the log.
        let _s = t.serve(
            &[],
            &[
                ("FLASK_PORT", flask.to_string()),
                ("ESCAMAP_PORT", ours.to_string()),
                ("LOG_FILE", log.clone()),
            ],
            ours,
        );
        let stats = get(ours, "/api/v1/stats");
        assert!(stats.starts_with("HTTP/1.1 200"), "{stats}");
        assert!(
            stats.contains("\"total_escalations\":2000"),
            "sample data on first start: {stats}"
        );
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", flask)).is_err(),
            "ESCAMAP_PORT wins over FLASK_PORT"
        );
    }
    let logged = std::fs::read_to_string(&log).expect("the log file exists");
    assert!(
        logged.contains("loaded sample data") && logged.contains("serving on"),
        "{logged}"
    );
    {
        let _s = t.serve(&[], &[("FLASK_PORT", flask.to_string())], flask);
        let stats = get(flask, "/api/v1/stats");
        assert!(
            stats.contains("\"total_escalations\":2000"),
            "the sample is loaded once, not again: {stats}"
        );
    }
    // --no-sample on a fresh store starts empty; the dashboard shows the empty state.
    let empty = TestCli::new();
    let port = free_port();
    let _s = empty.serve(&["--no-sample", "--port", &port.to_string()], &[], port);
    assert!(get(port, "/api/v1/stats").contains("\"total_escalations\":0"));
    let page = get(port, "/");
    assert!(page.contains("No escalations yet"));
    // The empty state's command names this server's store, so it works as written.
    let command = format!("escamap --db {} import export.csv", empty.db.display());
    assert!(page.contains(&command), "{command} not in the page");
}

/// A script importing with the command line beside a running SQLite server: the dashboard shows
/// the new rows (and a deletion) without a restart.
#[test]
fn the_server_picks_up_imports_made_from_the_command_line() {
    let t = TestCli::new();
    let port = free_port();
    let _s = t.serve(&["--no-sample", "--port", &port.to_string()], &[], port);
    let total = || {
        let body = get(port, "/api/v1/stats");
        let json = body.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        serde_json::from_str::<serde_json::Value>(&json).ok()?["total_escalations"].as_u64()
    };
    let wait_for = |want: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while total() != Some(want) {
            assert!(
                std::time::Instant::now() < deadline,
                "the server still shows {:?}, not {want}",
                total()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    assert_eq!(total(), Some(0));
    let csv = t.write(
        "nightly.csv",
        "Ticket,Customer,Priority,Created\nN-1,Acme,P1,2026-11-01\nN-2,Globex,P3,2026-11-02\n",
    );
    let report = t.json(&["import", "--json", &csv]);
    wait_for(2);
    let id = report["import_id"].as_i64().expect("id").to_string();
    t.ok(&["imports", "delete", &id]);
    wait_for(0);
}

#[test]
fn help_never_shows_the_database_password() {
    let t = TestCli::new();
    for args in [
        &["--help"][..],
        &["serve", "--help"][..],
        &["stats", "--help"][..],
    ] {
        let out = t
            .cmd()
            .env(
                "ESCAMAP_DB",
                "postgres://app:hunter2secret@db.internal/escamap",
            )
            .args(args)
            .output()
            .expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("ESCAMAP_DB"), "{text}");
        assert!(
            !text.contains("hunter2secret"),
            "escamap {args:?} printed the password"
        );
    }
}

/// A newcomer's first commands: a mistyped `--db` directory is an error naming it (and creates
/// nothing), a new store says it is empty, `demo-data` says what it wrote, every help says what
/// the options are.
#[test]
fn a_newcomers_first_commands_say_what_happened() {
    let t = TestCli::new();
    let missing = t.path("no/such/dir/x.db");
    let out = TestCli::on(&missing).run(&["stats"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&t.path("no/such/dir")) && err.contains("does not exist"),
        "{err}"
    );
    assert!(
        !std::path::Path::new(&t.path("no")).exists(),
        "no directory is created"
    );
    assert!(out.stdout.is_empty(), "no four zeros");

    let out = t.run(&["stats"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no escalations yet"), "{err}");
    let stats: serde_json::Value =
        serde_json::from_slice(&t.run(&["stats", "--json"]).stdout).expect("stdout stays JSON");
    assert_eq!(stats["total_escalations"], 0);

    let csv = t.path("demo.csv");
    let out = t.run(&["demo-data", "--rows", "50", "--out", &csv]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wrote 50 escalations") && err.contains(&csv),
        "{err}"
    );
    t.ok(&["import", &csv]);
    let out = t.run(&["stats"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("no escalations"));

    let help = t.ok(&["render", "--help"]);
    assert!(
        help.contains("product-timeline") && help.contains("client-overview"),
        "{help}"
    );
    let help = t.ok(&["stats", "--help"]);
    assert!(help.contains("--json") && help.contains("Print the four numbers as JSON"));
}

#[test]
fn logs_written_to_a_file_or_a_pipe_carry_no_colour_codes() {
    let cli = TestCli::new();
    let file = cli.write("a.csv", "client,severity,opened\nAcme,high,2026-01-05\n");
    let log = cli.path("escamap.log");
    let out = cli
        .cmd()
        .args(["import", &file])
        .env("LOG_LEVEL", "debug")
        .env("ESCAMAP_LOG_FILE", &log)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let written = std::fs::read_to_string(&log).expect("the log file");
    assert!(!written.is_empty(), "something was logged");
    assert!(!written.contains('\u{1b}'), "{written}");
    // Standard error is a pipe here: plain text too.
    let out = cli
        .cmd()
        .args(["import", &file])
        .env("LOG_LEVEL", "debug")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DEBUG") || stderr.contains("INFO"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

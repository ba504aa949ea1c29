//! Hostile input: whatever arrives, nothing crashes, nothing executes, nothing touches the file
//! system, and every CSV download is safe to open in a spreadsheet.

use serde_json::Value;

use crate::helpers::{TestApp, TestCli, attrs, texts};

/// Rows whose every text field carries markup or a formula.
fn hostile_csv() -> String {
    let mut s =
        String::from("id,client,product,region,severity,opened,status,summary,email,phone\n");
    let evil = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(2)>",
        "=HYPERLINK(\"http://evil.example\",\"click\")",
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "</svg><script>alert(3)</script>",
        "{{7*7}} ${7*7} <%= 7*7 %>",
    ];
    for (i, e) in evil.iter().enumerate() {
        let q = e.replace('"', "\"\"");
        s.push_str(&format!(
            "\"H-{i}\",\"{q}\",\"{q}\",\"{q}\",high,2024-02-0{},\"{q}\",\"{q}\",\"{q}\",\"{q}\"\n",
            i % 9 + 1
        ));
    }
    s
}

fn no_formula_cells(csv: &str, what: &str) {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv.as_bytes());
    for rec in r.records() {
        for cell in rec.expect("record").iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "{what}: live formula {cell:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn markup_is_escaped_on_every_page_and_in_every_svg() {
    let t = TestApp::with_csv(&hostile_csv()).await;
    let pages = [
        "/",
        "/?tab=regional",
        "/?tab=client-overview",
        "/?tab=custom&rows=region&cols=product",
        "/data",
        "/data?sort=status",
        "/import",
        "/import/1/delete",
    ];
    for path in pages {
        let (status, doc) = t.html(path).await;
        assert_eq!(status, 200, "{path}");
        // Nothing injected: the only scripts are our own file, no img or event handler appeared.
        assert_eq!(
            attrs(&doc, "script", "src").len(),
            1,
            "{path}: a script was injected"
        );
        assert!(texts(&doc, "script").iter().all(String::is_empty), "{path}");
        assert!(
            attrs(&doc, "img", "src").is_empty(),
            "{path}: an img was injected"
        );
        assert!(attrs(&doc, "[onerror]", "onerror").is_empty(), "{path}");
    }
    let (_, doc) = t.html("/data?per_page=100").await;
    assert!(
        texts(&doc, "tbody td")
            .iter()
            .any(|c| c == "<script>alert(1)</script>"),
        "shown as text"
    );
    for q in [
        "view=client-overview",
        "view=regional",
        "rows=product&cols=region",
        "rows=client&cols=month",
    ] {
        let svg = t
            .get(&format!("/api/v1/heatmap.svg?{q}"))
            .await
            .text()
            .await
            .expect("svg");
        let doc = roxmltree::Document::parse(&svg).expect("well-formed");
        assert!(
            doc.descendants()
                .all(|n| !n.has_tag_name("script") && !n.has_tag_name("img")),
            "{q}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_csv_download_neutralises_formulas() {
    let t = TestApp::with_csv(&hostile_csv()).await;
    for path in [
        "/data.csv",
        "/api/v1/heatmap.csv?rows=client&cols=product",
        "/api/v1/heatmap.csv?rows=product&cols=region",
    ] {
        let resp = t.get(path).await;
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        no_formula_cells(&resp.text().await.expect("csv"), path);
    }
    let cli = TestCli::new();
    cli.ok(&["import", &cli.write("h.csv", hostile_csv())]);
    let out = cli.path("export.csv");
    cli.ok(&["export", "--out", &out]);
    no_formula_cells(
        &String::from_utf8(std::fs::read(&out).expect("read")).expect("utf-8"),
        "escamap export",
    );
    let out = cli.path("grid.csv");
    cli.ok(&[
        "render", "--rows", "client", "--cols", "region", "--out", &out,
    ]);
    no_formula_cells(
        &String::from_utf8(std::fs::read(&out).expect("read")).expect("utf-8"),
        "escamap render csv",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_files_never_crash_or_half_import() {
    let t = TestApp::spawn().await;
    let ten_mb_field = format!(
        "client,severity,opened,summary\nAcme,low,2024-01-01,\"{}\"\nOk,low,2024-01-01,fine\n",
        "x".repeat(10 << 20)
    );
    let no_line_end = format!(
        "client,severity,opened\nGood,low,2024-01-01\n\"Unterminated,low,2024-01-01\n{}",
        "y".repeat(200_000)
    );
    let deep_quotes = format!(
        "client,severity,opened\n\"{}\",low,2024-01-01\n",
        "\"\"".repeat(50_000)
    );
    let mut nul = b"client,severity,opened\nA".to_vec();
    nul.extend_from_slice(&[0, 0, 0]);
    let cases: Vec<(&str, Vec<u8>, u16, Option<u64>)> = vec![
        (
            "binary.bin",
            (0u8..=255).cycle().take(50_000).collect(),
            422,
            None,
        ),
        ("nul.csv", nul, 422, None),
        ("huge-field.csv", ten_mb_field.into_bytes(), 201, Some(1)),
        ("no-line-end.csv", no_line_end.into_bytes(), 201, Some(1)),
        // Its one row is rejected: an import that rejects every row is refused whole (422, with
        // the report).
        ("deep-quotes.csv", deep_quotes.into_bytes(), 422, Some(0)),
        (
            "latin1.csv",
            b"client;severity;opened\nM\xfcller AG;high;2024-01-01\n".to_vec(),
            201,
            Some(1),
        ),
        (
            "../../etc/passwd",
            b"client,severity,opened\nPath,low,2024-01-01\n".to_vec(),
            201,
            Some(1),
        ),
    ];
    let mut total = 0;
    for (name, bytes, status, imported) in cases {
        let resp = t.upload("/api/v1/imports", name, &bytes).await;
        assert_eq!(resp.status().as_u16(), status, "{name}");
        let body: Value = resp.json().await.expect("json");
        if let Some(n) = imported {
            assert_eq!(body["imported"], n, "{name}: {body}");
            total += n;
        } else {
            assert!(body["error"]["message"].is_string(), "{name}: {body}");
        }
        let (_, stats) = t.json("/api/v1/stats").await;
        assert_eq!(
            stats["total_escalations"], total,
            "{name}: nothing half-imported"
        );
    }
    let (_, imports) = t.json("/api/v1/imports").await;
    assert_eq!(imports[0]["source"], "passwd", "only the base name is kept");
    assert!(!std::path::Path::new("/etc/passwd.csv").exists());
}

//! A real Chromium, driven through ChromeDriver: tabs, hover, drill-down click, a filter, an
//! upload, and no console error or CSP violation anywhere.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them this test prints why it skips,
//! unless `ESCAMAP_CI=1` (set by `.ci/run`), where it fails instead.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::{TestApp, fixture_csv};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// `true` when the browser tools are here; otherwise says why (and fails under CI).
pub fn browser_available(test: &str) -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "{test}: needs {} (Debian packages chromium and chromium-driver)",
        missing.join(" and ")
    );
    if std::env::var("ESCAMAP_CI").is_ok_and(|v| v == "1") {
        panic!("{why}; required because ESCAMAP_CI=1");
    }
    escamap::store::testing::skip_notice(&why);
    false
}

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    crate::helpers::crypto();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    // Owned by the guard at once, so every path (a panic included) kills and reaps it.
    let driver = Driver {
        child: Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
        port,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reqwest::get(format!("http://127.0.0.1:{port}/status"))
            .await
            .is_ok()
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not answer within 20 s");
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,1100"]
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

/// Console entries at SEVERE level (errors, and CSP violations, which Chromium logs as errors).
async fn console_errors(driver: &Driver, c: &Client) -> Vec<String> {
    let sid = c
        .session_id()
        .await
        .expect("session")
        .expect("a session id");
    let resp: Value = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/session/{sid}/se/log",
            driver.port
        ))
        .json(&json!({"type": "browser"}))
        .send()
        .await
        .expect("log request")
        .json()
        .await
        .expect("log JSON");
    resp["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["level"] == "SEVERE"
                || e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Content Security Policy"))
        })
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn wait_url(c: &Client, part: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = c.current_url().await.expect("url").to_string();
        if url.contains(part) {
            return url;
        }
        assert!(
            Instant::now() < deadline,
            "never reached a URL containing {part:?}; at {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_goes_from_hotspot_to_tickets_in_a_real_browser() {
    if !browser_available("a_manager_goes_from_hotspot_to_tickets_in_a_real_browser") {
        return;
    }
    let app = TestApp::with_csv(&fixture_csv()).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;

    c.goto(&app.url("/")).await.expect("dashboard");
    assert_eq!(c.title().await.expect("title"), "Dashboard · EscaMap");

    // Switch tabs by clicking.
    c.find(Locator::LinkText("Regional Analysis"))
        .await
        .expect("tab")
        .click()
        .await
        .expect("click tab");
    wait_url(&c, "tab=regional").await;
    let heading = c
        .find(Locator::Id("hm-heading"))
        .await
        .expect("heading")
        .text()
        .await
        .expect("text");
    assert_eq!(heading, "Regional Analysis");

    // Hover a cell: the tooltip shows the label pair, the value, the count and the share.
    let cell = c
        .find(Locator::Css(".hm-cell[data-row='0'][data-col='0'] rect"))
        .await
        .expect("a cell");
    let mouse = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
        element: cell.clone(),
        duration: Some(Duration::from_millis(50)),
        x: 0.0,
        y: 0.0,
    });
    c.perform_actions(mouse).await.expect("hover");
    let tip = c.find(Locator::Id("tooltip")).await.expect("tooltip");
    c.wait()
        .for_element(Locator::Css("#tooltip:not([hidden])"))
        .await
        .expect("tooltip visible");
    let text = tip.text().await.expect("tooltip text");
    assert!(
        text.contains(" × ") && text.contains("escalations") && text.contains("% of the row"),
        "{text}"
    );

    // Click it: the escalations behind that cell.
    let group = c
        .find(Locator::Css(".hm-cell[data-row='0'][data-col='0']"))
        .await
        .expect("cell group");
    let count = group
        .attr("data-count")
        .await
        .expect("attr")
        .expect("a count");
    let link = c
        .find(Locator::Css(".heatmap a.hm-link"))
        .await
        .expect("the first cell link");
    link.click().await.expect("click cell");
    wait_url(&c, "/data?").await;
    let heading = c
        .find(Locator::Id("data-heading"))
        .await
        .expect("data heading")
        .text()
        .await
        .expect("text");
    assert!(
        heading.starts_with(&format!("{count} escalations")),
        "{heading} (cell count {count})"
    );
    let rows = c.find_all(Locator::Css("tbody tr")).await.expect("rows");
    let expected: usize = count.parse().expect("a number");
    assert_eq!(
        rows.len(),
        expected.min(50),
        "one table row per escalation, 50 per page"
    );

    // Apply a filter: choosing a product submits the form by itself.
    c.goto(&app.url("/")).await.expect("dashboard");
    let select = c
        .find(Locator::Id("f-product"))
        .await
        .expect("product filter");
    select
        .select_by_value("Billing")
        .await
        .expect("choose Billing");
    wait_url(&c, "product=Billing").await;
    let total = c
        .find(Locator::Css(".card-value"))
        .await
        .expect("card")
        .text()
        .await
        .expect("text");
    let (_, api) = app.json("/api/v1/stats?product=Billing").await;
    assert_eq!(total, api["total_escalations"].to_string());

    // Upload a file and see the report.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("browser-upload.csv");
    std::fs::write(
        &file,
        "client,severity,opened\nBrowser Co,P1,2024-03-03\nNo Date Co,P2,\n",
    )
    .expect("write");
    c.goto(&app.url("/import")).await.expect("import page");
    c.find(Locator::Id("file"))
        .await
        .expect("file input")
        .send_keys(&file.to_string_lossy())
        .await
        .expect("choose file");
    c.find(Locator::Css("form.upload button"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("submit");
    let imported = c
        .wait()
        .for_element(Locator::Id("r-imported"))
        .await
        .expect("report")
        .text()
        .await
        .expect("text");
    assert_eq!(imported, "1");
    let rejected = c
        .find(Locator::Id("r-rejected"))
        .await
        .expect("rejected")
        .text()
        .await
        .expect("text");
    assert_eq!(rejected, "1");

    let errors = console_errors(&driver, &c).await;
    assert!(
        errors.is_empty(),
        "console errors or CSP violations: {errors:#?}"
    );
    c.close().await.expect("close");
}

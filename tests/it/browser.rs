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
    hover(&c, &cell).await;
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
        .find(Locator::Css(".hm-wide .heatmap a.hm-link"))
        .await
        .expect("the first cell link");
    link.click().await.expect("click cell");
    expect_data_page(&c, &count).await;

    // Apply a filter: choosing a product submits the form by itself.
    c.goto(&app.url("/")).await.expect("dashboard");
    // Choose two products in the product group, then Apply.
    c.find(Locator::Css("#f-product summary"))
        .await
        .expect("product filter")
        .click()
        .await
        .expect("open it");
    for p in ["Billing", "API"] {
        c.find(Locator::Css(&format!("#f-product input[value='{p}']")))
            .await
            .expect("a product box")
            .click()
            .await
            .expect("tick it");
    }
    c.find(Locator::Css("form.filters button[type=submit]"))
        .await
        .expect("Apply")
        .click()
        .await
        .expect("apply");
    wait_url(&c, "product=Billing").await;
    let total = c
        .find(Locator::Css(".card-value"))
        .await
        .expect("card")
        .text()
        .await
        .expect("text");
    let url = c.current_url().await.expect("url").to_string();
    let query = url.split_once('?').map_or("", |(_, q)| q);
    assert!(query.contains("product=API"), "both products: {url}");
    let (_, api) = app.json(&format!("/api/v1/stats?{query}")).await;
    assert_eq!(total, api["total_escalations"].to_string());

    // Upload a file and see the report.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("browser-upload.csv");
    std::fs::write(
        &file,
        "client,severity,opened\nBrowser Co,P1,2024-03-03\nNo Date Co,P2,\n",
    )
    .expect("write");
    upload_in(&c, &app, &file).await;
    assert_eq!(text_of(&c, "r-imported").await, "1");
    assert_eq!(text_of(&c, "r-rejected").await, "1");

    close_clean(&driver, c).await;
}

/// Moves the mouse over `el`, scrolled to the middle of the window first (a scroll hides the
/// tooltip, as it should: it would point at nothing).
async fn hover(c: &Client, el: &fantoccini::elements::Element) {
    c.execute(
        "arguments[0].scrollIntoView({block: 'center'});",
        vec![serde_json::to_value(el).expect("element")],
    )
    .await
    .expect("scroll into view");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mouse = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
        element: el.clone(),
        duration: Some(Duration::from_millis(50)),
        x: 0.0,
        y: 0.0,
    });
    c.perform_actions(mouse).await.expect("hover");
}

/// Ends a browser test: no console error or CSP violation anywhere it went, then closes.
async fn close_clean(driver: &Driver, c: Client) {
    let errors = console_errors(driver, &c).await;
    assert!(
        errors.is_empty(),
        "console errors or CSP violations: {errors:#?}"
    );
    c.close().await.expect("close");
}

/// Waits for the escalations page a link led to, and checks it lists `count` escalations: the
/// heading says so, and the table holds one row each (50 a page).
async fn expect_data_page(c: &Client, count: &str) {
    wait_url(c, "/data?").await;
    let heading = c
        .find(Locator::Id("data-heading"))
        .await
        .expect("data heading")
        .text()
        .await
        .expect("text");
    assert!(
        heading.starts_with(&format!("{count} escalations")),
        "{heading} (the link counted {count})"
    );
    let rows = c.find_all(Locator::Css("tbody tr")).await.expect("rows");
    let expected: usize = count.parse().expect("a number");
    assert_eq!(
        rows.len(),
        expected.min(50),
        "one table row per escalation, 50 per page"
    );
}

/// Sets the `<select>` with this id to `value`.
async fn choose(c: &Client, id: &str, value: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("#{id} = {value}: {e}"));
}

async fn text_of(c: &Client, id: &str) -> String {
    c.wait()
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .text()
        .await
        .expect("text")
}

async fn upload_in(c: &Client, app: &TestApp, file: &std::path::Path) {
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
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_with_unknown_columns_is_mapped_previewed_and_imported_in_a_real_browser() {
    if !browser_available(
        "a_file_with_unknown_columns_is_mapped_previewed_and_imported_in_a_real_browser",
    ) {
        return;
    }
    let app = TestApp::spawn().await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    c.set_window_size(1280, 2300).await.expect("window size");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("crm-export.csv");
    std::fs::write(
        &file,
        "Kunde;Eröffnet;Stufe;Ort;Thema\n\
         Globex;23.04.2026;Hoch;Wien;Login schlägt fehl\n\
         Initech;03.05.2026;Planung;Graz;Idee\n\
         Hooli;04.05.2026;Weiss nicht;Linz;?\n\
         Acme;05.05.2026;Hoch;Wien;Export hängt\n\
         Umbrella;13.05.2026;Mittel;Wien;Rechnung\n",
    )
    .expect("write");

    // Upload: not recognised, so the mapping step, and nothing stored.
    upload_in(&c, &app, &file).await;
    wait_url(&c, "/import/mapping/").await;
    assert!(
        text_of(&c, "m-why")
            .await
            .contains("could not tell which column")
    );
    assert!(app.state.app.imports().expect("imports").is_empty());

    // Pick the columns, preview: the severity words appear.
    for (field, column) in [
        ("col-client", "Kunde"),
        ("col-opened", "Eröffnet"),
        ("col-severity", "Stufe"),
        ("col-region", "Ort"),
        ("col-summary", "Thema"),
    ] {
        choose(&c, field, column).await;
    }
    c.find(Locator::Id("m-preview"))
        .await
        .expect("preview button")
        .click()
        .await
        .expect("preview");
    c.wait()
        .for_element(Locator::Css("select.sev-level"))
        .await
        .expect("severity choices");
    assert_eq!(text_of(&c, "m-would-import").await, "0");

    // A level for each word (one rejected), preview again: the result.
    let levels = [
        ("Hoch", "high"),
        ("Planung", "low"),
        ("Mittel", "medium"),
        ("Weiss nicht", "reject"),
    ];
    let selects = c
        .find_all(Locator::Css("select.sev-level"))
        .await
        .expect("selects");
    assert_eq!(selects.len(), levels.len());
    for s in selects {
        let value = s.attr("data-value").await.expect("attr").expect("a value");
        let level = levels
            .iter()
            .find(|(w, _)| *w == value)
            .unwrap_or_else(|| panic!("unexpected value {value:?}"))
            .1;
        s.select_by_value(level).await.expect("choose a level");
    }
    c.find(Locator::Id("m-preview"))
        .await
        .expect("preview button")
        .click()
        .await
        .expect("preview");
    c.wait()
        .for_element(Locator::Css(
            "select.sev-level option[value=high][selected]",
        ))
        .await
        .expect("the choices kept");
    assert_eq!(text_of(&c, "m-would-import").await, "4");
    assert_eq!(text_of(&c, "m-would-reject").await, "1");
    let first = c
        .find(Locator::Css("table.result tbody tr td:nth-child(2)"))
        .await
        .expect("a result row")
        .text()
        .await
        .expect("text");
    assert_eq!(first, "Globex");
    assert!(
        app.state.app.imports().expect("imports").is_empty(),
        "nothing stored yet"
    );

    // The README's screenshot of this step, when asked for.
    if let Ok(dir) = std::env::var("ESCAMAP_SCREENSHOTS") {
        let png = c.screenshot().await.expect("screenshot");
        std::fs::write(std::path::Path::new(&dir).join("mapping.png"), png).expect("save");
    }

    // Name the profile and import.
    let name = c
        .find(Locator::Id("m-profile"))
        .await
        .expect("profile name");
    name.clear().await.expect("clear");
    name.send_keys("German CRM").await.expect("type");
    c.find(Locator::Id("m-import"))
        .await
        .expect("import button")
        .click()
        .await
        .expect("import");
    assert_eq!(text_of(&c, "r-imported").await, "4");
    assert!(text_of(&c, "r-profile").await.contains("German CRM"));
    assert_eq!(app.state.app.imports().expect("imports").len(), 1);

    // The same header again: read with the profile, no mapping step.
    let again = dir.path().join("crm-export-december.csv");
    std::fs::write(
        &again,
        "Kunde;Eröffnet;Stufe;Ort;Thema\nStark;01.12.2026;Mittel;Graz;Neu\n",
    )
    .expect("write");
    upload_in(&c, &app, &again).await;
    assert_eq!(text_of(&c, "r-imported").await, "1");
    assert!(text_of(&c, "r-profile").await.contains("German CRM"));
    let names = c
        .find_all(Locator::Css("td.profile-name"))
        .await
        .expect("profiles");
    assert_eq!(names.len(), 1);

    close_clean(&driver, c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_switches_the_colour_mode_and_the_comparison_and_opens_resolution() {
    if !browser_available(
        "a_manager_switches_the_colour_mode_and_the_comparison_and_opens_resolution",
    ) {
        return;
    }
    let app = TestApp::with_csv(&fixture_csv()).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;

    // Colour by share of row: the cells show percentages.
    c.goto(&app.url("/?tab=regional")).await.expect("dashboard");
    choose(&c, "hm-colour", "row").await;
    wait_url(&c, "normalize=row").await;
    let values: Vec<String> = {
        let mut v = Vec::new();
        for cell in c.find_all(Locator::Css(".hm-cell")).await.expect("cells") {
            v.push(
                cell.attr("data-value")
                    .await
                    .expect("attr")
                    .unwrap_or_default(),
            );
        }
        v
    };
    assert!(values.iter().any(|v| v.ends_with('%')), "{values:?}");

    // With a date range, compare against the previous period: the change, in the tooltip too.
    c.goto(&app.url("/?tab=client-overview&from=2024-02-01&to=2024-03-31"))
        .await
        .expect("dashboard");
    choose(&c, "hm-compare", "previous").await;
    wait_url(&c, "compare=previous").await;
    let legend = c
        .find(Locator::Css(".hm-legend text"))
        .await
        .expect("legend")
        .text()
        .await
        .expect("text");
    assert_eq!(legend, "Change from the previous period");
    let cell = c
        .find(Locator::Css(".hm-cell[data-row='0'][data-col='0'] rect"))
        .await
        .expect("a cell");
    hover(&c, &cell).await;
    c.wait()
        .for_element(Locator::Css("#tooltip:not([hidden])"))
        .await
        .expect("tooltip visible");
    let tip = text_of(&c, "tooltip").await;
    assert!(tip.contains(" now, ") && tip.contains("change"), "{tip}");

    // The Resolution tab: the backlog chart and mean days to resolve by product and month.
    c.find(Locator::LinkText("Resolution"))
        .await
        .expect("tab")
        .click()
        .await
        .expect("click tab");
    wait_url(&c, "tab=resolution").await;
    let slots = c
        .find_all(Locator::Css("#backlog-chart .bl-slot"))
        .await
        .expect("backlog periods");
    assert_eq!(
        slots.len(),
        2,
        "the date range (February and March) chooses the periods shown"
    );
    assert_eq!(
        text_of(&c, "hm-heading").await,
        "Mean days to resolve by Product and Month"
    );

    close_clean(&driver, c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_follows_a_finding_to_its_tickets_and_opens_an_account_in_a_real_browser() {
    if !browser_available(
        "a_manager_follows_a_finding_to_its_tickets_and_opens_an_account_in_a_real_browser",
    ) {
        return;
    }
    let app = TestApp::with_csv(&crate::insights::world()).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;

    c.goto(&app.url("/")).await.expect("dashboard");
    let card = c
        .find(Locator::Css(".finding a"))
        .await
        .expect("a Needs attention card");
    let numbers = c
        .find(Locator::Css(".finding .finding-numbers"))
        .await
        .expect("its numbers")
        .text()
        .await
        .expect("text");
    let observed = numbers.split(' ').next().unwrap_or("").to_owned();
    let title = c
        .find(Locator::Css(".finding .finding-title"))
        .await
        .expect("its title")
        .text()
        .await
        .expect("text");
    let (_, api) = app.json("/api/v1/insights?limit=1").await;
    assert_eq!(
        title,
        api["findings"][0]["summary"]
            .as_str()
            .and_then(|s| s.split(':').next())
            .unwrap_or(""),
        "the most urgent first"
    );
    card.click().await.expect("click the card");
    expect_data_page(&c, &observed).await;

    // The accounts page: the riskiest first, a row opens the dashboard on that client.
    c.find(Locator::LinkText("Accounts at risk"))
        .await
        .expect("nav link")
        .click()
        .await
        .expect("click");
    wait_url(&c, "/accounts").await;
    let first = c
        .find(Locator::Css("table.accounts tbody th a"))
        .await
        .expect("an account");
    let client = first.text().await.expect("text");
    first.click().await.expect("open the account");
    wait_url(&c, "tab=client-overview").await;
    let chips = c
        .find_all(Locator::Css(".hm-wide .heatmap .hm-rows text"))
        .await
        .expect("rows");
    let mut labels = Vec::new();
    for r in chips {
        labels.push(r.text().await.expect("text"));
    }
    assert_eq!(labels.len(), 1, "one row: {labels:?}");
    assert_eq!(labels[0], client, "the dashboard filtered to {client}");
    // Screenshot for the README when asked (ESCAMAP_SCREENSHOTS=docs).
    if let Ok(dir) = std::env::var("ESCAMAP_SCREENSHOTS") {
        c.goto(&app.url("/")).await.expect("dashboard");
        let png = c.screenshot().await.expect("screenshot");
        std::fs::write(format!("{dir}/insights.png"), png).expect("write screenshot");
    }
    close_clean(&driver, c).await;
}

/// axe-core's script (`ESCAMAP_AXE_JS`, fetched from the npm registry by `.ci/run`): injected into
/// the test browser only, never served by EscaMap. Without it the accessibility run says why it
/// skips, unless `ESCAMAP_CI=1`.
fn axe_source(test: &str) -> Option<String> {
    let path = std::env::var("ESCAMAP_AXE_JS").unwrap_or_default();
    match std::fs::read_to_string(&path) {
        Ok(s) if !path.is_empty() => Some(s),
        _ => {
            let why = format!(
                "{test}: needs axe-core (ESCAMAP_AXE_JS=path/to/axe.min.js; .ci/run fetches it with npm pack axe-core)"
            );
            if std::env::var("ESCAMAP_CI").is_ok_and(|v| v == "1") {
                panic!("{why}; required because ESCAMAP_CI=1");
            }
            escamap::store::testing::skip_notice(&why);
            None
        }
    }
}

/// Runs axe on the page in the window: (violations of serious or critical impact, as
/// "rule: target" lines; violations of any impact; rules passed).
async fn axe_run(c: &Client, axe: &str) -> (Vec<String>, usize, usize) {
    c.execute(axe, vec![]).await.expect("axe loads");
    let result = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']})
                .then(r => done({violations: r.violations.map(v => ({id: v.id, impact: v.impact,
                    targets: v.nodes.map(n => n.target.join(' ')).slice(0, 3)})),
                    passes: r.passes.length}))
                .catch(e => done({error: String(e)}));",
            vec![],
        )
        .await
        .expect("axe runs");
    assert!(result.get("error").is_none(), "axe: {result}");
    let violations = result["violations"].as_array().cloned().unwrap_or_default();
    let serious = violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| format!("{} ({}): {}", v["id"], v["impact"], v["targets"]))
        .collect();
    (
        serious,
        violations.len(),
        result["passes"].as_u64().unwrap_or(0) as usize,
    )
}

/// Nothing wider than the window: the page never scrolls sideways (a heatmap scrolls inside its
/// panel, if at all).
async fn page_overflow(c: &Client) -> Option<String> {
    let v = c
        .execute(
            "const w = document.documentElement.clientWidth;
             if (document.documentElement.scrollWidth <= w) return null;
             const wide = [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.heatmap-wrap, .table-wrap, .chart-wrap, .sr-only'))
                .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
             return 'page ' + document.documentElement.scrollWidth + ' px in ' + w + ': ' + wide.join(', ');",
            vec![],
        )
        .await
        .expect("measure");
    v.as_str().map(str::to_owned)
}

/// The heatmap shown: its right edge and its legend inside the window, or inside a panel that
/// scrolls.
async fn heatmap_fits(c: &Client) -> Result<(), String> {
    let v = c
        .execute(
            "const wraps = [...document.querySelectorAll('.heatmap-wrap')].filter(w => w.offsetParent !== null);
             if (wraps.length !== 1) return 'visible heatmaps: ' + wraps.length;
             const wrap = wraps[0], svg = wrap.querySelector('svg'), legend = svg.querySelector('.hm-legend');
             const w = document.documentElement.clientWidth;
             const scrolls = wrap.scrollWidth > wrap.clientWidth && getComputedStyle(wrap).overflowX === 'auto';
             const right = svg.getBoundingClientRect().right, lr = legend ? legend.getBoundingClientRect().right : 0;
             if (scrolls || (right <= w && lr <= w)) return null;
             return 'heatmap right ' + right + ', legend right ' + lr + ', window ' + w;",
            vec![],
        )
        .await
        .expect("measure");
    match v.as_str() {
        None => Ok(()),
        Some(e) => Err(e.to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_and_tab_passes_axe_at_desktop_and_phone_widths() {
    let test = "every_page_and_tab_passes_axe_at_desktop_and_phone_widths";
    if !browser_available(test) {
        return;
    }
    let Some(axe) = axe_source(test) else {
        return;
    };
    let app = TestApp::with_csv(&crate::insights::world()).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    let mut pages: Vec<String> = DASHBOARD_TABS
        .iter()
        .map(|t| format!("/?tab={t}"))
        .collect();
    pages.extend(
        [
            "/?tab=regional&compare=previous&from=2026-01-01&to=2026-03-31",
            "/data",
            "/data?product=nothing-like-it",
            "/accounts",
            "/import",
            "/views",
            "/subscriptions",
        ]
        .map(str::to_owned),
    );
    app.state
        .app
        .save_view(
            "Globex",
            "tab=client-overview&client=Globex",
            true,
            escamap::app::Viewer::Anyone,
        )
        .expect("a view, for the navigation and /views");
    let (mut checked, mut minor, mut passes) = (0, 0, 0);
    let mut serious = Vec::new();
    for (w, h) in [(1440u32, 900u32), (375, 812)] {
        c.set_window_size(w, h).await.expect("window size");
        for page in &pages {
            c.goto(&app.url(page)).await.expect("page");
            let (bad, all, passed) = axe_run(&c, &axe).await;
            serious.extend(bad.into_iter().map(|b| format!("{page} at {w} px: {b}")));
            minor += all;
            passes += passed;
            checked += 1;
            if let Some(o) = page_overflow(&c).await {
                serious.push(format!("{page} at {w} px overflows: {o}"));
            }
        }
    }
    println!(
        "axe-core: {checked} page views (every page and tab at 1440 and 375 px), {minor} violations of any impact, {} serious or critical; {passes} rule checks passed",
        serious.len()
    );
    assert!(serious.is_empty(), "{serious:#?}");
    close_clean(&driver, c).await;
}

/// The dashboard's tabs, as `tab=` takes them.
const DASHBOARD_TABS: [&str; 5] = [
    "product-timeline",
    "regional",
    "client-overview",
    "resolution",
    "custom",
];

#[tokio::test(flavor = "multi_thread")]
async fn by_keyboard_alone_every_control_and_cell_is_reached_in_order_with_a_visible_focus() {
    let test = "by_keyboard_alone_every_control_and_cell_is_reached_in_order_with_a_visible_focus";
    if !browser_available(test) {
        return;
    }
    let app = TestApp::with_csv(&crate::insights::world()).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    c.set_window_size(1440, 1000).await.expect("window size");
    c.goto(&app.url("/?tab=regional")).await.expect("dashboard");
    // Tab through the page: record what takes the focus, its place in the document, and
    // whether it shows an outline (or, for a heatmap cell, a drawn stroke).
    let mut seen: Vec<Value> = Vec::new();
    for _ in 0..400 {
        c.active_element()
            .await
            .expect("focus")
            .send_keys("\u{E004}")
            .await
            .expect("Tab");
        let v = c
            .execute(
                "const e = document.activeElement;
                 const all = [...document.querySelectorAll('*')];
                 const s = getComputedStyle(e);
                 let visible = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
                 const rect = e.querySelector && e.querySelector('rect');
                 if (!visible && rect) visible = parseFloat(getComputedStyle(rect).strokeWidth) >= 2;
                 return {tag: e.tagName.toLowerCase(), cls: String(e.getAttribute('class') || ''),
                         id: e.id || (e.tagName === 'SUMMARY' ? e.parentElement.id : ''), pos: all.indexOf(e), visible,
                         label: e.getAttribute('aria-label') || e.textContent.trim().slice(0, 40)};",
                vec![],
            )
            .await
            .expect("active element");
        // A date input takes several Tabs (day, month, year): one stop.
        if seen.last().is_some_and(|s| s["pos"] == v["pos"]) {
            continue;
        }
        if v["tag"] == "body" || seen.iter().any(|s| s["pos"] == v["pos"]) {
            break;
        }
        seen.push(v);
    }
    let names: Vec<String> = seen
        .iter()
        .map(|v| format!("{}#{}.{}", v["tag"], v["id"], v["cls"]))
        .collect();
    // Every control of the filter bar, the tabs and every heatmap cell of the shown drawing.
    for want in ["#f-from", "#f-to", "#f-product", "#f-q", "#hm-colour"] {
        assert!(
            names.iter().any(|n| n.contains(&want[1..])),
            "{want} is reached: {names:#?}"
        );
    }
    let cells = seen.iter().filter(|v| v["cls"] == "hm-link").count();
    let (_, map) = app.json("/api/v1/heatmap?view=regional").await;
    let expected =
        map["rows"].as_array().map_or(0, Vec::len) * map["cols"].as_array().map_or(0, Vec::len);
    let expected = {
        // The default range, as the page has it.
        let (_, doc) = app.html("/?tab=regional").await;
        let n = crate::helpers::attrs(&doc, ".hm-wide a.hm-link", "href").len();
        assert!(n > 0 && n <= expected.max(n));
        n
    };
    assert_eq!(cells, expected, "every cell is reached once");
    // In document order, each with a visible focus.
    assert!(
        seen.windows(2)
            .all(|w| w[0]["pos"].as_i64() < w[1]["pos"].as_i64()),
        "focus follows the page's order: {names:#?}"
    );
    let hidden: Vec<&String> = seen
        .iter()
        .zip(&names)
        .filter(|(v, _)| v["visible"] != true)
        .map(|(_, n)| n)
        .collect();
    assert!(hidden.is_empty(), "no visible focus on {hidden:#?}");
    // Text alternatives: each cell names its row, column, value and share; the charts have one.
    for v in seen.iter().filter(|v| v["cls"] == "hm-link") {
        let label = v["label"].as_str().unwrap_or("");
        assert!(
            label.contains(" × ")
                && label.contains("escalations")
                && label.contains("% of the row"),
            "{label}"
        );
    }
    for sel in [".hm-wide svg.heatmap", ".finding svg.spark"] {
        let named = c
            .execute(
                "return [...document.querySelectorAll(arguments[0])].every(s => (s.getAttribute('aria-label') || (s.getAttribute('aria-labelledby') && document.getElementById(s.getAttribute('aria-labelledby')) && document.getElementById(s.getAttribute('aria-labelledby')).textContent.trim())));",
                vec![json!(sel)],
            )
            .await
            .expect("names");
        assert_eq!(named, json!(true), "{sel} has a text alternative");
    }
    // Arrow keys move between cells.
    let first = c
        .find(Locator::Css(".hm-wide a.hm-link"))
        .await
        .expect("a cell");
    c.execute(
        "arguments[0].focus();",
        vec![serde_json::to_value(&first).expect("el")],
    )
    .await
    .expect("focus");
    first.send_keys("\u{E014}").await.expect("ArrowRight");
    let col = c
        .execute(
            "return document.activeElement.querySelector('.hm-cell').getAttribute('data-col');",
            vec![],
        )
        .await
        .expect("col");
    assert_eq!(col, json!("1"));
    // Colour is never alone: deltas have arrows and signs, flags a mark and words, partial
    // periods an asterisk and a note.
    c.goto(&app.url("/")).await.expect("dashboard");
    for d in c
        .find_all(Locator::Css(".card-delta"))
        .await
        .expect("deltas")
    {
        let t = d.text().await.expect("text");
        assert!(
            t.starts_with('▲')
                || t.starts_with('▼')
                || t.starts_with('=')
                || t.starts_with("no comparison"),
            "{t}"
        );
    }
    for f in c
        .find_all(Locator::Css(".finding-kind"))
        .await
        .expect("kinds")
    {
        assert!(
            !f.text().await.expect("text").is_empty(),
            "a finding says its kind"
        );
    }
    close_clean(&driver, c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn at_a_million_escalations_the_dashboard_fits_1440_and_375_pixels() {
    if !browser_available("at_a_million_escalations_the_dashboard_fits_1440_and_375_pixels") {
        return;
    }
    let cli = crate::helpers::TestCli::new();
    let file = cli.path("million.csv");
    cli.ok(&["demo-data", "--rows", "1000000", "--out", &file]);
    cli.ok(&["import", &file]);
    let port = crate::helpers::free_port();
    let _server = cli.serve(&["--port", &port.to_string()], &[], port);
    let driver = start_driver().await;
    let c = browser(&driver).await;
    let base = format!("http://127.0.0.1:{port}");
    let mut problems = Vec::new();
    for (w, h) in [(1440u32, 1000u32), (375, 812)] {
        c.set_window_size(w, h).await.expect("window size");
        for tab in DASHBOARD_TABS {
            for range in ["", "&range=all"] {
                let url = format!("{base}/?tab={tab}{range}");
                c.goto(&url).await.expect("page");
                if let Err(e) = heatmap_fits(&c).await {
                    problems.push(format!("{tab}{range} at {w} px: {e}"));
                }
                if let Some(o) = page_overflow(&c).await {
                    problems.push(format!("{tab}{range} at {w} px: {o}"));
                }
            }
        }
        c.goto(&format!("{base}/data")).await.expect("data");
        if let Some(o) = page_overflow(&c).await {
            problems.push(format!("/data at {w} px: {o}"));
        }
        if w == 1440 {
            let fits = c
                .execute(
                    "const t = document.querySelector('.table-wrap'); return t.scrollWidth <= t.clientWidth;",
                    vec![],
                )
                .await
                .expect("table");
            if fits != json!(true) {
                problems.push("/data's table is wider than the page at 1440 px".to_owned());
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // The README's screenshots, when asked for.
    if let Ok(dir) = std::env::var("ESCAMAP_SCREENSHOTS") {
        for (w, h, name) in [
            (1440u32, 1500u32, "dashboard-1m.png"),
            (375, 1900, "dashboard-phone.png"),
        ] {
            c.set_window_size(w, h).await.expect("window size");
            c.goto(&format!("{base}/")).await.expect("dashboard");
            let png = c.screenshot().await.expect("screenshot");
            std::fs::write(std::path::Path::new(&dir).join(name), png).expect("save");
        }
    }
    close_clean(&driver, c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_saves_a_view_subscribes_to_it_and_opens_it_from_the_navigation_in_a_real_browser()
 {
    if !browser_available(
        "a_manager_saves_a_view_subscribes_to_it_and_opens_it_from_the_navigation_in_a_real_browser",
    ) {
        return;
    }
    let app = TestApp::with_csv(&fixture_csv()).await;
    crate::security::add_user(&app, "tam", escamap::domain::Role::Viewer);
    let driver = start_driver().await;
    let c = browser(&driver).await;
    // Signs in, and lands on the dashboard state asked for.
    c.goto(&app.url("/?tab=client-overview&product=API&top=2"))
        .await
        .expect("dashboard");
    wait_url(&c, "/login").await;
    for (id, value) in [("name", "tam"), ("password", crate::security::PASSWORD)] {
        c.find(Locator::Id(id))
            .await
            .expect(id)
            .send_keys(value)
            .await
            .expect("type");
    }
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .expect("sign in")
        .click()
        .await
        .expect("sign in");
    wait_url(&c, "tab=client-overview").await;
    c.find(Locator::Css(".save-view-box summary"))
        .await
        .expect("Save view")
        .click()
        .await
        .expect("open");
    c.find(Locator::Id("sv-name"))
        .await
        .expect("name")
        .send_keys("API top two")
        .await
        .expect("type");
    c.find(Locator::Id("sv-save"))
        .await
        .expect("save")
        .click()
        .await
        .expect("save");
    wait_url(&c, "/views?saved=").await;
    // Subscribes to it: Mondays at 08:00 in Berlin, by mail.
    c.find(Locator::LinkText("Subscriptions"))
        .await
        .expect("the navigation's Subscriptions")
        .click()
        .await
        .expect("open");
    wait_url(&c, "/subscriptions").await;
    choose(&c, "sub-view", "API top two").await;
    let tz = c.find(Locator::Id("sub-tz")).await.expect("zone");
    tz.clear().await.expect("clear");
    tz.send_keys("Europe/Berlin").await.expect("type");
    c.find(Locator::Id("sub-email"))
        .await
        .expect("address")
        .send_keys("tam@example.com")
        .await
        .expect("type");
    c.find(Locator::Id("sub-add"))
        .await
        .expect("subscribe")
        .click()
        .await
        .expect("subscribe");
    wait_url(&c, "/subscriptions?added=").await;
    let row = c
        .find(Locator::Css("tr.subscription"))
        .await
        .expect("the subscription")
        .text()
        .await
        .expect("text");
    assert!(
        row.contains("API top two")
            && row.contains("weekly mon 08:00 (Europe/Berlin)")
            && row.contains("tam@example.com")
            && row.contains("not sent yet"),
        "{row}"
    );
    let stored = app.state.app.subscriptions().expect("subscriptions");
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].user.as_str(), stored[0].view.as_deref()),
        ("tam", Some("API top two"))
    );
    // The signed-in page, its forms and its row, passes axe at both widths and fits them.
    if let Some(axe) = axe_source("the subscriptions page, signed in") {
        for (w, h) in [(1440u32, 900u32), (375, 812)] {
            c.set_window_size(w, h).await.expect("window size");
            c.goto(&app.url("/subscriptions")).await.expect("page");
            let (bad, all, _) = axe_run(&c, &axe).await;
            assert!(bad.is_empty(), "/subscriptions at {w} px: {bad:#?}");
            assert_eq!(
                all, 0,
                "/subscriptions at {w} px: no violation of any impact"
            );
            assert_eq!(page_overflow(&c).await, None, "/subscriptions at {w} px");
        }
        c.set_window_size(1440, 900).await.expect("window size");
    }
    // Elsewhere, from the navigation.
    c.goto(&app.url("/data")).await.expect("data");
    c.find(Locator::Css("details.nav-views summary"))
        .await
        .expect("the saved views")
        .click()
        .await
        .expect("open");
    c.find(Locator::LinkText("API top two"))
        .await
        .expect("the view")
        .click()
        .await
        .expect("open it");
    let url = wait_url(&c, "tab=client-overview").await;
    assert!(
        url.contains("product=API") && url.contains("top=2"),
        "{url}"
    );
    let rows = c
        .find_all(Locator::Css(".hm-wide .hm-rows text"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 2, "the view's two rows");
    close_clean(&driver, c).await;
}

//! The web import's mapping step (issue 11), through the real server over HTTP: a file the
//! defaults do not read is held, not stored; its mapping is previewed, confirmed, kept as a
//! source profile and used again; rejected rows download as CSV; profiles are listed and deleted;
//! another account reaches none of it.

use escamap::domain::Role;

use crate::helpers::{TestApp, attrs, texts};
use crate::security::{add_user, signed_in};

/// A file from a tool EscaMap does not know: its own column names, its own severity words, dates
/// day first.
const OWN_WAY: &str = "Kunde;Eröffnet;Stufe;Ort;Thema\n\
    Globex;23.04.2026;Hoch;Wien;Login\n\
    Initech;03.05.2026;Planung;Graz;Idee\n\
    Hooli;04.05.2026;Weiss nicht;Linz;?\n\
    Acme;05.05.2026;Hoch;Wien;Export\n";

/// The form that maps [`OWN_WAY`]: the columns, each severity word, the profile's name.
fn own_way_form(action: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("col-client", "Kunde"),
        ("col-opened", "Eröffnet"),
        ("col-severity", "Stufe"),
        ("col-region", "Ort"),
        ("col-summary", "Thema"),
        ("col-product", ""),
        ("dates", "auto"),
        ("profile", "German CRM"),
        ("action", action),
    ]
}

/// The severity rows of a mapping page: (value, form index).
fn severity_fields(doc: &scraper::Html) -> Vec<(String, String)> {
    let values = attrs(doc, "input[name^=sev-value-]", "value");
    let names = attrs(doc, "input[name^=sev-value-]", "name");
    values
        .into_iter()
        .zip(names)
        .map(|(v, n)| (v, n.trim_start_matches("sev-value-").to_owned()))
        .collect()
}

async fn page_of(resp: reqwest::Response) -> (u16, scraper::Html) {
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("body");
    (status, scraper::Html::parse_document(&body))
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location")
        .to_owned()
}

/// Uploads `csv` on the Import page and expects the mapping step: its address.
async fn upload_to_mapping(t: &TestApp, name: &str, csv: &str) -> String {
    let resp = t.upload("/import", name, csv.as_bytes()).await;
    assert_eq!(resp.status().as_u16(), 303, "sent to the mapping step");
    let at = location(&resp);
    assert!(at.starts_with("/import/mapping/"), "{at}");
    at
}

fn nothing_stored(t: &TestApp) {
    assert!(
        t.state.app.imports().expect("imports").is_empty(),
        "no import recorded"
    );
    assert!(
        t.state.app.profiles().expect("profiles").is_empty(),
        "no profile saved"
    );
    let stats = t.state.app.stats(&Default::default()).expect("stats");
    assert_eq!(stats.total_escalations, 0, "no escalation stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_columns_are_mapped_previewed_imported_and_the_profile_is_used_again() {
    let t = TestApp::spawn().await;
    let at = upload_to_mapping(&t, "crm-export.csv", OWN_WAY).await;
    nothing_stored(&t);

    // The page: the file as written, a column choice per field, why it is here.
    let (status, doc) = t.html(&at).await;
    assert_eq!(status, 200);
    assert_eq!(
        texts(&doc, "table.sample thead th"),
        ["Kunde", "Eröffnet", "Stufe", "Ort", "Thema"]
    );
    assert_eq!(texts(&doc, "table.sample tbody tr").len(), 4);
    assert_eq!(
        texts(&doc, "select#col-client option"),
        [
            "choose a column",
            "Kunde",
            "Eröffnet",
            "Stufe",
            "Ort",
            "Thema"
        ]
    );
    assert!(texts(&doc, "#m-why")[0].contains("could not tell which column"));
    assert!(texts(&doc, "#m-problem")[0].contains("no recognisable columns"));

    // Preview under a mapping: the severity words are listed, the result shown, nothing stored.
    let (status, doc) = page_of(t.post_form(&at, &own_way_form("preview")).await).await;
    assert_eq!(status, 200);
    let sev = severity_fields(&doc);
    let words: Vec<&str> = sev.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(words, ["Hoch", "Planung", "Weiss nicht"], "most rows first");
    assert_eq!(texts(&doc, "#m-would-import"), ["0"]);
    assert_eq!(texts(&doc, "#m-would-reject"), ["4"]);
    assert!(texts(&doc, "#m-why")[0].starts_with("3 severity values"));
    assert!(texts(&doc, "#m-dates-read")[0].contains("day first"));
    nothing_stored(&t);

    // Import without a level for each word: refused on the page, still nothing stored.
    let (status, doc) = page_of(t.post_form(&at, &own_way_form("import")).await).await;
    assert_eq!(status, 422);
    assert!(texts(&doc, "#m-problem")[0].contains("3 still need one"));
    nothing_stored(&t);

    // With the levels: preview, then import.
    let levels = [
        ("Hoch", "high"),
        ("Planung", "low"),
        ("Weiss nicht", "reject"),
    ];
    let mut fields: Vec<(String, String)> = own_way_form("preview")
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for (value, i) in &sev {
        let level = levels.iter().find(|(w, _)| w == value).expect("a level").1;
        fields.push((format!("sev-value-{i}"), value.clone()));
        fields.push((format!("sev-level-{i}"), level.to_owned()));
    }
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, doc) = page_of(t.post_form(&at, &borrowed).await).await;
    assert_eq!(status, 200);
    assert_eq!(texts(&doc, "#m-would-import"), ["3"]);
    assert_eq!(texts(&doc, "#m-would-reject"), ["1"]);
    let first_row = texts(&doc, "table.result tbody tr:first-child td");
    assert_eq!(
        first_row,
        [
            "2",
            "Globex",
            "Unknown",
            "Wien",
            "High",
            "2026-04-23",
            "",
            ""
        ]
    );
    nothing_stored(&t);

    let mut import = borrowed.clone();
    import.retain(|(k, _)| *k != "action");
    import.push(("action", "import"));
    let (status, doc) = page_of(t.post_form(&at, &import).await).await;
    assert_eq!(status, 201);
    assert_eq!(texts(&doc, "#r-imported"), ["3"]);
    assert_eq!(texts(&doc, "#r-rejected"), ["1"]);
    assert!(texts(&doc, "#r-profile")[0].contains("German CRM"));
    assert!(texts(&doc, ".rejected-groups li")[0].contains("rejected by the severity mapping"));
    let rows = t
        .state
        .app
        .stats(&Default::default())
        .expect("stats")
        .total_escalations;
    assert_eq!(rows, 3);

    // The upload is gone once imported: a second click imports nothing twice.
    let resp = t.post_form(&at, &import).await;
    assert_eq!(resp.status().as_u16(), 410);
    assert_eq!(t.state.app.imports().expect("imports").len(), 1);

    // The profile is listed on the Import page.
    let (_, doc) = t.html("/import").await;
    assert_eq!(texts(&doc, "td.profile-name"), ["German CRM"]);

    // The same header again: imported at once, with the profile.
    let again = "Kunde;Eröffnet;Stufe;Ort;Thema\nUmbrella;06.05.2026;Planung;Graz;Neu\n";
    let (status, doc) = page_of(
        t.upload("/import", "crm-export-2.csv", again.as_bytes())
            .await,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(texts(&doc, "#r-imported"), ["1"]);
    assert!(texts(&doc, "#r-profile")[0].contains("German CRM"));

    // And it can be deleted there.
    let resp = t
        .post_form("/import/profiles/delete", &[("name", "German CRM")])
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    let (_, doc) = t.html(&location(&resp)).await;
    assert!(texts(&doc, ".notice")[0].contains("German CRM"));
    assert!(texts(&doc, "td.profile-name").is_empty());
    assert_eq!(texts(&doc, "#no-profiles").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_severity_in_a_known_header_goes_to_the_mapping_step_and_stores_nothing() {
    let t = TestApp::spawn().await;
    let csv =
        "client,severity,opened\nAcme,low,2026-11-02\nGlobex,P9,2026-11-03\nHooli,,2026-11-04\n";
    let at = upload_to_mapping(&t, "typo.csv", csv).await;
    nothing_stored(&t);
    let (status, doc) = t.html(&at).await;
    assert_eq!(status, 200);
    // The recognised columns are chosen already; the two values that need a level are listed.
    assert_eq!(
        attrs(&doc, "select#col-client option[selected]", "value"),
        ["client"]
    );
    assert_eq!(
        attrs(&doc, "select#col-product option[selected]", "value"),
        Vec::<String>::new()
    );
    let values: Vec<String> = severity_fields(&doc).into_iter().map(|(v, _)| v).collect();
    assert_eq!(values, ["", "P9"]);
    assert!(texts(&doc, "#m-why")[0].starts_with("2 severity values"));
    assert_eq!(texts(&doc, "#m-would-import"), ["1"]);

    // Cancel forgets the upload.
    let resp = t.post_form(&format!("{at}/cancel"), &[]).await;
    assert_eq!(resp.status().as_u16(), 303);
    let (status, doc) = t.html(&at).await;
    assert_eq!(status, 410);
    assert!(texts(&doc, "main")[0].contains("no longer held"));
    nothing_stored(&t);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_whose_every_row_is_rejected_goes_to_the_mapping_step() {
    let t = TestApp::spawn().await;
    let csv = "client,severity,opened\nAcme,low,someday\nGlobex,high,never\n";
    let at = upload_to_mapping(&t, "dates.csv", csv).await;
    let (_, doc) = t.html(&at).await;
    assert!(texts(&doc, "#m-why")[0].contains("every row would be rejected"));
    assert!(
        texts(&doc, ".rejected-groups li")
            .iter()
            .all(|g| g.contains("is not a date"))
    );
    nothing_stored(&t);
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_rows_download_as_csv_with_their_cells_and_reason() {
    let t = TestApp::spawn().await;
    let csv = "id,client,severity,opened,summary\nT-1,Acme,low,2026-11-02,fine\n\
               T-2,Globex,high,31/02/2026,\"a, quoted\"\nT-3,Hooli,low,2026-11-04,ok\n";
    let (status, doc) = page_of(t.upload("/import", "mixed.csv", csv.as_bytes()).await).await;
    assert_eq!(status, 201, "a file whose rows mostly read imports at once");
    assert_eq!(texts(&doc, "#r-imported"), ["2"]);
    let href = attrs(&doc, "#r-download", "href");
    assert_eq!(href.len(), 1);
    let resp = t.get(&href[0]).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().expect("ascii"),
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        resp.headers()["content-disposition"]
            .to_str()
            .expect("ascii"),
        "attachment; filename=\"mixed-rejected.csv\""
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let body = resp.text().await.expect("csv");
    let mut lines = body.lines();
    assert_eq!(
        lines.next(),
        Some("id,client,severity,opened,summary,rejected because")
    );
    let row = lines.next().expect("the rejected row");
    assert!(
        row.starts_with("T-2,Globex,high,31/02/2026,\"a, quoted\",\"line 3, column"),
        "{row}"
    );
    assert!(lines.next().is_none());

    // Fixed and imported again, it reads.
    let fixed = format!(
        "{}\n",
        body.lines()
            .map(|l| l
                .rsplit_once(",\"")
                .map_or(l, |(cells, _)| cells)
                .replace("rejected because", ""))
            .map(|l| l.trim_end_matches(',').replace("31/02/2026", "2026-02-28"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (status, doc) = page_of(t.upload("/import", "fixed.csv", fixed.as_bytes()).await).await;
    assert_eq!(status, 201, "{fixed}");
    assert_eq!(texts(&doc, "#r-imported"), ["1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_account_reaches_neither_a_held_upload_nor_rejected_rows() {
    let t = TestApp::spawn().await;
    add_user(&t, "ann", Role::Editor);
    add_user(&t, "bob", Role::Editor);
    add_user(&t, "vic", Role::Viewer);
    let ann = signed_in(&t, "ann").await;
    let bob = signed_in(&t, "bob").await;
    let vic = signed_in(&t, "vic").await;

    let at = upload_to_mapping(&ann, "crm.csv", OWN_WAY).await;
    let (status, _) = bob.html(&at).await;
    assert_eq!(status, 410, "as if it never was");
    let resp = bob.post_form(&at, &own_way_form("preview")).await;
    assert_eq!(resp.status().as_u16(), 410);
    let resp = bob.post_form(&format!("{at}/cancel"), &[]).await;
    assert_eq!(resp.status().as_u16(), 303);
    let (status, _) = vic.html(&at).await;
    assert_eq!(status, 403, "a viewer cannot map");
    let (status, _) = ann.html(&at).await;
    assert_eq!(status, 200, "bob's cancel did not touch ann's upload");

    let csv = "client,severity,opened\nAcme,low,2026-11-02\nGlobex,high,nope\n";
    let (_, doc) = page_of(ann.upload("/import", "x.csv", csv.as_bytes()).await).await;
    let href = attrs(&doc, "#r-download", "href").remove(0);
    assert_eq!(ann.get(&href).await.status().as_u16(), 200);
    assert_eq!(bob.get(&href).await.status().as_u16(), 404);
    assert_eq!(vic.get(&href).await.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_mapping_forms_answer_in_the_house_shape() {
    let t = TestApp::spawn().await;
    let at = upload_to_mapping(&t, "crm.csv", OWN_WAY).await;
    for (fields, parameter) in [
        (vec![("action", "explode")], "action"),
        (vec![("dates", "ymd")], "dates"),
        (
            vec![("sev-value-0", "Hoch"), ("sev-level-0", "loud")],
            "sev-level-0",
        ),
    ] {
        let (status, doc) = page_of(t.post_form(&at, &fields).await).await;
        assert_eq!(status, 400, "{fields:?}");
        assert!(texts(&doc, "main")[0].contains(parameter), "{fields:?}");
    }
    // A column the file does not have is a problem shown on the page, not a failure.
    let (status, doc) = page_of(
        t.post_form(&at, &[("col-client", "Nope"), ("action", "preview")])
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert!(texts(&doc, "#m-problem")[0].contains("\"Nope\""));
    // An id that never was, however it is written.
    for id in ["0", "zz", "%00", &"a".repeat(300)] {
        let (status, _) = t.html(&format!("/import/mapping/{id}")).await;
        assert_eq!(status, 410, "{id}");
        let (status, _) = t.html(&format!("/import/rejected/{id}")).await;
        assert_eq!(status, 404, "{id}");
    }
    // A profile that is not there.
    let resp = t
        .post_form("/import/profiles/delete", &[("name", "nobody")])
        .await;
    assert_eq!(resp.status().as_u16(), 404);
    nothing_stored(&t);
}

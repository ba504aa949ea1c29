//! Real exports in, through the real binary and server: what the report says a file was read as,
//! grouped rejections and the rejected-rows file, an all-rejected import (exit code and 422), and a
//! refusal that lists what it found.

use serde_json::Value;

use crate::helpers::{TestApp, TestCli};

const SERVICENOW: &str = "Number,Opened,Short description,Caller,Priority,State,Company,Configuration item,Location,Resolved,Closed\n\
    INC001,2026-11-03 10:12:45,Email down,Abel,1 - Critical,Closed,Globex,Mail,Europe,2026-11-03 18:00:00,2026-11-04 18:00:00\n\
    INC002,2026-11-04 08:00:00,Printer,Don,Urgentish,New,Initech,,Asia,,\n\
    INC003,2026-11-05 08:00:00,Plan,Don,Urgentish,New,Initech,CRM,,,\n\
    INC004,2026-11-06 08:00:00,VPN,Eve,2 - High,New,Hooli,VPN,,,\n";

#[test]
fn the_report_names_the_tool_and_which_column_became_which_field() {
    let t = TestCli::new();
    let f = t.write("incidents.csv", SERVICENOW);
    let out = t.run(&["import", &f, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["recognised"], "ServiceNow incidents export");
    assert_eq!(report["columns"]["client"], "Company");
    assert_eq!(report["columns"]["product"], "Configuration item");
    assert_eq!(report["columns"]["severity"], "Priority");
    assert_eq!(report["imported"], 2);
    // The two rows with the same unknown priority are one group, with both lines.
    let groups = report["rejected_groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["count"], 2);
    assert_eq!(groups[0]["column"], "Priority");
    assert_eq!(groups[0]["lines"], serde_json::json!([3, 4]));
    assert!(
        groups[0]["reason"]
            .as_str()
            .expect("reason")
            .contains("Urgentish")
    );
    // The text report says the same.
    let t2 = TestCli::new();
    let f2 = t2.write("incidents.csv", SERVICENOW);
    let text = t2.ok(&["import", &f2]);
    assert!(
        text.contains("read as ServiceNow incidents export"),
        "{text}"
    );
    assert!(text.contains("2 rows: \"Priority\""), "{text}");
}

#[test]
fn rejected_rows_come_back_as_a_csv_to_fix_and_import_again() {
    let t = TestCli::new();
    let f = t.write("incidents.csv", SERVICENOW);
    let out = t.path("rejected.csv");
    t.ok(&["import", &f, "--rejected-out", &out]);
    let text = std::fs::read_to_string(&out).expect("rejected rows written");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "Number,Opened,Short description,Caller,Priority,State,Company,Configuration item,Location,Resolved,Closed,rejected because"
        )
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0].starts_with("INC002,2026-11-04 08:00:00,Printer,Don,Urgentish,"),
        "{}",
        rows[0]
    );
    assert!(rows[0].contains("line 3"), "{}", rows[0]);
    // Fixed, and without the reason column, the file imports.
    let fixed_text = text.replace("Urgentish", "3 - Moderate");
    let mut reader = csv::Reader::from_reader(fixed_text.as_bytes());
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = reader.headers().expect("header").clone();
    w.write_record(header.iter().take(header.len() - 1))
        .expect("header");
    for r in reader.records() {
        let r = r.expect("record");
        w.write_record(r.iter().take(r.len() - 1)).expect("row");
    }
    let fixed = w.into_inner().expect("bytes");
    let g = t.write("fixed.csv", fixed);
    let report: Value = t.json(&["import", &g, "--json"]);
    assert_eq!(
        (
            report["imported"].as_u64(),
            report["rejected_count"].as_u64()
        ),
        (Some(2), Some(0))
    );
}

#[test]
fn an_import_whose_every_row_is_rejected_fails_and_records_nothing() {
    let t = TestCli::new();
    let f = t.write(
        "bad.csv",
        "client,severity,opened\nAcme,Urgentish,2026-11-03\nGlobex,low,not a date\n",
    );
    let out = t.run(&["import", &f, "--json"]);
    assert_eq!(out.status.code(), Some(3), "the all-rejected exit code");
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report still");
    assert_eq!(report["rejected_count"], 2);
    assert_eq!(
        t.json(&["imports", "list", "--json"]),
        serde_json::json!([])
    );
    assert_eq!(t.total(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_422_with_the_report_when_every_row_is_rejected() {
    let t = TestApp::spawn().await;
    let resp = reqwest::Client::new()
        .post(t.url("/api/v1/imports?filename=bad.csv"))
        .header("content-type", "text/csv")
        .body("client,severity,opened\nAcme,Urgentish,2026-11-03\n")
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 422);
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "all_rejected");
    assert_eq!(body["rejected_count"], 1);
    assert_eq!(body["rejected"][0]["line"], 2);
    assert!(
        t.state.app.imports().expect("imports").is_empty(),
        "nothing recorded"
    );
}

#[test]
fn a_refusal_lists_the_headers_it_found_and_the_names_it_takes() {
    let t = TestCli::new();
    let f = t.write("odd.csv", "Account,Sev,When\nAcme,low,2026-11-03\n");
    let err = t.fails(&["import", &f]);
    assert!(err.contains("opened (one of: opened, created"), "{err}");
    assert!(
        err.contains("The header has: \"Account\", \"Sev\", \"When\""),
        "{err}"
    );
}

/// A file no default reads: its client, opened and severity columns have names of their own, and
/// its severities are words of its own.
const OWN_WAY: &str = "Kunde;Eröffnet;Stufe;Thema\n\
    Globex;23.04.2026;Hoch;Login\n\
    Initech;03.05.2026;Planung;Idee\n\
    Hooli;04.05.2026;Weiss nicht;?\n";

/// The mapping that reads [`OWN_WAY`], kept as the profile "German CRM".
const GERMAN_CRM: [&str; 16] = [
    "--map",
    "client=Kunde",
    "--map",
    "opened=Eröffnet",
    "--map",
    "severity=Stufe",
    "--map",
    "summary=Thema",
    "--severity-map",
    "Hoch=high",
    "--severity-map",
    "planung=low",
    "--severity-map",
    "Weiss nicht=reject",
    "--save-profile",
    "German CRM",
];

#[test]
fn map_and_severity_map_read_a_file_no_default_reads() {
    let t = TestCli::new();
    let f = t.write("eigen.csv", OWN_WAY);
    let err = t.fails(&["import", &f]);
    assert!(err.contains("found: \"Kunde\""), "{err}");
    assert!(err.contains("client (one of: client, customer"), "{err}");
    let mut args = vec!["import", f.as_str(), "--json"];
    args.extend(GERMAN_CRM);
    let out = t.run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["imported"], 2);
    assert_eq!(report["columns"]["client"], "Kunde");
    assert_eq!(report["rejected"][0]["line"], 4);
    assert!(
        report["rejected"][0]["reason"]
            .as_str()
            .expect("reason")
            .contains("rejected by the severity mapping")
    );
    let rows: Value = t.json(&["stats", "--json", "--severity", "high"]);
    assert_eq!(rows["total_escalations"], 1);
    // A named column the header lacks is refused, naming it.
    let err = t.fails(&["import", &f, "--map", "client=Customer"]);
    assert!(
        err.contains("client is mapped to the column \"Customer\""),
        "{err}"
    );
}

#[test]
fn a_saved_profile_is_reused_for_the_same_header_listed_shown_and_deleted() {
    let t = TestCli::new();
    let f = t.write("eigen.csv", OWN_WAY);
    let mut args = vec!["import", f.as_str()];
    args.extend(GERMAN_CRM);
    t.ok(&args);
    // The next file with that header imports with no flags at all.
    let g = t.write(
        "next.csv",
        "Kunde;Eröffnet;Stufe;Thema\nUmbrella;24.06.2026;Hoch;Neu\n",
    );
    let report: Value = t.json(&["import", &g, "--json"]);
    assert_eq!(report["imported"], 1);
    assert_eq!(report["profile"], "German CRM");
    // And by name.
    let report: Value = t.json(&["import", &g, "--json", "--profile", "german crm"]);
    assert_eq!(report["profile"], "German CRM");
    let list: Value = t.json(&["profiles", "list", "--json"]);
    assert_eq!(list[0]["name"], "German CRM");
    assert_eq!(
        list[0]["mapping"]["columns"][0],
        serde_json::json!(["client", "Kunde"])
    );
    let shown = t.ok(&["profiles", "show", "German CRM"]);
    assert!(shown.contains("\"Weiss nicht\""), "{shown}");
    t.ok(&["profiles", "delete", "German CRM"]);
    assert!(
        t.fails(&["profiles", "delete", "German CRM"])
            .contains("no source profile")
    );
    assert!(
        t.fails(&["import", &g, "--profile", "German CRM"])
            .contains("no source profile")
    );
    // Without the profile the file is refused again.
    t.fails(&["import", &g]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_takes_the_command_lines_mapping_and_profiles() {
    let t = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let file = "Kunde;Eröffnet;Stufe\nGlobex;03/04/2026;Hoch\nInitech;05/04/2026;Planung\n";
    let url = t.url(
        "/api/v1/imports?filename=crm.csv&map=client%3DKunde&map=opened%3DEr%C3%B6ffnet\
         &map=severity%3DStufe&severity_map=Hoch%3Dhigh&severity_map=planung%3Dreject\
         &date_order=month-first&save_profile=CRM",
    );
    let resp = client
        .post(url)
        .header("content-type", "text/csv")
        .body(file)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 201);
    let report: Value = resp.json().await.expect("JSON");
    assert_eq!(
        (
            report["imported"].as_u64(),
            report["rejected_count"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(report["profile"], "CRM");
    assert_eq!(report["columns"]["client"], "Kunde");
    assert!(
        report["dates"]
            .as_str()
            .is_some_and(|d| d.contains("month first"))
    );
    let (_, rows) = t.json("/api/v1/escalations").await;
    assert_eq!(
        rows["items"][0]["opened"], "2026-03-04",
        "month first, as asked"
    );

    // The same header again, with no mapping: the profile reads it.
    let resp = client
        .post(t.url("/api/v1/imports?filename=crm2.csv"))
        .header("content-type", "text/csv")
        .body("Kunde;Eröffnet;Stufe\nHooli;04/07/2026;Hoch\n")
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 201);
    let report: Value = resp.json().await.expect("JSON");
    assert_eq!(report["profile"], "CRM");
    assert_eq!(report["imported"], 1);

    // Malformed mapping parameters name themselves; nothing is imported.
    for (query, parameter) in [
        ("map=colour%3DKunde", "map"),
        ("severity_map=Hoch%3Dloud", "severity_map"),
        ("date_order=ymd", "date_order"),
        ("profile=nobody", "profile"),
    ] {
        let resp = client
            .post(t.url(&format!("/api/v1/imports?{query}")))
            .header("content-type", "text/csv")
            .body(file)
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 400, "{query}");
        let body: Value = resp.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "invalid_parameter", "{query}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}");
    }
    assert_eq!(t.state.app.imports().expect("imports").len(), 2);
}

//! Every ingest rule, on rows written here.

use chrono::NaiveDate;

use super::*;
use crate::domain::{Label, NewEscalation, Severity};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).expect("valid date")
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid test date")
}

/// Opens `bytes` in memory and, written to a file, as the command line does (read as it is
/// imported, never held whole): every rule here holds for both, and both must read alike.
fn open(bytes: &[u8]) -> Result<Source<'_>, FileError> {
    open_with(bytes, &mapping::Mapping::default())
}

fn open_with<'a>(bytes: &'a [u8], m: &mapping::Mapping) -> Result<Source<'a>, FileError> {
    let memory = Source::open_mapped(bytes, today(), m);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("file.csv");
    std::fs::write(&path, bytes).expect("written");
    let file = Source::open_choosing(Input::File(&path), today(), |_| {
        Ok::<_, FileError>(m.clone())
    });
    match (&memory, &file) {
        (Err(a), Err(b)) => assert_eq!(a, b, "refused alike in memory and from a file"),
        (Ok(a), Ok(b)) => {
            assert_eq!(
                (a.encoding, a.delimiter, &a.format, a.len()),
                (b.encoding, b.delimiter, &b.format, b.len()),
                "read alike in memory and from a file"
            );
            let in_memory: Vec<RowResult> = a.rows().expect("rows").collect();
            let mut rows = b.rows().expect("rows");
            let from_file: Vec<RowResult> = rows.by_ref().collect();
            rows.finish().expect("the file read to its end");
            assert_eq!(
                in_memory, from_file,
                "the same rows in memory and from a file"
            );
        }
        _ => panic!("in memory: {memory:?}; from a file: {file:?}"),
    }
    memory
}

fn parse(text: &str) -> Result<(Source<'_>, Vec<RowResult>), FileError> {
    let src = open(text.as_bytes())?;
    let rows = src.rows().expect("rows").collect();
    Ok((src, rows))
}

fn ok_rows(text: &str) -> Vec<NewEscalation> {
    let (_, rows) = parse(text).expect("file accepted");
    rows.into_iter().map(|r| r.expect("row accepted")).collect()
}

fn one(text: &str) -> NewEscalation {
    let mut rows = ok_rows(text);
    assert_eq!(rows.len(), 1, "expected exactly one row");
    rows.remove(0)
}

fn rejected(text: &str) -> Vec<RowError> {
    let (_, rows) = parse(text).expect("file accepted");
    rows.into_iter().filter_map(Result::err).collect()
}

// ---------- format 1: the original's contact list ----------

const CONTACT_HEADER: &str = "name,phone,email,numberrange\n";

#[test]
fn contact_list_is_recognised_with_any_separator() {
    for sep in [",", "\t", ";"] {
        let text = format!(
            "name{sep}phone{sep}email{sep}numberrange\nAda Lovelace{sep}555{sep}ada@hotmail.com{sep}7\n"
        );
        let (src, rows) = parse(&text).expect("accepted");
        assert_eq!(src.format.name(), "contact-list");
        assert_eq!(src.delimiter, sep.as_bytes()[0]);
        assert_eq!(rows.len(), 1);
    }
}

#[test]
fn contact_severity_follows_numberrange_thresholds() {
    let cases = [
        ("0", Severity::Low),
        ("4.9", Severity::Low),
        ("5", Severity::Medium),
        ("6", Severity::Medium),
        ("7", Severity::High),
        ("10", Severity::High),
        ("-4", Severity::Low),
        ("25", Severity::High),
    ];
    for (n, want) in cases {
        let row = one(&format!("{CONTACT_HEADER}Ada,1,a@b.com,{n}\n"));
        assert_eq!(row.severity, want, "numberrange {n}");
    }
}

#[test]
fn contact_region_comes_from_the_email_domain() {
    let long = format!("{}@hotmail.com", "x".repeat(250));
    let cases = [
        ("x@hotmail.com", "North America"),
        ("x@AOL.com", "North America"),
        (" X@mail.Hotmail.co.uk ", "North America"),
        ("x@yahoo.org", "Asia"),
        ("x@google.ca", "Europe"),
        ("x@protonmail.net", "South America"),
        ("x@icloud.com", "South America"),
        ("no-at-sign.example", "Unknown"),
        ("", "Unknown"),
        (long.as_str(), "Unknown"),
    ];
    for (email, want) in cases {
        let row = one(&format!("{CONTACT_HEADER}Ada,1,\"{email}\",3\n"));
        assert_eq!(row.region.as_str(), want, "email {email:?}");
    }
}

#[test]
fn contact_product_comes_from_the_first_letter_of_the_name() {
    let cases = [
        ("alice", "Analytics"),
        ("Eve Smith", "Analytics"),
        ("Frank", "API"),
        ("jules", "API"),
        ("Kim", "Dashboard"),
        ("Oscar", "Dashboard"),
        ("Pat", "Reporting"),
        ("Zed", "Reporting"),
        ("9 Lives Inc", "Reporting"),
        ("Émile", "Reporting"),
        ("  bob  marley", "Analytics"),
    ];
    for (name, want) in cases {
        let row = one(&format!("{CONTACT_HEADER}{name},1,a@b.com,3\n"));
        assert_eq!(row.product.as_str(), want, "name {name:?}");
    }
}

#[test]
fn contact_fields_are_kept_and_client_trimmed() {
    let row = one(&format!(
        "{CONTACT_HEADER}  Drake Austin ,(721) 652-5425,drake@hotmail.edu,5\n"
    ));
    assert_eq!(row.client.as_str(), "Drake Austin");
    assert_eq!(
        row.phone.as_ref().map(|p| p.as_str()),
        Some("(721) 652-5425")
    );
    assert_eq!(
        row.email.as_ref().map(|p| p.as_str()),
        Some("drake@hotmail.edu")
    );
    assert_eq!(row.ticket, None);
    assert_eq!(row.closed, None);
}

#[test]
fn contact_dates_stay_in_the_originals_window_and_are_deterministic() {
    for n in 0..=10 {
        let text = format!("{CONTACT_HEADER}Ada {n},1,a@b.com,{n}\nBo {n},2,b@c.com,{n}.7\n");
        for row in ok_rows(&text) {
            let start = d("2026-10-25"); // today - 30
            let window = 30 - 2 * i64::from(n);
            let offset = (row.opened - start).num_days();
            assert!(
                (0..window).contains(&offset),
                "numberrange {n}: offset {offset} outside [0, {window})"
            );
        }
        assert_eq!(
            ok_rows(&text),
            ok_rows(&text),
            "same file, same day, same dates"
        );
    }
    // Out-of-range numbers are clipped before the window is computed.
    let row = one(&format!("{CONTACT_HEADER}Ada,1,a@b.com,99\n"));
    assert!((0..10).contains(&(row.opened - d("2026-10-25")).num_days()));
    // Different rows spread over the window rather than all landing on one day.
    let many: String = (0..40)
        .map(|i| format!("Client {i},1,a@b.com,0\n"))
        .collect();
    let dates: std::collections::HashSet<_> = ok_rows(&format!("{CONTACT_HEADER}{many}"))
        .iter()
        .map(|r| r.opened)
        .collect();
    assert!(dates.len() > 5, "only {} distinct dates", dates.len());
}

#[test]
fn contact_rows_with_bad_numberrange_or_empty_name_are_rejected() {
    let errs = rejected(&format!(
        "{CONTACT_HEADER}Ada,1,a@b.com,seven\n   ,1,a@b.com,3\nBo,1,b@c.com,NaN\nCy,1,c@d.com,\n"
    ));
    assert_eq!(errs.len(), 4);
    assert_eq!((errs[0].line, errs[0].column.as_str()), (2, "numberrange"));
    assert!(
        errs[0].reason.contains("\"seven\" is not a number"),
        "{}",
        errs[0].reason
    );
    assert_eq!((errs[1].line, errs[1].column.as_str()), (3, "name"));
    assert!(errs[1].reason.contains("empty"), "{}", errs[1].reason);
    assert_eq!((errs[2].line, errs[2].column.as_str()), (4, "numberrange"));
    assert_eq!((errs[3].line, errs[3].column.as_str()), (5, "numberrange"));
}

// ---------- format 2: support-tool exports ----------

#[test]
fn every_header_synonym_is_recognised() {
    let synonyms: [(&str, &[&str]); 8] = [
        (
            "client",
            &["client", "Customer", "ACCOUNT", "organization", "company"],
        ),
        (
            "product",
            &[
                "product",
                "component",
                "Product Area",
                "product_area",
                "module",
            ],
        ),
        ("region", &["region", "geo", "territory"]),
        ("severity", &["severity", "priority", "sev"]),
        (
            "opened",
            &[
                "opened",
                "created",
                "Created At",
                "created_at",
                "date",
                "reported",
            ],
        ),
        (
            "closed",
            &["closed", "resolved", "solved", "closed-at", "Resolved At"],
        ),
        ("id", &["id", "key", "ticket", "Ticket ID", "issue_key"]),
        ("summary", &["summary", "subject", "title"]),
    ];
    let base = [
        ("client", "client"),
        ("product", "product"),
        ("region", "region"),
        ("severity", "severity"),
        ("opened", "opened"),
        ("closed", "closed"),
        ("id", "id"),
        ("summary", "summary"),
    ];
    for (field, names) in synonyms {
        for name in names {
            let header: Vec<String> = base
                .iter()
                .map(|(f, h)| {
                    if *f == field {
                        format!(" {name} ")
                    } else {
                        (*h).to_owned()
                    }
                })
                .collect();
            let text = format!(
                "{},status\nAcme,Billing,EMEA,P1,2024-03-05,2024-03-09,ESC-1,Broken,Open\n",
                header.join(",")
            );
            let row = one(&text);
            let got = match field {
                "client" => row.client.to_string(),
                "product" => row.product.to_string(),
                "region" => row.region.to_string(),
                "severity" => row.severity.to_string(),
                "opened" => row.opened.to_string(),
                "closed" => row.closed.map(|c| c.to_string()).unwrap_or_default(),
                "id" => row.ticket.map(|t| t.to_string()).unwrap_or_default(),
                _ => row.summary.map(|t| t.to_string()).unwrap_or_default(),
            };
            let want = match field {
                "client" => "Acme",
                "product" => "Billing",
                "region" => "EMEA",
                "severity" => "Critical",
                "opened" => "2024-03-05",
                "closed" => "2024-03-09",
                "id" => "ESC-1",
                _ => "Broken",
            };
            assert_eq!(got, want, "{field} via header {name:?}");
            assert_eq!(row.status.as_ref().map(|s| s.as_str()), Some("Open"));
        }
    }
}

#[test]
fn every_severity_spelling_imports() {
    let spellings = [
        ("low", Severity::Low),
        ("Medium", Severity::Medium),
        ("HIGH", Severity::High),
        ("critical", Severity::Critical),
        ("P1", Severity::Critical),
        ("P2", Severity::High),
        ("P3", Severity::Medium),
        ("P4", Severity::Low),
        ("Sev1", Severity::Critical),
        ("sev2", Severity::High),
        ("SEV3", Severity::Medium),
        ("Sev4", Severity::Low),
        ("S1", Severity::Critical),
        ("S2", Severity::High),
        ("S3", Severity::Medium),
        ("S4", Severity::Low),
        ("urgent", Severity::Critical),
        ("Blocker", Severity::Critical),
        ("major", Severity::High),
        ("normal", Severity::Medium),
        ("Moderate", Severity::Medium),
        ("minor", Severity::Low),
        ("trivial", Severity::Low),
        ("0", Severity::Low),
        ("5", Severity::Medium),
        ("7", Severity::High),
        ("10", Severity::High),
    ];
    let body: String = spellings
        .iter()
        .map(|(s, _)| format!("Acme,{s},2024-01-02\n"))
        .collect();
    let rows = ok_rows(&format!("client,severity,opened\n{body}"));
    for ((raw, want), row) in spellings.iter().zip(rows) {
        assert_eq!(row.severity, *want, "{raw}");
    }
}

#[test]
fn export_dates_are_read_as_written() {
    let cases = [
        ("2024-03-05", "2024-03-05"),
        ("2024-03-05T23:30:00-08:00", "2024-03-05"),
        ("2024-03-05T00:10:00+09:00", "2024-03-05"),
        ("2024-03-05 10:00", "2024-03-05"),
        ("2024/03/05", "2024-03-05"),
        ("3/5/2024", "2024-03-05"),
        ("12/31/2023 11:59 PM", "2023-12-31"),
    ];
    for (raw, want) in cases {
        let row = one(&format!("client,severity,opened\nAcme,low,{raw}\n"));
        assert_eq!(row.opened.to_string(), want, "{raw}");
    }
}

#[test]
fn empty_product_and_region_become_unknown() {
    let row = one("client,product,region,severity,opened\nAcme, , ,low,2024-01-01\n");
    assert_eq!(
        (row.product.as_str(), row.region.as_str()),
        ("Unknown", "Unknown")
    );
    let row = one("client,severity,opened\nAcme,low,2024-01-01\n");
    assert_eq!(
        (row.product.as_str(), row.region.as_str()),
        ("Unknown", "Unknown")
    );
}

#[test]
fn bad_export_rows_are_rejected_with_line_column_and_reason() {
    let text = "Customer,Priority,Created,Resolved\n\
                ,P1,2024-01-01,\n\
                Acme,P9,2024-01-01,\n\
                Acme,P1,yesterday,\n\
                Acme,P1,,\n\
                Acme,P1,2024-01-01,soon\n\
                Acme,P1,2024-01-01,,extra\n\
                Good,P1,2024-01-01,2024-01-02\n";
    let (_, rows) = parse(text).expect("accepted");
    let errs: Vec<&RowError> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
    let got: Vec<(u64, &str)> = errs.iter().map(|e| (e.line, e.column.as_str())).collect();
    assert_eq!(
        got,
        [
            (2, "Customer"),
            (3, "Priority"),
            (4, "Created"),
            (5, "Created"),
            (6, "Resolved"),
            (7, "")
        ]
    );
    assert!(
        errs[0].reason.contains("client is empty"),
        "{}",
        errs[0].reason
    );
    assert!(
        errs[1].reason.contains("unknown severity \"P9\""),
        "{}",
        errs[1].reason
    );
    assert!(
        errs[2].reason.contains("\"yesterday\" is not a date"),
        "{}",
        errs[2].reason
    );
    assert!(errs[3].reason.contains("empty"), "{}", errs[3].reason);
    assert!(
        errs[5].reason.contains("5 fields but the header has 4"),
        "{}",
        errs[5].reason
    );
    assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 1);
}

#[test]
fn quoting_crlf_bom_and_blank_lines() {
    let text = "\u{feff}client,severity,opened,summary\r\n\
                \"Acme, Inc.\",low,2024-01-01,\"says \"\"hi\"\"\"\r\n\
                \r\n\
                ,,,\r\n\
                Globex,high,2024-01-02,\"two\r\nlines; with, separators\"\r\n\
                Initech,low,2024-01-03,bad date next\r\n\
                Hooli,low,tomorrow,x\r\n";
    let (src, rows) = parse(text).expect("accepted");
    assert_eq!(src.encoding, TextEncoding::Utf8);
    assert_eq!(
        rows.len(),
        4,
        "blank lines and separator-only lines are skipped"
    );
    let ok: Vec<&NewEscalation> = rows.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(ok[0].client.as_str(), "Acme, Inc.");
    assert_eq!(
        ok[0].summary.as_ref().map(|s| s.as_str()),
        Some("says \"hi\"")
    );
    assert_eq!(
        ok[1].summary.as_ref().map(|s| s.as_str()),
        Some("two\r\nlines; with, separators")
    );
    // The multi-line record above shifts line numbers: Hooli is on physical line 8.
    let err = rows[3].as_ref().expect_err("bad date");
    assert_eq!((err.line, err.column.as_str()), (8, "opened"));
}

#[test]
fn runs_of_blank_lines_before_a_row_count_in_its_line_number() {
    let text = "client,severity,opened\n\n\n\r\n\nAcme,low,soon\n\r\n\r\n,,\n\nGlobex,low,later\n";
    let (_, rows) = parse(text).expect("accepted");
    let lines: Vec<u64> = rows
        .iter()
        .map(|r| r.as_ref().expect_err("bad date").line)
        .collect();
    assert_eq!(lines, [6, 11]);
}

#[test]
fn windows_1252_is_detected_and_decoded() {
    let mut bytes = b"client;severity;opened\n".to_vec();
    bytes.extend_from_slice(b"Soci\xe9t\xe9 G\xe9n\xe9rale;high;2024-01-01\n");
    let src = open(&bytes).expect("accepted");
    assert_eq!(src.encoding, TextEncoding::Windows1252);
    let row = src
        .rows()
        .expect("rows")
        .next()
        .expect("a row")
        .expect("valid");
    assert_eq!(row.client.as_str(), "Société Générale");
}

#[test]
fn utf16_with_bom_is_decoded() {
    let text = "client\tseverity\topened\nAcme\tP2\t2024-05-06\n";
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    let src = open(&bytes).expect("accepted");
    assert_eq!(src.encoding, TextEncoding::Utf16Le);
    assert_eq!(src.rows().expect("rows").filter(Result::is_ok).count(), 1);
}

// ---------- refused files ----------

#[test]
fn unreadable_files_are_refused_whole() {
    let cases: [(&[u8], &str); 6] = [
        (b"", "empty"),
        (b"\n\r\n   \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"foo,bar,baz\n1,2,3\n", "no recognisable columns"),
        (
            b"client,product,region\nAcme,API,EMEA\n",
            "missing required column(s): opened (one of: opened, created",
        ),
        (
            b"name,phone\nAda,555\n",
            "missing required column(s): email, numberrange",
        ),
    ];
    for (bytes, want) in cases {
        let err = open(bytes).expect_err("refused");
        assert!(
            err.to_string().contains(want),
            "{:?}: {err}",
            String::from_utf8_lossy(bytes)
        );
    }
    let err = open(b"client,opened\nAcme,2024-01-01\n").expect_err("refused");
    assert!(
        err.to_string()
            .contains("severity (one of: severity, priority, sev)"),
        "{err}"
    );
    assert!(!err.to_string().contains("client ("), "{err}");
}

#[test]
fn an_overlong_field_rejects_only_its_row() {
    let huge = "x".repeat(crate::domain::escalation_max_chars() + 1);
    let text = format!(
        "client,severity,opened,summary\nAcme,low,2024-01-01,{huge}\nGlobex,low,2024-01-01,fine\n"
    );
    let (_, rows) = parse(&text).expect("accepted");
    let err = rows[0].as_ref().expect_err("too long");
    assert_eq!((err.line, err.column.as_str()), (2, "summary"));
    assert!(err.reason.contains("longer than"), "{}", err.reason);
    assert!(rows[1].is_ok());
}

// ---------- the tools' own exports, laid out as each writes them ----------

/// The file's recognised name, its mapping and its rows.
fn tool_file(
    text: &str,
) -> (
    &'static str,
    Vec<(&'static str, String)>,
    Vec<NewEscalation>,
) {
    let (src, rows) = parse(text).expect("file accepted");
    let rows = rows
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("row refused: {e}")))
        .collect();
    (src.format.recognised(), src.format.mapping(), rows)
}

fn field<'m>(mapping: &'m [(&'static str, String)], name: &str) -> Option<&'m str> {
    mapping
        .iter()
        .find(|(f, _)| *f == name)
        .map(|(_, c)| c.as_str())
}

#[test]
fn a_jira_issues_export_reads_with_no_set_up() {
    // "All fields" layout: UTF-8 with a BOM, Component/s repeated (first non-empty wins), the
    // customer in a custom field, dates as dd/MMM/yy h:mm a.
    let text = "\u{feff}Summary,Issue key,Issue id,Issue Type,Status,Priority,Resolution,Assignee,Created,Updated,Resolved,Component/s,Component/s,Custom field (Customer),Custom field (Region)\n\
        Login fails,SUP-101,10001,Bug,Done,Highest,Fixed,ann,03/Nov/26 10:12 AM,04/Nov/26 9:00 AM,04/Nov/26 9:00 AM,,Billing,Globex,\n\
        Slow page,SUP-102,10002,Bug,Open,Lowest,,bob,28/Oct/26 4:45 PM,28/Oct/26 4:45 PM,,API,Mobile,Initech,\n";
    let (name, mapping, rows) = tool_file(text);
    assert_eq!(name, "Jira issues export");
    assert_eq!(field(&mapping, "client"), Some("Custom field (Customer)"));
    assert_eq!(field(&mapping, "product"), Some("Component/s"));
    assert_eq!(field(&mapping, "id"), Some("Issue key"));
    assert_eq!(field(&mapping, "closed"), Some("Resolved"));
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!(a.ticket.as_ref().map(|t| t.as_str()), Some("SUP-101"));
    assert_eq!(a.client.as_str(), "Globex");
    assert_eq!(
        a.product.as_str(),
        "Billing",
        "the first non-empty Component/s"
    );
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(
        (a.opened, a.closed),
        (d("2026-11-03"), Some(d("2026-11-04")))
    );
    assert_eq!(a.summary.as_ref().map(|t| t.as_str()), Some("Login fails"));
    assert_eq!(b.product.as_str(), "API");
    assert_eq!(
        (b.severity, b.opened, b.closed),
        (Severity::Low, d("2026-10-28"), None)
    );
}

#[test]
fn a_zendesk_tickets_export_reads_with_no_set_up() {
    let text = "Id,Requester,Requester id,Requester email,Submitter,Assignee,Group,Subject,Status,Priority,Via,Ticket type,Created at,Updated at,Solved at,Organization,Tags\n\
        4711,Pat Lee,901,pat@globex.example,Pat Lee,Sam,Support,Cannot export,solved,urgent,Web form,problem,2026-11-03 10:12:00 +0100,2026-11-05 08:00:00 +0100,2026-11-05 08:00:00 +0100,Globex,export\n\
        4712,Kim Ro,902,kim@initech.example,Kim Ro,,Support,Question,open,normal,Mail,question,2026-11-04 23:59:59 -0800,2026-11-04 23:59:59 -0800,,Initech,\n";
    let (name, mapping, rows) = tool_file(text);
    assert_eq!(name, "Zendesk tickets export");
    assert_eq!(field(&mapping, "client"), Some("Organization"));
    assert_eq!(field(&mapping, "email"), Some("Requester email"));
    assert_eq!(field(&mapping, "closed"), Some("Solved at"));
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!(
        (a.client.as_str(), a.severity, a.opened, a.closed),
        (
            "Globex",
            Severity::Critical,
            d("2026-11-03"),
            Some(d("2026-11-05"))
        )
    );
    assert_eq!(
        a.email.as_ref().map(|t| t.as_str()),
        Some("pat@globex.example")
    );
    assert_eq!(a.ticket.as_ref().map(|t| t.as_str()), Some("4711"));
    assert_eq!(
        (b.severity, b.opened, b.closed),
        (Severity::Medium, d("2026-11-04"), None),
        "the calendar date as written, not converted"
    );
}

#[test]
fn a_salesforce_cases_report_reads_with_no_set_up() {
    // Windows-1252, as Salesforce writes a report for Excel; US dates with AM/PM.
    let mut bytes = b"Case Number,Subject,Account Name,Contact Name,Priority,Status,Date/Time Opened,Date/Time Closed,Case Origin,Product,Type\r\n".to_vec();
    bytes.extend_from_slice(b"00001026,Invoice wrong,Soci\xe9t\xe9 G\xe9n\xe9rale,Ana,High,Closed,11/3/2026 10:12 AM,11/13/2026 4:05 PM,Email,Billing,Problem\r\n");
    bytes.extend_from_slice(
        b"00001027,Outage,Globex,Ben,Low,New,3/4/2026 9:00 AM,,Phone,API,Incident\r\n",
    );
    let src = open(&bytes).expect("file accepted");
    let rows: Vec<NewEscalation> = src.rows().expect("rows").map(|r| r.expect("row")).collect();
    assert_eq!(src.format.recognised(), "Salesforce cases report");
    assert_eq!(field(&src.format.mapping(), "client"), Some("Account Name"));
    assert_eq!(
        field(&src.format.mapping(), "opened"),
        Some("Date/Time Opened")
    );
    assert_eq!(rows[0].client.as_str(), "Société Générale");
    assert_eq!(
        (rows[0].severity, rows[0].opened, rows[0].closed),
        (Severity::High, d("2026-11-03"), Some(d("2026-11-13")))
    );
    assert_eq!(rows[0].product.as_str(), "Billing");
    assert_eq!(
        rows[1].opened,
        d("2026-03-04"),
        "month first, as 11/13/2026 says"
    );
    assert!(
        src.format
            .dates()
            .expect("described")
            .contains("11/13/2026"),
        "the report says which date settled it"
    );
}

#[test]
fn a_servicenow_incident_export_reads_with_no_set_up() {
    let text = "Number,Opened,Short description,Caller,Priority,State,Category,Assignment group,Assigned to,Company,Configuration item,Location,Resolved,Closed\n\
        INC0010001,2026-11-03 10:12:45,Email down,Abel Tuter,1 - Critical,Closed,Network,Service Desk,Beth,Globex,Mail Server,Europe,2026-11-03 18:00:00,2026-11-10 18:00:00\n\
        INC0010002,2026-11-04 08:00:00,Printer jam,Don Go,3 - Moderate,New,Hardware,Service Desk,,Initech,,Asia,,\n\
        INC0010003,2026-11-05 08:00:00,Plan upgrade,Don Go,5 - Planning,New,Software,Service Desk,,Initech,CRM,,,\n\
        INC0010004,2026-11-06 08:00:00,Slow VPN,Eve,2 - High,In Progress,Network,,,Hooli,VPN,North America,,\n\
        INC0010005,2026-11-07 08:00:00,Password,Eve,4 - Low,New,Access,,,Hooli,,,,\n";
    let (name, mapping, rows) = tool_file(text);
    assert_eq!(name, "ServiceNow incidents export");
    assert_eq!(field(&mapping, "client"), Some("Company"));
    assert_eq!(field(&mapping, "product"), Some("Configuration item"));
    assert_eq!(field(&mapping, "region"), Some("Location"));
    assert_eq!(field(&mapping, "summary"), Some("Short description"));
    let sev: Vec<Severity> = rows.iter().map(|r| r.severity).collect();
    assert_eq!(
        sev,
        [
            Severity::Critical,
            Severity::Medium,
            Severity::Low,
            Severity::High,
            Severity::Low
        ]
    );
    assert_eq!(rows[0].product.as_str(), "Mail Server");
    assert_eq!(rows[0].region.as_str(), "Europe");
    assert_eq!(
        rows[0].closed,
        Some(d("2026-11-10")),
        "Closed, as the export names it"
    );
    assert_eq!(
        rows[0].ticket.as_ref().map(|t| t.as_str()),
        Some("INC0010001")
    );
}

#[test]
fn a_freshdesk_tickets_export_reads_with_no_set_up() {
    let text = "Ticket ID,Subject,Status,Priority,Source,Type,Agent,Group,Created time,Due by Time,Resolved time,Closed time,Last update time,Product,Full name,Email,Company Name\n\
        101,Refund,Closed,Urgent,Email,Question,Ann,Billing,2026-11-03 10:12:45,2026-11-04 10:12:45,2026-11-03 12:00:00,2026-11-05 12:00:00,2026-11-05 12:00:00,Billing,Ivy,ivy@globex.example,Globex\n\
        102,Crash,Open,Low,Portal,Incident,,,2026-11-04 08:00:00,2026-11-05 08:00:00,,,2026-11-04 08:00:00,Mobile,Joe,joe@initech.example,Initech\n";
    let (name, mapping, rows) = tool_file(text);
    assert_eq!(name, "Freshdesk tickets export");
    assert_eq!(field(&mapping, "client"), Some("Company Name"));
    assert_eq!(field(&mapping, "opened"), Some("Created time"));
    assert_eq!(field(&mapping, "closed"), Some("Resolved time"));
    assert_eq!(
        (
            rows[0].client.as_str(),
            rows[0].severity,
            rows[0].opened,
            rows[0].closed
        ),
        (
            "Globex",
            Severity::Critical,
            d("2026-11-03"),
            Some(d("2026-11-03"))
        )
    );
    assert_eq!(rows[1].product.as_str(), "Mobile");
    assert_eq!(rows[1].severity, Severity::Low);
}

#[test]
fn a_hubspot_tickets_export_reads_with_no_set_up() {
    let text = "Ticket ID,Ticket name,Pipeline,Ticket status,Priority,Create date,Close date,Ticket owner,Associated Company,Category\n\
        9001,Sync broken,Support Pipeline,Closed,HIGH,2026-11-03 10:12,2026-11-06 09:00,Ann,Globex,Product issue\n\
        9002,How to export,Support Pipeline,New,LOW,2026-11-04 08:00,,Bob,Initech,General inquiry\n";
    let (name, mapping, rows) = tool_file(text);
    assert_eq!(name, "HubSpot tickets export");
    assert_eq!(field(&mapping, "client"), Some("Associated Company"));
    assert_eq!(field(&mapping, "summary"), Some("Ticket name"));
    assert_eq!(field(&mapping, "status"), Some("Ticket status"));
    assert_eq!(
        (
            rows[0].client.as_str(),
            rows[0].severity,
            rows[0].opened,
            rows[0].closed
        ),
        (
            "Globex",
            Severity::High,
            d("2026-11-03"),
            Some(d("2026-11-06"))
        )
    );
    assert_eq!(rows[1].severity, Severity::Low);
}

#[test]
fn ambiguous_numeric_dates_are_decided_per_file() {
    // A day above 12 anywhere settles the whole file, before or after the ambiguous rows.
    let day_first = "client,severity,opened\nA,low,03/04/2026\nB,low,23/04/2026\n";
    let (src, rows) = parse(day_first).expect("accepted");
    let opened: Vec<NaiveDate> = rows.into_iter().map(|r| r.expect("row").opened).collect();
    assert_eq!(opened, [d("2026-04-03"), d("2026-04-23")]);
    assert!(src.format.dates().expect("described").contains("day first"));
    let month_first = "client,severity,opened\nA,low,03/04/2026\nB,low,04/23/2026\n";
    let opened: Vec<NaiveDate> = ok_rows(month_first).into_iter().map(|r| r.opened).collect();
    assert_eq!(opened, [d("2026-03-04"), d("2026-04-23")]);
    // Dots and dashes: day first by convention, settled the same way.
    let dotted = one("client,severity,opened\nA,low,03.11.2026\n");
    assert_eq!(dotted.opened, d("2026-11-03"));
    let dashed = one("client,severity,opened\nA,low,03-11-2026\n");
    assert_eq!(dashed.opened, d("2026-11-03"));
}

#[test]
fn an_undecidable_file_is_read_as_the_default_and_says_so() {
    let (src, rows) =
        parse("client,severity,opened\nA,low,03/04/2026\nB,low,05/06/2026\n").expect("accepted");
    let opened: Vec<NaiveDate> = rows.into_iter().map(|r| r.expect("row").opened).collect();
    assert_eq!(
        opened,
        [d("2026-03-04"), d("2026-05-06")],
        "month first for `/`"
    );
    let said = src.format.dates().expect("described");
    assert!(said.contains("no date settles the order"), "{said}");
    // A Salesforce report that stays ambiguous says it took Salesforce's default.
    let sf = "Case Number,Account Name,Priority,Date/Time Opened\n1,Globex,High,3/4/2026 9:00 AM\n";
    let (src, rows) = parse(sf).expect("accepted");
    assert_eq!(rows[0].as_ref().expect("row").opened, d("2026-03-04"));
    assert!(
        src.format
            .dates()
            .expect("described")
            .contains("Salesforce cases report default")
    );
}

#[test]
fn an_ambiguous_date_after_the_sniffed_records_is_refused_not_guessed() {
    let mut text = String::from("client,severity,opened\n");
    for i in 0..1_100 {
        text.push_str(&format!("C{i},low,2026-01-02\n"));
    }
    text.push_str("Late,low,03/04/2026\nLater,low,23/04/2026\n");
    let (_, rows) = parse(&text).expect("accepted");
    let n = rows.len();
    let late = rows[n - 2].as_ref().expect_err("ambiguous and unsettled");
    assert!(
        late.reason.contains("day first or month first"),
        "{}",
        late.reason
    );
    assert_eq!(
        rows[n - 1].as_ref().expect("settles itself").opened,
        d("2026-04-23")
    );
}

#[test]
fn the_export_format_written_reads_back_field_for_field() {
    // Every written column is a name the reader takes for that field.
    let header = export::HEADER.join(",");
    let text = format!("{header}\n");
    let src = open(text.as_bytes()).expect("header");
    let mapping = src.format.mapping();
    for name in export::HEADER {
        assert_eq!(field(&mapping, name), Some(name), "{name}");
    }
}

// ---------- the preview a mapping page shows ----------

fn preview_of(text: &str, mapping: mapping::Mapping) -> preview::Preview {
    preview::preview(text.as_bytes(), today(), |_| Ok::<_, FileError>(mapping)).expect("a header")
}

const UNKNOWN_HEADERS: &str = "Kunde;Eröffnet;Stufe;Ort\n\
    Globex;23.04.2026;Hoch;Wien\n\
    Initech;03.05.2026;Planung;Graz\n\
    Hooli;04.05.2026;planung;\n\
    Acme;05.05.2026;high;Linz\n";

#[test]
fn a_preview_of_unknown_headers_shows_the_file_and_why_it_does_not_read() {
    let p = preview_of(UNKNOWN_HEADERS, mapping::Mapping::default());
    assert_eq!(p.header, ["Kunde", "Eröffnet", "Stufe", "Ort"]);
    assert_eq!(p.sample.len(), 4);
    assert_eq!(p.sample[0], ["Globex", "23.04.2026", "Hoch", "Wien"]);
    assert_eq!(p.sample[2], ["Hooli", "04.05.2026", "planung", ""]);
    assert!(
        p.columns.iter().all(|(_, c)| c.is_none()),
        "{:?}",
        p.columns
    );
    assert!(matches!(p.reading, Err(FileError::Unrecognised { .. })));
}

#[test]
fn a_preview_under_a_mapping_lists_the_severities_that_need_a_level() {
    use mapping::{Field, Mapping, SeverityChoice};
    let m = Mapping {
        columns: vec![
            (Field::Client, "Kunde".into()),
            (Field::Opened, "Eröffnet".into()),
            (Field::Severity, "Stufe".into()),
            (Field::Region, "Ort".into()),
        ],
        severities: vec![("hoch".into(), SeverityChoice::High)],
        ..Mapping::default()
    };
    let p = preview_of(UNKNOWN_HEADERS, m);
    assert_eq!(
        p.columns
            .iter()
            .filter_map(|(f, c)| c.as_ref().map(|c| (f.as_str(), c.as_str())))
            .collect::<Vec<_>>(),
        [
            ("client", "Kunde"),
            ("region", "Ort"),
            ("severity", "Stufe"),
            ("opened", "Eröffnet")
        ]
    );
    let r = p.reading.expect("reads");
    assert_eq!((r.would_import, r.rejected), (2, 2));
    // "Planung" twice (case aside), "Hoch" mapped; "high" reads by default and is not listed.
    let values: Vec<_> = r
        .severities
        .iter()
        .map(|v| (v.value.as_str(), v.rows, v.mapped, v.needs_choice()))
        .collect();
    assert_eq!(
        values,
        [
            ("Planung", 2, None, true),
            ("Hoch", 1, Some(SeverityChoice::High), false)
        ]
    );
    assert_eq!(r.unmapped_severities(), 1);
    // The reason quotes each value as written: two groups.
    assert_eq!(r.groups.iter().map(|g| g.count).sum::<u64>(), 2);
    assert_eq!(r.rows.len(), 4);
    let first = r.rows[0].1.as_ref().expect("the first row reads");
    assert_eq!(
        (first.client.as_str(), first.severity, first.opened),
        ("Globex", Severity::High, d("2026-04-23"))
    );
    assert_eq!(first.region.as_str(), "Wien");
    assert!(r.dates.is_some_and(|d| d.contains("day first")));
}

#[test]
fn a_field_left_unused_is_not_read_even_where_its_name_is_known() {
    use mapping::{Field, Mapping};
    let text = "client,severity,opened,region\nAcme,high,2026-11-03,EMEA\n";
    let m = Mapping {
        unused: vec![Field::Region, Field::Client],
        ..Mapping::default()
    };
    let r = one_mapped(text, &m);
    assert_eq!(r.region.as_str(), Label::unknown().as_str());
    assert_eq!(
        r.client.as_str(),
        "Acme",
        "a required field cannot be left unused"
    );
}

fn one_mapped(text: &str, m: &mapping::Mapping) -> NewEscalation {
    let src = open_with(text.as_bytes(), m).expect("reads");
    let mut rows: Vec<_> = src.rows().expect("rows").collect();
    assert_eq!(rows.len(), 1);
    rows.remove(0).expect("the row reads")
}

#[test]
fn an_unknown_severity_is_marked_as_one_a_mapping_decides() {
    let errs = rejected("client,severity,opened\nAcme,Planung,2026-11-03\nB,high,nope\n");
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[0].kind, RowErrorKind::UnknownSeverity);
    assert_eq!(errs[1].kind, RowErrorKind::Invalid);
}

/// Rows up to `len` bytes (cut at a line's end), then a row whose client begins with `a` padding
/// bytes, so that its `name` begins at byte `at` of the file.
fn rows_then(prefix: &[u8], at: usize, name: &[u8]) -> Vec<u8> {
    let mut bytes = prefix.to_vec();
    let row = b"Acme,Reporting,Europe,P2,2026-11-02\n";
    while bytes.len() + row.len() < at {
        bytes.extend_from_slice(row);
    }
    bytes.resize(at, b'A');
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(b" Bank,API,Europe,P1,2026-11-03\n");
    bytes
}

const HEADER: &[u8] = b"client,product,region,severity,opened\n";

/// A file larger than the chunk it is read in (a megabyte), with a character placed before, across
/// and after a chunk's end: how the file is cut into reads changes nothing.
#[test]
fn a_file_is_read_alike_whatever_falls_on_its_chunk_boundaries() {
    const MB: usize = 1 << 20;
    let client = |src: &Source<'_>| {
        let row = src
            .rows()
            .expect("rows")
            .last()
            .expect("a row")
            .expect("valid");
        row.client.as_str().trim_start_matches('A').to_owned()
    };
    for at in MB - 4..MB + 2 {
        // UTF-8: a three-byte character.
        let bytes = rows_then(HEADER, at, "\u{20ac}".as_bytes());
        let src = open(&bytes).expect("accepted");
        assert_eq!(
            (src.encoding, client(&src)),
            (TextEncoding::Utf8, "\u{20ac} Bank".into())
        );
        // Windows-1252, decoded as it is read.
        let bytes = rows_then(HEADER, at, b"\xe9\x80");
        let src = open(&bytes).expect("accepted");
        assert_eq!(
            (src.encoding, client(&src)),
            (TextEncoding::Windows1252, "\u{e9}\u{20ac} Bank".into())
        );
        // UTF-16 with its mark: a character of two code units (four bytes), wherever it falls.
        let text = rows_then(HEADER, at / 2, "\u{1f4c8}".as_bytes());
        let text = String::from_utf8(text).expect("utf-8");
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let src = open(&utf16).expect("accepted");
        assert_eq!(
            (src.encoding, client(&src)),
            (TextEncoding::Utf16Le, "\u{1f4c8} Bank".into())
        );
    }
    // A NUL past the first megabyte, in UTF-8 and in Windows-1252 (where a character before it
    // makes its decoded offset differ from its byte's).
    match open(&rows_then(HEADER, MB + 5, b"\0")) {
        Err(FileError::Binary { offset }) => assert_eq!(offset, MB + 5),
        other => panic!("{:?}", other.map(|_| "accepted")),
    }
    let mut cp1252 = HEADER.to_vec();
    cp1252.extend_from_slice(b"\xe9,Reporting,Europe,P2,2026-11-02\n");
    match open(&rows_then(&cp1252, MB + 5, b"\0")) {
        Err(FileError::Binary { offset }) => assert_eq!(offset, MB + 6),
        other => panic!("{:?}", other.map(|_| "accepted")),
    }
}

#[test]
fn a_file_that_changes_while_it_is_read_is_refused_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("changing.csv");
    let bytes = rows_then(HEADER, 200_000, b"Initech");
    std::fs::write(&path, &bytes).expect("written");
    let src = Source::open(&[], today()).err();
    assert_eq!(src, Some(FileError::Empty));
    let src = Source::open_choosing(Input::File(&path), today(), |_| {
        Ok::<_, FileError>(mapping::Mapping::default())
    })
    .expect("accepted");
    let mut rows = src.rows().expect("rows");
    assert!(rows.next().expect("a row").is_ok());
    // Another program appends to the file as it is imported.
    let mut more = bytes.clone();
    more.extend_from_slice(b"Globex,API,Europe,P1,2026-11-03\n");
    std::fs::write(&path, &more).expect("rewritten");
    rows.by_ref().for_each(drop);
    assert_eq!(rows.finish(), Err(FileError::Changed));
    // And one removed before its rows are read is an error that names it.
    std::fs::remove_file(&path).expect("removed");
    match src.rows() {
        Err(FileError::Read(why)) => assert!(why.contains("changing.csv"), "{why}"),
        other => panic!("{:?}", other.map(|_| "rows")),
    }
}

#[test]
fn decoding_as_read_serves_reads_smaller_than_a_character() {
    // Three bytes of Windows-1252, each two or three bytes of UTF-8, read a byte at a time.
    let mut decoding = decode::windows_1252_reader(b"\xe9\x80a");
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while std::io::Read::read(&mut decoding, &mut byte).expect("read") == 1 {
        out.push(byte[0]);
    }
    assert_eq!(String::from_utf8(out).expect("utf-8"), "\u{e9}\u{20ac}a");
}

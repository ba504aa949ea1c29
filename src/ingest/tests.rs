//! Every ingest rule, on rows written here.

use chrono::NaiveDate;

use super::*;
use crate::domain::{NewEscalation, Severity};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).expect("valid date")
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid test date")
}

fn parse(text: &str) -> Result<(Source<'_>, Vec<RowResult>), FileError> {
    let src = Source::open(text.as_bytes(), today())?;
    let rows = src.rows().collect();
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
fn windows_1252_is_detected_and_decoded() {
    let mut bytes = b"client;severity;opened\n".to_vec();
    bytes.extend_from_slice(b"Soci\xe9t\xe9 G\xe9n\xe9rale;high;2024-01-01\n");
    let src = Source::open(&bytes, today()).expect("accepted");
    assert_eq!(src.encoding, TextEncoding::Windows1252);
    let row = src.rows().next().expect("a row").expect("valid");
    assert_eq!(row.client.as_str(), "Société Générale");
}

#[test]
fn utf16_with_bom_is_decoded() {
    let text = "client\tseverity\topened\nAcme\tP2\t2024-05-06\n";
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    let src = Source::open(&bytes, today()).expect("accepted");
    assert_eq!(src.encoding, TextEncoding::Utf16Le);
    assert_eq!(src.rows().filter(Result::is_ok).count(), 1);
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
        let err = Source::open(bytes, today()).expect_err("refused");
        assert!(
            err.to_string().contains(want),
            "{:?}: {err}",
            String::from_utf8_lossy(bytes)
        );
    }
    let err = Source::open(b"client,opened\nAcme,2024-01-01\n", today()).expect_err("refused");
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

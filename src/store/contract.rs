//! The store contract: behaviour every backend must share. [`run_all`] takes a factory for fresh,
//! empty stores, so the same checks pin SQLite today and any other backend tomorrow.

use chrono::NaiveDate;

use super::*;
use crate::domain::{Label, NewEscalation, Severity, Text};

fn esc(ticket: Option<&str>, client: &str, sev: Severity, opened: &str) -> NewEscalation {
    NewEscalation {
        ticket: ticket.map(|t| Text::new(t).expect("valid")),
        client: Text::new(client).expect("valid"),
        product: Label::new("API").expect("valid"),
        region: Label::new("").expect("valid"),
        severity: sev,
        opened: NaiveDate::parse_from_str(opened, "%Y-%m-%d").expect("valid"),
        closed: None,
        status: None,
        summary: Some(Text::new("line one\nline two, \"quoted\"").expect("valid")),
        email: None,
        phone: None,
    }
}

fn import(store: &mut dyn Store, name: &str, rows: &[NewEscalation]) -> ImportRecord {
    let mut tx = store
        .begin_import(&NewImport {
            source: name,
            format: "export",
            encoding: "utf-8",
        })
        .expect("begin");
    for r in rows {
        tx.write(r).expect("write");
    }
    tx.commit(1).expect("commit")
}

fn scan(store: &dyn Store) -> Vec<(i64, String, Severity)> {
    let mut out = Vec::new();
    store
        .scan(&mut |r| out.push((r.id, r.client.to_owned(), r.severity)))
        .expect("scan");
    out.sort();
    out
}

pub(crate) fn run_all(make: &dyn Fn() -> Box<dyn Store>) {
    round_trip(make().as_mut());
    last_ticket_wins(make().as_mut());
    uncommitted_import_leaves_nothing(make().as_mut());
    delete_removes_the_import_and_its_rows(make().as_mut());
}

fn round_trip(store: &mut dyn Store) {
    let rows = [
        esc(Some("T-1"), "Acme", Severity::High, "2024-02-29"),
        esc(None, "Globex", Severity::Low, "2024-03-01"),
    ];
    let rec = import(store, "a.csv", &rows);
    assert_eq!(
        (
            rec.rows_imported,
            rec.rows_replaced,
            rec.rows_rejected,
            rec.rows_current
        ),
        (2, 0, 1, 2)
    );
    assert_eq!(rec.source, "a.csv");
    assert_eq!(store.count().expect("count"), 2);
    let ids: Vec<i64> = scan(store).iter().map(|r| r.0).collect();
    let got = store.escalations(&ids).expect("fetch");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].fields, rows[0], "every field survives the store");
    assert_eq!(got[1].fields, rows[1]);
    assert_eq!(got[0].import_id, rec.id);
    assert!(store.escalations(&[i64::MAX]).expect("fetch").is_empty());
}

fn last_ticket_wins(store: &mut dyn Store) {
    let first = import(
        store,
        "v1.csv",
        &[
            esc(Some("T-1"), "Acme", Severity::Low, "2024-01-01"),
            esc(Some("T-1"), "Acme", Severity::Medium, "2024-01-01"), // same file: last wins
            esc(Some("T-2"), "Globex", Severity::Low, "2024-01-02"),
        ],
    );
    assert_eq!((first.rows_imported, first.rows_replaced), (3, 1));
    let second = import(
        store,
        "v2.csv",
        &[
            esc(Some("T-1"), "Acme", Severity::Critical, "2024-01-01"),
            esc(None, "New", Severity::Low, "2024-01-03"),
        ],
    );
    assert_eq!((second.rows_imported, second.rows_replaced), (2, 1));
    let rows = scan(store);
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .any(|r| r.1 == "Acme" && r.2 == Severity::Critical)
    );
    let list = store.imports().expect("list");
    assert_eq!(
        list.iter().map(|i| i.rows_current).collect::<Vec<_>>(),
        [2, 1],
        "newest first; T-1 moved to v2"
    );
}

fn uncommitted_import_leaves_nothing(store: &mut dyn Store) {
    import(
        store,
        "kept.csv",
        &[esc(Some("T-1"), "Acme", Severity::Low, "2024-01-01")],
    );
    {
        let mut tx = store
            .begin_import(&NewImport {
                source: "lost.csv",
                format: "export",
                encoding: "utf-8",
            })
            .expect("begin");
        tx.write(&esc(Some("T-1"), "Changed", Severity::High, "2024-01-01"))
            .expect("write");
        tx.write(&esc(None, "Extra", Severity::High, "2024-01-01"))
            .expect("write");
        // dropped without commit
    }
    assert_eq!(
        scan(store).iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["Acme"]
    );
    assert_eq!(store.imports().expect("list").len(), 1);
}

fn delete_removes_the_import_and_its_rows(store: &mut dyn Store) {
    let a = import(
        store,
        "a.csv",
        &[
            esc(None, "A", Severity::Low, "2024-01-01"),
            esc(None, "A2", Severity::Low, "2024-01-01"),
        ],
    );
    let b = import(
        store,
        "b.csv",
        &[esc(None, "B", Severity::Low, "2024-01-01")],
    );
    assert_eq!(store.delete_import(a.id).expect("delete"), 2);
    assert_eq!(
        scan(store).iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["B"]
    );
    assert_eq!(
        store
            .imports()
            .expect("list")
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        [b.id]
    );
    assert!(matches!(
        store.delete_import(a.id),
        Err(StoreError::NotFound)
    ));
}

#[test]
fn sqlite_in_memory_meets_the_contract() {
    run_all(&|| Box::new(SqliteStore::in_memory().expect("open")));
}

#[test]
fn sqlite_file_meets_the_contract_and_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = std::cell::Cell::new(0);
    run_all(&|| {
        n.set(n.get() + 1);
        Box::new(SqliteStore::open(&dir.path().join(format!("s{}.db", n.get()))).expect("open"))
    });
    // Reopening runs no migration twice and keeps the data.
    let path = dir.path().join("reopen.db");
    let mut s = SqliteStore::open(&path).expect("open");
    import(
        &mut s,
        "a.csv",
        &[esc(None, "A", Severity::Low, "2024-01-01")],
    );
    drop(s);
    let s = SqliteStore::open(&path).expect("reopen");
    assert_eq!(s.count().expect("count"), 1);
}

#[test]
fn iso_days_parse_strictly() {
    assert_eq!(
        parse_iso_day("2024-02-29"),
        NaiveDate::from_ymd_opt(2024, 2, 29)
    );
    for bad in ["2023-02-29", "2024-2-29", "2024/02/29", "", "abcd-ef-gh"] {
        assert_eq!(parse_iso_day(bad), None, "{bad}");
    }
}

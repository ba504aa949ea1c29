//! The store contract: behaviour every backend must share. [`run_all`] takes a factory for fresh,
//! empty stores, so the same checks pin SQLite and PostgreSQL (each check on a store, and for
//! PostgreSQL a database, of its own).

use chrono::NaiveDate;

use super::*;
use crate::domain::{Label, NewEscalation, Role, Severity, Text, UserName};

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

/// An import begun in `store`, named `name`.
fn begin<'s>(store: &'s mut dyn Store, name: &str) -> Box<dyn ImportTx + 's> {
    store
        .begin_import(&NewImport {
            source: name,
            format: "export",
            encoding: "utf-8",
        })
        .expect("begin")
}

fn import(store: &mut dyn Store, name: &str, rows: &[NewEscalation]) -> ImportRecord {
    let mut tx = begin(store, name);
    for r in rows {
        tx.write(r).expect("write");
    }
    tx.commit(1).expect("commit").record
}

fn scan(store: &mut dyn Store) -> Vec<(i64, String, Severity)> {
    let mut out = Vec::new();
    store
        .scan(&mut |r| out.push((r.id, r.client.to_owned(), r.severity)))
        .expect("scan");
    out.sort();
    out
}

/// `scan_parts` into `n` parts: (generation, each part's (id, client) in the order read).
fn scan_in_parts(store: &mut dyn Store, n: usize) -> (u64, Vec<Vec<(i64, String)>>) {
    let mut got: Vec<Vec<(i64, String)>> = vec![Vec::new(); n];
    let generation = scan_into(store, &mut got, |part, r| {
        part.push((r.id, r.client.to_owned()))
    })
    .expect("scan parts");
    (generation, got)
}

/// However many parts a whole-store read is split into, every escalation is read once, into
/// one part, with the generation of the snapshot read.
fn a_split_scan_reads_every_row_once(store: &mut dyn Store) {
    assert_eq!(scan_in_parts(store, 2).1, [vec![], vec![]]);
    let rows = |from: usize, to: usize| -> Vec<NewEscalation> {
        (from..to)
            .map(|i| {
                let ticket = format!("T-{i}");
                let ticket = (i % 7 != 0).then_some(ticket.as_str());
                esc(ticket, &format!("C{}", i % 5), Severity::High, "2024-03-01")
            })
            .collect()
    };
    import(store, "a.csv", &rows(0, 40));
    let b = import(store, "b.csv", &rows(40, 90));
    import(store, "c.csv", &rows(85, 130));
    store.delete_import(b.id).expect("delete");
    let whole: Vec<(i64, String)> = scan(store)
        .into_iter()
        .map(|(id, client, _)| (id, client))
        .collect();
    assert!(whole.len() > 80);
    for n in 1..=3 {
        let (generation, parts) = scan_in_parts(store, n);
        assert_eq!(generation, store.generation().expect("generation"));
        let mut read: Vec<(i64, String)> = parts.into_iter().flatten().collect();
        read.sort();
        assert_eq!(read, whole, "{n} parts");
    }
}

pub(crate) fn run_all(make: &dyn Fn() -> Box<dyn Store>) {
    round_trip(make().as_mut());
    scan_reads_every_index_column(make().as_mut());
    a_split_scan_reads_every_row_once(make().as_mut());
    last_ticket_wins(make().as_mut());
    uncommitted_import_leaves_nothing(make().as_mut());
    an_abandoned_first_import_leaves_a_store_that_works(make().as_mut());
    an_import_says_what_it_wrote(make().as_mut());
    delete_removes_the_import_and_its_rows(make().as_mut());
    changes_since_a_generation(make().as_mut());
    a_restore_makes_every_index_read_everything(make().as_mut(), make().as_mut());
    ids_are_never_reused(make().as_mut());
    source_profiles(make().as_mut());
    saved_views(make().as_mut());
    subscriptions_and_claims(make().as_mut());
    alerts_and_messages(make().as_mut());
    accounts_sessions_and_tokens(make().as_mut());
    shared_state(make().as_mut());
    copies_keep_everything(make().as_mut(), make().as_mut());
    abandoned_restore_leaves_nothing(make().as_mut(), make().as_mut());
}

/// `scan_changes` from `since`: (generation, full, written (id, client) sorted, retired sorted).
fn changes(store: &mut dyn Store, since: Option<u64>) -> (u64, bool, Vec<(i64, String)>, Vec<i64>) {
    let (mut rows, mut gone) = (Vec::new(), Vec::new());
    let scanned = store
        .scan_changes(
            since,
            &mut |r| rows.push((r.id, r.client.to_owned())),
            &mut |id| gone.push(id),
        )
        .expect("scan changes");
    rows.sort();
    gone.sort();
    (scanned.generation, scanned.full, rows, gone)
}

/// What an index at a generation needs: the rows written since (new ones, and replaced ones
/// with their ids), the ids deleted since, and everything when it asks for everything.
fn changes_since_a_generation(store: &mut dyn Store) {
    let (g0, full, rows, _) = changes(store, None);
    assert!(full && rows.is_empty());
    import(
        store,
        "a.csv",
        &[
            esc(Some("T-1"), "A", Severity::Low, "2024-01-01"),
            esc(Some("T-2"), "B", Severity::Low, "2024-01-02"),
        ],
    );
    let (g1, full, first, gone) = changes(store, Some(g0));
    assert!(g1 > g0 && !full && gone.is_empty());
    assert_eq!(first.len(), 2);
    assert_eq!(
        changes(store, Some(g1)),
        (g1, false, Vec::new(), Vec::new())
    );
    // A re-import of T-2 (same id, new client) and a new row; then the first import deleted,
    // which takes T-1 (T-2 moved on).
    let b = import(
        store,
        "b.csv",
        &[
            esc(Some("T-2"), "B2", Severity::Low, "2024-01-02"),
            esc(None, "C", Severity::Low, "2024-01-03"),
        ],
    );
    let (g2, _, second, _) = changes(store, Some(g1));
    let t2 = first.iter().find(|r| r.1 == "B").map(|r| r.0);
    assert_eq!(second.iter().find(|r| r.1 == "B2").map(|r| r.0), t2);
    assert_eq!(second.len(), 2);
    let a = store
        .imports()
        .expect("list")
        .into_iter()
        .find(|i| i.id != b.id);
    store.delete_import(a.expect("a").id).expect("delete");
    let (g3, full, rows, gone) = changes(store, Some(g2));
    assert!(g3 > g2 && !full && rows.is_empty());
    let t1 = first.iter().find(|r| r.1 == "A").map(|r| r.0);
    assert_eq!(gone, t1.into_iter().collect::<Vec<_>>());
    // From the start: both imports' rows that remain, and the deletion.
    let (_, full, rows, gone) = changes(store, Some(g0));
    assert!(!full);
    assert_eq!(
        rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["B2", "C"]
    );
    assert_eq!(gone.len(), 1);
    // A generation the store never reached (another store's) reads everything.
    let (_, full, rows, _) = changes(store, Some(g3 + 5));
    assert!(full);
    assert_eq!(rows.len(), 2);
}

/// After a restore the copied imports carry no generation: every index reads the whole store.
fn a_restore_makes_every_index_read_everything(from: &mut dyn Store, to: &mut dyn Store) {
    let (g0, ..) = changes(to, None);
    import(
        from,
        "a.csv",
        &[esc(Some("T-1"), "A", Severity::Low, "2024-01-01")],
    );
    super::copy_store(from, to, &mut |_| {}).expect("copy");
    let (g1, full, rows, _) = changes(to, Some(g0));
    assert!(g1 > g0 && full, "a restore is read whole");
    assert_eq!(rows.len(), 1);
    assert!(!changes(to, Some(g1)).1, "and caught up with afterwards");
}

/// `copy_store` returns at the first error and drops the restore: that must write nothing.
fn abandoned_restore_leaves_nothing(from: &mut dyn Store, to: &mut dyn Store) {
    import(
        from,
        "a.csv",
        &[esc(Some("T-9"), "A", Severity::Low, "2024-01-01")],
    );
    let record = from.imports().expect("list").remove(0);
    let ids: Vec<i64> = scan(from).iter().map(|r| r.0).collect();
    let rows = from.escalations(&ids).expect("fetch");
    {
        let mut tx = to.restore().expect("restore");
        tx.import(&record).expect("import");
        tx.escalation(&rows[0]).expect("escalation");
        // dropped: as when the source fails midway
    }
    assert!(to.is_blank().expect("blank"));
    assert!(to.imports().expect("list").is_empty());
}

/// A deleted import's id, or a deleted token's, is never handed out again: a retried delete or a
/// stale page holding it must not reach a newer one.
fn ids_are_never_reused(store: &mut dyn Store) {
    let a = import(
        store,
        "a.csv",
        &[esc(Some("A"), "Acme", Severity::Low, "2024-01-01")],
    );
    let b = import(
        store,
        "b.csv",
        &[esc(Some("B"), "Acme", Severity::Low, "2024-01-02")],
    );
    store.delete_import(b.id).expect("delete");
    let c = import(
        store,
        "c.csv",
        &[esc(Some("C"), "Acme", Severity::Low, "2024-01-03")],
    );
    assert!(c.id > b.id && b.id > a.id, "{} {} {}", a.id, b.id, c.id);
    store.delete_import(c.id).expect("delete");
    store.delete_import(a.id).expect("delete");
    let d = import(
        store,
        "d.csv",
        &[esc(Some("D"), "Acme", Severity::Low, "2024-01-04")],
    );
    assert!(
        d.id > c.id,
        "an emptied table starts over: {} after {}",
        d.id,
        c.id
    );

    let user = store
        .create_user(&"tokens".parse().expect("valid"), Role::Viewer, "hash")
        .expect("user");
    let now = chrono::Utc::now();
    let t1 = store
        .create_token(user.id, "one", "h1", now)
        .expect("token");
    let t2 = store
        .create_token(user.id, "two", "h2", now)
        .expect("token");
    store.delete_token(t2.id).expect("delete");
    let t3 = store
        .create_token(user.id, "three", "h3", now)
        .expect("token");
    assert!(
        t3.id > t2.id && t2.id > t1.id,
        "{} {} {}",
        t1.id,
        t2.id,
        t3.id
    );
}

fn source_profiles(store: &mut dyn Store) {
    let at = chrono::Utc::now();
    let p = |name: &str, mapping: &str| SourceProfile {
        name: name.to_owned(),
        header: "account\u{1f}when".to_owned(),
        mapping: mapping.to_owned(),
        created_at: to_micros(at),
    };
    assert!(store.profiles().expect("list").is_empty());
    store.save_profile(&p("Crm", "{\"a\":1}")).expect("save");
    store.save_profile(&p("billing", "{}")).expect("save");
    // The same name, whatever its case, replaces.
    store.save_profile(&p("CRM", "{\"a\":2}")).expect("replace");
    let names: Vec<(String, String)> = store
        .profiles()
        .expect("list")
        .into_iter()
        .map(|p| (p.name, p.mapping))
        .collect();
    assert_eq!(
        names,
        [
            ("billing".to_owned(), "{}".to_owned()),
            ("CRM".to_owned(), "{\"a\":2}".to_owned())
        ]
    );
    assert_eq!(store.profiles().expect("list")[0].created_at, to_micros(at));
    store.delete_profile("crm").expect("delete");
    assert!(matches!(
        store.delete_profile("crm"),
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.profiles().expect("list").len(), 1);
}

fn subscriptions_and_claims(store: &mut dyn Store) {
    let t = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&chrono::Utc)
    };
    let sub = store
        .add_subscription(&NewSubscription {
            user: "ana".into(),
            view: Some("Globex".into()),
            schedule: "weekly mon 08:00".into(),
            tz: "Europe/Berlin".into(),
            target: Target::Email("ana@example.com".into()),
            created_at: t("2026-11-01T10:00:00Z"),
        })
        .expect("add");
    let hook = store
        .add_subscription(&NewSubscription {
            user: "bo".into(),
            view: None,
            schedule: "daily 09:00".into(),
            tz: "UTC".into(),
            target: Target::Webhook {
                url: "https://hooks.example.com/x".into(),
                secret: "s3cret".into(),
            },
            created_at: t("2026-11-01T10:00:00Z"),
        })
        .expect("add a webhook");
    assert_eq!(
        store.subscriptions().expect("list"),
        [sub.clone(), hook.clone()]
    );
    store.remove_subscription(hook.id).expect("remove");
    assert_eq!(
        store.subscriptions().expect("list"),
        std::slice::from_ref(&sub)
    );
    let slot = t("2026-11-30T07:00:00Z");
    let now = t("2026-11-30T07:00:30Z");
    let lease = t("2026-11-30T07:05:30Z");
    // The first claim wins; a second, while the lease holds, does not.
    assert_eq!(
        store
            .claim_delivery(sub.id, slot, now, lease)
            .expect("claim"),
        Some(1)
    );
    assert_eq!(
        store
            .claim_delivery(sub.id, slot, now, lease)
            .expect("claim"),
        None
    );
    // A lease that ran out (its instance died) may be claimed again.
    let later = t("2026-11-30T07:06:00Z");
    assert_eq!(
        store
            .claim_delivery(sub.id, slot, later, t("2026-11-30T07:11:00Z"))
            .expect("claim"),
        Some(2)
    );
    // Failed: not before its retry time.
    store
        .finish_delivery(
            sub.id,
            slot,
            later,
            Some(("server down", t("2026-11-30T07:10:00Z"))),
        )
        .expect("fail");
    assert_eq!(
        store
            .claim_delivery(
                sub.id,
                slot,
                t("2026-11-30T07:09:00Z"),
                t("2026-11-30T07:14:00Z")
            )
            .expect("claim"),
        None
    );
    assert_eq!(
        store
            .claim_delivery(
                sub.id,
                slot,
                t("2026-11-30T07:10:00Z"),
                t("2026-11-30T07:15:00Z")
            )
            .expect("claim"),
        Some(3)
    );
    store
        .finish_delivery(sub.id, slot, t("2026-11-30T07:10:01Z"), None)
        .expect("sent");
    // Sent: never again.
    assert_eq!(
        store
            .claim_delivery(
                sub.id,
                slot,
                t("2026-12-30T00:00:00Z"),
                t("2026-12-30T00:05:00Z")
            )
            .expect("claim"),
        None
    );
    let d = store.deliveries(sub.id).expect("deliveries");
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].state.as_str(), d[0].attempts), ("sent", 3));
    assert_eq!(d[0].sent_at, Some(t("2026-11-30T07:10:01Z")));
    store.remove_subscription(sub.id).expect("remove");
    assert!(matches!(
        store.remove_subscription(sub.id),
        Err(StoreError::NotFound)
    ));
    assert!(store.deliveries(sub.id).expect("gone with it").is_empty());
}

fn alerts_and_messages(store: &mut dyn Store) {
    let t = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&chrono::Utc)
    };
    let alert = store
        .add_alert(&NewAlert {
            user: "ana".into(),
            kinds: vec!["spike".into(), "emerging".into()],
            query: "product=Billing".into(),
            min_score: 2.5,
            target: Target::Webhook {
                url: "http://127.0.0.1:9/hook".into(),
                secret: "k".into(),
            },
            created_at: t("2026-11-01T10:00:00Z"),
        })
        .expect("add");
    assert_eq!(store.alerts().expect("list"), std::slice::from_ref(&alert));
    let now = t("2026-11-30T07:00:00Z");
    let keys = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // Seen at creation: recorded, no message.
    let none = store
        .record_findings(alert.id, &keys(&["a", "b"]), &mut |_| None, now)
        .expect("baseline");
    assert_eq!(none, None);
    // Only the new one reaches the payload, and one message is queued for it.
    let mut got = Vec::new();
    let id = store
        .record_findings(
            alert.id,
            &keys(&["a", "c", "b"]),
            &mut |new| {
                got = new.to_vec();
                Some("{\"findings\":[\"c\"]}".into())
            },
            now,
        )
        .expect("record")
        .expect("a message");
    assert_eq!(got, [1]);
    // Nothing new: no message, no payload asked for.
    let again = store
        .record_findings(alert.id, &keys(&["c", "a"]), &mut |_| panic!("asked"), now)
        .expect("again");
    assert_eq!(again, None);
    let lease = t("2026-11-30T07:05:00Z");
    let claimed = store
        .claim_message(now, lease)
        .expect("claim")
        .expect("one");
    assert_eq!(
        (claimed.id, claimed.alert, claimed.attempt),
        (id, alert.id, 1)
    );
    assert_eq!(claimed.payload, "{\"findings\":[\"c\"]}");
    assert_eq!(store.claim_message(now, lease).expect("claim"), None);
    store
        .finish_message(id, now, Some(("HTTP 500", t("2026-11-30T07:01:00Z"))))
        .expect("fail");
    assert_eq!(
        store
            .claim_message(t("2026-11-30T07:00:30Z"), lease)
            .expect("claim"),
        None
    );
    let second = store
        .claim_message(t("2026-11-30T07:01:00Z"), t("2026-11-30T07:06:00Z"))
        .expect("claim")
        .expect("retried");
    assert_eq!(second.attempt, 2);
    store
        .finish_message(id, t("2026-11-30T07:01:01Z"), None)
        .expect("sent");
    assert_eq!(
        store
            .claim_message(t("2026-12-30T00:00:00Z"), t("2026-12-30T00:05:00Z"))
            .expect("claim"),
        None
    );
    let m = store.alert_messages(alert.id).expect("messages");
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].state.as_str(), m[0].attempts), ("sent", 2));
    assert_eq!(m[0].sent_at, Some(t("2026-11-30T07:01:01Z")));
    store.remove_alert(alert.id).expect("remove");
    assert!(matches!(
        store.remove_alert(alert.id),
        Err(StoreError::NotFound)
    ));
    assert!(store.alert_messages(alert.id).expect("gone").is_empty());
}

fn saved_views(store: &mut dyn Store) {
    let at = chrono::Utc::now();
    let v = |name: &str, owner: Option<&str>, shared: bool, query: &str| NewView {
        name: name.to_owned(),
        owner: owner.map(str::to_owned),
        shared,
        query: query.to_owned(),
        created_at: at,
    };
    assert!(store.views().expect("list").is_empty());
    let a = store
        .save_view(&v(
            "Globex weekly",
            Some("ana"),
            false,
            "tab=client-overview&client=Globex",
        ))
        .expect("save");
    assert_eq!(a.created_at, to_micros(at));
    store
        .save_view(&v("billing", None, true, "product=Billing"))
        .expect("save");
    // The same name in another case replaces, with a new id.
    let b = store
        .save_view(&v("GLOBEX weekly", Some("bo"), true, "client=Globex"))
        .expect("replace");
    assert_ne!(a.id, b.id);
    let listed = store.views().expect("list");
    let names: Vec<(&str, Option<&str>, bool, &str)> = listed
        .iter()
        .map(|v| {
            (
                v.name.as_str(),
                v.owner.as_deref(),
                v.shared,
                v.query.as_str(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("billing", None, true, "product=Billing"),
            ("GLOBEX weekly", Some("bo"), true, "client=Globex")
        ]
    );
    assert_eq!(listed[1], b);
    store.delete_view("globex WEEKLY").expect("delete");
    assert!(matches!(
        store.delete_view("globex weekly"),
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.views().expect("list").len(), 1);
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

/// The columns the index is built from survive awkward text (tabs, newlines, backslashes,
/// non-ASCII) and NULLs exactly.
fn scan_reads_every_index_column(store: &mut dyn Store) {
    let mut odd = esc(
        Some("T\\1\tx"),
        "Tab\there \\N back\\slash\nnew línea 日本",
        Severity::Critical,
        "2023-12-31",
    );
    odd.product = Label::new("Pro\\duct\t2").expect("valid");
    odd.region = Label::new("Ñorth").expect("valid");
    odd.closed = NaiveDate::from_ymd_opt(2024, 1, 2);
    odd.status = Some(Text::new("\\N").expect("valid"));
    let plain = esc(None, "Plain", Severity::Low, "1999-01-01");
    import(store, "odd.csv", &[odd.clone(), plain.clone()]);
    let mut got = Vec::new();
    store
        .scan(&mut |r| {
            got.push((
                r.client.to_owned(),
                r.product.to_owned(),
                r.region.to_owned(),
                r.severity,
                r.opened,
                r.closed,
                r.ticket.map(str::to_owned),
                r.status.map(str::to_owned),
            ))
        })
        .expect("scan");
    got.sort();
    let want = |e: &NewEscalation| {
        (
            e.client.to_string(),
            e.product.to_string(),
            e.region.to_string(),
            e.severity,
            e.opened,
            e.closed,
            e.ticket.as_ref().map(|t| t.to_string()),
            e.status.as_ref().map(|t| t.to_string()),
        )
    };
    assert_eq!(got, vec![want(&plain), want(&odd)]);
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

/// What a write says of its row holds: a new row's id is the one the store keeps it under, a
/// ticket met again is a replacement (its first id kept), or, for a store that settles rows at
/// the commit, every row is pending; the commit's generation is the store's.
fn an_import_says_what_it_wrote(store: &mut dyn Store) {
    let before = store.generation().expect("generation");
    let mut tx = begin(store, "said.csv");
    let said: Vec<Written> = [
        esc(Some("T-1"), "A", Severity::Low, "2024-01-01"),
        esc(None, "B", Severity::Low, "2024-01-02"),
        esc(Some("T-1"), "A again", Severity::High, "2024-01-03"),
    ]
    .iter()
    .map(|r| tx.write(r).expect("write"))
    .collect();
    let committed = tx.commit(0).expect("commit");
    let generation = store.generation().expect("generation");
    assert_eq!(committed.generation, generation);
    assert!(generation > before);
    assert_eq!(
        (
            committed.record.rows_imported,
            committed.record.rows_replaced
        ),
        (3, 1)
    );
    let mut stored: Vec<(i64, String)> = scan(store).into_iter().map(|r| (r.0, r.1)).collect();
    stored.sort();
    match said.as_slice() {
        [Written::Pending, Written::Pending, Written::Pending] => {
            assert_eq!(stored.len(), 2);
        }
        [Written::New(a), Written::New(b), Written::Replaced] => {
            let mut want = vec![(*a, "A again".to_owned()), (*b, "B".to_owned())];
            want.sort();
            assert_eq!(stored, want);
        }
        other => panic!("a write said {other:?}"),
    }
}

fn uncommitted_import_leaves_nothing(store: &mut dyn Store) {
    import(
        store,
        "kept.csv",
        &[esc(Some("T-1"), "Acme", Severity::Low, "2024-01-01")],
    );
    let generation = store.generation().expect("generation");
    {
        let mut tx = begin(store, "lost.csv");
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
    assert_eq!(store.generation().expect("generation"), generation);
}

/// The first import into an empty store (which PostgreSQL loads with its keys dropped), dropped
/// before its commit: nothing stays, and the store goes on as before (a ticket met again
/// replaces its row).
fn an_abandoned_first_import_leaves_a_store_that_works(store: &mut dyn Store) {
    let generation = store.generation().expect("generation");
    {
        let mut tx = begin(store, "lost.csv");
        tx.write(&esc(Some("T-1"), "Lost", Severity::High, "2024-01-01"))
            .expect("write");
    }
    assert!(scan(store).is_empty());
    assert!(store.imports().expect("list").is_empty());
    assert_eq!(store.generation().expect("generation"), generation);
    import(
        store,
        "a.csv",
        &[esc(Some("T-1"), "First", Severity::Low, "2024-01-01")],
    );
    let again = import(
        store,
        "b.csv",
        &[esc(Some("T-1"), "Second", Severity::Low, "2024-01-01")],
    );
    assert_eq!((again.rows_imported, again.rows_replaced), (1, 1));
    assert_eq!(
        scan(store).iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["Second"]
    );
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
    let before = store.generation().expect("generation");
    assert_eq!(store.delete_import(a.id).expect("delete"), 2);
    let after = store.generation().expect("generation");
    assert!(
        after > before && before >= 2,
        "imports and deletes count: {before} then {after}"
    );
    assert!(store.delete_import(a.id).is_err());
    assert_eq!(
        store.generation().expect("generation"),
        after,
        "a failed delete does not"
    );
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

fn accounts_sessions_and_tokens(store: &mut dyn Store) {
    let now = chrono::Utc::now();
    let name = |n: &str| n.parse::<UserName>().expect("valid");
    assert_eq!(store.user_count().expect("count"), 0);
    let alice = store
        .create_user(&name("alice"), Role::Admin, "hash-a")
        .expect("create");
    let bob = store
        .create_user(&name("Bob"), Role::Viewer, "hash-b")
        .expect("create");
    assert!(
        matches!(
            store.create_user(&name("ALICE"), Role::Viewer, "x"),
            Err(StoreError::Conflict(_))
        ),
        "names are unique whatever their case"
    );
    assert_eq!(
        store
            .users()
            .expect("users")
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>(),
        ["alice", "Bob"]
    );
    let (found, hash) = store.user_by_name("Alice").expect("lookup").expect("found");
    assert_eq!(
        (found.id, found.role, hash.as_str()),
        (alice.id, Role::Admin, "hash-a")
    );
    assert_eq!(
        found.created_at, alice.created_at,
        "times survive the store"
    );
    store.set_role("bob", Role::Editor).expect("role");
    assert!(matches!(
        store.set_role("nobody", Role::Viewer),
        Err(StoreError::NotFound)
    ));

    // Sessions: found while fresh, gone once idle, all gone when the password changes.
    let idle = chrono::Duration::minutes(60);
    store.create_session("s-1", alice.id, now).expect("session");
    store.create_session("s-2", alice.id, now).expect("session");
    store.create_session("s-3", bob.id, now).expect("session");
    let user = store.session_user("s-1", idle, now).expect("lookup");
    assert_eq!(user.map(|u| u.name), Some("alice".to_owned()));
    let later = now + chrono::Duration::minutes(30);
    assert!(
        store
            .session_user("s-2", idle, later)
            .expect("lookup")
            .is_some()
    );
    assert!(
        store
            .session_user("s-2", idle, later + chrono::Duration::minutes(59))
            .expect("lookup")
            .is_some(),
        "use refreshes the idle clock"
    );
    assert!(
        store
            .session_user("s-1", idle, now + chrono::Duration::minutes(61))
            .expect("lookup")
            .is_none(),
        "idle sessions end"
    );
    assert!(
        store
            .session_user("s-1", idle, now)
            .expect("lookup")
            .is_none(),
        "and are deleted"
    );
    store.set_password("ALICE", "hash-a2").expect("password");
    assert!(
        store
            .session_user("s-2", idle, later)
            .expect("lookup")
            .is_none()
    );
    assert_eq!(
        store
            .user_by_name("alice")
            .expect("lookup")
            .expect("found")
            .1,
        "hash-a2"
    );
    store.delete_session("s-3").expect("logout");
    assert!(
        store
            .session_user("s-3", idle, now)
            .expect("lookup")
            .is_none()
    );
    assert!(matches!(
        store.set_password("nobody", "x"),
        Err(StoreError::NotFound)
    ));

    // API tokens: stored as digests, last use recorded, deleted with their account.
    let t = store
        .create_token(bob.id, "ci", "digest-1", now)
        .expect("token");
    assert_eq!(
        (t.user.as_str(), t.label.as_str(), t.last_used),
        ("Bob", "ci", None)
    );
    let used = store.token_user("digest-1", later).expect("lookup");
    assert_eq!(used.map(|u| u.role), Some(Role::Editor));
    assert!(
        store
            .token_user("digest-x", later)
            .expect("lookup")
            .is_none()
    );
    let listed = store.tokens().expect("tokens");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used.is_some());
    let t2 = store
        .create_token(alice.id, "other", "digest-2", now)
        .expect("token");
    store.delete_token(t2.id).expect("delete");
    assert!(matches!(
        store.delete_token(t2.id),
        Err(StoreError::NotFound)
    ));
    store.delete_user("bob").expect("delete");
    assert!(
        store
            .token_user("digest-1", later)
            .expect("lookup")
            .is_none()
    );
    assert!(store.tokens().expect("tokens").is_empty());
    assert!(matches!(
        store.delete_user("bob"),
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.user_count().expect("count"), 1);
}

fn shared_state(store: &mut dyn Store) {
    assert_eq!(store.setting_or_insert("k", "first").expect("set"), "first");
    assert_eq!(
        store.setting_or_insert("k", "second").expect("get"),
        "first",
        "the first value stays"
    );
    let now = chrono::Utc::now();
    let minute = chrono::Duration::minutes(1);
    store
        .record_login_failure(&["account:a", "ip:1"], now - minute * 20)
        .expect("record");
    store
        .record_login_failure(&["account:a", "ip:1"], now - minute * 5)
        .expect("record");
    store
        .record_login_failure(&["account:a"], now)
        .expect("record");
    let (n, oldest) = store
        .login_failures("account:a", now - minute * 15)
        .expect("count");
    assert_eq!(n, 2, "only failures in the window count");
    let oldest = oldest.expect("oldest");
    assert!((oldest - (now - minute * 5)).num_milliseconds().abs() < 5);
    assert_eq!(
        store
            .login_failures("ip:1", now - minute * 30)
            .expect("count")
            .0,
        2
    );
    store.clear_login_failures("account:a").expect("clear");
    assert_eq!(
        store
            .login_failures("account:a", now - minute * 30)
            .expect("count"),
        (0, None)
    );
    assert_eq!(
        store
            .login_failures("ip:1", now - minute * 30)
            .expect("count")
            .0,
        2
    );
}

/// Copies `from` into `to` and checks nothing was lost or changed.
pub(crate) fn copies_keep_everything(from: &mut dyn Store, to: &mut dyn Store) {
    let a = import(
        from,
        "a.csv",
        &[
            esc(Some("T-1"), "Acme", Severity::High, "2024-02-29"),
            esc(None, "Globex", Severity::Low, "2024-03-01"),
        ],
    );
    import(
        from,
        "b.csv",
        &[esc(Some("T-1"), "Acme", Severity::Critical, "2024-03-02")],
    );
    let user = from
        .create_user(
            &"carol".parse::<UserName>().expect("valid"),
            Role::Editor,
            "hash-c",
        )
        .expect("user");
    from.create_token(user.id, "ci", "digest-c", chrono::Utc::now())
        .expect("token");
    from.save_profile(&SourceProfile {
        name: "German CRM".into(),
        header: "kunde\u{1f}stufe".into(),
        mapping: r#"{"columns":[["client","Kunde"]]}"#.into(),
        created_at: chrono::Utc::now(),
    })
    .expect("profile");

    let mut seen = Vec::new();
    let summary = copy_store(from, to, &mut |s| seen.push(s.clone())).expect("copy");
    assert_eq!(
        (
            summary.imports,
            summary.escalations,
            summary.users,
            summary.tokens,
            summary.profiles
        ),
        (2, 2, 1, 1, 1)
    );
    assert_eq!(
        to.profiles().expect("profiles"),
        from.profiles().expect("profiles")
    );
    assert_eq!(to.imports().expect("list"), from.imports().expect("list"));
    let ids: Vec<i64> = scan(from).iter().map(|r| r.0).collect();
    assert_eq!(scan(to), scan(from));
    assert_eq!(
        to.escalations(&ids).expect("fetch"),
        from.escalations(&ids).expect("fetch")
    );
    assert_eq!(to.users().expect("users"), from.users().expect("users"));
    assert_eq!(to.tokens().expect("tokens"), from.tokens().expect("tokens"));
    assert_eq!(
        to.user_by_name("carol").expect("lookup").map(|u| u.1),
        Some("hash-c".to_owned())
    );
    assert!(
        matches!(
            copy_store(from, to, &mut |_| {}),
            Err(StoreError::Conflict(_))
        ),
        "a store with data is never overwritten"
    );
    // The copy goes on as a store: new rows get new ids, deletes still cascade.
    let c = import(
        to,
        "c.csv",
        &[esc(None, "New", Severity::Low, "2024-04-01")],
    );
    assert!(c.id > a.id + 1);
    assert_eq!(to.delete_import(a.id).expect("delete"), 1);
    assert_eq!(to.count().expect("count"), 2);
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
    let mut s = SqliteStore::open(&path).expect("reopen");
    assert_eq!(s.count().expect("count"), 1);
}

/// A SQLite file's whole-store read is split over connections, each part a range of ids, and
/// the parts read one snapshot even while another process commits imports and deletes: every
/// scan sees exactly the rows its generation holds.
#[test]
fn a_sqlite_file_is_read_in_parts_from_one_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("split.db");
    let mut store = SqliteStore::open(&path).expect("open");
    // Another process imports rows and deletes them again: a part that read outside the
    // snapshot would miss rows its generation holds, or read rows it does not.
    let batch = |b: usize, n: usize| -> Vec<NewEscalation> {
        (0..n)
            .map(|i| esc(Some(&format!("B{b}-{i}")), "A", Severity::Low, "2024-01-01"))
            .collect()
    };
    const FIRST: usize = 3000;
    const MORE: usize = 3;
    const IMPORTS: u64 = 150;
    import(&mut store, "first.csv", &batch(0, FIRST));
    let (g0, parts) = scan_in_parts(&mut store, 3);
    assert!(
        parts.iter().all(|p| !p.is_empty()),
        "every part reads a range"
    );
    for p in &parts {
        assert!(
            p.windows(2).all(|w| w[0].0 < w[1].0),
            "each part reads its ids in order"
        );
    }
    assert!(parts[0].last() < parts[1].first() && parts[1].last() < parts[2].first());

    let writer = std::thread::spawn({
        let path = path.clone();
        move || {
            let mut other = SqliteStore::open(&path).expect("open beside");
            for b in 1..=IMPORTS as usize {
                let more = import(&mut other, "more.csv", &batch(b, MORE));
                other.delete_import(more.id).expect("delete");
            }
        }
    });
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let done = writer.is_finished();
        let (generation, parts) = scan_in_parts(&mut store, 2);
        let mut ids: Vec<i64> = parts.iter().flatten().map(|r| r.0).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "no row read twice");
        // Each import is deleted at the next generation: odd ones hold its rows.
        let changes = usize::try_from(generation - g0).expect("generation moves forward");
        assert_eq!(
            n,
            FIRST + MORE * (changes % 2),
            "a scan at generation {generation} sees the rows it holds"
        );
        seen.insert(generation);
        if done {
            break;
        }
    }
    writer.join().expect("writer");
    assert!(
        seen.len() > 2,
        "scans ran while imports committed: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&(g0 + 2 * IMPORTS)));
}

#[test]
fn postgres_meets_the_contract() {
    use std::cell::RefCell;
    let dbs = RefCell::new(Vec::new());
    let make = || -> Box<dyn Store> {
        let db = testing::ScratchDb::create("postgres_meets_the_contract")
            .expect("checked below that the server is there");
        let store = PgStore::connect(db.url()).expect("connect");
        dbs.borrow_mut().push(db);
        Box::new(store)
    };
    // Skips (with a notice) or fails in CI when there is no server.
    let Some(probe) = testing::ScratchDb::create("postgres_meets_the_contract") else {
        return;
    };
    // Migrating twice (a second instance starting) is a no-op that keeps the data.
    let mut first = PgStore::connect(probe.url()).expect("connect");
    import(
        &mut first,
        "a.csv",
        &[esc(None, "A", Severity::Low, "2024-01-01")],
    );
    let mut second = PgStore::connect(probe.url()).expect("connect again");
    assert_eq!(second.count().expect("count"), 1);
    drop((first, second));
    run_all(&make);
}

#[test]
fn stores_copy_across_backends() {
    let Some(db) = testing::ScratchDb::create("stores_copy_across_backends") else {
        return;
    };
    let Some(back) = testing::ScratchDb::create("stores_copy_across_backends") else {
        return;
    };
    let mut sqlite = SqliteStore::in_memory().expect("open");
    let mut pg = PgStore::connect(db.url()).expect("connect");
    copies_keep_everything(&mut sqlite, &mut pg);
    // And back again, from PostgreSQL into a fresh SQLite store.
    let mut pg_source = PgStore::connect(back.url()).expect("connect");
    let mut sqlite_target = SqliteStore::in_memory().expect("open");
    copies_keep_everything(&mut pg_source, &mut sqlite_target);
}

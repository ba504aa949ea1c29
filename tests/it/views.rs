//! Saved views: a name and the dashboard's state, for their owner or everyone; saved from the
//! dashboard, listed in the navigation and on `/views`, managed by the command line too.

use escamap::domain::Role;

use crate::helpers::{TestApp, TestCli, attrs, fixture_csv, texts};
use crate::security::{add_user, signed_in};

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_view_saved_from_the_dashboard_is_listed_in_the_navigation_and_opens_that_state() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    let (_, doc) = t.html("/?tab=client-overview&product=API&top=2").await;
    let query = attrs(&doc, "form.save-view input[name=query]", "value");
    assert_eq!(query, ["tab=client-overview&product=API&top=2"]);
    let r = t
        .post_form(
            "/views",
            &[
                ("name", " API clients "),
                ("query", &query[0]),
                ("shared", "1"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(location(&r), "/views?saved=API+clients");
    let (_, page) = t.html("/views?saved=API+clients").await;
    assert!(texts(&page, ".notice")[0].contains("API clients"));
    assert_eq!(
        attrs(&page, "a.view-link", "href"),
        ["/?tab=client-overview&product=API&top=2"]
    );
    // Every main page lists it in the navigation; the link opens the dashboard in that state.
    for path in ["/", "/data", "/accounts", "/views"] {
        let (_, doc) = t.html(path).await;
        assert_eq!(
            attrs(&doc, "a.nav-view", "href"),
            ["/?tab=client-overview&product=API&top=2"],
            "{path}"
        );
    }
    let (_, opened) = t.html("/?tab=client-overview&product=API&top=2").await;
    assert_eq!(
        attrs(&opened, ".tabs a[aria-current=page]", "href").len(),
        1
    );
    assert_eq!(
        attrs(&opened, ".hm-wide .hm-cell[data-col=\"0\"]", "data-row").len(),
        2
    );
    // Deleting it.
    let r = t
        .post_form("/views/delete", &[("name", "api CLIENTS")])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, doc) = t.html("/views").await;
    assert!(attrs(&doc, "a.view-link", "href").is_empty());
    assert_eq!(texts(&doc, "#no-views").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn saving_a_view_checks_its_token_its_name_and_its_query() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    // A browser's request without the CSRF token: refused, in every body type. (A script on an
    // open server, neither cookie nor origin headers, needs none: the house rule.)
    let plain = t
        .client
        .post(t.url("/views"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("name", "x"), ("query", "tab=regional")])
        .send()
        .await
        .expect("post");
    assert_eq!(plain.status().as_u16(), 403);
    let csrf = t.csrf().await;
    for (ctype, body) in [
        (
            "application/json",
            format!(r#"{{"csrf":"{csrf}","name":"x","query":""}}"#),
        ),
        ("text/plain", format!("csrf={csrf}&name=x&query=")),
    ] {
        let r = t
            .client
            .post(t.url("/views"))
            .header("content-type", ctype)
            .header("x-csrf-token", &csrf)
            .body(body)
            .send()
            .await
            .expect("post");
        assert!(
            [400, 403, 415].contains(&r.status().as_u16()),
            "{ctype}: {}",
            r.status()
        );
    }
    for (name, query, param) in [
        ("", "tab=regional", "name"),
        ("ok", "tab=nowhere", "tab"),
        ("ok", "evil=1", "evil"),
        ("ok", "from=soon", "from"),
    ] {
        let r = t
            .post_form("/views", &[("name", name), ("query", query)])
            .await;
        assert_eq!(r.status().as_u16(), 400, "{name:?} {query:?}");
        let body = r.text().await.expect("body");
        assert!(body.contains(&format!("`{param}`")), "{body}");
    }
    let (_, doc) = t.html("/views").await;
    assert!(
        attrs(&doc, "a.view-link", "href").is_empty(),
        "nothing saved"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_view_is_its_owners_and_a_shared_one_is_managed_by_its_owner_or_an_admin() {
    let t = TestApp::with_csv(&fixture_csv()).await;
    add_user(&t, "ana", Role::Viewer);
    add_user(&t, "bo", Role::Viewer);
    add_user(&t, "root", Role::Admin);
    let ana = signed_in(&t, "ana").await;
    let bo = signed_in(&t, "bo").await;
    let root = signed_in(&t, "root").await;
    for (name, shared) in [("Ana only", None), ("Ana for all", Some("1"))] {
        let mut fields = vec![("name", name), ("query", "tab=regional")];
        if let Some(s) = shared {
            fields.push(("shared", s));
        }
        assert_eq!(
            ana.post_form("/views", &fields).await.status().as_u16(),
            303
        );
    }
    let names = |doc: &scraper::Html| texts(doc, "a.view-link");
    assert_eq!(
        names(&ana.html("/views").await.1),
        ["Ana for all", "Ana only"]
    );
    assert_eq!(names(&bo.html("/views").await.1), ["Ana for all"]);
    assert_eq!(names(&root.html("/views").await.1).len(), 2);
    // Bo may not delete or overwrite Ana's; the admin may.
    let r = bo
        .post_form("/views/delete", &[("name", "Ana for all")])
        .await;
    assert_eq!(r.status().as_u16(), 403);
    let r = bo
        .post_form(
            "/views",
            &[("name", "ana FOR all"), ("query", "tab=custom")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 409);
    let r = bo.post_form("/views/delete", &[("name", "Ana only")]).await;
    assert_eq!(
        r.status().as_u16(),
        404,
        "a view Bo cannot see is not there for him"
    );
    let r = root
        .post_form("/views/delete", &[("name", "Ana only")])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(names(&ana.html("/views").await.1), ["Ana for all"]);
    // Signed out: no page.
    let anon = t.with_new_client();
    assert_eq!(anon.get("/views").await.status().as_u16(), 303);
}

#[test]
fn the_command_line_lists_saves_and_deletes_views() {
    let cli = TestCli::new();
    assert!(cli.ok(&["views", "list"]).contains("no saved views yet"));
    let out = cli.ok(&[
        "views",
        "save",
        "Globex weekly",
        "--query",
        "/?tab=client-overview&client=Globex&q=",
    ]);
    assert!(out.contains("/?tab=client-overview&client=Globex"), "{out}");
    let list = cli.json(&["views", "list", "--json"]);
    assert_eq!(list[0]["name"], "Globex weekly");
    assert_eq!(list[0]["query"], "tab=client-overview&client=Globex");
    assert_eq!(list[0]["shared"], true);
    let err = cli.fails(&["views", "save", "bad", "--query", "tab=nope"]);
    assert!(err.contains("--query") && err.contains("`tab`"), "{err}");
    let err = cli.fails(&[
        "views",
        "save",
        "mine",
        "--query",
        "tab=regional",
        "--user",
        "nobody",
    ]);
    assert!(err.contains("no user \"nobody\""), "{err}");
    cli.ok(&["views", "delete", "GLOBEX weekly"]);
    let err = cli.fails(&["views", "delete", "Globex weekly"]);
    assert!(err.contains("no saved view"), "{err}");
}

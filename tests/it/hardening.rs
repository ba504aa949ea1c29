//! Regression tests for the defects found from outside (issue 9), each through the real server
//! over HTTP: CSRF whatever the Content-Type, stalled clients, import ids, and the smaller
//! findings (house-shaped rejections, 414/431, bounded `next`, `/readyz`, start-up line, file
//! modes, the delete confirmation, TRACE).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use escamap::domain::Role;
use escamap::web::ServerConfig;
use serde_json::Value;

use crate::helpers::{TestApp, TestCli, free_port, texts};
use crate::security::{PASSWORD, add_user, check_security_headers, signed_in};

/// The Content-Types a state-changing route is tried with.
const CONTENT_TYPES: [&str; 5] = [
    "",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XX",
    "application/json",
    "text/csv",
];

fn body_for(content_type: &str, csrf: Option<&str>) -> Vec<u8> {
    let csv = "id,client,product,region,severity,opened\nN-1,Acme,API,Europe,high,2024-01-05\n";
    match content_type {
        "" => Vec::new(),
        "application/x-www-form-urlencoded" => {
            let mut f =
                "name=mallory&role=admin&password=a+long+enough+password&user=victim&label=x"
                    .to_owned();
            if let Some(t) = csrf {
                f.push_str(&format!("&csrf={t}"));
            }
            f.into_bytes()
        }
        "multipart/form-data; boundary=XX" => {
            let mut m = String::new();
            if let Some(t) = csrf {
                m.push_str(&format!(
                    "--XX\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{t}\r\n"
                ));
            }
            m.push_str(&format!(
                "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--XX--\r\n"
            ));
            m.into_bytes()
        }
        "application/json" => br#"{"name":"mallory","role":"admin"}"#.to_vec(),
        _ => csv.as_bytes().to_vec(),
    }
}

/// A server with an admin signed in (cookie-borne session), a victim account with a token, and
/// an import.
struct World {
    admin: TestApp,
    token_id: i64,
    import_id: i64,
    /// An upload held for the admin's mapping step.
    held_id: String,
    admin_owner: String,
}

impl World {
    async fn new() -> Self {
        let t = TestApp::with_csv(&crate::helpers::fixture_csv()).await;
        add_user(&t, "boss", Role::Admin);
        add_user(&t, "victim", Role::Viewer);
        let (token, _) = t.state.app.create_token("victim", "ci").expect("token");
        let import_id = t.state.app.imports().expect("imports")[0].id;
        let admin = signed_in(&t, "boss").await;
        let boss = t.state.app.users().expect("users");
        let boss = boss
            .iter()
            .find(|u| u.name.as_str() == "boss")
            .expect("boss");
        let admin_owner = format!("user {}", boss.id);
        let held_id = t
            .state
            .held
            .uploads
            .put(
                &admin_owner,
                escamap::web::held::HeldUpload {
                    name: "held.csv".into(),
                    bytes: "Kunde,Stufe\nAcme,x\n".into(),
                },
                20,
            )
            .expect("held");
        t.state
            .app
            .save_profile("Kept", "a\u{1f}b", &Default::default())
            .expect("a profile");
        t.state
            .app
            .save_view(
                "mallory",
                "tab=regional",
                true,
                escamap::app::Viewer::Anyone,
            )
            .expect("a view");
        let (sub, _) = t
            .state
            .app
            .add_subscription(
                "victim",
                "daily 08:00",
                "UTC",
                None,
                escamap::store::Target::Email("victim@example.com".into()),
            )
            .expect("a subscription");
        let (alert, _) = t
            .state
            .app
            .add_alert(
                "victim",
                &[],
                "",
                0.0,
                escamap::store::Target::Email("victim@example.com".into()),
            )
            .expect("an alert");
        assert_eq!((sub.id, alert.id), (1, 1));
        Self {
            admin,
            token_id: token.id,
            import_id,
            held_id,
            admin_owner,
        }
    }

    /// Every state-changing route of the table, with this world's ids.
    fn changes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("POST", "/import".into()),
            ("POST", format!("/import/{}/delete", self.import_id)),
            ("POST", format!("/import/mapping/{}", self.held_id)),
            ("POST", format!("/import/mapping/{}/cancel", self.held_id)),
            ("POST", "/import/profiles/delete".into()),
            ("POST", "/views".into()),
            ("POST", "/views/delete".into()),
            ("POST", "/subscriptions".into()),
            ("POST", "/subscriptions/delete".into()),
            ("POST", "/alerts".into()),
            ("POST", "/alerts/delete".into()),
            ("POST", "/admin/users".into()),
            ("POST", "/admin/users/victim/delete".into()),
            ("POST", "/admin/users/victim/password".into()),
            ("POST", "/admin/users/victim/role".into()),
            ("POST", "/admin/tokens".into()),
            ("POST", format!("/admin/tokens/{}/delete", self.token_id)),
            ("POST", "/api/v1/imports".into()),
            ("DELETE", format!("/api/v1/imports/{}", self.import_id)),
            // Last: with its token, it signs the admin out.
            ("POST", "/logout".into()),
        ]
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        header_token: Option<&str>,
    ) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.admin.client.request(method, self.admin.url(path));
        if !content_type.is_empty() {
            req = req.header("content-type", content_type);
        }
        if let Some(t) = header_token {
            req = req.header("x-csrf-token", t);
        }
        req.body(body).send().await.expect("answer")
    }

    /// Nothing a refused request could have changed has changed.
    async fn untouched(&self, what: &str) {
        let app = &self.admin.state.app;
        let users: Vec<String> = app
            .users()
            .expect("users")
            .into_iter()
            .map(|u| u.name.to_string())
            .collect();
        assert!(
            users.contains(&"victim".to_owned()),
            "{what}: victim removed"
        );
        assert!(
            !users.contains(&"mallory".to_owned()),
            "{what}: account added"
        );
        let victim = app
            .users()
            .expect("users")
            .into_iter()
            .find(|u| u.name.as_str() == "victim");
        assert_eq!(
            victim.map(|u| u.role),
            Some(Role::Viewer),
            "{what}: role changed"
        );
        assert!(
            app.check_password("victim", PASSWORD)
                .expect("check")
                .is_some(),
            "{what}: password changed"
        );
        assert_eq!(
            app.tokens().expect("tokens").len(),
            1,
            "{what}: tokens changed"
        );
        assert_eq!(
            app.imports().expect("imports").len(),
            1,
            "{what}: imports changed"
        );
        assert_eq!(
            app.profiles().expect("profiles").len(),
            1,
            "{what}: profiles changed"
        );
        let views = app.views(escamap::app::Viewer::Anyone).expect("views");
        assert!(
            views.len() == 1 && views[0].query == "tab=regional",
            "{what}: views changed: {views:?}"
        );
        assert_eq!(
            app.subscriptions().expect("subscriptions").len(),
            1,
            "{what}: subscriptions changed"
        );
        assert_eq!(
            app.alerts().expect("alerts").len(),
            1,
            "{what}: alerts changed"
        );
        assert!(
            self.admin
                .state
                .held
                .uploads
                .get(&self.admin_owner, &self.held_id)
                .is_some(),
            "{what}: the held upload was dropped"
        );
        let (status, _) = self.admin.html("/admin").await;
        assert_eq!(status, 200, "{what}: the admin was signed out");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_changes_tried_are_every_state_changing_route_of_the_table() {
    let w = World::new().await;
    let tried: Vec<(String, String)> = w
        .changes()
        .into_iter()
        .map(|(m, p)| {
            let template: Vec<&str> = p
                .split('/')
                .map(|seg| {
                    if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty()
                        || seg == w.held_id
                    {
                        "{id}"
                    } else if seg == "victim" {
                        "{name}"
                    } else {
                        seg
                    }
                })
                .collect();
            (m.to_owned(), template.join("/"))
        })
        .collect();
    for (method, template, access) in escamap::web::routes::declared() {
        // Reads change nothing; signing in needs no session to ride on (its own tests).
        if method == reqwest::Method::GET
            || method == reqwest::Method::HEAD
            || access.role.is_none()
        {
            continue;
        }
        let route = (method.to_string(), template.to_owned());
        assert!(tried.contains(&route), "{route:?} is not tried");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cookie_borne_change_without_a_token_is_refused_whatever_its_content_type() {
    let w = World::new().await;
    for (method, path) in w.changes() {
        for ct in CONTENT_TYPES {
            let resp = w.send(method, &path, ct, body_for(ct, None), None).await;
            let what = format!("{method} {path} as {ct:?} without a token");
            assert_eq!(resp.status().as_u16(), 403, "{what}");
            w.untouched(&what).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_token_in_a_multipart_body_is_refused_on_the_upload_routes() {
    let w = World::new().await;
    for path in ["/import", "/api/v1/imports"] {
        let ct = "multipart/form-data; boundary=XX";
        let resp = w
            .send("POST", path, ct, body_for(ct, Some("not-the-token")), None)
            .await;
        assert_eq!(resp.status().as_u16(), 403, "{path}");
        w.untouched(path).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_body_carries_no_token_for_routes_that_take_no_upload() {
    // Even the right token inside a multipart body does not pass a route that is no upload:
    // only the two upload routes read their token there.
    let w = World::new().await;
    let token = w.admin.csrf().await;
    let ct = "multipart/form-data; boundary=XX";
    for (method, path) in w.changes() {
        if path == "/import" || path == "/api/v1/imports" {
            continue;
        }
        let resp = w
            .send(method, &path, ct, body_for(ct, Some(&token)), None)
            .await;
        assert_eq!(resp.status().as_u16(), 403, "{method} {path}");
        w.untouched(&path).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_its_token_every_change_passes_the_gate_whatever_its_content_type() {
    for ct in CONTENT_TYPES {
        let w = World::new().await;
        let token = w.admin.csrf().await;
        for (method, path) in w.changes() {
            let resp = w
                .send(method, &path, ct, body_for(ct, Some(&token)), Some(&token))
                .await;
            let status = resp.status().as_u16();
            let body = resp.text().await.expect("body");
            // The handler ran: it may refuse the body (400, 404, 409, 415, 422), never the CSRF check.
            assert!(
                status != 403 && status < 500,
                "{method} {path} as {ct:?} with its token: {status} {body}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_a_browser_says_came_from_elsewhere_is_refused_even_with_its_token() {
    let w = World::new().await;
    let token = w.admin.csrf().await;
    let path = format!("/admin/tokens/{}/delete", w.token_id);
    let port = w.admin.base.rsplit(':').next().expect("port").to_owned();
    for (header, value) in [
        ("origin", "http://127.0.0.1:1".to_owned()),
        ("origin", "null".to_owned()),
        ("origin", format!("http://evil.example:{port}")),
        ("sec-fetch-site", "same-site".to_owned()),
        ("sec-fetch-site", "cross-site".to_owned()),
    ] {
        let resp = w
            .admin
            .client
            .post(w.admin.url(&path))
            .header("x-csrf-token", &token)
            .header(header, &value)
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 403, "{header}: {value}");
        w.untouched(&value).await;
    }
    // The same origin passes.
    let resp = w
        .admin
        .client
        .post(w.admin.url(&path))
        .header("x-csrf-token", &token)
        .header("origin", w.admin.base.clone())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 303);
    assert!(w.admin.state.app.tokens().expect("tokens").is_empty());
}

/// Opens a connection from `from` (a loopback address) and sends half a request head.
async fn stalled(to: SocketAddr, from: IpAddr) -> Option<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(from, 0)).ok()?;
    let mut s = tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
        .await
        .ok()?
        .ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.ok()?;
    Some(s)
}

fn addr_of(t: &TestApp) -> SocketAddr {
    t.base
        .trim_start_matches("http://")
        .parse()
        .expect("a socket address")
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_connections_from_one_address_do_not_starve_another() {
    let t = TestApp::spawn_with(ServerConfig {
        header_read_timeout: Duration::from_secs(120),
        ..ServerConfig::default()
    })
    .await;
    let to = addr_of(&t);
    let attacker: IpAddr = [127, 0, 0, 1].into();
    let mut held = Vec::new();
    for _ in 0..1_100 {
        if let Some(s) = stalled(to, attacker).await {
            held.push(s);
        }
    }
    assert!(
        held.len() >= 1_000,
        "{} stalled connections opened",
        held.len()
    );
    let other = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for i in 0..7 {
        let resp = other
            .get(format!("{}/healthz", t.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} from another address was not served: {e}"));
        assert_eq!(resp.status().as_u16(), 200);
    }
    drop(held);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_connection_is_closed_after_the_header_read_timeout() {
    let t = TestApp::spawn_with(ServerConfig {
        header_read_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let to = addr_of(&t);
    let outcome = tokio::task::spawn_blocking(move || {
        let mut results = Vec::new();
        // Half a head, and a connection that sends nothing at all.
        for first in [&b"GET / HTTP/1.1\r\nHost: x\r\n"[..], b""] {
            let mut s = TcpStream::connect(to).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            s.write_all(first).expect("write");
            let started = Instant::now();
            let mut buf = Vec::new();
            let read = s.read_to_end(&mut buf);
            results.push((read.is_ok(), started.elapsed()));
        }
        results
    })
    .await
    .expect("reader");
    for (closed, after) in outcome {
        assert!(closed, "the server closed the connection (read ended)");
        assert!(after < Duration::from_secs(15), "closed after {after:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_stalled_connections_exits_within_the_shutdown_deadline() {
    let t = TestCli::new();
    let port = free_port();
    let mut server = t.serve(
        &[
            "--port",
            &port.to_string(),
            "--no-sample",
            "--shutdown-timeout-secs",
            "2",
        ],
        &[],
        port,
    );
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    // Half a head, and a request whose body never comes.
    let mut head = TcpStream::connect(to).expect("connect");
    head.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let mut body = TcpStream::connect(to).expect("connect");
    body.write_all(
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nname=",
    )
    .expect("write");
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.0.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let started = Instant::now();
    let status = loop {
        if let Some(s) = server.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still running {:?} after SIGTERM",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "a clean exit: {status}");
    drop((head, body));
}

#[tokio::test(flavor = "multi_thread")]
async fn import_ids_are_never_reused() {
    let t = TestApp::spawn().await;
    // A script on the open loopback server: no cookies, so no CSRF token.
    let script = reqwest::Client::new();
    let mut ids = Vec::new();
    for (i, name) in ["a.csv", "b.csv", "c.csv"].iter().enumerate() {
        if i == 2 {
            let resp = script
                .delete(t.url(&format!("/api/v1/imports/{}", ids[1])))
                .send()
                .await
                .expect("delete");
            assert_eq!(resp.status().as_u16(), 200);
        }
        let csv = format!(
            "id,client,product,region,severity,opened\nT-{i},Acme,API,Europe,high,2024-01-0{}\n",
            i + 1
        );
        let resp = script
            .post(t.url(&format!("/api/v1/imports?filename={name}")))
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("import");
        assert_eq!(resp.status().as_u16(), 201);
        let report: Value = resp.json().await.expect("report");
        ids.push(report["import_id"].as_i64().expect("an id"));
    }
    assert_eq!(ids[0], 1);
    assert_eq!(ids[1], 2);
    assert_eq!(
        ids[2], 3,
        "the id of the deleted import #2 was handed out again"
    );
    // A retried delete of #2 now finds nothing instead of the newer import.
    let resp = t
        .client
        .delete(t.url("/api/v1/imports/2"))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(t.state.app.imports().expect("imports").len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_path_values_answer_in_the_house_shape() {
    let t = TestApp::with_csv(&crate::helpers::fixture_csv()).await;
    let script = reqwest::Client::new();
    for id in ["abc", "99999999999999999999999", "1.5"] {
        let resp = script
            .delete(t.url(&format!("/api/v1/imports/{id}")))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 400, "{id}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .expect("type")
                .starts_with("application/json")
        );
        let body: Value = resp.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "invalid_parameter", "{id}");
        assert_eq!(body["error"]["parameter"], "id", "{id}");
    }
    // On a page: the error page, naming the parameter.
    let token = t.csrf().await;
    let resp = t
        .client
        .post(t.url("/import/abc/delete"))
        .header("x-csrf-token", &token)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 400);
    let html = resp.text().await.expect("html");
    let doc = scraper::Html::parse_document(&html);
    assert!(texts(&doc, "main").join(" ").contains("`id`"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_forms_and_queries_answer_in_the_house_shape() {
    let t = TestApp::spawn().await;
    add_user(&t, "boss", Role::Admin);
    let admin = signed_in(&t, "boss").await;
    // A form missing a field.
    let resp = admin
        .post_form(
            "/admin/users",
            &[("name", "newcomer"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 400);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    let html = resp.text().await.expect("html");
    assert!(!html.contains("Failed to deserialize"), "{html}");
    let doc = scraper::Html::parse_document(&html);
    assert!(texts(&doc, "main").join(" ").contains("`role`"), "{html}");
    // A query string of the wrong type.
    let resp = admin.get("/import?deleted=abc").await;
    assert_eq!(resp.status().as_u16(), 400);
    let html = resp.text().await.expect("html");
    assert!(!html.contains("Failed to deserialize"), "{html}");
    assert!(html.contains("`deleted`"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_addresses_and_headers_get_the_house_answer_and_its_headers() {
    let t = TestApp::spawn().await;
    let long = "a".repeat(20_000);
    for (path, json) in [
        (format!("/?q={long}"), false),
        (format!("/api/v1/stats?q={long}"), true),
    ] {
        let resp = t.get(&path).await;
        assert_eq!(resp.status().as_u16(), 414, "{}", &path[..20]);
        check_security_headers(&resp, "414");
        let ct = resp.headers()["content-type"]
            .to_str()
            .expect("type")
            .to_owned();
        assert!(
            ct.starts_with(if json {
                "application/json"
            } else {
                "text/html"
            }),
            "{ct}"
        );
    }
    // Many headers, and one huge header.
    let mut many = t.client.get(t.url("/"));
    for i in 0..150 {
        many = many.header(format!("x-h{i}"), "1");
    }
    let resp = many.send().await.expect("answer");
    assert_eq!(resp.status().as_u16(), 431);
    check_security_headers(&resp, "431 for many headers");
    let resp = t
        .client
        .get(t.url("/api/v1/stats"))
        .header("x-big", "b".repeat(100_000))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 431);
    check_security_headers(&resp, "431 for a large header");
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "headers_too_large");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_login_redirect_carries_a_bounded_next() {
    let t = TestApp::spawn().await;
    add_user(&t, "boss", Role::Admin);
    let resp = t.get(&format!("/data?q={}", "x".repeat(12_000))).await;
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let location = resp.headers()["location"].to_str().expect("location");
    assert!(
        location.len() < 2_200,
        "Location of {} bytes",
        location.len()
    );
    assert_eq!(location, "/login?next=%2Fdata");
    // A short address is carried whole.
    let resp = t.get("/data?product=API").await;
    assert_eq!(
        resp.headers()["location"].to_str().expect("location"),
        "/login?next=%2Fdata%3Fproduct%3DAPI"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_tells_anonymous_callers_ready_and_nothing_more() {
    let t = TestApp::with_csv(&crate::helpers::fixture_csv()).await;
    add_user(&t, "boss", Role::Admin);
    let (status, body) = t.json("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({"status": "ready"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_can_neither_open_the_delete_confirmation_nor_trace() {
    let t = TestApp::with_csv(&crate::helpers::fixture_csv()).await;
    add_user(&t, "viewer", Role::Viewer);
    let viewer = signed_in(&t, "viewer").await;
    let id = t.state.app.imports().expect("imports")[0].id;
    let (status, _) = viewer.html(&format!("/import/{id}/delete")).await;
    assert_eq!(status, 403);
    for path in ["/", "/data", "/api/v1/stats"] {
        let resp = viewer
            .client
            .request(
                reqwest::Method::from_bytes(b"TRACE").expect("method"),
                viewer.url(path),
            )
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status().as_u16(), 405, "TRACE {path}");
        check_security_headers(&resp, "405");
    }
    let resp = viewer
        .client
        .put(viewer.url("/api/v1/stats"))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 405);
    assert!(
        resp.headers().contains_key("allow"),
        "405 names what is allowed"
    );
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[test]
fn the_start_up_line_names_https_when_serving_tls() {
    let t = TestCli::new();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let cert_path = t.write("cert.pem", cert.cert.pem());
    let key_path = t.write("key.pem", cert.signing_key.serialize_pem());
    let port = free_port();
    let mut child = t
        .cmd()
        .args([
            "serve",
            "--port",
            &port.to_string(),
            "--no-sample",
            "--tls-cert",
            &cert_path,
            "--tls-key",
            &key_path,
        ])
        .env_remove("ESCAMAP_PORT")
        .env_remove("FLASK_PORT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !line.contains("serving on") && Instant::now() < deadline {
        line.clear();
        if std::io::BufRead::read_line(&mut stderr, &mut line).unwrap_or(0) == 0 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.contains(&format!("https://127.0.0.1:{port}/")),
        "{line}"
    );
}

#[cfg(unix)]
#[test]
fn the_store_and_its_wal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestCli::new();
    let csv = t.write(
        "a.csv",
        "id,client,product,region,severity,opened\nT-1,Acme,API,Europe,high,2024-01-05\n",
    );
    t.ok(&["import", &csv]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode();
    assert_eq!(mode(&t.db) & 0o777, 0o600, "the store");
    // A server holds the WAL open; check it while one runs.
    let port = free_port();
    let _server = t.serve(&["--port", &port.to_string(), "--no-sample"], &[], port);
    let wal = std::path::PathBuf::from(format!("{}-wal", t.db.display()));
    assert!(wal.exists(), "a WAL beside the store");
    assert_eq!(mode(&wal) & 0o777, 0o600, "the WAL");
    // An existing store that others could read is narrowed on open.
    drop(_server);
    std::fs::set_permissions(&t.db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    t.ok(&["stats"]);
    assert_eq!(mode(&t.db) & 0o777, 0o600, "narrowed");
}

#[test]
fn no_unmaintained_pem_parser_is_linked() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock");
    assert!(
        !lock.contains("name = \"rustls-pemfile\""),
        "rustls-pemfile is unmaintained (RustSec): use rustls-pki-types' PEM API"
    );
}

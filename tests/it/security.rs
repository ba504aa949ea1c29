//! Security behaviour over real HTTP: headers on every kind of response, roles against routes,
//! CSRF, login, logout, expiry, throttling, rate limits, panics, start-up policy, TLS.

use std::time::Duration;

use axum::routing::get;
use escamap::domain::{Password, Role, UserName};
use escamap::web::{AppState, ServerConfig};
use serde_json::Value;

use crate::helpers::{TestApp, TestCli, attrs, fixture_csv, free_port, sign_in, texts};

pub(crate) const PASSWORD: &str = "a long enough password";

pub(crate) fn add_user(t: &TestApp, name: &str, role: Role) {
    let name: UserName = name.parse().expect("valid name");
    t.state
        .app
        .add_user(&name, role, &Password::new(PASSWORD).expect("valid"))
        .expect("account created");
}

/// A fresh client (its own cookies) signed in as `name`.
pub(crate) async fn signed_in(t: &TestApp, name: &str) -> TestApp {
    let c = t.with_new_client();
    let resp = c
        .post_form(
            "/login",
            &[("name", name), ("password", PASSWORD), ("next", "/")],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 303, "login as {name}");
    c
}

/// The `Set-Cookie` headers of a response.
fn set_cookies(resp: &reqwest::Response) -> Vec<&str> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

pub(crate) fn check_security_headers(resp: &reqwest::Response, what: &str) {
    let h = resp.headers();
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{what}: no CSP"));
    for d in [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(d), "{what}: CSP lacks {d}: {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
    let want = [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("x-frame-options", "DENY"),
    ];
    for (k, v) in want {
        assert_eq!(
            h.get(k).and_then(|x| x.to_str().ok()),
            Some(v),
            "{what}: {k}"
        );
    }
    assert!(
        h.get("permissions-policy")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.contains("camera=()")),
        "{what}"
    );
    assert!(h.get("server").is_none(), "{what}: a Server header");
}

async fn boom() -> &'static str {
    panic!("forced panic for the test")
}

async fn panicking_app(config: ServerConfig) -> TestApp {
    // The real routes and layers, plus one route that panics.
    TestApp::spawn_router(config, |state: AppState| {
        escamap::web::with_layers(escamap::web::routes().route("/boom", get(boom)), state)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_response_carries_the_security_headers() {
    let mut limits = escamap::web::limits::RateLimits::default();
    limits.set("api=30/minute").expect("valid");
    let t = panicking_app(ServerConfig {
        max_body_bytes: 1 << 16,
        rate_limits: limits,
        ..Default::default()
    })
    .await;
    let (_, doc) = t.html("/").await;
    let css = attrs(&doc, "link[rel=stylesheet]", "href")[0].clone();
    let mut cases: Vec<(String, u16)> = vec![
        ("/".into(), 200),
        ("/data".into(), 200),
        ("/api/v1/stats".into(), 200),
        (css, 200),
        ("/nothing".into(), 404),
        ("/api/v1/nothing".into(), 404),
        ("/api/v1/heatmap?rows=day".into(), 400),
        ("/boom".into(), 500),
        ("/import/1/delete".into(), 404),
    ];
    for (path, status) in cases.drain(..) {
        let resp = t.get(&path).await;
        assert_eq!(resp.status().as_u16(), status, "{path}");
        check_security_headers(&resp, &path);
        let cache = resp
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if path.starts_with("/assets/") {
            assert!(cache.contains("immutable"), "{path}: {cache}");
        } else {
            assert_eq!(cache, "no-store", "{path}");
        }
        assert!(
            resp.headers().get("strict-transport-security").is_none(),
            "no HSTS over plain HTTP"
        );
    }
    // The panic became a 500 with an error id, and the server keeps serving.
    let resp = t.get("/boom").await;
    let doc = scraper::Html::parse_document(&resp.text().await.expect("html"));
    assert!(texts(&doc, ".error-page p")[0].contains("Error id:"));
    assert_eq!(t.get("/healthz").await.status().as_u16(), 200);
    // 413, a redirect and a 429.
    let resp = t.upload("/import", "big.csv", &vec![b'x'; 1 << 17]).await;
    assert_eq!(resp.status().as_u16(), 413);
    check_security_headers(&resp, "413");
    add_user(&t, "viewer", Role::Viewer);
    let anon = t.with_new_client();
    let resp = anon.get("/data").await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/login?next=%2Fdata");
    check_security_headers(&resp, "redirect");
    let v = signed_in(&t, "viewer").await;
    let mut last = None;
    for _ in 0..40 {
        let r = v.get("/api/v1/stats").await;
        if r.status().as_u16() == 429 {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("the API limit of 30/minute is reached within 40 requests");
    check_security_headers(&r, "429");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"]["code"],
        "rate_limited"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hsts_is_sent_behind_a_trusted_proxy_that_says_https() {
    let config = ServerConfig {
        trusted_proxies: vec!["127.0.0.1".parse().expect("ip")],
        ..Default::default()
    };
    let t = TestApp::spawn_with(config).await;
    let resp = t
        .client
        .get(t.url("/"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("get");
    assert!(
        resp.headers()["strict-transport-security"]
            .to_str()
            .expect("hsts")
            .contains("max-age=")
    );
    let cookies = set_cookies(&resp);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-escamap_csrf=") && c.contains("Secure")),
        "{cookies:?}"
    );
    let untrusted = TestApp::spawn().await;
    let resp = untrusted
        .client
        .get(untrusted.url("/"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("get");
    assert!(
        resp.headers().get("strict-transport-security").is_none(),
        "an untrusted peer cannot claim HTTPS"
    );
}

/// A server with the fixture and one account per role: vera (viewer), ed (editor), ada (admin).
async fn roles_app() -> TestApp {
    let t = TestApp::with_csv(&fixture_csv()).await;
    for (name, role) in [
        ("vera", Role::Viewer),
        ("ed", Role::Editor),
        ("ada", Role::Admin),
    ] {
        add_user(&t, name, role);
    }
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_pages_go_to_the_login_and_the_api_answers_a_bearer_challenge() {
    let t = roles_app().await;
    // Anonymous: pages redirect to the login, the API answers 401 with a Bearer challenge.
    let anon = t.with_new_client();
    for path in ["/", "/data", "/import", "/admin", "/data.csv"] {
        let r = anon.get(path).await;
        assert_eq!(r.status().as_u16(), 303, "{path}");
        assert!(
            r.headers()["location"]
                .to_str()
                .expect("loc")
                .starts_with("/login?next=")
        );
    }
    for path in [
        "/api/v1/stats",
        "/api/v1/heatmap?view=regional",
        "/api/v1/escalations",
        "/api/v1/imports",
    ] {
        let r = anon.get(path).await;
        assert_eq!(r.status().as_u16(), 401, "{path}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
    assert_eq!(anon.get("/login").await.status().as_u16(), 200);
    assert_eq!(anon.get("/healthz").await.status().as_u16(), 200);
    let r = anon
        .upload(
            "/api/v1/imports",
            "x.csv",
            b"client,severity,opened\nA,low,2024-01-01\n",
        )
        .await;
    assert!(
        [401, 403].contains(&r.status().as_u16()),
        "anonymous import refused: {}",
        r.status()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_role_reads_imports_and_administers_as_its_role_allows() {
    let t = roles_app().await;
    let csv = b"client,severity,opened\nRoleTest,low,2024-01-01\n";
    let expect = [
        ("vera", 403u16, 403u16),
        ("ed", 201, 403),
        ("ada", 201, 200),
    ];
    for (name, import_status, admin_status) in expect {
        let c = signed_in(&t, name).await;
        assert_eq!(c.get("/").await.status().as_u16(), 200, "{name}: dashboard");
        assert_eq!(
            c.get("/api/v1/stats").await.status().as_u16(),
            200,
            "{name}: read API"
        );
        assert_eq!(
            c.upload("/import", "r.csv", csv).await.status().as_u16(),
            import_status,
            "{name}: page import"
        );
        assert_eq!(
            c.upload("/api/v1/imports", "r.csv", csv)
                .await
                .status()
                .as_u16(),
            import_status,
            "{name}: API import"
        );
        assert_eq!(
            c.get("/admin").await.status().as_u16(),
            admin_status,
            "{name}: admin page"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_without_a_valid_csrf_token_is_refused_for_every_role() {
    let t = roles_app().await;
    let csv = b"client,severity,opened\nRoleTest,low,2024-01-01\n";
    for name in ["vera", "ed", "ada"] {
        let c = signed_in(&t, name).await;
        // The same change without the CSRF token is refused for everyone.
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(csv.to_vec()).file_name("r.csv"),
        );
        let r = c
            .client
            .post(c.url("/import"))
            .multipart(form)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 403, "{name}: import without CSRF");
        let r = c
            .client
            .delete(c.url("/api/v1/imports/1"))
            .send()
            .await
            .expect("delete");
        assert_eq!(r.status().as_u16(), 403, "{name}: API delete without CSRF");
        let r = c
            .client
            .post(c.url("/api/v1/imports"))
            .header("content-type", "text/csv")
            .header("x-csrf-token", "forged")
            .body(csv.to_vec())
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 403, "{name}: forged CSRF token");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_need_no_csrf_token_and_carry_their_accounts_role() {
    let t = roles_app().await;
    let csv = b"client,severity,opened\nRoleTest,low,2024-01-01\n";
    // API tokens: no CSRF needed, the role applies, a bad token is 401.
    for (name, status) in [("vera", 403u16), ("ed", 201)] {
        let (_, token) = t.state.app.create_token(name, "test").expect("token");
        let client = reqwest::Client::new();
        let r = client
            .post(t.url("/api/v1/imports?filename=t.csv"))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(csv.to_vec())
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), status, "{name} with a token");
        let r = client
            .get(t.url("/api/v1/stats"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 200);
    }
    let r = reqwest::Client::new()
        .get(t.url("/api/v1/stats"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_manage_accounts_and_a_viewer_cannot() {
    let t = roles_app().await;
    // The admin page manages accounts; a viewer cannot post to it even with a valid token.
    let admin = signed_in(&t, "ada").await;
    let r = admin
        .post_form(
            "/admin/users",
            &[
                ("name", "newbie"),
                ("role", "viewer"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let r = admin
        .post_form(
            "/admin/users",
            &[
                ("name", "newbie"),
                ("role", "viewer"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 409, "a taken name");
    let r = admin
        .post_form(
            "/admin/users",
            &[
                ("name", "shorty"),
                ("role", "viewer"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 400, "a short password");
    let r = admin
        .post_form("/admin/tokens", &[("user", "newbie"), ("label", "script")])
        .await;
    assert_eq!(r.status().as_u16(), 201);
    let doc = scraper::Html::parse_document(&r.text().await.expect("html"));
    assert_eq!(
        texts(&doc, "#new-token")[0].len(),
        64,
        "the new token is shown once"
    );
    let viewer = signed_in(&t, "vera").await;
    let r = viewer
        .post_form(
            "/admin/users",
            &[("name", "evil"), ("role", "admin"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(
        t.state
            .app
            .users()
            .expect("users")
            .iter()
            .all(|u| u.name != "evil")
    );
}

/// A server with one admin, ada, a 2 s idle expiry, and a per-address login limit raised so that
/// the per-account throttle is what trips.
async fn login_app() -> TestApp {
    let mut rate_limits = escamap::web::limits::RateLimits::default();
    rate_limits.set("login=100/minute").expect("valid");
    let config = ServerConfig {
        session_idle: Duration::from_secs(2),
        rate_limits,
        ..Default::default()
    };
    let t = TestApp::spawn_with(config).await;
    add_user(&t, "ada", Role::Admin);
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_form_without_its_csrf_token_is_refused() {
    let t = login_app().await;
    // A login form without its CSRF token is refused.
    let r = t
        .with_new_client()
        .client
        .post(t.url("/login"))
        .form(&[("name", "ada"), ("password", "x")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_name_and_a_wrong_password_get_the_same_answer() {
    let t = login_app().await;
    // The same answer for a wrong name and a wrong password.
    let c = t.with_new_client();
    let wrong_pw = c
        .post_form(
            "/login",
            &[("name", "ada"), ("password", "not the password")],
        )
        .await;
    let wrong_user = c
        .post_form(
            "/login",
            &[("name", "nobody"), ("password", "not the password")],
        )
        .await;
    assert_eq!(
        (wrong_pw.status().as_u16(), wrong_user.status().as_u16()),
        (401, 401)
    );
    let msg = |body: String| texts(&scraper::Html::parse_document(&body), ".login .error");
    assert_eq!(
        msg(wrong_pw.text().await.expect("html")),
        msg(wrong_user.text().await.expect("html"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_sets_a_fresh_httponly_session_stays_on_site_and_logout_ends_it() {
    let t = login_app().await;
    let c = t.with_new_client();
    // A login sets an HttpOnly, SameSite cookie, and each login gets a new session.
    let session_of = |r: &reqwest::Response| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("escamap_session="))
            .map(str::to_owned)
    };
    let r = c
        .post_form(
            "/login",
            &[
                ("name", "ada"),
                ("password", PASSWORD),
                ("next", "/data?page=1"),
            ],
        )
        .await;
    assert_eq!(r.headers()["location"], "/data?page=1");
    let first = session_of(&r).expect("a session cookie");
    assert!(
        first.contains("HttpOnly") && first.contains("SameSite=Lax"),
        "{first}"
    );
    let r = c
        .post_form(
            "/login",
            &[
                ("name", "ada"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.headers()["location"], "/", "no open redirect");
    assert_ne!(session_of(&r).expect("renewed"), first, "renewed on login");
    assert_eq!(c.get("/").await.status().as_u16(), 200);

    // Logout ends the session.
    let r = c.post_form("/logout", &[]).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(c.get("/").await.status().as_u16(), 303, "signed out");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_expires() {
    let t = login_app().await;
    // Idle expiry (2 s here).
    let c = t.with_new_client();
    c.post_form("/login", &[("name", "ada"), ("password", PASSWORD)])
        .await;
    assert_eq!(c.get("/").await.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    assert_eq!(
        c.get("/").await.status().as_u16(),
        303,
        "expired after being idle"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_ends_the_accounts_sessions() {
    let t = login_app().await;
    // A password change ends the account's sessions.
    let c = t.with_new_client();
    c.post_form("/login", &[("name", "ada"), ("password", PASSWORD)])
        .await;
    t.state
        .app
        .set_password(
            "ada",
            &Password::new("another long password").expect("valid"),
        )
        .expect("changed");
    assert_eq!(c.get("/").await.status().as_u16(), 303);
}

#[tokio::test(flavor = "multi_thread")]
async fn five_failures_lock_the_account_with_retry_after() {
    let t = login_app().await;
    // Five failures lock the account for a while, whatever the address; right password included.
    let c = t.with_new_client();
    for _ in 0..5 {
        assert_eq!(
            c.post_form(
                "/login",
                &[("name", "ada"), ("password", "wrong password!")]
            )
            .await
            .status()
            .as_u16(),
            401
        );
    }
    let r = c
        .post_form("/login", &[("name", "ada"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_clients_get_the_originals_limits_and_assets_are_free() {
    // Remote anonymous clients, seen through a trusted proxy's X-Forwarded-For.
    let config = ServerConfig {
        auth: escamap::web::AuthMode::Accounts,
        trusted_proxies: vec!["127.0.0.1".parse().expect("ip")],
        rate_limits: {
            let mut l = escamap::web::limits::RateLimits::default();
            l.set("anonymous-dashboard=3/minute").expect("valid");
            l
        },
        ..Default::default()
    };
    let t = TestApp::spawn_with(config).await;
    add_user(&t, "someone", Role::Viewer);
    let (_, doc) = t.html("/login").await;
    let css = attrs(&doc, "link[rel=stylesheet]", "href")[0].clone();
    let from = |ip: &'static str| t.client.get(t.url("/")).header("x-forwarded-for", ip);
    for _ in 0..3 {
        assert_eq!(
            from("203.0.113.7")
                .send()
                .await
                .expect("get")
                .status()
                .as_u16(),
            303
        );
    }
    let r = from("203.0.113.7").send().await.expect("get");
    assert_eq!(
        r.status().as_u16(),
        429,
        "the fourth dashboard hit in a minute"
    );
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        from("203.0.113.8")
            .send()
            .await
            .expect("get")
            .status()
            .as_u16(),
        303,
        "another client is not limited"
    );
    for _ in 0..20 {
        let r = t
            .client
            .get(t.url(&css))
            .header("x-forwarded-for", "203.0.113.7")
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 200, "assets are not counted");
    }
}

#[test]
fn serve_refuses_a_public_address_without_accounts() {
    let t = TestCli::new();
    let out = t
        .cmd()
        .args(["serve", "--host", "0.0.0.0", "--port", "0", "--no-sample"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve on 0.0.0.0 without accounts"),
        "{err}"
    );
    assert!(err.contains("--no-auth"), "{err}");
}

#[test]
fn user_commands_manage_accounts() {
    let t = TestCli::new();
    t.add_user("ada", "admin", PASSWORD);
    let list = t.json(&["user", "list", "--json"]);
    assert_eq!(list[0]["name"], "ada");
    assert_eq!(list[0]["role"], "admin");
    let token = t.ok(&["user", "token", "ada", "--label", "ci"]);
    assert_eq!(token.trim().len(), 64);
    assert!(
        !t.run_with_input(&["user", "set-password", "ada"], "short\n")
            .status
            .success(),
        "a short password is refused"
    );
    assert!(
        t.fails(&["user", "remove", "nobody"])
            .contains("no account")
    );
    t.ok(&["user", "remove", "ada"]);
    assert_eq!(t.json(&["user", "list", "--json"]), serde_json::json!([]));
}

/// SIGTERM during an import: the request in flight finishes, the import commits whole, and the
/// server exits cleanly.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_an_import_lets_it_commit_whole() {
    crate::helpers::crypto();
    let t = TestCli::new();
    let big = t.path("big.csv");
    t.ok(&["demo-data", "--rows", "150000", "--out", &big]);
    let body = std::fs::read(&big).expect("read");
    let port = free_port();
    let mut server = t.serve(
        &[
            "--port",
            &port.to_string(),
            "--no-sample",
            "--max-upload-mb",
            "64",
            // Longer than the import takes in a debug build: its answer is awaited.
            "--shutdown-timeout-secs",
            "300",
        ],
        &[],
        port,
    );
    let url = format!("http://127.0.0.1:{port}/api/v1/imports?filename=big.csv");
    // A script on an open server: no cookie, no Origin, so no CSRF token is needed.
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pid = server.0.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let resp = request
        .await
        .expect("task")
        .expect("the in-flight request is answered");
    assert_eq!(resp.status().as_u16(), 201);
    let report: Value = resp.json().await.expect("report");
    assert_eq!(report["imported"], 150_000);
    let status = server.0.wait().expect("exits");
    assert!(status.success(), "a clean exit after SIGTERM: {status}");
    assert_eq!(
        t.json(&["stats", "--json"])["total_escalations"],
        150_000,
        "committed whole"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_is_served_directly_with_secure_cookies_and_hsts() {
    crate::helpers::crypto();
    let t = TestCli::new();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let cert_path = t.write("cert.pem", cert.cert.pem());
    let key_path = t.write("key.pem", cert.signing_key.serialize_pem());
    let port = free_port();
    let _server = t.serve(
        &[
            "--port",
            &port.to_string(),
            "--no-sample",
            "--tls-cert",
            &cert_path,
            "--tls-key",
            &key_path,
        ],
        &[],
        port,
    );
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let resp = client
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .expect("an HTTPS answer");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["strict-transport-security"]
            .to_str()
            .expect("hsts")
            .contains("max-age=31536000")
    );
    let cookies = set_cookies(&resp);
    assert!(
        cookies.iter().any(|c| c.starts_with("__Host-escamap_csrf=")
            && c.contains("; Secure")
            && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    // Plain HTTP on the TLS port gets no page.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await;
    assert!(plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()));
}

/// Sessions live in the store and the key in `escamap.secret`: a restart signs nobody out.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_people_signed_in() {
    let t = TestCli::new();
    t.add_user("ada", "admin", PASSWORD);
    let client = crate::helpers::cookie_client();
    let port = free_port();
    {
        let _server = t.serve(&["--port", &port.to_string(), "--no-sample"], &[], port);
        let base = format!("http://127.0.0.1:{port}");
        assert_eq!(sign_in(&client, &base, "ada", PASSWORD).await, 303);
        assert_eq!(
            client
                .get(format!("{base}/"))
                .send()
                .await
                .expect("get")
                .status()
                .as_u16(),
            200
        );
    }
    let port2 = free_port();
    let _server = t.serve(&["--port", &port2.to_string(), "--no-sample"], &[], port2);
    let r = client
        .get(format!("http://127.0.0.1:{port2}/"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.status().as_u16(),
        200,
        "still signed in after the restart"
    );
    let fresh = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    assert_eq!(
        fresh
            .get(format!("http://127.0.0.1:{port2}/"))
            .send()
            .await
            .expect("get")
            .status()
            .as_u16(),
        303,
        "others still are not"
    );
}

//! Every route, in one table, each declared with the access it needs: who may call it, what it
//! counts against in the rate limits, and whether its CSRF token may travel inside an upload's
//! multipart body. A route cannot be added to the table without stating its [`Access`].
//!
//! The gate ([`super::gate`]) looks the access up by method and matched route template. A route
//! added outside the table (a test's extra route), an unmatched path and a method the table does
//! not know all get the strictest default a route of that method could have, so forgetting the
//! table fails closed.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{delete, get, post};

use super::limits::Kind;
use super::state::AppState;
use super::{api, assets, pages};
use crate::domain::Role;

/// Where the CSRF token of a cookie-borne change may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenIn {
    /// The `X-CSRF-Token` header or a URL-encoded form's `csrf` field, checked by the gate.
    HeaderOrForm,
    /// Also the `csrf` field of a `multipart/form-data` body, before the file: the gate cannot read
    /// it without buffering the upload, so it hands the check to the upload reader
    /// (`web::upload`), which refuses the upload without it.
    Upload,
    /// None: the URL carries its own signature (an unsubscribe link, which a mail program may
    /// POST to with no session at all), which the handler checks.
    Signed,
    /// No handler runs: the route has no such method and axum answers 405.
    Unused,
}

/// What a route needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// `None`: anyone (signed in or not).
    pub role: Option<Role>,
    /// `None`: not even identified (assets, health checks): no session lookup, no rate limit.
    pub limit: Option<Kind>,
    pub token_in: TokenIn,
}

impl Access {
    /// Assets and health checks: served to anyone, never counted.
    pub const PUBLIC: Self = Self {
        role: None,
        limit: None,
        token_in: TokenIn::HeaderOrForm,
    };

    /// Anyone, identified and counted against `kind` (the login page).
    pub const fn anyone(kind: Kind) -> Self {
        Self {
            role: None,
            limit: Some(kind),
            token_in: TokenIn::HeaderOrForm,
        }
    }

    pub const fn viewer(kind: Kind) -> Self {
        Self::role(Role::Viewer, kind)
    }

    pub const fn editor(kind: Kind) -> Self {
        Self::role(Role::Editor, kind)
    }

    pub const fn admin(kind: Kind) -> Self {
        Self::role(Role::Admin, kind)
    }

    const fn role(role: Role, kind: Kind) -> Self {
        Self {
            role: Some(role),
            limit: Some(kind),
            token_in: TokenIn::HeaderOrForm,
        }
    }

    /// The route takes a file upload whose CSRF token may sit in the multipart body.
    pub const fn upload(self) -> Self {
        Self {
            token_in: TokenIn::Upload,
            ..self
        }
    }

    /// The route's URL is signed (see [`TokenIn::Signed`]): no CSRF token.
    pub const fn signed(self) -> Self {
        Self {
            token_in: TokenIn::Signed,
            ..self
        }
    }

    /// For a request the table does not describe: a viewer for reads, an editor for anything
    /// else, the CSRF token in a header or form.
    pub fn default_for(method: &Method, path: &str) -> Self {
        let kind = if path.starts_with("/api/") {
            Kind::Api
        } else {
            Kind::Page
        };
        if path.starts_with("/admin") {
            Self::admin(kind)
        } else if method == Method::GET || method == Method::HEAD {
            Self::viewer(kind)
        } else {
            Self::editor(kind)
        }
    }
}

/// The routes and the access each one needs, built together.
pub struct RouteTable {
    router: Router<AppState>,
    access: HashMap<(Method, &'static str), Access>,
}

impl RouteTable {
    fn new() -> Self {
        Self {
            router: Router::new(),
            access: HashMap::new(),
        }
    }

    fn note(&mut self, method: Method, path: &'static str, access: Access) {
        let previous = self.access.insert((method, path), access);
        assert!(previous.is_none(), "route declared twice: {path}");
    }

    /// `GET` (and the `HEAD` axum derives from it).
    fn get<H: Handler<T, AppState>, T: 'static>(
        mut self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.note(Method::GET, path, access);
        self.note(Method::HEAD, path, access);
        self.router = self.router.route(path, get(handler));
        self
    }

    fn post<H: Handler<T, AppState>, T: 'static>(
        mut self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.note(Method::POST, path, access);
        self.router = self.router.route(path, post(handler));
        self
    }

    fn delete<H: Handler<T, AppState>, T: 'static>(
        mut self,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self {
        self.note(Method::DELETE, path, access);
        self.router = self.router.route(path, delete(handler));
        self
    }
}

/// The whole table. Read it as: method, route, who may call it (and what it counts against),
/// handler.
fn table() -> RouteTable {
    use Kind::{Api, Dashboard, Data, Import, Login, Page};
    RouteTable::new()
        // pages
        .get("/", Access::viewer(Dashboard), pages::show_dashboard)
        .get("/data", Access::viewer(Data), pages::list_escalations)
        .get("/accounts", Access::viewer(Data), pages::show_accounts)
        .get("/data.csv", Access::viewer(Data), pages::download_data_csv)
        .get("/import", Access::viewer(Page), pages::show_import)
        .post(
            "/import",
            Access::editor(Import).upload(),
            pages::create_import,
        )
        .get(
            "/import/mapping/{id}",
            Access::editor(Page),
            pages::show_mapping,
        )
        .post(
            "/import/mapping/{id}",
            Access::editor(Import),
            pages::submit_mapping,
        )
        .post(
            "/import/mapping/{id}/cancel",
            Access::editor(Page),
            pages::cancel_mapping,
        )
        .get(
            "/import/rejected/{id}",
            Access::editor(Data),
            pages::download_rejected,
        )
        .post(
            "/import/profiles/delete",
            Access::editor(Page),
            pages::delete_profile,
        )
        .get(
            "/import/{id}/delete",
            Access::editor(Page),
            pages::confirm_delete_import,
        )
        .post(
            "/import/{id}/delete",
            Access::editor(Page),
            pages::delete_import,
        )
        .get("/views", Access::viewer(Page), pages::show_views)
        .post("/views", Access::viewer(Page), pages::save_view)
        .post("/views/delete", Access::viewer(Page), pages::delete_view)
        .get(
            "/subscriptions",
            Access::viewer(Page),
            pages::show_subscriptions,
        )
        .post(
            "/subscriptions",
            Access::viewer(Page),
            pages::add_subscription,
        )
        .post(
            "/subscriptions/delete",
            Access::viewer(Page),
            pages::remove_subscription,
        )
        .post("/alerts", Access::viewer(Page), pages::add_alert)
        .post("/alerts/delete", Access::viewer(Page), pages::remove_alert)
        .get(
            "/unsubscribe/{token}",
            Access::anyone(Login).signed(),
            pages::show_unsubscribe,
        )
        .post(
            "/unsubscribe/{token}",
            Access::anyone(Login).signed(),
            pages::unsubscribe,
        )
        .get("/login", Access::anyone(Page), pages::show_login)
        .post("/login", Access::anyone(Login), pages::login)
        .post("/logout", Access::viewer(Page), pages::logout)
        .get("/admin", Access::admin(Page), pages::admin::show_admin)
        .post(
            "/admin/users",
            Access::admin(Page),
            pages::admin::create_user,
        )
        .post(
            "/admin/users/{name}/delete",
            Access::admin(Page),
            pages::admin::remove_user,
        )
        .post(
            "/admin/users/{name}/password",
            Access::admin(Page),
            pages::admin::set_password,
        )
        .post(
            "/admin/users/{name}/role",
            Access::admin(Page),
            pages::admin::set_role,
        )
        .post(
            "/admin/tokens",
            Access::admin(Page),
            pages::admin::create_token,
        )
        .post(
            "/admin/tokens/{id}/delete",
            Access::admin(Page),
            pages::admin::delete_token,
        )
        // API
        .get("/api/v1/stats", Access::viewer(Api), api::get_stats)
        .get("/api/v1/heatmap", Access::viewer(Api), api::get_heatmap)
        .get(
            "/api/v1/heatmap.svg",
            Access::viewer(Api),
            api::get_heatmap_svg,
        )
        .get(
            "/api/v1/heatmap.png",
            Access::viewer(Api),
            api::get_heatmap_png,
        )
        .get(
            "/api/v1/heatmap.csv",
            Access::viewer(Api),
            api::get_heatmap_csv,
        )
        .get("/api/v1/backlog", Access::viewer(Api), api::get_backlog)
        .get("/api/v1/insights", Access::viewer(Api), api::get_insights)
        .get("/api/v1/accounts", Access::viewer(Api), api::get_accounts)
        .get(
            "/api/v1/escalations",
            Access::viewer(Api),
            api::list_escalations,
        )
        .get("/api/v1/imports", Access::viewer(Api), api::list_imports)
        .post(
            "/api/v1/imports",
            Access::editor(Import).upload(),
            api::create_import,
        )
        .delete(
            "/api/v1/imports/{id}",
            Access::editor(Api),
            api::delete_import,
        )
        .get("/api/openapi.json", Access::viewer(Api), api::openapi)
        .get("/healthz", Access::PUBLIC, api::healthz)
        .get("/readyz", Access::PUBLIC, api::readyz)
        // assets
        .get("/assets/{name}", Access::PUBLIC, assets::serve_asset)
        .get("/favicon.ico", Access::PUBLIC, assets::favicon)
}

static ACCESS: LazyLock<HashMap<(Method, &'static str), Access>> = LazyLock::new(|| table().access);

/// The routes, without the layers ([`super::with_layers`] adds them).
pub fn routes() -> Router<AppState> {
    table()
        .router
        .fallback(super::not_found)
        .method_not_allowed_fallback(super::method_not_allowed)
}

/// The access a request needs: the table's entry for its method and matched route template
/// (`None` when no route matched), else [`Access::default_for`].
pub fn access(method: &Method, route: Option<&str>, path: &str) -> Access {
    route
        .and_then(|r| ACCESS.get(&(method.clone(), r)).copied())
        .or_else(|| {
            // A method the route does not have: identify and count the caller like a read, so
            // the answer is 405 for whoever may see the route, without a role check per method.
            route
                .filter(|r| ACCESS.keys().any(|(_, p)| p == r))
                .map(|r| Access {
                    token_in: TokenIn::Unused,
                    ..Access::default_for(&Method::GET, r)
                })
        })
        .unwrap_or_else(|| Access::default_for(method, path))
}

/// Every declared route: (method, template, access). For tests and the OpenAPI check.
pub fn declared() -> Vec<(Method, &'static str, Access)> {
    let mut all: Vec<_> = ACCESS
        .iter()
        .map(|((m, p), a)| (m.clone(), *p, *a))
        .collect();
    all.sort_by(|a, b| (a.1, a.0.as_str()).cmp(&(b.1, b.0.as_str())));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(method: Method, route: &str) -> Access {
        access(&method, Some(route), route)
    }

    #[test]
    fn reads_need_a_viewer_changes_an_editor_accounts_an_admin() {
        assert_eq!(at(Method::GET, "/").role, Some(Role::Viewer));
        assert_eq!(at(Method::GET, "/data.csv").limit, Some(Kind::Data));
        assert_eq!(at(Method::POST, "/import").role, Some(Role::Editor));
        assert_eq!(
            at(Method::DELETE, "/api/v1/imports/{id}").role,
            Some(Role::Editor)
        );
        assert_eq!(at(Method::GET, "/admin").role, Some(Role::Admin));
        assert_eq!(
            at(Method::POST, "/admin/users/{name}/delete").role,
            Some(Role::Admin)
        );
        assert_eq!(at(Method::POST, "/logout").role, Some(Role::Viewer));
    }

    #[test]
    fn the_delete_confirmation_needs_an_editor() {
        assert_eq!(
            at(Method::GET, "/import/{id}/delete").role,
            Some(Role::Editor)
        );
    }

    #[test]
    fn only_the_two_upload_routes_take_their_token_in_the_body() {
        let uploads: Vec<_> = declared()
            .into_iter()
            .filter(|(_, _, a)| a.token_in == TokenIn::Upload)
            .map(|(m, p, _)| (m, p))
            .collect();
        assert_eq!(
            uploads,
            vec![(Method::POST, "/api/v1/imports"), (Method::POST, "/import")]
        );
    }

    #[test]
    fn login_and_health_are_open_and_only_health_and_assets_are_uncounted() {
        assert_eq!(at(Method::POST, "/login"), Access::anyone(Kind::Login));
        assert_eq!(at(Method::GET, "/login").role, None);
        for r in ["/healthz", "/readyz", "/assets/{name}", "/favicon.ico"] {
            assert_eq!(at(Method::GET, r), Access::PUBLIC, "{r}");
        }
        let uncounted: Vec<_> = declared()
            .into_iter()
            .filter(|(_, _, a)| a.limit.is_none())
            .map(|(_, p, _)| p)
            .collect();
        assert!(
            uncounted
                .iter()
                .all(|p| ["/healthz", "/readyz", "/assets/{name}", "/favicon.ico"].contains(p)),
            "{uncounted:?}"
        );
    }

    #[test]
    fn imports_count_against_the_import_limit() {
        assert_eq!(at(Method::POST, "/import").limit, Some(Kind::Import));
        assert_eq!(
            at(Method::POST, "/api/v1/imports").limit,
            Some(Kind::Import)
        );
        assert_eq!(at(Method::GET, "/api/v1/imports").limit, Some(Kind::Api));
    }

    #[test]
    fn what_the_table_does_not_know_fails_closed() {
        // A method the route lacks: a viewer may learn it is not allowed.
        assert_eq!(
            at(Method::from_bytes(b"TRACE").expect("method"), "/").role,
            Some(Role::Viewer)
        );
        // A route outside the table, or no route at all.
        assert_eq!(
            access(&Method::POST, Some("/boom"), "/boom").role,
            Some(Role::Editor)
        );
        assert_eq!(
            access(&Method::GET, None, "/nowhere").role,
            Some(Role::Viewer)
        );
        assert_eq!(
            access(&Method::GET, None, "/admin/x").role,
            Some(Role::Admin)
        );
        assert_eq!(
            access(&Method::GET, None, "/api/v2/x").limit,
            Some(Kind::Api)
        );
    }
}

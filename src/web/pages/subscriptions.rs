//! `/subscriptions`: the caller's digests on a schedule and alerts on new findings (an admin sees
//! everyone's), adding one (a webhook's secret is shown on the answer, once) and removing one's
//! own; and `/unsubscribe/{token}`, which the link in every e-mail opens without signing in.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Layout, render_html};
use crate::app::{AppError, Unsubscribing, Viewer};
use crate::store::Target;
use crate::web::error::WebError;
use crate::web::extract::{Form, Path};
use crate::web::gate::Caller;
use crate::web::params::Params;
use crate::web::state::AppState;

pub struct SubscriptionRow {
    id: i64,
    user: String,
    view: String,
    schedule: String,
    target: String,
    next: String,
    last: String,
}

pub struct AlertRow {
    id: i64,
    user: String,
    what: String,
    target: String,
    sent: String,
}

/// What the forms held, to show again beside an error.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct Filled {
    #[serde(default)]
    view: String,
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    tz: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    webhook: String,
    #[serde(default)]
    min_score: String,
    #[serde(default)]
    kind_spike: Option<String>,
    #[serde(default)]
    kind_emerging: Option<String>,
    #[serde(default)]
    kind_rising: Option<String>,
    #[serde(default)]
    kind_cooling: Option<String>,
}

impl Filled {
    fn kinds(&self) -> Vec<String> {
        [
            ("spike", &self.kind_spike),
            ("emerging", &self.kind_emerging),
            ("rising", &self.kind_rising),
            ("cooling", &self.kind_cooling),
        ]
        .into_iter()
        .filter(|(_, on)| on.is_some())
        .map(|(k, _)| k.to_owned())
        .collect()
    }

    fn target(&self) -> Result<Target, AppError> {
        crate::app::target(Some(&self.email), Some(&self.webhook))
    }
}

#[derive(Template)]
#[template(path = "pages/subscriptions.html")]
pub struct SubscriptionsPage {
    layout: Layout,
    subscriptions: Vec<SubscriptionRow>,
    alerts: Vec<AlertRow>,
    /// The views the caller may subscribe to, by name.
    views: Vec<String>,
    /// None on an open server: subscriptions belong to accounts.
    user: Option<String>,
    notice: Option<String>,
    /// A new webhook's secret, shown this once.
    secret: Option<String>,
    /// Which form an error is about (`subscription` or `alert`) and what it says.
    error: Option<(&'static str, String)>,
    filled: Filled,
    show_owner: bool,
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

async fn page(
    state: &AppState,
    caller: &Caller,
    notice: Option<String>,
    secret: Option<String>,
    error: Option<(&'static str, String)>,
    filled: Filled,
) -> Result<SubscriptionsPage, WebError> {
    let views = super::caller_views(state, caller).await?;
    let (user, admin) = super::viewer_parts(caller);
    let app = state.app.clone();
    let u = user.clone();
    let (subs, alerts) = crate::web::blocking(move || {
        let who = Viewer::of(u.as_deref(), admin);
        Ok::<_, AppError>((app.subscriptions_for(who)?, {
            let mut rows = Vec::new();
            for a in app.alerts_for(who)? {
                let m = app.alert_messages(a.id)?;
                rows.push((a, m));
            }
            rows
        }))
    })
    .await?;
    Ok(SubscriptionsPage {
        layout: Layout::new("Subscriptions and alerts", "subscriptions", Some(caller))
            .with_views(&views),
        subscriptions: subs
            .into_iter()
            .map(|s| SubscriptionRow {
                id: s.sub.id,
                user: s.sub.user.clone(),
                view: s
                    .sub
                    .view
                    .clone()
                    .unwrap_or_else(|| "The whole dashboard".to_owned()),
                schedule: format!("{} ({})", s.sub.schedule, s.sub.tz),
                target: s.sub.target.to_string(),
                next: s.next.map(when).unwrap_or_else(|| "—".to_owned()),
                last: match s.last {
                    None => "not sent yet".to_owned(),
                    Some(d) if d.state == "sent" => format!(
                        "sent {}",
                        d.sent_at.map(when).unwrap_or_else(|| when(d.slot))
                    ),
                    Some(d) => format!(
                        "{} (attempt {}): {}",
                        d.state,
                        d.attempts,
                        d.last_error.unwrap_or_default()
                    ),
                },
            })
            .collect(),
        alerts: alerts
            .into_iter()
            .map(|(a, m)| {
                let sent = m.iter().filter(|m| m.state == "sent").count();
                let waiting = m.len() - sent;
                AlertRow {
                    id: a.id,
                    user: a.user.clone(),
                    what: crate::app::describe_alert(&a),
                    target: a.target.to_string(),
                    sent: if waiting == 0 {
                        format!("{sent} sent")
                    } else {
                        format!("{sent} sent, {waiting} waiting")
                    },
                }
            })
            .collect(),
        views: views.into_iter().map(|v| v.name).collect(),
        user,
        notice,
        secret,
        error,
        filled: Filled {
            tz: if filled.tz.is_empty() {
                "UTC".to_owned()
            } else {
                filled.tz
            },
            schedule: if filled.schedule.is_empty() {
                "weekly mon 08:00".to_owned()
            } else {
                filled.schedule
            },
            ..filled
        },
        show_owner: admin,
    })
}

pub async fn show_subscriptions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Html<String>, WebError> {
    let p = Params::parse(raw.as_deref());
    let notice = p
        .get("added")
        .map(|n| format!("Added {n}."))
        .or_else(|| p.get("removed").map(|n| format!("Removed {n}.")));
    Ok(render_html(
        &page(&state, &caller, notice, None, None, Filled::default()).await?,
    ))
}

/// The caller's account name, which subscriptions and alerts belong to.
fn owner(caller: &Caller) -> Result<String, AppError> {
    caller.user.as_ref().map(|u| u.name.to_string()).ok_or_else(|| {
        AppError::BadSubscription(
            "subscriptions and alerts belong to an account: create one (escamap user add NAME) and sign in"
                .into(),
        )
    })
}

/// An answer to a form: on success the listing (with the secret, when there is one, on this
/// answer alone; otherwise a redirect), on a mistake the page again with the form as filled.
async fn answer(
    state: &AppState,
    caller: &Caller,
    which: &'static str,
    filled: Filled,
    done: Result<(String, String, Option<String>), AppError>,
) -> Result<Response, WebError> {
    if let Ok((label, _, _)) = &done {
        let event = if which == "alert" {
            "alert_added"
        } else {
            "subscription_added"
        };
        crate::web::audit::changed(caller, event, label);
    }
    let done = done.map(|(_, what, secret)| (what, secret));
    match done {
        Ok((what, None)) => Ok(Redirect::to(&format!(
            "/subscriptions?{}",
            Params::encode([("added", what)])
        ))
        .into_response()),
        Ok((what, Some(secret))) => Ok(render_html(
            &page(
                state,
                caller,
                Some(format!("Added {what}.")),
                Some(secret),
                None,
                Filled::default(),
            )
            .await?,
        )
        .into_response()),
        Err(e) => {
            // A mistake in the form is said beside it; anything else is the house error page.
            let said = match e {
                AppError::BadSubscription(m) | AppError::BadDigestQuery(m) => m,
                AppError::NoSuchView(v) => format!("there is no saved view {v:?} you can see"),
                other => return Err(other.into()),
            };
            Ok((
                StatusCode::BAD_REQUEST,
                render_html(&page(state, caller, None, None, Some((which, said)), filled).await?),
            )
                .into_response())
        }
    }
}

/// `POST /subscriptions`: subscribes the caller to a digest of a view (or the dashboard).
pub async fn add_subscription(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(form): Form<Filled>,
) -> Result<Response, WebError> {
    let app = state.app.clone();
    let f = form.clone();
    let who = owner(&caller);
    let done = tokio::task::spawn_blocking(move || {
        let user = who?;
        let view = Some(f.view.trim()).filter(|v| !v.is_empty());
        let (s, secret) = app.add_subscription(&user, &f.schedule, &f.tz, view, f.target()?)?;
        Ok::<_, AppError>((
            format!("subscription {}", s.id),
            format!(
                "a digest of {} ({}, {}) to {}",
                s.view.as_deref().unwrap_or("the whole dashboard"),
                s.schedule,
                s.tz,
                s.target
            ),
            secret,
        ))
    })
    .await?;
    answer(&state, &caller, "subscription", form, done).await
}

/// `POST /alerts`: alerts the caller to new findings in a view's slice.
pub async fn add_alert(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(form): Form<Filled>,
) -> Result<Response, WebError> {
    let app = state.app.clone();
    let f = form.clone();
    let who = owner(&caller);
    let (user_name, admin) = super::viewer_parts(&caller);
    let done = tokio::task::spawn_blocking(move || {
        let user = who?;
        let query = match Some(f.view.trim()).filter(|v| !v.is_empty()) {
            Some(v) => app.view(v, Viewer::of(user_name.as_deref(), admin))?.query,
            None => String::new(),
        };
        let min_score = match f.min_score.trim() {
            "" => 0.0,
            s => s.parse::<f64>().map_err(|_| {
                AppError::BadSubscription(format!("the minimum score {s:?} is not a number"))
            })?,
        };
        let (a, secret) = app.add_alert(&user, &f.kinds(), &query, min_score, f.target()?)?;
        Ok::<_, AppError>((
            format!("alert {}", a.id),
            format!(
                "an alert on {} to {}",
                crate::app::describe_alert(&a),
                a.target
            ),
            secret,
        ))
    })
    .await?;
    answer(&state, &caller, "alert", form, done).await
}

#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    id: i64,
}

/// Removes what the caller manages (`what` names it in the notice, `event` in the audit), then
/// lists.
async fn remove_own(
    state: &AppState,
    caller: &Caller,
    (what, event): (&'static str, &'static str),
    id: i64,
    remove: fn(&crate::app::App, i64, Viewer<'_>) -> Result<(), AppError>,
) -> Result<Redirect, WebError> {
    let app = state.app.clone();
    let (user, admin) = super::viewer_parts(caller);
    crate::web::blocking(move || remove(&app, id, Viewer::of(user.as_deref(), admin))).await?;
    crate::web::audit::changed(caller, event, &id.to_string());
    Ok(Redirect::to(&format!(
        "/subscriptions?{}",
        Params::encode([("removed", format!("{what} {id}"))])
    )))
}

/// `POST /subscriptions/delete`: removes a subscription the caller manages.
pub async fn remove_subscription(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(form): Form<RemoveForm>,
) -> Result<Redirect, WebError> {
    remove_own(
        &state,
        &caller,
        ("subscription", "subscription_removed"),
        form.id,
        crate::app::App::remove_subscription_as,
    )
    .await
}

/// `POST /alerts/delete`: removes an alert the caller manages.
pub async fn remove_alert(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(form): Form<RemoveForm>,
) -> Result<Redirect, WebError> {
    remove_own(
        &state,
        &caller,
        ("alert", "alert_removed"),
        form.id,
        crate::app::App::remove_alert_as,
    )
    .await
}

#[derive(Template)]
#[template(path = "pages/unsubscribe.html")]
pub struct UnsubscribePage {
    layout: Layout,
    /// What the link ends, when it still exists.
    describe: Option<String>,
    /// Done: the POST went through.
    done: bool,
    action: String,
}

/// A token from the path: at most a few hundred characters, only what we write in one.
fn token(raw: &str) -> Option<&str> {
    (raw.len() <= 200 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')).then_some(raw)
}

async fn unsubscribing(
    state: &AppState,
    raw: String,
    end: bool,
) -> Result<Unsubscribing, WebError> {
    let Some(t) = token(&raw).map(str::to_owned) else {
        return Err(WebError::NotFound);
    };
    let app = state.app.clone();
    crate::web::blocking(move || {
        if end {
            app.unsubscribe(&t)
        } else {
            app.unsubscribing(&t)
        }
    })
    .await?
    .ok_or(WebError::NotFound)
}

/// `GET /unsubscribe/{token}`: says what the link ends and asks to confirm (a mail scanner that
/// follows links ends nothing).
pub async fn show_unsubscribe(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Html<String>, WebError> {
    let u = unsubscribing(&state, raw.clone(), false).await?;
    Ok(render_html(&UnsubscribePage {
        layout: Layout::new("Unsubscribe", "", Some(&caller)),
        describe: u.describe,
        done: false,
        action: format!("/unsubscribe/{raw}"),
    }))
}

/// `POST /unsubscribe/{token}`: ends it, from the page's button or a mail program's one-click
/// `List-Unsubscribe-Post` (RFC 8058); the signed link is the authority, no session or CSRF
/// token is asked for. Following it twice is not an error.
pub async fn unsubscribe(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Html<String>, WebError> {
    let u = unsubscribing(&state, raw.clone(), true).await?;
    if u.describe.is_some() {
        tracing::info!(what = ?u.what, "unsubscribed by link");
    }
    Ok(render_html(&UnsubscribePage {
        layout: Layout::new("Unsubscribed", "", Some(&caller)),
        describe: u.describe,
        done: true,
        action: format!("/unsubscribe/{raw}"),
    }))
}

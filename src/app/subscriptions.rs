//! Subscriptions: a user's digest of a view (or the whole dashboard) on a schedule, by e-mail or
//! to a webhook, and sending what is due: each slot once, late once if it was missed, retried with backoff when
//! the mail server refuses or is down, never twice (also with several instances on one
//! PostgreSQL database: the slot is claimed in the store with a lease that runs out if its
//! instance dies).

use chrono::{DateTime, Duration, Utc};

use super::notify::{Outbound, Unsubscribe, WebhookBody, deliver, new_secret};
use super::{App, AppError, DigestRequest, Viewer};
use crate::domain::Schedule;
use crate::mail::{Envelope, digest_message};
use crate::store::{NewSubscription, Subscription, Target};

/// How long a claimed slot is held before another instance may take it over.
pub const LEASE: Duration = Duration::minutes(5);

/// A subscription with its next slot and its latest delivery, for a listing.
#[derive(Debug, Clone)]
pub struct SubscriptionStatus {
    pub sub: Subscription,
    pub next: Option<DateTime<Utc>>,
    pub last: Option<crate::store::Delivery>,
}

/// What one run sent, what failed (to be retried), and how many were not due.
#[derive(Debug, Default, serde::Serialize)]
pub struct DueReport {
    pub sent: Vec<Sent>,
    pub failed: Vec<Failed>,
    pub not_due: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct Sent {
    pub subscription: i64,
    pub slot: DateTime<Utc>,
    pub message_id: String,
}

#[derive(Debug, serde::Serialize)]
pub struct Failed {
    pub subscription: i64,
    pub slot: DateTime<Utc>,
    pub attempt: u32,
    pub error: String,
    pub retry_at: DateTime<Utc>,
}

/// The wait before attempt `n + 1`: 1, 2, 4 … minutes, at most an hour.
pub fn backoff(attempt: u32) -> Duration {
    Duration::minutes(1i64 << attempt.saturating_sub(1).min(6)).min(Duration::hours(1))
}

/// The Message-ID of a subscription's slot: the same mail whichever instance sends it.
pub fn message_id(subscription: i64, slot: DateTime<Utc>, from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').trim())
        .filter(|d| !d.is_empty() && !d.contains(' '))
        .unwrap_or("escamap.local");
    format!(
        "<digest.{subscription}.{}@{domain}>",
        slot.format("%Y%m%dT%H%M%SZ")
    )
}

impl App {
    /// Adds a subscription after checking each part: the user exists, the schedule and zone read,
    /// the view (if any) is one the user sees. A webhook target gets a new secret, returned here
    /// and never again.
    pub fn add_subscription(
        &self,
        user: &str,
        schedule: &str,
        tz: &str,
        view: Option<&str>,
        mut target: Target,
    ) -> Result<(Subscription, Option<String>), AppError> {
        let bad = |m: String| AppError::BadSubscription(m);
        self.check_owner(user)?;
        let s = Schedule::parse(schedule, tz).map_err(|e| bad(e.to_string()))?;
        let view = match view {
            Some(v) => Some(
                self.view(
                    v,
                    Viewer::User {
                        name: user,
                        admin: false,
                    },
                )?
                .name,
            ),
            None => None,
        };
        let secret = new_secret(&mut target);
        let sub = self.store().add_subscription(&NewSubscription {
            user: user.to_owned(),
            view,
            schedule: s.text(),
            tz: s.tz.name().to_owned(),
            target,
            created_at: Utc::now(),
        })?;
        Ok((sub, secret))
    }

    /// The subscriptions `who` manages, each with its next slot and its latest delivery.
    pub fn subscriptions_for(&self, who: Viewer<'_>) -> Result<Vec<SubscriptionStatus>, AppError> {
        let now = Utc::now();
        let mut out = Vec::new();
        for sub in self
            .subscriptions()?
            .into_iter()
            .filter(|s| who.owns(&s.user))
        {
            let next = Schedule::parse(&sub.schedule, &sub.tz)
                .ok()
                .and_then(|s| s.next_slot(now));
            let last = self.store().deliveries(sub.id)?.into_iter().next();
            out.push(SubscriptionStatus { sub, next, last });
        }
        Ok(out)
    }

    /// Removes a subscription `who` manages.
    pub fn remove_subscription_as(&self, id: i64, who: Viewer<'_>) -> Result<(), AppError> {
        let owner = self.subscriptions()?.into_iter().find(|s| s.id == id);
        super::notify::may_remove(who, owner.as_ref().map(|s| s.user.as_str()), || {
            format!("subscription {id}")
        })?;
        self.remove_subscription(id)
    }

    pub fn subscriptions(&self) -> Result<Vec<Subscription>, AppError> {
        Ok(self.store().subscriptions()?)
    }

    pub fn remove_subscription(&self, id: i64) -> Result<(), AppError> {
        Ok(self.store().remove_subscription(id)?)
    }

    /// Sends every digest due at `now`: for each subscription, its latest slot if that is after
    /// the subscription was made and was not sent (a missed slot goes late, once; older missed
    /// slots are not sent at all).
    pub fn run_due(&self, now: DateTime<Utc>, out: &Outbound<'_>) -> Result<DueReport, AppError> {
        let mut report = DueReport::default();
        for sub in self.subscriptions()? {
            let Ok(schedule) = Schedule::parse(&sub.schedule, &sub.tz) else {
                tracing::error!(subscription = sub.id, "a stored schedule does not read");
                continue;
            };
            let Some(slot) = schedule.last_slot(now).filter(|s| *s > sub.created_at) else {
                report.not_due += 1;
                continue;
            };
            let claimed =
                self.conn(super::Conn::Writes)
                    .claim_delivery(sub.id, slot, now, now + LEASE)?;
            let Some(attempt) = claimed else {
                report.not_due += 1;
                continue;
            };
            let id = message_id(sub.id, slot, out.from);
            match self.send_digest(&sub, &schedule, slot, &id, out) {
                Ok(()) => {
                    self.conn(super::Conn::Writes).finish_delivery(
                        sub.id,
                        slot,
                        Utc::now(),
                        None,
                    )?;
                    tracing::info!(subscription = sub.id, %slot, attempt, "digest sent");
                    self.metrics.delivered(true, 1, 0);
                    report.sent.push(Sent {
                        subscription: sub.id,
                        slot,
                        message_id: id,
                    });
                }
                Err(e) => {
                    let error = e.to_string();
                    let retry_at = now + backoff(attempt);
                    self.conn(super::Conn::Writes).finish_delivery(
                        sub.id,
                        slot,
                        Utc::now(),
                        Some((&error, retry_at)),
                    )?;
                    tracing::warn!(subscription = sub.id, %slot, attempt, %retry_at, error = %error, "digest not sent");
                    self.metrics.delivered(true, 0, 1);
                    report.failed.push(Failed {
                        subscription: sub.id,
                        slot,
                        attempt,
                        error,
                        retry_at,
                    });
                }
            }
        }
        Ok(report)
    }

    fn send_digest(
        &self,
        sub: &Subscription,
        schedule: &Schedule,
        slot: DateTime<Utc>,
        message_id: &str,
        out: &Outbound<'_>,
    ) -> Result<(), AppError> {
        let view = match &sub.view {
            Some(name) => Some(self.view(
                name,
                Viewer::User {
                    name: &sub.user,
                    admin: false,
                },
            )?),
            None => None,
        };
        let query = view.as_ref().map(|v| v.query.clone()).unwrap_or_default();
        let what = view.as_ref().map_or("the dashboard", |v| v.name.as_str());
        let unsubscribe = match sub.target {
            Target::Email(_) => {
                Some(self.unsubscribe_url(out.public_url, Unsubscribe::Subscription(sub.id))?)
            }
            Target::Webhook { .. } => None,
        };
        let d = self.digest(&DigestRequest {
            view: view.as_ref().map(|v| v.name.as_str()),
            query: &query,
            as_of: Some(schedule.period_last_day(slot)),
            every: schedule.every,
            public_url: out.public_url,
            why: Some(format!(
                "{} subscribed to {what}, {} ({})",
                sub.user,
                schedule.text(),
                sub.tz
            )),
            unsubscribe_url: unsubscribe.clone(),
        })?;
        deliver(
            out,
            &sub.target,
            |to| {
                digest_message(
                    &d.digest,
                    &d.png,
                    &Envelope {
                        from: out.from,
                        to: &[to.to_owned()],
                        message_id: Some(message_id.to_owned()),
                        unsubscribe_url: unsubscribe.as_deref(),
                    },
                )
                .map_err(|e| AppError::Mail(e.to_string()))
            },
            || {
                serde_json::to_vec(&WebhookBody {
                    kind: "digest",
                    text: d.digest.brief(),
                    url: d.digest.dashboard_url.clone(),
                    findings: d.digest.findings.clone(),
                    title: format!("{} ({})", d.digest.title, d.digest.period_text),
                    subscription: Some(sub.id),
                    alert: None,
                })
                .map_err(|e| AppError::Output(e.to_string()))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_an_hour_and_ids_name_the_slot() {
        let mins: Vec<i64> = (1..=9).map(|n| backoff(n).num_minutes()).collect();
        assert_eq!(mins, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        let slot = DateTime::parse_from_rfc3339("2026-11-30T07:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(
            message_id(7, slot, "EscaMap <escamap@example.com>"),
            "<digest.7.20261130T070000Z@example.com>"
        );
        assert_eq!(
            message_id(7, slot, "nobody"),
            "<digest.7.20261130T070000Z@escamap.local>"
        );
    }
}

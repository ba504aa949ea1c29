//! Alerts: a user's standing question ("new findings of these kinds, in this slice, at least
//! this urgent"), asked after every committed import, its answer sent to an e-mail address or a
//! webhook.
//!
//! Exactly once, in the store: [`App::check_alerts`] records, per alert, every finding it has
//! seen (kind, slice, period) and queues one message for the findings new to it, in one
//! transaction; [`App::send_alerts`] claims each queued message with a lease, sends it and
//! records the outcome, retrying a failure with the subscriptions' backoff. A restart, a second
//! instance on the same PostgreSQL database or a re-import that changes nothing sends nothing
//! again. The findings there were when an alert was made are recorded as seen: an alert tells of
//! what appears after it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::notify::{Outbound, Unsubscribe, WebhookBody, deliver, new_secret};
use super::subscriptions::{LEASE, backoff};
use super::{App, AppError};
use crate::analytics::insights::{Finding, Kind, Span};
use crate::domain::Period;
use crate::query::Params;
use crate::render::DigestFinding;
use crate::store::{Alert, NewAlert, Target};

/// The kinds an alert may ask for.
pub const KINDS: [Kind; 4] = [Kind::Spike, Kind::Emerging, Kind::Rising, Kind::Cooling];

/// Messages one run sends at most (the rest wait for the next run).
const SEND_BATCH: usize = 100;

/// What a queued message holds: the mail's subject and text, and the webhook's body.
#[derive(Serialize, Deserialize)]
struct Queued {
    subject: String,
    mail: String,
    unsubscribe: Option<String>,
    body: serde_json::Value,
}

/// What a run queued, sent and failed.
#[derive(Debug, Default, Serialize)]
pub struct AlertReport {
    /// Messages queued: (alert, message id, findings).
    pub queued: Vec<(i64, i64, usize)>,
    pub sent: Vec<i64>,
    pub failed: Vec<(i64, String)>,
}

/// "spike or emerging findings in product Billing, score ≥ 2".
pub fn describe(a: &Alert) -> String {
    let kinds = if a.kinds.is_empty() {
        "findings".to_owned()
    } else {
        format!("{} findings", a.kinds.join(" or "))
    };
    let within = match Params::parse(Some(&a.query)).filter() {
        Ok(f) => f
            .describe_slice()
            .map_or_else(|| "anywhere".to_owned(), |s| format!("in {s}")),
        Err(_) => format!("in {}", a.query),
    };
    if a.min_score > 0.0 {
        format!("{kinds} {within}, score ≥ {}", a.min_score)
    } else {
        format!("{kinds} {within}")
    }
}

/// A finding's key: what an alert sends once.
fn key(f: &Finding, period: Option<Span>) -> String {
    let slice = serde_json::to_string(&f.slice).unwrap_or_default();
    let from = period.map(|p| p.from.to_string()).unwrap_or_default();
    format!("{} {slice} {from}", f.kind.as_str())
}

impl App {
    /// Adds an alert after checking each part, and records the findings there are now as seen.
    /// A webhook target gets a new secret, returned here and never again.
    pub fn add_alert(
        &self,
        user: &str,
        kinds: &[String],
        query: &str,
        min_score: f64,
        mut target: Target,
    ) -> Result<(Alert, Option<String>), AppError> {
        let bad = AppError::BadSubscription;
        self.check_owner(user)?;
        let mut wanted = Vec::new();
        for k in kinds.iter().map(|k| k.trim().to_ascii_lowercase()) {
            if !KINDS.iter().any(|x| x.as_str() == k) {
                return Err(bad(format!(
                    "unknown kind {k:?}: expected spike, emerging, rising or cooling"
                )));
            }
            if !wanted.contains(&k) {
                wanted.push(k);
            }
        }
        if !(min_score.is_finite() && min_score >= 0.0) {
            return Err(bad(format!(
                "the minimum score is a number from 0 up, not {min_score}"
            )));
        }
        // The slice constraint: the filters alone (dates make no sense for a standing question),
        // written in their one canonical form.
        let filter = Params::parse(Some(query))
            .filter()
            .map_err(|e| bad(e.to_string()))?
            .without_dates();
        filter.validate().map_err(|e| bad(e.to_string()))?;
        let query = Params::encode(filter.query_pairs());
        let secret = new_secret(&mut target);
        let alert = self.store().add_alert(&NewAlert {
            user: user.to_owned(),
            kinds: wanted,
            query,
            min_score,
            target,
            created_at: Utc::now(),
        })?;
        let seen: Vec<String> = {
            let (found, from) = self.alert_findings(&alert)?;
            found.iter().map(|f| key(f, from)).collect()
        };
        self.conn(super::Conn::Writes).record_findings(
            alert.id,
            &seen,
            &mut |_| None,
            Utc::now(),
        )?;
        Ok((alert, secret))
    }

    pub fn alerts(&self) -> Result<Vec<Alert>, AppError> {
        Ok(self.store().alerts()?)
    }

    /// The alerts `who` manages.
    pub fn alerts_for(&self, who: super::Viewer<'_>) -> Result<Vec<Alert>, AppError> {
        Ok(self
            .alerts()?
            .into_iter()
            .filter(|a| who.owns(&a.user))
            .collect())
    }

    /// Removes an alert `who` manages.
    pub fn remove_alert_as(&self, id: i64, who: super::Viewer<'_>) -> Result<(), AppError> {
        let owner = self.alerts()?.into_iter().find(|a| a.id == id);
        super::notify::may_remove(who, owner.as_ref().map(|a| a.user.as_str()), || {
            format!("alert {id}")
        })?;
        self.remove_alert(id)
    }

    pub fn remove_alert(&self, id: i64) -> Result<(), AppError> {
        Ok(self.store().remove_alert(id)?)
    }

    pub fn alert_messages(&self, id: i64) -> Result<Vec<crate::store::AlertMessage>, AppError> {
        Ok(self.store().alert_messages(id)?)
    }

    /// The findings an alert asks for in the index now, and the current period's first day.
    fn alert_findings(&self, a: &Alert) -> Result<(Vec<Finding>, Option<Span>), AppError> {
        let filter = Params::parse(Some(&a.query)).filter()?;
        // The period as the data stands, not as the slice's newest escalation: a slice quiet
        // since the 4th is judged over the month to the export's last day, as everything is.
        let as_of = self
            .index()
            .date_range()
            .map(|(_, last)| last.min(self.today()));
        let found = self.insights(
            &filter,
            Period::Month,
            as_of,
            crate::analytics::insights::MAX_LIMIT,
        )?;
        let period = found.current;
        let keep = found
            .findings
            .into_iter()
            .filter(|f| a.kinds.is_empty() || a.kinds.iter().any(|k| k == f.kind.as_str()))
            .filter(|f| f.score >= a.min_score)
            .collect();
        Ok((keep, period))
    }

    /// Asks every alert its question of the index now, and queues a message for each alert that
    /// has findings it had not seen. Run after each committed change.
    pub fn check_alerts(
        &self,
        public_url: &str,
        now: DateTime<Utc>,
    ) -> Result<AlertReport, AppError> {
        let mut report = AlertReport::default();
        let base = public_url.trim_end_matches('/');
        for a in self.alerts()? {
            let (found, period) = match self.alert_findings(&a) {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(alert = a.id, error = %e, "an alert's question cannot be asked");
                    continue;
                }
            };
            if found.is_empty() {
                continue;
            }
            let keys: Vec<String> = found.iter().map(|f| key(f, period)).collect();
            let unsubscribe = match a.target {
                Target::Email(_) => Some(self.unsubscribe_url(base, Unsubscribe::Alert(a.id))?),
                Target::Webhook { .. } => None,
            };
            let mut count = 0;
            let queued = self.conn(super::Conn::Writes).record_findings(
                a.id,
                &keys,
                &mut |new| {
                    count = new.len();
                    let findings: Vec<DigestFinding> = new
                        .iter()
                        .map(|&i| DigestFinding::of(&found[i], period, base))
                        .collect();
                    Some(queued_message(&a, &findings, base, unsubscribe.as_deref()))
                },
                now,
            )?;
            if let Some(id) = queued {
                tracing::info!(alert = a.id, findings = count, "alert queued");
                report.queued.push((a.id, id, count));
            }
        }
        Ok(report)
    }

    /// Sends the queued alert messages whose time has come (new ones, and failed ones whose retry
    /// is due), each claimed in the store first.
    pub fn send_alerts(
        &self,
        out: &Outbound<'_>,
        now: DateTime<Utc>,
        report: &mut AlertReport,
    ) -> Result<(), AppError> {
        let alerts = self.alerts()?;
        for _ in 0..SEND_BATCH {
            let Some(m) = self
                .conn(super::Conn::Writes)
                .claim_message(now, now + LEASE)?
            else {
                break;
            };
            let sent = match (
                alerts.iter().find(|a| a.id == m.alert),
                serde_json::from_str::<Queued>(&m.payload),
            ) {
                (Some(a), Ok(q)) => deliver(
                    out,
                    &a.target,
                    |to| {
                        crate::mail::text_message(
                            out.from,
                            to,
                            &q.subject,
                            &q.mail,
                            q.unsubscribe.as_deref(),
                        )
                        .map_err(|e| AppError::Mail(e.to_string()))
                    },
                    || serde_json::to_vec(&q.body).map_err(|e| AppError::Output(e.to_string())),
                ),
                (None, _) => Err(AppError::BadSubscription(format!(
                    "alert {} is gone",
                    m.alert
                ))),
                (_, Err(e)) => Err(AppError::Output(format!(
                    "a queued alert does not read: {e}"
                ))),
            };
            match sent {
                Ok(()) => {
                    self.conn(super::Conn::Writes)
                        .finish_message(m.id, Utc::now(), None)?;
                    tracing::info!(
                        alert = m.alert,
                        message = m.id,
                        attempt = m.attempt,
                        "alert sent"
                    );
                    report.sent.push(m.id);
                    self.metrics.delivered(false, 1, 0);
                }
                Err(e) => {
                    let error = e.to_string();
                    let retry_at = now + backoff(m.attempt);
                    self.conn(super::Conn::Writes).finish_message(
                        m.id,
                        Utc::now(),
                        Some((&error, retry_at)),
                    )?;
                    tracing::warn!(alert = m.alert, message = m.id, attempt = m.attempt, %retry_at, error = %error, "alert not sent");
                    report.failed.push((m.id, error));
                    self.metrics.delivered(false, 0, 1);
                }
            }
        }
        Ok(())
    }
}

/// A message for `findings` of alert `a`: the subject and text of its mail, the webhook's body.
fn queued_message(
    a: &Alert,
    findings: &[DigestFinding],
    base: &str,
    unsubscribe: Option<&str>,
) -> String {
    let what = describe(a);
    let url = if a.query.is_empty() {
        format!("{base}/")
    } else {
        format!("{base}/?{}", a.query)
    };
    let n = findings.len();
    let plural = if n == 1 { "" } else { "s" };
    let subject = format!(
        "EscaMap alert: {n} new finding{plural}: {}",
        findings.first().map(|f| f.headline()).unwrap_or_default()
    );
    let what_n = what.replacen("findings", &format!("finding{plural}"), 1);
    let mut text = format!("EscaMap alert: {n} new {what_n}\n");
    for f in findings {
        text.push_str(&format!("• {}\n", f.headline()));
    }
    text.push_str(&url);
    let mut mail = format!("{n} new {what_n}.\n\n");
    for f in findings {
        mail.push_str(&format!(
            "* {}\n  {}\n  Tickets: {}\n\n",
            f.headline(),
            f.summary,
            f.url
        ));
    }
    mail.push_str(&format!(
        "Dashboard: {url}\n\n--\nSent by EscaMap because {} set an alert for {what}.",
        a.user
    ));
    if let Some(u) = unsubscribe {
        mail.push_str(&format!("\nUnsubscribe: {u}"));
    }
    let body = WebhookBody {
        kind: "alert",
        text,
        url,
        findings: findings.to_vec(),
        title: format!("EscaMap alert: {what}"),
        subscription: None,
        alert: Some(a.id),
    };
    serde_json::to_string(&Queued {
        subject,
        mail,
        unsubscribe: unsubscribe.map(str::to_owned),
        body: serde_json::to_value(&body).unwrap_or_default(),
    })
    .unwrap_or_default()
}

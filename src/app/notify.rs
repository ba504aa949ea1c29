//! Where digests and alerts go out, in one place: an e-mail through the mail server, or a signed
//! POST to a webhook; each target's secret made once; and the signed unsubscribe links every
//! e-mail carries, which work without signing in.
//!
//! An unsubscribe token names what it ends (`s12`: subscription 12, `a3`: alert 3) and carries
//! an HMAC of that name under a key kept in the store (`settings`), so every instance and the
//! command line make and accept the same links, and no one can end another's subscription by
//! guessing its number. A token stays valid until what it names is removed.

use lettre::Message;
use serde::Serialize;

use super::{App, AppError};
use crate::auth::SecretKey;
use crate::mail::Mailer;
use crate::render::DigestFinding;
use crate::store::Target;

/// How messages go out: the mail server (none: e-mail targets fail, and are retried, until one
/// is given), the sender, and where the dashboard is reached (links are absolute).
pub struct Outbound<'a> {
    pub mailer: Option<&'a Mailer>,
    /// The sender, e.g. `EscaMap <escamap@example.com>`.
    pub from: &'a str,
    pub public_url: &'a str,
}

/// A webhook's JSON body: `text` makes it a working Slack- or Teams-style incoming webhook.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookBody {
    /// `digest` or `alert`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    /// The dashboard in the digest's or the alert's state.
    pub url: String,
    pub findings: Vec<DigestFinding>,
    pub title: String,
    /// The subscription or the alert that sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<i64>,
}

/// What an unsubscribe link ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribe {
    Subscription(i64),
    Alert(i64),
}

impl Unsubscribe {
    fn name(self) -> String {
        match self {
            Self::Subscription(id) => format!("s{id}"),
            Self::Alert(id) => format!("a{id}"),
        }
    }

    fn parse(name: &str) -> Option<Self> {
        let (kind, id) = name.split_at_checked(1)?;
        let id: i64 = id.parse().ok().filter(|n| *n > 0)?;
        match kind {
            "s" => Some(Self::Subscription(id)),
            "a" => Some(Self::Alert(id)),
            _ => None,
        }
    }
}

/// What an unsubscribe link stands for, for the page that confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribing {
    pub what: Unsubscribe,
    /// "the weekly digest of Globex (weekly mon 08:00, Europe/Berlin) to ana@example.com";
    /// `None` when it was already removed.
    pub describe: Option<String>,
}

/// A new target's secret: a webhook's, shown once.
pub fn new_secret(target: &mut Target) -> Option<String> {
    match target {
        Target::Email(_) => None,
        Target::Webhook { secret, .. } => {
            *secret = crate::auth::random_token();
            Some(secret.clone())
        }
    }
}

/// Reads a target: exactly one of an e-mail address and a webhook URL, each checked.
pub fn target(email: Option<&str>, webhook: Option<&str>) -> Result<Target, AppError> {
    let bad = AppError::BadSubscription;
    match (
        email.map(str::trim).filter(|s| !s.is_empty()),
        webhook.map(str::trim).filter(|s| !s.is_empty()),
    ) {
        (Some(a), None) => {
            a.parse::<lettre::Address>()
                .map_err(|e| bad(format!("invalid e-mail address {a:?}: {e}")))?;
            Ok(Target::Email(a.to_owned()))
        }
        (None, Some(u)) => Ok(Target::Webhook {
            url: crate::webhook::check_url(u).map_err(|e| bad(e.to_string()))?,
            secret: String::new(),
        }),
        (Some(_), Some(_)) => Err(bad(
            "give an e-mail address or a webhook URL, not both".into()
        )),
        (None, None) => Err(bad("give an e-mail address or a webhook URL".into())),
    }
}

/// Sends to `target`: the mail `mail` builds (for the address) or the JSON `body` as a signed
/// POST.
pub(super) fn deliver(
    out: &Outbound<'_>,
    target: &Target,
    mail: impl FnOnce(&str) -> Result<Message, AppError>,
    body: impl FnOnce() -> Result<Vec<u8>, AppError>,
) -> Result<(), AppError> {
    match target {
        Target::Email(address) => {
            let mailer = out.mailer.ok_or_else(|| {
                AppError::Mail("no mail server is configured (--smtp-url, ESCAMAP_SMTP_URL)".into())
            })?;
            mailer
                .send(&mail(address)?)
                .map_err(|e| AppError::Mail(e.to_string()))
        }
        Target::Webhook { url, secret } => crate::webhook::post(url, secret, &body()?)
            .map_err(|e| AppError::Webhook(e.to_string())),
    }
}

/// `Ok` when `who` manages what `owner` owns; `what` ("subscription 3") names it otherwise, and
/// `NotFound` when there is no such thing. The one ownership rule of subscriptions and alerts.
pub(super) fn may_remove(
    who: super::Viewer<'_>,
    owner: Option<&str>,
    what: impl FnOnce() -> String,
) -> Result<(), AppError> {
    match owner {
        None => Err(crate::store::StoreError::NotFound.into()),
        Some(o) if !who.owns(o) => Err(AppError::NotYours(what())),
        Some(_) => Ok(()),
    }
}

impl App {
    /// A subscription or an alert belongs to an account that exists.
    pub(super) fn check_owner(&self, user: &str) -> Result<(), AppError> {
        if self.users()?.iter().any(|u| u.name == user) {
            Ok(())
        } else {
            Err(AppError::BadSubscription(format!(
                "there is no user {user:?}"
            )))
        }
    }

    /// The key unsubscribe links are signed with, shared through the store.
    fn link_key(&self) -> Result<SecretKey, AppError> {
        let key = self.shared_setting("unsubscribe_key", &crate::auth::random_token())?;
        Ok(SecretKey::from_bytes(key.as_bytes()))
    }

    /// The absolute unsubscribe link for `what`.
    pub fn unsubscribe_url(&self, public_url: &str, what: Unsubscribe) -> Result<String, AppError> {
        let name = what.name();
        let sig = self.link_key()?.sign("unsubscribe", &name);
        Ok(format!(
            "{}/unsubscribe/{name}.{sig}",
            public_url.trim_end_matches('/')
        ))
    }

    /// What a token from an unsubscribe link stands for; `None` when it is not one we signed.
    pub fn unsubscribing(&self, token: &str) -> Result<Option<Unsubscribing>, AppError> {
        let Some((name, sig)) = token.split_once('.') else {
            return Ok(None);
        };
        let Some(what) = Unsubscribe::parse(name) else {
            return Ok(None);
        };
        if !self.link_key()?.verify("unsubscribe", name, sig) {
            return Ok(None);
        }
        let describe = match what {
            Unsubscribe::Subscription(id) => self
                .subscriptions()?
                .into_iter()
                .find(|s| s.id == id)
                .map(|s| {
                    format!(
                        "the digest of {} ({}, {}) to {}",
                        s.view.as_deref().unwrap_or("the whole dashboard"),
                        s.schedule,
                        s.tz,
                        s.target
                    )
                }),
            Unsubscribe::Alert(id) => self
                .alerts()?
                .into_iter()
                .find(|a| a.id == id)
                .map(|a| format!("the alert {} to {}", super::alerts::describe(&a), a.target)),
        };
        Ok(Some(Unsubscribing { what, describe }))
    }

    /// Ends what a valid token names. `Ok(None)`: not a token we signed. Ending one already
    /// removed is not an error: the link may be followed twice.
    pub fn unsubscribe(&self, token: &str) -> Result<Option<Unsubscribing>, AppError> {
        let Some(u) = self.unsubscribing(token)? else {
            return Ok(None);
        };
        let gone = match u.what {
            Unsubscribe::Subscription(id) => self.remove_subscription(id),
            Unsubscribe::Alert(id) => self.remove_alert(id),
        };
        match gone {
            Ok(()) | Err(AppError::Store(crate::store::StoreError::NotFound)) => Ok(Some(u)),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_nothing_else_does() {
        for u in [Unsubscribe::Subscription(12), Unsubscribe::Alert(3)] {
            assert_eq!(Unsubscribe::parse(&u.name()), Some(u));
        }
        for bad in ["", "s", "s0", "s-1", "x12", "s1x", "ß1"] {
            assert_eq!(Unsubscribe::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_target_is_one_address_or_one_url() {
        assert_eq!(
            target(Some(" ana@example.com "), None).expect("mail"),
            Target::Email("ana@example.com".into())
        );
        assert!(matches!(
            target(None, Some("https://hooks.example.com/x")).expect("hook"),
            Target::Webhook { .. }
        ));
        assert!(target(Some("a@example.com"), Some("https://x.example")).is_err());
        assert!(target(None, None).is_err());
        assert!(target(Some("not an address"), None).is_err());
        assert!(target(None, Some("ftp://x.example/")).is_err());
    }
}

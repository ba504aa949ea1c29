//! A digest as a person reads it: the HTML and the plain-text alternative of one content (askama
//! templates `templates/digest/digest.html` and `.txt`; the HTML escapes every value, the text
//! is plain). The application composes a [`Digest`]; the mail module wraps the two and the
//! heatmap image into a message.
//!
//! The HTML carries its styles inline: mail programs drop style sheets and never fetch one. It is
//! not a page EscaMap serves, so the pages' strict CSP does not apply to it.

use askama::Template;

use super::Card;

/// One finding in a digest.
pub struct DigestFinding {
    /// `spike`, `emerging`, `rising`, `cooling`.
    pub kind: &'static str,
    /// "Spike", "New hotspot" ...
    pub label: &'static str,
    /// "Globex on Billing".
    pub title: String,
    /// "14 vs 2.1 expected".
    pub numbers: String,
    pub summary: String,
    /// Absolute: the tickets behind it.
    pub url: String,
}

/// An account whose risk rose.
pub struct DigestAccount {
    pub client: String,
    /// "72".
    pub risk: String,
    /// "+18 since 2026-11-23".
    pub change: String,
    /// "31 escalations".
    pub recent: String,
    /// Absolute: the dashboard on that client.
    pub url: String,
}

/// Everything a digest says, links absolute.
pub struct Digest {
    /// "EscaMap digest: Globex weekly".
    pub title: String,
    /// "2026-11-23 to 2026-11-29, against 2026-11-16 to 2026-11-22".
    pub period_text: String,
    /// The filters in force.
    pub describe: String,
    pub cards: Vec<Card>,
    pub findings: Vec<DigestFinding>,
    pub accounts: Vec<DigestAccount>,
    /// Absolute: the dashboard in the digest's state.
    pub dashboard_url: String,
    pub heatmap_title: String,
    /// The image's text alternative.
    pub heatmap_alt: String,
    /// "you subscribed to Globex weekly every Monday at 08:00 (Europe/Berlin)".
    pub why: Option<String>,
    pub unsubscribe_url: Option<String>,
}

#[derive(Template)]
#[template(path = "digest/digest.html")]
struct Html<'a> {
    d: &'a Digest,
    image_src: &'a str,
}

#[derive(Template)]
#[template(path = "digest/digest.txt")]
struct Text<'a> {
    d: &'a Digest,
}

impl Digest {
    /// The HTML alternative; the heatmap image at `image_src` (`cid:heatmap` in a message, a
    /// `data:` URI in a file to open in a browser).
    pub fn html(&self, image_src: &str) -> String {
        Html { d: self, image_src }.render().unwrap_or_else(|e| {
            tracing::error!(error = %e, "digest template failed");
            format!("<p>{}</p>", self.title)
        })
    }

    /// The plain-text alternative, the same content.
    pub fn text(&self) -> String {
        Text { d: self }.render().unwrap_or_else(|e| {
            tracing::error!(error = %e, "digest template failed");
            self.title.clone()
        })
    }
}

//! A digest as a person reads it: the HTML and the plain-text alternative of one content (askama
//! templates `templates/digest/digest.html` and `.txt`; the HTML escapes every value, the text
//! is plain). The application composes a [`Digest`]; the mail module wraps the two and the
//! heatmap image into a message.
//!
//! The HTML carries its styles inline: mail programs drop style sheets and never fetch one. It is
//! not a page EscaMap serves, so the pages' strict CSP does not apply to it.

use askama::Template;

use super::Card;
use crate::analytics::Slice;
use crate::analytics::insights::{Finding, Span, expected_text, kind_label, slice_name};

/// One finding in a digest, an alert or a webhook's `findings`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DigestFinding {
    /// `spike`, `emerging`, `rising`, `cooling`.
    pub kind: &'static str,
    /// "Spike", "New hotspot" ...
    pub label: &'static str,
    pub slice: Slice,
    /// "Globex on Billing".
    pub title: String,
    /// The current period the finding is about.
    pub period: Option<Span>,
    pub observed: u32,
    pub expected: f64,
    pub score: f64,
    /// "14 vs 2.1 expected".
    pub numbers: String,
    pub summary: String,
    /// Absolute: the tickets behind it.
    pub url: String,
}

impl DigestFinding {
    /// A finding of the current period `period`, its links made absolute under `base`.
    pub fn of(f: &Finding, period: Option<Span>, base: &str) -> Self {
        Self {
            kind: f.kind.as_str(),
            label: kind_label(f.kind),
            slice: f.slice.clone(),
            title: slice_name(&f.slice),
            period,
            observed: f.observed,
            expected: f.expected,
            score: f.score,
            numbers: format!("{} vs {} expected", f.observed, expected_text(f.expected)),
            summary: f.summary.clone(),
            url: format!("{}{}", base.trim_end_matches('/'), f.drill),
        }
    }

    /// "Spike: Globex on Billing — 14 vs 2.1 expected".
    pub fn headline(&self) -> String {
        format!("{}: {} — {}", self.label, self.title, self.numbers)
    }
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

    /// A few lines for a chat channel (a webhook's `text`): the title and period, the cards, the
    /// findings' headlines, the link.
    pub fn brief(&self) -> String {
        let mut out = format!("{} ({})\n", self.title, self.period_text);
        let cards: Vec<String> = self
            .cards
            .iter()
            .map(|c| format!("{}: {} ({})", c.label, c.value, c.delta))
            .collect();
        out.push_str(&cards.join(" · "));
        out.push('\n');
        for f in &self.findings {
            out.push_str(&format!("• {}\n", f.headline()));
        }
        out.push_str(&self.dashboard_url);
        out
    }

    /// The plain-text alternative, the same content.
    pub fn text(&self) -> String {
        Text { d: self }.render().unwrap_or_else(|e| {
            tracing::error!(error = %e, "digest template failed");
            self.title.clone()
        })
    }
}

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::Severity;

/// Which escalations a query looks at. Empty lists mean "any"; several values of one field are
/// alternatives (OR), different fields must all match (AND); dates are inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    #[serde(default)]
    pub clients: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub severities: Vec<Severity>,
    /// Clients whose name contains this text, ignoring case (the dashboard's client search).
    #[serde(default)]
    pub client_search: Option<String>,
}

/// A filter value that names nothing in the data, and the closest value that does (see
/// `Index::unmatched`). Displays as "no escalations for product `billing`; did you mean Billing?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmatched {
    /// `client`, `product`, `region`, or `q` for the client search.
    pub field: &'static str,
    pub value: String,
    pub suggestion: Option<String>,
}

impl std::fmt::Display for Unmatched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field == "q" {
            write!(f, "no client name contains `{}`", self.value)?;
        } else {
            write!(f, "no escalations for {} `{}`", self.field, self.value)?;
        }
        match &self.suggestion {
            Some(s) => write!(f, "; did you mean {s}?"),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidFilter {
    #[error("`from` ({from}) is after `to` ({to})")]
    FromAfterTo { from: NaiveDate, to: NaiveDate },
}

impl InvalidFilter {
    /// The parameter to fix.
    pub fn parameter(&self) -> &'static str {
        match self {
            Self::FromAfterTo { .. } => "from",
        }
    }
}

impl Filter {
    pub fn validate(&self) -> Result<(), InvalidFilter> {
        match (self.from, self.to) {
            (Some(from), Some(to)) if from > to => Err(InvalidFilter::FromAfterTo { from, to }),
            _ => Ok(()),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The same filter on the period of equal length just before its own (the `to - from + 1`
    /// days ending the day before `from`), when it has both dates.
    pub fn previous_period(&self) -> Option<Self> {
        let (from, to) = (self.from?, self.to?);
        let days = u64::try_from((to - from).num_days()).ok()?;
        let prev_to = from.pred_opt()?;
        let prev_from = prev_to.checked_sub_days(chrono::Days::new(days))?;
        Some(Self {
            from: Some(prev_from),
            to: Some(prev_to),
            ..self.clone()
        })
    }

    /// The dates and filters in force, for subtitles: `2026-01-01 to 2026-03-31 · product: API`.
    pub fn describe(&self) -> String {
        let dates = match (self.from, self.to) {
            (Some(a), Some(b)) => format!("{a} to {b}"),
            (Some(a), None) => format!("from {a}"),
            (None, Some(b)) => format!("until {b}"),
            (None, None) => "all dates".to_owned(),
        };
        match self.describe_slice() {
            Some(slice) => format!("{dates} · {slice}"),
            None => dates,
        }
    }

    /// The filters but the dates, `product: API · severity: high`; `None` when there are none
    /// (digests and alerts, whose period is their own, say them this way).
    pub fn describe_slice(&self) -> Option<String> {
        let mut parts = Vec::new();
        for (name, vals) in [
            ("client", &self.clients),
            ("product", &self.products),
            ("region", &self.regions),
        ] {
            if !vals.is_empty() {
                parts.push(format!("{name}: {}", vals.join(", ")));
            }
        }
        if !self.severities.is_empty() {
            let s: Vec<&str> = self.severities.iter().map(|s| s.as_str()).collect();
            parts.push(format!("severity: {}", s.join(", ")));
        }
        if let Some(q) = self
            .client_search
            .as_deref()
            .filter(|q| !q.trim().is_empty())
        {
            parts.push(format!("clients matching \"{q}\""));
        }
        (!parts.is_empty()).then(|| parts.join(" · "))
    }

    /// The same filter on the range a dashboard opens on: the 12 whole months before `last`'s
    /// month and that month up to `last` (the newest day the data has, or today if sooner), so
    /// the cards always have a period before to compare with.
    pub fn recent(&self, last: NaiveDate) -> Self {
        let first = crate::domain::Month::from_index(crate::domain::Month::of(last).index() - 12);
        Self {
            from: NaiveDate::from_ymd_opt(first.year(), first.month(), 1),
            to: Some(last),
            ..self.clone()
        }
    }

    /// The same filter without its date bounds.
    pub fn without_dates(&self) -> Self {
        Self {
            from: None,
            to: None,
            ..self.clone()
        }
    }

    /// The filter as query-string pairs (`from`, `to`, `client`, `product`, `region`,
    /// `severity`, `q`), the names the pages and the API read.
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if let Some(d) = self.from {
            p.push(("from", d.to_string()));
        }
        if let Some(d) = self.to {
            p.push(("to", d.to_string()));
        }
        p.extend(self.clients.iter().map(|c| ("client", c.clone())));
        p.extend(self.products.iter().map(|c| ("product", c.clone())));
        p.extend(self.regions.iter().map(|c| ("region", c.clone())));
        p.extend(self.severities.iter().map(|s| ("severity", s.to_string())));
        if let Some(q) = &self.client_search {
            p.push(("q", q.clone()));
        }
        p
    }

    /// The filter as a percent-encoded query string.
    pub fn query_string(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.query_pairs() {
            s.append_pair(k, &v);
        }
        s.finish()
    }
}

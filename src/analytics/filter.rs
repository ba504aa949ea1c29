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

    /// The same filter without its date bounds.
    pub fn without_dates(&self) -> Self {
        Self {
            from: None,
            to: None,
            ..self.clone()
        }
    }
}

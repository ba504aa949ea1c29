//! A mapping the user gives for a file the defaults do not read: which column is which field,
//! what each unknown severity value means (or that its rows are to be rejected), and how numeric
//! dates are read. Named columns win over recognised names. Kept as a named source profile, it is
//! reused when a file with the same header comes again.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::{DayOrder, Severity};

/// A field a column can be mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Client,
    Product,
    Region,
    Severity,
    Opened,
    Closed,
    Id,
    Status,
    Summary,
    Email,
    Phone,
}

impl Field {
    pub const ALL: [Self; 11] = [
        Self::Client,
        Self::Product,
        Self::Region,
        Self::Severity,
        Self::Opened,
        Self::Closed,
        Self::Id,
        Self::Status,
        Self::Summary,
        Self::Email,
        Self::Phone,
    ];

    /// The fields an escalation export cannot do without.
    pub const REQUIRED: [Self; 3] = [Self::Client, Self::Opened, Self::Severity];

    pub fn is_required(self) -> bool {
        Self::REQUIRED.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Product => "product",
            Self::Region => "region",
            Self::Severity => "severity",
            Self::Opened => "opened",
            Self::Closed => "closed",
            Self::Id => "id",
            Self::Status => "status",
            Self::Summary => "summary",
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMapping {
    #[error(
        "unknown field {0:?}: expected client, product, region, severity, opened, closed, id, status, summary, email or phone"
    )]
    Field(String),
    #[error("expected FIELD=COLUMN, got {0:?}")]
    Column(String),
    #[error("expected VALUE=LEVEL with LEVEL low, medium, high, critical or reject, got {0:?}")]
    Severity(String),
    #[error("expected day-first or month-first, got {0:?}")]
    DateOrder(String),
}

impl FromStr for Field {
    type Err = InvalidMapping;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or(InvalidMapping::Field(s))
    }
}

/// What a severity value means: a level, or that its rows are rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeverityChoice {
    Low,
    Medium,
    High,
    Critical,
    Reject,
}

impl SeverityChoice {
    pub fn level(self) -> Option<Severity> {
        match self {
            Self::Low => Some(Severity::Low),
            Self::Medium => Some(Severity::Medium),
            Self::High => Some(Severity::High),
            Self::Critical => Some(Severity::Critical),
            Self::Reject => None,
        }
    }
}

impl SeverityChoice {
    pub const ALL: [Self; 5] = [
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
        Self::Reject,
    ];

    /// As written in `--severity-map` and the mapping form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
            Self::Reject => "reject",
        }
    }
}

impl FromStr for SeverityChoice {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}

/// `--date-order` / `date_order`: `day-first` or `month-first`.
pub fn parse_date_order(arg: &str) -> Result<DayOrder, InvalidMapping> {
    match arg.trim().to_ascii_lowercase().as_str() {
        "day-first" => Ok(DayOrder::DayFirst),
        "month-first" => Ok(DayOrder::MonthFirst),
        _ => Err(InvalidMapping::DateOrder(arg.to_owned())),
    }
}

/// The name [`parse_date_order`] reads.
pub fn date_order_name(order: DayOrder) -> &'static str {
    match order {
        DayOrder::DayFirst => "day-first",
        DayOrder::MonthFirst => "month-first",
    }
}

/// `--map FIELD=COLUMN`.
pub fn parse_column_arg(arg: &str) -> Result<(Field, String), InvalidMapping> {
    let (field, column) = arg
        .split_once('=')
        .ok_or_else(|| InvalidMapping::Column(arg.to_owned()))?;
    let column = column.trim().trim_matches('"').trim();
    if column.is_empty() {
        return Err(InvalidMapping::Column(arg.to_owned()));
    }
    Ok((field.parse()?, column.to_owned()))
}

/// `--severity-map VALUE=LEVEL` (the value may itself hold `=`: the last one splits).
pub fn parse_severity_arg(arg: &str) -> Result<(String, SeverityChoice), InvalidMapping> {
    let bad = || InvalidMapping::Severity(arg.to_owned());
    let (value, level) = arg.rsplit_once('=').ok_or_else(bad)?;
    let value = value.trim();
    if value.is_empty() {
        return Err(bad());
    }
    Ok((value.to_owned(), level.parse().map_err(|()| bad())?))
}

/// What `raw` means by `severities` (compared ignoring case and surrounding spaces; a later entry
/// wins), if they name it.
pub fn severity_choice(
    severities: &[(String, SeverityChoice)],
    raw: &str,
) -> Option<SeverityChoice> {
    let raw = raw.trim();
    severities
        .iter()
        .rev()
        .find(|(v, _)| v.trim().eq_ignore_ascii_case(raw))
        .map(|(_, c)| *c)
}

/// The mapping: every part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// Fields and the columns (as written in the header) that fill them.
    #[serde(default)]
    pub columns: Vec<(Field, String)>,
    /// Severity values (compared ignoring case and surrounding spaces) and what they mean.
    #[serde(default)]
    pub severities: Vec<(String, SeverityChoice)>,
    /// How numeric dates are read, instead of deciding from the file.
    #[serde(default)]
    pub date_order: Option<DayOrder>,
    /// Optional fields left unread even where a column's name would fill them (the mapping
    /// page's "not used").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unused: Vec<Field>,
}

impl Mapping {
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
            && self.severities.is_empty()
            && self.date_order.is_none()
            && self.unused.is_empty()
    }

    /// Whether the mapping says which columns to read (then no profile is looked up for it).
    pub fn names_columns(&self) -> bool {
        !self.columns.is_empty() || !self.unused.is_empty()
    }

    /// The column named for `field`, if any.
    pub fn column(&self, field: Field) -> Option<&str> {
        self.columns
            .iter()
            .rev()
            .find(|(f, _)| *f == field)
            .map(|(_, c)| c.as_str())
    }

    /// What `raw` means by the severity map, if it names it.
    pub fn severity(&self, raw: &str) -> Option<SeverityChoice> {
        severity_choice(&self.severities, raw)
    }

    /// This mapping with `other`'s parts laid over it (the command line over a profile).
    pub fn overlaid(mut self, other: &Mapping) -> Self {
        self.columns.extend(other.columns.iter().cloned());
        self.severities.extend(other.severities.iter().cloned());
        self.date_order = other.date_order.or(self.date_order);
        // A column named now brings a field back into use.
        self.unused
            .retain(|f| !other.columns.iter().any(|(named, _)| named == f));
        self.unused.extend(other.unused.iter().copied());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_and_name_what_is_wrong() {
        assert_eq!(
            parse_column_arg("client=Account Name"),
            Ok((Field::Client, "Account Name".to_owned()))
        );
        assert_eq!(
            parse_column_arg("opened=\"Date/Time Opened\""),
            Ok((Field::Opened, "Date/Time Opened".to_owned()))
        );
        assert!(matches!(
            parse_column_arg("colour=x"),
            Err(InvalidMapping::Field(_))
        ));
        assert!(parse_column_arg("client=").is_err());
        assert_eq!(
            parse_severity_arg("5 - Planning=low"),
            Ok(("5 - Planning".to_owned(), SeverityChoice::Low))
        );
        assert_eq!(
            parse_severity_arg("a=b=reject"),
            Ok(("a=b".to_owned(), SeverityChoice::Reject))
        );
        assert!(parse_severity_arg("x=loud").is_err());
        for order in [DayOrder::DayFirst, DayOrder::MonthFirst] {
            assert_eq!(parse_date_order(date_order_name(order)), Ok(order));
        }
        assert!(parse_date_order("ymd").is_err());
    }

    #[test]
    fn later_parts_win_and_values_compare_ignoring_case() {
        let profile = Mapping {
            columns: vec![(Field::Client, "A".into())],
            severities: vec![("Planning".into(), SeverityChoice::Low)],
            date_order: None,
            unused: vec![Field::Region],
        };
        let cli = Mapping {
            columns: vec![(Field::Client, "B".into())],
            ..Mapping::default()
        };
        let m = profile.overlaid(&cli);
        assert_eq!(m.column(Field::Client), Some("B"));
        assert_eq!(m.severity(" planning "), Some(SeverityChoice::Low));
        assert_eq!(m.severity("other"), None);
        assert_eq!(m.unused, vec![Field::Region]);
        let back = m.overlaid(&Mapping {
            columns: vec![(Field::Region, "Geo".into())],
            ..Mapping::default()
        });
        assert!(back.unused.is_empty(), "naming a column brings it back");
    }
}

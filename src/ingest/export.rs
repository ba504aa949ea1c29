//! The export format, both ways. Reading: escalation exports from support tools (Jira, Zendesk,
//! Salesforce, ServiceNow, spreadsheets), columns matched by name in the priority order of each
//! synonym list. Writing: [`HEADER`] and [`record`], what `escamap export` and `/data.csv` write,
//! built from the same lists (each field's first synonym is its written name), so a column added
//! to one side cannot be forgotten on the other.

use chrono::NaiveDate;

use super::RowError;
use super::header::{HeaderCell, cell, find, short, text_reason};
use crate::domain::{Escalation, Label, NewEscalation, Severity, Text, parse_flexible_date};

pub const CLIENT: &[&str] = &[
    "client",
    "customer",
    "account",
    "organization",
    "company",
    "organisation",
    "client name",
    "customer name",
    "account name",
    "organization name",
];
pub const PRODUCT: &[&str] = &["product", "component", "product area", "module"];
pub const REGION: &[&str] = &["region", "geo", "territory"];
pub const SEVERITY: &[&str] = &["severity", "priority", "sev"];
pub const OPENED: &[&str] = &[
    "opened",
    "created",
    "created at",
    "date",
    "reported",
    "opened at",
    "created on",
    "reported at",
];
pub const CLOSED: &[&str] = &[
    "closed",
    "resolved",
    "solved",
    "closed at",
    "resolved at",
    "solved at",
];
pub const ID: &[&str] = &[
    "id",
    "key",
    "ticket",
    "ticket id",
    "issue key",
    "case number",
    "number",
];
pub const STATUS: &[&str] = &["status", "state"];
pub const SUMMARY: &[&str] = &["summary", "subject", "title", "short description"];
pub const EMAIL: &[&str] = &["email", "e mail", "contact email", "requester email"];
pub const PHONE: &[&str] = &["phone", "contact phone", "requester phone"];

/// The written header: each field's first synonym, in the order [`record`] writes the cells.
pub const HEADER: [&str; 11] = [
    ID[0],
    CLIENT[0],
    PRODUCT[0],
    REGION[0],
    SEVERITY[0],
    OPENED[0],
    CLOSED[0],
    STATUS[0],
    SUMMARY[0],
    EMAIL[0],
    PHONE[0],
];

/// One escalation as the cells of [`HEADER`] (not yet neutralised for spreadsheets: the writer
/// does that).
pub fn record(e: &Escalation) -> [String; 11] {
    let f = &e.fields;
    let opt = |t: &Option<Text>| t.as_ref().map(|t| t.to_string()).unwrap_or_default();
    [
        opt(&f.ticket),
        f.client.to_string(),
        f.product.to_string(),
        f.region.to_string(),
        f.severity.to_string(),
        f.opened.to_string(),
        f.closed.map(|d| d.to_string()).unwrap_or_default(),
        opt(&f.status),
        opt(&f.summary),
        opt(&f.email),
        opt(&f.phone),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub(super) header: Vec<String>,
    client: HeaderCell,
    opened: HeaderCell,
    severity: HeaderCell,
    product: Option<HeaderCell>,
    region: Option<HeaderCell>,
    closed: Option<HeaderCell>,
    id: Option<HeaderCell>,
    status: Option<HeaderCell>,
    summary: Option<HeaderCell>,
    email: Option<HeaderCell>,
    phone: Option<HeaderCell>,
}

impl Columns {
    /// The columns, or the list of required ones that are missing, each with its synonyms.
    pub(super) fn detect(keys: &[String], header: &[String]) -> Result<Self, Vec<String>> {
        let f = |syn: &[&str]| find(keys, header, syn);
        let (client, opened, severity) = (f(CLIENT), f(OPENED), f(SEVERITY));
        match (client, opened, severity) {
            (Some(client), Some(opened), Some(severity)) => Ok(Self {
                header: header.to_vec(),
                client,
                opened,
                severity,
                product: f(PRODUCT),
                region: f(REGION),
                closed: f(CLOSED),
                id: f(ID),
                status: f(STATUS),
                summary: f(SUMMARY),
                email: f(EMAIL),
                phone: f(PHONE),
            }),
            (client, opened, severity) => {
                let mut missing = Vec::new();
                for (name, found, syn) in [
                    ("client", client, CLIENT),
                    ("opened", opened, OPENED),
                    ("severity", severity, SEVERITY),
                ] {
                    if found.is_none() {
                        missing.push(format!("{name} (one of: {})", syn.join(", ")));
                    }
                }
                Err(missing)
            }
        }
    }

    pub(super) fn found_any(keys: &[String]) -> bool {
        [
            CLIENT, PRODUCT, REGION, SEVERITY, OPENED, CLOSED, STATUS, SUMMARY,
        ]
        .iter()
        .any(|syn| keys.iter().any(|k| syn.contains(&k.as_str())))
    }

    pub(super) fn map_row(
        &self,
        line: u64,
        record: &csv::StringRecord,
    ) -> Result<NewEscalation, RowError> {
        let err = |col: &HeaderCell, reason: String| RowError::new(line, &col.written, reason);
        let text = |col: &Option<HeaderCell>, what: &str| -> Result<Option<Text>, RowError> {
            match col {
                Some(c) => {
                    Text::optional(cell(record, c)).map_err(|e| err(c, text_reason(what, e)))
                }
                None => Ok(None),
            }
        };
        let label = |col: &Option<HeaderCell>, what: &str| -> Result<Label, RowError> {
            match col {
                Some(c) => Label::new(cell(record, c)).map_err(|e| err(c, text_reason(what, e))),
                None => Ok(Label::unknown()),
            }
        };

        let client = Text::new(cell(record, &self.client))
            .map_err(|e| err(&self.client, text_reason("client", e)))?;
        let severity = Severity::parse_lenient(cell(record, &self.severity))
            .map_err(|e| err(&self.severity, e.to_string()))?;
        let opened =
            date(cell(record, &self.opened)).map_err(|reason| err(&self.opened, reason))?;
        let closed = match &self.closed {
            Some(c) if !cell(record, c).trim().is_empty() => {
                Some(date(cell(record, c)).map_err(|reason| err(c, reason))?)
            }
            _ => None,
        };
        Ok(NewEscalation {
            ticket: text(&self.id, "id")?,
            client,
            product: label(&self.product, "product")?,
            region: label(&self.region, "region")?,
            severity,
            opened,
            closed,
            status: text(&self.status, "status")?,
            summary: text(&self.summary, "summary")?,
            email: text(&self.email, "email")?,
            phone: text(&self.phone, "phone")?,
        })
    }
}

fn date(raw: &str) -> Result<NaiveDate, String> {
    if raw.trim().is_empty() {
        return Err("the date is empty".to_owned());
    }
    parse_flexible_date(raw).map_err(|_| {
        format!(
            "{:?} is not a date (expected YYYY-MM-DD, an ISO date-time, YYYY/MM/DD or M/D/YYYY)",
            short(raw)
        )
    })
}

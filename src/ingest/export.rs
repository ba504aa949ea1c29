//! The export format, both ways. Reading: escalation exports from support tools (Jira, Zendesk,
//! Salesforce, ServiceNow, spreadsheets), columns matched by name in the priority order of each
//! synonym list. Writing: [`HEADER`] and [`record`], what `escamap export` and `/data.csv` write,
//! built from the same lists (each field's first synonym is its written name), so a column added
//! to one side cannot be forgotten on the other.

use chrono::NaiveDate;

use super::RowError;
use super::header::{HeaderCell, cell, find, short, text_reason};
use super::mapping::{Field, Mapping, SeverityChoice, severity_choice};
use crate::domain::{
    DayOrder, Escalation, Label, NewEscalation, Severity, Text, day_order_evidence, iso_date_quick,
    numeric_date_separator, parse_export_date,
};

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
    "company name",
    "custom field (customer)",
    "custom field (organization)",
    "custom field (organizations)",
    "organizations",
    "associated company",
    "associated company (primary)",
];
pub const PRODUCT: &[&str] = &[
    "product",
    "component",
    "product area",
    "module",
    "component/s",
    "components",
    "configuration item",
    "product name",
    "category",
];
pub const REGION: &[&str] = &["region", "geo", "territory", "location", "country"];
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
    "date/time opened",
    "created time",
    "create date",
    "created date",
    "date opened",
    "opened date",
];
pub const CLOSED: &[&str] = &[
    "closed",
    "resolved",
    "solved",
    "closed at",
    "resolved at",
    "solved at",
    "date/time closed",
    "resolved time",
    "closed time",
    "close date",
    "closed date",
    "resolution date",
];
pub const ID: &[&str] = &[
    "id",
    "key",
    "ticket",
    "ticket id",
    "issue key",
    "case number",
    "number",
    "ticket number",
    "case id",
    "incident id",
];
pub const STATUS: &[&str] = &["status", "state", "ticket status"];
pub const SUMMARY: &[&str] = &[
    "summary",
    "subject",
    "title",
    "short description",
    "ticket name",
];
pub const EMAIL: &[&str] = &[
    "email",
    "e mail",
    "contact email",
    "requester email",
    "email address",
];
pub const PHONE: &[&str] = &["phone", "contact phone", "requester phone", "work phone"];

/// Records read for numeric dates before a file is taken to have none.
const DATE_SNIFF_RECORDS: usize = 1_000;

/// The support tools whose standard exports are recognised by their headers, as the report names
/// them, with the headers that tell each apart and the order its numeric dates take when nothing in
/// the file settles it (Salesforce's US default; the others write ISO or month names).
const TOOLS: &[Tool] = &[
    Tool {
        name: "Jira issues export",
        all: &["issue key"],
        any: &["issue type", "issue id", "summary"],
        default_order: None,
    },
    Tool {
        name: "Salesforce cases report",
        all: &[],
        any: &["case number", "date/time opened"],
        default_order: Some(DayOrder::MonthFirst),
    },
    Tool {
        name: "Zendesk tickets export",
        all: &["requester"],
        any: &["created at", "solved at", "requester email"],
        default_order: None,
    },
    Tool {
        name: "Zendesk tickets export",
        all: &["requester email"],
        any: &["created at", "solved at"],
        default_order: None,
    },
    Tool {
        name: "ServiceNow incidents export",
        all: &["number", "opened"],
        any: &[
            "short description",
            "caller",
            "configuration item",
            "assignment group",
            "company",
        ],
        default_order: None,
    },
    Tool {
        name: "Freshdesk tickets export",
        all: &["ticket id"],
        any: &["created time", "resolved time", "closed time"],
        default_order: None,
    },
    Tool {
        name: "HubSpot tickets export",
        all: &[],
        any: &["create date", "ticket name", "pipeline"],
        default_order: None,
    },
];

struct Tool {
    name: &'static str,
    all: &'static [&'static str],
    any: &'static [&'static str],
    default_order: Option<DayOrder>,
}

/// The tool whose export this header is, if it is one.
fn recognise(keys: &[String]) -> Option<&'static Tool> {
    let has = |k: &str| keys.iter().any(|x| x == k);
    TOOLS
        .iter()
        .find(|t| t.all.iter().all(|k| has(k)) && t.any.iter().any(|k| has(k)))
}

/// How the file's numeric `a/b/YYYY` dates are read, decided once per file from its dates
/// ([`Columns::decide_dates`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateReading {
    /// No numeric day-month date was seen: one that turns up is read only if it settles its own
    /// order (a field above 12); an ambiguous one is rejected rather than guessed.
    NoNumericDates,
    /// A date on `line` settled it (`03/04/2026` is then read this way too).
    Settled {
        order: DayOrder,
        line: u64,
        value: String,
    },
    /// Every numeric date fits either way: read as the tool's documented default (or, for a file
    /// from no known tool, month first for `/` and day first for `.` and `-`).
    Default { order: DayOrder, why: String },
    /// The mapping says.
    Mapped(DayOrder),
}

impl DateReading {
    /// The order to read a numeric date in, or `None` to refuse an ambiguous one.
    fn order(&self) -> Option<DayOrder> {
        match self {
            Self::NoNumericDates => None,
            Self::Settled { order, .. } | Self::Default { order, .. } | Self::Mapped(order) => {
                Some(*order)
            }
        }
    }

    /// One sentence for the report, when the file has numeric dates.
    pub fn describe(&self) -> Option<String> {
        match self {
            Self::NoNumericDates => None,
            Self::Settled { order, line, value } => Some(format!(
                "numeric dates read {order}: {value:?} on line {line} settles it"
            )),
            Self::Default { order, why } => Some(format!("numeric dates read {order}: {why}")),
            Self::Mapped(order) => Some(format!("numeric dates read {order}, as the mapping says")),
        }
    }
}

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
    /// The tool the header says the file comes from.
    pub tool: Option<&'static str>,
    tool_order: Option<DayOrder>,
    pub dates: DateReading,
    /// Severity values the mapping names, and what they mean.
    severity_map: Vec<(String, SeverityChoice)>,
}

/// Each field and the synonyms its column is recognised by.
const FIELDS: [(Field, &[&str]); 11] = [
    (Field::Client, CLIENT),
    (Field::Product, PRODUCT),
    (Field::Region, REGION),
    (Field::Severity, SEVERITY),
    (Field::Opened, OPENED),
    (Field::Closed, CLOSED),
    (Field::Id, ID),
    (Field::Status, STATUS),
    (Field::Summary, SUMMARY),
    (Field::Email, EMAIL),
    (Field::Phone, PHONE),
];

/// The required fields with the names each is recognised by, for a refusal.
pub fn required_names() -> String {
    Field::REQUIRED
        .iter()
        .map(|f| format!("{f} (one of: {})", synonyms(*f).join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The names each field is recognised by, for a refusal or the mapping page.
pub fn synonyms(field: Field) -> &'static [&'static str] {
    FIELDS
        .iter()
        .find(|(f, _)| *f == field)
        .map_or(&[], |(_, s)| s)
}

/// The column that fills `field`: the one the mapping names, else the first recognised name
/// (none for an optional field the mapping leaves unused).
fn locate(
    keys: &[String],
    header: &[String],
    mapping: &Mapping,
    field: Field,
) -> Option<HeaderCell> {
    match mapping.column(field) {
        Some(named) => find_named(header, named),
        None if mapping.unused.contains(&field) && !field.is_required() => None,
        None => find(keys, header, synonyms(field)),
    }
}

/// For each field, the column (as written) that would fill it under `mapping`, whether or not
/// the header has every required field: the mapping page's starting point.
pub fn columns_for(header: &[String], mapping: &Mapping) -> Vec<(Field, Option<String>)> {
    let keys: Vec<String> = header
        .iter()
        .map(|h| super::header::header_key(h))
        .collect();
    Field::ALL
        .into_iter()
        .map(|f| (f, locate(&keys, header, mapping, f).map(|c| c.written)))
        .collect()
}

/// The header cell written `name` (ignoring case and spacing), repeats included.
pub(super) fn find_named(header: &[String], name: &str) -> Option<HeaderCell> {
    let key = super::header::header_key(name);
    let keys: Vec<String> = header
        .iter()
        .map(|h| super::header::header_key(h))
        .collect();
    find(&keys, header, &[key.as_str()])
}

impl Columns {
    /// Which column became which field, for the report: (field, header as written).
    pub fn mapping(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("client", self.client.written.clone()),
            ("opened", self.opened.written.clone()),
            ("severity", self.severity.written.clone()),
        ];
        for (name, col) in [
            ("product", &self.product),
            ("region", &self.region),
            ("closed", &self.closed),
            ("id", &self.id),
            ("status", &self.status),
            ("summary", &self.summary),
            ("email", &self.email),
            ("phone", &self.phone),
        ] {
            if let Some(c) = col {
                out.push((name, c.written.clone()));
            }
        }
        out
    }

    /// Decides how numeric dates are read from the file's own opened and closed dates: the
    /// first one with a field above 12 settles it; if none does, the tool's default applies.
    /// Reads records until it is settled, or until [`DATE_SNIFF_RECORDS`] records have shown no
    /// numeric day-month date at all (a file of ISO dates costs that many, not a second pass);
    /// past that, a numeric date is read only when it settles its own order.
    pub(super) fn decide_dates(&mut self, records: impl Iterator<Item = (u64, csv::StringRecord)>) {
        if matches!(self.dates, DateReading::Mapped(_)) {
            return;
        }
        let mut separator = None;
        let mut settled = None;
        for (n, (line, record)) in records.enumerate() {
            if separator.is_none() && n >= DATE_SNIFF_RECORDS {
                break;
            }
            let cols = std::iter::once(&self.opened).chain(self.closed.as_ref());
            for col in cols {
                let v = cell(&record, col);
                let Some(sep) = numeric_date_separator(v) else {
                    continue;
                };
                separator.get_or_insert(sep);
                if let Some(order) = day_order_evidence(v) {
                    settled = Some((order, line, v.trim().to_owned()));
                    break;
                }
            }
            if settled.is_some() {
                break;
            }
        }
        self.dates = match (settled, separator) {
            (Some((order, line, value)), _) => DateReading::Settled { order, line, value },
            (None, None) => DateReading::NoNumericDates,
            (None, Some(sep)) => {
                let (order, why) = match (self.tool_order, self.tool) {
                    (Some(order), Some(tool)) => (
                        order,
                        format!("no date settles the order, so the {tool} default"),
                    ),
                    _ if sep == '/' => (
                        DayOrder::MonthFirst,
                        "no date settles the order, so the default for `/` dates".to_owned(),
                    ),
                    _ => (
                        DayOrder::DayFirst,
                        format!("no date settles the order, so the default for `{sep}` dates"),
                    ),
                };
                DateReading::Default { order, why }
            }
        };
    }
    /// The columns, or the list of required ones that are missing, each with its synonyms.
    /// Columns the mapping names win over recognised names (they were checked to exist).
    pub(super) fn detect(
        keys: &[String],
        header: &[String],
        mapping: &Mapping,
    ) -> Result<Self, Vec<String>> {
        let f = |field: Field| locate(keys, header, mapping, field);
        let (client, opened, severity) = (f(Field::Client), f(Field::Opened), f(Field::Severity));
        let tool = recognise(keys);
        match (client, opened, severity) {
            (Some(client), Some(opened), Some(severity)) => Ok(Self {
                header: header.to_vec(),
                client,
                opened,
                severity,
                product: f(Field::Product),
                region: f(Field::Region),
                closed: f(Field::Closed),
                id: f(Field::Id),
                status: f(Field::Status),
                summary: f(Field::Summary),
                email: f(Field::Email),
                phone: f(Field::Phone),
                tool: tool.map(|t| t.name),
                tool_order: tool.and_then(|t| t.default_order),
                dates: match mapping.date_order {
                    Some(order) => DateReading::Mapped(order),
                    None => DateReading::NoNumericDates,
                },
                severity_map: mapping.severities.clone(),
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
        let (raw_severity, mapped) = self.severity_value(record);
        let severity = match mapped {
            Some(choice) => choice.level().ok_or_else(|| {
                err(
                    &self.severity,
                    format!(
                        "{:?} is rejected by the severity mapping",
                        short(raw_severity)
                    ),
                )
            })?,
            None => Severity::parse_lenient(raw_severity)
                .map_err(|e| err(&self.severity, e.to_string()).unknown_severity())?,
        };
        let opened = self
            .date(cell(record, &self.opened))
            .map_err(|reason| err(&self.opened, reason))?;
        let closed = match &self.closed {
            Some(c) if !cell(record, c).trim().is_empty() => Some(
                self.date(cell(record, c))
                    .map_err(|reason| err(c, reason))?,
            ),
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

impl Columns {
    /// The severity cell of `record`, and what the mapping says it means (if it names it).
    pub(super) fn severity_value<'r>(
        &self,
        record: &'r csv::StringRecord,
    ) -> (&'r str, Option<SeverityChoice>) {
        let raw = cell(record, &self.severity);
        (raw, severity_choice(&self.severity_map, raw))
    }

    /// A date cell in the file's reading.
    fn date(&self, raw: &str) -> Result<NaiveDate, String> {
        if raw.trim().is_empty() {
            return Err("the date is empty".to_owned());
        }
        // Most exports write ISO dates, which say their own order: no evidence to look for, and
        // no splitting.
        if let Some(date) = iso_date_quick(raw) {
            return Ok(date);
        }
        let order = match self.dates.order() {
            Some(order) => order,
            None => match day_order_evidence(raw) {
                Some(order) => order,
                None if numeric_date_separator(raw).is_some() => {
                    return Err(format!(
                        "{:?} could be read day first or month first, and no date in the file settles it",
                        short(raw)
                    ));
                }
                // Not a numeric day-month date: the order does not matter.
                None => DayOrder::DayFirst,
            },
        };
        parse_export_date(raw, order).map_err(|_| {
            format!(
                "{:?} is not a date (expected YYYY-MM-DD, an ISO date-time, DD/MM/YYYY or MM/DD/YYYY as the file's other dates, DD.MM.YYYY, or a date with a month name such as 03/Nov/26)",
                short(raw)
            )
        })
    }
}

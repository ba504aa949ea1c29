//! Pure domain types: what an escalation is, and the closed sets the analytics speak in.
//!
//! No IO, no async, no SQL. Every value here is valid by construction: constructors return a
//! typed error worded for people (`InvalidSeverity`, `InvalidDate`, ...), and serde goes through
//! the same constructors, so neither a CSV row, a query string nor a JSON body can smuggle in an
//! invalid value.

mod account;
mod date;
mod dimension;
mod escalation;
mod schedule;
mod severity;

pub use account::{InvalidPassword, InvalidRole, InvalidUserName, Password, Role, User, UserName};
pub use date::{
    DayOrder, InvalidDate, Month, day_order_evidence, iso_date_quick, local_today,
    numeric_date_separator, parse_export_date, parse_flexible_date,
};
pub use dimension::{
    Compare, Dimension, InvalidCompare, InvalidDimension, InvalidMeasure, InvalidNormalize,
    InvalidPeriod, InvalidSortColumn, InvalidView, Measure, Normalize, Period, SortColumn, View,
};
pub use escalation::{Escalation, InvalidText, Label, NewEscalation, Text};
pub use schedule::{Every, InvalidEvery, InvalidSchedule, Schedule};
pub use severity::{InvalidSeverity, Severity};

/// Longest text a field may hold, in characters.
pub fn escalation_max_chars() -> usize {
    escalation::MAX_TEXT_CHARS
}

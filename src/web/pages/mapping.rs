//! `/import/mapping/{id}`: the mapping step for an upload the defaults do not read. The file's
//! columns and first rows; a column for each field; a level (or "reject row") for each severity
//! value no default reads; the date order; a preview of what would be imported; then Import,
//! which keeps the mapping as a named source profile for the next file with this header.
//!
//! The upload waits in [`crate::web::held`] until Import or Cancel: nothing is stored before.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::import::{Outcome, hold_rejected, imported, page as import_page};
use super::{Layout, render_html};
use crate::app::{AppError, ImportOptions};
use crate::domain::DayOrder;
use crate::ingest::header_key;
use crate::ingest::mapping::{Field, Mapping, SeverityChoice, date_order_name, parse_date_order};
use crate::ingest::preview::{Preview, Reading};
use crate::web::error::WebError;
use crate::web::extract::{Form, Path};
use crate::web::gate::Caller;
use crate::web::held::HeldUpload;
use crate::web::params::ParamError;
use crate::web::state::AppState;

/// Severity values a form may carry.
const MAX_FORM_SEVERITIES: usize = crate::ingest::preview::MAX_SEVERITY_VALUES;

#[derive(Template)]
#[template(path = "pages/mapping.html")]
pub struct MappingPage {
    layout: Layout,
    id: String,
    file: String,
    why: String,
    problem: Option<String>,
    header: Vec<String>,
    sample: Vec<Vec<String>>,
    fields: Vec<FieldChoice>,
    severities: Vec<SeverityRow>,
    more_severities: usize,
    dates: &'static str,
    dates_read: Option<String>,
    result: Option<ResultView>,
    profile_name: String,
    profile_used: Option<String>,
}

/// One field's column choice.
pub struct FieldChoice {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    required: bool,
    /// (column as written, selected)
    options: Vec<(String, bool)>,
}

pub struct SeverityRow {
    index: usize,
    value: String,
    rows: u64,
    /// What the defaults read it as, when they do (the mapping overrides it).
    default: Option<&'static str>,
    selected: &'static str,
}

/// What the rows would become.
pub struct ResultView {
    recognised: &'static str,
    would_import: u64,
    rejected: u64,
    groups: Vec<String>,
    rows: Vec<RowView>,
}

pub struct RowView {
    line: u64,
    /// The cells as imported, or why the row would be rejected.
    cells: Result<[String; 7], String>,
}

fn describe(field: Field) -> (&'static str, &'static str) {
    match field {
        Field::Client => ("Client", "the customer, account or company"),
        Field::Opened => ("Opened", "when the escalation was raised"),
        Field::Severity => ("Severity", "priority or severity"),
        Field::Product => ("Product", "product, component or category"),
        Field::Region => ("Region", "region, territory or country"),
        Field::Closed => ("Closed", "when it was resolved, if it was"),
        Field::Id => (
            "Ticket id",
            "a later row with the same id replaces the earlier",
        ),
        Field::Status => ("Status", ""),
        Field::Summary => ("Summary", "subject or title"),
        Field::Email => ("E-mail", "the contact's address"),
        Field::Phone => ("Phone", "the contact's number"),
    }
}

/// The form as posted.
struct Submitted {
    mapping: Mapping,
    profile: String,
    import: bool,
}

impl Submitted {
    fn parse(pairs: &[(String, String)]) -> Result<Self, ParamError> {
        let get = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim())
        };
        let mut mapping = Mapping::default();
        for field in Field::ALL {
            match get(&format!("col-{field}")) {
                Some("") if !field.is_required() => mapping.unused.push(field),
                Some("") | None => {}
                Some(column) => mapping.columns.push((field, column.to_owned())),
            }
        }
        for i in 0..MAX_FORM_SEVERITIES {
            let (Some(value), Some(level)) = (
                get(&format!("sev-value-{i}")),
                get(&format!("sev-level-{i}")),
            ) else {
                continue;
            };
            if level.is_empty() {
                continue;
            }
            let choice: SeverityChoice = level.parse().map_err(|()| {
                ParamError::new(
                    &format!("sev-level-{i}"),
                    "expected low, medium, high, critical or reject",
                )
            })?;
            mapping.severities.push((value.to_owned(), choice));
        }
        mapping.date_order = match get("dates") {
            None | Some("" | "auto") => None,
            Some(v) => {
                Some(parse_date_order(v).map_err(|e| ParamError::new("dates", e.to_string()))?)
            }
        };
        let import = match get("action") {
            None | Some("preview") => false,
            Some("import") => true,
            Some(_) => return Err(ParamError::new("action", "expected preview or import")),
        };
        Ok(Self {
            mapping,
            profile: get("profile").unwrap_or_default().to_owned(),
            import,
        })
    }
}

/// `GET /import/mapping/{id}`: the held upload under the profile saved for its header, if any.
pub async fn show_mapping(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let upload = held(&state, &caller, &id)?;
    let (preview, profile) = preview(&state, &upload, ImportOptions::default()).await?;
    Ok(render(&caller, &id, &upload, preview, profile, None, None).into_response())
}

/// `POST /import/mapping/{id}`: `action=preview` shows the upload under the submitted mapping;
/// `action=import` imports it so and keeps the mapping as the profile named in `profile`.
pub async fn submit_mapping(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = Submitted::parse(&pairs).map_err(WebError::BadRequest)?;
    let upload = held(&state, &caller, &id)?;
    let options = ImportOptions {
        mapping: form.mapping.clone(),
        ..ImportOptions::default()
    };
    let (preview, _) = preview(&state, &upload, options.clone()).await?;
    if !form.import {
        let page = render(&caller, &id, &upload, preview, None, None, Some(&form));
        return Ok(page.into_response());
    }
    let profile = if form.profile.is_empty() {
        suggested_profile(&upload.name, &preview)
    } else {
        form.profile.clone()
    };
    let problem = match &preview.reading {
        Err(e) => Some(e.to_string()),
        Ok(r) if r.unmapped_severities() > 0 => Some(format!(
            "Choose a level, or \"reject its rows\", for every severity value: {} still need one.",
            r.unmapped_severities()
        )),
        Ok(_) => crate::app::profile_name(&profile)
            .err()
            .map(|e| e.to_string()),
    };
    if let Some(problem) = problem {
        let page = render(
            &caller,
            &id,
            &upload,
            preview,
            None,
            Some(problem),
            Some(&form),
        );
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    // Taken, so a second click finds nothing to import twice; put back if the import fails.
    let Some(taken) = state.held.uploads.take(&caller.owner(), &id) else {
        return Err(gone());
    };
    let file = crate::web::upload::Upload {
        name: taken.value().name.clone(),
        bytes: taken.value().bytes.clone(),
    };
    let options = ImportOptions {
        save_profile: Some(profile),
        ..options
    };
    match crate::web::upload::import(&state, &caller, &file, options).await {
        Ok(report) => {
            if let Some(p) = &report.profile {
                crate::web::audit::changed(&caller, "profile_saved", p);
            }
            imported(&state, &caller, report).await
        }
        Err(AppError::AllRejected(report)) => {
            state.held.uploads.put_back(taken);
            let rejected_link = hold_rejected(&state, &caller, &report);
            let refused = format!(
                "every row was rejected ({}); nothing was imported",
                report.rejected_count
            );
            let page = import_page(
                &state,
                &caller,
                Outcome {
                    report: Some(*report),
                    rejected_link,
                    mapping_link: Some(format!("/import/mapping/{id}")),
                    refused: Some(refused),
                    ..Outcome::default()
                },
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => {
            state.held.uploads.put_back(taken);
            Err(e.into())
        }
    }
}

/// `POST /import/mapping/{id}/cancel`: lets go of the upload.
pub async fn cancel_mapping(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Redirect {
    state.held.uploads.remove(&caller.owner(), &id);
    Redirect::to("/import")
}

fn gone() -> WebError {
    WebError::Gone(
        "This upload is no longer held (uploads wait 30 minutes for their mapping, and not \
         across a restart). Upload the file again."
            .into(),
    )
}

fn held(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<std::sync::Arc<HeldUpload>, WebError> {
    state.held.uploads.get(&caller.owner(), id).ok_or_else(gone)
}

async fn preview(
    state: &AppState,
    upload: &std::sync::Arc<HeldUpload>,
    options: ImportOptions,
) -> Result<(Preview, Option<String>), WebError> {
    let app = state.app.clone();
    let upload = upload.clone();
    crate::web::blocking(move || app.preview(&upload.bytes, app.today(), &options)).await
}

/// A profile name for an upload: the tool it came from, else the file's name without extension.
fn suggested_profile(file: &str, preview: &Preview) -> String {
    match preview.reading.as_ref().ok().and_then(|r| r.tool) {
        Some(tool) => tool.to_owned(),
        None => file
            .rsplit_once('.')
            .map_or(file, |(stem, _)| stem)
            .chars()
            .take(100)
            .collect(),
    }
}

fn render(
    caller: &Caller,
    id: &str,
    upload: &HeldUpload,
    preview: Preview,
    profile_used: Option<String>,
    problem: Option<String>,
    form: Option<&Submitted>,
) -> axum::response::Html<String> {
    let why = match &preview.reading {
        Err(_) => "EscaMap could not tell which column is which. Pick the column for each field; \
                   the preview below shows what would be imported."
            .to_owned(),
        Ok(r) if r.unmapped_severities() > 0 => format!(
            "{} severity value{} of this file {} not one EscaMap knows. Give each a level, or \
             reject its rows.",
            r.unmapped_severities(),
            if r.unmapped_severities() == 1 {
                ""
            } else {
                "s"
            },
            if r.unmapped_severities() == 1 {
                "is"
            } else {
                "are"
            },
        ),
        Ok(r) if r.would_import == 0 => "As the file stands, every row would be rejected. Check \
            the columns and the date order."
            .to_owned(),
        Ok(_) => "Check the columns and the preview, then import.".to_owned(),
    };
    // The required fields first.
    let mut fields: Vec<FieldChoice> = preview
        .columns
        .iter()
        .map(|(field, chosen)| field_choice(*field, chosen.as_deref(), &preview.header))
        .collect();
    fields.sort_by_key(|f| !f.required);
    let (severities, more_severities, dates_read, result) = match &preview.reading {
        Ok(r) => (
            severity_rows(r),
            r.more_severities,
            r.dates.clone(),
            Some(result_view(r)),
        ),
        Err(_) => (Vec::new(), 0, None, None),
    };
    let problem = problem.or_else(|| preview.reading.as_ref().err().map(ToString::to_string));
    let date_order = form.and_then(|f| f.mapping.date_order);
    let profile_name = match form {
        Some(f) if !f.profile.is_empty() => f.profile.clone(),
        _ => profile_used
            .clone()
            .unwrap_or_else(|| suggested_profile(&upload.name, &preview)),
    };
    render_html(&MappingPage {
        layout: Layout::new("Map the columns", "import", Some(caller)),
        id: id.to_owned(),
        file: upload.name.clone(),
        why,
        problem,
        header: preview.header,
        sample: preview.sample,
        fields,
        severities,
        more_severities,
        dates: date_order.map_or("auto", date_order_name),
        dates_read,
        result,
        profile_name,
        profile_used,
    })
}

fn field_choice(field: Field, chosen: Option<&str>, header: &[String]) -> FieldChoice {
    let (label, hint) = describe(field);
    let chosen_key = chosen.map(header_key);
    let mut seen = std::collections::HashSet::new();
    let options = header
        .iter()
        .map(|h| h.trim())
        .filter(|h| !h.is_empty() && seen.insert(header_key(h)))
        .map(|h| {
            (
                h.to_owned(),
                chosen_key.as_deref() == Some(header_key(h).as_str()),
            )
        })
        .collect();
    FieldChoice {
        name: field.as_str(),
        label,
        hint,
        required: field.is_required(),
        options,
    }
}

fn severity_rows(r: &Reading) -> Vec<SeverityRow> {
    r.severities
        .iter()
        .enumerate()
        .map(|(index, v)| SeverityRow {
            index,
            value: v.value.clone(),
            rows: v.rows,
            default: v.default.map(|s| s.as_str()),
            selected: v.mapped.map_or("", SeverityChoice::as_str),
        })
        .collect()
}

fn result_view(r: &Reading) -> ResultView {
    let opt =
        |t: &Option<crate::domain::Text>| t.as_ref().map(ToString::to_string).unwrap_or_default();
    ResultView {
        recognised: r.recognised,
        would_import: r.would_import,
        rejected: r.rejected,
        groups: r.groups.iter().take(10).map(ToString::to_string).collect(),
        rows: r
            .rows
            .iter()
            .map(|(line, row)| RowView {
                line: *line,
                cells: match row {
                    Ok(e) => Ok([
                        e.client.to_string(),
                        e.product.to_string(),
                        e.region.to_string(),
                        e.severity.to_string(),
                        e.opened.to_string(),
                        e.closed.map(|d| d.to_string()).unwrap_or_default(),
                        opt(&e.ticket),
                    ]),
                    Err(e) => Err(e.to_string()),
                },
            })
            .collect(),
    }
}

impl SeverityRow {
    fn is(&self, level: &str) -> bool {
        self.selected == level
    }
}

impl MappingPage {
    fn dates_are(&self, order: &str) -> bool {
        self.dates == order
    }

    /// The levels a severity value may be given: (as the form sends it, as the page says it).
    fn levels(&self) -> [(&'static str, &'static str); 5] {
        SeverityChoice::ALL.map(|c| match c {
            SeverityChoice::Reject => (c.as_str(), "reject its rows"),
            _ => (c.as_str(), c.as_str()),
        })
    }

    fn date_orders(&self) -> [(&'static str, &'static str); 3] {
        [
            ("auto", "decide from the file's dates"),
            (
                date_order_name(DayOrder::DayFirst),
                "day first: 03/04/2026 is 3 April",
            ),
            (
                date_order_name(DayOrder::MonthFirst),
                "month first: 03/04/2026 is 4 March",
            ),
        ]
    }
}

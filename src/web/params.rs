//! The web's query strings: [`crate::query`]'s reading, plus what only the API reads
//! (`POST /api/v1/imports`' mapping options).

pub use crate::query::*;

use crate::app::ImportOptions;
use crate::ingest::mapping::{InvalidMapping, Mapping};

/// `POST /api/v1/imports`' reading options, as the command line's: `map=FIELD=COLUMN` and
/// `severity_map=VALUE=LEVEL` (repeatable), `date_order`, `profile`, `save_profile`.
pub fn import_options(p: &Params) -> Result<ImportOptions, ParamError> {
    use crate::ingest::mapping::{parse_column_arg, parse_date_order, parse_severity_arg};
    fn bad(name: &'static str) -> impl Fn(InvalidMapping) -> ParamError {
        move |e| ParamError::new(name, e.to_string())
    }
    let mut mapping = Mapping::default();
    for m in p.all("map") {
        mapping
            .columns
            .push(parse_column_arg(&m).map_err(bad("map"))?);
    }
    for m in p.all("severity_map") {
        mapping
            .severities
            .push(parse_severity_arg(&m).map_err(bad("severity_map"))?);
    }
    mapping.date_order = p
        .get("date_order")
        .map(parse_date_order)
        .transpose()
        .map_err(bad("date_order"))?;
    Ok(ImportOptions {
        mapping,
        profile: p.get("profile").map(str::to_owned),
        save_profile: p.get("save_profile").map(str::to_owned),
        stop_at_unknown_severity: false,
    })
}

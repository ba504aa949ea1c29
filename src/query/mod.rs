//! Query strings read into typed values, for the pages, the API, the command line's saved views
//! and the application's subscriptions alike. Repeated keys (`product=A&product=B`) are
//! alternatives; empty values (what a GET form sends for an untouched field) are ignored. Every
//! failure names the parameter, so a 400 says exactly what to fix.
//!
//! `dashboard.rs` reads the dashboard's own state (its tab, and the heatmap a tab draws).

pub mod dashboard;

use std::str::FromStr;

use crate::analytics::{Filter, HeatmapQuery};
use crate::domain::{
    Compare, Dimension, Measure, Normalize, Severity, SortColumn, View, parse_flexible_date,
};
use crate::render::Palette;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parameter `{parameter}`: {message}")]
pub struct ParamError {
    pub parameter: String,
    pub message: String,
}

impl ParamError {
    pub fn new(parameter: &str, message: impl Into<String>) -> Self {
        Self {
            parameter: parameter.to_owned(),
            message: message.into(),
        }
    }
}

/// The decoded pairs of a query string.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

pub const MAX_PER_PAGE: usize = 1_000;
pub const DEFAULT_PER_PAGE: usize = 50;
pub const MAX_TOP: usize = 100_000;

impl Params {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The last non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    /// Every non-empty value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    pub fn typed<T: FromStr>(&self, name: &str) -> Result<Option<T>, ParamError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| ParamError::new(name, e.to_string()))
            })
            .transpose()
    }

    fn number(&self, name: &str, min: usize, max: usize) -> Result<Option<usize>, ParamError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(ParamError::new(
                    name,
                    format!(
                        "expected a whole number from {min} to {max}, got {:?}",
                        short(v)
                    ),
                )),
            },
        }
    }

    pub fn filter(&self) -> Result<Filter, ParamError> {
        let date = |name: &str| -> Result<_, ParamError> {
            self.get(name)
                .map(|v| parse_flexible_date(v).map_err(|e| ParamError::new(name, e.to_string())))
                .transpose()
        };
        let severities = self
            .all("severity")
            .iter()
            .map(|v| {
                v.parse::<Severity>()
                    .map_err(|e| ParamError::new("severity", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let f = Filter {
            from: date("from")?,
            to: date("to")?,
            clients: self.all("client"),
            products: self.all("product"),
            regions: self.all("region"),
            severities,
            client_search: self.get("q").map(str::to_owned),
        };
        f.validate()
            .map_err(|e| ParamError::new("from", e.to_string()))?;
        Ok(f)
    }

    /// `as_of` (a date), `period` (month or week, default month) and `limit` (1 to `max`,
    /// default `default`): what the insights and accounts routes read besides the filter.
    pub fn as_of(&self) -> Result<Option<chrono::NaiveDate>, ParamError> {
        self.get("as_of")
            .map(|v| parse_flexible_date(v).map_err(|e| ParamError::new("as_of", e.to_string())))
            .transpose()
    }

    pub fn period(&self) -> Result<crate::domain::Period, ParamError> {
        Ok(self
            .typed::<crate::domain::Period>("period")?
            .unwrap_or(crate::domain::Period::Month))
    }

    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ParamError> {
        Ok(self.number("limit", 1, max)?.unwrap_or(default))
    }

    pub fn top(&self) -> Result<Option<usize>, ParamError> {
        self.number("top", 1, MAX_TOP)
    }

    /// `view=...`, or `rows=..&cols=..[&measure=..]`.
    pub fn heatmap(&self) -> Result<HeatmapQuery, ParamError> {
        let filter = self.filter()?;
        let top = self.top()?;
        let query = if let Some(view) = self.typed::<View>("view")? {
            if self.get("rows").is_some() || self.get("cols").is_some() {
                return Err(ParamError::new(
                    "view",
                    "give either `view` or `rows` and `cols`, not both",
                ));
            }
            HeatmapQuery::view(view, top, filter)
        } else {
            let rows = self
                .typed::<Dimension>("rows")?
                .ok_or_else(|| ParamError::new("rows", "required (or give `view`)"))?;
            let cols = self
                .typed::<Dimension>("cols")?
                .ok_or_else(|| ParamError::new("cols", "required (or give `view`)"))?;
            let measure = self.typed::<Measure>("measure")?.unwrap_or(Measure::Count);
            HeatmapQuery::new(rows, cols, measure, top, filter)
        };
        let normalize = self.typed::<Normalize>("normalize")?;
        let compare = self.typed::<Compare>("compare")?;
        query
            .and_then(|q| q.with_normalize(normalize))
            .and_then(|q| q.with_compare(compare))
            .map_err(|e| ParamError::new(e.parameter(), e.to_string()))
    }

    /// `width`: the pixels a drawing must fit (200 to 10,000), as the dashboard fits its panel.
    pub fn width(&self) -> Result<Option<f64>, ParamError> {
        Ok(self.number("width", 200, 10_000)?.map(|w| w as f64))
    }

    pub fn palette(&self) -> Result<Palette, ParamError> {
        Ok(self.typed::<Palette>("palette")?.unwrap_or_default())
    }

    /// page (from 1), per_page (1..=1000), sort column, descending?
    pub fn paging(&self) -> Result<(usize, usize, SortColumn, bool), ParamError> {
        let page = self.number("page", 1, usize::MAX / 2)?.unwrap_or(1);
        let per_page = self
            .number("per_page", 1, MAX_PER_PAGE)?
            .unwrap_or(DEFAULT_PER_PAGE);
        let sort = self
            .typed::<SortColumn>("sort")?
            .unwrap_or(SortColumn::Opened);
        let descending = match self.get("order") {
            None => sort == SortColumn::Opened,
            Some(o) if o.eq_ignore_ascii_case("desc") => true,
            Some(o) if o.eq_ignore_ascii_case("asc") => false,
            Some(o) => {
                return Err(ParamError::new(
                    "order",
                    format!("expected asc or desc, got {:?}", short(o)),
                ));
            }
        };
        Ok((page, per_page, sort, descending))
    }

    /// Rebuilds a query string from `pairs`, percent-encoded.
    pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            if !v.is_empty() {
                s.append_pair(k, &v);
            }
        }
        s.finish()
    }
}

/// The dashboard's state keys a saved view keeps, besides the filter's (`from`, `to`, `client`,
/// `product`, `region`, `severity`, `q`).
pub const VIEW_KEYS: &[&str] = &[
    "tab",
    "rows",
    "cols",
    "measure",
    "top",
    "normalize",
    "compare",
    "period",
    "range",
    "palette",
];
const FILTER_KEYS: &[&str] = &["from", "to", "client", "product", "region", "severity", "q"];

/// A dashboard query string (`tab=client-overview&client=Globex`, with or without a leading `/?`
/// or `?`), checked as the dashboard reads it and made canonical: known keys only, empty values
/// dropped, in their order. The one reading of a saved view's query, for the pages and the CLI.
pub fn dashboard_query(raw: &str) -> Result<String, ParamError> {
    let raw = raw.trim();
    let raw = raw
        .strip_prefix("/?")
        .or_else(|| raw.strip_prefix('?'))
        .unwrap_or(raw);
    if raw.len() > 4_000 {
        return Err(ParamError::new("query", "longer than 4,000 characters"));
    }
    let p = Params::parse(Some(raw));
    for (k, _) in &p.0 {
        if !VIEW_KEYS.contains(&k.as_str()) && !FILTER_KEYS.contains(&k.as_str()) {
            return Err(ParamError::new(
                k,
                format!(
                    "not a dashboard parameter: expected one of {}, {}",
                    FILTER_KEYS.join(", "),
                    VIEW_KEYS.join(", ")
                ),
            ));
        }
    }
    p.filter()?;
    p.top()?;
    p.palette()?;
    p.typed::<Dimension>("rows")?;
    p.typed::<Dimension>("cols")?;
    p.typed::<Measure>("measure")?;
    p.typed::<Normalize>("normalize")?;
    p.typed::<Compare>("compare")?;
    p.typed::<crate::domain::Period>("period")?;
    dashboard::DashboardTab::from_params(&p)?;
    if let Some(r) = p.get("range")
        && r != "all"
    {
        return Err(ParamError::new("range", "expected all"));
    }
    Ok(Params::encode(
        p.0.iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.as_str(), v.trim().to_owned())),
    ))
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The filter as query pairs, the inverse of [`Params::filter`].
pub fn filter_pairs(f: &Filter) -> Vec<(&'static str, String)> {
    f.query_pairs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_empty_values() {
        let p = Params::parse(Some(
            "product=A&product=&product=B%20C&from=&to=2024-02-01&severity=P1&q=acme",
        ));
        let f = p.filter().expect("valid");
        assert_eq!(f.products, ["A", "B C"]);
        assert_eq!(f.from, None);
        assert_eq!(f.to.map(|d| d.to_string()).as_deref(), Some("2024-02-01"));
        assert_eq!(f.severities, [Severity::Critical]);
        assert_eq!(f.client_search.as_deref(), Some("acme"));
        assert_eq!(
            Params::parse(Some(&Params::encode(filter_pairs(&f)))).filter(),
            Ok(f)
        );
    }

    #[test]
    fn a_saved_view_query_is_checked_and_made_canonical() {
        assert_eq!(
            dashboard_query("/?tab=client-overview&client=Globex&product=&q= "),
            Ok("tab=client-overview&client=Globex".to_owned())
        );
        assert_eq!(
            dashboard_query("?from=2026-01-01&severity=high&range=all"),
            Ok("from=2026-01-01&severity=high&range=all".to_owned())
        );
        for (q, param) in [
            ("tab=nope", "tab"),
            ("evil=1", "evil"),
            ("from=soon", "from"),
            ("rows=day", "rows"),
            ("range=some", "range"),
            ("top=0", "top"),
        ] {
            assert_eq!(dashboard_query(q).expect_err(q).parameter, param, "{q}");
        }
    }

    #[test]
    fn errors_name_the_parameter() {
        let cases = [
            ("rows=day&cols=client", "rows"),
            ("rows=client", "cols"),
            ("view=nope", "view"),
            ("view=regional&rows=client", "view"),
            ("rows=client&cols=client", "cols"),
            ("rows=client&cols=month&measure=avg", "measure"),
            ("view=regional&top=0", "top"),
            ("view=regional&from=soon", "from"),
            ("view=regional&severity=P7", "severity"),
            ("view=regional&from=2024-02-01&to=2024-01-01", "from"),
        ];
        for (q, param) in cases {
            let err = Params::parse(Some(q)).heatmap().expect_err(q);
            assert_eq!(err.parameter, param, "{q}: {err}");
        }
        for (q, param) in [
            ("per_page=1001", "per_page"),
            ("page=0", "page"),
            ("sort=summary", "sort"),
            ("order=up", "order"),
        ] {
            let err = Params::parse(Some(q)).paging().expect_err(q);
            assert_eq!(err.parameter, param, "{q}: {err}");
        }
    }
}

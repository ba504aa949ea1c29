//! The dashboard's own state in a query string: which tab, and the heatmap each tab draws. The
//! pages read it to lay out the dashboard; saved views, digests and subscriptions read it to draw
//! the same heatmap a manager saved.

use super::{ParamError, Params};
use crate::analytics::{Filter, HeatmapQuery};
use crate::domain::{Dimension, Measure, View};

/// Client Overview shows this many rows unless `top` says otherwise.
pub const DEFAULT_CLIENT_ROWS: usize = 25;

/// The most rows the dashboard draws: more is a download (the CSV has them all), not a page of
/// tens of megabytes.
pub const MAX_PAGE_ROWS: usize = 500;

/// The dashboard's tabs: the original's three views, and a custom pair of dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashboardTab {
    View(View),
    /// The backlog over time and the time to resolve by product and month.
    Resolution,
    Custom,
}

impl DashboardTab {
    pub const ALL: [Self; 5] = [
        Self::View(View::ProductTimeline),
        Self::View(View::Regional),
        Self::View(View::ClientOverview),
        Self::Resolution,
        Self::Custom,
    ];

    /// The `tab=` value.
    pub fn slug(self) -> &'static str {
        match self {
            Self::View(View::ProductTimeline) => "product-timeline",
            Self::View(View::Regional) => "regional",
            Self::View(View::ClientOverview) => "client-overview",
            Self::Resolution => "resolution",
            Self::Custom => "custom",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::View(v) => v.title(),
            Self::Resolution => "Resolution",
            Self::Custom => "Custom",
        }
    }

    pub fn is_resolution(self) -> bool {
        self == Self::Resolution
    }

    pub fn is_custom(self) -> bool {
        self == Self::Custom
    }

    /// `tab=`, the Product Timeline when absent.
    pub fn from_params(p: &Params) -> Result<Self, ParamError> {
        match p.get("tab") {
            None => Ok(Self::View(View::ProductTimeline)),
            Some(t) => Self::ALL.into_iter().find(|x| x.slug() == t).ok_or_else(|| {
                ParamError::new(
                    "tab",
                    format!("unknown tab {t:?}: expected product-timeline, regional, client-overview, resolution or custom"),
                )
            }),
        }
    }
}

/// The heatmap the tab asks for, and for a custom tab whose axes cannot be drawn, why (the
/// client x severity default is shown instead).
pub fn heatmap_query(
    tab: DashboardTab,
    p: &Params,
    filter: &Filter,
) -> Result<(HeatmapQuery, Option<String>), ParamError> {
    let top = p.top()?.map(|t| t.min(MAX_PAGE_ROWS));
    match tab {
        DashboardTab::Custom => {
            let rows = p.typed::<Dimension>("rows")?.unwrap_or(Dimension::Client);
            let cols = p.typed::<Dimension>("cols")?.unwrap_or(Dimension::Severity);
            let measure = p.typed::<Measure>("measure")?.unwrap_or(Measure::Count);
            let top = Some(top.unwrap_or(DEFAULT_CLIENT_ROWS));
            match HeatmapQuery::new(rows, cols, measure, top, filter.clone()) {
                Ok(q) => Ok((q, None)),
                Err(e) => {
                    let fallback = HeatmapQuery::new(
                        Dimension::Client,
                        Dimension::Severity,
                        measure,
                        top,
                        filter.clone(),
                    )
                    .map_err(|e| ParamError::new("rows", e.to_string()))?;
                    Ok((fallback, Some(e.to_string())))
                }
            }
        }
        DashboardTab::Resolution => {
            let q = HeatmapQuery::new(
                Dimension::Product,
                Dimension::Month,
                Measure::Mttr,
                top,
                filter.clone(),
            )
            .map_err(|e| ParamError::new("top", e.to_string()))?;
            Ok((q, None))
        }
        DashboardTab::View(view) => {
            let top = if view == View::ClientOverview {
                Some(top.unwrap_or(DEFAULT_CLIENT_ROWS))
            } else {
                top
            };
            let q = HeatmapQuery::view(view, top, filter.clone())
                .map_err(|e| ParamError::new("top", e.to_string()))?;
            Ok((q, None))
        }
    }
}

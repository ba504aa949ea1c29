//! Questions answered from the index (stats, heatmaps), and rows fetched from the store by the
//! ids the index selects (pages, exports).

use std::io::Write;

use super::{App, AppError, FETCH_CHUNK};
use chrono::NaiveDate;

use crate::analytics::anomalies;
use crate::analytics::insights::{self, Insights};
use crate::analytics::risk::{self, Accounts};
use crate::analytics::{
    Backlog, Compared, Filter, Heatmap, HeatmapQuery, InvalidQuery, Stats, Unmatched,
};
use crate::domain::{Dimension, Escalation, Period, SortColumn};
use crate::ingest::export;
use crate::render::csv_safe;

impl App {
    pub fn stats(&self, filter: &Filter) -> Result<Stats, AppError> {
        filter.validate().map_err(InvalidQuery::from)?;
        Ok(self.index().stats(filter))
    }

    /// The heatmap, with its flagged cells: over time, each cell against its row's past; with
    /// two non-time dimensions, the current period's findings on that pair.
    pub fn heatmap(&self, q: &HeatmapQuery) -> Heatmap {
        let mut map = self.index().heatmap(q);
        let sliced = |d: Dimension| {
            matches!(
                d,
                Dimension::Client | Dimension::Product | Dimension::Region
            )
        };
        map.anomalies = if q.rows.is_time() || q.cols.is_time() {
            anomalies::over_time(&map)
        } else if !(sliced(q.rows) && sliced(q.cols)) {
            Vec::new()
        } else {
            match self.insights(&q.filter, Period::Month, None, insights::MAX_LIMIT) {
                Ok(found) => anomalies::from_findings(&map, &found.findings),
                Err(_) => Vec::new(),
            }
        };
        map
    }

    /// Opened, closed and open at the end of each period, for the escalations `filter` selects
    /// (its dates choose the periods shown).
    pub fn backlog(&self, filter: &Filter, period: Period) -> Result<Backlog, AppError> {
        filter.validate().map_err(InvalidQuery::from)?;
        Ok(self.index().backlog(filter, period))
    }

    /// The findings for the escalations `filter` selects, most urgent first, at most `limit`.
    /// `as_of` defaults to the filter's `to`, then to the last opened date it selects; its other
    /// dates are not used. Answers are remembered for as long as the index is unchanged.
    pub fn insights(
        &self,
        filter: &Filter,
        period: Period,
        as_of: Option<NaiveDate>,
        limit: usize,
    ) -> Result<Insights, AppError> {
        filter.validate().map_err(InvalidQuery::from)?;
        let index = self.index();
        let as_of = as_of.or(filter.to);
        let key = (filter.without_dates(), period, as_of);
        let all = self.insights.get_or(&index, key.clone(), || {
            index.insights(&key.0, period, as_of, insights::MAX_LIMIT)
        });
        Ok(all.first(limit))
    }

    /// The accounts among the escalations `filter` selects, riskiest first, at most `limit`.
    /// `as_of` defaults to the filter's `to`, then to the last opened date it selects.
    pub fn accounts(
        &self,
        filter: &Filter,
        as_of: Option<NaiveDate>,
        limit: usize,
    ) -> Result<Accounts, AppError> {
        filter.validate().map_err(InvalidQuery::from)?;
        let index = self.index();
        let as_of = as_of.or(filter.to);
        let key = (filter.without_dates(), as_of);
        let all = self.accounts.get_or(&index, key.clone(), || {
            index.accounts(&key.0, as_of, risk::MAX_LIMIT)
        });
        Ok(all.first(limit))
    }

    /// Stats for the filter and for the period just before it ([`Index::stats_compared`]).
    pub fn stats_compared(&self, filter: &Filter) -> Result<Compared, AppError> {
        filter.validate().map_err(InvalidQuery::from)?;
        Ok(self.index().stats_compared(filter))
    }

    /// The filter's values that match nothing in the data, with suggestions
    /// ([`crate::analytics::Index::unmatched`]).
    pub fn unmatched(&self, filter: &Filter) -> Vec<Unmatched> {
        self.index().unmatched(filter)
    }

    /// One page of escalations, sorted, and the number matching the filter.
    pub fn escalations_page(
        &self,
        filter: &Filter,
        sort: SortColumn,
        descending: bool,
        page: usize,
        per_page: usize,
    ) -> Result<(Vec<Escalation>, usize), AppError> {
        filter.validate().map_err(InvalidQuery::from)?;
        let offset = page.saturating_sub(1).saturating_mul(per_page);
        let (ids, total) = self
            .index()
            .page(filter, sort, descending, offset, per_page);
        Ok((self.store().escalations(&ids)?, total))
    }

    /// The escalations behind a filter, in opened-date order.
    pub fn escalations(&self, filter: &Filter) -> Result<Vec<Escalation>, AppError> {
        let ids = self.index().select(filter);
        let mut store = self.store();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(FETCH_CHUNK) {
            out.extend(store.escalations(chunk)?);
        }
        Ok(out)
    }

    /// Writes the filtered escalations as an export-format CSV that EscaMap can import again.
    /// Cells a spreadsheet would run as formulas are neutralised. Returns the number of rows.
    pub fn export_csv(&self, filter: &Filter, out: impl Write) -> Result<u64, AppError> {
        filter.validate().map_err(InvalidQuery::from)?;
        let ids = self.index().select(filter);
        let mut w = csv::Writer::from_writer(out);
        let out_err = |e: csv::Error| AppError::Output(e.to_string());
        w.write_record(export::HEADER).map_err(out_err)?;
        let mut n = 0;
        for chunk in ids.chunks(FETCH_CHUNK) {
            let rows = self.store().escalations(chunk)?;
            for e in rows {
                w.write_record(export::record(&e).iter().map(|c| csv_safe(c).into_owned()))
                    .map_err(out_err)?;
                n += 1;
            }
        }
        w.flush().map_err(|e| AppError::Output(e.to_string()))?;
        Ok(n)
    }
}

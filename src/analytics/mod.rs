//! The in-memory columnar index and the aggregations the dashboard and the command line ask for.
//!
//! SQL `GROUP BY` per request cannot answer in milliseconds at a million escalations, so the
//! store is read once into an [`Index`]: dictionary-encoded dimensions, opened dates as day
//! numbers, severity as a byte, and a precomputed period code per time dimension, with rows
//! sorted by opened date so a date filter is a binary search. Every query is one pass over
//! the rows that survive the date range, accumulating into a dense grid. After that first read, a
//! committed change is taken in by [`Index::apply`] (the rows it wrote, the ids it deleted) into a
//! new index, equal to the one a fresh read would build.
//!
//! No IO here: the index is built from anything that yields [`crate::store::IndexRow`]s.

pub mod anomalies;
mod backlog;
pub mod detect;
mod filter;
mod heatmap;
mod index;
pub mod insights;
pub mod risk;
mod slices;
mod stats;

pub use backlog::{Backlog, MAX_PERIODS};
pub use filter::{Filter, InvalidFilter, Unmatched};
pub use heatmap::{Cell, Heatmap, HeatmapQuery, InvalidQuery, PeriodSpan, RowHistory, cell_filter};
pub use index::{Index, IndexBuilder, Spare};
pub use slices::{Counts, PERIODS, Slice, SliceSeries};
pub use stats::{Compared, Stats};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod resolution_tests;

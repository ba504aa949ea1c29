use std::cmp::Ordering;
use std::collections::HashMap;

use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use chrono::NaiveDate;

use super::index::{Compiled, HIGH_BY_CODE, Index, OPEN, SCORE_BY_CODE};
use super::{Filter, InvalidFilter};
use crate::domain::{Compare, Dimension, Measure, Normalize, View};

/// What to aggregate: two different dimensions, a measure, an optional cut, and a filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeatmapQuery {
    pub rows: Dimension,
    pub cols: Dimension,
    pub measure: Measure,
    /// Keep the first N rows after ordering; `None` keeps all.
    pub top: Option<usize>,
    pub filter: Filter,
    /// The original's view this query draws, when it was asked for by name (its title).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<View>,
    /// Show each value as a share of its row's, its column's or the grand total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalize>,
    /// Set the grid against the previous period of equal length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<Compare>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidQuery {
    #[error("rows and cols must be different dimensions (both are {0})")]
    SameDimension(Dimension),
    #[error("top must be at least 1")]
    TopZero,
    #[error("normalize applies to count, score, high and open, not to {0} (a mean is no share)")]
    NormalizeMean(Measure),
    #[error("compare=previous needs a date range: give both from and to")]
    CompareNeedsDates,
    #[error("compare=previous needs two dimensions that are not time ({0} is)")]
    CompareTime(Dimension),
    #[error(transparent)]
    Filter(#[from] InvalidFilter),
}

impl InvalidQuery {
    /// The parameter to fix, as the command line and the API name it.
    pub fn parameter(&self) -> &'static str {
        match self {
            Self::SameDimension(_) => "cols",
            Self::TopZero => "top",
            Self::NormalizeMean(_) => "normalize",
            Self::CompareNeedsDates | Self::CompareTime(_) => "compare",
            Self::Filter(f) => f.parameter(),
        }
    }
}

impl HeatmapQuery {
    pub fn new(
        rows: Dimension,
        cols: Dimension,
        measure: Measure,
        top: Option<usize>,
        filter: Filter,
    ) -> Result<Self, InvalidQuery> {
        if rows == cols {
            return Err(InvalidQuery::SameDimension(rows));
        }
        if top == Some(0) {
            return Err(InvalidQuery::TopZero);
        }
        filter.validate()?;
        Ok(Self {
            rows,
            cols,
            measure,
            top,
            filter,
            view: None,
            normalize: None,
            compare: None,
        })
    }

    /// This query with its values as shares; refused for the means.
    pub fn with_normalize(self, normalize: Option<Normalize>) -> Result<Self, InvalidQuery> {
        if normalize.is_some() && !self.measure.is_additive() {
            return Err(InvalidQuery::NormalizeMean(self.measure));
        }
        Ok(Self { normalize, ..self })
    }

    /// This query set against the previous period; needs `from`, `to` and no time dimension.
    pub fn with_compare(self, compare: Option<Compare>) -> Result<Self, InvalidQuery> {
        if compare.is_some() {
            if self.filter.from.is_none() || self.filter.to.is_none() {
                return Err(InvalidQuery::CompareNeedsDates);
            }
            if let Some(d) = [self.rows, self.cols].into_iter().find(|d| d.is_time()) {
                return Err(InvalidQuery::CompareTime(d));
            }
        }
        Ok(Self { compare, ..self })
    }

    /// The previous period of equal length ([`Filter::previous_period`]): its first and last day.
    pub fn previous_period(&self) -> Option<(NaiveDate, NaiveDate)> {
        let prev = self.filter.previous_period()?;
        Some((prev.from?, prev.to?))
    }

    pub fn view(view: View, top: Option<usize>, filter: Filter) -> Result<Self, InvalidQuery> {
        let (rows, cols, measure) = view.spec();
        Ok(Self {
            view: Some(view),
            ..Self::new(rows, cols, measure, top, filter)?
        })
    }

    /// The heading it is drawn under: the view's name, or "measure by rows and cols".
    pub fn title(&self) -> String {
        match self.view {
            Some(v) => v.title().to_owned(),
            None => format!(
                "{} by {} and {}",
                self.measure.title(),
                self.rows.title(),
                self.cols.title()
            ),
        }
    }

    /// A one-line description of the measure and filters, for subtitles.
    pub fn describe(&self) -> String {
        format!("{} · {}", self.measure.title(), self.filter.describe())
    }
}

/// The filter that selects the escalations behind cell (`i`, `j`) of `map`, drawn with `base`:
/// a text or severity axis narrows its list to the cell's value, a time axis narrows the dates
/// to the cell's period (within the base range).
pub fn cell_filter(map: &Heatmap, i: usize, j: usize, base: &Filter) -> Filter {
    let mut f = base.clone();
    for (dim, label) in [
        (map.row_dimension, map.rows.get(i)),
        (map.col_dimension, map.cols.get(j)),
    ] {
        let Some(label) = label else { continue };
        match dim {
            Dimension::Client => f.clients = vec![label.clone()],
            Dimension::Product => f.products = vec![label.clone()],
            Dimension::Region => f.regions = vec![label.clone()],
            Dimension::Severity => {
                f.severities = label.parse().map(|s| vec![s]).unwrap_or_default()
            }
            Dimension::Month | Dimension::Quarter | Dimension::Week => {
                if let Some((a, b)) = super::index::period_bounds(dim, label) {
                    f.from = Some(f.from.map_or(a, |x| x.max(a)));
                    f.to = Some(f.to.map_or(b, |x| x.min(b)));
                }
            }
        }
    }
    f
}

/// Counts behind one heatmap cell (or a margin); every measure derives from these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub count: u64,
    pub score: u64,
    pub high: u64,
    /// Of `count`, those with a closed date, and their days to resolve summed.
    pub closed: u64,
    pub days: u64,
}

impl std::ops::AddAssign for Cell {
    fn add_assign(&mut self, o: Self) {
        self.count += o.count;
        self.score += o.score;
        self.high += o.high;
        self.closed += o.closed;
        self.days += o.days;
    }
}

impl Cell {
    /// The measure's value; `None` for a mean over nothing.
    pub fn value(&self, m: Measure) -> Option<f64> {
        let mean =
            |sum: u64, n: u64| (n > 0).then(|| (sum as f64 / n as f64 * 100.0).round() / 100.0);
        match m {
            Measure::Count => Some(self.count as f64),
            Measure::Score => Some(self.score as f64),
            Measure::High => Some(self.high as f64),
            Measure::Mean => mean(self.score, self.count),
            Measure::Mttr => mean(self.days, self.closed),
            Measure::Open => Some((self.count - self.closed) as f64),
        }
    }
}

/// An aggregated grid. The JSON shape (`rows`, `cols`, `values`, `measure`, `hidden_rows`) is a
/// contract shared by `escamap render --out x.json` and `GET /api/v1/heatmap`; the other fields
/// extend it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heatmap {
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    #[serde(serialize_with = "serialize_values")]
    pub values: Vec<Vec<Option<f64>>>,
    pub measure: Measure,
    pub hidden_rows: usize,
    pub row_dimension: Dimension,
    pub col_dimension: Dimension,
    /// Escalations behind each cell (what a tooltip shows next to the value).
    pub counts: Vec<Vec<u64>>,
    /// The measure over each shown row's escalations (a sum for count, score, high and open; the
    /// mean over them for mean and mttr): the ordering key.
    #[serde(serialize_with = "serialize_row")]
    pub row_totals: Vec<Option<f64>>,
    /// The measure over each column's escalations, rows hidden by `top` included.
    #[serde(serialize_with = "serialize_row")]
    pub col_totals: Vec<Option<f64>>,
    /// The measure over the whole filtered set.
    #[serde(serialize_with = "serialize_one")]
    pub total: Option<f64>,
    /// When set, `values` are shares (0 to 1) of this total; the margins stay absolute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalize>,
    /// With `compare=previous`: the values on the previous period, on this grid's rows and
    /// columns (0, or `null` for a mean, where that period has none).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_grid"
    )]
    pub previous: Option<Vec<Vec<Option<f64>>>>,
    /// `values - previous`, `null` where either is.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_grid"
    )]
    pub delta: Option<Vec<Vec<Option<f64>>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_from: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_to: Option<NaiveDate>,
    /// For a grid without a time dimension: each shown row's last 12 months of the measure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_history: Option<RowHistory>,
    /// Flagged cells (see [`super::anomalies`]): filled by the application, which holds the
    /// findings they may come from.
    pub anomalies: Vec<super::anomalies::Anomaly>,
    /// On a time axis, each column's period and whether the data covers it whole (see
    /// [`PeriodSpan`]); empty for other axes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub col_periods: Vec<PeriodSpan>,
    /// The same for the rows, when they are periods.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub row_periods: Vec<PeriodSpan>,
}

/// A period on a time axis. It is `partial` when the data does not cover it whole: it runs past
/// the last escalation recorded (the current month on the 3rd, the last week of an export) or
/// starts before the first, or a date filter cuts it. A partial period's count is not comparable
/// with a whole one's, so it is marked wherever it is drawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodSpan {
    pub label: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub partial: bool,
    /// The days of it the data covers.
    pub covered_from: NaiveDate,
    pub covered_to: NaiveDate,
}

impl PeriodSpan {
    /// `label`'s span under `coverage` (the first and last day the data and the filter cover).
    pub fn of(dim: Dimension, label: &str, coverage: (NaiveDate, NaiveDate)) -> Option<Self> {
        let (from, to) = super::index::period_bounds(dim, label)?;
        let covered_from = from.max(coverage.0);
        let covered_to = to.min(coverage.1);
        Some(Self {
            label: label.to_owned(),
            from,
            to,
            partial: covered_from > from || covered_to < to,
            covered_from,
            covered_to,
        })
    }

    /// "partial: data 2026-12-01 to 2026-12-03 of 2026-12-01 to 2026-12-31", for tooltips.
    pub fn describe(&self) -> String {
        format!(
            "partial period: data {} to {} of {} to {}",
            self.covered_from, self.covered_to, self.from, self.to
        )
    }
}

/// Each shown row's measure per month, over the 12 months that end with the filtered range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowHistory {
    /// `YYYY-MM`, oldest first.
    pub periods: Vec<String>,
    /// One series per shown row, in row order.
    #[serde(serialize_with = "serialize_values")]
    pub values: Vec<Vec<Option<f64>>>,
}

fn serialize_one<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => s.serialize_i64(*x as i64),
        other => other.serialize(s),
    }
}

fn serialize_grid<S: Serializer>(
    grid: &Option<Vec<Vec<Option<f64>>>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match grid {
        Some(g) => serialize_values(g, s),
        None => s.serialize_none(),
    }
}

/// Whole numbers as JSON integers, means as decimals, empty means as `null`.
fn serialize_row<S: Serializer>(row: &[Option<f64>], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(row.len()))?;
    for v in row {
        match v {
            Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
                seq.serialize_element(&(*x as i64))?
            }
            other => seq.serialize_element(other)?,
        }
    }
    seq.end()
}

fn serialize_values<S: Serializer>(values: &[Vec<Option<f64>>], s: S) -> Result<S::Ok, S::Error> {
    struct Row<'a>(&'a [Option<f64>]);
    impl Serialize for Row<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize_row(self.0, s)
        }
    }
    let mut seq = s.serialize_seq(Some(values.len()))?;
    for r in values {
        seq.serialize_element(&Row(r))?;
    }
    seq.end()
}

impl Heatmap {
    /// The largest value, for colour scales.
    pub fn max_value(&self) -> f64 {
        self.values
            .iter()
            .flatten()
            .flatten()
            .copied()
            .fold(0.0, f64::max)
    }
}

/// Dimension codes as the index stores them.
enum Codes<'a> {
    Wide(&'a [u32]),
    Byte(&'a [u8]),
}

trait CodeSlice {
    fn at(&self, i: usize) -> u32;
}
impl CodeSlice for [u32] {
    #[inline(always)]
    fn at(&self, i: usize) -> u32 {
        self[i]
    }
}
impl CodeSlice for [u8] {
    #[inline(always)]
    fn at(&self, i: usize) -> u32 {
        u32::from(self[i])
    }
}

/// What one cell accumulates in the hot loop: the least the measure needs, one branch-free update
/// per row; [`Tally::cell`] derives the counts afterwards.
trait Tally: Copy + Default {
    /// Adds row `i` when `keep` is 1 (and changes nothing when it is 0).
    fn add(&mut self, ix: &Index, i: usize, keep: u32);
    fn is_empty(&self) -> bool;
    fn cell(&self) -> Cell;
}

/// Escalations per severity level: count, score, high and mean.
type BySeverity = [u32; 4];

impl Tally for BySeverity {
    #[inline(always)]
    fn add(&mut self, ix: &Index, i: usize, keep: u32) {
        self[usize::from(ix.severity[i] & 3)] += keep;
    }
    fn is_empty(&self) -> bool {
        self.iter().all(|&n| n == 0)
    }
    fn cell(&self) -> Cell {
        let n = |s: usize| u64::from(self[s]);
        Cell {
            count: (0..4).map(n).sum(),
            score: (0..4).map(|s| n(s) * SCORE_BY_CODE[s]).sum(),
            high: (0..4).filter(|&s| HIGH_BY_CODE[s]).map(n).sum(),
            closed: 0,
            days: 0,
        }
    }
}

/// Escalations, those closed, and their days to resolve: mttr and open.
#[derive(Debug, Clone, Copy, Default)]
struct Resolution {
    count: u32,
    closed: u32,
    days: u64,
}

impl Tally for Resolution {
    #[inline(always)]
    fn add(&mut self, ix: &Index, i: usize, keep: u32) {
        let d = ix.resolve[i];
        let closed = u32::from(d != OPEN) & keep;
        self.count += keep;
        self.closed += closed;
        self.days += u64::from(d) * u64::from(closed);
    }
    fn is_empty(&self) -> bool {
        self.count == 0
    }
    fn cell(&self) -> Cell {
        Cell {
            count: u64::from(self.count),
            closed: u64::from(self.closed),
            days: self.days,
            ..Cell::default()
        }
    }
}

/// A grid's tallies as one pass leaves them.
enum Tallies<T> {
    /// Every cell of the code spans, row by row.
    Dense(Dense<T>),
    /// The cells that have escalations, by (row code, column code).
    Sparse(HashMap<(u32, u32), T>),
}

/// Where cells accumulate: a dense grid when it is small enough, a map otherwise (a filter on
/// weeks spanning centuries must not allocate a billion cells).
trait Acc {
    /// Counts row `i` in cell (`r`, `c`) when `keep`; the dense grid adds `keep as u32` rather
    /// than branching.
    fn add(&mut self, ix: &Index, i: usize, r: u32, c: u32, keep: bool);
}

struct Dense<T> {
    cells: Vec<T>,
    r0: u32,
    c0: u32,
    ncols: usize,
}
impl<T: Tally> Acc for Dense<T> {
    #[inline(always)]
    fn add(&mut self, ix: &Index, i: usize, r: u32, c: u32, keep: bool) {
        let at = (r - self.r0) as usize * self.ncols + (c - self.c0) as usize;
        self.cells[at].add(ix, i, u32::from(keep));
    }
}

struct Sparse<T>(HashMap<(u32, u32), T>);
impl<T: Tally> Acc for Sparse<T> {
    fn add(&mut self, ix: &Index, i: usize, r: u32, c: u32, keep: bool) {
        if keep {
            self.0.entry((r, c)).or_default().add(ix, i, 1);
        }
    }
}

const DENSE_LIMIT: usize = 1 << 22;

/// The hot loop, monomorphised per code width, accumulator and whether the filter needs
/// checking at all (an unfiltered query only walks the date range).
#[inline(always)]
fn pass<R: CodeSlice + ?Sized, C: CodeSlice + ?Sized, A: Acc, const CHECK: bool>(
    ix: &Index,
    f: &Compiled,
    range: std::ops::Range<usize>,
    r: &R,
    c: &C,
    acc: &mut A,
) {
    for i in range {
        let keep = !CHECK || f.keeps(ix, i);
        acc.add(ix, i, r.at(i), c.at(i), keep);
    }
}

fn run<A: Acc>(
    ix: &Index,
    f: &Compiled,
    range: std::ops::Range<usize>,
    rows: &Codes<'_>,
    cols: &Codes<'_>,
    acc: &mut A,
) {
    macro_rules! go {
        ($r:expr, $c:expr) => {
            if f.is_trivial() {
                pass::<_, _, _, false>(ix, f, range, $r, $c, acc)
            } else {
                pass::<_, _, _, true>(ix, f, range, $r, $c, acc)
            }
        };
    }
    match (rows, cols) {
        (Codes::Wide(r), Codes::Wide(c)) => go!(*r, *c),
        (Codes::Wide(r), Codes::Byte(c)) => go!(*r, *c),
        (Codes::Byte(r), Codes::Wide(c)) => go!(*r, *c),
        (Codes::Byte(r), Codes::Byte(c)) => go!(*r, *c),
    }
}

/// Months a sparkline covers.
const HISTORY_MONTHS: usize = 12;

/// Codes of one axis, each with its margin, in code order.
type AxisMargins = Vec<(u32, Cell)>;

impl<T: Tally> Tallies<T> {
    /// The rows and the columns that have escalations, each with its margin.
    fn margins(&self) -> (AxisMargins, AxisMargins) {
        let mut rows = Vec::new();
        let cols = match self {
            Self::Dense(d) => {
                let mut col_cells = vec![None::<Cell>; d.ncols];
                for (r, row) in d.cells.chunks_exact(d.ncols.max(1)).enumerate() {
                    let mut margin = None::<Cell>;
                    for (t, col) in row.iter().zip(&mut col_cells) {
                        if !t.is_empty() {
                            let cell = t.cell();
                            *margin.get_or_insert_default() += cell;
                            *col.get_or_insert_default() += cell;
                        }
                    }
                    if let Some(m) = margin {
                        rows.push((d.r0 + r as u32, m));
                    }
                }
                let present = col_cells.into_iter().enumerate();
                present
                    .filter_map(|(c, cell)| Some((d.c0 + c as u32, cell?)))
                    .collect()
            }
            Self::Sparse(map) => {
                let mut by_row: HashMap<u32, Cell> = HashMap::new();
                let mut by_col: HashMap<u32, Cell> = HashMap::new();
                for (&(r, c), t) in map {
                    let cell = t.cell();
                    *by_row.entry(r).or_default() += cell;
                    *by_col.entry(c).or_default() += cell;
                }
                rows.extend(by_row);
                rows.sort_unstable_by_key(|(r, _)| *r);
                let mut cols: AxisMargins = by_col.into_iter().collect();
                cols.sort_unstable_by_key(|(c, _)| *c);
                cols
            }
        };
        (rows, cols)
    }

    /// Cell (`r`, `c`), empty when no escalation landed there (a time axis's gap); `r` and `c`
    /// within the pass's code spans.
    fn cell(&self, r: u32, c: u32) -> Cell {
        match self {
            Self::Dense(d) => d.cells[(r - d.r0) as usize * d.ncols + (c - d.c0) as usize].cell(),
            Self::Sparse(map) => map.get(&(r, c)).map(Tally::cell).unwrap_or_default(),
        }
    }
}

/// Sparkline cells: (row slot, month in the window) for the shown rows, and one spare slot that
/// every other row adds to and that is dropped, so the loop stays the heatmaps' branch-free one.
struct History<T> {
    slot: Vec<u32>,
    cells: Vec<T>,
    first: u32,
}

impl<T: Tally> History<T> {
    /// Slots for `row_codes` among `cardinality` codes, the window's months from `first`.
    fn new(row_codes: &[u32], cardinality: usize, first: u32) -> Self {
        let spare = row_codes.len() as u32;
        let mut slot = vec![spare; cardinality];
        for (k, &code) in row_codes.iter().enumerate() {
            if let Some(s) = slot.get_mut(code as usize) {
                *s = k as u32;
            }
        }
        Self {
            slot,
            cells: vec![T::default(); (row_codes.len() + 1) * HISTORY_MONTHS],
            first,
        }
    }

    /// Each shown row's months, the spare slot dropped.
    fn rows(&self) -> std::slice::ChunksExact<'_, T> {
        let shown = self.cells.len() - HISTORY_MONTHS;
        self.cells[..shown].chunks_exact(HISTORY_MONTHS)
    }
}

impl<T: Tally> Acc for History<T> {
    #[inline(always)]
    fn add(&mut self, ix: &Index, i: usize, r: u32, c: u32, keep: bool) {
        let k = self.slot[r as usize] as usize;
        let at = c.wrapping_sub(self.first) as usize;
        self.cells[k * HISTORY_MONTHS + at].add(ix, i, u32::from(keep));
    }
}

/// A grid's columns before ranking, in code order (a time axis with its gaps filled), each with
/// its margin, and the grid's total.
struct Margins {
    col_codes: Vec<u32>,
    col_cells: Vec<Cell>,
    total: Cell,
}

/// The rows shown, in order, with how many were cut, and where each shown column comes from.
struct Ranked {
    rows: Vec<(u32, Cell)>,
    hidden_rows: usize,
    col_order: Vec<usize>,
}

/// A row of a grid: its code, its cells, its margin.
type GridRow = (u32, Vec<Cell>, Cell);

/// A grid's cells with their margins, its rows cut to `top`.
struct Grid {
    rows: Vec<GridRow>,
    /// Rows past `top`, counted in the margins but not shown.
    hidden_rows: usize,
    col_codes: Vec<u32>,
    col_cells: Vec<Cell>,
    total: Cell,
}

impl Grid {
    /// The ranked rows with their `cells` (already in the columns' shown order), the columns put
    /// in that order.
    fn of(ranked: Ranked, cells: Vec<Vec<Cell>>, margins: Margins) -> Self {
        let rows = ranked.rows.into_iter().zip(cells);
        let order = &ranked.col_order;
        Self {
            rows: rows.map(|((r, margin), c)| (r, c, margin)).collect(),
            hidden_rows: ranked.hidden_rows,
            col_codes: order.iter().map(|&j| margins.col_codes[j]).collect(),
            col_cells: order.iter().map(|&j| margins.col_cells[j]).collect(),
            total: margins.total,
        }
    }
}

impl Index {
    fn codes(&self, d: Dimension) -> Codes<'_> {
        match d {
            Dimension::Client => Codes::Wide(&self.client),
            Dimension::Product => Codes::Wide(&self.product),
            Dimension::Region => Codes::Wide(&self.region),
            Dimension::Severity => Codes::Byte(&self.severity),
            Dimension::Month => Codes::Wide(&self.month),
            Dimension::Quarter => Codes::Wide(&self.quarter),
            Dimension::Week => Codes::Wide(&self.week),
        }
    }

    /// The codes a dimension can take over the rows in `range`: the whole dictionary for text
    /// dimensions, the periods from the first to the last row for time dimensions (rows are
    /// sorted by date, so period codes are non-decreasing).
    fn code_span(&self, d: Dimension, range: &std::ops::Range<usize>) -> (u32, u32) {
        let time = |v: &[u32]| {
            if range.is_empty() {
                (0, 0)
            } else {
                (v[range.start], v[range.end - 1] + 1)
            }
        };
        match d {
            Dimension::Month => time(&self.month),
            Dimension::Quarter => time(&self.quarter),
            Dimension::Week => time(&self.week),
            _ => (0, u32::try_from(self.cardinality(d)).unwrap_or(u32::MAX)),
        }
    }

    /// One pass over the rows `f` keeps, each added to its (row, column) cell.
    fn accumulate<T: Tally>(
        &self,
        rows_d: Dimension,
        cols_d: Dimension,
        f: &Compiled,
    ) -> Tallies<T> {
        let (r0, r1) = self.code_span(rows_d, &f.range);
        let (c0, c1) = self.code_span(cols_d, &f.range);
        let (nrows, ncols) = ((r1 - r0) as usize, (c1 - c0) as usize);
        let (rows_c, cols_c) = (self.codes(rows_d), self.codes(cols_d));
        if nrows.saturating_mul(ncols) <= DENSE_LIMIT {
            let mut acc = Dense {
                cells: vec![T::default(); nrows * ncols],
                r0,
                c0,
                ncols,
            };
            run(self, f, f.range.clone(), &rows_c, &cols_c, &mut acc);
            Tallies::Dense(acc)
        } else {
            let mut acc = Sparse(HashMap::new());
            run(self, f, f.range.clone(), &rows_c, &cols_c, &mut acc);
            Tallies::Sparse(acc.0)
        }
    }

    /// The cells of `q`'s grid over the escalations `f` keeps, ordered, with their margins, cut
    /// to `q.top` rows.
    ///
    /// Margins come first, straight from the tallies, and rows are ranked and cut on them: only
    /// the rows shown get their cells laid out (30,000 clients by 36 months would be 43 MB of
    /// cells, for the 25 shown), and only those are sorted.
    fn grid<T: Tally>(&self, q: &HeatmapQuery, f: &Compiled) -> Grid {
        let tallies = self.accumulate::<T>(q.rows, q.cols, f);
        let (rows, cols) = tallies.margins();
        let rows = fill_time_gaps(q.rows, rows);
        let (col_codes, col_cells) = fill_time_gaps(q.cols, cols).into_iter().unzip();
        let mut total = Cell::default();
        rows.iter().for_each(|(_, m)| total += *m);
        let margins = Margins {
            col_codes,
            col_cells,
            total,
        };
        let ranked = self.rank(q, rows, &margins);
        let cells = ranked
            .rows
            .iter()
            .map(|&(r, _)| {
                let cols = ranked.col_order.iter().map(|&j| margins.col_codes[j]);
                cols.map(|c| tallies.cell(r, c)).collect()
            })
            .collect();
        Grid::of(ranked, cells, margins)
    }

    /// Ranks the columns and the `rows` (each with its margin, in code order) of a ranked
    /// dimension by their margins (larger first, then by name) and cuts the rows to `q.top`:
    /// only the rows kept are sorted.
    fn rank(&self, q: &HeatmapQuery, mut rows: Vec<(u32, Cell)>, margins: &Margins) -> Ranked {
        let m = q.measure;
        let by_value = |(code, cell): (u32, &Cell), d: Dimension| {
            let key = cell.value(m).unwrap_or(f64::NEG_INFINITY);
            (key, self.text_label(d, code))
        };
        let mut col_order: Vec<usize> = (0..margins.col_codes.len()).collect();
        if is_ranked(q.cols) {
            let key = |j: usize| by_value((margins.col_codes[j], &margins.col_cells[j]), q.cols);
            col_order.sort_by(|&a, &b| by_total_then_name(key(a), key(b)));
        }
        let present = rows.len();
        let shown = q.top.map_or(present, |n| n.min(present));
        let order = |a: &(u32, Cell), b: &(u32, Cell)| {
            by_total_then_name(by_value((a.0, &a.1), q.rows), by_value((b.0, &b.1), q.rows))
        };
        let ranked = is_ranked(q.rows);
        if ranked && shown < present {
            rows.select_nth_unstable_by(shown, order);
        }
        rows.truncate(shown);
        if ranked {
            rows.sort_by(order);
        }
        Ranked {
            rows,
            hidden_rows: present - shown,
            col_order,
        }
    }

    /// Aggregates one heatmap: a single pass over the rows inside the date range (a second over
    /// the previous period with `compare`, and one over the last 12 months for the rows'
    /// sparklines when neither axis is time).
    pub fn heatmap(&self, q: &HeatmapQuery) -> Heatmap {
        self.heatmap_of(q, true)
    }

    /// The grid alone (`extras` false: no comparison, no sparklines), or with them.
    fn heatmap_of(&self, q: &HeatmapQuery, extras: bool) -> Heatmap {
        if matches!(q.measure, Measure::Mttr | Measure::Open) {
            self.heatmap_with::<Resolution>(q, extras)
        } else {
            self.heatmap_with::<BySeverity>(q, extras)
        }
    }

    fn heatmap_with<T: Tally>(&self, q: &HeatmapQuery, extras: bool) -> Heatmap {
        let f = self.compile(&q.filter);
        let Grid {
            rows,
            hidden_rows,
            col_codes,
            col_cells,
            total,
        } = self.grid::<T>(q, &f);
        let m = q.measure;

        let share = |v: Option<f64>, of: &Cell| -> Option<f64> {
            let (v, of) = (v?, of.value(m)?);
            Some(if of == 0.0 {
                0.0
            } else {
                (v / of * 10_000.0).round() / 10_000.0
            })
        };
        let values: Vec<Vec<Option<f64>>> = rows
            .iter()
            .map(|(_, cells, margin)| {
                cells
                    .iter()
                    .enumerate()
                    .map(|(j, c)| match q.normalize {
                        None => c.value(m),
                        Some(Normalize::Row) => share(c.value(m), margin),
                        Some(Normalize::Col) => share(c.value(m), &col_cells[j]),
                        Some(Normalize::Total) => share(c.value(m), &total),
                    })
                    .collect()
            })
            .collect();
        let row_labels: Vec<String> = rows
            .iter()
            .map(|(code, _, _)| self.label(q.rows, *code))
            .collect();
        let col_labels: Vec<String> = col_codes.iter().map(|c| self.label(q.cols, *c)).collect();

        let mut map = Heatmap {
            counts: rows
                .iter()
                .map(|(_, cells, _)| cells.iter().map(|c| c.count).collect())
                .collect(),
            row_totals: rows.iter().map(|(_, _, margin)| margin.value(m)).collect(),
            col_totals: col_cells.iter().map(|c| c.value(m)).collect(),
            total: total.value(m),
            rows: row_labels,
            cols: col_labels,
            values,
            measure: m,
            hidden_rows,
            row_dimension: q.rows,
            col_dimension: q.cols,
            normalize: q.normalize,
            previous: None,
            delta: None,
            previous_from: None,
            previous_to: None,
            row_history: None,
            anomalies: Vec::new(),
            col_periods: Vec::new(),
            row_periods: Vec::new(),
        };
        if let Some(coverage) = self.coverage(&q.filter) {
            let spans = |dim: Dimension, labels: &[String]| -> Vec<PeriodSpan> {
                if !dim.is_time() {
                    return Vec::new();
                }
                labels
                    .iter()
                    .filter_map(|l| PeriodSpan::of(dim, l, coverage))
                    .collect()
            };
            map.col_periods = spans(q.cols, &map.cols);
            map.row_periods = spans(q.rows, &map.rows);
        }
        if !extras {
            return map;
        }
        if q.compare == Some(Compare::Previous) {
            self.set_previous(q, &mut map);
        }
        if !q.rows.is_time() && !q.cols.is_time() {
            let codes: Vec<u32> = rows.iter().map(|(code, _, _)| *code).collect();
            map.row_history = Some(self.row_history::<T>(q, &f, &codes));
        }
        map
    }

    /// `previous`, `delta` and the previous period's dates, on `map`'s rows and columns.
    fn set_previous(&self, q: &HeatmapQuery, map: &mut Heatmap) {
        let Some(filter) = q.filter.previous_period() else {
            return;
        };
        let (from, to) = (filter.from, filter.to);
        let before = HeatmapQuery {
            filter,
            top: None,
            compare: None,
            ..q.clone()
        };
        let prev = self.heatmap_of(&before, false);
        let row_at: HashMap<&str, usize> = prev
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.as_str(), i))
            .collect();
        let col_at: HashMap<&str, usize> = prev
            .cols
            .iter()
            .enumerate()
            .map(|(j, c)| (c.as_str(), j))
            .collect();
        let absent = if q.measure.is_additive() {
            Some(0.0)
        } else {
            None
        };
        let previous: Vec<Vec<Option<f64>>> = map
            .rows
            .iter()
            .map(|r| {
                map.cols
                    .iter()
                    .map(|c| match (row_at.get(r.as_str()), col_at.get(c.as_str())) {
                        (Some(&i), Some(&j)) => prev.values[i][j].or(absent),
                        _ => absent,
                    })
                    .collect()
            })
            .collect();
        let delta = map
            .values
            .iter()
            .zip(&previous)
            .map(|(now, before)| {
                now.iter()
                    .zip(before)
                    .map(|(a, b)| Some(((a.as_ref()? - b.as_ref()?) * 10_000.0).round() / 10_000.0))
                    .collect()
            })
            .collect();
        map.previous = Some(previous);
        map.delta = Some(delta);
        map.previous_from = from;
        map.previous_to = to;
    }

    /// The measure per month for each of `row_codes` (the shown rows), over the 12 months ending
    /// with the last month `f` reaches.
    fn row_history<T: Tally>(
        &self,
        q: &HeatmapQuery,
        f: &Compiled,
        row_codes: &[u32],
    ) -> RowHistory {
        let empty = RowHistory {
            periods: Vec::new(),
            values: vec![Vec::new(); row_codes.len()],
        };
        if f.range.is_empty() || row_codes.is_empty() {
            return empty;
        }
        // Month codes are relative to the index's first month; the window may start before it.
        let last = i64::from(self.month[f.range.end - 1]);
        let first = last - (HISTORY_MONTHS as i64 - 1);
        // Rows are sorted by date, so the window is the range's tail.
        let start =
            f.range.start + self.month[f.range.clone()].partition_point(|&m| i64::from(m) < first);
        // Wrapping: the window's first month may be before the index's (a negative code).
        let mut acc = History::<T>::new(row_codes, self.cardinality(q.rows), first as u32);
        let months = Codes::Wide(&self.month);
        run(
            self,
            f,
            start..f.range.end,
            &self.codes(q.rows),
            &months,
            &mut acc,
        );
        RowHistory {
            periods: (first..=last)
                .map(|p| {
                    let month = i64::from(self.month_base) + p;
                    super::index::period_label(Dimension::Month, month as i32)
                })
                .collect(),
            values: acc
                .rows()
                .map(|row| row.iter().map(|t| t.cell().value(q.measure)).collect())
                .collect(),
        }
    }
}

/// Time axes show every period from the first to the last present one: `present` (codes in
/// order, each with its margin) with the periods between them added, empty.
fn fill_time_gaps(d: Dimension, present: Vec<(u32, Cell)>) -> Vec<(u32, Cell)> {
    match (d.is_time(), present.first(), present.last()) {
        (true, Some(&(a, _)), Some(&(b, _))) => {
            let mut all = vec![Cell::default(); (b - a) as usize + 1];
            for (code, cell) in present {
                all[(code - a) as usize] = cell;
            }
            (a..=b).zip(all).collect()
        }
        _ => present,
    }
}

/// Severity keeps its level order and time its chronology; every other dimension is ranked.
fn is_ranked(d: Dimension) -> bool {
    !d.is_time() && d != Dimension::Severity
}

/// Larger total first, then by name.
fn by_total_then_name(a: (f64, &str), b: (f64, &str)) -> Ordering {
    b.0.partial_cmp(&a.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

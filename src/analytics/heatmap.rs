use std::cmp::Ordering;
use std::collections::HashMap;

use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::index::{Compiled, HIGH_BY_CODE, Index, SCORE_BY_CODE};
use super::{Filter, InvalidFilter};
use crate::domain::{Dimension, Measure, View};

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
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidQuery {
    #[error("rows and cols must be different dimensions (both are {0})")]
    SameDimension(Dimension),
    #[error("top must be at least 1")]
    TopZero,
    #[error(transparent)]
    Filter(#[from] InvalidFilter),
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
        })
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
        let f = &self.filter;
        let mut parts = vec![self.measure.title().to_owned()];
        match (f.from, f.to) {
            (Some(a), Some(b)) => parts.push(format!("{a} to {b}")),
            (Some(a), None) => parts.push(format!("from {a}")),
            (None, Some(b)) => parts.push(format!("until {b}")),
            (None, None) => parts.push("all dates".to_owned()),
        }
        for (name, vals) in [
            ("client", &f.clients),
            ("product", &f.products),
            ("region", &f.regions),
        ] {
            if !vals.is_empty() {
                parts.push(format!("{name}: {}", vals.join(", ")));
            }
        }
        if !f.severities.is_empty() {
            let s: Vec<&str> = f.severities.iter().map(|s| s.as_str()).collect();
            parts.push(format!("severity: {}", s.join(", ")));
        }
        if let Some(q) = f.client_search.as_deref().filter(|q| !q.trim().is_empty()) {
            parts.push(format!("clients matching \"{q}\""));
        }
        parts.join(" · ")
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

/// Counts behind one heatmap cell; every measure derives from these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub count: u64,
    pub score: u64,
    pub high: u64,
}

impl Cell {
    /// The measure's value; `None` for the mean of an empty cell.
    pub fn value(&self, m: Measure) -> Option<f64> {
        match m {
            Measure::Count => Some(self.count as f64),
            Measure::Score => Some(self.score as f64),
            Measure::High => Some(self.high as f64),
            Measure::Mean if self.count == 0 => None,
            Measure::Mean => Some((self.score as f64 / self.count as f64 * 100.0).round() / 100.0),
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
    /// Sum of the measure over each shown row, the ordering key.
    #[serde(serialize_with = "serialize_row")]
    pub row_totals: Vec<Option<f64>>,
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

/// Escalations per severity level in one cell: one increment per row in the hot loop; count,
/// score and high are derived afterwards.
type Tally = [u32; 4];

/// Row codes that have escalations, each with its non-empty (column code, tally) cells.
type PresentRows = Vec<(u32, Vec<(u32, Tally)>)>;

fn cell_of(t: &Tally) -> Cell {
    let n = |s: usize| u64::from(t[s]);
    Cell {
        count: (0..4).map(n).sum(),
        score: (0..4).map(|s| n(s) * SCORE_BY_CODE[s]).sum(),
        high: (0..4).filter(|&s| HIGH_BY_CODE[s]).map(n).sum(),
    }
}

/// Where cells accumulate: a dense grid when it is small enough, a map otherwise (a filter on
/// weeks spanning centuries must not allocate a billion cells).
trait Acc {
    /// Counts the row when `keep`; the dense grid adds `keep as u32` rather than branching.
    fn add(&mut self, r: u32, c: u32, severity: u8, keep: bool);
}

struct Dense {
    cells: Vec<Tally>,
    r0: u32,
    c0: u32,
    ncols: usize,
}
impl Acc for Dense {
    #[inline(always)]
    fn add(&mut self, r: u32, c: u32, severity: u8, keep: bool) {
        let i = (r - self.r0) as usize * self.ncols + (c - self.c0) as usize;
        self.cells[i][usize::from(severity & 3)] += u32::from(keep);
    }
}

#[derive(Default)]
struct Sparse(HashMap<(u32, u32), Tally>);
impl Acc for Sparse {
    fn add(&mut self, r: u32, c: u32, severity: u8, keep: bool) {
        if keep {
            self.0.entry((r, c)).or_default()[usize::from(severity & 3)] += 1;
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
    r: &R,
    c: &C,
    acc: &mut A,
) {
    for i in f.range.clone() {
        let keep = !CHECK || f.keeps(ix, i);
        acc.add(r.at(i), c.at(i), ix.severity[i], keep);
    }
}

fn run<A: Acc>(ix: &Index, f: &Compiled, rows: &Codes<'_>, cols: &Codes<'_>, acc: &mut A) {
    macro_rules! go {
        ($r:expr, $c:expr) => {
            if f.is_trivial() {
                pass::<_, _, _, false>(ix, f, $r, $c, acc)
            } else {
                pass::<_, _, _, true>(ix, f, $r, $c, acc)
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

    /// Accumulates the grid: present row codes with their (col code, tally) pairs, and the
    /// present column codes.
    fn accumulate(&self, q: &HeatmapQuery, f: &Compiled) -> (PresentRows, Vec<u32>) {
        let (r0, r1) = self.code_span(q.rows, &f.range);
        let (c0, c1) = self.code_span(q.cols, &f.range);
        let (nrows, ncols) = ((r1 - r0) as usize, (c1 - c0) as usize);
        let (rows_c, cols_c) = (self.codes(q.rows), self.codes(q.cols));
        let mut rows = Vec::new();
        let mut col_codes = Vec::new();
        if nrows.saturating_mul(ncols) <= DENSE_LIMIT {
            let mut acc = Dense {
                cells: vec![[0; 4]; nrows * ncols],
                r0,
                c0,
                ncols,
            };
            run(self, f, &rows_c, &cols_c, &mut acc);
            let mut col_present = vec![false; ncols];
            for (r, row) in acc.cells.chunks_exact(ncols.max(1)).enumerate().take(nrows) {
                let cells: Vec<(u32, Tally)> = row
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.iter().any(|&n| n > 0))
                    .map(|(c, t)| {
                        col_present[c] = true;
                        (c0 + c as u32, *t)
                    })
                    .collect();
                if !cells.is_empty() {
                    rows.push((r0 + r as u32, cells));
                }
            }
            col_codes.extend(
                col_present
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| **p)
                    .map(|(c, _)| c0 + c as u32),
            );
        } else {
            let mut acc = Sparse::default();
            run(self, f, &rows_c, &cols_c, &mut acc);
            let mut by_row: HashMap<u32, Vec<(u32, Tally)>> = HashMap::new();
            for ((r, c), t) in acc.0 {
                by_row.entry(r).or_default().push((c, t));
                col_codes.push(c);
            }
            col_codes.sort_unstable();
            col_codes.dedup();
            rows = by_row.into_iter().collect();
            rows.sort_unstable_by_key(|(r, _)| *r);
        }
        (rows, col_codes)
    }

    /// Aggregates one heatmap: a single pass over the rows inside the date range.
    pub fn heatmap(&self, q: &HeatmapQuery) -> Heatmap {
        let f = self.compile(&q.filter);
        let (present, col_codes) = self.accumulate(q, &f);
        let row_codes = fill_time_gaps(q.rows, present.iter().map(|(r, _)| *r).collect());
        let mut col_codes = fill_time_gaps(q.cols, col_codes);
        let col_pos: HashMap<u32, usize> =
            col_codes.iter().enumerate().map(|(i, c)| (*c, i)).collect();

        let mut by_code: HashMap<u32, Vec<(u32, Tally)>> = present.into_iter().collect();
        let mut rows: Vec<(u32, Vec<Cell>)> = row_codes
            .iter()
            .map(|r| {
                let mut cells = vec![Cell::default(); col_codes.len()];
                for (c, t) in by_code.remove(r).unwrap_or_default() {
                    if let Some(&i) = col_pos.get(&c) {
                        cells[i] = cell_of(&t);
                    }
                }
                (*r, cells)
            })
            .collect();

        let total =
            |cells: &[Cell]| -> f64 { cells.iter().filter_map(|c| c.value(q.measure)).sum() };
        if is_ranked(q.cols) {
            let col_total = |j: usize| -> f64 {
                rows.iter()
                    .filter_map(|(_, cells)| cells[j].value(q.measure))
                    .sum()
            };
            let mut order: Vec<(f64, &str, usize)> = (0..col_codes.len())
                .map(|j| (col_total(j), self.text_label(q.cols, col_codes[j]), j))
                .collect();
            order.sort_by(|a, b| by_total_then_name((a.0, a.1), (b.0, b.1)));
            let order: Vec<usize> = order.into_iter().map(|(_, _, j)| j).collect();
            col_codes = order.iter().map(|&j| col_codes[j]).collect();
            for (_, cells) in &mut rows {
                *cells = order.iter().map(|&j| cells[j]).collect();
            }
        }
        if is_ranked(q.rows) {
            let mut keyed: Vec<(f64, &str, u32, Vec<Cell>)> = rows
                .into_iter()
                .map(|(code, cells)| (total(&cells), self.text_label(q.rows, code), code, cells))
                .collect();
            keyed.sort_by(|a, b| by_total_then_name((a.0, a.1), (b.0, b.1)));
            rows = keyed
                .into_iter()
                .map(|(_, _, code, cells)| (code, cells))
                .collect();
        }
        let shown = q.top.map_or(rows.len(), |n| n.min(rows.len()));
        let hidden_rows = rows.len() - shown;
        rows.truncate(shown);

        Heatmap {
            rows: rows
                .iter()
                .map(|(code, _)| self.label(q.rows, *code))
                .collect(),
            cols: col_codes.iter().map(|c| self.label(q.cols, *c)).collect(),
            values: rows
                .iter()
                .map(|(_, cells)| cells.iter().map(|c| c.value(q.measure)).collect())
                .collect(),
            counts: rows
                .iter()
                .map(|(_, cells)| cells.iter().map(|c| c.count).collect())
                .collect(),
            row_totals: rows.iter().map(|(_, cells)| Some(total(cells))).collect(),
            measure: q.measure,
            hidden_rows,
            row_dimension: q.rows,
            col_dimension: q.cols,
        }
    }
}

/// Time axes show every period from the first to the last present one.
fn fill_time_gaps(d: Dimension, mut codes: Vec<u32>) -> Vec<u32> {
    codes.sort_unstable();
    codes.dedup();
    match (d.is_time(), codes.first(), codes.last()) {
        (true, Some(&a), Some(&b)) => (a..=b).collect(),
        _ => codes,
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

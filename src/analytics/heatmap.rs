use std::cmp::Ordering;
use std::collections::HashMap;

use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::index::{Compiled, Index};
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
        })
    }

    pub fn view(view: View, top: Option<usize>, filter: Filter) -> Result<Self, InvalidQuery> {
        let (rows, cols, measure) = view.spec();
        Self::new(rows, cols, measure, top, filter)
    }
}

/// Counts behind one heatmap cell; every measure derives from these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub count: u64,
    pub score: u64,
    pub high: u64,
}

impl Cell {
    #[inline(always)]
    fn add(&mut self, severity: u8) {
        self.count += 1;
        self.score += u64::from(severity) + 1;
        self.high += u64::from(severity >= 2);
    }

    fn merge(&mut self, o: &Cell) {
        self.count += o.count;
        self.score += o.score;
        self.high += o.high;
    }

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

/// Where cells accumulate: a dense grid when it is small enough, a map otherwise (a filter on
/// weeks spanning centuries must not allocate a billion cells).
trait Acc {
    fn add(&mut self, r: u32, c: u32, severity: u8);
}

struct Dense {
    cells: Vec<Cell>,
    r0: u32,
    c0: u32,
    ncols: usize,
}
impl Acc for Dense {
    #[inline(always)]
    fn add(&mut self, r: u32, c: u32, severity: u8) {
        let i = (r - self.r0) as usize * self.ncols + (c - self.c0) as usize;
        self.cells[i].add(severity);
    }
}

#[derive(Default)]
struct Sparse(HashMap<(u32, u32), Cell>);
impl Acc for Sparse {
    fn add(&mut self, r: u32, c: u32, severity: u8) {
        self.0.entry((r, c)).or_default().add(severity);
    }
}

const DENSE_LIMIT: usize = 1 << 22;

#[inline(always)]
fn pass<R: CodeSlice + ?Sized, C: CodeSlice + ?Sized, A: Acc>(
    ix: &Index,
    f: &Compiled,
    r: &R,
    c: &C,
    acc: &mut A,
) {
    for i in f.range.clone() {
        if f.keeps(ix, i) {
            acc.add(r.at(i), c.at(i), ix.severity[i]);
        }
    }
}

fn run<A: Acc>(ix: &Index, f: &Compiled, rows: &Codes<'_>, cols: &Codes<'_>, acc: &mut A) {
    match (rows, cols) {
        (Codes::Wide(r), Codes::Wide(c)) => pass(ix, f, *r, *c, acc),
        (Codes::Wide(r), Codes::Byte(c)) => pass(ix, f, *r, *c, acc),
        (Codes::Byte(r), Codes::Wide(c)) => pass(ix, f, *r, *c, acc),
        (Codes::Byte(r), Codes::Byte(c)) => pass(ix, f, *r, *c, acc),
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
            Dimension::Client => (0, self.values_len(d)),
            Dimension::Product => (0, self.values_len(d)),
            Dimension::Region => (0, self.values_len(d)),
            Dimension::Severity => (0, 4),
            Dimension::Month => time(&self.month),
            Dimension::Quarter => time(&self.quarter),
            Dimension::Week => time(&self.week),
        }
    }

    fn values_len(&self, d: Dimension) -> u32 {
        u32::try_from(self.cardinality(d)).unwrap_or(u32::MAX)
    }

    /// Aggregates one heatmap: a single pass over the rows inside the date range.
    pub fn heatmap(&self, q: &HeatmapQuery) -> Heatmap {
        let f = self.compile(&q.filter);
        let (r0, r1) = self.code_span(q.rows, &f.range);
        let (c0, c1) = self.code_span(q.cols, &f.range);
        let (nrows, ncols) = ((r1 - r0) as usize, (c1 - c0) as usize);
        let (rows_c, cols_c) = (self.codes(q.rows), self.codes(q.cols));

        // Gather per-row cell vectors keyed by row code.
        let mut grid: HashMap<u32, Vec<(u32, Cell)>> = HashMap::new();
        if nrows.saturating_mul(ncols) <= DENSE_LIMIT {
            let mut acc = Dense {
                cells: vec![Cell::default(); nrows * ncols],
                r0,
                c0,
                ncols,
            };
            run(self, &f, &rows_c, &cols_c, &mut acc);
            for r in 0..nrows {
                let row = &acc.cells[r * ncols..(r + 1) * ncols];
                if row.iter().any(|c| c.count > 0) {
                    let cells = row.iter().enumerate().filter(|(_, c)| c.count > 0);
                    grid.insert(
                        r0 + r as u32,
                        cells.map(|(c, cell)| (c0 + c as u32, *cell)).collect(),
                    );
                }
            }
        } else {
            let mut acc = Sparse::default();
            run(self, &f, &rows_c, &cols_c, &mut acc);
            for ((r, c), cell) in acc.0 {
                grid.entry(r).or_default().push((c, cell));
            }
        }

        let row_codes = self.axis(q.rows, grid.keys().copied());
        let col_codes = self.axis(q.cols, grid.values().flatten().map(|(c, _)| *c));
        let col_pos: HashMap<u32, usize> =
            col_codes.iter().enumerate().map(|(i, c)| (*c, i)).collect();

        let mut rows: Vec<(u32, Vec<Cell>)> = row_codes
            .iter()
            .map(|r| {
                let mut cells = vec![Cell::default(); col_codes.len()];
                for (c, cell) in grid.get(r).into_iter().flatten() {
                    if let Some(&i) = col_pos.get(c) {
                        cells[i].merge(cell);
                    }
                }
                (*r, cells)
            })
            .collect();

        let total =
            |cells: &[Cell]| -> f64 { cells.iter().filter_map(|c| c.value(q.measure)).sum() };
        let mut col_codes = col_codes;
        if is_ranked(q.cols) {
            let col_total = |j: usize| -> f64 {
                rows.iter()
                    .filter_map(|(_, cells)| cells[j].value(q.measure))
                    .sum()
            };
            let mut order: Vec<(f64, String, usize)> = (0..col_codes.len())
                .map(|j| (col_total(j), self.label(q.cols, col_codes[j]), j))
                .collect();
            order.sort_by(|a, b| by_total_then_name((a.0, &a.1), (b.0, &b.1)));
            col_codes = order.iter().map(|(_, _, j)| col_codes[*j]).collect();
            for (_, cells) in &mut rows {
                *cells = order.iter().map(|(_, _, j)| cells[*j]).collect();
            }
        }
        if is_ranked(q.rows) {
            let mut keyed: Vec<(f64, String, u32, Vec<Cell>)> = rows
                .into_iter()
                .map(|(code, cells)| (total(&cells), self.label(q.rows, code), code, cells))
                .collect();
            keyed.sort_by(|a, b| by_total_then_name((a.0, &a.1), (b.0, &b.1)));
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

    /// The codes shown on one axis: the present ones, and for time dimensions every period from
    /// the first to the last present one. Text dimensions are ranked afterwards.
    fn axis(&self, d: Dimension, present: impl Iterator<Item = u32>) -> Vec<u32> {
        let mut codes: Vec<u32> = present.collect();
        codes.sort_unstable();
        codes.dedup();
        match (d.is_time(), codes.first(), codes.last()) {
            (true, Some(&a), Some(&b)) => (a..=b).collect(),
            _ => codes,
        }
    }
}

/// Severity keeps its level order and time its chronology; every other dimension is ranked.
fn is_ranked(d: Dimension) -> bool {
    !d.is_time() && d != Dimension::Severity
}

/// Larger total first, then by name.
fn by_total_then_name(a: (f64, &String), b: (f64, &String)) -> Ordering {
    b.0.partial_cmp(&a.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

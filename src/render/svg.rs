//! Heatmap -> SVG. Geometry is computed here; `templates/heatmap.svg` only prints it, and askama
//! escapes every label and tooltip, so hostile text cannot break the markup.

use askama::Template;

use super::Palette;
use super::numbers::{compact, grouped, grouped_f};
use super::palette::{EMPTY_FILL, diverging_hex, diverging_text_on};
use crate::analytics::Heatmap;

/// A link per cell, `(map, row, col) -> href`, for drill-down from the dashboard.
pub type CellLink<'a> = &'a dyn Fn(&Heatmap, usize, usize) -> String;

/// Options a caller may set; everything else is derived from the data.
#[derive(Clone, Default)]
pub struct SvgOptions<'a> {
    pub title: String,
    /// A line under the title: filters in force, the date range...
    pub subtitle: String,
    pub palette: Palette,
    /// At most this many columns are drawn (time dimensions keep the most recent ones).
    pub max_cols: Option<usize>,
    /// The width the SVG must fit (a page's panel): columns narrow, labels thin out, and when
    /// even that is not enough the oldest periods (the last columns of other axes) are left out,
    /// said in a note. Under [`NARROW`] the sparklines go and the legend moves under the plot.
    pub max_width: Option<f64>,
    /// Prefix of the ids inside the SVG (`hm` when empty), so that two drawings can share a page.
    pub id: &'a str,
    pub link: Option<CellLink<'a>>,
}

/// A width budget under this is a phone's: no sparklines, the legend under the plot, shorter
/// row labels.
pub const NARROW: f64 = 600.0;
/// Columns are never drawn narrower than this; labels thin out from 16 px down.
const MIN_CELL_W: f64 = 12.0;
/// Row labels are cut to this many characters on a narrow drawing.
const NARROW_LABEL_CHARS: usize = 16;

/// Labels longer than this are shortened, with the full text in a `<title>` tooltip.
const MAX_LABEL_CHARS: usize = 28;
const DEFAULT_MAX_COLS: usize = 120;
const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";

struct SvgCell {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    fill: String,
    text: Option<String>,
    text_fill: &'static str,
    tooltip: String,
    href: Option<String>,
    row: usize,
    col: usize,
    value: String,
    count: u64,
    share: String,
    /// A flagged cell's kind (`spike`...), outlined and marked.
    flag: Option<&'static str>,
}

/// A row's or column's total (or the grand total): drawn apart from the grid, uncoloured.
struct MarginCell {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    text: String,
    tooltip: String,
}

/// A row's last 12 months as a small line at its end.
struct Spark {
    points: String,
    tooltip: String,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

struct Label {
    x: f64,
    y: f64,
    short: String,
    full: String,
    shortened: bool,
}

/// A column (or row) whose period the data does not cover whole, outlined with a dashed line.
struct PartialMark {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    tooltip: String,
}

struct Stop {
    offset: String,
    color: String,
}

#[derive(Template)]
#[template(path = "heatmap.svg")]
struct SvgView<'a> {
    id: &'a str,
    /// `img` for a standalone drawing; `group` when its cells are links.
    role: &'static str,
    width: f64,
    height: f64,
    font: &'a str,
    title: &'a str,
    subtitle: String,
    subtitle_full: &'a str,
    notes: Vec<(f64, String)>,
    partials: Vec<PartialMark>,
    legend_below: bool,
    legend_y: f64,
    legend_w: f64,
    cells: Vec<SvgCell>,
    margins: Vec<MarginCell>,
    margin_row_label: Option<Label>,
    margin_col_label: Option<Label>,
    sparks: Vec<Spark>,
    row_labels: Vec<Label>,
    col_labels: Vec<Label>,
    rotate_cols: bool,
    row_title: &'a str,
    row_title_x: f64,
    col_title: &'a str,
    col_title_x: f64,
    col_title_y: f64,
    plot_top: f64,
    legend_x: f64,
    legend_h: f64,
    legend_title: String,
    legend_max: String,
    legend_mid: String,
    legend_min: String,
    stops: Vec<Stop>,
    empty: bool,
    empty_x: f64,
}

/// Approximate advance width of `s` at 12 px in DejaVu Sans: good enough for layout.
fn text_px(s: &str) -> f64 {
    s.chars()
        .map(|c| {
            if c.len_utf8() >= 3 {
                12.0
            } else if c.is_ascii_uppercase() {
                8.0
            } else {
                7.0
            }
        })
        .sum()
}

fn shorten(s: &str) -> (String, bool) {
    shorten_to(s, MAX_LABEL_CHARS)
}

fn shorten_to(s: &str, max: usize) -> (String, bool) {
    if s.chars().count() > max {
        (
            format!("{}…", s.chars().take(max - 1).collect::<String>()),
            true,
        )
    } else {
        (s.to_owned(), false)
    }
}

/// A value as printed: whole numbers with thousands separators, means with two decimals.
fn format_value(v: f64, integral: bool) -> String {
    if integral {
        grouped_f(v, 0)
    } else {
        grouped_f(v, 2)
    }
}

/// A share as printed: a whole percent, or one decimal under 10 %.
fn format_share(v: f64) -> String {
    let pct = v * 100.0;
    if pct > 0.0 && pct < 10.0 {
        format!("{pct:.1}%")
    } else {
        format!("{pct:.0}%")
    }
}

/// A change as printed: signed, `+` for an increase.
fn format_delta(v: f64, integral: bool, share: bool) -> String {
    let body = if share {
        format!("{:.1} pts", v.abs() * 100.0)
    } else {
        format_value(v.abs(), integral)
    };
    if v > 0.0 {
        format!("+{body}")
    } else if v < 0.0 {
        format!("−{body}")
    } else if share {
        "0 pts".to_owned()
    } else {
        "0".to_owned()
    }
}

/// How a cell's value is shown and coloured.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// The value against the grid's largest.
    Value,
    /// A share, against the largest share.
    Share,
    /// The change from the previous period, centred on zero.
    Delta,
}

impl Mode {
    fn of(map: &Heatmap) -> Self {
        if map.delta.is_some() {
            Self::Delta
        } else if map.normalize.is_some() {
            Self::Share
        } else {
            Self::Value
        }
    }
}

/// The number a cell prints (and is coloured by) in `mode`.
fn shown_value(map: &Heatmap, mode: Mode, i: usize, j: usize) -> Option<f64> {
    match mode {
        Mode::Delta => map.delta.as_ref().and_then(|d| d[i][j]),
        _ => map.values[i][j],
    }
}

fn format_in(mode: Mode, map: &Heatmap, v: f64) -> String {
    let integral = map.measure.is_integral();
    match mode {
        Mode::Value => format_value(v, integral),
        Mode::Share => format_share(v),
        Mode::Delta => format_delta(
            v,
            integral && map.normalize.is_none(),
            map.normalize.is_some(),
        ),
    }
}

/// The largest magnitude drawn, for the colour scale.
fn scale_max(map: &Heatmap, mode: Mode) -> f64 {
    match mode {
        Mode::Delta => map
            .delta
            .iter()
            .flatten()
            .flatten()
            .flatten()
            .map(|v| v.abs())
            .fold(0.0, f64::max),
        _ => map.max_value(),
    }
}

const GAP: f64 = 8.0;
const SPARK_W: f64 = 64.0;

/// Which columns to draw: all of them when they fit, else the latest periods of a time axis or
/// the first columns in display order.
fn visible_columns(map: &Heatmap, max_cols: usize) -> Vec<usize> {
    let n = map.cols.len();
    if n <= max_cols {
        (0..n).collect()
    } else if map.col_dimension.is_time() {
        (n - max_cols..n).collect()
    } else {
        (0..max_cols).collect()
    }
}

/// Where everything goes.
struct Geometry {
    /// Where the totals column and row start.
    margin_x: f64,
    margin_y: f64,
    /// Where the sparklines start (0 wide when there are none).
    spark_x: f64,
    spark_w: f64,
    cell_w: f64,
    cell_h: f64,
    show_values: bool,
    rotate_cols: bool,
    /// Every `label_step`-th column label is drawn, counted back from the newest.
    label_step: usize,
    /// Row labels are cut to this many characters.
    label_chars: usize,
    plot_left: f64,
    plot_top: f64,
    plot_w: f64,
    plot_h: f64,
    legend_x: f64,
    /// On a narrow drawing the legend is a horizontal bar under the column title.
    legend_below: bool,
    legend_y: f64,
    legend_w: f64,
    col_title_y: f64,
    width: f64,
    height: f64,
}

const MARGIN: f64 = 16.0;
const LINE: f64 = 16.0;

/// Cell sizes from the widest value and the number of rows and columns, narrowed to fit `fit`
/// when given; the plot beside the widest row label, under the title and the notes (one line
/// each); the legend to its right, or under it on a narrow drawing.
fn layout(
    map: &Heatmap,
    cols: &[usize],
    note_lines: usize,
    legend_title_px: f64,
    fit: Option<f64>,
) -> Geometry {
    let integral = map.measure.is_integral();
    let mode = Mode::of(map);
    let narrow = fit.is_some_and(|w| w < NARROW);
    let (nrows, ncols) = (map.rows.len(), cols.len());
    let widest_value = (0..nrows)
        .flat_map(|i| {
            cols.iter()
                .filter_map(move |&j| shown_value(map, mode, i, j))
        })
        .map(|v| text_px(&format_in(mode, map, v)))
        .chain(
            map.row_totals
                .iter()
                .chain(&map.col_totals)
                .chain(std::iter::once(&map.total))
                .flatten()
                .map(|v| text_px(&format_value(*v, integral))),
        )
        .fold(0.0, f64::max);
    let natural_w = if ncols > 60 {
        14.0
    } else {
        (widest_value + 14.0).clamp(40.0, 80.0)
    };
    let cell_h = if nrows > 80 { 14.0 } else { 26.0 };
    let label_chars = if narrow {
        NARROW_LABEL_CHARS
    } else {
        MAX_LABEL_CHARS
    };
    let row_label_w = map
        .rows
        .iter()
        .map(|r| text_px(&shorten_to(r, label_chars).0))
        .fold(text_px(map.row_dimension.title()), f64::max)
        + 12.0;
    let has_margins = nrows > 0;
    let spark_w = if map.row_history.is_some() && has_margins && !narrow {
        SPARK_W
    } else {
        0.0
    };
    let plot_left = MARGIN + row_label_w;
    let legend_right = if narrow {
        0.0
    } else {
        28.0 + (24.0 + legend_title_px).max(34.0 + text_px(map.measure.title()).max(60.0))
    };
    // Everything but the columns and the totals column, which are as wide as a column.
    let fixed = plot_left + GAP + if has_margins { 12.0 } else { 0.0 } + spark_w + legend_right;
    let slots = ncols as f64 + if has_margins { 1.0 } else { 0.0 };
    let cell_w = match fit {
        Some(w) if slots > 0.0 => ((w - fixed) / slots).floor().clamp(MIN_CELL_W, natural_w),
        _ => natural_w,
    };
    let col_label_px = cols
        .iter()
        .map(|&j| text_px(&shorten(&map.cols[j]).0) + 8.0)
        .fold(0.0, f64::max);
    let rotate_cols = col_label_px > cell_w - 6.0;
    // Rotated by 45°, neighbouring labels stand cell_w·0.71 apart and need about 12 px.
    let label_step = if rotate_cols {
        (17.0 / cell_w).ceil().max(1.0) as usize
    } else {
        1
    };
    let col_label_h = if rotate_cols {
        col_label_px * 0.72 + 16.0
    } else {
        22.0
    };
    let plot_top = 80.0 + LINE * note_lines as f64;
    let plot_w = ncols as f64 * cell_w;
    let plot_h = nrows as f64 * cell_h;
    let margin_x = plot_left + plot_w + GAP;
    let margin_y = plot_top + plot_h + GAP;
    let spark_x = margin_x + if has_margins { cell_w + 12.0 } else { 0.0 };
    let legend_x = if narrow {
        MARGIN
    } else {
        spark_x + spark_w + 28.0
    };
    let below = if has_margins { GAP + cell_h } else { 0.0 };
    let col_title_y = plot_top + plot_h + below + col_label_h + 22.0;
    let min_width = if narrow { 0.0 } else { 520.0 };
    let width = (spark_x + spark_w + legend_right).max(min_width);
    let legend_w = (width - 2.0 * MARGIN).clamp(80.0, 240.0);
    let legend_y = col_title_y + 22.0;
    let height = if narrow && has_margins {
        legend_y + 14.0 + 34.0
    } else {
        col_title_y + MARGIN
    };
    Geometry {
        margin_x,
        margin_y,
        spark_x,
        spark_w,
        cell_w,
        cell_h,
        show_values: cell_h >= 20.0 && cell_w >= 24.0,
        rotate_cols,
        label_step,
        label_chars,
        plot_left,
        plot_top,
        plot_w,
        plot_h,
        legend_x,
        legend_below: narrow,
        legend_y,
        legend_w,
        col_title_y,
        width,
        height,
    }
}

/// The text a cell or total prints: the exact value when it fits, else its compact form
/// (`48.7k`) when that fits, else nothing (the tooltip always has the exact value).
fn fitting(exact: String, v: f64, integral: bool, cell_w: f64) -> Option<String> {
    if text_px(&exact) + 6.0 <= cell_w {
        return Some(exact);
    }
    let short = if integral && exact.chars().all(|c| c.is_ascii_digit() || c == ',') {
        compact(v)
    } else {
        return None;
    };
    (text_px(&short) + 6.0 <= cell_w).then_some(short)
}

/// One rectangle per visible cell, coloured by its value against the map's maximum (its share,
/// or its change from the previous period on a diverging scale), with that printed when it fits
/// and a tooltip naming row, column, value, count and share.
fn cells(map: &Heatmap, cols: &[usize], g: &Geometry, opts: &SvgOptions<'_>) -> Vec<SvgCell> {
    let integral = map.measure.is_integral();
    let mode = Mode::of(map);
    let max = scale_max(map, mode);
    let measure = map.measure.title().to_lowercase();
    let flags: std::collections::HashMap<(&str, &str), &crate::analytics::anomalies::Anomaly> = map
        .anomalies
        .iter()
        .map(|a| ((a.row.as_str(), a.col.as_str()), a))
        .collect();
    let mut cells = Vec::with_capacity(map.rows.len() * cols.len());
    for (i, row) in map.values.iter().enumerate() {
        let row_total: u64 = map.counts[i].iter().sum();
        for (k, &j) in cols.iter().enumerate() {
            let count = map.counts[i][j];
            let drawn = shown_value(map, mode, i, j);
            let t = drawn.map_or(0.0, |v| if max > 0.0 { v / max } else { 0.0 });
            let shown = drawn
                .map(|v| format_in(mode, map, v))
                .unwrap_or_else(|| "–".to_owned());
            let value = match (mode, row[j]) {
                (Mode::Value, _) => shown.clone(),
                (Mode::Share, Some(v)) => format_share(v),
                (Mode::Delta, Some(v)) if map.normalize.is_some() => format_share(v),
                (Mode::Delta, Some(v)) => format_value(v, integral),
                (_, None) => "–".to_owned(),
            };
            let share = if row_total > 0 {
                format!("{:.0}%", count as f64 * 100.0 / row_total as f64)
            } else {
                "0%".into()
            };
            let has_something = count > 0 || mode == Mode::Delta;
            let text = match drawn {
                Some(v) if g.show_values && has_something => {
                    fitting(shown.clone(), v, integral && mode == Mode::Value, g.cell_w)
                }
                _ => None,
            };
            let (fill, text_fill) = match mode {
                Mode::Delta if drawn.is_some() => (diverging_hex(t), diverging_text_on(t)),
                _ if count == 0 => (EMPTY_FILL.to_owned(), "#555555"),
                _ => (opts.palette.hex(t), opts.palette.text_on(t)),
            };
            let tooltip = match mode {
                Mode::Delta => {
                    let before = map
                        .previous
                        .as_ref()
                        .and_then(|p| p[i][j])
                        .map(|v| {
                            if map.normalize.is_some() {
                                format_share(v)
                            } else {
                                format_value(v, integral)
                            }
                        })
                        .unwrap_or_else(|| "–".to_owned());
                    let period = match (map.previous_from, map.previous_to) {
                        (Some(a), Some(b)) => format!("{a} to {b}"),
                        _ => "the previous period".to_owned(),
                    };
                    format!(
                        "{} × {}: {measure} {value} now, {before} in {period}, change {shown} ({} escalations)",
                        map.rows[i],
                        map.cols[j],
                        grouped(count)
                    )
                }
                _ => format!(
                    "{} × {}: {measure} {value} ({} escalations, {share} of the row)",
                    map.rows[i],
                    map.cols[j],
                    grouped(count)
                ),
            };
            let partial = map
                .col_periods
                .get(j)
                .filter(|p| p.partial)
                .or_else(|| map.row_periods.get(i).filter(|p| p.partial));
            let tooltip = match partial {
                Some(p) => format!("{tooltip}; {}", p.describe()),
                None => tooltip,
            };
            let flag = flags.get(&(map.rows[i].as_str(), map.cols[j].as_str()));
            let tooltip = match flag {
                Some(a) => format!(
                    "{tooltip}; {}: {} vs {} expected",
                    crate::analytics::insights::kind_label(a.kind),
                    a.observed,
                    crate::analytics::insights::expected_text(a.expected)
                ),
                None => tooltip,
            };
            cells.push(SvgCell {
                flag: flag.map(|a| a.kind.as_str()),
                x: g.plot_left + k as f64 * g.cell_w,
                y: g.plot_top + i as f64 * g.cell_h,
                w: g.cell_w - 1.0,
                h: g.cell_h - 1.0,
                fill,
                text,
                text_fill,
                tooltip,
                href: opts.link.map(|f| f(map, i, j)),
                row: i,
                col: j,
                value,
                count,
                share,
            });
        }
    }
    cells
}

/// The totals column (each row's), the totals row (each visible column's) and the grand total.
fn margins(map: &Heatmap, cols: &[usize], g: &Geometry) -> Vec<MarginCell> {
    if map.rows.is_empty() {
        return Vec::new();
    }
    let integral = map.measure.is_integral();
    let measure = map.measure.title().to_lowercase();
    let text = |v: &Option<f64>| v.map_or("–".to_owned(), |v| format_value(v, integral));
    let fits = |v: &Option<f64>| {
        g.show_values
            .then(|| fitting(text(v), v.unwrap_or(0.0), integral, g.cell_w))
            .flatten()
    };
    let mut out = Vec::new();
    for (i, (label, v)) in map.rows.iter().zip(&map.row_totals).enumerate() {
        out.push(MarginCell {
            x: g.margin_x,
            y: g.plot_top + i as f64 * g.cell_h,
            w: g.cell_w - 1.0,
            h: g.cell_h - 1.0,
            text: fits(v).unwrap_or_default(),
            tooltip: format!(
                "{label}, all {}: {measure} {}",
                map.col_dimension.title().to_lowercase(),
                text(v)
            ),
        });
    }
    for (k, &j) in cols.iter().enumerate() {
        let v = &map.col_totals[j];
        out.push(MarginCell {
            x: g.plot_left + k as f64 * g.cell_w,
            y: g.margin_y,
            w: g.cell_w - 1.0,
            h: g.cell_h - 1.0,
            text: fits(v).unwrap_or_default(),
            tooltip: format!(
                "{}, all {}: {measure} {}",
                map.cols[j],
                map.row_dimension.title().to_lowercase(),
                text(v)
            ),
        });
    }
    out.push(MarginCell {
        x: g.margin_x,
        y: g.margin_y,
        w: g.cell_w - 1.0,
        h: g.cell_h - 1.0,
        text: fits(&map.total).unwrap_or_default(),
        tooltip: format!("All escalations shown: {measure} {}", text(&map.total)),
    });
    out
}

/// Each row's last 12 months, scaled to its own largest month.
fn sparks(map: &Heatmap, g: &Geometry) -> Vec<Spark> {
    let Some(h) = &map.row_history else {
        return Vec::new();
    };
    if g.spark_w == 0.0 || h.periods.len() < 2 {
        return Vec::new();
    }
    let integral = map.measure.is_integral();
    let step = g.spark_w / (h.periods.len() - 1) as f64;
    h.values
        .iter()
        .enumerate()
        .map(|(i, series)| {
            let max = series.iter().flatten().copied().fold(0.0, f64::max);
            let (y, hh) = (g.plot_top + i as f64 * g.cell_h + 3.0, g.cell_h - 7.0);
            let points: Vec<String> = series
                .iter()
                .enumerate()
                .filter_map(|(k, v)| {
                    let v = (*v)?;
                    let py = y + hh - if max > 0.0 { v / max * hh } else { 0.0 };
                    Some(format!("{:.1},{py:.1}", g.spark_x + k as f64 * step))
                })
                .collect();
            let listed: Vec<String> = series
                .iter()
                .map(|v| v.map_or("–".to_owned(), |v| format_value(v, integral)))
                .collect();
            Spark {
                points: points.join(" "),
                tooltip: format!(
                    "{}: {} by month, {} to {}: {}",
                    map.rows[i],
                    map.measure.title().to_lowercase(),
                    h.periods.first().map_or("", String::as_str),
                    h.periods.last().map_or("", String::as_str),
                    listed.join(", ")
                ),
                x: g.spark_x,
                y,
                w: g.spark_w,
                h: hh,
            }
        })
        .collect()
}

fn row_labels(map: &Heatmap, g: &Geometry) -> Vec<Label> {
    map.rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (short, shortened) = shorten_to(r, g.label_chars);
            let (short, full, shortened) = match map.row_periods.get(i).filter(|p| p.partial) {
                Some(p) => (format!("{short}*"), format!("{r}: {}", p.describe()), true),
                None => (short, r.clone(), shortened),
            };
            Label {
                x: g.plot_left - 8.0,
                y: g.plot_top + i as f64 * g.cell_h + g.cell_h / 2.0 + 4.0,
                short,
                full,
                shortened,
            }
        })
        .collect()
}

/// Dashed outlines over the columns and rows whose periods are partial.
fn partial_marks(map: &Heatmap, cols: &[usize], g: &Geometry) -> Vec<PartialMark> {
    let mut out = Vec::new();
    for (k, &j) in cols.iter().enumerate() {
        if let Some(p) = map.col_periods.get(j).filter(|p| p.partial) {
            out.push(PartialMark {
                x: g.plot_left + k as f64 * g.cell_w - 0.5,
                y: g.plot_top - 0.5,
                w: g.cell_w,
                h: g.plot_h,
                tooltip: format!("{}: {}", p.label, p.describe()),
            });
        }
    }
    for (i, p) in map
        .row_periods
        .iter()
        .enumerate()
        .filter(|(_, p)| p.partial)
    {
        out.push(PartialMark {
            x: g.plot_left - 0.5,
            y: g.plot_top + i as f64 * g.cell_h - 0.5,
            w: g.plot_w,
            h: g.cell_h,
            tooltip: format!("{}: {}", p.label, p.describe()),
        });
    }
    out
}

fn col_labels(map: &Heatmap, cols: &[usize], g: &Geometry) -> Vec<Label> {
    let below = if map.rows.is_empty() {
        0.0
    } else {
        GAP + g.cell_h
    };
    let n = cols.len();
    cols.iter()
        .enumerate()
        // Thinned from the newest back, so the newest period is always labelled.
        .filter(|(k, _)| (n - 1 - k).is_multiple_of(g.label_step))
        .map(|(k, &j)| {
            let (short, shortened) = shorten(&map.cols[j]);
            let (short, full, shortened) = match map.col_periods.get(j).filter(|p| p.partial) {
                Some(p) => (
                    format!("{short}*"),
                    format!("{}: {}", map.cols[j], p.describe()),
                    true,
                ),
                None => (short, map.cols[j].clone(), shortened),
            };
            Label {
                x: g.plot_left + k as f64 * g.cell_w + g.cell_w / 2.0,
                y: g.plot_top + g.plot_h + below + 16.0,
                short,
                full,
                shortened,
            }
        })
        .collect()
}

/// What is not drawn (hidden rows beyond `top`, hidden columns) and which periods are partial:
/// one line each.
fn notes(map: &Heatmap, cols: &[usize]) -> Vec<String> {
    let nrows = map.rows.len();
    let shown_cols = cols.len();
    let (ncols_all, hidden_cols) = (map.cols.len(), map.cols.len() - shown_cols);
    let mut notes = Vec::new();
    if map.hidden_rows > 0 {
        notes.push(format!(
            "top {} of {} rows shown, {} more hidden",
            grouped(nrows as u64),
            grouped((nrows + map.hidden_rows) as u64),
            grouped(map.hidden_rows as u64)
        ));
    }
    if hidden_cols > 0 {
        let which = if map.col_dimension.is_time() {
            "the latest "
        } else {
            ""
        };
        notes.push(format!(
            "{which}{shown_cols} of {ncols_all} columns shown, {hidden_cols} more hidden"
        ));
    }
    let partial = cols
        .iter()
        .filter_map(|&j| map.col_periods.get(j))
        .chain(&map.row_periods)
        .filter(|p| p.partial)
        .map(|p| format!("{} ({} to {})", p.label, p.covered_from, p.covered_to))
        .collect::<Vec<_>>();
    if !partial.is_empty() {
        notes.push(format!("* partial: {}", partial.join(", ")));
    }
    notes
}

/// Notes broken into lines that fit `width` (at about 7 px a character).
fn wrap(notes: Vec<String>, width: Option<f64>) -> Vec<String> {
    let Some(w) = width else {
        return notes;
    };
    let max = (((w - 2.0 * MARGIN) / 7.0).floor() as usize).max(12);
    let mut out = Vec::new();
    for note in notes {
        let mut line = String::new();
        for word in note.split(' ') {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > max {
                out.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push(line);
    }
    out
}

/// The legend's gradient, top (max) to bottom (0).
fn legend_stops(palette: Palette) -> Vec<Stop> {
    (0..=10)
        .map(|k| {
            let t = f64::from(k) / 10.0;
            Stop {
                offset: format!("{}%", k * 10),
                color: palette.hex(1.0 - t),
            }
        })
        .collect()
}

/// Draws a heatmap. The SVG is standalone (no external fonts, styles or scripts): visible
/// columns, layout, cells, labels, notes and legend, each a step of its own.
pub fn heatmap_svg(map: &Heatmap, opts: &SvgOptions<'_>) -> String {
    let integral = map.measure.is_integral();
    let mode = Mode::of(map);
    let max = scale_max(map, mode);
    let has_margins = !map.rows.is_empty();
    let label = |x: f64, y: f64, text: &str| Label {
        x,
        y,
        short: text.to_owned(),
        full: text.to_owned(),
        shortened: false,
    };
    let (legend_title, legend_max, legend_mid, legend_min) = match mode {
        Mode::Value => (
            map.measure.title().to_owned(),
            format_value(max, integral),
            format_value(
                if integral {
                    (max / 2.0).round()
                } else {
                    max / 2.0
                },
                integral,
            ),
            format_value(0.0, integral),
        ),
        Mode::Share => (
            format!("{}: share", map.measure.title()),
            format_share(max),
            format_share(max / 2.0),
            format_share(0.0),
        ),
        Mode::Delta => (
            "Change from the previous period".to_owned(),
            format_in(mode, map, max),
            format_in(mode, map, 0.0),
            format_in(mode, map, -max),
        ),
    };
    // Fit the width: narrower columns first (in `layout`), then fewer of them.
    let mut max_cols = opts.max_cols.unwrap_or(DEFAULT_MAX_COLS).max(1);
    let (cols, notes, g) = loop {
        let cols = visible_columns(map, max_cols);
        let notes = wrap(notes(map, &cols), opts.max_width);
        let g = layout(
            map,
            &cols,
            notes.len(),
            text_px(&legend_title),
            opts.max_width,
        );
        match opts.max_width {
            Some(w) if g.width > w && cols.len() > 1 => {
                let over = ((g.width - w) / g.cell_w).ceil().max(1.0) as usize;
                max_cols = cols.len().saturating_sub(over).max(1);
            }
            _ => break (cols, notes, g),
        }
    };
    let width = g.width;
    // A subtitle longer than the drawing is cut, whole in its tooltip.
    let (subtitle, _) = shorten_to(
        &opts.subtitle,
        (((width - 2.0 * MARGIN) / 7.0).floor() as usize).max(8),
    );
    let id = if opts.id.is_empty() { "hm" } else { opts.id };
    let stops = match mode {
        Mode::Delta => (0..=10)
            .map(|k| Stop {
                offset: format!("{}%", k * 10),
                color: diverging_hex(1.0 - f64::from(k) / 5.0),
            })
            .collect(),
        _ => legend_stops(opts.palette),
    };
    let view = SvgView {
        id,
        role: if opts.link.is_some() { "group" } else { "img" },
        width: width.round(),
        height: g.height.round(),
        font: FONT,
        title: &opts.title,
        subtitle,
        subtitle_full: &opts.subtitle,
        notes: notes
            .into_iter()
            .enumerate()
            .map(|(k, n)| (68.0 + LINE * k as f64, n))
            .collect(),
        partials: partial_marks(map, &cols, &g),
        legend_below: g.legend_below,
        legend_y: g.legend_y,
        legend_w: g.legend_w,
        cells: cells(map, &cols, &g, opts),
        margins: margins(map, &cols, &g),
        margin_row_label: has_margins.then(|| {
            label(
                g.plot_left - 8.0,
                g.margin_y + g.cell_h / 2.0 + 4.0,
                "Total",
            )
        }),
        margin_col_label: has_margins
            .then(|| label(g.margin_x + g.cell_w / 2.0, g.plot_top - 6.0, "Total")),
        sparks: sparks(map, &g),
        row_labels: row_labels(map, &g),
        col_labels: col_labels(map, &cols, &g),
        rotate_cols: g.rotate_cols,
        row_title: map.row_dimension.title(),
        row_title_x: g.plot_left - 8.0,
        col_title: map.col_dimension.title(),
        col_title_x: g.plot_left + g.plot_w / 2.0,
        col_title_y: g.col_title_y,
        plot_top: g.plot_top,
        legend_x: g.legend_x,
        legend_h: g.plot_h.clamp(60.0, 240.0),
        legend_title,
        legend_max,
        legend_mid,
        legend_min,
        stops,
        empty: map.rows.is_empty(),
        empty_x: width / 2.0,
    };
    view.render().unwrap_or_else(|e| {
        // Rendering a template with only owned strings and numbers cannot fail; keep a valid SVG anyway.
        tracing::error!(error = %e, "heatmap template failed");
        String::from(r#"<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>"#)
    })
}

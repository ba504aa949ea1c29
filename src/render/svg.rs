//! Heatmap -> SVG. Geometry is computed here; `templates/heatmap.svg` only prints it, and askama
//! escapes every label and tooltip, so hostile text cannot break the markup.

use askama::Template;

use super::Palette;
use super::palette::EMPTY_FILL;
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
    pub link: Option<CellLink<'a>>,
}

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
}

struct Label {
    x: f64,
    y: f64,
    short: String,
    full: String,
    shortened: bool,
}

struct Stop {
    offset: String,
    color: String,
}

#[derive(Template)]
#[template(path = "heatmap.svg")]
struct SvgView<'a> {
    width: f64,
    height: f64,
    font: &'a str,
    title: &'a str,
    subtitle: &'a str,
    note: String,
    cells: Vec<SvgCell>,
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
    legend_title: &'a str,
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
    if s.chars().count() > MAX_LABEL_CHARS {
        (
            format!(
                "{}…",
                s.chars().take(MAX_LABEL_CHARS - 1).collect::<String>()
            ),
            true,
        )
    } else {
        (s.to_owned(), false)
    }
}

/// A value as printed in a cell: whole numbers with thousands folded to `k`, means with two
/// decimals.
pub fn format_value(v: f64, integral: bool) -> String {
    if !integral {
        return format!("{v:.2}");
    }
    if v >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

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
    cell_w: f64,
    cell_h: f64,
    show_values: bool,
    rotate_cols: bool,
    plot_left: f64,
    plot_top: f64,
    plot_w: f64,
    plot_h: f64,
    legend_x: f64,
    col_title_y: f64,
    width: f64,
    height: f64,
}

const MARGIN: f64 = 16.0;

/// Cell sizes from the widest value and the number of rows and columns; the plot beside the
/// widest row label, under the title (and the note, when rows or columns are hidden); the legend
/// to its right.
fn layout(map: &Heatmap, cols: &[usize], has_note: bool) -> Geometry {
    let integral = map.measure.is_integral();
    let (nrows, ncols) = (map.rows.len(), cols.len());
    let widest_value = map
        .values
        .iter()
        .flat_map(|r| cols.iter().filter_map(move |&j| r[j]))
        .map(|v| text_px(&format_value(v, integral)))
        .fold(0.0, f64::max);
    let cell_w = if ncols > 60 {
        14.0
    } else {
        (widest_value + 14.0).clamp(40.0, 80.0)
    };
    let cell_h = if nrows > 80 { 14.0 } else { 26.0 };
    let row_label_w = map
        .rows
        .iter()
        .map(|r| text_px(&shorten(r).0))
        .fold(text_px(map.row_dimension.title()), f64::max)
        + 12.0;
    let col_label_px = cols
        .iter()
        .map(|&j| text_px(&shorten(&map.cols[j]).0))
        .fold(0.0, f64::max);
    let rotate_cols = col_label_px > cell_w - 6.0;
    let col_label_h = if rotate_cols {
        col_label_px * 0.72 + 16.0
    } else {
        22.0
    };
    let plot_left = MARGIN + row_label_w;
    let plot_top = if has_note { 96.0 } else { 80.0 };
    let plot_w = ncols as f64 * cell_w;
    let plot_h = nrows as f64 * cell_h;
    let legend_x = plot_left + plot_w + 28.0;
    let width = (legend_x + 34.0 + text_px(map.measure.title()).max(60.0)).max(520.0);
    let col_title_y = plot_top + plot_h + col_label_h + 22.0;
    Geometry {
        cell_w,
        cell_h,
        show_values: cell_h >= 20.0 && cell_w >= 30.0,
        rotate_cols,
        plot_left,
        plot_top,
        plot_w,
        plot_h,
        legend_x,
        col_title_y,
        width,
        height: col_title_y + MARGIN,
    }
}

/// One rectangle per visible cell, coloured by its value against the map's maximum, with its
/// value printed when it fits and a tooltip naming row, column, value, count and share.
fn cells(map: &Heatmap, cols: &[usize], g: &Geometry, opts: &SvgOptions<'_>) -> Vec<SvgCell> {
    let integral = map.measure.is_integral();
    let max = map.max_value();
    let mut cells = Vec::with_capacity(map.rows.len() * cols.len());
    for (i, row) in map.values.iter().enumerate() {
        let row_total: u64 = map.counts[i].iter().sum();
        for (k, &j) in cols.iter().enumerate() {
            let count = map.counts[i][j];
            let value = row[j];
            let t = value.map_or(0.0, |v| if max > 0.0 { v / max } else { 0.0 });
            let shown = value
                .map(|v| format_value(v, integral))
                .unwrap_or_else(|| "–".to_owned());
            let share = if row_total > 0 {
                format!("{:.0}%", count as f64 * 100.0 / row_total as f64)
            } else {
                "0%".into()
            };
            let text = (g.show_values && count > 0)
                .then(|| shown.clone())
                .filter(|s| text_px(s) + 6.0 <= g.cell_w);
            cells.push(SvgCell {
                x: g.plot_left + k as f64 * g.cell_w,
                y: g.plot_top + i as f64 * g.cell_h,
                w: g.cell_w - 1.0,
                h: g.cell_h - 1.0,
                fill: if count == 0 {
                    EMPTY_FILL.to_owned()
                } else {
                    opts.palette.hex(t)
                },
                text,
                text_fill: if count == 0 {
                    "#555555"
                } else {
                    opts.palette.text_on(t)
                },
                tooltip: format!(
                    "{} × {}: {} {} ({count} escalations, {share} of the row)",
                    map.rows[i],
                    map.cols[j],
                    map.measure.title().to_lowercase(),
                    shown
                ),
                href: opts.link.map(|f| f(map, i, j)),
                row: i,
                col: j,
                value: shown,
                count,
                share,
            });
        }
    }
    cells
}

fn row_labels(map: &Heatmap, g: &Geometry) -> Vec<Label> {
    map.rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (short, shortened) = shorten(r);
            Label {
                x: g.plot_left - 8.0,
                y: g.plot_top + i as f64 * g.cell_h + g.cell_h / 2.0 + 4.0,
                short,
                full: r.clone(),
                shortened,
            }
        })
        .collect()
}

fn col_labels(map: &Heatmap, cols: &[usize], g: &Geometry) -> Vec<Label> {
    cols.iter()
        .enumerate()
        .map(|(k, &j)| {
            let (short, shortened) = shorten(&map.cols[j]);
            Label {
                x: g.plot_left + k as f64 * g.cell_w + g.cell_w / 2.0,
                y: g.plot_top + g.plot_h + 16.0,
                short,
                full: map.cols[j].clone(),
                shortened,
            }
        })
        .collect()
}

/// What is not drawn: hidden rows (beyond `top`) and hidden columns.
fn notes(map: &Heatmap, shown_cols: usize) -> Vec<String> {
    let nrows = map.rows.len();
    let (ncols_all, hidden_cols) = (map.cols.len(), map.cols.len() - shown_cols);
    let mut notes = Vec::new();
    if map.hidden_rows > 0 {
        notes.push(format!(
            "top {nrows} of {} rows shown, {} more hidden",
            nrows + map.hidden_rows,
            map.hidden_rows
        ));
    }
    if hidden_cols > 0 {
        notes.push(format!(
            "{shown_cols} of {ncols_all} columns shown, {hidden_cols} more hidden"
        ));
    }
    notes
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
    let cols = visible_columns(map, opts.max_cols.unwrap_or(DEFAULT_MAX_COLS).max(1));
    let notes = notes(map, cols.len());
    let g = layout(map, &cols, !notes.is_empty());
    let max = map.max_value();
    let view = SvgView {
        width: g.width.round(),
        height: g.height.round(),
        font: FONT,
        title: &opts.title,
        subtitle: &opts.subtitle,
        note: notes.join("; "),
        cells: cells(map, &cols, &g, opts),
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
        legend_title: map.measure.title(),
        legend_max: format_value(max, integral),
        legend_mid: format_value(
            if integral {
                (max / 2.0).round()
            } else {
                max / 2.0
            },
            integral,
        ),
        legend_min: format_value(0.0, integral),
        stops: legend_stops(opts.palette),
        empty: map.rows.is_empty(),
        empty_x: g.width / 2.0,
    };
    view.render().unwrap_or_else(|e| {
        // Rendering a template with only owned strings and numbers cannot fail; keep a valid SVG anyway.
        tracing::error!(error = %e, "heatmap template failed");
        String::from(r#"<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>"#)
    })
}

//! Backlog -> SVG: opened and closed per period as bars, open at the period's end as a line, on
//! one scale. Geometry is computed here; `templates/backlog.svg` only prints it (askama escapes
//! every label).

use askama::Template;

use crate::analytics::Backlog;

const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";
const LEFT: f64 = 56.0;
const TOP: f64 = 70.0;
const PLOT_H: f64 = 220.0;
/// Opened, closed, open at end: blue, amber and near-black tell apart with the common
/// colour-vision deficiencies, and the line is drawn over the bars.
pub const OPENED_FILL: &str = "#2563eb";
pub const CLOSED_FILL: &str = "#f59e0b";
pub const OPEN_STROKE: &str = "#111827";

struct Bar {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    fill: &'static str,
}

struct Tick {
    x: f64,
    y: f64,
    text: String,
}

/// One period's column: a transparent target with the period's numbers as its tooltip.
struct Slot {
    x: f64,
    w: f64,
    tooltip: String,
    period: String,
}

#[derive(Template)]
#[template(path = "backlog.svg")]
struct ChartView<'a> {
    width: f64,
    height: f64,
    font: &'a str,
    title: &'a str,
    subtitle: &'a str,
    bars: Vec<Bar>,
    slots: Vec<Slot>,
    line: String,
    x_ticks: Vec<Tick>,
    y_ticks: Vec<Tick>,
    plot_top: f64,
    plot_bottom: f64,
    plot_left: f64,
    plot_right: f64,
    opened_fill: &'a str,
    closed_fill: &'a str,
    open_stroke: &'a str,
    empty: bool,
}

/// A rounded-up axis maximum: 1, 2 or 5 times a power of ten.
fn nice_max(v: u64) -> u64 {
    if v <= 5 {
        return 5;
    }
    let mut p = 1u64;
    while p.saturating_mul(10) <= v {
        p *= 10;
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| m * p)
        .find(|&c| c >= v)
        .unwrap_or(10 * p)
}

/// Draws a backlog series. Standalone SVG, like the heatmaps.
pub fn backlog_svg(b: &Backlog, title: &str, subtitle: &str) -> String {
    let n = b.periods.len();
    let slot_w = if n > 60 {
        10.0
    } else {
        (640.0 / n.max(1) as f64).clamp(14.0, 48.0)
    };
    let plot_w = slot_w * n as f64;
    let width = (LEFT + plot_w + 24.0).max(520.0);
    let plot_bottom = TOP + PLOT_H;
    let top_value = b
        .opened
        .iter()
        .chain(&b.closed)
        .chain(&b.open_at_end)
        .copied()
        .max()
        .unwrap_or(0);
    let axis_max = nice_max(top_value) as f64;
    let y_of = |v: u64| plot_bottom - v as f64 / axis_max * PLOT_H;
    let bar_w = (slot_w - 4.0) / 2.0;
    let mut bars = Vec::with_capacity(2 * n);
    let mut slots = Vec::with_capacity(n);
    let mut points = Vec::with_capacity(n);
    for i in 0..n {
        let x = LEFT + i as f64 * slot_w;
        for (k, (v, fill)) in [(b.opened[i], OPENED_FILL), (b.closed[i], CLOSED_FILL)]
            .into_iter()
            .enumerate()
        {
            let y = y_of(v);
            bars.push(Bar {
                x: x + 2.0 + k as f64 * bar_w,
                y,
                w: (bar_w - 1.0).max(1.0),
                h: plot_bottom - y,
                fill,
            });
        }
        points.push(format!(
            "{:.1},{:.1}",
            x + slot_w / 2.0,
            y_of(b.open_at_end[i])
        ));
        let mttr = b.mttr_days[i].map_or("none closed".to_owned(), |d| {
            format!("{d:.2} days to resolve on average")
        });
        slots.push(Slot {
            x,
            w: slot_w,
            tooltip: format!(
                "{}: {} opened, {} closed, {} open at the end; {mttr}",
                b.periods[i], b.opened[i], b.closed[i], b.open_at_end[i]
            ),
            period: b.periods[i].clone(),
        });
    }
    // A label every few periods, so they do not overlap.
    let every = (n as f64 * 64.0 / plot_w.max(1.0)).ceil().max(1.0) as usize;
    let x_ticks = (0..n)
        .step_by(every)
        .map(|i| Tick {
            x: LEFT + i as f64 * slot_w + slot_w / 2.0,
            y: plot_bottom + 16.0,
            text: b.periods[i].clone(),
        })
        .collect();
    let y_ticks = (0..=4)
        .map(|k| {
            let v = axis_max * f64::from(k) / 4.0;
            Tick {
                x: LEFT - 6.0,
                y: plot_bottom - PLOT_H * f64::from(k) / 4.0 + 4.0,
                text: format!("{v:.0}"),
            }
        })
        .collect();
    let view = ChartView {
        width: width.round(),
        height: (plot_bottom + 40.0).round(),
        font: FONT,
        title,
        subtitle,
        bars,
        slots,
        line: points.join(" "),
        x_ticks,
        y_ticks,
        plot_top: TOP,
        plot_bottom,
        plot_left: LEFT,
        plot_right: LEFT + plot_w,
        opened_fill: OPENED_FILL,
        closed_fill: CLOSED_FILL,
        open_stroke: OPEN_STROKE,
        empty: n == 0,
    };
    view.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "backlog template failed");
        String::from(r#"<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>"#)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Period;

    fn backlog() -> Backlog {
        Backlog {
            period: Period::Month,
            periods: vec!["2026-01".into(), "2026-02".into(), "<b>".into()],
            opened: vec![4, 2, 0],
            closed: vec![1, 3, 0],
            open_at_end: vec![3, 2, 2],
            mttr_days: vec![Some(2.5), Some(4.0), None],
        }
    }

    #[test]
    fn bars_a_line_and_a_tooltip_per_period() {
        let svg = backlog_svg(&backlog(), "Backlog & more", "all dates");
        let doc = roxmltree::Document::parse(&svg).expect("well-formed");
        let bars = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("class") == Some("bl-bar"))
            .count();
        assert_eq!(bars, 6);
        let line = doc
            .descendants()
            .find(|n| n.has_tag_name("polyline"))
            .and_then(|n| n.attribute("points"))
            .expect("the open-at-end line");
        assert_eq!(line.split(' ').count(), 3);
        let tips: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("title"))
            .filter_map(|n| n.text())
            .collect();
        assert!(tips.iter().any(|t| t.starts_with("2026-02: 2 opened, 3 closed, 2 open at the end; 4.00 days")));
        assert!(tips.iter().any(|t| t.ends_with("none closed")));
        assert!(!svg.contains("<b>"), "labels are escaped");
    }

    #[test]
    fn an_empty_series_says_so_and_axes_round_up() {
        let empty = Backlog {
            periods: vec![],
            opened: vec![],
            closed: vec![],
            open_at_end: vec![],
            mttr_days: vec![],
            ..backlog()
        };
        let svg = backlog_svg(&empty, "t", "s");
        roxmltree::Document::parse(&svg).expect("well-formed");
        assert!(svg.contains("No escalations match these filters."));
        assert_eq!(nice_max(0), 5);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(230), 500);
        assert_eq!(nice_max(1000), 1000);
    }
}

/// A sparkline's `points` attribute: `values` across `width` by `height` (the largest value at
/// the top, zero at the bottom, one pixel of margin).
pub fn spark_points(values: &[u32], width: f64, height: f64) -> String {
    let top = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = if values.len() > 1 {
        (width - 2.0) / (values.len() - 1) as f64
    } else {
        0.0
    };
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            format!(
                "{:.1},{:.1}",
                1.0 + i as f64 * step,
                height - 1.0 - f64::from(v) / top * (height - 2.0)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod spark_tests {
    #[test]
    fn a_sparkline_spans_its_box() {
        assert_eq!(
            super::spark_points(&[0, 5, 10], 12.0, 12.0),
            "1.0,11.0 6.0,6.0 11.0,1.0"
        );
        assert_eq!(super::spark_points(&[], 12.0, 12.0), "");
        assert_eq!(super::spark_points(&[0], 12.0, 12.0), "1.0,11.0");
    }
}

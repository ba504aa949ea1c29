use std::io::Write;

use crate::analytics::Heatmap;

/// Neutralises a cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, and tab or
/// carriage return which some programs strip first) by prefixing a single quote.
pub fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// The grid as CSV: a header of column labels, then one line per row (label, values).
/// Empty means are empty cells.
pub fn heatmap_csv(map: &Heatmap, out: impl Write) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    let corner = format!("{} \\ {}", map.row_dimension, map.col_dimension);
    w.write_record(
        std::iter::once(corner.as_str()).chain(
            map.cols
                .iter()
                .map(|c| csv_safe(c).into_owned())
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
        ),
    )?;
    for (label, row) in map.rows.iter().zip(&map.values) {
        let mut rec = vec![csv_safe(label).into_owned()];
        rec.extend(row.iter().map(|v| {
            v.map(|x| {
                if x.fract() == 0.0 {
                    format!("{x:.0}")
                } else {
                    x.to_string()
                }
            })
            .unwrap_or_default()
        }));
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}

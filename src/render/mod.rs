//! Pure drawing: a [`Heatmap`](crate::analytics::Heatmap) becomes an SVG string, a PNG
//! (rasterised from that same SVG with a font compiled into the binary), or a CSV grid.
//!
//! The `render` command and the web's `heatmap.svg`/`.png` routes call the same functions.

mod palette;
mod png;
mod svg;
mod table;

pub use palette::{InvalidPalette, Palette};
pub use png::{PngError, svg_to_png};
pub use svg::{SvgOptions, heatmap_svg};
pub use table::{csv_safe, heatmap_csv};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::{Filter, HeatmapQuery, Index};
    use crate::domain::{Dimension, Measure, Severity};
    use crate::store::IndexRow;

    const HOSTILE: &[&str] = &[
        "<script>alert(1)</script>",
        "\"quoted\" & 'single' <b>",
        "Ampersand & Sons ]]> <!-- -->",
        "A very long client name that goes on and on and on well past any sensible label width, Incorporated",
        "شركة الاختبار المحدودة",
        "株式会社テスト",
        "=HYPERLINK(\"http://x\")",
        "{{ template }} {% tag %}",
    ];

    fn hostile_index() -> Index {
        let day = chrono::NaiveDate::from_ymd_opt(2024, 5, 1).expect("valid");
        Index::from_rows(HOSTILE.iter().enumerate().flat_map(|(i, name)| {
            (0..=i).map(move |k| IndexRow {
                id: (i * 100 + k) as i64,
                client: name,
                product: HOSTILE[(i + 1) % HOSTILE.len()],
                region: "R",
                severity: Severity::ALL[k % 4],
                opened: day,
                closed: None,
                ticket: None,
                status: None,
            })
        }))
    }

    fn svg_for(ix: &Index, measure: Measure) -> (crate::analytics::Heatmap, String) {
        let q = HeatmapQuery::new(
            Dimension::Client,
            Dimension::Product,
            measure,
            None,
            Filter::default(),
        )
        .expect("valid");
        let map = ix.heatmap(&q);
        let opts = SvgOptions {
            title: "<Title & \"quotes\">".into(),
            subtitle: "a < b".into(),
            ..SvgOptions::default()
        };
        let svg = heatmap_svg(&map, &opts);
        (map, svg)
    }

    #[test]
    fn svg_stays_well_formed_with_hostile_labels() {
        let ix = hostile_index();
        for m in Measure::ALL {
            let (map, svg) = svg_for(&ix, *m);
            let doc = roxmltree::Document::parse(&svg)
                .unwrap_or_else(|e| panic!("{m}: not well-formed: {e}"));
            assert!(!svg.contains("<script"), "markup in labels must be escaped");
            // Every label survives as text (shortened ones in full in a <title>).
            let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
            for name in HOSTILE {
                assert!(
                    texts
                        .iter()
                        .any(|t| t.contains(name) || name.starts_with(t.trim_end_matches('…'))),
                    "{name} missing"
                );
            }
            // One rect per cell with a tooltip.
            let cells = doc
                .descendants()
                .filter(|n| n.has_tag_name("g") && n.attribute("class") == Some("hm-cell"))
                .count();
            assert_eq!(cells, map.rows.len() * map.cols.len());
        }
    }

    #[test]
    fn long_labels_are_shortened_with_the_full_text_in_a_title() {
        let (_, svg) = svg_for(&hostile_index(), Measure::Count);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed");
        let label = doc
            .descendants()
            .find(|n| {
                n.has_tag_name("text")
                    && n.children()
                        .any(|c| c.has_tag_name("title") && c.text() == Some(HOSTILE[3]))
            })
            .expect("a shortened label carries the full name in <title>");
        let shown: String = label
            .children()
            .filter(|c| c.is_text())
            .filter_map(|c| c.text())
            .collect();
        assert!(
            shown.ends_with('…') && shown.chars().count() <= 28,
            "{shown}"
        );
    }

    #[test]
    fn empty_heatmap_says_so() {
        let (_, svg) = svg_for(&Index::default(), Measure::Count);
        roxmltree::Document::parse(&svg).expect("well-formed");
        assert!(svg.contains("No escalations match these filters."));
    }

    #[test]
    fn png_is_decodable_and_sized_from_the_svg() {
        let (_, svg) = svg_for(&hostile_index(), Measure::Score);
        let png_bytes = svg_to_png(&svg, 1.0).expect("renders");
        let decoder = ::png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("a PNG frame");
        let doc = roxmltree::Document::parse(&svg).expect("well-formed");
        let width: f64 = doc
            .root_element()
            .attribute("width")
            .and_then(|w| w.parse().ok())
            .expect("width");
        assert_eq!(f64::from(info.width), width.ceil());
        // Not blank: the title text and cells put dark pixels on the white background.
        assert!(
            buf.chunks(4).any(|px| px[0] < 100 && px[3] > 0),
            "the image has ink"
        );
    }

    #[test]
    fn csv_grid_neutralises_formula_labels() {
        let ix = hostile_index();
        let q = HeatmapQuery::new(
            Dimension::Client,
            Dimension::Severity,
            Measure::Count,
            None,
            Filter::default(),
        )
        .expect("valid");
        let mut out = Vec::new();
        heatmap_csv(&ix.heatmap(&q), &mut out).expect("writes");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{text}");
        assert!(text.starts_with("client \\ severity,Low,Medium,High,Critical"));
        assert_eq!(csv_safe("+cmd"), "'+cmd");
        assert_eq!(csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_safe("-1+1"), "'-1+1");
        assert_eq!(csv_safe("plain"), "plain");
    }
}

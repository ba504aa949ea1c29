//! Pure drawing: a [`Heatmap`](crate::analytics::Heatmap) becomes an SVG string, a PNG
//! (rasterised from that same SVG with a font compiled into the binary), or a CSV grid.
//!
//! The `render` command and the web's `heatmap.svg`/`.png` routes call the same functions.

mod cards;
mod chart;
mod digest;
mod numbers;
mod palette;
mod png;
mod svg;
mod table;

pub use cards::{Card, cards};
pub use chart::{backlog_svg, spark_points};
pub use digest::{Digest, DigestAccount, DigestFinding};
pub use numbers::{compact, grouped, grouped_f};
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

    fn classed<'a>(
        doc: &'a roxmltree::Document<'a>,
        tag: &str,
        class: &str,
    ) -> Vec<roxmltree::Node<'a, 'a>> {
        doc.descendants()
            .filter(|n| n.has_tag_name(tag) && n.attribute("class") == Some(class))
            .collect()
    }

    #[test]
    fn totals_are_drawn_apart_and_rows_carry_a_sparkline() {
        let (map, svg) = svg_for(&hostile_index(), Measure::Count);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed");
        let totals = classed(&doc, "g", "hm-total");
        assert_eq!(totals.len(), map.rows.len() + map.cols.len() + 1);
        let grand = totals
            .last()
            .and_then(|g| g.descendants().find(|n| n.has_tag_name("text")));
        assert_eq!(
            grand.and_then(|t| t.text()),
            Some("36"),
            "1 + 2 + ... + 8 escalations"
        );
        assert_eq!(classed(&doc, "g", "hm-spark").len(), map.rows.len());
        assert_eq!(classed(&doc, "text", "hm-total-label").len(), 2);
    }

    /// Client × severity counts, unfiltered.
    fn by_severity() -> HeatmapQuery {
        HeatmapQuery::new(
            Dimension::Client,
            Dimension::Severity,
            Measure::Count,
            None,
            Filter::default(),
        )
        .expect("valid")
    }

    #[test]
    fn shares_print_as_percentages_and_changes_on_a_diverging_scale() {
        let ix = hostile_index();
        let q = by_severity()
            .with_normalize(Some(crate::domain::Normalize::Row))
            .expect("a count");
        let svg = heatmap_svg(&ix.heatmap(&q), &SvgOptions::default());
        let doc = roxmltree::Document::parse(&svg).expect("well-formed");
        let values: Vec<&str> = classed(&doc, "g", "hm-cell")
            .iter()
            .filter_map(|g| g.attribute("data-value"))
            .collect();
        assert!(values.contains(&"100%"), "{values:?}");
        assert!(
            values.iter().all(|v| v.ends_with('%') || *v == "–"),
            "{values:?}"
        );

        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2024, 5, d).expect("valid");
        let rows = [
            ("A", 2),
            ("A", 3),
            ("A", 20),
            ("B", 2),
            ("B", 21),
            ("B", 22),
        ];
        let ix = Index::from_rows(rows.iter().enumerate().map(|(i, (c, d))| IndexRow {
            id: i as i64,
            client: c,
            product: "P",
            region: "R",
            severity: Severity::Low,
            opened: day(*d),
            closed: None,
            ticket: None,
            status: None,
        }));
        let f = Filter {
            from: Some(day(16)),
            to: Some(day(30)),
            ..Filter::default()
        };
        let q = HeatmapQuery::new(
            Dimension::Client,
            Dimension::Product,
            Measure::Count,
            None,
            f,
        )
        .expect("valid")
        .with_compare(Some(crate::domain::Compare::Previous))
        .expect("valid");
        let map = ix.heatmap(&q);
        let svg = heatmap_svg(&map, &SvgOptions::default());
        let doc = roxmltree::Document::parse(&svg).expect("well-formed");
        let cells = classed(&doc, "g", "hm-cell");
        let text_of = |row: &str| {
            let i = map.rows.iter().position(|r| r == row).expect("row");
            let g = cells
                .iter()
                .find(|g| g.attribute("data-row") == Some(&i.to_string()))
                .expect("cell");
            let fill = g
                .descendants()
                .find(|n| n.has_tag_name("rect"))
                .and_then(|r| r.attribute("fill"))
                .unwrap_or("");
            let tip = g
                .descendants()
                .find(|n| n.has_tag_name("title"))
                .and_then(|t| t.text())
                .unwrap_or("");
            (fill.to_owned(), tip.to_owned())
        };
        // B: 2 now against 1 before (warm); A: 1 now against 2 before (purple).
        let (b_fill, b_tip) = text_of("B");
        let (a_fill, _) = text_of("A");
        assert_eq!(b_fill, palette::diverging_hex(1.0));
        assert_eq!(a_fill, palette::diverging_hex(-1.0));
        assert!(
            b_tip.contains("2 now, 1 in 2024-05-01 to 2024-05-15, change +1"),
            "{b_tip}"
        );
        assert!(svg.contains("Change from the previous period"));
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
        let q = by_severity();
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

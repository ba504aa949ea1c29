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

use std::sync::{Arc, OnceLock};

use resvg::{tiny_skia, usvg};

/// The font every PNG is drawn with, compiled into the binary: a PNG looks the same on a
/// machine with no fonts installed.
fn fonts() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(dejavu::sans::regular().to_vec());
        db.load_font_data(dejavu::sans::bold().to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        Arc::new(db)
    })
    .clone()
}

#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("the SVG could not be parsed: {0}")]
    Svg(#[from] usvg::Error),
    #[error("the image would be too large ({0} x {1} px)")]
    TooLarge(u32, u32),
    #[error("PNG encoding failed: {0}")]
    Encode(String),
}

/// Largest side of a PNG, in pixels, after scaling.
const MAX_SIDE: u32 = 16_384;

/// Rasterises an SVG at `scale` (2.0 gives crisp text on high-density screens).
pub fn svg_to_png(svg: &str, scale: f32) -> Result<Vec<u8>, PngError> {
    let opts = usvg::Options {
        fontdb: fonts(),
        font_family: "DejaVu Sans".to_owned(),
        ..Default::default()
    };
    let tree = usvg::Tree::from_str(svg, &opts)?;
    let size = tree.size();
    let (w, h) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(PngError::TooLarge(w, h));
    }
    let mut pixmap = tiny_skia::Pixmap::new(w.max(1), h.max(1)).ok_or(PngError::TooLarge(w, h))?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| PngError::Encode(e.to_string()))
}

//! Everything the browser needs, compiled into the binary, under content-hashed names
//! (`/assets/app-<hash>.css`): a new build changes the names. The table only; `assets.rs` serves
//! it, so the page layout's lookup of an asset's address needs nothing of the web layer.

use std::sync::OnceLock;

pub struct Asset {
    pub url: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

pub struct Assets {
    pub css: Asset,
    pub js: Asset,
    pub font: Asset,
    pub font_bold: Asset,
    pub icon: Asset,
}

fn fnv(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:012x}", h & 0xffff_ffff_ffff)
}

fn asset(stem: &str, ext: &str, content_type: &'static str, bytes: Vec<u8>) -> Asset {
    Asset {
        url: format!("/assets/{stem}-{}.{ext}", fnv(&bytes)),
        content_type,
        bytes,
    }
}

pub fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let font = asset(
            "dejavu-sans",
            "ttf",
            "font/ttf",
            dejavu::sans::regular().to_vec(),
        );
        let font_bold = asset(
            "dejavu-sans-bold",
            "ttf",
            "font/ttf",
            dejavu::sans::bold().to_vec(),
        );
        let css = include_str!("../../static/app.css")
            .replace("__FONT__", &font.url)
            .replace("__FONT_BOLD__", &font_bold.url);
        Assets {
            css: asset("app", "css", "text/css; charset=utf-8", css.into_bytes()),
            js: asset(
                "app",
                "js",
                "text/javascript; charset=utf-8",
                include_bytes!("../../static/app.js").to_vec(),
            ),
            icon: asset(
                "icon",
                "svg",
                "image/svg+xml",
                include_bytes!("../../static/icon.svg").to_vec(),
            ),
            font,
            font_bold,
        }
    })
}

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Sequential colour scales, light for low values and dark for high ones. Viridis and cividis
/// are perceptually uniform and readable with the common colour-vision deficiencies; `reds`
/// resembles the original dashboard's scale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Palette {
    #[default]
    Viridis,
    Cividis,
    Reds,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown palette {0:?}: expected viridis, cividis or reds")]
pub struct InvalidPalette(pub String);

// Ten evenly spaced samples of each published colour map, from low to high.
const VIRIDIS: [u32; 10] = [
    0xfde725, 0xb5de2b, 0x6ece58, 0x35b779, 0x1f9e89, 0x26828e, 0x31688e, 0x3e4989, 0x482878,
    0x440154,
];
const CIVIDIS: [u32; 10] = [
    0xfee838, 0xe4cf5b, 0xc4b56c, 0xa69d75, 0x8a8779, 0x707173, 0x575d6d, 0x3b496c, 0x123570,
    0x00224e,
];
const REDS: [u32; 9] = [
    0xfff5f0, 0xfee0d2, 0xfcbba1, 0xfc9272, 0xfb6a4a, 0xef3b2c, 0xcb181d, 0xa50f15, 0x67000d,
];

/// ColorBrewer's PuOr, eleven classes, warm (an increase) first: readable with the common
/// colour-vision deficiencies, and centred on a neutral grey.
const PUOR: [u32; 11] = [
    0x7f3b08, 0xb35806, 0xe08214, 0xfdb863, 0xfee0b6, 0xf7f7f7, 0xd8daeb, 0xb2abd2, 0x8073ac,
    0x542788, 0x2d004b,
];

/// The fill of a cell set against the previous period, at `t` in -1..=1 (clamped): warm for an
/// increase, purple for a decrease, grey for none.
pub fn diverging_hex(t: f64) -> String {
    let (r, g, b) = diverging_rgb(t);
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn diverging_rgb(t: f64) -> (u8, u8, u8) {
    let t = if t.is_nan() { 0.0 } else { t.clamp(-1.0, 1.0) };
    // +1 is the first stop, -1 the last.
    let pos = (1.0 - t) / 2.0 * (PUOR.len() - 1) as f64;
    let i = (pos.floor() as usize).min(PUOR.len() - 2);
    let frac = pos - i as f64;
    let ch = |c: u32, shift: u32| f64::from((c >> shift) & 0xff);
    let mix = |shift| {
        (ch(PUOR[i], shift) + (ch(PUOR[i + 1], shift) - ch(PUOR[i], shift)) * frac).round() as u8
    };
    (mix(16), mix(8), mix(0))
}

/// Black or white on [`diverging_hex`]`(t)`.
pub fn diverging_text_on(t: f64) -> &'static str {
    if t.abs() > 0.6 { "#ffffff" } else { "#111111" }
}

/// The fill of a cell with no escalations: neutral, so "none" never reads as "a few".
pub const EMPTY_FILL: &str = "#f1f2f4";

impl Palette {
    pub const NAMES: [&'static str; 3] = ["viridis", "cividis", "reds"];

    fn stops(self) -> &'static [u32] {
        match self {
            Self::Viridis => &VIRIDIS,
            Self::Cividis => &CIVIDIS,
            Self::Reds => &REDS,
        }
    }

    /// Colour at `t` in 0..=1 (clamped), linearly interpolated between samples.
    pub fn rgb(self, t: f64) -> (u8, u8, u8) {
        let stops = self.stops();
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let pos = t * (stops.len() - 1) as f64;
        let i = (pos.floor() as usize).min(stops.len() - 2);
        let frac = pos - i as f64;
        let ch = |c: u32, shift: u32| f64::from((c >> shift) & 0xff);
        let mix = |shift| {
            (ch(stops[i], shift) + (ch(stops[i + 1], shift) - ch(stops[i], shift)) * frac).round()
                as u8
        };
        (mix(16), mix(8), mix(0))
    }

    pub fn hex(self, t: f64) -> String {
        let (r, g, b) = self.rgb(t);
        format!("#{r:02x}{g:02x}{b:02x}")
    }

    /// Black or white, whichever reads better on the colour at `t`.
    pub fn text_on(self, t: f64) -> &'static str {
        let (r, g, b) = self.rgb(t);
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let luminance = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
        if luminance > 0.33 {
            "#111111"
        } else {
            "#ffffff"
        }
    }
}

impl fmt::Display for Palette {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::NAMES[*self as usize])
    }
}

impl FromStr for Palette {
    type Err = InvalidPalette;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viridis" => Ok(Self::Viridis),
            "cividis" => Ok(Self::Cividis),
            "reds" => Ok(Self::Reds),
            _ => Err(InvalidPalette(s.chars().take(32).collect())),
        }
    }
}

impl TryFrom<String> for Palette {
    type Error = InvalidPalette;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Palette> for String {
    fn from(p: Palette) -> String {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_the_published_samples() {
        assert_eq!(Palette::Viridis.hex(0.0), "#fde725");
        assert_eq!(Palette::Viridis.hex(1.0), "#440154");
        assert_eq!(Palette::Reds.hex(1.0), "#67000d");
        assert_eq!(Palette::Cividis.hex(2.0), "#00224e");
        assert_eq!(Palette::Cividis.hex(f64::NAN), "#fee838");
    }

    #[test]
    fn the_diverging_scale_is_warm_for_more_and_grey_at_zero() {
        assert_eq!(diverging_hex(1.0), "#7f3b08");
        assert_eq!(diverging_hex(0.0), "#f7f7f7");
        assert_eq!(diverging_hex(-1.0), "#2d004b");
        assert_eq!(diverging_hex(5.0), "#7f3b08");
        assert_eq!(diverging_text_on(0.0), "#111111");
    }

    #[test]
    fn text_contrasts_with_the_fill() {
        assert_eq!(Palette::Viridis.text_on(0.0), "#111111");
        assert_eq!(Palette::Viridis.text_on(1.0), "#ffffff");
        assert_eq!(Palette::Reds.text_on(0.0), "#111111");
    }
}

//! The embedded chart font.
//!
//! PNG text is rasterized by plotters' `ab_glyph` backend from a font registered at run time,
//! so charts render the same on machines without fontconfig or system fonts. DejaVu Sans
//! (Bitstream Vera license, see `assets/DejaVuSans-LICENSE.txt`) covers Latin, Greek and
//! Cyrillic plus common math symbols. SVG files name the generic `sans-serif` family and leave
//! the choice to the viewer; the embedded font is only used there to measure text.

use plotters::style::{FontStyle, register_font};
use std::sync::OnceLock;

/// The family name charts use; the embedded font is registered under it.
pub const FAMILY: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The embedded font for direct rasterization (see [`crate::text`]); `None` only if the
/// font data were rejected, which would be a packaging error.
pub fn font_ref() -> Option<ab_glyph::FontRef<'static>> {
    ab_glyph::FontRef::try_from_slice(DEJAVU_SANS).ok()
}

/// Registers the embedded font (once per process). Returns false if the font data were
/// rejected, which would be a packaging error.
pub fn ensure_registered() -> bool {
    static DONE: OnceLock<bool> = OnceLock::new();
    *DONE.get_or_init(|| register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok())
}

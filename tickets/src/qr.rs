//! QR symbols of ticket codes and their PNG and SVG renderings.
//!
//! Error correction is level **M** (~15% of codewords recoverable). A ticket code is short and
//! self-checking: a misread can never admit anyone because the signature then fails, so the
//! error correction only has to get a clean read, not to guarantee one at any cost. M keeps the
//! symbol at version 6 (41x41 modules) for a two-letter key id, where Q would need version 8
//! (49x49): at the same printed or on-screen size M's modules are ~20% larger, which is what
//! decides whether a gate scanner reads a phone screen at arm's length on the first try. It still
//! survives the smudges, creases and screen glare of a normal entrance.

use std::fmt::Write as _;

use qrcode::canvas::Canvas;
use qrcode::{EcLevel, Version};

use crate::mask::best_masked_modules;

/// Light modules around the symbol that scanners need to find it (the QR standard's minimum).
pub const QUIET_ZONE_MODULES: usize = 4;

/// Pixels per module of [`TicketQr::to_png`] that the ticket routes use: 8 px makes a
/// 392x392 image for a version 6 symbol, crisp on any phone.
pub const DEFAULT_MODULE_PX: u32 = 8;

/// Largest accepted pixels per module; bigger images only waste memory.
pub const MAX_MODULE_PX: u32 = 64;

/// The error correction level of every ticket QR (see the module docs for why).
pub const ERROR_CORRECTION: EcLevel = EcLevel::M;

/// Why a QR image or a PDF ticket could not be produced. All are fatal for that input: retrying
/// with the same input fails the same way.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The code does not fit a QR symbol (only possible for text far longer than a ticket code).
    #[error("ticket code cannot be encoded as a QR symbol: {0}")]
    QrData(#[from] qrcode::types::QrError),
    /// Pixels per module outside `1..=MAX_MODULE_PX`.
    #[error("module size {module_px} px is outside 1..={MAX_MODULE_PX}")]
    ModuleSize {
        /// The rejected size.
        module_px: u32,
    },
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// The module grid of one ticket code's QR symbol, ready to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketQr {
    width_modules: usize,
    /// Row-major, `true` = dark.
    dark: Vec<bool>,
    version: i16,
}

impl TicketQr {
    /// Encodes `code` at [`ERROR_CORRECTION`], in the smallest version that fits (the encoder
    /// picks alphanumeric mode for base32 codes on its own), with the mask of lowest penalty.
    pub fn new(code: &str) -> Result<TicketQr, RenderError> {
        let bits = qrcode::bits::encode_auto(code.as_bytes(), ERROR_CORRECTION)?;
        let version = bits.version();
        let (data, error_correction) =
            qrcode::ec::construct_codewords(&bits.into_bytes(), version, ERROR_CORRECTION)?;
        let mut canvas = Canvas::new(version, ERROR_CORRECTION);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&data, &error_correction);
        let width_modules = usize::from(version.width().unsigned_abs());
        let dark = best_masked_modules(&canvas, width_modules);
        let version = match version {
            Version::Normal(version) | Version::Micro(version) => version,
        };
        Ok(TicketQr {
            width_modules,
            dark,
            version,
        })
    }

    /// Modules per side, without the quiet zone.
    pub fn width_modules(&self) -> usize {
        self.width_modules
    }

    /// The QR version (1..=40); the side is `4 * version + 17` modules.
    pub fn version(&self) -> i16 {
        self.version
    }

    /// Whether the module at column `x`, row `y` (0-based, quiet zone excluded) is dark; outside
    /// the symbol is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width_modules && y < self.width_modules && self.dark[y * self.width_modules + x]
    }

    /// Horizontal runs of dark modules as `(x, y, len)`, row by row: the fewest rectangles that
    /// draw the symbol row-wise, shared by the SVG and PDF renderers.
    pub fn dark_runs(&self) -> Vec<(usize, usize, usize)> {
        let mut runs = Vec::new();
        for y in 0..self.width_modules {
            let mut x = 0;
            while x < self.width_modules {
                if !self.is_dark(x, y) {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < self.width_modules && self.is_dark(x, y) {
                    x += 1;
                }
                runs.push((start, y, x - start));
            }
        }
        runs
    }

    /// A 1-bit greyscale PNG with `module_px` pixels per module and the quiet zone included.
    pub fn to_png(&self, module_px: u32) -> Result<Vec<u8>, RenderError> {
        if !(1..=MAX_MODULE_PX).contains(&module_px) {
            return Err(RenderError::ModuleSize { module_px });
        }
        let side_modules = self.width_modules + 2 * QUIET_ZONE_MODULES;
        // At most (177 + 8) * 64 = 11,840 px, so the side fits u32.
        let side_px = side_modules as u32 * module_px;
        let pixels = self.packed_rows(module_px as usize, side_px as usize);
        let mut png_bytes = Vec::with_capacity(pixels.len() / 4 + 128);
        let mut encoder = png::Encoder::new(&mut png_bytes, side_px, side_px);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
        Ok(png_bytes)
    }

    /// Rows of 1-bit pixels, most significant bit first, 1 = white, each row padded to a byte.
    fn packed_rows(&self, module_px: usize, side_px: usize) -> Vec<u8> {
        let row_bytes = side_px.div_ceil(8);
        let mut pixels = vec![0xffu8; row_bytes * side_px];
        let quiet_px = QUIET_ZONE_MODULES * module_px;
        for y in 0..self.width_modules {
            let first = (quiet_px + y * module_px) * row_bytes;
            let row = &mut pixels[first..first + row_bytes];
            for x in (0..self.width_modules).filter(|x| self.is_dark(*x, y)) {
                let left = quiet_px + x * module_px;
                for px in left..left + module_px {
                    row[px / 8] &= !(0x80 >> (px % 8));
                }
            }
            // The other pixel rows of this module row are copies of its first.
            for copy in 1..module_px {
                pixels.copy_within(first..first + row_bytes, first + copy * row_bytes);
            }
        }
        pixels
    }

    /// A standalone SVG: a white square with the quiet zone and one black path of unit-height
    /// rectangles (one per dark run), in module units so it scales without blur.
    pub fn to_svg(&self) -> String {
        let side = self.width_modules + 2 * QUIET_ZONE_MODULES;
        let side_px = side * DEFAULT_MODULE_PX as usize;
        let mut svg = String::with_capacity(64 * side);
        // Writing to a String cannot fail.
        let _ = write!(
            svg,
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1""#,
                r#" width="{px}" height="{px}" viewBox="0 0 {side} {side}" shape-rendering="crispEdges">"#,
                r##"<rect width="{side}" height="{side}" fill="#fff"/><path fill="#000" d=""##
            ),
            px = side_px,
            side = side
        );
        for (x, y, len) in self.dark_runs() {
            let _ = write!(
                svg,
                "M{} {}h{len}v1h-{len}z",
                x + QUIET_ZONE_MODULES,
                y + QUIET_ZONE_MODULES
            );
        }
        svg.push_str(r#""/></svg>"#);
        svg
    }
}

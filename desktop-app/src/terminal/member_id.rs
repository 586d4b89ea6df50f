//! Member IDs: what names a person's enrollment (its CTAP friendly name). They come from a
//! badge scanner (keyboard input), typing, or a QR code decoded from an image file or a camera
//! frame. Validation is the same whatever the source.

use std::fmt;

use super::error::{AppError, AppResult};

/// Longest member ID accepted, in bytes (CTAP friendly names are short; palmkey allows 64).
pub const MAX_LEN: usize = 64;

/// Largest image accepted for QR decoding.
pub const MAX_IMAGE_BYTES: usize = 16 * 1024 * 1024;

/// A validated member ID: trimmed, 1..=64 bytes, printable, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemberId(String);

impl MemberId {
    pub fn parse(raw: &str) -> AppResult<MemberId> {
        // Badge scanners end their "typing" with Enter (and some with Tab): trim those.
        let id = raw.trim();
        if id.is_empty() {
            return Err(AppError::InvalidMemberId("it is empty".into()));
        }
        if id.len() > MAX_LEN {
            return Err(AppError::InvalidMemberId(format!(
                "it is {} bytes long; at most {MAX_LEN} fit on the authenticator",
                id.len()
            )));
        }
        if id.chars().any(char::is_control) {
            return Err(AppError::InvalidMemberId(
                "it contains control characters".into(),
            ));
        }
        Ok(MemberId(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `other` names the same member: badge IDs are compared ignoring case, so
    /// "m-1001" typed by hand cannot duplicate a scanned "M-1001".
    pub fn same_as(&self, other: &str) -> bool {
        self.0.to_lowercase() == other.trim().to_lowercase()
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Decode the first QR code found in an encoded image (PNG, JPEG or BMP: a file the
/// administrator picked, or a camera frame the UI grabbed) and validate it as a member ID.
/// The image is only held in memory for the decode.
pub fn decode_qr(image_bytes: &[u8]) -> AppResult<MemberId> {
    if image_bytes.len() > MAX_IMAGE_BYTES {
        return Err(AppError::Qr(format!(
            "the image is larger than {} MiB",
            MAX_IMAGE_BYTES >> 20
        )));
    }
    let image = image::load_from_memory(image_bytes)
        .map_err(|e| AppError::Qr(format!("not a readable image: {e}")))?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(AppError::Qr("no QR code found in the image".into()));
    }
    let mut last_error = None;
    for grid in grids {
        match grid.decode() {
            Ok((_meta, text)) => return MemberId::parse(&text),
            Err(e) => last_error = Some(e),
        }
    }
    Err(AppError::Qr(format!(
        "a QR code was found but could not be read ({})",
        last_error.map(|e| e.to_string()).unwrap_or_default()
    )))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn scanner_input_is_trimmed_and_validated() {
        assert_eq!(MemberId::parse("  M-1001\r\n").unwrap().as_str(), "M-1001");
        assert!(matches!(
            MemberId::parse(" \n"),
            Err(AppError::InvalidMemberId(_))
        ));
        assert!(MemberId::parse(&"x".repeat(65)).is_err());
        assert!(MemberId::parse(&"x".repeat(64)).is_ok());
        assert!(MemberId::parse("a\u{7}b").is_err());
        assert!(MemberId::parse("Zoë-42").is_ok());
    }

    #[test]
    fn duplicates_are_found_ignoring_case() {
        let id = MemberId::parse("M-1001").unwrap();
        assert!(id.same_as("m-1001"));
        assert!(id.same_as(" M-1001 "));
        assert!(!id.same_as("M-1002"));
    }

    /// A QR code rendered by an independent encoder, scaled and with a quiet zone, as a PNG.
    pub(crate) fn qr_png(text: &str) -> Vec<u8> {
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let width = code.width();
        let colors = code.to_colors();
        let (scale, quiet) = (6u32, 4u32);
        let side = (width as u32 + 2 * quiet) * scale;
        let img = image::GrayImage::from_fn(side, side, |x, y| {
            let (mx, my) = (x / scale, y / scale);
            let dark = mx >= quiet
                && my >= quiet
                && mx < quiet + width as u32
                && my < quiet + width as u32
                && colors[((my - quiet) as usize) * width + (mx - quiet) as usize]
                    == qrcode::Color::Dark;
            image::Luma([if dark { 0 } else { 255 }])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn decodes_a_member_badge_qr_code() {
        assert_eq!(decode_qr(&qr_png("M-2042\n")).unwrap().as_str(), "M-2042");
    }

    #[test]
    fn images_without_a_code_and_non_images_are_clear_errors() {
        let blank = image::GrayImage::from_pixel(64, 64, image::Luma([255]));
        let mut png = std::io::Cursor::new(Vec::new());
        blank.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let e = decode_qr(&png.into_inner()).unwrap_err();
        assert!(e.to_string().contains("no QR code"), "{e}");
        let e = decode_qr(b"not an image").unwrap_err();
        assert!(e.to_string().contains("not a readable image"), "{e}");
    }
}

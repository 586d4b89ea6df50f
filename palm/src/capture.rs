//! A capture as the sensor delivers it: a palm in visible light and/or near-infrared.
//!
//! Images arrive as files or byte buffers in PNG, BMP or JPEG, gray or colour, 8 or 16 bit,
//! any size. Everything downstream works on 8-bit gray, so decoding converts once here and
//! reports *why* an input is unusable instead of guessing.

use std::path::{Path, PathBuf};

use image::{GrayImage, ImageEncoder as _, ImageFormat};

/// One presentation of a palm. A paired capture holds both images, taken at the same instant.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Visible-light image (palm print).
    pub print: Option<GrayImage>,
    /// Near-infrared image (palm veins).
    pub vein: Option<GrayImage>,
}

/// Why an image could not be turned into a capture.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot read image file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: not a PNG, BMP or JPEG image")]
    UnsupportedFormat { origin: String },
    #[error("{origin}: corrupt or truncated {format} image: {message}")]
    Corrupt {
        origin: String,
        format: &'static str,
        message: String,
    },
    #[error("{origin}: image has no pixels ({width}x{height})")]
    Empty {
        origin: String,
        width: u32,
        height: u32,
    },
    #[error("a capture needs at least one image (print or vein)")]
    NoImages,
}

impl Capture {
    /// A paired visible-light + near-infrared capture.
    pub fn paired(print: GrayImage, vein: GrayImage) -> Self {
        Self {
            print: Some(print),
            vein: Some(vein),
        }
    }

    /// Loads a capture from image files; at least one of the two must be given.
    pub fn load(print: Option<&Path>, vein: Option<&Path>) -> Result<Self, CaptureError> {
        if print.is_none() && vein.is_none() {
            return Err(CaptureError::NoImages);
        }
        Ok(Self {
            print: print.map(load_gray).transpose()?,
            vein: vein.map(load_gray).transpose()?,
        })
    }

    /// True when both the visible-light and the near-infrared image are present.
    pub fn is_paired(&self) -> bool {
        self.print.is_some() && self.vein.is_some()
    }
}

/// Reads an image file (PNG, BMP or JPEG; the content decides, not the extension) as 8-bit gray.
pub fn load_gray(path: &Path) -> Result<GrayImage, CaptureError> {
    let bytes = std::fs::read(path).map_err(|source| CaptureError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_with_origin(&bytes, path.display().to_string())
}

/// Decodes an in-memory PNG, BMP or JPEG image as 8-bit gray.
///
/// Colour is converted with the Rec. 709 luma weights the `image` crate uses; 16-bit input is
/// scaled to 8 bits.
pub fn decode_gray(bytes: &[u8]) -> Result<GrayImage, CaptureError> {
    decode_with_origin(bytes, "image data".to_string())
}

fn decode_with_origin(bytes: &[u8], origin: String) -> Result<GrayImage, CaptureError> {
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Bmp | ImageFormat::Jpeg)) => f,
        _ => return Err(CaptureError::UnsupportedFormat { origin }),
    };
    let decoded =
        image::load_from_memory_with_format(bytes, format).map_err(|e| CaptureError::Corrupt {
            origin: origin.clone(),
            format: format_name(format),
            message: e.to_string(),
        })?;
    let gray = decoded.into_luma8();
    if gray.width() == 0 || gray.height() == 0 {
        return Err(CaptureError::Empty {
            origin,
            width: gray.width(),
            height: gray.height(),
        });
    }
    Ok(gray)
}

fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "PNG",
        ImageFormat::Bmp => "BMP",
        _ => "JPEG",
    }
}

/// Encodes an 8-bit gray image as PNG bytes (used by the dataset writer and the simulated sensor).
pub fn encode_png(image: &GrayImage) -> Vec<u8> {
    let mut out = Vec::with_capacity(image.as_raw().len() / 2 + 128);
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Sub,
    )
    .write_image(
        image.as_raw(),
        image.width(),
        image.height(),
        image::ExtendedColorType::L8,
    )
    .expect("PNG encoding into memory cannot fail for a valid gray image");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, ImageBuffer, Luma, Rgb, RgbImage};
    use std::io::Cursor;

    fn gradient_rgb(w: u32, h: u32) -> RgbImage {
        ImageBuffer::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 128]))
    }

    fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn decodes_gray_and_colour_in_every_supported_format() {
        let rgb = gradient_rgb(37, 23);
        let gray = DynamicImage::ImageRgb8(rgb.clone()).into_luma8();
        for format in [ImageFormat::Png, ImageFormat::Bmp, ImageFormat::Jpeg] {
            for (label, img) in [
                ("colour", DynamicImage::ImageRgb8(rgb.clone())),
                ("gray", DynamicImage::ImageLuma8(gray.clone())),
            ] {
                let bytes = encode(img, format);
                let out = decode_gray(&bytes).unwrap_or_else(|e| panic!("{format:?} {label}: {e}"));
                assert_eq!(out.dimensions(), (37, 23), "{format:?} {label}");
                // JPEG is lossy: compare loosely, lossless formats exactly.
                let tolerance = if format == ImageFormat::Jpeg { 24 } else { 1 };
                for (a, b) in out.pixels().zip(gray.pixels()) {
                    assert!(a[0].abs_diff(b[0]) <= tolerance, "{format:?} {label}");
                }
            }
        }
    }

    #[test]
    fn decodes_sixteen_bit_png() {
        let img: ImageBuffer<Luma<u16>, Vec<u16>> =
            ImageBuffer::from_fn(8, 4, |x, _| Luma([x as u16 * 8000]));
        let bytes = encode(DynamicImage::ImageLuma16(img), ImageFormat::Png);
        let out = decode_gray(&bytes).unwrap();
        assert_eq!(out.dimensions(), (8, 4));
        assert!(out.get_pixel(7, 0)[0] > 200);
    }

    #[test]
    fn corrupt_file_gives_a_clear_error() {
        let mut bytes = encode(
            DynamicImage::ImageRgb8(gradient_rgb(64, 64)),
            ImageFormat::Png,
        );
        bytes.truncate(bytes.len() / 2);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.print.png");
        std::fs::write(&path, &bytes).unwrap();
        let err = load_gray(&path).unwrap_err();
        assert!(
            matches!(err, CaptureError::Corrupt { format: "PNG", .. }),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("broken.print.png") && text.contains("corrupt"),
            "{text}"
        );
    }

    #[test]
    fn unknown_format_and_missing_file_are_reported() {
        assert!(matches!(
            decode_gray(b"GIF89a not supported"),
            Err(CaptureError::UnsupportedFormat { .. })
        ));
        let err = load_gray(Path::new("/nonexistent/x.png")).unwrap_err();
        assert!(matches!(err, CaptureError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/x.png"));
        assert!(matches!(
            Capture::load(None, None),
            Err(CaptureError::NoImages)
        ));
    }

    #[test]
    fn png_encoding_round_trips() {
        let img = GrayImage::from_fn(19, 11, |x, y| Luma([(x * 13 + y * 3) as u8]));
        assert_eq!(decode_gray(&encode_png(&img)).unwrap(), img);
    }
}

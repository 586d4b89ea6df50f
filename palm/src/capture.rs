//! A capture as the sensor delivers it: a palm in visible light and/or near-infrared.

use image::GrayImage;

/// One presentation of a palm. A paired capture holds both images, taken at the same instant.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Visible-light image (palm print).
    pub print: Option<GrayImage>,
    /// Near-infrared image (palm veins).
    pub vein: Option<GrayImage>,
}

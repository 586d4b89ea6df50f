//! Illumination normalisation.
//!
//! Both modalities get local contrast normalisation: subtract a large-scale local mean
//! (illumination flattening: removes light gradients, vignetting and the NIR glow of tissue)
//! and divide by the local RMS contrast (removes gain, most of a gamma change, and exposure).
//! Scales are fractions of the ROI side, i.e. physical, not tied to any pixel size.

use crate::filters::Plane;

/// Floor of the local RMS, in `[0, 1]` intensity units: flat regions are not amplified into
/// noise (a real sensor's noise floor is about 1 %).
const RMS_FLOOR: f32 = 0.01;

/// Normalises a visible-light palm ROI: local mean over ≈ 1/10 of the ROI (larger than a crease,
/// smaller than a light gradient).
pub fn print(roi: &Plane) -> Plane {
    local_contrast(roi, 0.10)
}

/// Normalises a near-infrared ROI: background (tissue glow, uneven illumination) removed over
/// ≈ 1/6 of the ROI, several times the width of a palm vein.
pub fn vein(roi: &Plane) -> Plane {
    local_contrast(roi, 0.16)
}

fn local_contrast(roi: &Plane, sigma_frac: f32) -> Plane {
    let sigma = sigma_frac * roi.w as f32;
    let mean = roi.gauss_blur(sigma);
    let detail = Plane {
        w: roi.w,
        h: roi.h,
        data: roi
            .data
            .iter()
            .zip(&mean.data)
            .map(|(v, m)| v - m)
            .collect(),
    };
    let energy = detail.map(|d| d * d).gauss_blur(sigma);
    Plane {
        w: roi.w,
        h: roi.h,
        data: detail
            .data
            .iter()
            .zip(&energy.data)
            .map(|(d, e)| d / (e.sqrt() + RMS_FLOOR))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_offset_and_gradient_are_removed() {
        let side = 64;
        let pattern = |x: usize, y: usize| ((x as f32 * 0.7).sin() * (y as f32 * 0.3).cos()) * 0.1;
        let mut a = Plane::filled(side, side, 0.0);
        let mut b = Plane::filled(side, side, 0.0);
        for y in 0..side {
            for x in 0..side {
                a.data[y * side + x] = 0.5 + pattern(x, y);
                // Half the gain, plus a strong illumination ramp.
                b.data[y * side + x] = 0.2 + 0.004 * x as f32 + 0.5 * pattern(x, y);
            }
        }
        let (na, nb) = (print(&a), print(&b));
        let (mut dot, mut aa, mut bb) = (0.0, 0.0, 0.0);
        // Away from the borders, where a blur cannot see the whole ramp.
        let inner = |p: &Plane| -> Vec<f32> {
            (12..side - 12)
                .flat_map(|y| (12..side - 12).map(move |x| (x, y)))
                .map(|(x, y)| p.at(x, y))
                .collect()
        };
        for (x, y) in inner(&na).iter().zip(&inner(&nb)) {
            dot += x * y;
            aa += x * x;
            bb += y * y;
        }
        assert!(dot / (aa * bb).sqrt() > 0.97);
    }
}

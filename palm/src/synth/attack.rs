//! Photo presentation attack: a printed photo of the palm held in front of the sensor.
//!
//! The attacker photographs the palm (one ordinary visible-light capture), auto-levels it and
//! prints it: a laser printer (clustered-dot halftone, carbon toner that absorbs 850 nm) or an
//! inkjet (dispersed dither, dye inks nearly transparent in NIR). The sensor then sees flat
//! paper: compressed dynamic range, paper fibre texture, halftone grain, no relief shading,
//! perhaps a specular glare, slightly out of focus. In NIR there are no vessels at all, only
//! the ink pattern (faint or nearly absent) on bright, flat paper.

use rand::Rng;
use std::f32::consts::PI;

use super::acquisition::{Acquisition, Lighting, Pose};
use super::raster::{value_noise, Plane};
use super::render;
use super::Identity;
use crate::capture::Capture;

/// Scale of the attacker's photo relative to a sensor capture (< 1: more palm in the frame).
const PHOTO_ZOOM: f32 = 0.8;

pub fn photo<R: Rng>(identity: &Identity, rng: &mut R) -> Capture {
    let roi = identity.config.roi_size as usize;
    let hi_res = 2 * roi;
    // The attacker's photo of the palm, taken at twice the ROI resolution.
    // Photographed from a little further away than the sensor sees the palm, so the printed
    // sheet still fills the ROI after it is posed in front of the sensor.
    let mut photo_conditions = Acquisition::draw(rng, 0.0);
    photo_conditions.pose.scale *= PHOTO_ZOOM;
    let photo = render::surface(&identity.anatomy, &photo_conditions, hi_res).print;
    let levels = auto_levels(&photo);

    let laser = rng.gen_bool(0.5);
    let ink = halftone(&levels, laser, rng);
    let fibre_cell = rng.gen_range(2.0..5.0);
    let fibre = value_noise(rng, hi_res, hi_res, fibre_cell, 3);
    let paper_white = rng.gen_range(0.8..0.93f32);
    let ink_tone = rng.gen_range(0.1..0.25f32);
    let nir_paper = rng.gen_range(0.82..0.95f32);
    let nir_ink = if laser {
        rng.gen_range(0.3..0.7f32)
    } else {
        rng.gen_range(0.01..0.08f32)
    };
    let mut visible = Plane::new(hi_res, hi_res, 0.0);
    let mut nir = Plane::new(hi_res, hi_res, 0.0);
    for i in 0..hi_res * hi_res {
        // Auto-exposure brings white paper down to about skin brightness.
        let paper = 0.72 * (1.0 + 0.035 * fibre.data[i]);
        let k = ink.data[i];
        visible.data[i] = paper * (paper_white + (ink_tone - paper_white) * k);
        nir.data[i] = paper * nir_paper * (1.0 - nir_ink * k);
    }

    // The sheet is held in front of the sensor: its own small pose, flat lighting.
    let sheet = Pose {
        rotation_deg: rng.gen_range(-6.0..6.0),
        shift: [rng.gen_range(-0.05..0.05), rng.gen_range(-0.05..0.05)],
        scale: rng.gen_range(0.95..1.05) / PHOTO_ZOOM,
    };
    let mut visible = warp(&visible, &sheet, hi_res).downsample(2);
    let nir = warp(&nir, &sheet, hi_res).downsample(2);
    if rng.gen_bool(0.5) {
        add_glare(&mut visible, rng);
    }

    let capture_conditions = Acquisition::draw(rng, 0.0);
    let flat = |light: &Lighting| Lighting {
        ambient: 1.0,
        specular: 0.0,
        ..*light
    };
    let mut print_sensor = capture_conditions.print_sensor;
    print_sensor.blur += rng.gen_range(0.2..0.8);
    let scale = roi as f32 / 128.0;
    let print = render::expose(
        visible,
        &flat(&capture_conditions.print_light),
        &print_sensor,
        scale,
        rng,
    );
    let vein = render::expose(
        nir,
        &flat(&capture_conditions.vein_light),
        &capture_conditions.vein_sensor,
        scale,
        rng,
    );
    Capture::paired(print, vein)
}

/// Stretches the 2nd..98th percentile to [0, 1], as photo software does before printing.
fn auto_levels(plane: &Plane) -> Plane {
    let mut sorted = plane.data.clone();
    sorted.sort_by(f32::total_cmp);
    let lo = sorted[sorted.len() / 100];
    let hi = sorted[sorted.len() * 99 / 100].max(lo + 1e-3);
    let mut out = plane.clone();
    out.data
        .iter_mut()
        .for_each(|v| *v = ((*v - lo) / (hi - lo)).clamp(0.0, 1.0));
    out
}

const BAYER: [[u8; 4]; 4] = [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]];

/// Ink coverage in [0, 1] per pixel: clustered-dot screen (laser) or random dither (inkjet),
/// with a little dot gain.
fn halftone<R: Rng>(levels: &Plane, laser: bool, rng: &mut R) -> Plane {
    let period = rng.gen_range(1.6..3.0f32);
    let angle = rng.gen_range(0.0..PI / 2.0);
    let (s, c) = angle.sin_cos();
    let gain = rng.gen_range(0.85..1.2f32);
    let mut out = levels.clone();
    for y in 0..levels.height {
        for x in 0..levels.width {
            let coverage = (1.0 - levels.at(x, y)).powf(gain);
            let threshold = if laser {
                let (xr, yr) = (c * x as f32 + s * y as f32, -s * x as f32 + c * y as f32);
                0.5 + 0.5 * (2.0 * PI * xr / period).cos() * (2.0 * PI * yr / period).cos()
            } else {
                // Ordered (Bayer) dither of an inkjet driver.
                (BAYER[y % 4][x % 4] as f32 + 0.5) / 16.0
            };
            *out.at_mut(x, y) = ((coverage - threshold) / 0.15 + 0.5).clamp(0.0, 1.0);
        }
    }
    // Toner/ink spreads on paper.
    out.blur(rng.gen_range(0.5..1.0));
    out
}

/// Resamples a square plane through a pose (ROI coordinates → sheet coordinates).
fn warp(plane: &Plane, pose: &Pose, size: usize) -> Plane {
    let mut out = Plane::new(size, size, 0.0);
    let n = plane.width as f32;
    for j in 0..size {
        let v = (j as f32 + 0.5) / size as f32 * 2.0 - 1.0;
        for i in 0..size {
            let u = (i as f32 + 0.5) / size as f32 * 2.0 - 1.0;
            let p = pose.palm_point([u, v]);
            *out.at_mut(i, j) =
                plane.sample((p[0] + 1.0) * 0.5 * n - 0.5, (p[1] + 1.0) * 0.5 * n - 0.5);
        }
    }
    out
}

/// A specular reflection of the light source on glossy paper.
fn add_glare<R: Rng>(plane: &mut Plane, rng: &mut R) {
    let (w, h) = (plane.width, plane.height);
    let centre = [rng.gen_range(-0.8..0.8f32), rng.gen_range(-0.8..0.8f32)];
    let sigma = rng.gen_range(0.15..0.45f32);
    let peak = rng.gen_range(0.15..0.6f32);
    for y in 0..h {
        let v = (y as f32 + 0.5) / h as f32 * 2.0 - 1.0;
        for x in 0..w {
            let u = (x as f32 + 0.5) / w as f32 * 2.0 - 1.0;
            let d2 = (u - centre[0]).powi(2) + (v - centre[1]).powi(2);
            *plane.at_mut(x, y) += peak * (-d2 / (2.0 * sigma * sigma)).exp();
        }
    }
}

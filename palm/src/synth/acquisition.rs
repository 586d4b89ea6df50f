//! Per-sample acquisition conditions: where the palm sits in the ROI crop (pose), how the skin
//! is stretched, how it is lit, how the optics and sensor behave, and whether a band-aid covers
//! part of it. Drawn from the sample's own stream; ranges are public so tests can hold them.

use rand::Rng;
use rand_distr::{Distribution, Normal};
use std::f32::consts::PI;

use super::strokes::Point;

/// Rotation of the palm in the ROI crop is within ±this many degrees.
pub const MAX_ROTATION_DEG: f32 = 10.0;
/// Shift of the palm in the ROI crop is within ±this fraction of the ROI side, per axis.
pub const MAX_SHIFT: f32 = 0.08;
/// Scale of the palm in the ROI crop (distance to the sensor) is within this range.
pub const SCALE_RANGE: (f32, f32) = (0.9, 1.1);
/// Peak non-rigid skin displacement, as a fraction of the ROI side.
pub const MAX_DEFORMATION: f32 = 0.02;
/// Defocus blur (Gaussian sigma, output pixels of a 128-pixel ROI) is within this range.
pub const DEFOCUS_RANGE: (f32, f32) = (0.3, 1.6);

/// Where the palm lies in the ROI crop the device cut out.
///
/// A ROI pixel at `u` ∈ [−1, 1]² (ROI units, y down) shows palm point
/// `p = R(−rotation)·(u − 2·shift) / scale`: the residual of the device's ROI localisation,
/// i.e. how far real ROI crops of the same palm disagree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    pub rotation_deg: f32,
    /// Fraction of the ROI side, x right and y down.
    pub shift: [f32; 2],
    pub scale: f32,
}

impl Pose {
    /// The palm exactly where the unposed ROI expects it.
    pub const IDENTITY: Pose = Pose {
        rotation_deg: 0.0,
        shift: [0.0, 0.0],
        scale: 1.0,
    };

    /// The palm point shown at ROI coordinates `u`.
    #[inline]
    pub fn palm_point(&self, u: Point) -> Point {
        let (s, c) = (-self.rotation_deg.to_radians()).sin_cos();
        let x = (u[0] - 2.0 * self.shift[0]) / self.scale;
        let y = (u[1] - 2.0 * self.shift[1]) / self.scale;
        [c * x - s * y, s * x + c * y]
    }
}

/// Smooth non-rigid skin stretch: a sum of Gaussian displacement bumps.
#[derive(Debug, Clone, PartialEq)]
pub struct Deformation {
    bumps: Vec<(Point, f32, Point)>,
}

impl Deformation {
    /// No stretch at all.
    pub fn none() -> Self {
        Self { bumps: Vec::new() }
    }

    #[inline]
    pub fn displace(&self, p: Point) -> Point {
        let mut out = p;
        for &(c, inv2s2, a) in &self.bumps {
            let w = (-((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)) * inv2s2).exp();
            out[0] += a[0] * w;
            out[1] += a[1] * w;
        }
        out
    }

    /// Upper bound of the displacement length anywhere, in palm units.
    pub fn max_displacement(&self) -> f32 {
        self.bumps
            .iter()
            .map(|(_, _, a)| (a[0] * a[0] + a[1] * a[1]).sqrt())
            .sum()
    }
}

/// A band-aid stuck on the palm (skin coordinates): a strip with a central pad.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandAid {
    pub centre: Point,
    pub angle: f32,
    pub half_length: f32,
    pub half_width: f32,
    pub pad_half_length: f32,
    /// Visible-light reflectance of the strip and of the pad.
    pub strip_tone: f32,
    pub pad_tone: f32,
}

impl BandAid {
    /// Coverage in [0, 1] (soft edge), whether on the pad, and strip-local coordinates.
    #[inline]
    pub fn cover(&self, p: Point) -> (f32, bool, Point) {
        let (s, c) = self.angle.sin_cos();
        let (dx, dy) = (p[0] - self.centre[0], p[1] - self.centre[1]);
        let along = c * dx + s * dy;
        let across = -s * dx + c * dy;
        // Rounded-rectangle signed distance.
        let r = self.half_width;
        let qx = along.abs() - (self.half_length - r);
        let qy = across.abs();
        let d = if qx > 0.0 {
            (qx * qx + qy * qy).sqrt() - r
        } else {
            qy - r
        };
        let coverage = (0.5 - d / 0.015).clamp(0.0, 1.0);
        let pad = along.abs() < self.pad_half_length && across.abs() < r * 0.8;
        (coverage, pad, [along, across])
    }
}

/// Light on the palm (camera frame: x right, y down, z towards the camera).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lighting {
    pub direction: [f32; 3],
    pub ambient: f32,
    pub specular: f32,
    /// Linear brightness gradient across the ROI (per ROI half-width) and radial falloff.
    pub gradient: [f32; 2],
    pub falloff: f32,
    pub exposure: f32,
}

/// Optics and sensor behaviour of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sensor {
    /// Gaussian blur sigma in output pixels (defocus; plus tissue scattering for NIR).
    pub blur: f32,
    pub gamma: f32,
    /// Photon-noise scale: variance `shot · v` for a linear signal v ∈ [0, 1].
    pub shot: f32,
    /// Read-noise sigma in [0, 1] units.
    pub read: f32,
}

/// Everything that differs between two captures of the same palm.
#[derive(Debug, Clone, PartialEq)]
pub struct Acquisition {
    pub pose: Pose,
    pub deformation: Deformation,
    /// How strongly creases show (hand more or less open): multiplies crease depth.
    pub crease_visibility: f32,
    pub print_light: Lighting,
    pub print_sensor: Sensor,
    pub vein_light: Lighting,
    pub vein_sensor: Sensor,
    /// Blood-absorption contrast factor (perfusion, temperature).
    pub vein_contrast: f32,
    pub band_aid: Option<BandAid>,
}

fn clamped_normal<R: Rng>(rng: &mut R, mean: f32, sd: f32, lo: f32, hi: f32) -> f32 {
    Normal::new(mean, sd)
        .expect("finite parameters")
        .sample(rng)
        .clamp(lo, hi)
}

impl Acquisition {
    /// Draws one sample's conditions. `band_aid_rate` is the probability of an occlusion.
    pub fn draw<R: Rng>(rng: &mut R, band_aid_rate: f64) -> Self {
        let pose = Pose {
            rotation_deg: clamped_normal(rng, 0.0, 4.5, -MAX_ROTATION_DEG, MAX_ROTATION_DEG),
            shift: [
                clamped_normal(rng, 0.0, 0.035, -MAX_SHIFT, MAX_SHIFT),
                clamped_normal(rng, 0.0, 0.035, -MAX_SHIFT, MAX_SHIFT),
            ],
            scale: clamped_normal(rng, 1.0, 0.04, SCALE_RANGE.0, SCALE_RANGE.1),
        };
        let bumps = rng.gen_range(2..5);
        // Each bump's share of the displacement budget (palm units; ROI side = 2 units).
        let budget = 2.0 * MAX_DEFORMATION / bumps as f32;
        let deformation = Deformation {
            bumps: (0..bumps)
                .map(|_| {
                    let sigma: f32 = rng.gen_range(0.4..0.9);
                    let len = budget * rng.gen_range(0.3..1.0f32);
                    let dir = rng.gen_range(0.0..2.0 * PI);
                    (
                        [rng.gen_range(-1.2..1.2), rng.gen_range(-1.2..1.2)],
                        1.0 / (2.0 * sigma * sigma),
                        [len * dir.cos(), len * dir.sin()],
                    )
                })
                .collect(),
        };
        let print_light = Lighting {
            direction: unit([
                clamped_normal(rng, 0.0, 0.2, -0.5, 0.5),
                clamped_normal(rng, -0.1, 0.2, -0.5, 0.5),
                1.0,
            ]),
            ambient: rng.gen_range(0.25..0.45),
            specular: rng.gen_range(0.0..0.08),
            gradient: [rng.gen_range(-0.25..0.25), rng.gen_range(-0.25..0.25)],
            falloff: rng.gen_range(0.0..0.25),
            exposure: rng.gen_range(0.75..1.2),
        };
        let print_sensor = Sensor {
            blur: rng.gen_range(DEFOCUS_RANGE.0..DEFOCUS_RANGE.1),
            gamma: rng.gen_range(0.8..1.25),
            shot: rng.gen_range(1.0 / 8000.0..1.0 / 1500.0),
            read: rng.gen_range(0.8..2.0) / 255.0,
        };
        let vein_light = Lighting {
            direction: unit([rng.gen_range(-0.2..0.2), rng.gen_range(-0.2..0.2), 1.0]),
            ambient: rng.gen_range(0.6..0.8),
            specular: 0.0,
            gradient: [rng.gen_range(-0.3..0.3), rng.gen_range(-0.3..0.3)],
            falloff: rng.gen_range(0.15..0.5),
            exposure: rng.gen_range(0.7..1.15),
        };
        // NIR: the same defocus plus extra scattering, noisier sensor (weak 850 nm response).
        let vein_sensor = Sensor {
            blur: print_sensor.blur * 0.8 + rng.gen_range(0.5..1.3),
            gamma: rng.gen_range(0.8..1.2),
            shot: rng.gen_range(1.0 / 4000.0..1.0 / 800.0),
            read: rng.gen_range(1.5..4.0) / 255.0,
        };
        let band_aid = rng.gen_bool(band_aid_rate).then(|| {
            let half_width = rng.gen_range(0.2..0.32);
            BandAid {
                centre: [rng.gen_range(-0.7..0.7), rng.gen_range(-0.7..0.7)],
                angle: rng.gen_range(0.0..PI),
                half_length: rng.gen_range(0.8..1.3),
                half_width,
                pad_half_length: rng.gen_range(0.22..0.38),
                strip_tone: rng.gen_range(0.5..0.75),
                pad_tone: rng.gen_range(0.6..0.85),
            }
        });
        Self {
            pose,
            deformation,
            crease_visibility: rng.gen_range(0.75..1.2),
            print_light,
            print_sensor,
            vein_light,
            vein_sensor,
            vein_contrast: rng.gen_range(0.75..1.2),
            band_aid,
        }
    }

    /// The skin point (palm units, before handedness) shown at ROI coordinates `u`.
    #[inline]
    pub fn skin_point(&self, u: Point) -> Point {
        self.deformation.displace(self.pose.palm_point(u))
    }
}

pub fn unit(v: [f32; 3]) -> [f32; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    [v[0] / n, v[1] / n, v[2] / n]
}

//! The whole hand around the palm, for whole-hand photos (`--full-hand`): a silhouette made of
//! the palm, the wrist, four fingers and the thumb, with finger skin and flexion creases at the
//! finger joints. The palm's own anatomy comes from the identity's canvas; the rest of the
//! hand is procedural (no rendering cost per identity).
//!
//! Right-hand model in palm units (x towards the thumb, y towards the wrist). The palm's top
//! edge, where the fingers start, is at y ≈ −1.5; the finger bases sit at x ≈ −1.45 (little),
//! −0.48 (ring), 0.48 (middle), 1.45 (index), so the ring–little and index–middle valleys lie
//! near (∓0.97, −1.5): the unposed ROI square [−1, 1]² has its side ≈ 1.03 × the valley
//! distance and its centre ≈ 0.8 × that distance below the valley line, a PolyU-style ROI.

use rand::Rng;

use super::raster::smoothstep;
use super::strokes::Point;

/// Top edge of the palm (palm units).
pub const PALM_TOP: f32 = -1.5;

/// A finger (or the thumb) as a capsule from its base along a direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finger {
    pub base: Point,
    /// Direction in radians from "up" (−y), positive towards the thumb (+x).
    pub angle: f32,
    pub length: f32,
    pub radius: f32,
    /// Joint creases as fractions of the length from the base.
    pub joints: [f32; 3],
}

/// An identity's hand outline.
#[derive(Debug, Clone, PartialEq)]
pub struct HandShape {
    pub fingers: [Finger; 4],
    pub thumb: Finger,
    palm_centre: Point,
    palm_half: Point,
}

/// Where a point lies on the hand.
pub struct HandPoint {
    /// Coverage in [0, 1] (soft silhouette edge).
    pub inside: f32,
    /// 1 deep inside the hand, falling to 0 at the outline: the surface curving away.
    pub rim: f32,
    /// 1 on the palm proper, 0 on fingers (and the thumb beyond the palm).
    pub palm: f32,
    /// Depth of finger-joint creases at this point (units).
    pub crease: f32,
}

fn capsule_distance(p: Point, f: &Finger) -> (f32, f32) {
    let dir = [f.angle.sin(), -f.angle.cos()];
    let rel = [p[0] - f.base[0], p[1] - f.base[1]];
    let along = (rel[0] * dir[0] + rel[1] * dir[1]).clamp(0.0, f.length);
    let closest = [f.base[0] + along * dir[0], f.base[1] + along * dir[1]];
    let d = ((p[0] - closest[0]).powi(2) + (p[1] - closest[1]).powi(2)).sqrt();
    (d - f.radius, along)
}

fn rounded_box(p: Point, centre: Point, half: Point, corner: f32) -> f32 {
    let qx = (p[0] - centre[0]).abs() - (half[0] - corner);
    let qy = (p[1] - centre[1]).abs() - (half[1] - corner);
    let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
    outside + qx.max(qy).min(0.0) - corner
}

/// Polynomial smooth minimum: unions with rounded webs between fingers.
fn smooth_min(a: f32, b: f32, k: f32) -> f32 {
    let h = (0.5 + 0.5 * (b - a) / k).clamp(0.0, 1.0);
    b + (a - b) * h - k * h * (1.0 - h)
}

impl HandShape {
    /// An identity's finger lengths, widths and base positions.
    pub fn draw<R: Rng>(rng: &mut R) -> Self {
        let size = rng.gen_range(0.92..1.08f32);
        let lengths = [2.6f32, 3.3, 3.6, 3.2];
        let xs = [-1.45f32, -0.48, 0.48, 1.45];
        let fingers = std::array::from_fn(|k| Finger {
            base: [xs[k] + rng.gen_range(-0.06..0.06), PALM_TOP + 0.3],
            angle: 0.0,
            length: lengths[k] * size * rng.gen_range(0.95..1.05),
            radius: if k == 0 { 0.36 } else { 0.42 } * rng.gen_range(0.93..1.07),
            joints: [
                0.1 + rng.gen_range(-0.02..0.02),
                0.47 + rng.gen_range(-0.03..0.03),
                0.74 + rng.gen_range(-0.03..0.03),
            ],
        });
        let thumb = Finger {
            base: [1.45, 0.7 + rng.gen_range(-0.1..0.1)],
            angle: rng.gen_range(0.9..1.15),
            length: 2.7 * size * rng.gen_range(0.95..1.05),
            radius: 0.5 * rng.gen_range(0.93..1.07),
            joints: [0.35, 0.62 + rng.gen_range(-0.03..0.03), 1.5],
        };
        Self {
            fingers,
            thumb,
            palm_centre: [0.05, 0.2],
            palm_half: [1.85 * size.sqrt(), 1.75],
        }
    }

    /// The same hand with the fingers spread by `spread` radians between neighbours (a sample's
    /// hand posture) and the thumb opened by `thumb_open`.
    pub fn posture(&self, spread: f32, thumb_open: f32) -> Self {
        let mut out = self.clone();
        for (k, f) in out.fingers.iter_mut().enumerate() {
            f.angle = (k as f32 - 1.8) * spread;
        }
        out.thumb.angle += thumb_open;
        out
    }

    /// Classifies a point (right-hand model coordinates); `edge` is the soft edge width.
    pub fn locate(&self, p: Point, edge: f32) -> HandPoint {
        let palm = rounded_box(p, self.palm_centre, self.palm_half, 0.7);
        let wrist = rounded_box(p, [0.0, 4.8], [1.5, 3.0], 0.2);
        let mut d = smooth_min(palm, wrist, 0.5);
        let mut crease = 0.0f32;
        for f in self.fingers.iter().chain(std::iter::once(&self.thumb)) {
            let (df, along) = capsule_distance(p, f);
            d = smooth_min(d, df, 0.18);
            if df < 0.0 {
                for j in f.joints {
                    let t = (along - j * f.length) / 0.035;
                    crease = crease.max(0.022 * (-t * t).exp());
                }
            }
        }
        let inside = (0.5 - d / edge).clamp(0.0, 1.0);
        HandPoint {
            inside,
            rim: smoothstep((-d / 0.35).clamp(0.0, 1.0)),
            palm: smoothstep((-palm / 0.4).clamp(0.0, 1.0)),
            crease: crease * smoothstep((palm / 0.1).clamp(0.0, 1.0)),
        }
    }
}

/// Smooth hash noise in [−1, 1] at a point (cell units): finger skin without a stored map.
pub fn hash_noise(p: Point, seed: u64) -> f32 {
    let (x0, y0) = (p[0].floor(), p[1].floor());
    let (tx, ty) = (smoothstep(p[0] - x0), smoothstep(p[1] - y0));
    let corner = |dx: f32, dy: f32| {
        let mut h = seed
            ^ ((x0 + dx) as i64 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ ((y0 + dy) as i64 as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        h = (h ^ (h >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 29;
        (h >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let top = corner(0.0, 0.0) + (corner(1.0, 0.0) - corner(0.0, 0.0)) * tx;
    let bottom = corner(0.0, 1.0) + (corner(1.0, 1.0) - corner(0.0, 1.0)) * tx;
    top + (bottom - top) * ty
}

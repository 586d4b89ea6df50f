//! Strokes: curves with a width and strength along their length, drawn into a canvas plane.
//!
//! Creases are grooves (Gaussian cross-section); vessels are tubes (absorption proportional to
//! the chord length through a cylinder). Overlapping strokes combine with `max`, as a crease
//! crossing another is no deeper than the deeper of the two.

use rand::Rng;
use std::f32::consts::TAU;

use super::raster::{Canvas, Plane};

pub type Point = [f32; 2];

/// A polyline in palm units with a half-width and a strength per vertex.
#[derive(Debug, Clone, Default)]
pub struct Stroke {
    pub points: Vec<Point>,
    pub width: Vec<f32>,
    pub strength: Vec<f32>,
}

/// Cross-section shape of a stroke.
#[derive(Debug, Clone, Copy)]
pub enum Profile {
    /// `strength · exp(−(d/w)²)`: a skin crease.
    Groove,
    /// `strength · √(1 − (d/w)²)` with a soft rim: light absorbed along a chord through a vessel.
    Tube,
}

impl Profile {
    #[inline]
    fn value(self, d: f32, w: f32) -> f32 {
        let r = d / w;
        match self {
            Profile::Groove => (-r * r).exp(),
            Profile::Tube => {
                let r = r / 1.15;
                if r >= 1.0 {
                    0.0
                } else {
                    (1.0 - r * r).sqrt()
                }
            }
        }
    }

    fn support(self) -> f32 {
        match self {
            Profile::Groove => 2.6,
            Profile::Tube => 1.15,
        }
    }
}

/// Point on a cubic Bézier curve.
pub fn bezier(c: &[Point; 4], t: f32) -> Point {
    let u = 1.0 - t;
    let b = [u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t];
    [
        b[0] * c[0][0] + b[1] * c[1][0] + b[2] * c[2][0] + b[3] * c[3][0],
        b[0] * c[0][1] + b[1] * c[1][1] + b[2] * c[2][1] + b[3] * c[3][1],
    ]
}

/// How a crease stroke is shaped beyond its centre line.
#[derive(Debug, Clone, Copy)]
pub struct CreaseStyle {
    pub width: f32,
    pub depth: f32,
    /// Amplitude (units) of the sideways meander.
    pub wobble: f32,
    /// Probability of one faint gap along the crease.
    pub gap_chance: f64,
}

/// A crease along a Bézier centre line: meandering, tapering at both ends, with uneven depth and
/// sometimes a gap, so no two creases share a clean analytic shape.
pub fn crease<R: Rng>(control: &[Point; 4], style: CreaseStyle, rng: &mut R) -> Stroke {
    let chord =
        dist(control[0], control[1]) + dist(control[1], control[2]) + dist(control[2], control[3]);
    let n = ((chord / 0.008) as usize).clamp(8, 1200);
    let waves: Vec<(f32, f32, f32)> = (0..3)
        .map(|k| {
            (
                style.wobble * rng.gen_range(0.3..1.0) / (k as f32 + 1.0),
                rng.gen_range(0.5..2.5) * (k as f32 + 1.0) * chord.max(0.3),
                rng.gen_range(0.0..TAU),
            )
        })
        .collect();
    let depth_waves: Vec<(f32, f32)> = (0..2)
        .map(|_| {
            (
                rng.gen_range(1.0..5.0) * chord.max(0.3),
                rng.gen_range(0.0..TAU),
            )
        })
        .collect();
    let gap = rng
        .gen_bool(style.gap_chance)
        .then(|| (rng.gen_range(0.2..0.8f32), rng.gen_range(0.04..0.12f32)));
    let taper_in = rng.gen_range(0.05..0.25f32);
    let taper_out = rng.gen_range(0.05..0.25f32);

    let mut stroke = Stroke::default();
    for i in 0..=n {
        let t = i as f32 / n as f32;
        let p = bezier(control, t);
        let q = bezier(control, (t + 1e-3).min(1.0));
        let o = bezier(control, (t - 1e-3).max(0.0));
        let (tx, ty) = (q[0] - o[0], q[1] - o[1]);
        let len = (tx * tx + ty * ty).sqrt().max(1e-6);
        let normal = [-ty / len, tx / len];
        let offset: f32 = waves.iter().map(|&(a, f, ph)| a * (f * t + ph).sin()).sum();
        let taper = ramp(t / taper_in) * ramp((1.0 - t) / taper_out);
        let mut depth = 1.0
            + 0.2
                * depth_waves
                    .iter()
                    .map(|&(f, ph)| (f * t + ph).sin())
                    .sum::<f32>();
        if let Some((at, half)) = gap {
            let g = ((t - at).abs() / half).min(1.0);
            depth *= 0.3 + 0.7 * super::raster::smoothstep(g);
        }
        stroke
            .points
            .push([p[0] + normal[0] * offset, p[1] + normal[1] * offset]);
        stroke
            .width
            .push(style.width * (0.35 + 0.65 * taper) * (0.85 + 0.15 * depth));
        stroke.strength.push(style.depth * depth * taper);
    }
    stroke
}

#[inline]
fn ramp(x: f32) -> f32 {
    super::raster::smoothstep(x.clamp(0.0, 1.0))
}

#[inline]
pub fn dist(a: Point, b: Point) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Draws `stroke` into `plane` (max-combined), widths and positions in units.
pub fn draw(plane: &mut Plane, canvas: &Canvas, stroke: &Stroke, profile: Profile) {
    let s = canvas.px_per_unit;
    for i in 1..stroke.points.len() {
        let a = [
            canvas.to_px(stroke.points[i - 1][0]),
            canvas.to_px(stroke.points[i - 1][1]),
        ];
        let b = [
            canvas.to_px(stroke.points[i][0]),
            canvas.to_px(stroke.points[i][1]),
        ];
        let (wa, wb) = (stroke.width[i - 1] * s, stroke.width[i] * s);
        let (sa, sb) = (stroke.strength[i - 1], stroke.strength[i]);
        if sa.max(sb) <= 0.0 {
            continue;
        }
        draw_segment(plane, a, b, (wa, wb), (sa, sb), profile);
    }
}

fn draw_segment(
    plane: &mut Plane,
    a: Point,
    b: Point,
    (wa, wb): (f32, f32),
    (sa, sb): (f32, f32),
    profile: Profile,
) {
    let reach = wa.max(wb).max(0.3) * profile.support() + 1.0;
    let x0 = (a[0].min(b[0]) - reach).floor().max(0.0) as usize;
    let y0 = (a[1].min(b[1]) - reach).floor().max(0.0) as usize;
    let x1 = ((a[0].max(b[0]) + reach).ceil() as isize).min(plane.width as isize - 1);
    let y1 = ((a[1].max(b[1]) + reach).ceil() as isize).min(plane.height as isize - 1);
    if x1 < x0 as isize || y1 < y0 as isize {
        return;
    }
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = (dx * dx + dy * dy).max(1e-9);
    for y in y0..=y1 as usize {
        for x in x0..=x1 as usize {
            let (px, py) = (x as f32 - a[0], y as f32 - a[1]);
            let t = ((px * dx + py * dy) / len2).clamp(0.0, 1.0);
            let (ex, ey) = (px - t * dx, py - t * dy);
            let d = (ex * ex + ey * ey).sqrt();
            // Keep sub-pixel strokes visible at reduced strength instead of aliasing away.
            let w = (wa + (wb - wa) * t).max(0.5);
            let strength = (sa + (sb - sa) * t) * ((wa + (wb - wa) * t) / w).min(1.0).sqrt();
            let v = strength * profile.value(d, w);
            let cell = plane.at_mut(x, y);
            if v > *cell {
                *cell = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn crease_is_drawn_along_its_centre_line() {
        let canvas = Canvas::new(1.0, 50.0);
        let mut plane = canvas.plane(0.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let style = CreaseStyle {
            width: 0.03,
            depth: 1.0,
            wobble: 0.0,
            gap_chance: 0.0,
        };
        let c = [[-0.8, 0.0], [-0.3, 0.0], [0.3, 0.0], [0.8, 0.0]];
        let stroke = crease(&c, style, &mut rng);
        draw(&mut plane, &canvas, &stroke, Profile::Groove);
        let mid = canvas.to_px(0.0).round() as usize;
        let off = canvas.to_px(0.3).round() as usize;
        assert!(plane.at(mid, mid) > 0.5);
        assert!(plane.at(mid, off) < 0.01);
    }
}

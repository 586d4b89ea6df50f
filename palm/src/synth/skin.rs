//! An identity's palm surface: relief (thenar/hypothenar/interdigital mounds), creases (the
//! three principal lines with identity-specific shape plus branches, secondary creases and
//! wrinkles), fine flexion texture and skin reflectance (tone, blotches, pores).
//!
//! Geometry follows palmar anatomy in palm units for a right hand seen from the palm side,
//! fingers towards −y and the thumb towards +x (a left hand is the mirror image):
//! the heart line (distal transverse crease) runs from the ulnar edge below the little finger
//! towards the index/middle finger gap; the head line (proximal transverse crease) starts at
//! the radial edge above the thumb and runs across and down; the life line (thenar crease)
//! starts near the head line and arcs around the thenar eminence towards the wrist.

use rand::Rng;
use rand_distr::{Distribution, Normal};
use std::f32::consts::PI;

use super::raster::{value_noise, Canvas, Lattice, Plane};
use super::strokes::{self, crease, CreaseStyle, Point, Profile, Stroke};

/// The identity's skin, rendered once on the palm canvas and reused by every sample.
#[derive(Debug, Clone)]
pub struct SkinMaps {
    /// Large-scale relief (units of height): mounds and the hollow of the palm.
    pub relief: Plane,
    /// Depth of principal and secondary creases and wrinkles (units).
    pub creases: Plane,
    /// Depth of the fine flexion texture (units).
    pub texture: Plane,
    /// Visible-light reflectance of the skin, before crease shading.
    pub albedo: Plane,
}

/// Scale of crease widths and depths, in palm units.
const PRINCIPAL_WIDTH: f32 = 0.026;
const PRINCIPAL_DEPTH: f32 = 0.030;

fn normal(mean: f32, sd: f32) -> Normal<f32> {
    Normal::new(mean, sd).expect("finite parameters")
}

pub fn render<R: Rng>(rng: &mut R, canvas: &Canvas) -> SkinMaps {
    let mut creases = canvas.plane(0.0);
    let principal = principal_lines(rng);
    for stroke in &principal {
        strokes::draw(&mut creases, canvas, stroke, Profile::Groove);
    }
    for stroke in branches(rng, &principal)
        .iter()
        .chain(&secondary_creases(rng))
    {
        strokes::draw(&mut creases, canvas, stroke, Profile::Groove);
    }
    // Creases are soft-edged folds, not engraved lines.
    creases.blur(0.6);

    let texture = flexion_texture(rng, canvas);

    SkinMaps {
        relief: relief(rng, canvas),
        creases,
        texture,
        albedo: albedo(rng, canvas),
    }
}

fn principal_lines<R: Rng>(rng: &mut R) -> Vec<Stroke> {
    let mut out = Vec::with_capacity(4);
    let jitter = |rng: &mut R, sd: f32| normal(0.0, sd).sample(rng);
    let style = |rng: &mut R, scale: f32| CreaseStyle {
        width: PRINCIPAL_WIDTH * scale * rng.gen_range(0.8..1.5),
        depth: PRINCIPAL_DEPTH * scale * rng.gen_range(0.75..1.25),
        wobble: rng.gen_range(0.01..0.035),
        gap_chance: 0.12,
    };

    // Heart line: ulnar edge → index/middle gap, curving up at its radial end.
    let h0 = [-2.15, -0.5 + jitter(rng, 0.22)];
    let h3 = [rng.gen_range(0.0..1.1), rng.gen_range(-1.4..-0.7)];
    let h1 = [h0[0] + rng.gen_range(0.7..1.2), h0[1] + jitter(rng, 0.12)];
    let h2 = [
        h3[0] - rng.gen_range(0.4..0.9),
        h3[1] + rng.gen_range(0.2..0.6),
    ];
    let heart = [h0, h1, h2, h3];
    out.push(crease(&heart, style(rng, 1.0), rng));
    if rng.gen_bool(0.4) {
        // Forked end: a second, shorter arm towards the middle finger.
        let fork = [
            strokes::bezier(&heart, 0.75),
            strokes::bezier(&heart, 0.85),
            [h3[0] - rng.gen_range(0.2..0.5), h3[1] - 0.1],
            [
                h3[0] - rng.gen_range(0.4..0.8),
                h3[1] - rng.gen_range(0.1..0.35),
            ],
        ];
        out.push(crease(&fork, style(rng, 0.7), rng));
    }

    // Head line and life line share (or nearly share) their radial start.
    let start = [2.15, -0.3 + jitter(rng, 0.22)];
    let separated = rng.gen_bool(0.3);
    let head_start = if separated {
        [start[0], start[1] - rng.gen_range(0.1..0.25)]
    } else {
        start
    };
    let slope = rng.gen_range(-0.2..0.75f32);
    let e3 = [rng.gen_range(-1.7..-0.7), 0.2 + slope + jitter(rng, 0.1)];
    let e1 = [
        head_start[0] - rng.gen_range(0.6..1.1),
        head_start[1] + jitter(rng, 0.2),
    ];
    let e2 = [
        e3[0] + rng.gen_range(0.6..1.0),
        e3[1] - slope * rng.gen_range(0.2..0.6) + jitter(rng, 0.15),
    ];
    out.push(crease(&[head_start, e1, e2, e3], style(rng, 0.95), rng));

    let bulge = rng.gen_range(0.1..0.9f32);
    let l1 = [
        start[0] - 0.8 - bulge * 0.6,
        start[1] + rng.gen_range(0.1..0.4),
    ];
    let l2 = [
        rng.gen_range(0.0..0.5) - bulge * 0.3,
        rng.gen_range(0.9..1.4),
    ];
    let l3 = [rng.gen_range(0.4..1.2), 2.15];
    out.push(crease(&[start, l1, l2, l3], style(rng, 1.05), rng));
    out
}

/// Short offshoots leaving the principal lines at an acute angle.
fn branches<R: Rng>(rng: &mut R, parents: &[Stroke]) -> Vec<Stroke> {
    let count = rng.gen_range(2..8);
    (0..count)
        .map(|_| {
            let parent = &parents[rng.gen_range(0..parents.len())];
            let n = parent.points.len();
            let i = rng.gen_range(n / 6..n * 5 / 6);
            let p = parent.points[i];
            let q = parent.points[(i + 3).min(n - 1)];
            let heading = (q[1] - p[1]).atan2(q[0] - p[0]);
            let turn = rng.gen_range(0.35..1.0) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
            let dir = heading + turn * if rng.gen_bool(0.3) { -1.0 } else { 1.0 };
            let len = rng.gen_range(0.15..0.55);
            let bend = rng.gen_range(-0.3..0.3f32);
            let c = arc(p, dir, len, bend);
            crease(&c, scaled_style(rng, 0.45..0.75, 0.3..0.65, 0.01, 0.2), rng)
        })
        .collect()
}

/// A minor crease's style: width and depth drawn as fractions of the principal lines'.
fn scaled_style<R: Rng>(
    rng: &mut R,
    width: std::ops::Range<f32>,
    depth: std::ops::Range<f32>,
    wobble: f32,
    gap_chance: f64,
) -> CreaseStyle {
    CreaseStyle {
        width: PRINCIPAL_WIDTH * rng.gen_range(width),
        depth: PRINCIPAL_DEPTH * rng.gen_range(depth),
        wobble,
        gap_chance,
    }
}

/// Bézier control points of a gently bending arc from `p` in direction `dir`.
fn arc(p: Point, dir: f32, len: f32, bend: f32) -> [Point; 4] {
    let at = |s: f32, a: f32| [p[0] + s * len * a.cos(), p[1] + s * len * a.sin()];
    [
        p,
        at(0.33, dir),
        at(0.66, dir + bend),
        at(1.0, dir + 1.5 * bend),
    ]
}

/// The local direction of the palm's flexion creases: transverse in the upper palm and over the
/// hypothenar, oblique along the thenar eminence, anything in between.
fn crease_direction<R: Rng>(rng: &mut R, p: Point) -> f32 {
    let (mean, sd) = if p[0] > 0.3 && p[1] > -0.1 {
        (PI * 0.38, 0.35)
    } else if p[0] < -0.4 && p[1] > 0.0 {
        (0.05, 0.3)
    } else if p[1] < -0.6 {
        (-0.15, 0.35)
    } else {
        (0.2, 0.7)
    };
    normal(mean, sd).sample(rng)
}

fn secondary_creases<R: Rng>(rng: &mut R) -> Vec<Stroke> {
    let mut out = Vec::new();
    // Fate (Saturn) line, frequent but variable and often broken; sometimes a sun line.
    for (chance, x_base, top) in [(0.6, 0.0f32, -0.5f32), (0.3, -0.55, -0.9)] {
        if rng.gen_bool(chance) {
            let x = x_base + rng.gen_range(-0.25..0.25);
            let bottom = [x + rng.gen_range(-0.2..0.2), rng.gen_range(0.8..1.9)];
            let upper = [
                x + rng.gen_range(-0.15..0.2),
                top + rng.gen_range(-0.4..0.4),
            ];
            let c = [
                bottom,
                [
                    bottom[0] * 0.7 + upper[0] * 0.3 + rng.gen_range(-0.1..0.1),
                    bottom[1] * 0.66 + upper[1] * 0.34,
                ],
                [
                    bottom[0] * 0.3 + upper[0] * 0.7 + rng.gen_range(-0.1..0.1),
                    bottom[1] * 0.33 + upper[1] * 0.67,
                ],
                upper,
            ];
            out.push(crease(
                &c,
                scaled_style(rng, 0.45..0.7, 0.25..0.55, 0.02, 0.5),
                rng,
            ));
        }
    }
    // Wrinkles: shorter, shallower creases following the local flexion direction.
    for _ in 0..rng.gen_range(30..60) {
        let p = [rng.gen_range(-1.8..1.8), rng.gen_range(-1.8..1.8)];
        let dir = crease_direction(rng, p);
        let len = rng.gen_range(0.3..1.0);
        let start = [p[0] - 0.5 * len * dir.cos(), p[1] - 0.5 * len * dir.sin()];
        let c = arc(start, dir, len, rng.gen_range(-0.25..0.25));
        out.push(crease(
            &c,
            scaled_style(rng, 0.35..0.6, 0.25..0.6, 0.012, 0.2),
            rng,
        ));
    }
    out
}

/// The fine rhombic flexion texture of palm skin: a dense mesh of shallow furrows in two
/// crossing families whose angles and spacing are personal. Each family is the zero set of
/// anisotropic noise (long along the family direction, short across), which gives continuous,
/// meandering, occasionally merging furrows rather than isolated dashes.
fn flexion_texture<R: Rng>(rng: &mut R, canvas: &Canvas) -> Plane {
    let first = rng.gen_range(0.3..1.2f32);
    let families = [
        (first, 1.0f32),
        (
            first + PI / 2.0 + rng.gen_range(-0.35..0.35),
            rng.gen_range(0.6..1.0),
        ),
    ];
    let depth = PRINCIPAL_DEPTH * rng.gen_range(0.12..0.25);
    let strength = value_noise(rng, canvas.size, canvas.size, canvas.px_per_unit * 0.5, 2);
    let mut out = canvas.plane(0.0);
    for (angle, weight) in families {
        let along = rng.gen_range(0.18..0.35f32);
        let across = rng.gen_range(0.045..0.075f32);
        let cells = (2.0 * canvas.extent * 1.5 / across) as usize + 4;
        let lattice = Lattice::new(rng, cells, cells);
        let (s, c) = angle.sin_cos();
        let offset = 1.5 * canvas.extent;
        for y in 0..canvas.size {
            let v = canvas.to_unit(y);
            for x in 0..canvas.size {
                let u = canvas.to_unit(x);
                let a = (c * u + s * v + offset) / along;
                let b = (-s * u + c * v + offset) / across;
                let n = lattice.at(a, b);
                let groove = (-(n / 0.22) * (n / 0.22)).exp();
                let local = 0.6 + 0.4 * strength.at(x, y);
                let cell = out.at_mut(x, y);
                *cell = cell.max(depth * weight * local * groove);
            }
        }
    }
    out.blur(0.5);
    out
}

/// Mounds under the fingers, thenar and hypothenar eminences, the hollow between them.
fn relief<R: Rng>(rng: &mut R, canvas: &Canvas) -> Plane {
    let mut mounds: Vec<(Point, f32, f32)> = vec![
        ([1.1, 1.2], 0.35, 0.85),  // thenar
        ([-1.3, 1.0], 0.25, 0.75), // hypothenar
        ([0.0, 0.1], -0.12, 0.7),  // hollow of the palm
    ];
    for x in [-1.2f32, -0.4, 0.35, 1.1] {
        mounds.push(([x, -1.75], 0.18, 0.45));
    }
    let mounds: Vec<(Point, f32, f32)> = mounds
        .into_iter()
        .map(|(c, a, s)| {
            (
                [
                    c[0] + rng.gen_range(-0.2..0.2),
                    c[1] + rng.gen_range(-0.2..0.2),
                ],
                a * rng.gen_range(0.7..1.3),
                s * rng.gen_range(0.85..1.15),
            )
        })
        .collect();
    let undulation = value_noise(rng, canvas.size, canvas.size, canvas.px_per_unit * 0.6, 2);
    let mut out = canvas.plane(0.0);
    for y in 0..canvas.size {
        let v = canvas.to_unit(y);
        for x in 0..canvas.size {
            let u = canvas.to_unit(x);
            let h: f32 = mounds
                .iter()
                .map(|&(c, a, s)| {
                    let d2 = (u - c[0]).powi(2) + (v - c[1]).powi(2);
                    a * (-d2 / (2.0 * s * s)).exp()
                })
                .sum();
            *out.at_mut(x, y) = h + 0.025 * undulation.at(x, y);
        }
    }
    out
}

/// Skin reflectance: personal tone, blotchy perfusion at two scales, pores and fine grain.
fn albedo<R: Rng>(rng: &mut R, canvas: &Canvas) -> Plane {
    let tone = rng.gen_range(0.45..0.72f32);
    let n = canvas.size;
    let low = value_noise(rng, n, n, canvas.px_per_unit * 0.8, 2);
    let mid = value_noise(rng, n, n, canvas.px_per_unit * 0.15, 2);
    let blotch = rng.gen_range(0.04..0.1);
    let mut out = canvas.plane(0.0);
    for (i, v) in out.data.iter_mut().enumerate() {
        *v = tone * (1.0 + blotch * low.data[i] + 0.035 * mid.data[i]);
    }
    // Pores and grain below the resolution of the ROI still modulate it as fine speckle.
    let pores = (n * n) / rng.gen_range(12..25);
    for _ in 0..pores {
        let i = rng.gen_range(0..n * n);
        out.data[i] *= rng.gen_range(0.85..0.96);
    }
    out
}

//! Image measurements behind presentation-attack detection.
//!
//! Everything works on contrast images (band-pass divided by the local mean), so illumination
//! gain, LED fall-off and exposure cancel; scales are fractions of the ROI side, so they are
//! physical (vessel widths, crease widths), not tied to a pixel size.

use crate::filters::Plane;

/// Fine and coarse Gaussian scales (fractions of the ROI side) of the contrast band: from a thin
/// vessel / crease (≈ 1.5 % of a palm-ROI side is ≈ 1 mm) to the spacing of vessels (≈ 10 %).
const BAND: (f32, f32) = (0.02, 0.10);
/// Hessian scales (fractions of the side) for tubular structures: palm veins and principal
/// creases are ≈ 1–3 mm wide.
const TUBE_SCALES: [f32; 2] = [0.025, 0.045];
/// Frangi's blob-vs-line constant β: eigenvalue ratio |λ₁/λ₂| where a line counts half.
const FRANGI_BETA: f32 = 0.5;
/// Regression tiles per side when explaining the NIR contrast by the visible contrast (a
/// tile's gain absorbs glare and uneven ink/illumination; 2 × 2 keeps ≥ 500 pixels per tile so
/// an unrelated image explains almost nothing by chance).
const TILES: usize = 2;
/// Largest registration error between the two bands, in pixels of the working side.
const MAX_SHIFT: i32 = 2;

/// Contrast image: `(G_fine ∗ p − G_coarse ∗ p) / G_coarse ∗ p`.
pub(crate) fn contrast(p: &Plane) -> Plane {
    let side = p.w as f32;
    let fine = p.gauss_blur((BAND.0 * side).max(0.5));
    let coarse = p.gauss_blur(BAND.1 * side);
    Plane {
        w: p.w,
        h: p.h,
        data: fine
            .data
            .iter()
            .zip(&coarse.data)
            .map(|(f, c)| (f - c) / c.max(0.02))
            .collect(),
    }
}

/// Fine detail (contrast above ≈ 1 % of the side, i.e. below ≈ 1 mm on a palm ROI): the skin's
/// creases and wrinkles as they reflect at the surface, which both bands of one capture share
/// (and a print shows in both bands as paper and ink). Vessels, blurred by tissue scattering,
/// hardly reach this scale.
pub(crate) fn detail(p: &Plane) -> Plane {
    let a = p;
    let b = p.gauss_blur(1.0);
    Plane {
        w: p.w,
        h: p.h,
        data: a
            .data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x - y) / y.max(0.02))
            .collect(),
    }
}

/// Inner region: a margin of 1/8 of the side, away from filter borders.
fn inner(w: usize, h: usize) -> (usize, usize, usize, usize) {
    (w / 8, w - w / 8, h / 8, h - h / 8)
}

/// Normalised correlation of `a` and `b` over the inner region, `b` shifted by `(dx, dy)`.
fn correlation_at(a: &Plane, b: &Plane, dx: i32, dy: i32) -> f32 {
    let (x0, x1, y0, y1) = inner(a.w, a.h);
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for y in y0..y1 {
        for x in x0..x1 {
            let u = f64::from(a.at(x, y));
            let v = f64::from(b.at((x as i32 + dx) as usize, (y as i32 + dy) as usize));
            ab += u * v;
            aa += u * u;
            bb += v * v;
        }
    }
    (ab / (aa * bb).sqrt().max(1e-12)) as f32
}

/// Best normalised correlation over registration shifts up to `max_shift`, and that shift.
pub(crate) fn best_correlation(a: &Plane, b: &Plane, max_shift: i32) -> (f32, (i32, i32)) {
    let mut best = (f32::NEG_INFINITY, (0, 0));
    for dy in -max_shift..=max_shift {
        for dx in -max_shift..=max_shift {
            let c = correlation_at(a, b, dx, dy);
            if c > best.0 {
                best = (c, (dx, dy));
            }
        }
    }
    best
}

/// Scale-normalised Hessian `σ² (Ixx, Iyy, Ixy)` of `p` at scale `sigma` (pixels).
fn hessian(p: &Plane, sigma: f32) -> [Plane; 3] {
    let g = p.gauss_blur(sigma);
    let (w, h) = (g.w, g.h);
    let s2 = sigma * sigma;
    let mut out = [
        Plane::filled(w, h, 0.0),
        Plane::filled(w, h, 0.0),
        Plane::filled(w, h, 0.0),
    ];
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let c = g.at(x, y);
            let i = y * w + x;
            out[0].data[i] = s2 * (g.at(x + 1, y) - 2.0 * c + g.at(x - 1, y));
            out[1].data[i] = s2 * (g.at(x, y + 1) - 2.0 * c + g.at(x, y - 1));
            out[2].data[i] = s2
                * 0.25
                * (g.at(x + 1, y + 1) - g.at(x + 1, y - 1) - g.at(x - 1, y + 1)
                    + g.at(x - 1, y - 1));
        }
    }
    out
}

/// Frangi-style vesselness of dark tubes on a contrast image, in contrast units: per pixel the
/// largest over [`TUBE_SCALES`] of `λ₂ · exp(−(λ₁/λ₂)² / 2β²)` where `λ₂ > 0` is the
/// across-tube curvature (a dark line is a valley: positive second derivative across it) and
/// `λ₁` the along-tube one (small for a line, as large as `λ₂` for a blob or noise speck).
pub(crate) fn vesselness(c: &Plane) -> Plane {
    let side = c.w as f32;
    let mut best = Plane::filled(c.w, c.h, 0.0);
    for s in TUBE_SCALES {
        let [xx, yy, xy] = hessian(c, s * side);
        let tensors = xx.data.iter().zip(&yy.data).zip(&xy.data);
        for (out, ((&a, &b), &d)) in best.data.iter_mut().zip(tensors) {
            let m = 0.5 * (a + b);
            let r = (0.25 * (a - b) * (a - b) + d * d).sqrt();
            let (l_big, l_small) = if m >= 0.0 {
                (m + r, m - r)
            } else {
                (m - r, m + r)
            };
            if l_big <= 0.0 {
                continue;
            }
            let rb = l_small / l_big;
            let v = l_big * (-(rb * rb) / (2.0 * FRANGI_BETA * FRANGI_BETA)).exp();
            if v > *out {
                *out = v;
            }
        }
    }
    best
}

/// Mean of `p` over the inner region.
pub(crate) fn inner_mean(p: &Plane) -> f32 {
    let (x0, x1, y0, y1) = inner(p.w, p.h);
    let mut s = 0f64;
    for y in y0..y1 {
        for x in x0..x1 {
            s += f64::from(p.at(x, y));
        }
    }
    (s / ((x1 - x0) * (y1 - y0)) as f64) as f32
}

/// RMS of `p` over the inner region.
pub(crate) fn inner_rms(p: &Plane) -> f32 {
    inner_mean(&p.map(|v| v * v)).sqrt()
}

/// `p` shifted by `(dx, dy)` (border replicated): `out(x, y) = p(x + dx, y + dy)`.
pub(crate) fn shifted(p: &Plane, dx: i32, dy: i32) -> Plane {
    let (w, h) = (p.w as i32, p.h as i32);
    let mut out = Plane::filled(p.w, p.h, 0.0);
    for y in 0..h {
        for x in 0..w {
            let sx = (x + dx).clamp(0, w - 1) as usize;
            let sy = (y + dy).clamp(0, h - 1) as usize;
            out.data[(y * w + x) as usize] = p.at(sx, sy);
        }
    }
    out
}

/// What the visible image explains of the NIR contrast.
pub(crate) struct Explained {
    /// NIR contrast minus its least-squares prediction from the visible contrast.
    pub residual: Plane,
    /// Fraction of the NIR contrast energy explained (inner region), in [0, 1].
    pub r2: f32,
    /// Correlation of the two contrast images at the best registration shift.
    pub correlation: f32,
}

/// Explains the NIR contrast `n` by the visible contrast `v`: after registering the bands
/// (±[`MAX_SHIFT`] px), per tile a least-squares fit `n ≈ a·v + b·G₁v + c·G₂v` (the blurred
/// copies absorb a different focus / scattering blur between the bands). A print shows the same
/// ink in both bands, so its NIR is almost fully explained; a live palm's vessels are not.
pub(crate) fn explain(n: &Plane, v: &Plane) -> Explained {
    let (correlation, (dx, dy)) = best_correlation(n, v, MAX_SHIFT);
    let v = shifted(v, dx, dy);
    let basis = [v.clone(), v.gauss_blur(1.0), v.gauss_blur(2.0)];
    let (x0, x1, y0, y1) = inner(n.w, n.h);
    let mut residual = n.clone();
    let (tw, th) = ((x1 - x0) / TILES, (y1 - y0) / TILES);
    for ty in 0..TILES {
        for tx in 0..TILES {
            let xs = x0 + tx * tw..if tx + 1 == TILES {
                x1
            } else {
                x0 + (tx + 1) * tw
            };
            let ys = y0 + ty * th..if ty + 1 == TILES {
                y1
            } else {
                y0 + (ty + 1) * th
            };
            // Normal equations (3 × 3), ridge-regularised.
            let mut ata = [[0f64; 3]; 3];
            let mut atb = [0f64; 3];
            for y in ys.clone() {
                for x in xs.clone() {
                    let i = y * n.w + x;
                    let f = [basis[0].data[i], basis[1].data[i], basis[2].data[i]].map(f64::from);
                    let target = f64::from(n.data[i]);
                    for ((row, b), fr) in ata.iter_mut().zip(atb.iter_mut()).zip(f) {
                        *b += fr * target;
                        for (a, fc) in row.iter_mut().zip(f) {
                            *a += fr * fc;
                        }
                    }
                }
            }
            let trace = (ata[0][0] + ata[1][1] + ata[2][2]) / 3.0;
            for (r, row) in ata.iter_mut().enumerate() {
                row[r] += 1e-3 * trace + 1e-12;
            }
            let coef = solve3(ata, atb);
            for y in ys.clone() {
                for x in xs.clone() {
                    let i = y * n.w + x;
                    let fit: f64 = coef
                        .iter()
                        .zip(&basis)
                        .map(|(c, b)| c * f64::from(b.data[i]))
                        .sum();
                    residual.data[i] = n.data[i] - fit as f32;
                }
            }
        }
    }
    let total = inner_rms(n).powi(2);
    let left = inner_rms(&residual).powi(2);
    Explained {
        residual,
        r2: if total > 0.0 {
            (1.0 - left / total).clamp(0.0, 1.0)
        } else {
            0.0
        },
        correlation,
    }
}

/// Solves a 3 × 3 linear system by Cramer's rule (the matrix is regularised, never singular).
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> [f64; 3] {
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&a);
    if d.abs() < 1e-300 {
        return [0.0; 3];
    }
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut m = a;
        for (row, &bv) in m.iter_mut().zip(&b) {
            row[k] = bv;
        }
        *o = det(&m) / d;
    }
    out
}

/// Correlation of the two bands' Hessian tensors (crease scale), best over registration
/// shifts: the principal creases are valleys in both bands at the same place and orientation,
/// so a live capture's tensors agree; a print of one palm with the NIR of another does not.
pub(crate) fn tensor_agreement(v: &Plane, n: &Plane) -> f32 {
    tensor_agreement_at(v, n, TUBE_SCALES[1])
}

/// [`tensor_agreement`] at Hessian scale `scale` (fraction of the side).
pub(crate) fn tensor_agreement_at(v: &Plane, n: &Plane, scale: f32) -> f32 {
    let side = v.w as f32;
    let s = scale * side;
    let hv = hessian(v, s);
    let hn = hessian(n, s);
    let (x0, x1, y0, y1) = inner(v.w, v.h);
    let mut best = f32::NEG_INFINITY;
    for dy in -MAX_SHIFT..=MAX_SHIFT {
        for dx in -MAX_SHIFT..=MAX_SHIFT {
            let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
            for y in y0..y1 {
                for x in x0..x1 {
                    let i = y * v.w + x;
                    let j = (y as i32 + dy) as usize * v.w + (x as i32 + dx) as usize;
                    let a = [hv[0].data[i], hv[1].data[i], hv[2].data[i]].map(f64::from);
                    let b = [hn[0].data[j], hn[1].data[j], hn[2].data[j]].map(f64::from);
                    ab += a[0] * b[0] + a[1] * b[1] + 2.0 * a[2] * b[2];
                    aa += a[0] * a[0] + a[1] * a[1] + 2.0 * a[2] * a[2];
                    bb += b[0] * b[0] + b[1] * b[1] + 2.0 * b[2] * b[2];
                }
            }
            best = best.max((ab / (aa * bb).sqrt().max(1e-12)) as f32);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_image(side: usize, vertical: bool, at: f32) -> Plane {
        let mut p = Plane::filled(side, side, 0.7);
        for y in 0..side {
            for x in 0..side {
                let d = if vertical { x as f32 } else { y as f32 } - at;
                p.data[y * side + x] *= 1.0 - 0.3 * (-d * d / 4.0).exp();
            }
        }
        p
    }

    #[test]
    fn vesselness_sees_dark_lines_not_flat_or_bright() {
        let flat = contrast(&Plane::filled(64, 64, 0.6));
        assert!(inner_mean(&vesselness(&flat)) < 1e-6);
        let line = contrast(&line_image(64, true, 30.0));
        let v = vesselness(&line);
        assert!(
            v.at(30, 32) > 10.0 * v.at(12, 32).max(1e-6),
            "{}",
            v.at(30, 32)
        );
        // A bright line is a ridge, not a vessel.
        let bright = line_image(64, true, 30.0).map(|x| 1.0 - x);
        assert!(vesselness(&contrast(&bright)).at(30, 32) < 1e-4);
    }

    #[test]
    fn explain_removes_a_shared_pattern_and_keeps_an_extra_one() {
        let a = line_image(64, true, 28.0);
        let shared = contrast(&a);
        let e = explain(&shared, &shared);
        assert!(e.r2 > 0.95, "{}", e.r2);
        let mut b = a.clone();
        let extra = line_image(64, false, 36.0);
        b.data
            .iter_mut()
            .zip(&extra.data)
            .for_each(|(x, y)| *x *= y / 0.7);
        let e = explain(&contrast(&b), &shared);
        assert!(e.r2 < 0.8, "{}", e.r2);
        assert!(vesselness(&e.residual).at(32, 36) > 0.01);
    }

    #[test]
    fn tensor_agreement_is_high_for_one_pattern_low_for_crossed_lines() {
        let a = contrast(&line_image(64, true, 30.0));
        let b = contrast(&line_image(64, false, 30.0));
        assert!(tensor_agreement(&a, &a) > 0.99);
        assert!(tensor_agreement(&a, &b) < 0.3);
    }
}

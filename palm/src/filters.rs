//! Image primitives for the engine: a float image plane, resampling, separable blurs and the
//! even-symmetric Gabor bank used by the orientation codes.
//!
//! Everything works on `f32` planes in `[0, 1]` (or normalised, zero-mean values after
//! [`crate::normalize`]), so that decoding details (8-bit, 16-bit, colour) stay at the edge.

use image::GrayImage;

/// A single-channel float image, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

impl Plane {
    /// A plane filled with `value`.
    pub fn filled(w: usize, h: usize, value: f32) -> Self {
        Self {
            w,
            h,
            data: vec![value; w * h],
        }
    }

    /// Converts an 8-bit gray image to `[0, 1]`.
    pub fn from_gray(img: &GrayImage) -> Self {
        let (w, h) = img.dimensions();
        let data = img.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
        Self {
            w: w as usize,
            h: h as usize,
            data,
        }
    }

    /// Back to 8 bits (clamped); used by tests and debugging dumps.
    pub fn to_gray(&self) -> GrayImage {
        let raw = self
            .data
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        GrayImage::from_raw(self.w as u32, self.h as u32, raw).expect("plane dimensions")
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }

    /// Bilinear sample with border replication.
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let x = x.clamp(0.0, (self.w - 1) as f32);
        let y = y.clamp(0.0, (self.h - 1) as f32);
        let x0 = x.floor() as usize;
        let y0 = y.floor() as usize;
        let x1 = (x0 + 1).min(self.w - 1);
        let y1 = (y0 + 1).min(self.h - 1);
        let fx = x - x0 as f32;
        let fy = y - y0 as f32;
        let top = self.at(x0, y0) * (1.0 - fx) + self.at(x1, y0) * fx;
        let bottom = self.at(x0, y1) * (1.0 - fx) + self.at(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    pub fn mean(&self) -> f32 {
        self.data.iter().sum::<f32>() / self.data.len().max(1) as f32
    }

    pub fn std(&self) -> f32 {
        let m = self.mean();
        let var = self.data.iter().map(|v| (v - m) * (v - m)).sum::<f32>()
            / self.data.len().max(1) as f32;
        var.sqrt()
    }

    /// Resamples to `w × h`. When shrinking, the source is box-prefiltered first so that
    /// fine texture does not alias into the lower resolution.
    pub fn resize(&self, w: usize, h: usize) -> Plane {
        let scale = (self.w as f32 / w as f32).max(self.h as f32 / h as f32);
        let src = if scale > 1.5 {
            self.box_blur((scale / 2.0).floor() as usize)
        } else {
            self.clone()
        };
        let sx = self.w as f32 / w as f32;
        let sy = self.h as f32 / h as f32;
        let mut out = Plane::filled(w, h, 0.0);
        for y in 0..h {
            for x in 0..w {
                out.data[y * w + x] =
                    src.sample((x as f32 + 0.5) * sx - 0.5, (y as f32 + 0.5) * sy - 0.5);
            }
        }
        out
    }

    /// Samples a rotated square window: centre `(cx, cy)`, side `side` source pixels, rotation
    /// `angle` (radians, image x towards y), output `out × out`.
    pub fn warp_square(&self, cx: f32, cy: f32, side: f32, angle: f32, out: usize) -> Plane {
        let (s, c) = angle.sin_cos();
        let step = side / out as f32;
        let half = (out as f32 - 1.0) / 2.0;
        let prefilter = (step / 2.0).floor() as usize;
        let src = if prefilter >= 1 {
            self.box_blur(prefilter)
        } else {
            self.clone()
        };
        let mut plane = Plane::filled(out, out, 0.0);
        for v in 0..out {
            for u in 0..out {
                let du = (u as f32 - half) * step;
                let dv = (v as f32 - half) * step;
                let x = cx + du * c - dv * s;
                let y = cy + du * s + dv * c;
                plane.data[v * out + u] = src.sample(x, y);
            }
        }
        plane
    }

    /// Mean over a `(2r+1)²` window clipped to the plane: O(1) per pixel with running sums,
    /// separably (the clipped window is a product of an x-range and a y-range, so its mean is
    /// the mean over rows of the row means). Sums in f64 so that the running add/subtract
    /// does not drift.
    pub fn box_blur(&self, r: usize) -> Plane {
        if r == 0 {
            return self.clone();
        }
        let (w, h) = (self.w, self.h);
        // Horizontal: row means over [x - r, x + r] ∩ [0, w).
        let mut rows = vec![0f64; w * h];
        let mut prefix = vec![0f64; w + 1];
        for y in 0..h {
            let src = &self.data[y * w..(y + 1) * w];
            for (x, &v) in src.iter().enumerate() {
                prefix[x + 1] = prefix[x] + f64::from(v);
            }
            let dst = &mut rows[y * w..(y + 1) * w];
            for (x, d) in dst.iter_mut().enumerate() {
                let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
                *d = (prefix[x1] - prefix[x0]) / (x1 - x0) as f64;
            }
        }
        // Vertical: a running column sum over [y - r, y + r] ∩ [0, h).
        let mut column = vec![0f64; w];
        for row in rows.chunks_exact(w).take(r.min(h)) {
            column.iter_mut().zip(row).for_each(|(c, v)| *c += v);
        }
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            if y + r < h {
                let enter = &rows[(y + r) * w..(y + r + 1) * w];
                column.iter_mut().zip(enter).for_each(|(c, v)| *c += v);
            }
            if y > r {
                let leave = &rows[(y - r - 1) * w..(y - r) * w];
                column.iter_mut().zip(leave).for_each(|(c, v)| *c -= v);
            }
            let n = ((y + r + 1).min(h) - y.saturating_sub(r)) as f64;
            data.extend(column.iter().map(|c| (c / n) as f32));
        }
        Plane { w, h, data }
    }

    /// Approximate Gaussian blur of standard deviation `sigma`: three box passes.
    pub fn gauss_blur(&self, sigma: f32) -> Plane {
        // Three boxes of radius r have variance 3 * ((2r+1)^2 - 1) / 12 = r (r + 1).
        let r = ((sigma * sigma + 0.25).sqrt() - 0.5).round().max(1.0) as usize;
        self.box_blur(r).box_blur(r).box_blur(r)
    }

    /// The plane with `r` pixels of border replication on every side: filters can then run
    /// without bounds tests (pixel `(x, y)` moves to `(x + r, y + r)`).
    pub fn padded(&self, r: usize) -> Plane {
        let (w, h) = (self.w + 2 * r, self.h + 2 * r);
        let mut data = Vec::with_capacity(w * h);
        for y in 0..h {
            let row = &self.data[y.saturating_sub(r).min(self.h - 1) * self.w..][..self.w];
            data.extend(std::iter::repeat_n(row[0], r));
            data.extend_from_slice(row);
            data.extend(std::iter::repeat_n(row[self.w - 1], r));
        }
        Plane { w, h, data }
    }

    /// Element-wise map.
    pub fn map(&self, f: impl Fn(f32) -> f32) -> Plane {
        Plane {
            w: self.w,
            h: self.h,
            data: self.data.iter().map(|&v| f(v)).collect(),
        }
    }
}

/// A Gabor kernel's side, its Gaussian envelope (elongated along the line) and the envelope
/// times `carrier` of the phase across the line, both row-major.
fn gabor_parts(
    theta: f32,
    sigma: f32,
    wavelength: f32,
    carrier: fn(f32) -> f32,
) -> (usize, Vec<f32>, Vec<f32>) {
    let radius = (2.5 * sigma).ceil() as i32;
    let side = (2 * radius + 1) as usize;
    let (s, c) = theta.sin_cos();
    let mut env = Vec::with_capacity(side * side);
    let mut data = Vec::with_capacity(side * side);
    for y in -radius..=radius {
        for x in -radius..=radius {
            let (xf, yf) = (x as f32, y as f32);
            // Distance across the line (normal direction) and along it.
            let across = -xf * s + yf * c;
            let along = xf * c + yf * s;
            let e = (-(across * across + 0.5 * along * along) / (2.0 * sigma * sigma)).exp();
            env.push(e);
            data.push(e * carrier(2.0 * std::f32::consts::PI * across / wavelength));
        }
    }
    (side, env, data)
}

/// Scales `data` to unit L1 norm.
fn unit_l1(data: &mut [f32]) {
    let l1: f32 = data.iter().map(|v| v.abs()).sum();
    data.iter_mut().for_each(|v| *v /= l1);
}

/// A square convolution kernel of odd side.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub side: usize,
    pub data: Vec<f32>,
}

impl Kernel {
    /// Even-symmetric (real) Gabor, zero-DC, unit L1 norm. `theta` is the orientation of the
    /// *line* the filter responds to; `wavelength` and `sigma` are in pixels of the plane it is
    /// applied to. A dark line along `theta` gives a strongly negative response.
    pub fn gabor_even(theta: f32, sigma: f32, wavelength: f32) -> Kernel {
        let (side, env, mut data) = gabor_parts(theta, sigma, wavelength, f32::cos);
        // Remove the DC under the envelope so the kernel ignores uniform brightness.
        let dc = data.iter().sum::<f32>() / env.iter().sum::<f32>();
        data.iter_mut().zip(&env).for_each(|(d, e)| *d -= dc * e);
        unit_l1(&mut data);
        Kernel { side, data }
    }

    /// Odd-symmetric (real) Gabor, the quadrature partner of [`Kernel::gabor_even`] (same
    /// envelope, sine carrier, unit L1 norm): it responds to the *flanks* of a line where the
    /// even filter passes through zero, so `even² + odd²` is a line energy that does not depend
    /// on where exactly the sampling point sits across the line.
    pub fn gabor_odd(theta: f32, sigma: f32, wavelength: f32) -> Kernel {
        let (side, _, mut data) = gabor_parts(theta, sigma, wavelength, f32::sin);
        unit_l1(&mut data);
        Kernel { side, data }
    }

    /// `Σ wᵢ · kernelᵢ` of kernels of one side: a steered filter. Filtering is linear, so one
    /// pass with the combination equals the weighted sum of the individual responses.
    pub fn combine(kernels: &[Kernel], weights: &[f32]) -> Kernel {
        let side = kernels[0].side;
        let mut data = vec![0f32; side * side];
        for (k, &w) in kernels.iter().zip(weights) {
            assert_eq!(k.side, side, "kernels of different sides");
            data.iter_mut().zip(&k.data).for_each(|(d, v)| *d += w * v);
        }
        Kernel { side, data }
    }

    /// Responses of two kernels of the same side at `(cx, cy)` of a plane padded by at least
    /// the kernel radius ([`Plane::padded`]; `(cx, cy)` in padded coordinates, so the window
    /// is always inside). One pass over the window for both: the pixels are read once.
    pub fn apply_pair_inside(
        a: &Kernel,
        b: &Kernel,
        plane: &Plane,
        cx: usize,
        cy: usize,
    ) -> (f32, f32) {
        let side = a.side;
        debug_assert_eq!(side, b.side);
        let r = side / 2;
        let (x0, y0) = (cx - r, cy - r);
        // Eight independent partial sums per kernel: lets the compiler vectorise.
        let (mut la, mut lb) = ([0f32; 8], [0f32; 8]);
        let (mut ta, mut tb) = (0f32, 0f32);
        for ky in 0..side {
            let start = (y0 + ky) * plane.w + x0;
            let row = &plane.data[start..start + side];
            let ka = &a.data[ky * side..(ky + 1) * side];
            let kb = &b.data[ky * side..(ky + 1) * side];
            let mut rc = row.chunks_exact(8);
            let mut ac = ka.chunks_exact(8);
            let mut bc = kb.chunks_exact(8);
            for ((p, u), v) in (&mut rc).zip(&mut ac).zip(&mut bc) {
                for i in 0..8 {
                    la[i] += p[i] * u[i];
                    lb[i] += p[i] * v[i];
                }
            }
            for ((p, u), v) in rc
                .remainder()
                .iter()
                .zip(ac.remainder())
                .zip(bc.remainder())
            {
                ta += p * u;
                tb += p * v;
            }
        }
        (ta + la.iter().sum::<f32>(), tb + lb.iter().sum::<f32>())
    }

    /// Response at pixel `(cx, cy)` of `plane` (border replicated outside).
    pub fn apply_at(&self, plane: &Plane, cx: i32, cy: i32) -> f32 {
        let r = (self.side / 2) as i32;
        let inside =
            cx - r >= 0 && cy - r >= 0 && cx + r < plane.w as i32 && cy + r < plane.h as i32;
        let mut acc = 0.0;
        if inside {
            // Eight independent partial sums: lets the compiler vectorise the f32 reduction.
            let mut lanes = [0f32; 8];
            for ky in 0..self.side {
                let start = (cy - r) as usize * plane.w + ky * plane.w + (cx - r) as usize;
                let row = &plane.data[start..start + self.side];
                let krow = &self.data[ky * self.side..(ky + 1) * self.side];
                let mut rc = row.chunks_exact(8);
                let mut kc = krow.chunks_exact(8);
                for (a, b) in (&mut rc).zip(&mut kc) {
                    for i in 0..8 {
                        lanes[i] += a[i] * b[i];
                    }
                }
                for (a, b) in rc.remainder().iter().zip(kc.remainder()) {
                    acc += a * b;
                }
            }
            acc += lanes.iter().sum::<f32>();
        } else {
            for ky in 0..self.side as i32 {
                let y = (cy - r + ky).clamp(0, plane.h as i32 - 1) as usize;
                for kx in 0..self.side as i32 {
                    let x = (cx - r + kx).clamp(0, plane.w as i32 - 1) as usize;
                    acc += plane.data[y * plane.w + x]
                        * self.data[(ky as usize) * self.side + kx as usize];
                }
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_blur_keeps_constant_and_mean() {
        let p = Plane::filled(20, 10, 0.3);
        let b = p.box_blur(3);
        assert!(b.data.iter().all(|v| (v - 0.3).abs() < 1e-5));
    }

    #[test]
    fn box_blur_is_the_clipped_window_mean() {
        let mut p = Plane::filled(13, 9, 0.0);
        for (i, v) in p.data.iter_mut().enumerate() {
            *v = ((i * 53) % 17) as f32 / 17.0;
        }
        for r in [1usize, 2, 5, 12] {
            let b = p.box_blur(r);
            for y in 0..p.h {
                for x in 0..p.w {
                    let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(p.w));
                    let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(p.h));
                    let mut sum = 0.0;
                    for yy in y0..y1 {
                        for xx in x0..x1 {
                            sum += p.at(xx, yy);
                        }
                    }
                    let want = sum / ((x1 - x0) * (y1 - y0)) as f32;
                    assert!((b.at(x, y) - want).abs() < 1e-5, "r={r} ({x},{y})");
                }
            }
        }
    }

    #[test]
    fn padded_pair_responses_equal_bordered_single_responses() {
        let mut p = Plane::filled(30, 24, 0.0);
        for (i, v) in p.data.iter_mut().enumerate() {
            *v = ((i * 37) % 101) as f32 / 101.0;
        }
        let a = Kernel::gabor_even(0.4, 2.0, 7.0);
        let b = Kernel::gabor_even(1.3, 2.0, 7.0);
        let r = a.side / 2;
        let padded = p.padded(r);
        for (x, y) in [(0usize, 0usize), (3, 20), (15, 12), (29, 23), (28, 1)] {
            let (ra, rb) = Kernel::apply_pair_inside(&a, &b, &padded, x + r, y + r);
            assert!((ra - a.apply_at(&p, x as i32, y as i32)).abs() < 1e-5);
            assert!((rb - b.apply_at(&p, x as i32, y as i32)).abs() < 1e-5);
        }
        let c = Kernel::combine(&[a.clone(), b.clone()], &[0.5, -2.0]);
        let want = 0.5 * a.apply_at(&p, 7, 9) - 2.0 * b.apply_at(&p, 7, 9);
        assert!((c.apply_at(&p, 7, 9) - want).abs() < 1e-5);
    }

    #[test]
    fn gabor_ignores_uniform_light_and_prefers_its_orientation() {
        let k0 = Kernel::gabor_even(0.0, 3.0, 10.0);
        let k90 = Kernel::gabor_even(std::f32::consts::FRAC_PI_2, 3.0, 10.0);
        let flat = Plane::filled(40, 40, 0.7);
        assert!(k0.apply_at(&flat, 20, 20).abs() < 1e-4);
        // A dark horizontal line through the centre.
        let mut line = Plane::filled(40, 40, 0.8);
        for x in 0..40 {
            for y in 19..=21 {
                line.data[y * 40 + x] = 0.2;
            }
        }
        let r0 = k0.apply_at(&line, 20, 20);
        let r90 = k90.apply_at(&line, 20, 20);
        assert!(r0 < r90 && r0 < 0.0, "r0={r0} r90={r90}");
    }
}

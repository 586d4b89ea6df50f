//! Float rasters and the few image operations the generator needs: bilinear lookup, a fast
//! Gaussian approximation (three box passes, O(1) per pixel whatever the radius) and smooth
//! value noise. Everything is `f32` in [0, 1]-ish units until the sensor quantises.

use rand::Rng;

/// A single-channel float image, row-major.
#[derive(Debug, Clone)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn new(width: usize, height: usize, value: f32) -> Self {
        Self {
            width,
            height,
            data: vec![value; width * height],
        }
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    #[inline]
    pub fn at_mut(&mut self, x: usize, y: usize) -> &mut f32 {
        &mut self.data[y * self.width + x]
    }

    /// Bilinear lookup at pixel coordinates (pixel centres at integers), clamped at the border.
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let max_x = (self.width - 1) as f32;
        let max_y = (self.height - 1) as f32;
        let x = x.clamp(0.0, max_x);
        let y = y.clamp(0.0, max_y);
        let x0 = x.floor() as usize;
        let y0 = y.floor() as usize;
        let x1 = (x0 + 1).min(self.width - 1);
        let y1 = (y0 + 1).min(self.height - 1);
        let fx = x - x0 as f32;
        let fy = y - y0 as f32;
        let top = self.at(x0, y0) + (self.at(x1, y0) - self.at(x0, y0)) * fx;
        let bottom = self.at(x0, y1) + (self.at(x1, y1) - self.at(x0, y1)) * fx;
        top + (bottom - top) * fy
    }

    /// In-place Gaussian blur approximated by three box blurs (error < 3% of the kernel).
    pub fn blur(&mut self, sigma: f32) {
        if sigma < 0.2 {
            return;
        }
        for radius in box_radii(sigma) {
            if radius == 0 {
                continue;
            }
            box_pass(&mut self.data, self.width, self.height, radius, true);
            box_pass(&mut self.data, self.width, self.height, radius, false);
        }
    }

    /// Averages `factor`×`factor` blocks (anti-aliased downsampling of a supersampled render).
    pub fn downsample(&self, factor: usize) -> Plane {
        let w = self.width / factor;
        let h = self.height / factor;
        let mut out = Plane::new(w, h, 0.0);
        let norm = 1.0 / (factor * factor) as f32;
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for dy in 0..factor {
                    let row = (y * factor + dy) * self.width + x * factor;
                    acc += self.data[row..row + factor].iter().sum::<f32>();
                }
                *out.at_mut(x, y) = acc * norm;
            }
        }
        out
    }
}

/// Box radii whose three-fold convolution approximates a Gaussian of `sigma` (Kovesi 2010).
fn box_radii(sigma: f32) -> [usize; 3] {
    let n = 3.0f32;
    let w_ideal = (12.0 * sigma * sigma / n + 1.0).sqrt();
    let mut wl = w_ideal.floor() as i32;
    if wl % 2 == 0 {
        wl -= 1;
    }
    let wu = wl + 2;
    let wl_f = wl as f32;
    let m_ideal =
        (12.0 * sigma * sigma - n * wl_f * wl_f - 4.0 * n * wl_f - 3.0 * n) / (-4.0 * wl_f - 4.0);
    let m = m_ideal.round() as i32;
    let mut out = [0usize; 3];
    for (i, r) in out.iter_mut().enumerate() {
        let w = if (i as i32) < m { wl } else { wu };
        *r = ((w - 1) / 2).max(0) as usize;
    }
    out
}

/// One running-sum box blur along rows (`horizontal`) or columns, edges clamped.
fn box_pass(data: &mut [f32], width: usize, height: usize, radius: usize, horizontal: bool) {
    let (len, lines, stride, step) = if horizontal {
        (width, height, width, 1)
    } else {
        (height, width, 1, width)
    };
    let norm = 1.0 / (2 * radius + 1) as f32;
    let mut line = vec![0.0f32; len];
    for l in 0..lines {
        let base = l * stride;
        for (i, v) in line.iter_mut().enumerate() {
            *v = data[base + i * step];
        }
        let get = |i: isize| line[i.clamp(0, len as isize - 1) as usize];
        let r = radius as isize;
        let mut acc: f32 = (-r..=r).map(get).sum();
        for i in 0..len as isize {
            data[base + i as usize * step] = acc * norm;
            acc += get(i + r + 1) - get(i - r);
        }
    }
}

/// Smooth value noise (bilinear-smoothstep lattice) over a `width`×`height` raster, summed over
/// `octaves` halving cell sizes starting at `cell` pixels, amplitude halving; roughly in [-1, 1].
pub fn value_noise<R: Rng>(
    rng: &mut R,
    width: usize,
    height: usize,
    cell: f32,
    octaves: u32,
) -> Plane {
    let mut out = Plane::new(width, height, 0.0);
    let mut cell = cell.max(1.0);
    let mut amp = 1.0f32;
    let mut total = 0.0f32;
    for _ in 0..octaves {
        let gw = (width as f32 / cell).ceil() as usize + 2;
        let gh = (height as f32 / cell).ceil() as usize + 2;
        let lattice: Vec<f32> = (0..gw * gh).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let inv = 1.0 / cell;
        for y in 0..height {
            let gy = y as f32 * inv;
            let y0 = gy as usize;
            let ty = smoothstep(gy - y0 as f32);
            for x in 0..width {
                let gx = x as f32 * inv;
                let x0 = gx as usize;
                let tx = smoothstep(gx - x0 as f32);
                let i = y0 * gw + x0;
                let top = lattice[i] + (lattice[i + 1] - lattice[i]) * tx;
                let bot = lattice[i + gw] + (lattice[i + gw + 1] - lattice[i + gw]) * tx;
                out.data[y * width + x] += amp * (top + (bot - top) * ty);
            }
        }
        total += amp;
        amp *= 0.5;
        cell *= 0.5;
        if cell < 1.0 {
            break;
        }
    }
    let norm = 1.0 / total;
    out.data.iter_mut().for_each(|v| *v *= norm);
    out
}

/// The palm-space canvas: hand coordinates in "units" (the unposed ROI spans [-1, 1]², x towards
/// the thumb, y towards the wrist) mapped to raster pixels.
#[derive(Debug, Clone, Copy)]
pub struct Canvas {
    /// Half-width of the canvas in units; larger than the ROI so posed crops stay on skin.
    pub extent: f32,
    pub px_per_unit: f32,
    pub size: usize,
}

impl Canvas {
    pub fn new(extent: f32, px_per_unit: f32) -> Self {
        Self {
            extent,
            px_per_unit,
            size: (2.0 * extent * px_per_unit).round() as usize,
        }
    }

    /// Units → pixel coordinates (pixel centres at integers).
    #[inline]
    pub fn to_px(self, u: f32) -> f32 {
        (u + self.extent) * self.px_per_unit - 0.5
    }

    /// Pixel index → units.
    #[inline]
    pub fn to_unit(self, px: usize) -> f32 {
        (px as f32 + 0.5) / self.px_per_unit - self.extent
    }

    pub fn plane(&self, value: f32) -> Plane {
        Plane::new(self.size, self.size, value)
    }
}

/// A lattice of random values in [−1, 1], smoothly interpolated at any point (cell units).
pub struct Lattice {
    width: usize,
    height: usize,
    values: Vec<f32>,
}

impl Lattice {
    pub fn new<R: Rng>(rng: &mut R, width: usize, height: usize) -> Self {
        let (width, height) = (width.max(2), height.max(2));
        Self {
            width,
            height,
            values: (0..width * height)
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect(),
        }
    }

    /// Smoothstep-interpolated value at (x, y) in cell units, clamped to the lattice.
    #[inline]
    pub fn at(&self, x: f32, y: f32) -> f32 {
        let x = x.clamp(0.0, (self.width - 2) as f32);
        let y = y.clamp(0.0, (self.height - 2) as f32);
        let (x0, y0) = (x as usize, y as usize);
        let (tx, ty) = (smoothstep(x - x0 as f32), smoothstep(y - y0 as f32));
        let i = y0 * self.width + x0;
        let v = &self.values;
        let top = v[i] + (v[i + 1] - v[i]) * tx;
        let bottom = v[i + self.width] + (v[i + self.width + 1] - v[i + self.width]) * tx;
        top + (bottom - top) * ty
    }
}

#[inline]
pub fn smoothstep(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_preserves_mean_and_spreads_an_impulse_like_a_gaussian() {
        let mut p = Plane::new(101, 101, 0.0);
        *p.at_mut(50, 50) = 1.0;
        p.blur(4.0);
        let total: f32 = p.data.iter().sum();
        assert!((total - 1.0).abs() < 1e-3);
        // Variance along x of the blurred impulse ≈ sigma².
        let var: f32 = (0..101)
            .flat_map(|y| (0..101).map(move |x| (x, y)))
            .map(|(x, y)| p.at(x, y) * (x as f32 - 50.0).powi(2))
            .sum();
        assert!((var.sqrt() - 4.0).abs() < 0.4, "sigma {}", var.sqrt());
    }

    #[test]
    fn bilinear_sampling_interpolates() {
        let mut p = Plane::new(2, 2, 0.0);
        *p.at_mut(1, 0) = 1.0;
        *p.at_mut(1, 1) = 1.0;
        assert!((p.sample(0.25, 0.5) - 0.25).abs() < 1e-6);
        assert_eq!(p.sample(-5.0, 9.0), 0.0);
    }
}

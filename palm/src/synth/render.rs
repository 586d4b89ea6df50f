//! The simulated sensor: looks at an identity's anatomy under one sample's acquisition
//! conditions and produces the ROI images a capture device would deliver.
//!
//! Per ROI pixel (2× supersampled): ROI point → posed, deformed skin point → anatomy lookup.
//! The visible image shades the skin relief and creases with the sample's light (creases are
//! grooves, so their look depends on the light direction) and darkens crease floors; the NIR
//! image attenuates diffusely reflected 850 nm light by blood absorption (`exp(−μ·A)`), keeps
//! only a faint trace of the creases, and is lit by a ring of LEDs (bright centre). Then:
//! illumination gradient, optics blur, signal-dependent + read noise, gamma, 8-bit output.

use image::GrayImage;
use rand::Rng;
use rand_distr::StandardNormal;

use super::acquisition::{Acquisition, Lighting, Sensor};
use super::raster::{Canvas, Plane};
use super::skin::SkinMaps;
use super::vessels::VeinMaps;

/// Supersampling factor of the rendered surface before the sensor integrates pixels.
const SUPERSAMPLE: usize = 2;
/// Crease depth (units) at which the crease floor reaches full darkening.
const CREASE_REFERENCE: f32 = 0.03;

/// Channels of the packed anatomy raster.
const RELIEF: usize = 0;
const CREASES: usize = 1;
const TEXTURE: usize = 2;
const ALBEDO: usize = 3;
const SHALLOW: usize = 4;
const DEEP: usize = 5;
const TISSUE: usize = 6;
const CHANNELS: usize = 8;

/// An identity's anatomy as the renderer sees it: all canvas maps interleaved per pixel, so one
/// bilinear lookup fetches everything a ROI pixel needs from four neighbouring cache lines.
#[derive(Debug, Clone)]
pub struct Anatomy {
    canvas: Canvas,
    texels: Vec<[f32; CHANNELS]>,
    /// −1 for a left hand (mirror image of the right-hand model), +1 for a right hand.
    handedness: f32,
}

impl Anatomy {
    pub fn new(canvas: Canvas, skin: &SkinMaps, veins: &VeinMaps, left_hand: bool) -> Self {
        let maps = [
            (RELIEF, &skin.relief),
            (CREASES, &skin.creases),
            (TEXTURE, &skin.texture),
            (ALBEDO, &skin.albedo),
            (SHALLOW, &veins.shallow),
            (DEEP, &veins.deep),
            (TISSUE, &veins.tissue),
        ];
        let mut texels = vec![[0.0; CHANNELS]; canvas.size * canvas.size];
        for (channel, plane) in maps {
            for (t, &v) in texels.iter_mut().zip(&plane.data) {
                t[channel] = v;
            }
        }
        Self {
            canvas,
            texels,
            handedness: if left_hand { -1.0 } else { 1.0 },
        }
    }

    /// Bilinear lookup of all channels at a skin point (palm units, right-hand model).
    #[inline]
    fn lookup(&self, q: [f32; 2]) -> [f32; CHANNELS] {
        let n = self.canvas.size;
        let max = (n - 2) as f32;
        let x = self.canvas.to_px(self.handedness * q[0]).clamp(0.0, max);
        let y = self.canvas.to_px(q[1]).clamp(0.0, max);
        let (x0, y0) = (x as usize, y as usize);
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let i = y0 * n + x0;
        let (a, b, c, d) = (
            &self.texels[i],
            &self.texels[i + 1],
            &self.texels[i + n],
            &self.texels[i + n + 1],
        );
        let mut out = [0.0; CHANNELS];
        for k in 0..CHANNELS {
            let top = a[k] + (b[k] - a[k]) * fx;
            let bottom = c[k] + (d[k] - c[k]) * fx;
            out[k] = top + (bottom - top) * fy;
        }
        out
    }
}

/// Scene radiance at output resolution before illumination gradients and the sensor.
pub struct Radiance {
    pub print: Plane,
    pub vein: Plane,
}

/// Cells per side of the grid on which the (smooth) pose + deformation map is evaluated exactly;
/// pixels in between interpolate it bilinearly.
const WARP_GRID: usize = 16;

/// Skin points of a `m`×`m` supersampled ROI grid, from the exact map on a coarse grid.
fn skin_points(acq: &Acquisition, m: usize) -> Vec<[f32; 2]> {
    let g = WARP_GRID;
    let to_roi = |k: f32| k / m as f32 * 2.0 - 1.0;
    let nodes: Vec<[f32; 2]> = (0..=g)
        .flat_map(|j| (0..=g).map(move |i| (i, j)))
        .map(|(i, j)| {
            let u = to_roi((i * m) as f32 / g as f32);
            let v = to_roi((j * m) as f32 / g as f32);
            acq.skin_point([u, v])
        })
        .collect();
    let cell = m as f32 / g as f32;
    let mut out = Vec::with_capacity(m * m);
    for j in 0..m {
        let gy = ((j as f32 + 0.5) / cell).min(g as f32 - 1e-3);
        let (j0, ty) = (gy as usize, gy.fract());
        for i in 0..m {
            let gx = ((i as f32 + 0.5) / cell).min(g as f32 - 1e-3);
            let (i0, tx) = (gx as usize, gx.fract());
            let k = j0 * (g + 1) + i0;
            let (a, b, c, d) = (nodes[k], nodes[k + 1], nodes[k + g + 1], nodes[k + g + 2]);
            let mut q = [0.0; 2];
            for (axis, value) in q.iter_mut().enumerate() {
                let top = a[axis] + (b[axis] - a[axis]) * tx;
                let bottom = c[axis] + (d[axis] - c[axis]) * tx;
                *value = top + (bottom - top) * ty;
            }
            out.push(q);
        }
    }
    out
}

/// Renders the palm surface seen through the ROI crop: visible and NIR radiance.
pub fn surface(anatomy: &Anatomy, acq: &Acquisition, roi: usize) -> Radiance {
    let m = roi * SUPERSAMPLE;
    let mut height = Plane::new(m, m, 0.0);
    let mut albedo = Plane::new(m, m, 0.0);
    let mut nir = Plane::new(m, m, 0.0);
    let cv = acq.crease_visibility;
    let mu = acq.vein_contrast;
    for (index, q) in skin_points(acq, m).into_iter().enumerate() {
        let t = anatomy.lookup(q);
        let relief = t[RELIEF];
        let crease = t[CREASES] * cv;
        let fine = t[TEXTURE] * cv;
        let floor = ((crease + fine) / CREASE_REFERENCE).min(1.5);
        let mut h = relief - crease - fine;
        let mut a = t[ALBEDO] * (1.0 - 0.36 * floor);
        let absorption = 1.1 * t[SHALLOW] + 0.7 * t[DEEP];
        let mut r =
            0.72 * (1.0 + 0.08 * t[TISSUE]) * (1.0 - 0.07 * floor) * (-mu * absorption).exp();
        if let Some(band) = &acq.band_aid {
            let (cover, pad, local) = band.cover(q);
            if cover > 0.0 {
                // Fabric strip with perforations; the pad is plain and lighter.
                let holes = if pad {
                    0.0
                } else {
                    let fx = (local[0] / 0.09).rem_euclid(1.0) - 0.5;
                    let fy = (local[1] / 0.09).rem_euclid(1.0) - 0.5;
                    (1.0 - (fx * fx + fy * fy) / 0.04).max(0.0)
                };
                let tone = if pad { band.pad_tone } else { band.strip_tone };
                h += (relief + 0.012 - h) * cover;
                a += (tone * (1.0 - 0.35 * holes) - a) * cover;
                // Fabric scatters 850 nm strongly: brighter than skin, no vessels.
                r += (0.95 * tone.powf(0.3) * (1.0 - 0.1 * holes) - r) * cover;
            }
        }
        height.data[index] = h;
        albedo.data[index] = a;
        nir.data[index] = r;
    }
    // One supersampled pixel spans 2/m ROI units = 2/(m·scale) palm units.
    let spacing = 2.0 / (m as f32 * acq.pose.scale);
    let (print, vein) = shade(
        &height,
        [&albedo, &nir],
        spacing,
        [&acq.print_light, &acq.vein_light],
    );
    Radiance {
        print: print.downsample(SUPERSAMPLE),
        vein: vein.downsample(SUPERSAMPLE),
    }
}

/// Lambertian + weak specular shading of one height field under two lights (visible, NIR),
/// each with its own reflectance; a flat surface keeps its reflectance.
fn shade(
    height: &Plane,
    reflectance: [&Plane; 2],
    spacing: f32,
    lights: [&Lighting; 2],
) -> (Plane, Plane) {
    let (w, h) = (height.width, height.height);
    let halves = lights.map(|l| {
        let d = l.direction;
        super::acquisition::unit([d[0], d[1], d[2] + 1.0])
    });
    let mut out = [Plane::new(w, h, 0.0), Plane::new(w, h, 0.0)];
    let inv = 0.5 / spacing;
    for y in 0..h {
        let (ym, yp) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            let (xm, xp) = (x.saturating_sub(1), (x + 1).min(w - 1));
            let gx = (height.at(xp, y) - height.at(xm, y)) * inv;
            let gy = (height.at(x, yp) - height.at(x, ym)) * inv;
            let norm = 1.0 / (gx * gx + gy * gy + 1.0).sqrt();
            let n = [-gx * norm, -gy * norm, norm];
            for k in 0..2 {
                let (light, l) = (lights[k], lights[k].direction);
                let diffuse = (n[0] * l[0] + n[1] * l[1] + n[2] * l[2]).max(0.0) / l[2];
                let mut v =
                    reflectance[k].at(x, y) * (light.ambient + (1.0 - light.ambient) * diffuse);
                if light.specular > 0.0 {
                    let hv = halves[k];
                    v += light.specular
                        * (n[0] * hv[0] + n[1] * hv[1] + n[2] * hv[2])
                            .max(0.0)
                            .powi(24);
                }
                *out[k].at_mut(x, y) = v;
            }
        }
    }
    let [print, vein] = out;
    (print, vein)
}

/// The camera: illumination gradient, optics blur, photon + read noise, gamma, 8 bits.
/// `pixel_scale` converts the sensor's blur (given for a 128-pixel ROI) to this ROI size.
pub fn expose<R: Rng>(
    mut radiance: Plane,
    light: &Lighting,
    sensor: &Sensor,
    pixel_scale: f32,
    rng: &mut R,
) -> GrayImage {
    let (w, h) = (radiance.width, radiance.height);
    for y in 0..h {
        let v = (y as f32 + 0.5) / h as f32 * 2.0 - 1.0;
        for x in 0..w {
            let u = (x as f32 + 0.5) / w as f32 * 2.0 - 1.0;
            let gain = light.exposure
                * (1.0 + light.gradient[0] * u + light.gradient[1] * v)
                * (1.0 - light.falloff * 0.5 * (u * u + v * v));
            *radiance.at_mut(x, y) *= gain.max(0.05);
        }
    }
    radiance.blur(sensor.blur * pixel_scale);
    let mut out = GrayImage::new(w as u32, h as u32);
    for (px, &s) in out.pixels_mut().zip(&radiance.data) {
        let s = s.max(0.0);
        let z: f32 = rng.sample(StandardNormal);
        let noisy = s + z * (sensor.shot * s + sensor.read * sensor.read).sqrt();
        let v = noisy.clamp(0.0, 1.0).powf(sensor.gamma);
        px[0] = (v * 255.0).round() as u8;
    }
    out
}

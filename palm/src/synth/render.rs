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
use super::hand::{hash_noise, HandShape};
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
    /// Mean skin reflectance of the palm, used for the procedural finger skin.
    tone: f32,
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
        let tone = skin.albedo.data.iter().sum::<f32>() / skin.albedo.data.len() as f32;
        Self {
            canvas,
            texels,
            handedness: if left_hand { -1.0 } else { 1.0 },
            tone,
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

/// A square window of the camera frame (frame units: the unposed ROI is [−1, 1]²).
#[derive(Debug, Clone, Copy)]
struct View {
    origin: [f32; 2],
    span: f32,
    pixels: usize,
}

/// Skin points of a view's pixel grid, from the exact map on a coarse grid.
fn skin_points(acq: &Acquisition, view: View) -> Vec<[f32; 2]> {
    let g = WARP_GRID;
    let m = view.pixels;
    let to_frame = |k: f32, origin: f32| origin + k / m as f32 * view.span;
    let nodes: Vec<[f32; 2]> = (0..=g)
        .flat_map(|j| (0..=g).map(move |i| (i, j)))
        .map(|(i, j)| {
            let u = to_frame((i * m) as f32 / g as f32, view.origin[0]);
            let v = to_frame((j * m) as f32 / g as f32, view.origin[1]);
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

/// Height, visible reflectance and NIR reflectance of one surface point.
#[derive(Debug, Clone, Copy)]
struct Material {
    height: f32,
    /// The large-scale relief included in `height` (mounds), for blending with finger skin.
    relief: f32,
    albedo: f32,
    nir: f32,
}

/// The palm's surface at skin point `q` under the sample's conditions (band-aid included).
#[inline]
fn palm_material(anatomy: &Anatomy, acq: &Acquisition, q: [f32; 2]) -> Material {
    let t = anatomy.lookup(q);
    let relief = t[RELIEF];
    let crease = t[CREASES] * acq.crease_visibility;
    let fine = t[TEXTURE] * acq.crease_visibility;
    let floor = ((crease + fine) / CREASE_REFERENCE).min(1.5);
    let mut h = relief - crease - fine;
    let mut a = t[ALBEDO] * (1.0 - 0.5 * floor);
    let absorption = 1.1 * t[SHALLOW] + 0.7 * t[DEEP];
    let mut r = 0.72
        * (1.0 + 0.08 * t[TISSUE])
        * (1.0 - 0.07 * floor)
        * (-acq.vein_contrast * absorption).exp();
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
    Material {
        height: h,
        relief,
        albedo: a,
        nir: r,
    }
}

/// Shades a view's materials under the sample's two lights; `factor` is the supersampling.
fn finish(materials: &[Material], view: View, acq: &Acquisition, factor: usize) -> Radiance {
    let m = view.pixels;
    let mut planes = [
        Plane::new(m, m, 0.0),
        Plane::new(m, m, 0.0),
        Plane::new(m, m, 0.0),
    ];
    for (i, mat) in materials.iter().enumerate() {
        planes[0].data[i] = mat.height;
        planes[1].data[i] = mat.albedo;
        planes[2].data[i] = mat.nir;
    }
    let spacing = view.span / (m as f32 * acq.pose.scale);
    let (print, vein) = shade(
        &planes[0],
        [&planes[1], &planes[2]],
        spacing,
        [&acq.print_light, &acq.vein_light],
    );
    if factor == 1 {
        return Radiance { print, vein };
    }
    Radiance {
        print: print.downsample(factor),
        vein: vein.downsample(factor),
    }
}

/// Renders the palm surface seen through the ROI crop: visible and NIR radiance.
pub fn surface(anatomy: &Anatomy, acq: &Acquisition, roi: usize) -> Radiance {
    let view = View {
        origin: [-1.0, -1.0],
        span: 2.0,
        pixels: roi * SUPERSAMPLE,
    };
    let materials: Vec<Material> = skin_points(acq, view)
        .into_iter()
        .map(|q| palm_material(anatomy, acq, q))
        .collect();
    finish(&materials, view, acq, SUPERSAMPLE)
}

/// The camera frame of a whole-hand photo: 9×9 units around the palm and fingers.
pub const HAND_FRAME_ORIGIN: [f32; 2] = [-4.5, -5.9];
pub const HAND_FRAME_SPAN: f32 = 9.0;

/// Renders the whole hand (posed like the ROI sample) on a dark background, `size`² pixels.
pub fn hand_surface(
    anatomy: &Anatomy,
    hand: &HandShape,
    acq: &Acquisition,
    size: usize,
    finger_seed: u64,
) -> Radiance {
    let view = View {
        origin: HAND_FRAME_ORIGIN,
        span: HAND_FRAME_SPAN,
        pixels: size,
    };
    let edge = 1.2 * HAND_FRAME_SPAN / size as f32;
    let background = Material {
        height: 0.0,
        relief: 0.0,
        albedo: 0.03,
        nir: 0.02,
    };
    let materials: Vec<Material> = skin_points(acq, view)
        .into_iter()
        .map(|q| {
            let model = [anatomy.handedness * q[0], q[1]];
            let at = hand.locate(model, edge);
            if at.inside <= 0.0 {
                return background;
            }
            let grain = 0.06 * hash_noise([q[0] * 3.0, q[1] * 3.0], finger_seed)
                + 0.03 * hash_noise([q[0] * 12.0, q[1] * 12.0], finger_seed ^ 1);
            let floor = (at.crease / CREASE_REFERENCE).min(1.5);
            let finger = Material {
                height: -at.crease,
                relief: 0.0,
                albedo: anatomy.tone * (1.0 + grain) * (1.0 - 0.5 * floor),
                nir: 0.72 * (1.0 + grain) * (1.0 - 0.07 * floor),
            };
            let skin = if at.palm > 0.0 {
                let palm = palm_material(anatomy, acq, q);
                let w = at.palm;
                // The palm's mounds flatten out towards the fingers and the wrist.
                Material {
                    height: (palm.height - palm.relief * (1.0 - w)) * w + finger.height * (1.0 - w),
                    relief: 0.0,
                    albedo: palm.albedo * w + finger.albedo * (1.0 - w),
                    nir: palm.nir * w + finger.nir * (1.0 - w),
                }
            } else {
                finger
            };
            // The surface curves away at the outline: raised centre, darker rim.
            let c = at.inside;
            Material {
                height: (skin.height + 0.3 * at.rim) * c,
                relief: 0.0,
                albedo: (skin.albedo * (0.7 + 0.3 * at.rim) - background.albedo) * c
                    + background.albedo,
                nir: (skin.nir * (0.6 + 0.4 * at.rim) - background.nir) * c + background.nir,
            }
        })
        .collect();
    finish(&materials, view, acq, 1)
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

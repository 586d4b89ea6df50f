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

/// An identity's anatomy as the renderer sees it.
pub struct Anatomy<'a> {
    pub canvas: &'a Canvas,
    pub skin: &'a SkinMaps,
    pub veins: &'a VeinMaps,
    /// −1 for a left hand (mirror image of the right-hand model), +1 for a right hand.
    pub handedness: f32,
}

/// Scene radiance at output resolution before illumination gradients and the sensor.
pub struct Radiance {
    pub print: Plane,
    pub vein: Plane,
}

/// Renders the palm surface seen through the ROI crop: visible and NIR radiance.
pub fn surface(anatomy: &Anatomy, acq: &Acquisition, roi: usize) -> Radiance {
    let m = roi * SUPERSAMPLE;
    let mut height = Plane::new(m, m, 0.0);
    let mut albedo = Plane::new(m, m, 0.0);
    let mut nir = Plane::new(m, m, 0.0);
    let (skin, veins, canvas) = (anatomy.skin, anatomy.veins, anatomy.canvas);
    let cv = acq.crease_visibility;
    let mu = acq.vein_contrast;
    for j in 0..m {
        let v = (j as f32 + 0.5) / m as f32 * 2.0 - 1.0;
        for i in 0..m {
            let u = (i as f32 + 0.5) / m as f32 * 2.0 - 1.0;
            let q = acq.skin_point([u, v]);
            let x = canvas.to_px(anatomy.handedness * q[0]);
            let y = canvas.to_px(q[1]);
            let relief = skin.relief.sample(x, y);
            let crease = skin.creases.sample(x, y) * cv;
            let fine = skin.texture.sample(x, y) * cv;
            let floor = ((crease + fine) / CREASE_REFERENCE).min(1.5);
            let mut h = relief - crease - fine;
            let mut a = skin.albedo.sample(x, y) * (1.0 - 0.28 * floor);
            let absorption = 1.1 * veins.shallow.sample(x, y) + 0.7 * veins.deep.sample(x, y);
            let mut r = 0.72
                * (1.0 + 0.08 * veins.tissue.sample(x, y))
                * (1.0 - 0.07 * floor)
                * (-mu * absorption).exp();
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
                    r += (0.8 * tone.sqrt() * (1.0 - 0.1 * holes) - r) * cover;
                }
            }
            *height.at_mut(i, j) = h;
            *albedo.at_mut(i, j) = a;
            *nir.at_mut(i, j) = r;
        }
    }
    // One supersampled pixel spans 2/m ROI units = 2/(m·scale) palm units.
    let spacing = 2.0 / (m as f32 * acq.pose.scale);
    let print = shade(&height, &albedo, spacing, &acq.print_light);
    let vein = shade(&height, &nir, spacing, &acq.vein_light);
    Radiance {
        print: print.downsample(SUPERSAMPLE),
        vein: vein.downsample(SUPERSAMPLE),
    }
}

/// Lambertian + weak specular shading of a height field; a flat surface keeps its albedo.
fn shade(height: &Plane, albedo: &Plane, spacing: f32, light: &Lighting) -> Plane {
    let (w, h) = (height.width, height.height);
    let l = light.direction;
    let half = super::acquisition::unit([l[0], l[1], l[2] + 1.0]);
    let mut out = Plane::new(w, h, 0.0);
    let inv = 0.5 / spacing;
    for y in 0..h {
        let (ym, yp) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            let (xm, xp) = (x.saturating_sub(1), (x + 1).min(w - 1));
            let gx = (height.at(xp, y) - height.at(xm, y)) * inv;
            let gy = (height.at(x, yp) - height.at(x, ym)) * inv;
            let norm = 1.0 / (gx * gx + gy * gy + 1.0).sqrt();
            let n = [-gx * norm, -gy * norm, norm];
            let diffuse = (n[0] * l[0] + n[1] * l[1] + n[2] * l[2]).max(0.0) / l[2];
            let spec = (n[0] * half[0] + n[1] * half[1] + n[2] * half[2])
                .max(0.0)
                .powi(24);
            *out.at_mut(x, y) = albedo.at(x, y) * (light.ambient + (1.0 - light.ambient) * diffuse)
                + light.specular * spec;
        }
    }
    out
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

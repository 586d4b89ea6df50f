//! Synthetic palm-print + palm-vein generator: realistic stand-in data for a sensor we do not
//! have.
//!
//! An [`Identity`] is one palm: a surface (relief, principal creases with personal shape,
//! secondary creases, wrinkles, flexion texture, skin tone and pores) and a subcutaneous vessel
//! network grown by space colonisation with Murray's-law radii. Both are rendered once on a
//! palm canvas larger than the ROI. A sample is one capture of that palm: the palm is posed in
//! the ROI crop (rotation, shift, scale, see [`acquisition`]), its skin is stretched, lit,
//! blurred and imaged with sensor noise; a few percent of samples carry a band-aid. The visible
//! image shows the creases by shading; the 850 nm image shows dark, blurred, low-contrast
//! vessels under unevenly lit skin with the creases faintly visible.
//!
//! Everything is deterministic from (seed, identity, sample), with an independent random
//! stream per purpose (see [`rng`]), so a sample can be regenerated alone (the simulated
//! sensor does that) and anatomy never leaks into per-sample noise.

pub mod acquisition;
mod attack;
mod generate;
mod hand;
mod raster;
mod render;
pub mod rng;
mod skin;
mod strokes;
#[cfg(test)]
mod tests;
mod vessels;

pub use acquisition::{Acquisition, Pose};
pub use generate::{run_command, write_dataset, DatasetSpec, GenerationSummary};

use crate::capture::Capture;
use raster::Canvas;
use render::Anatomy;
use rng::{stream, Purpose};

/// Generator settings shared by all identities of a dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthConfig {
    /// Side of the square ROI images in pixels (real ROI datasets use about 128).
    pub roi_size: u32,
    /// Probability that a sample has a band-aid on the palm.
    pub band_aid_rate: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            roi_size: 128,
            band_aid_rate: 0.03,
        }
    }
}

/// Half-width of the palm canvas in palm units (the unposed ROI is [−1, 1]²): large enough for
/// the worst pose (rotation, shift, zoom-out) plus skin deformation.
const CANVAS_EXTENT: f32 = 2.0;

/// One synthetic palm (a person's hand) with its rendered anatomy.
#[derive(Debug, Clone)]
pub struct Identity {
    seed: u64,
    id: u64,
    config: SynthConfig,
    anatomy: Anatomy,
    hand: hand::HandShape,
}

/// A generated sample together with the conditions it was captured under.
#[derive(Debug, Clone)]
pub struct SyntheticSample {
    pub capture: Capture,
    pub acquisition: Acquisition,
}

impl Identity {
    /// Palm `id` of the synthetic population `seed`, with the default configuration.
    pub fn new(seed: u64, id: u64) -> Self {
        Self::with_config(seed, id, SynthConfig::default())
    }

    pub fn with_config(seed: u64, id: u64, config: SynthConfig) -> Self {
        // Canvas resolution slightly above the ROI's so lookups stay sharp after the pose.
        let px_per_unit = config.roi_size as f32 / 2.0 * 1.25;
        let canvas = Canvas::new(CANVAS_EXTENT, px_per_unit);
        let mut rng = stream(seed, Purpose::Anatomy, id, 0);
        let left_hand = rand::Rng::gen_bool(&mut rng, 0.5);
        let skin = skin::render(&mut rng, &canvas);
        let veins = vessels::render(&mut stream(seed, Purpose::Vessels, id, 0), &canvas);
        Self {
            seed,
            id,
            config,
            anatomy: Anatomy::new(canvas, &skin, &veins, left_hand),
            hand: hand::HandShape::draw(&mut stream(seed, Purpose::HandShape, id, 0)),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn config(&self) -> &SynthConfig {
        &self.config
    }

    /// The acquisition conditions of sample `index` (pose, light, sensor, band-aid).
    pub fn acquisition(&self, index: u32) -> Acquisition {
        let mut rng = stream(self.seed, Purpose::Acquisition, self.id, index as u64);
        Acquisition::draw(&mut rng, self.config.band_aid_rate)
    }

    /// Capture number `index` of this palm: a paired visible + NIR ROI.
    pub fn sample(&self, index: u32) -> Capture {
        self.sample_with_conditions(index).capture
    }

    /// Like [`Identity::sample`], also returning the acquisition conditions.
    pub fn sample_with_conditions(&self, index: u32) -> SyntheticSample {
        let acquisition = self.acquisition(index);
        let capture = self.render(&acquisition, index);
        SyntheticSample {
            capture,
            acquisition,
        }
    }

    /// Whole-hand photo number `index` (`4 × roi_size` pixels square): the same capture as
    /// [`Identity::sample`] seen through the sensor's full field of view, so the palm ROI must
    /// be found from the finger valleys (see `hand.rs` for where the ROI lies relative to them).
    pub fn hand_photo(&self, index: u32) -> Capture {
        let acquisition = self.acquisition(index);
        let mut posture = stream(self.seed, Purpose::HandPosture, self.id, index as u64);
        let spread = rand::Rng::gen_range(&mut posture, 0.02..0.2f32);
        let thumb_open = rand::Rng::gen_range(&mut posture, -0.15..0.25f32);
        let hand = self.hand.posture(spread, thumb_open);
        let size = 4 * self.config.roi_size as usize;
        let radiance = render::hand_surface(
            &self.anatomy,
            &hand,
            &acquisition,
            size,
            self.seed ^ self.id,
        );
        // Blur and noise are specified for a 128-pixel ROI (64 px per palm unit).
        let px_per_unit = size as f32 / render::HAND_FRAME_SPAN;
        self.expose(radiance, &acquisition, index, px_per_unit / 64.0)
    }

    /// A printed photo of this palm presented to the sensor (presentation attack `index`).
    pub fn photo_attack(&self, index: u32) -> Capture {
        let mut rng = stream(self.seed, Purpose::PhotoAttack, self.id, index as u64);
        attack::photo(self, &mut rng)
    }

    /// Renders an arbitrary acquisition; `noise_index` selects the sensor-noise stream.
    pub fn render(&self, acquisition: &Acquisition, noise_index: u32) -> Capture {
        let roi = self.config.roi_size as usize;
        let radiance = render::surface(&self.anatomy, acquisition, roi);
        self.expose(radiance, acquisition, noise_index, roi as f32 / 128.0)
    }

    fn expose(
        &self,
        radiance: render::Radiance,
        acquisition: &Acquisition,
        noise_index: u32,
        scale: f32,
    ) -> Capture {
        let mut noise = stream(self.seed, Purpose::SensorNoise, self.id, noise_index as u64);
        let print = render::expose(
            radiance.print,
            &acquisition.print_light,
            &acquisition.print_sensor,
            scale,
            &mut noise,
        );
        let vein = render::expose(
            radiance.vein,
            &acquisition.vein_light,
            &acquisition.vein_sensor,
            scale,
            &mut noise,
        );
        Capture::paired(print, vein)
    }
}

/// A mismatched pair (presentation attack): the print of one palm with the veins of another,
/// both from capture `index`.
pub fn mismatched_pair(print_of: &Identity, vein_of: &Identity, index: u32) -> Capture {
    Capture {
        print: print_of.sample(index).print,
        vein: vein_of.sample(index).vein,
    }
}

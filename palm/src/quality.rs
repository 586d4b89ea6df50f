//! Capture quality: refuse what cannot be coded reliably (a failure to acquire, never a
//! non-match) and find occluded areas that must not vote.
//!
//! All measures are on the raw ROI in `[0, 1]` intensity and relative to the ROI itself, so they
//! do not depend on resolution or on our generator:
//! - exposure: median and clipped fractions;
//! - no hand: almost no contrast at all;
//! - blur: energy of the finest band (≈ 1.5 % of the ROI side, a crease's width) relative to
//!   the next coarser band; defocus removes the former first;
//! - occlusion (band-aid, tape, a sleeve): blocks whose fine texture is far below the median
//!   block's (so up to half the ROI can be told apart from open skin); they are masked, and a capture that is mostly occluded is refused.

use crate::filters::Plane;

/// Why a capture was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum QualityIssue {
    #[error("image too dark (median {median:.2})")]
    TooDark { median: f32 },
    #[error("image too bright ({clipped:.0}% clipped)")]
    TooBright { clipped: f32 },
    #[error("image blurred (sharpness {sharpness:.2})")]
    Blurred { sharpness: f32 },
    #[error("palm occluded ({percent:.0}% covered)")]
    Occluded { percent: f32 },
    #[error("no hand on the sensor")]
    NoHand,
}

/// Side of the occlusion block grid.
pub const BLOCKS: usize = 16;

/// Which blocks of the ROI are occluded (row-major `BLOCKS × BLOCKS`).
#[derive(Debug, Clone, PartialEq)]
pub struct Occlusion {
    blocks: Vec<bool>,
}

impl Occlusion {
    pub fn none() -> Self {
        Self {
            blocks: vec![false; BLOCKS * BLOCKS],
        }
    }

    /// Is plane point `(x, y)` of a `side`-pixel ROI occluded?
    pub fn covers(&self, x: f32, y: f32, side: usize) -> bool {
        let bx = ((x / side as f32) * BLOCKS as f32).clamp(0.0, BLOCKS as f32 - 1.0) as usize;
        let by = ((y / side as f32) * BLOCKS as f32).clamp(0.0, BLOCKS as f32 - 1.0) as usize;
        self.blocks[by * BLOCKS + bx]
    }

    pub fn fraction(&self) -> f32 {
        self.blocks.iter().filter(|&&b| b).count() as f32 / self.blocks.len() as f32
    }
}

/// Thresholds of the quality check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityParams {
    pub min_median: f32,
    pub max_clipped: f32,
    pub min_contrast: f32,
    pub min_sharpness: f32,
    /// A block is occluded when its fine texture is below this fraction of the median block's.
    pub occlusion_texture: f32,
    pub max_occluded: f32,
}

impl Default for QualityParams {
    fn default() -> Self {
        Self {
            min_median: 0.08,
            max_clipped: 0.25,
            min_contrast: 0.012,
            min_sharpness: 1.2,
            occlusion_texture: 0.25,
            max_occluded: 0.35,
        }
    }
}

/// Checks a raw ROI; on success returns the occluded blocks to mask.
pub fn assess(roi: &Plane, params: &QualityParams) -> Result<Occlusion, QualityIssue> {
    let mut sorted = roi.data.clone();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    let clipped = roi.data.iter().filter(|&&v| v >= 0.985).count() as f32 / roi.data.len() as f32;
    if clipped > params.max_clipped {
        return Err(QualityIssue::TooBright {
            clipped: clipped * 100.0,
        });
    }
    let spread = sorted[sorted.len() * 95 / 100] - sorted[sorted.len() * 5 / 100];
    if median < params.min_median {
        return Err(if spread < params.min_contrast {
            QualityIssue::NoHand
        } else {
            QualityIssue::TooDark { median }
        });
    }
    if spread < params.min_contrast || roi.std() < params.min_contrast / 2.0 {
        return Err(QualityIssue::NoHand);
    }
    let side = roi.w as f32;
    let fine_sigma = (0.008 * side).max(0.7);
    let f1 = roi.gauss_blur(fine_sigma);
    let f2 = f1.gauss_blur(fine_sigma * 2.0);
    let f3 = f2.gauss_blur(fine_sigma * 4.0);
    let fine: Vec<f32> = roi
        .data
        .iter()
        .zip(&f2.data)
        .map(|(a, b)| (a - b) * (a - b))
        .collect();
    let coarse: Vec<f32> = f2
        .data
        .iter()
        .zip(&f3.data)
        .map(|(a, b)| (a - b) * (a - b))
        .collect();
    let occlusion = occluded_blocks(&fine, roi.w, params.occlusion_texture);
    if occlusion.fraction() > params.max_occluded {
        return Err(QualityIssue::Occluded {
            percent: occlusion.fraction() * 100.0,
        });
    }
    let sharpness = (fine.iter().sum::<f32>() / coarse.iter().sum::<f32>().max(1e-12)).sqrt();
    if sharpness < params.min_sharpness {
        return Err(QualityIssue::Blurred { sharpness });
    }
    Ok(occlusion)
}

/// Blocks whose fine-texture energy is far below the median block's, grown by one block only
/// where a neighbour is also weak (a band-aid's edge), single isolated blocks dropped (a smooth
/// patch of skin is not an occluder).
fn occluded_blocks(fine: &[f32], side: usize, ratio: f32) -> Occlusion {
    let mut energy = vec![0f32; BLOCKS * BLOCKS];
    let mut count = vec![0u32; BLOCKS * BLOCKS];
    for (i, e) in fine.iter().enumerate() {
        let b = (i / side) * BLOCKS / side * BLOCKS + (i % side) * BLOCKS / side;
        energy[b] += e;
        count[b] += 1;
    }
    for (e, c) in energy.iter_mut().zip(&count) {
        *e /= (*c).max(1) as f32;
    }
    let mut sorted = energy.clone();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    let weak: Vec<bool> = energy.iter().map(|&e| e < ratio * median).collect();
    let strongly_weak: Vec<bool> = energy.iter().map(|&e| e < 0.6 * ratio * median).collect();
    let neighbours = |b: usize, set: &[bool]| {
        let (x, y) = ((b % BLOCKS) as i32, (b / BLOCKS) as i32);
        [(-1, 0), (1, 0), (0, -1), (0, 1)]
            .iter()
            .filter(|(dx, dy)| {
                let (nx, ny) = (x + dx, y + dy);
                (0..BLOCKS as i32).contains(&nx)
                    && (0..BLOCKS as i32).contains(&ny)
                    && set[(ny * BLOCKS as i32 + nx) as usize]
            })
            .count()
    };
    let core: Vec<bool> = (0..BLOCKS * BLOCKS)
        .map(|b| {
            (strongly_weak[b] && neighbours(b, &weak) >= 1)
                || (weak[b] && neighbours(b, &strongly_weak) >= 2)
        })
        .collect();
    // Grow clusters (not isolated blocks) by one block: an occluder's edge is a strong step,
    // not skin texture.
    let blocks = (0..BLOCKS * BLOCKS)
        .map(|b| {
            core[b]
                || (0..BLOCKS * BLOCKS)
                    .any(|n| core[n] && neighbours(n, &core) >= 2 && adjacent(b, n))
        })
        .collect();
    Occlusion { blocks }
}

fn adjacent(a: usize, b: usize) -> bool {
    let (ax, ay) = ((a % BLOCKS) as i32, (a / BLOCKS) as i32);
    let (bx, by) = ((b % BLOCKS) as i32, (b / BLOCKS) as i32);
    (ax - bx).abs() + (ay - by).abs() == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::Identity;

    /// Print ROIs of synthetic captures at the print working resolution.
    fn captures(n: u64) -> Vec<Plane> {
        (0..n)
            .map(|id| {
                let c = Identity::new(7, id).sample(0);
                Plane::from_gray(c.print.as_ref().expect("print")).resize(64, 64)
            })
            .collect()
    }

    #[test]
    fn good_captures_pass_with_little_masked() {
        for (i, roi) in captures(4).iter().enumerate() {
            let occ = assess(roi, &QualityParams::default())
                .unwrap_or_else(|e| panic!("capture {i}: {e}"));
            // Line-free skin can look like an occluder; masking it loses nothing.
            assert!(occ.fraction() < 0.2, "capture {i}: {}", occ.fraction());
        }
    }

    #[test]
    fn dark_bright_empty_blurred_and_occluded_are_refused_with_a_reason() {
        let p = QualityParams::default();
        let good = captures(1).remove(0);
        let dark = good.map(|v| v * 0.1);
        assert!(matches!(
            assess(&dark, &p),
            Err(QualityIssue::TooDark { .. })
        ));
        let bright = good.map(|v| (v * 3.0).min(1.0));
        assert!(matches!(
            assess(&bright, &p),
            Err(QualityIssue::TooBright { .. })
        ));
        assert_eq!(
            assess(&Plane::filled(64, 64, 0.02), &p),
            Err(QualityIssue::NoHand)
        );
        assert_eq!(
            assess(&Plane::filled(64, 64, 0.6), &p),
            Err(QualityIssue::NoHand)
        );
        let blurred = good.gauss_blur(3.0);
        let r = assess(&blurred, &p);
        assert!(matches!(r, Err(QualityIssue::Blurred { .. })), "{r:?}");
        let mut covered = good.clone();
        for y in 0..64 {
            for x in 0..30 {
                covered.data[y * 64 + x] = 0.8;
            }
        }
        let r = assess(&covered, &p);
        assert!(
            matches!(r, Err(QualityIssue::Occluded { .. })),
            "{:?}",
            r.map(|o| o.fraction())
        );
    }

    #[test]
    fn small_band_aid_is_masked_not_refused() {
        let mut roi = captures(1).remove(0);
        for y in 20..36 {
            for x in 14..50 {
                roi.data[y * 64 + x] = 0.75;
            }
        }
        let occ = assess(&roi, &QualityParams::default()).unwrap();
        assert!(occ.covers(32.0, 28.0, 64));
        assert!(
            occ.fraction() > 0.05 && occ.fraction() < 0.3,
            "{}",
            occ.fraction()
        );
    }
}

//! Palm-print features: Competitive Code (Kong & Zhang, ICPR 2004) on a contrast-normalised ROI.
//!
//! Why CompCode: among the orientation-coding family it is the best-studied on real contactless
//! and contact palm-print ROIs (PolyU, IITD, Tongji, CASIA: EER well under 1 % on contact
//! sets, ≈ 1–5 % on contactless), its 3-bit circular encoding turns angular distance into a plain
//! Hamming distance (so matching is XOR + popcount), and it degrades gracefully under blur and
//! illumination change. Later variants (Ordinal Code, RLOC, DOC, BOCV) trade the same
//! ingredients; we add what matters most on contactless data: validity masks (image border,
//! occlusion, no line energy) and a rotation + translation search at match time.
//!
//! Scale: palm creases are ≈ 1 mm wide on a ≈ 60 mm palm ROI; the filter's wavelength is ≈ 8 %
//! of the ROI side (about the spacing of a crease and its flanks), σ ≈ 3 % of it.

use crate::code::BankParams;

/// Working resolution of the print ROI (pixels per side).
pub const SIDE: usize = 64;

/// Filter bank of the print code.
pub const BANK: BankParams = BankParams {
    sigma: 0.055,
    wavelength: 0.11,
    min_energy: 0.35,
};

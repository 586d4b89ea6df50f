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
//! Scale: the code samples the filter response on a 32 × 32 lattice (one sample every 2 px of
//! the 64 px working ROI) and the matcher aligns to the nearest lattice cell, the nearest stored
//! rotation (5° steps) and scale (8 % steps). The residual misalignment after that search is
//! 1–2 px at the working side, and an even Gabor's answer flips sign a quarter wavelength off a
//! line, so the wavelength must be several times the residual: λ = 16 % of the side (10 px), σ =
//! 8 % (the scale of the principal creases and the long secondary creases; the bank of Kong &
//! Zhang on 128 px contact ROIs, λ ≈ 8 %, assumes contact-sensor alignment). Measured on
//! training seed 31 (60 × 6, print alone with its own alignment, `PRINTONLY=1 engine_tune`):
//! λ 7 % → EER 7.6 %, 11 % → 5.3 %, 13 % → 3.0 %, **16 % → 1.9 %**, 20 % → 2.1 %; finer banks at
//! 128 px lose genuine similarity (0.64 mean at λ 4.5 %) far faster than they gain impostor
//! spread. A phase-invariant (quadrature amplitude) code was worse (EER 3.0 %, TAR 42 % at FAR
//! 1e-4): amplitude follows the principal lines every palm shares, impostors score 0.72.
//!
//! Masking: a cell votes when its orientation energy reaches 20 % of the map's 90th percentile
//! (35 % masked too many faint wrinkle cells: EER 7.2 % against 5.3 % at the old scale).

use crate::code::BankParams;

/// Working resolution of the print ROI (pixels per side).
pub const SIDE: usize = 64;

/// Filter bank of the print code.
pub const BANK: BankParams = BankParams {
    sigma: 0.08,
    wavelength: 0.16,
    min_energy: 0.2,
    quadrature: false,
};

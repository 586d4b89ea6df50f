//! Palm-vein features: Gabor orientation coding of the background-flattened near-infrared ROI.
//!
//! Palm veins at 850 nm are wide (2–4 mm), low-contrast, blurred by skin scattering, and sit on
//! a bright, uneven tissue glow. We flatten the glow with a large-scale local mean and contrast
//! normalisation ([`crate::normalize::vein`]), then code the dominant vessel orientation per
//! cell with a bank tuned to vessel width, the approach of orientation-coded palm-vein matchers
//! on CASIA multispectral / PolyU multispectral 850 nm data (e.g. Zhou & Kumar 2011 report
//! orientation codes ahead of matched-filter and Hessian/curvature vessel maps). Orientation
//! codes need no vessel segmentation threshold, which is what fails first on real NIR images.
//!
//! Scale: wavelength ≈ 16 % of the ROI side (a vessel plus its bright flanks), σ ≈ 5 %.

use crate::code::BankParams;

/// Working resolution of the vein ROI (pixels per side): veins carry no detail finer than this.
pub const SIDE: usize = 48;

/// Filter bank of the vein code.
pub const BANK: BankParams = BankParams {
    sigma: 0.07,
    wavelength: 0.15,
    min_energy: 0.35,
    quadrature: false,
};

//! Synthetic palm-print + palm-vein generator.

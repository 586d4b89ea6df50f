//! 1:N identification with a fast pre-selection.

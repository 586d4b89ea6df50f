//! Image decoding → ROI (both the centred-square and whole-hand finders) → quality on arbitrary
//! bytes, as the simulated sensor's dataset mode and `palmkey palm eval` read files.
//! Checks: no panic; errors are errors.
//!
//! Cost per input is kept to the input's own work:
//! - the two engines (centred square, whole hand) are built once per process: `Engine::new`
//!   computes the Gabor filter banks of every rotation, which does not depend on the input
//!   and used to be most of the time of an input that decodes;
//! - images declaring more than `MAX_SIDE` pixels per side are skipped after reading their
//!   header (the decoder's own `into_dimensions`, the image crate's header parsers), before
//!   `decode_gray` allocates and fills the full frame. A palm sensor frame is far smaller; a
//!   crafted PNG/BMP/JPEG header can otherwise make each input decode tens of MB.
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use palmkey_palm::capture::{decode_gray, Capture};
use palmkey_palm::engine::{Engine, EngineConfig};
use palmkey_palm::quality;

/// Largest width or height decoded (sensor frames and the synthetic captures are ≤ 640).
const MAX_SIDE: u32 = 1024;

/// The engine for `full_hand` (index 1) or the centred-square finder (index 0).
fn engine(full_hand: bool) -> &'static Engine {
    static ENGINES: OnceLock<[Engine; 2]> = OnceLock::new();
    let engines = ENGINES.get_or_init(|| {
        [false, true].map(|full_hand| {
            Engine::new(EngineConfig {
                full_hand,
                ..EngineConfig::default()
            })
        })
    });
    &engines[usize::from(full_hand)]
}

/// The dimensions the image's header declares, when the format is recognised and the
/// header parses (`decode_gray` reports everything else itself).
fn declared_size(bytes: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    if declared_size(bytes).is_some_and(|(w, h)| w > MAX_SIDE || h > MAX_SIDE) {
        return;
    }
    let Ok(image) = decode_gray(bytes) else {
        return;
    };
    assert!(
        image.width() <= MAX_SIDE && image.height() <= MAX_SIDE,
        "decoded {}x{} from a header declaring at most {MAX_SIDE} per side",
        image.width(),
        image.height()
    );
    let engine = engine(flags & 1 == 1);
    let capture = Capture {
        print: Some(image.clone()),
        vein: (flags & 2 == 2).then_some(image),
    };
    if let Ok(rois) = engine.rois(&capture) {
        for roi in [rois.print, rois.vein].into_iter().flatten() {
            let _ = quality::assess(&roi, &engine.config().quality);
        }
    }
});

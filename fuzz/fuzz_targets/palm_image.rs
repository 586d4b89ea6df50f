//! Image decoding → ROI (both the centred-square and whole-hand finders) → quality on arbitrary
//! bytes, as the simulated sensor's dataset mode and `palmkey palm eval` read files.
//! Checks: no panic; errors are errors. Decoding is capped at 4096×4096 (a palm sensor
//! frame is far smaller) so the fuzzer measures the parsers, not the allocator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palmkey_palm::capture::{decode_gray, Capture};
use palmkey_palm::engine::{Engine, EngineConfig};
use palmkey_palm::quality;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let Ok(image) = decode_gray(bytes) else {
        return;
    };
    if image.width() > 4096 || image.height() > 4096 {
        return;
    }
    let config = EngineConfig {
        full_hand: flags & 1 == 1,
        ..EngineConfig::default()
    };
    let engine = Engine::new(config);
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

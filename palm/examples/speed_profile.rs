//! Extraction and 1:1 comparison timings on a few synthetic captures, for profiling
//! (`valgrind --tool=callgrind target/release/examples/speed_profile extract 20`).
//! Modes: `extract N` (N paired captures), `compare N` (all pairs of N templates, 20 rounds),
//! `stages N` (extraction per stage), `probe N` (a 1:N search's per-query probe build, 200 rounds).

use std::time::Instant;

use palmkey_palm::engine::Engine;
use palmkey_palm::synth::Identity;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("extract");
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    // PALM_FINE=1 / PALM_CANDIDATES=n: matcher search settings to compare.
    let mut config = palmkey_palm::engine::EngineConfig::default();
    if std::env::var("PALM_FINE").is_ok_and(|v| v == "1") {
        config.search.fine_scan = true;
    }
    if let Some(n) = std::env::var("PALM_CANDIDATES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.search.candidates = n;
    }
    let engine = Engine::new(config);
    let captures: Vec<_> = (0..n)
        .map(|i| Identity::new(7, i / 2).sample((i % 2) as u32))
        .collect();
    let t0 = Instant::now();
    let templates: Vec<_> = captures
        .iter()
        .filter_map(|c| engine.extract(c).ok())
        .collect();
    let extract = t0.elapsed().as_secs_f64() * 1e3 / n as f64;
    println!(
        "extract: {extract:.3} ms per paired capture ({} templates)",
        templates.len()
    );
    if mode == "stages" {
        stages(&engine, &captures);
    }
    if mode == "probe" {
        probe_build(&engine, &templates);
    }
    if mode == "compare" {
        let rounds = 20;
        let t0 = Instant::now();
        let mut pairs = 0u64;
        let mut acc = 0f32;
        for _ in 0..rounds {
            for a in &templates {
                for b in &templates {
                    acc += engine.compare(a, b).fused.max(-100.0);
                    pairs += 1;
                }
            }
        }
        let us = t0.elapsed().as_secs_f64() * 1e6 / pairs as f64;
        println!("compare: {us:.2} µs per pair ({pairs} pairs, checksum {acc})");
    }
}

/// What a 1:N search builds per query before reading the gallery: the whole quick probe, and
/// its histogram stage's part alone (µs per probe).
fn probe_build(engine: &Engine, templates: &[palmkey_palm::template::Template]) {
    use palmkey_palm::search::histograms::{BroadProbe, HistogramParams};
    use palmkey_palm::search::quick::QuickProbe;
    let weights = engine.config().fusion.fused.weights;
    let rounds = 200;
    let per_probe = |build: &dyn Fn(&palmkey_palm::template::Template)| {
        let t0 = Instant::now();
        for _ in 0..rounds {
            templates.iter().for_each(build);
        }
        t0.elapsed().as_secs_f64() * 1e6 / (rounds * templates.len()) as f64
    };
    let quick = per_probe(&|t| {
        std::hint::black_box(QuickProbe::new(t, weights));
    });
    let histograms = per_probe(&|t| {
        std::hint::black_box(BroadProbe::new(t, weights, &HistogramParams::default()));
    });
    println!("probe build: {quick:.2} µs per query, of which histograms {histograms:.2} µs");
}

/// Time per stage of extraction, summed over the captures (ms per capture).
fn stages(engine: &Engine, captures: &[palmkey_palm::capture::Capture]) {
    use palmkey_palm::code::Coder;
    use palmkey_palm::template::ModalityCode;
    use palmkey_palm::{normalize, print, quality, vein};
    let cfg = engine.config();
    let pc = Coder::new(cfg.print_bank, cfg.print_side, &cfg.rotations_deg);
    let vc = Coder::new(cfg.vein_bank, cfg.vein_side, &cfg.rotations_deg);
    let mut t = [0f64; 5];
    let lap = |t: &mut f64, t0: &mut Instant| {
        *t += t0.elapsed().as_secs_f64() * 1e3;
        *t0 = Instant::now();
    };
    for c in captures {
        let mut t0 = Instant::now();
        let rois = engine.rois(c).unwrap();
        lap(&mut t[0], &mut t0);
        for (roi, coder, q, is_print) in [
            (rois.print.as_ref().unwrap(), &pc, &cfg.quality, true),
            (rois.vein.as_ref().unwrap(), &vc, &cfg.vein_quality, false),
        ] {
            let occ = quality::assess(roi, q).unwrap_or_else(|_| quality::Occlusion::none());
            lap(&mut t[1], &mut t0);
            let plane = if is_print {
                normalize::print(roi)
            } else {
                normalize::vein(roi)
            };
            lap(&mut t[2], &mut t0);
            let side = plane.w;
            let maps = coder.encode(&plane, &|x, y| !occ.covers(x, y, side));
            lap(&mut t[3], &mut t0);
            std::hint::black_box(ModalityCode::new(maps).unwrap());
            lap(&mut t[4], &mut t0);
        }
        let _ = (print::SIDE, vein::SIDE);
    }
    let n = captures.len() as f64;
    for (name, v) in ["rois", "quality", "normalize", "encode", "modality_code"]
        .iter()
        .zip(t)
    {
        println!("{name:>14}: {:.3} ms", v / n);
    }
}

//! Which per-capture condition of the generator costs the print (and vein) code most: for
//! pairs of captures `a`, `b` of one palm, renders `a` with one condition group taken from `b`
//! and reports the mean genuine similarity loss against `a`. Training seeds only.
//!
//! `cargo run --release -p palmkey-palm --example synth_ablation -- <seed> <identities>`

use palmkey_palm::engine::Engine;
use palmkey_palm::matcher;
use palmkey_palm::synth::{Acquisition, Identity};
use rayon::prelude::*;

type Swap = fn(&mut Acquisition, &Acquisition);

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let (seed, ids) = (args[0], args[1]);
    assert_ne!(seed, 424_242, "seed 424242 is reserved");
    let mut config = palmkey_palm::engine::EngineConfig::default();
    if let Ok(r) = std::env::var("ROT") {
        config.rotations_deg = r.split(',').map(|x| x.parse().expect("degrees")).collect();
    }
    if let Ok(r) = std::env::var("SHIFT") {
        config.search.max_shift = r.parse().expect("cells");
    }
    if let Ok(r) = std::env::var("CAND") {
        config.search.candidates = r.parse().expect("count");
    }
    config.search.fine_scan = std::env::var("FINE").is_ok();
    let engine = Engine::new(config);
    let range = engine.config().search;
    let swaps: Vec<(&str, Swap)> = vec![
        ("nothing (noise only)", |_, _| {}),
        ("pose", |a, b| a.pose = b.pose),
        ("pose: rotation", |a, b| {
            a.pose.rotation_deg = b.pose.rotation_deg
        }),
        ("pose: shift", |a, b| a.pose.shift = b.pose.shift),
        ("pose: scale", |a, b| a.pose.scale = b.pose.scale),
        ("deformation", |a, b| a.deformation = b.deformation.clone()),
        ("crease visibility", |a, b| {
            a.crease_visibility = b.crease_visibility
        }),
        ("print light", |a, b| a.print_light = b.print_light),
        ("print sensor", |a, b| a.print_sensor = b.print_sensor),
        ("vein light+sensor", |a, b| {
            a.vein_light = b.vein_light;
            a.vein_sensor = b.vein_sensor;
            a.vein_contrast = b.vein_contrast;
        }),
        ("everything", |a, b| *a = b.clone()),
    ];
    for (name, swap) in &swaps {
        let sims: Vec<(f32, f32)> = (0..ids)
            .into_par_iter()
            .map(|id| {
                let p = Identity::new(seed, id);
                let a = p.acquisition(0);
                let mut b = a.clone();
                swap(&mut b, &p.acquisition(1));
                b.band_aid = None;
                let mut a = a;
                a.band_aid = None;
                let ta = engine.extract(&p.render(&a, 0)).ok()?;
                let tb = engine.extract(&p.render(&b, 1)).ok()?;
                let ps = if std::env::var("EXHAUSTIVE").is_ok() {
                    exhaustive(ta.print()?, tb.print()?)
                } else {
                    matcher::compare(ta.print()?, tb.print()?, range)?.similarity
                };
                let vs = matcher::compare(ta.vein()?, tb.vein()?, range)?.similarity;
                Some((ps, vs))
            })
            .flatten()
            .collect();
        let n = sims.len() as f32;
        let (p, v) = sims.iter().fold((0.0, 0.0), |s, x| (s.0 + x.0, s.1 + x.1));
        let lowp = sims.iter().filter(|s| s.0 < 0.8).count();
        println!(
            "{name:22} print {:.3} (<0.8: {lowp}/{}) vein {:.3}",
            p / n,
            sims.len(),
            v / n
        );
    }
}

/// Reference search: every stored frame, every shift within ±10 cells, all rows.
fn exhaustive(
    probe: &palmkey_palm::template::ModalityCode,
    reference: &palmkey_palm::template::ModalityCode,
) -> f32 {
    use palmkey_palm::code::{count_at, GRID};
    let mut best = 0f32;
    for f in reference.frames() {
        for dy in -10..=10 {
            for dx in -10..=10 {
                let c = count_at(probe.canonical(), &f.map, dx, dy, 0..GRID);
                if c.compared < 180 {
                    continue;
                }
                let d = c.differing as f32 / c.compared as f32;
                let s = 1.0 - (0.5 - (0.5 - d) * (c.compared as f32 / 1050.0).min(1.5).sqrt());
                best = best.max(s);
            }
        }
    }
    best
}

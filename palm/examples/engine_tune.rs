//! Engine tuning on a *training* synthetic population (seeds 1..=99 only; 424242 is reserved
//! for the final measurement): per-modality score statistics, EER and TAR at FAR, the fitted
//! fusion weights and threshold (paste into `FusionModel::default`), PAD cue distributions,
//! extraction and comparison timings.
//!
//! `cargo run --release -p palmkey-palm --example engine_tune -- <seed> <identities> <samples>`

use std::time::Instant;

use palmkey_palm::engine::{Engine, MatchScores};
use palmkey_palm::fusion::{fit_logistic, threshold_for_fmr, FusionModel};
use palmkey_palm::pad::{assess_with, PadParams, PadScores};
use palmkey_palm::synth::{mismatched_pair, Identity};
use rayon::prelude::*;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let (seed, ids, samples) = (
        args.first().copied().unwrap_or(1),
        args.get(1).copied().unwrap_or(60),
        args.get(2).copied().unwrap_or(6),
    );
    assert_ne!(
        seed, 424_242,
        "seed 424242 is reserved for the final measurement"
    );
    let mut config = palmkey_palm::engine::EngineConfig::default();
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .map(|v| v.parse::<f32>().expect("number"))
    };
    if let Some(v) = env("PS") {
        config.print_side = v as usize;
    }
    if let Some(v) = env("PSIG") {
        config.print_bank.sigma = v;
    }
    if let Some(v) = env("PLAM") {
        config.print_bank.wavelength = v;
    }
    if let Some(v) = env("PMIN") {
        config.print_bank.min_energy = v;
    }
    if let Some(v) = env("PQ") {
        config.print_bank.quadrature = v != 0.0;
    }
    if let Some(v) = env("VQ") {
        config.vein_bank.quadrature = v != 0.0;
    }
    if let Some(v) = env("VS") {
        config.vein_side = v as usize;
    }
    if let Some(v) = env("VSIG") {
        config.vein_bank.sigma = v;
    }
    if let Some(v) = env("VLAM") {
        config.vein_bank.wavelength = v;
    }
    if let Some(v) = env("VMIN") {
        config.vein_bank.min_energy = v;
    }
    if let Some(v) = env("SHIFT") {
        config.search.max_shift = v as i32;
    }
    if let Ok(r) = std::env::var("ROT") {
        config.rotations_deg = r.split(',').map(|x| x.parse().expect("degrees")).collect();
    }
    // Print-alone / vein-alone alignment (the evaluation's single-modality protocol).
    if env("PRINTONLY").is_some() {
        config.use_vein = false;
    }
    if env("VEINONLY").is_some() {
        config.use_print = false;
    }
    if env("NOPAD").is_some() {
        std::env::set_var("NOPAD", "1");
    }
    eprintln!("{config:?}");
    let engine = Engine::new(config);
    let t = Instant::now();
    let people: Vec<Identity> = (0..ids)
        .into_par_iter()
        .map(|id| Identity::new(seed, id))
        .collect();
    let captures: Vec<(u64, u32, palmkey_palm::capture::Capture)> = people
        .par_iter()
        .flat_map_iter(|p| (0..samples as u32).map(move |k| (p.id(), k, p.sample(k))))
        .collect();
    eprintln!(
        "generated {} captures in {:.1}s",
        captures.len(),
        t.elapsed().as_secs_f32()
    );

    let t = Instant::now();
    let extracted: Vec<_> = captures
        .par_iter()
        .map(|(id, _, c)| (*id, engine.extract(c)))
        .collect();
    let per =
        t.elapsed().as_secs_f64() / captures.len() as f64 * rayon::current_num_threads() as f64;
    eprintln!("extraction: {:.2} ms per capture (per thread)", per * 1e3);
    let mut fta = std::collections::BTreeMap::new();
    for (_, r) in &extracted {
        if let Err(e) = r {
            *fta.entry(format!("{e}").split('(').next().unwrap_or("").to_string())
                .or_insert(0) += 1;
        }
    }
    eprintln!("FTA: {fta:?}");
    let ok: Vec<(u64, palmkey_palm::template::Template)> = extracted
        .into_iter()
        .filter_map(|(id, r)| r.ok().map(|t| (id, t)))
        .collect();
    eprintln!(
        "template bytes: {}",
        ok.first().map(|t| t.1.to_bytes().len()).unwrap_or(0)
    );

    if std::env::var("PADONLY").is_ok() {
        pad_report(&engine, &people, &captures, ids, samples);
        return;
    }
    let t = Instant::now();
    let scores: Vec<(bool, MatchScores)> = (0..ok.len())
        .into_par_iter()
        .flat_map_iter(|i| {
            let ok = &ok;
            let engine = &engine;
            (i + 1..ok.len()).map(move |j| (ok[i].0 == ok[j].0, engine.compare(&ok[i].1, &ok[j].1)))
        })
        .collect();
    let per = t.elapsed().as_secs_f64() / scores.len() as f64 * rayon::current_num_threads() as f64;
    eprintln!(
        "{} comparisons, {:.2} µs each (per thread)",
        scores.len(),
        per * 1e6
    );

    let report = |name: &str, f: &dyn Fn(&MatchScores) -> Option<f32>| {
        let gen: Vec<f32> = scores
            .iter()
            .filter(|s| s.0)
            .filter_map(|s| f(&s.1))
            .collect();
        let imp: Vec<f32> = scores
            .iter()
            .filter(|s| !s.0)
            .filter_map(|s| f(&s.1))
            .collect();
        summary(name, &gen, &imp);
    };
    report("print", &|s| s.print);
    report("vein", &|s| s.vein);
    report("fused(default)", &|s| Some(s.fused));

    let both: Vec<([f32; 2], bool)> = scores
        .iter()
        .filter_map(|(g, s)| Some(([s.print?, s.vein?], *g)))
        .collect();
    let fused = fit_logistic(&both, 2);
    let p: Vec<([f32; 2], bool)> = scores
        .iter()
        .filter_map(|(g, s)| Some(([s.print?, 0.0], *g)))
        .collect();
    let v: Vec<([f32; 2], bool)> = scores
        .iter()
        .filter_map(|(g, s)| Some(([s.vein?, 0.0], *g)))
        .collect();
    let model = FusionModel {
        fused,
        print: fit_logistic(&p, 1),
        vein: fit_logistic(&v, 1),
        threshold: 0.0,
    };
    let imp: Vec<f32> = scores
        .iter()
        .filter(|s| !s.0)
        .map(|s| model.fuse(s.1.print, s.1.vein).unwrap_or(f32::NEG_INFINITY))
        .collect();
    let gen: Vec<f32> = scores
        .iter()
        .filter(|s| s.0)
        .map(|s| model.fuse(s.1.print, s.1.vein).unwrap_or(f32::NEG_INFINITY))
        .collect();
    summary("fused(refit)", &gen, &imp);
    let threshold = threshold_for_fmr(&imp, 1e-6);
    let tar = gen.iter().filter(|&&g| g >= threshold).count() as f32 / gen.len() as f32;
    println!(
        "fitted: {model:?}\nthreshold(FMR 1e-6) = {threshold:.3}, TAR there = {:.4}",
        tar
    );

    if std::env::var("NOPAD").is_ok() {
        return;
    }
    pad_report(&engine, &people, &captures, ids, samples);
}

fn summary(name: &str, gen: &[f32], imp: &[f32]) {
    let mut imp = imp.to_vec();
    imp.sort_by(|a, b| b.total_cmp(a));
    let mut g = gen.to_vec();
    g.sort_by(f32::total_cmp);
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    let sd = |v: &[f32]| {
        let m = mean(v);
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len().max(1) as f32).sqrt()
    };
    let tar_at = |far: f64| -> Option<f32> {
        let k = (imp.len() as f64 * far).floor() as usize;
        if (imp.len() as f64) * far < 1.0 {
            return None;
        }
        let thr = imp[k.min(imp.len() - 1)];
        Some(g.iter().filter(|&&x| x > thr).count() as f32 / g.len().max(1) as f32)
    };
    // EER by threshold sweep over genuine scores.
    let mut eer = 1.0f32;
    for &t in g.iter().step_by((g.len() / 400).max(1)) {
        let frr = g.iter().filter(|&&x| x < t).count() as f32 / g.len() as f32;
        let far = imp.iter().filter(|&&x| x >= t).count() as f32 / imp.len().max(1) as f32;
        eer = eer.min(frr.max(far));
    }
    println!(
        "{name:15} gen {} mean {:.3} sd {:.3} min {:.3} | imp {} mean {:.3} sd {:.3} max {:.3} | EER≈{:.4} TAR@1e-3 {:?} 1e-4 {:?} 1e-5 {:?}",
        g.len(), mean(&g), sd(&g), g.first().copied().unwrap_or(0.0), imp.len(), mean(&imp), sd(&imp), imp.first().copied().unwrap_or(0.0),
        eer, tar_at(1e-3), tar_at(1e-4), tar_at(1e-5)
    );
}

fn pad_report(
    engine: &Engine,
    people: &[Identity],
    captures: &[(u64, u32, palmkey_palm::capture::Capture)],
    ids: u64,
    samples: u64,
) {
    // PAD cue distributions: bona fide, photo attacks, mismatched pairs.
    let params = PadParams::default();
    let n = ids.min(60);
    let bona: Vec<PadScores> = captures
        .par_iter()
        .take((n * samples) as usize)
        .map(|c| assess_with(engine, &c.2, &params).scores)
        .collect();
    let photo: Vec<PadScores> = people
        .par_iter()
        .take(n as usize)
        .flat_map_iter(|p| (0..2).map(move |k| p.photo_attack(k)))
        .map(|c| assess_with(engine, &c, &params).scores)
        .collect();
    let mism: Vec<PadScores> = (0..n as usize)
        .into_par_iter()
        .map(|i| mismatched_pair(&people[i], &people[(i + 1) % n as usize], 0))
        .map(|c| assess_with(engine, &c, &params).scores)
        .collect();
    for (name, set) in [
        ("bona fide", &bona),
        ("photo", &photo),
        ("mismatched", &mism),
    ] {
        let stat = |f: &dyn Fn(&PadScores) -> Option<f32>| {
            let mut v: Vec<f32> = set.iter().filter_map(f).collect();
            v.sort_by(f32::total_cmp);
            if v.is_empty() {
                return "-".to_string();
            }
            format!(
                "min {:.3} p5 {:.3} med {:.3} p95 {:.3} max {:.3}",
                v[0],
                v[v.len() / 20],
                v[v.len() / 2],
                v[v.len() * 19 / 20],
                v[v.len() - 1]
            )
        };
        println!("PAD {name:10} vessels: {}", stat(&|s| s.vessels));
        println!("PAD {name:10} print_in_nir: {}", stat(&|s| s.print_in_nir));
        println!("PAD {name:10} cross: {}", stat(&|s| s.cross_spectral));
    }
    if std::env::var("PADDUMP").is_ok() {
        for (name, set) in [("bona", &bona), ("photo", &photo), ("mism", &mism)] {
            for s in set.iter() {
                println!(
                    "DUMP {name} {:.4} {:.4} {:.4}",
                    s.vessels.unwrap_or(0.0),
                    s.print_in_nir.unwrap_or(0.0),
                    s.cross_spectral.unwrap_or(0.0)
                );
            }
        }
    }
    let verdicts = |set: &[palmkey_palm::capture::Capture]| {
        set.par_iter()
            .filter(|c| assess_with(engine, c, &params).is_bona_fide())
            .count()
    };
    let bona_set: Vec<_> = captures
        .iter()
        .take((n * samples) as usize)
        .map(|c| c.2.clone())
        .collect();
    let photo_set: Vec<_> = people
        .iter()
        .take(n as usize)
        .flat_map(|p| (0..2).map(move |k| p.photo_attack(k)))
        .collect();
    let mism_set: Vec<_> = (0..n as usize)
        .map(|i| mismatched_pair(&people[i], &people[(i + 1) % n as usize], 0))
        .collect();
    println!(
        "PAD default params: bona fide accepted {}/{}, photo accepted {}/{}, mismatched accepted {}/{}",
        verdicts(&bona_set), bona_set.len(), verdicts(&photo_set), photo_set.len(), verdicts(&mism_set), mism_set.len()
    );
}

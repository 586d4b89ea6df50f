//! `palmkey palm bench`: 1:N search speed on one core, and template extraction time.
//!
//! The gallery for N entries holds `real` templates extracted from synthetic captures
//! (sample 0 of identities `0..real` of population `seed`) and `N − real` further identities
//! derived from them ([`Derivation`]: block permutation + orientation turn of every code map).
//! Only sketches are stored for derived entries (derived directly from the real sketch); a
//! derived template is materialised when it is among the K candidates, and that time counts in
//! the latency (so the figure is an upper bound). Stage 1 (sketch scan + top-K) is also timed
//! alone. Probes are sample 1 of the real identities. Timing runs on the calling thread only.

use std::time::Instant;

use rayon::prelude::*;

use super::derive::Derivation;
use super::gallery::{Gallery, Scratch};
use crate::engine::Engine;
use crate::eval::engine_bio::{EngineBiometric, EvalModality};
use crate::eval::run::Biometric;
use crate::synth::Identity;
use crate::template::Template;

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub sizes: Vec<usize>,
    pub real: u32,
    pub queries: usize,
    pub preselect_k: usize,
    pub seed: u64,
    /// Queries per size also searched exhaustively to check the two-stage result.
    pub exhaustive_checks: usize,
}

/// Timing of one gallery size.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SizeResult {
    pub n: usize,
    pub queries: usize,
    /// Stage 1 alone: probe sketch + popcount scan + top-K selection.
    pub scan_median_ms: f64,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub templates_per_second: f64,
    /// Queries whose best hit is the probe's own identity (rank 1).
    pub identified: usize,
    /// Of those, hits at or above the engine's decision threshold.
    pub identified_above_threshold: usize,
    /// Of the exhaustive checks, how many gave the identical hit (entry and score).
    pub exhaustive_checked: usize,
    pub exhaustive_agree: usize,
}

/// Everything the benchmark measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BenchReport {
    pub real_templates: usize,
    pub extract_median_ms: f64,
    pub extract_p90_ms: f64,
    /// One full 1:1 comparison (both modalities, fused), median over real pairs.
    pub compare_median_us: f64,
    /// Computing a probe's sketch.
    pub sketch_median_us: f64,
    pub template_bytes: usize,
    pub sketch_bytes: usize,
    pub preselect_k: usize,
    pub sizes: Vec<SizeResult>,
}

/// Largest gallery also searched exhaustively for the agreement check.
const EXHAUSTIVE_MAX_N: usize = 20_000;

/// Gallery entry: a real template (index into `real`) or a derivation of one.
#[derive(Debug, Clone, Copy)]
struct Entry {
    base: u32,
    derivation: Option<u64>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

pub fn run(config: &BenchConfig) -> anyhow::Result<BenchReport> {
    let bio = EngineBiometric::new(EvalModality::Fused, false);
    let engine: &Engine = bio.engine();
    anyhow::ensure!(
        config.real >= 1 && config.queries >= 1,
        "need real identities and queries"
    );

    // Captures: rendered in parallel (setup), extraction timed on this thread.
    let started = Instant::now();
    let captures: Vec<_> = (0..config.real)
        .into_par_iter()
        .map(|i| {
            let id = Identity::new(config.seed, u64::from(i));
            (id.sample(0), id.sample(1))
        })
        .collect();
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "captures rendered"
    );
    let mut extract_ms = Vec::new();
    let mut real: Vec<(u32, Template, Template)> = Vec::new();
    for (i, (enrol, probe)) in captures.iter().enumerate() {
        let t0 = Instant::now();
        let e = engine.extract(enrol);
        extract_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        if let (Ok(e), Ok(p)) = (e, engine.extract(probe)) {
            real.push((i as u32, e, p));
        }
    }
    anyhow::ensure!(!real.is_empty(), "no synthetic capture gave a template");
    extract_ms.sort_by(f64::total_cmp);

    let mut compare_us = Vec::new();
    let mut sketch_us = Vec::new();
    for i in 0..real.len().min(200) {
        for j in [i, (i + 1) % real.len()] {
            let t0 = Instant::now();
            std::hint::black_box(engine.compare(&real[i].2, &real[j].1));
            compare_us.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        let t0 = Instant::now();
        std::hint::black_box(bio.sketch(&real[i].2));
        sketch_us.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    compare_us.sort_by(f64::total_cmp);
    sketch_us.sort_by(f64::total_cmp);

    let words = bio.sketch_words();
    let real_sketches: Vec<Vec<u64>> = real.iter().map(|(_, e, _)| bio.sketch(e)).collect();
    let materialise = |e: &Entry| -> std::borrow::Cow<'_, Template> {
        let base = &real[e.base as usize].1;
        match e.derivation {
            None => std::borrow::Cow::Borrowed(base),
            Some(d) => std::borrow::Cow::Owned(Derivation::new(d).template(base)),
        }
    };
    let mut gallery: Gallery<Entry> = Gallery::new(words);
    let mut sizes = config.sizes.clone();
    sizes.sort_unstable();
    let mut results = Vec::new();
    for &n in &sizes {
        // Grow the gallery to n entries (sketches computed in parallel: setup, not timed).
        let from = gallery.len();
        let new: Vec<(u32, Vec<u64>, Entry)> = (from..n)
            .into_par_iter()
            .map(|i| {
                if i < real.len() {
                    (
                        real[i].0,
                        real_sketches[i].clone(),
                        Entry {
                            base: i as u32,
                            derivation: None,
                        },
                    )
                } else {
                    let base = i % real.len();
                    let sketch = Derivation::new(i as u64).sketch(&real_sketches[base]);
                    (
                        u32::MAX - i as u32,
                        sketch,
                        Entry {
                            base: base as u32,
                            derivation: Some(i as u64),
                        },
                    )
                }
            })
            .collect();
        gallery.reserve(new.len());
        for (label, sketch, entry) in new {
            gallery.push(label, &sketch, entry);
        }

        let mut scratch = Scratch::default();
        let mut latencies = Vec::with_capacity(config.queries);
        let mut scans = Vec::with_capacity(config.queries);
        let (mut identified, mut above, mut checked, mut agree) = (0, 0, 0, 0);
        for q in 0..config.queries {
            let (label, _, probe) = &real[q % real.len()];
            let score = |e: &Entry| engine.compare(probe, &materialise(e)).fused;
            let t0 = Instant::now();
            let probe_sketch = bio.sketch(probe);
            std::hint::black_box(gallery.preselect(
                &probe_sketch,
                config.preselect_k,
                &mut scratch,
            ));
            scans.push(t0.elapsed().as_secs_f64() * 1e3);
            let t0 = Instant::now();
            let probe_sketch = bio.sketch(probe);
            let hit = gallery.search(&probe_sketch, config.preselect_k, &mut scratch, score);
            latencies.push(t0.elapsed().as_secs_f64() * 1e3);
            if let Some(h) = hit.filter(|h| h.label == *label) {
                identified += 1;
                above += usize::from(h.score >= engine.config().fusion.threshold);
            }
            // Exhaustive search materialises every derived entry: affordable at small N only.
            if q < config.exhaustive_checks && n <= EXHAUSTIVE_MAX_N {
                checked += 1;
                agree += usize::from(gallery.search_exhaustive(score) == hit);
            }
        }
        latencies.sort_by(f64::total_cmp);
        scans.sort_by(f64::total_cmp);
        let median = percentile(&latencies, 0.5);
        let result = SizeResult {
            n,
            queries: config.queries,
            scan_median_ms: percentile(&scans, 0.5),
            median_ms: median,
            p90_ms: percentile(&latencies, 0.9),
            templates_per_second: n as f64 / (median / 1e3),
            identified,
            identified_above_threshold: above,
            exhaustive_checked: checked,
            exhaustive_agree: agree,
        };
        tracing::info!(?result, "gallery size done");
        results.push(result);
    }
    Ok(BenchReport {
        real_templates: real.len(),
        extract_median_ms: percentile(&extract_ms, 0.5),
        extract_p90_ms: percentile(&extract_ms, 0.9),
        compare_median_us: percentile(&compare_us, 0.5),
        sketch_median_us: percentile(&sketch_us, 0.5),
        template_bytes: real[0].1.to_bytes().len(),
        sketch_bytes: words * 8,
        preselect_k: config.preselect_k,
        sizes: results,
    })
}

impl BenchReport {
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "template extraction (paired capture, one core): median {:.2} ms, p90 {:.2} ms over {} captures",
            self.extract_median_ms, self.extract_p90_ms, self.real_templates
        );
        let _ = writeln!(
            s,
            "1:1 comparison (fused, one core): median {:.2} µs; probe sketch: median {:.2} µs",
            self.compare_median_us, self.sketch_median_us
        );
        let _ = writeln!(
            s,
            "template {} bytes, sketch {} bytes; pre-selection K = {}; gallery = {} real + derived identities",
            self.template_bytes, self.sketch_bytes, self.preselect_k, self.real_templates
        );
        let _ = writeln!(
            s,
            "       N   stage-1 ms   median ms   p90 ms   templates/s   rank-1 (≥ thr)   = exhaustive"
        );
        for r in &self.sizes {
            let _ = writeln!(
                s,
                "{:>8}   {:>10.3}   {:>9.3}   {:>6.3}   {:>11.3e}   {:>4}/{:<4} ({:>4})   {}/{}",
                r.n,
                r.scan_median_ms,
                r.median_ms,
                r.p90_ms,
                r.templates_per_second,
                r.identified,
                r.queries,
                r.identified_above_threshold,
                r.exhaustive_agree,
                r.exhaustive_checked
            );
        }
        s
    }
}

/// `palmkey palm bench`.
pub fn run_command(args: &crate::cli::BenchArgs) -> anyhow::Result<()> {
    let report = run(&BenchConfig {
        sizes: args.sizes.clone(),
        real: args.real,
        queries: args.queries,
        preselect_k: args.k,
        seed: args.seed,
        exhaustive_checks: args.exhaustive_checks,
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

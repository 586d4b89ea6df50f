//! `palmkey palm bench`: 1:N search speed on ONE core, and template extraction time.
//!
//! The search is [`Gallery::search`], the one the authenticator runs (cascade pre-selection,
//! full matcher on the K best), on a one-thread rayon pool. The gallery for N people holds
//! `real` people extracted from synthetic captures (sample 0 of identities `0..real` of
//! population `seed`) and `N − real` further identities derived from them ([`Derivation`]:
//! block permutation + orientation turn of every code map). The gallery stores, as the
//! authenticator's does, each person's pre-selection code (1,472 bytes: 1.4 GiB at N = 1M); a
//! derived person's code is derived from the canonical maps alone. Derivation permutes the
//! same 8 × 8-cell blocks the histogram stage pools over, so derived people are easier for that
//! stage than real strangers: the bench measures speed (every stage's work per person does not
//! depend on who is enrolled); the stages' accuracy is measured on real impostors
//! (`examples/preselect_study.rs`, docs/palm-report.md). Their full templates
//! (decoded: ~20 KiB each, 20 GiB at 1M) are not kept: the full matcher's score materialises
//! a derived candidate's template on demand, and that materialisation (benchmark overhead: the
//! product holds decoded templates) is timed separately and subtracted from the latency.
//! The exhaustive fallback is off here (at 1M it would compare everyone); the queries whose
//! pre-selected best stays below the threshold, where the product would fall back, are
//! counted instead. Probes are sample 1 of the real identities.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use super::cascade::Cascade;
use super::derive::Derivation;
use super::gallery::{Gallery, SearchConfig};
use super::histograms;
use super::quick::QuickRef;
use crate::engine::Engine;
use crate::eval::engine_bio::{EngineBiometric, EvalModality};
use crate::eval::identification::Preselection;
use crate::synth::Identity;
use crate::template::Template;

/// Bytes of a person's code the coarse stage reads: every 4th row of the 3 code planes and the
/// mask of both modalities (8 rows × 4 planes × 64 bits).
pub const COARSE_STAGE_BYTES: usize = 8 * 4 * 8;

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub sizes: Vec<usize>,
    pub real: u32,
    /// Timed searches per gallery size.
    pub queries: usize,
    /// The pre-selection measured (stages, fractions kept, K).
    pub cascade: Cascade,
    pub seed: u64,
}

/// Timing of one gallery size.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SizeResult {
    pub n: usize,
    pub queries: usize,
    /// Whole search (probe codes, cascade, full matcher on K), materialisation excluded.
    pub median_ms: f64,
    pub p90_ms: f64,
    /// The full matcher on the K candidates alone.
    pub full_median_ms: f64,
    /// N / median latency.
    pub templates_per_second: f64,
    /// Queries whose best hit is the probe's own identity (rank 1).
    pub identified: usize,
    /// Of those, hits at or above the engine's decision threshold.
    pub identified_above_threshold: usize,
    /// Queries whose pre-selected best is below the threshold: the product would compare the
    /// rest of the gallery for them (not timed here).
    pub would_fall_back: usize,
}

/// Everything the benchmark measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BenchReport {
    pub real_templates: usize,
    pub extract_median_ms: f64,
    pub extract_p90_ms: f64,
    /// One full 1:1 comparison (both modalities, fused), median over real pairs.
    pub compare_median_us: f64,
    pub template_bytes: usize,
    /// Bytes per person held by the gallery (pre-selection code).
    pub gallery_bytes_per_person: usize,
    /// Bytes per person the first stage reads (histograms, or the coarse stage when off).
    pub first_stage_bytes: usize,
    /// Fraction of the gallery the histogram stage keeps (`None`: stage off).
    pub histogram_keep: Option<f32>,
    /// Poses the coarse stage tries per person.
    pub coarse_poses: usize,
    pub k: usize,
    pub coarse_keep: f32,
    pub sizes: Vec<SizeResult>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Sums nanoseconds from inside the (one-thread) search's score closure.
#[derive(Default)]
struct Clock(AtomicU64);

impl Clock {
    fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let t0 = Instant::now();
        let r = f();
        self.0
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }

    fn take_ms(&self) -> f64 {
        self.0.swap(0, Ordering::Relaxed) as f64 / 1e6
    }
}

pub fn run(config: &BenchConfig) -> anyhow::Result<BenchReport> {
    anyhow::ensure!(
        config.real >= 1 && config.queries >= 1 && config.cascade.k >= 1,
        "need real identities, queries and K ≥ 1"
    );
    let bio = EngineBiometric::new(EvalModality::Fused, false);
    let engine: &Engine = bio.engine();
    let one_core = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;

    // Captures: rendered in parallel (setup), extraction timed on one core.
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
    // (enrolment template, probe template) of the identities that gave both.
    let mut real: Vec<(Template, Template)> = Vec::new();
    one_core.install(|| {
        for (enrol, probe) in &captures {
            let t0 = Instant::now();
            let e = engine.extract(enrol);
            extract_ms.push(ms(t0));
            if let (Ok(e), Ok(p)) = (e, engine.extract(probe)) {
                real.push((e, p));
            }
        }
    });
    anyhow::ensure!(!real.is_empty(), "no synthetic capture gave a template");
    extract_ms.sort_by(f64::total_cmp);

    let mut compare_us = Vec::new();
    for i in 0..real.len().min(200) {
        for j in [i, (i + 1) % real.len()] {
            let t0 = Instant::now();
            std::hint::black_box(engine.compare(&real[i].1, &real[j].0));
            compare_us.push(t0.elapsed().as_secs_f64() * 1e6);
        }
    }
    compare_us.sort_by(f64::total_cmp);

    let search = SearchConfig {
        cascade: config.cascade,
        exhaustive_fallback: false,
        ..SearchConfig::default()
    };
    let threshold = engine.config().fusion.threshold;
    // Gallery entry i: real person i, or a derivation of real person i mod real.
    let derivation = |i: usize| (i >= real.len()).then(|| Derivation::new(i as u64));
    let mut gallery = Gallery::new();
    let mut sizes = config.sizes.clone();
    sizes.sort_unstable();
    let mut results = Vec::new();
    for &n in &sizes {
        // Grow the gallery to n people (codes derived in parallel: setup, not timed).
        let started = Instant::now();
        let new: Vec<QuickRef> = (gallery.len()..n)
            .into_par_iter()
            .map(|i| {
                let base = &real[i % real.len()].0;
                derivation(i).map_or_else(|| QuickRef::new(base), |d| d.quick_ref(base))
            })
            .collect();
        gallery.reserve(new.len());
        new.into_iter().for_each(|c| gallery.push(c));
        tracing::info!(
            n,
            seconds = started.elapsed().as_secs_f64(),
            "gallery grown"
        );

        let materialise = Clock::default();
        let full = Clock::default();
        let mut latencies = Vec::with_capacity(config.queries);
        let mut full_ms = Vec::with_capacity(config.queries);
        let (mut identified, mut above, mut fall_back) = (0, 0, 0);
        for q in 0..config.queries {
            let probe_index = q % real.len();
            let probe = &real[probe_index].1;
            let score = |i: usize| {
                let base = &real[i % real.len()].0;
                match derivation(i) {
                    None => full.time(|| engine.compare(probe, base).fused),
                    Some(d) => {
                        let reference = materialise.time(|| d.template(base));
                        full.time(|| engine.compare(probe, &reference).fused)
                    }
                }
            };
            let t0 = Instant::now();
            let outcome = one_core
                .install(|| gallery.search(|| bio.quick_probe(probe), score, threshold, &search));
            let elapsed = ms(t0);
            latencies.push(elapsed - materialise.take_ms());
            full_ms.push(full.take_ms());
            let best = outcome.best;
            fall_back += usize::from(best.is_none_or(|h| h.score < threshold));
            if let Some(h) = best.filter(|h| h.index == probe_index) {
                identified += 1;
                above += usize::from(h.score >= threshold);
            }
        }
        latencies.sort_by(f64::total_cmp);
        full_ms.sort_by(f64::total_cmp);
        let median = percentile(&latencies, 0.5);
        let result = SizeResult {
            n,
            queries: config.queries,
            median_ms: median,
            p90_ms: percentile(&latencies, 0.9),
            full_median_ms: percentile(&full_ms, 0.5),
            templates_per_second: n as f64 / (median / 1e3),
            identified,
            identified_above_threshold: above,
            would_fall_back: fall_back,
        };
        tracing::info!(?result, "gallery size done");
        results.push(result);
    }
    let coarse = search.cascade.coarse;
    let shifts = (2 * coarse.reach / coarse.shift_step.max(1) + 1) as usize;
    let frames = real[0].1.print().map_or(0, |c| c.frames().len());
    Ok(BenchReport {
        real_templates: real.len(),
        extract_median_ms: percentile(&extract_ms, 0.5),
        extract_p90_ms: percentile(&extract_ms, 0.9),
        compare_median_us: percentile(&compare_us, 0.5),
        template_bytes: real[0].0.to_bytes().len(),
        gallery_bytes_per_person: std::mem::size_of::<QuickRef>(),
        first_stage_bytes: match search.cascade.histogram_keep {
            Some(_) => std::mem::size_of::<histograms::BroadRef>(),
            None => COARSE_STAGE_BYTES,
        },
        histogram_keep: search.cascade.histogram_keep,
        // Per person: the rotations within reach of the histogram stage's, at every scale
        // (fewer at the edge of the rotation range).
        coarse_poses: match (
            search.cascade.histogram_keep,
            search.cascade.coarse_rotations,
        ) {
            (Some(_), Some(reach)) => {
                let rotations = real[0]
                    .1
                    .print()
                    .map_or(0, |c| c.frames().iter().filter(|f| f.scale == 0).count());
                frames / rotations.max(1) * (2 * reach + 1).min(rotations) * shifts * shifts
            }
            _ => frames * shifts * shifts,
        },
        k: search.cascade.k,
        coarse_keep: search.cascade.coarse_keep,
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
            "1:1 comparison (fused, one core): median {:.2} µs; template {} bytes",
            self.compare_median_us, self.template_bytes
        );
        let _ = writeln!(
            s,
            "1:N search = the authenticator's cascade on ONE core (one-thread pool): {} ({} bytes per person), coarse stage ({} poses at most, {} bytes per person) keeps {:.0} % of N, ±1-cell refinement of those, full matcher on K = {}; gallery holds {} bytes per person; {} real + derived identities; exhaustive fallback off (counted)",
            self.histogram_keep.map_or_else(
                || "no histogram stage".to_string(),
                |h| format!("orientation histograms over everyone keep {:.0} %", 100.0 * h)
            ),
            self.first_stage_bytes,
            self.coarse_poses,
            COARSE_STAGE_BYTES,
            100.0 * self.coarse_keep,
            self.k,
            self.gallery_bytes_per_person,
            self.real_templates
        );
        let _ = writeln!(
            s,
            "       N   median ms   p90 ms   full-matcher ms   templates/s   rank-1 (≥ thr)   would fall back"
        );
        for r in &self.sizes {
            let _ = writeln!(
                s,
                "{:>8}   {:>9.3}   {:>6.3}   {:>15.3}   {:>11.3e}   {:>4}/{:<4} ({:>4})   {}",
                r.n,
                r.median_ms,
                r.p90_ms,
                r.full_median_ms,
                r.templates_per_second,
                r.identified,
                r.queries,
                r.identified_above_threshold,
                r.would_fall_back
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
        cascade: Cascade {
            k: args.k,
            histogram_keep: (args.histogram_keep < 1.0).then_some(args.histogram_keep),
            coarse_keep: args.coarse_keep,
            coarse_rotations: match args.all_rotations {
                true => None,
                false => args
                    .coarse_rotations
                    .or(Cascade::default().coarse_rotations),
            },
            ..Cascade::default()
        },
        seed: args.seed,
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

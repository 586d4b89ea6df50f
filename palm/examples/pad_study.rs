//! Presentation-attack detection study: measures the PAD cues of bona fide captures, printed
//! photo attacks and mismatched print/vein pairs of one synthetic population and reports their
//! distributions and the error rates (ISO/IEC 30107-3: APCER per attack type, BPCER) of the
//! default decision, with 80 % Clopper–Pearson bounds.
//!
//! `cargo run --release -p palmkey-palm --example pad_study -- SEED IDS SAMPLES [DUMP.tsv] [bona]`
//!
//! With `bona` (after a dump path, `-` for none) only bona fide captures are measured, and the
//! palms all of whose captures pass are listed (e.g. the simulated sensor's population, seed 1).
//!
//! Attacks follow `palmkey palm synth --attacks`: a photo attack of sample k of every palm, and
//! the print of palm i with the NIR of palm (i + ⌈N/2⌉) mod N, for k < min(SAMPLES, 5).

use std::io::Write as _;

use palmkey_palm::engine::Engine;
use palmkey_palm::eval::confidence::ln_gamma;
use palmkey_palm::pad::{self, PadParams, PadScores, PadVerdict};
use palmkey_palm::synth::{mismatched_pair, Identity};
use rayon::prelude::*;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Bona,
    Photo,
    Mismatch,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Bona => "bona",
            Kind::Photo => "photo",
            Kind::Mismatch => "mismatch",
        }
    }
}

type Feature = (&'static str, fn(&PadScores) -> Option<f32>);

const FEATURES: [Feature; 6] = [
    ("vessels", |s| s.vessels),
    ("nir_vesselness", |s| s.nir_vesselness),
    ("explained", |s| s.explained),
    ("band_corr", |s| s.band_correlation),
    ("cross", |s| s.cross_spectral),
    ("print_in_nir", |s| s.print_in_nir),
];

/// Margins (see `pad::margins`) as extra dump columns.
fn margin_columns(s: &PadScores) -> [f32; 2] {
    let m = pad::margins(s, &PadParams::default());
    [m.photo.unwrap_or(f32::NAN), m.mismatch.unwrap_or(f32::NAN)]
}

/// P(X ≤ k) for X ~ Binomial(n, p).
fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    let ln_choose = |i: u64| {
        ln_gamma(n as f64 + 1.0) - ln_gamma(i as f64 + 1.0) - ln_gamma((n - i) as f64 + 1.0)
    };
    (0..=k.min(n))
        .map(|i| (ln_choose(i) + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln()).exp())
        .sum::<f64>()
        .min(1.0)
}

/// Two-sided Clopper–Pearson interval of `k` errors in `n` trials (by bisection on the exact
/// binomial tails).
fn clopper_pearson(k: u64, n: u64, confidence: f64) -> (f64, f64) {
    let tail = (1.0 - confidence) / 2.0;
    let bisect = |f: &dyn Fn(f64) -> bool| {
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if f(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        0.5 * (lo + hi)
    };
    // Lower: P(X ≥ k | p) = tail; upper: P(X ≤ k | p) = tail.
    let lower = if k == 0 {
        0.0
    } else {
        bisect(&|p| 1.0 - binomial_cdf(k - 1, n, p) >= tail)
    };
    let upper = if k >= n {
        1.0
    } else {
        bisect(&|p| binomial_cdf(k, n, p) <= tail)
    };
    (lower, upper)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seed: u64 = args.get(1).map_or(Ok(31), |s| s.parse())?;
    let ids: u64 = args.get(2).map_or(Ok(100), |s| s.parse())?;
    let samples: u32 = args.get(3).map_or(Ok(5), |s| s.parse())?;
    let dump = args.get(4).filter(|p| p.as_str() != "-");
    let bona_only = args.get(5).is_some_and(|a| a == "bona");
    let engine = Engine::default();
    let attacks = if bona_only { 0 } else { samples.min(5) };
    let half = ids.div_ceil(2);
    let t0 = std::time::Instant::now();
    let people: Vec<Identity> = (0..ids)
        .into_par_iter()
        .map(|id| Identity::new(seed, id))
        .collect();
    let rows: Vec<(Kind, u64, u32, Option<PadScores>)> = (0..ids)
        .into_par_iter()
        .flat_map_iter(|i| {
            let people = &people;
            let engine = &engine;
            let p = &people[i as usize];
            let other = &people[((i + half) % ids) as usize];
            let bona = (0..samples).map(move |k| (Kind::Bona, i, k, p.sample(k)));
            let photo = (0..attacks).map(move |k| (Kind::Photo, i, k, p.photo_attack(k)));
            let mism =
                (0..attacks).map(move |k| (Kind::Mismatch, i, k, mismatched_pair(p, other, k)));
            bona.chain(photo)
                .chain(mism)
                .map(move |(kind, i, k, c)| (kind, i, k, pad::measure(engine, &c)))
        })
        .collect();
    eprintln!(
        "{} captures measured in {:.1} s",
        rows.len(),
        t0.elapsed().as_secs_f64()
    );
    if let Some(path) = dump {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        write!(f, "kind\tid\tk")?;
        for (name, _) in FEATURES {
            write!(f, "\t{name}")?;
        }
        write!(f, "\tphoto_margin\tmismatch_margin")?;
        writeln!(f)?;
        for (kind, i, k, s) in &rows {
            write!(f, "{}\t{i}\t{k}", kind.name())?;
            for (_, get) in FEATURES {
                let v = s.as_ref().and_then(get).unwrap_or(f32::NAN);
                write!(f, "\t{v:.5}")?;
            }
            for v in s.as_ref().map_or([f32::NAN; 2], margin_columns) {
                write!(f, "\t{v:.4}")?;
            }
            writeln!(f)?;
        }
    }
    for kind in [Kind::Bona, Kind::Photo, Kind::Mismatch] {
        for (name, get) in FEATURES {
            let mut v: Vec<f32> = rows
                .iter()
                .filter(|r| r.0 == kind)
                .filter_map(|r| r.3.as_ref().and_then(get))
                .collect();
            if v.is_empty() {
                continue;
            }
            v.sort_by(f32::total_cmp);
            let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
            println!(
                "{:9} {:15} min {:8.4} p1 {:8.4} p5 {:8.4} med {:8.4} p95 {:8.4} p99 {:8.4} max {:8.4}",
                kind.name(),
                name,
                v[0],
                q(0.01),
                q(0.05),
                q(0.5),
                q(0.95),
                q(0.99),
                v[v.len() - 1]
            );
        }
    }
    let params = PadParams::default();
    if bona_only {
        let clean: Vec<u64> = (0..ids)
            .filter(|&i| {
                rows.iter().filter(|r| r.1 == i).all(|r| {
                    r.3.as_ref()
                        .is_some_and(|s| pad::decide(s, &params) == PadVerdict::BonaFide)
                })
            })
            .collect();
        println!(
            "palms with all {samples} captures bona fide: {} of {ids}; not: {:?}",
            clean.len(),
            (0..ids).filter(|i| !clean.contains(i)).collect::<Vec<_>>()
        );
    }
    println!("decision with {params:?}:");
    for kind in [Kind::Bona, Kind::Photo, Kind::Mismatch] {
        let set: Vec<_> = rows.iter().filter(|r| r.0 == kind).collect();
        let wrong = set
            .iter()
            .filter(|r| {
                let bona =
                    r.3.as_ref()
                        .is_some_and(|s| pad::decide(s, &params) == PadVerdict::BonaFide);
                bona != (kind == Kind::Bona)
            })
            .count();
        let (lo, hi) = clopper_pearson(wrong as u64, set.len() as u64, 0.8);
        println!(
            "  {:9} {} {wrong}/{} = {:.2} % (80 % CP {:.2} … {:.2} %)",
            kind.name(),
            if kind == Kind::Bona { "BPCER" } else { "APCER" },
            set.len(),
            100.0 * wrong as f64 / set.len().max(1) as f64,
            100.0 * lo,
            100.0 * hi
        );
    }
    Ok(())
}

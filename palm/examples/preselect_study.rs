//! Study of 1:N stage-1 designs as matchers in their own right: a stage 1 keeps the mate among
//! the K best of N people about as often as it verifies at FAR = K / N, so each design is
//! reported as TAR at FAR 1e-2 … 1e-4 (gallery = sample 0 of each identity, probes = the
//! others), with its cost per comparison on one core. Also prints where the full matcher finds
//! genuine pairs (rotation, scale, shift), which bounds how far stage 1 must search.
//!
//! Then the search the authenticator runs ([`Gallery::search`]) at realistic gallery sizes: the
//! dataset's gallery plus distractors derived from it ([`Derivation`]) up to each N given, every
//! probe searched with the exhaustive fallback off. Counted per N and per cascade variant: mates
//! the full matcher accepts (score at its threshold), of those how many the search returns, and
//! any other identity it returns at the threshold. A mate the cascade loses is the accuracy it
//! loses against exhaustive search (which finds every accepted mate unless a distractor outscores
//! it, counted too).
//!
//! `cargo run --release -p palmkey-palm --example preselect_study -- DATASET [N,N,...]`
//! (a tuning dataset, never the reserved evaluation seed; N default 10000). `CASCADES=a,b`
//! picks variants by name (default: all of [`variants`]); `QUICK=1` skips the stage-by-stage
//! study and runs the gallery search only; `HISTOGRAMS=1` runs only the histogram stage study
//! (each [`HistogramParams`] design as a matcher, and the coarse stage behind it).

use std::collections::BTreeMap;
use std::time::Instant;

use palmkey_palm::dataset::Dataset;
use palmkey_palm::engine::Engine;
use palmkey_palm::matcher::{compare_joint, SearchRange};
use palmkey_palm::search::cascade::Cascade;
use palmkey_palm::search::derive::Derivation;
use palmkey_palm::search::histograms::{
    BroadProbe, BroadRef, HistogramParams, LocalProbe, LocalRef,
};
use palmkey_palm::search::quick::{FineParams, QuickProbe, QuickRef, Rotations, StageParams};
use palmkey_palm::search::{Gallery, SearchConfig};
use palmkey_palm::template::Template;
use rayon::prelude::*;
use std::sync::OnceLock;

/// A probe's (coarse, refined) distance to its mate and to every other gallery entry.
type ProbeRow = ((f32, f32), Vec<(f32, f32)>);

fn tar_at(genuine: &[f32], impostor: &[f32], far: f64) -> f64 {
    // Distances: lower = more similar. Threshold = the FAR quantile of impostors.
    let mut imp = impostor.to_vec();
    imp.sort_by(f32::total_cmp);
    let k = ((imp.len() as f64 * far).floor() as usize).min(imp.len() - 1);
    let t = imp[k];
    genuine.iter().filter(|&&g| g < t).count() as f64 / genuine.len() as f64
}

fn main() {
    let root = std::env::args().nth(1).expect("dataset dir");
    let ds = Dataset::open(std::path::Path::new(&root)).unwrap();
    let engine = Engine::default();
    let samples: Vec<(usize, usize, &palmkey_palm::dataset::SampleEntry)> = ds
        .identities()
        .iter()
        .enumerate()
        .flat_map(|(i, id)| id.samples.iter().enumerate().map(move |(k, s)| (i, k, s)))
        .collect();
    let t: Vec<(usize, usize, Option<Template>)> = samples
        .par_iter()
        .map(|(i, k, s)| (*i, *k, engine.extract(&s.load().unwrap()).ok()))
        .collect();
    let gallery: Vec<(usize, &Template)> = t
        .iter()
        .filter(|(_, k, t)| *k == 0 && t.is_some())
        .map(|(i, _, t)| (*i, t.as_ref().unwrap()))
        .collect();
    let probes: Vec<(usize, &Template)> = t
        .iter()
        .filter(|(i, k, t)| *k != 0 && t.is_some() && gallery.iter().any(|(j, _)| j == i))
        .map(|(i, _, t)| (*i, t.as_ref().unwrap()))
        .collect();
    println!("gallery {}, probes {}", gallery.len(), probes.len());
    let sizes: Vec<usize> = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "10000".into())
        .split(',')
        .map(|n| n.parse().expect("gallery sizes N,N,..."))
        .collect();
    if std::env::var_os("HISTOGRAMS").is_some() {
        histogram_study(&engine, &gallery, &probes);
        return;
    }
    if std::env::var_os("QUICK").is_none() {
        stage_study(&engine, &gallery, &probes);
    }
    for n in sizes {
        gallery_search(&engine, &gallery, &probes, n);
    }
}

/// Named cascade variants the gallery search is measured with (the default first).
fn variants() -> Vec<(&'static str, Cascade)> {
    let d = Cascade::default();
    let scale1 = Cascade {
        coarse: StageParams {
            all_scales: false,
            ..d.coarse
        },
        ..d
    };
    vec![
        ("default", d),
        // Before the histogram stage: the coarse stage scans everyone and keeps 10 %.
        (
            "no-hist",
            Cascade {
                histogram_keep: None,
                coarse_keep: 0.1,
                ..d
            },
        ),
        (
            "h10",
            Cascade {
                histogram_keep: Some(0.1),
                ..d
            },
        ),
        // The coarse stage at scale 1 only (the probe's 5 rotations: 125 poses, not 375).
        ("scale1", scale1),
        ("k16", Cascade { k: 16, ..d }),
        ("k8", Cascade { k: 8, ..d }),
        ("scale1-k8", Cascade { k: 8, ..scale1 }),
        (
            "all-rotations",
            Cascade {
                coarse_rotations: None,
                ..d
            },
        ),
    ]
}

/// One probe's search at one N.
struct Row {
    /// The full matcher accepts the probe's mate (score at its threshold).
    accepted: bool,
    /// The search returned the mate at the threshold.
    found: bool,
    /// The search returned another identity at the threshold.
    other: bool,
    /// A candidate outscored the accepted mate (exhaustive search would return it too).
    outscored: bool,
}

/// [`Gallery::search`] over the dataset's gallery plus derived distractors up to `n` people.
fn gallery_search(
    engine: &Engine,
    gallery: &[(usize, &Template)],
    probes: &[(usize, &Template)],
    n: usize,
) {
    let real = gallery.len();
    let n = n.max(real);
    let mut g = Gallery::new();
    let codes: Vec<QuickRef> = (0..n)
        .into_par_iter()
        .map(|i| {
            let base = gallery[i % real].1;
            if i < real {
                QuickRef::new(base)
            } else {
                Derivation::new(i as u64).quick_ref(base)
            }
        })
        .collect();
    codes.into_iter().for_each(|c| g.push(c));
    // Distractor templates, materialised once when first pre-selected.
    let derived: Vec<OnceLock<Template>> = (0..n).map(|_| OnceLock::new()).collect();
    let reference = |i: usize| -> &Template {
        if i < real {
            gallery[i].1
        } else {
            derived[i].get_or_init(|| Derivation::new(i as u64).template(gallery[i % real].1))
        }
    };
    let threshold = engine.config().fusion.threshold;
    let weights = engine.config().fusion.fused.weights;
    let wanted = std::env::var("CASCADES").ok();
    for (name, cascade) in variants() {
        if wanted
            .as_deref()
            .is_some_and(|w| !w.split(',').any(|v| v == name))
        {
            continue;
        }
        let config = SearchConfig {
            cascade,
            exhaustive_up_to: 0,
            exhaustive_fallback: false,
        };
        let start = Instant::now();
        let rows: Vec<Row> = probes
            .par_iter()
            .map(|(subject, p)| {
                let mate = gallery.iter().position(|(j, _)| j == subject).unwrap();
                let mate_score = engine.compare(p, gallery[mate].1).fused;
                let out = g.search(
                    || QuickProbe::new(p, weights),
                    |i| engine.compare(p, reference(i)).fused,
                    threshold,
                    &config,
                );
                let best = out.best.filter(|h| h.score >= threshold);
                let accepted = mate_score >= threshold;
                let outscored = out
                    .best
                    .is_some_and(|h| h.index != mate && h.score > mate_score);
                Row {
                    accepted,
                    found: best.is_some_and(|h| h.index == mate),
                    other: best.is_some_and(|h| h.index != mate),
                    outscored: accepted && outscored,
                }
            })
            .collect();
        let count = |f: fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count();
        let accepted = count(|r| r.accepted);
        let found = count(|r| r.accepted && r.found);
        println!(
            "N = {n:>7} cascade {name:<8}: full matcher accepts {accepted} of {} mates; search returns {found} of them, loses {}; returns another identity at the threshold for {} probes (a candidate outscoring an accepted mate: {}); {:.1} s",
            rows.len(),
            accepted - found,
            count(|r| r.other),
            count(|r| r.outscored),
            start.elapsed().as_secs_f64()
        );
    }
}

/// Each stage as a matcher of its own (TAR at FAR), and the cost at N = 10,000.
fn stage_study(engine: &Engine, gallery: &[(usize, &Template)], probes: &[(usize, &Template)]) {
    // Where genuine pairs align.
    let mut hist: BTreeMap<String, usize> = BTreeMap::new();
    for (i, p) in probes {
        let g = gallery.iter().find(|(j, _)| j == i).unwrap().1;
        let pairs = [
            (p.print().unwrap(), g.print().unwrap()),
            (p.vein().unwrap(), g.vein().unwrap()),
        ];
        if let Some((_, a)) = compare_joint(&pairs, SearchRange::default()) {
            *hist
                .entry(format!("rot {:+3} scale {}", a.rotation_deg, a.scale))
                .or_default() += 1;
            let r = a.dx.abs().max(a.dy.abs());
            *hist.entry(format!("chebyshev shift {r:2}")).or_default() += 1;
        }
    }
    for (k, v) in &hist {
        println!("  genuine {k}: {v}");
    }

    let refs: Vec<(usize, QuickRef)> = gallery
        .iter()
        .map(|(j, g)| (*j, QuickRef::new(g)))
        .collect();
    let weights = engine.config().fusion.fused.weights;
    let cascade = Cascade::default();
    let c = cascade.coarse;
    let scale1 = StageParams {
        all_scales: false,
        ..c
    };
    let across = FineParams {
        all_scales: true,
        ..cascade.fine
    };
    // (name, coarse stage, fine stage, coarse rotations around the histogram stage's).
    let designs: Vec<(&str, StageParams, FineParams, Option<usize>)> = vec![
        (
            "coarse scale 1, fine same frame",
            scale1,
            cascade.fine,
            None,
        ),
        ("coarse scale 1, fine all scales", scale1, across, None),
        ("coarse all scales, fine same", c, cascade.fine, None),
        ("coarse all scales, fine all", c, across, None),
        ("coarse histogram rotation ±1", c, cascade.fine, Some(1)),
        ("coarse histogram rotation ±0", c, cascade.fine, Some(0)),
    ];
    // Cost at N = 10,000 (gallery entries repeated): the whole cascade on all cores, and the
    // coarse scan alone on one core.
    let big: Vec<QuickRef> = (0..10_000)
        .map(|i| QuickRef::new(gallery[i % gallery.len()].1))
        .collect();
    let big_histograms: Vec<BroadRef> = big.iter().map(|r| *r.histogram()).collect();
    let mut whole = Vec::new();
    let mut coarse_only = Vec::new();
    for (_, p) in probes.iter().take(15) {
        let q = QuickProbe::new(p, weights);
        let start = Instant::now();
        std::hint::black_box(cascade.preselect(&q, &big, &big_histograms));
        whole.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        std::hint::black_box(
            q.scan(cascade.coarse)
                .search(&big.iter().collect::<Vec<_>>()),
        );
        coarse_only.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "N = 10,000: cascade (all cores) median {:.2} ms; coarse scan on one core median {:.2} ms",
        median(&mut whole),
        median(&mut coarse_only)
    );
    // Per design: the (coarse, refined) distances of every probe to its mate and to the others.
    let mut results: Vec<Vec<ProbeRow>> = Vec::new();
    for (name, params, fine, around) in &designs {
        let search = |q: &QuickProbe, r: &QuickRef| {
            let at = around.map_or(Rotations::All, |reach| {
                let (_, pose) = q.histogram().best_pose(r.histogram());
                q.rotations_near(q.histogram().pose_rotation(pose), reach)
            });
            q.search_at(r, params, at)
        };
        let rows: Vec<ProbeRow> = probes
            .par_iter()
            .map(|(i, p)| {
                let q = QuickProbe::new(p, weights);
                // `refs` is in gallery order.
                let d = refs.iter().map(|(_, r)| {
                    let pose = search(&q, r);
                    (pose.distance, q.refine(r, pose, *fine).distance)
                });
                split(gallery, *i, d)
            })
            .collect();
        let q = QuickProbe::new(probes[0].1, weights);
        let start = Instant::now();
        for _ in 0..3 {
            for (_, r) in &refs {
                std::hint::black_box(q.refine(r, search(&q, r), *fine));
            }
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / (3 * refs.len()) as f64;
        for (stage, pick) in [("coarse", 0), ("refined", 1)] {
            let of = |d: (f32, f32)| if pick == 0 { d.0 } else { d.1 };
            let genuine: Vec<f32> = rows.iter().map(|r| of(r.0)).collect();
            let impostor: Vec<f32> = rows
                .iter()
                .flat_map(|r| r.1.iter().map(|&d| of(d)))
                .collect();
            println!(
                "{name:<32} {stage:<8} TAR@1e-2 {:.4} @3e-3 {:.4} @1e-3 {:.4} @1e-4 {:.4}  {us:.2} µs/person (both)",
                tar_at(&genuine, &impostor, 1e-2),
                tar_at(&genuine, &impostor, 3e-3),
                tar_at(&genuine, &impostor, 1e-3),
                tar_at(&genuine, &impostor, 1e-4),
            );
        }
        results.push(rows);
    }
    // Reference: the full matcher as a stage.
    let full: Vec<(f32, Vec<f32>)> = probes
        .par_iter()
        .map(|(i, p)| {
            split(
                gallery,
                *i,
                gallery.iter().map(|(_, g)| -engine.compare(p, g).fused),
            )
        })
        .collect();
    let (genuine, impostor) = flatten(&full);
    println!(
        "{:<32} TAR@1e-1 {:.4} @1e-2 {:.4} @1e-3 {:.4} @1e-4 {:.4}",
        "full engine",
        tar_at(&genuine, &impostor, 1e-1),
        tar_at(&genuine, &impostor, 1e-2),
        tar_at(&genuine, &impostor, 1e-3),
        tar_at(&genuine, &impostor, 1e-4),
    );
    // The loss that matters: genuine probes the full matcher accepts at its operating threshold
    // that the coarse stage (keeping the default 2 %) and the fine stage (keeping K of 10,000)
    // would not hand to it, estimated from the quantiles of real impostors.
    let threshold = engine.config().fusion.threshold;
    let accepted: Vec<usize> = (0..genuine.len())
        .filter(|&i| -genuine[i] >= threshold)
        .collect();
    println!(
        "full matcher accepts {} of {} probes at its threshold",
        accepted.len(),
        genuine.len()
    );
    // The histogram stage in front of every design.
    let histogram: Vec<(f32, Vec<f32>)> = probes
        .par_iter()
        .map(|(i, p)| {
            let q = QuickProbe::new(p, weights);
            let d = refs
                .iter()
                .map(|(_, r)| q.histogram().distance(r.histogram()) as f32);
            split(gallery, *i, d)
        })
        .collect();
    let (hg, hi) = flatten(&histogram);
    let th = quantile(&hi, cascade.histogram_keep.map_or(1.0, f64::from));
    for ((name, ..), rows) in designs.iter().zip(&results) {
        let coarse: Vec<f32> = rows.iter().flat_map(|r| r.1.iter().map(|d| d.0)).collect();
        let fine: Vec<f32> = rows.iter().flat_map(|r| r.1.iter().map(|d| d.1)).collect();
        let ta = quantile(&coarse, cascade.coarse_keep as f64);
        let losses: Vec<String> = [32, 16, 8, 4]
            .into_iter()
            .map(|k| {
                let tb = quantile(&fine, k as f64 / 10_000.0);
                let lost = |behind_histograms: bool| {
                    accepted
                        .iter()
                        .filter(|&&i| {
                            let histogram = !behind_histograms || hg[i] < th;
                            !(histogram && rows[i].0 .0 < ta && rows[i].0 .1 < tb)
                        })
                        .count()
                };
                format!(
                    "K = {k}: {} ({} behind the histograms)",
                    lost(false),
                    lost(true)
                )
            })
            .collect();
        println!("{name:<32} loses at N = 10,000: {}", losses.join(", "));
    }
}

/// The histogram stage as a matcher (TAR at FAR, cost per person), and how much of what the
/// default coarse stage keeps at 10 % survives a histogram stage in front of it.
fn histogram_study(engine: &Engine, gallery: &[(usize, &Template)], probes: &[(usize, &Template)]) {
    let weights = engine.config().fusion.fused.weights;
    let quick: Vec<QuickRef> = gallery.iter().map(|(_, g)| QuickRef::new(g)).collect();
    let cascade = Cascade::default();
    // The coarse and fine stages' distances: what a stage in front of them must not lose.
    let all: Vec<&QuickRef> = quick.iter().collect();
    let quick_rows: Vec<ProbeRow> = probes
        .par_iter()
        .map(|(i, p)| {
            let q = QuickProbe::new(p, weights);
            let poses = q.scan(cascade.coarse).search(&all);
            let d = poses
                .iter()
                .zip(&quick)
                .map(|(&pose, r)| (pose.distance, q.refine(r, pose, cascade.fine).distance));
            split(gallery, *i, d)
        })
        .collect();
    let coarse_rows: Vec<(f32, Vec<f32>)> = quick_rows
        .iter()
        .map(|(g, i)| (g.0, i.iter().map(|d| d.0).collect()))
        .collect();
    let fine_rows: Vec<(f32, Vec<f32>)> = quick_rows
        .iter()
        .map(|(g, i)| (g.1, i.iter().map(|d| d.1).collect()))
        .collect();
    let (cg, ci) = flatten(&coarse_rows);
    let (fg, fi) = flatten(&fine_rows);
    let tc = quantile(&ci, 0.1);
    // Mates the full matcher accepts at its threshold: the ones a search must not lose.
    let threshold = engine.config().fusion.threshold;
    let accepted: Vec<bool> = probes
        .par_iter()
        .map(|(i, p)| {
            let mate = gallery.iter().find(|(j, _)| j == i).unwrap().1;
            engine.compare(p, mate).fused >= threshold
        })
        .collect();
    let n_accepted = accepted.iter().filter(|&&a| a).count();
    // The second histogram stage (8 × 8 regions, 45 poses).
    let local_refs: Vec<LocalRef> = gallery.iter().map(|(_, g)| LocalRef::new(g)).collect();
    let local_rows: Vec<(f32, Vec<f32>)> = probes
        .par_iter()
        .map(|(i, p)| {
            let q = LocalProbe::new(p, weights, &HistogramParams::local());
            let mut d = Vec::with_capacity(local_refs.len());
            q.distances(&local_refs, &mut d);
            split(gallery, *i, d.into_iter().map(|x| x as f32))
        })
        .collect();
    let (lg, li) = flatten(&local_rows);
    let d = HistogramParams::default();
    let designs = [
        ("rotations", d),
        (
            "rotations x scales",
            HistogramParams {
                all_scales: true,
                ..d
            },
        ),
        ("rotations, shifts ±4", HistogramParams { reach: 4, ..d }),
        (
            "rotations, shifts ±4 step 2",
            HistogramParams {
                reach: 4,
                step: 2,
                ..d
            },
        ),
    ];
    let only = std::env::var("DESIGNS").ok();
    // HW=print,vein: other modality weights for the histogram stage (default: the fusion's).
    let histogram_weights = std::env::var("HW").ok().map_or(weights, |w| {
        let v: Vec<f32> = w
            .split(',')
            .map(|x| x.parse().expect("HW=print,vein"))
            .collect();
        [v[0], v[1]]
    });
    for (k, (name, params)) in designs.iter().enumerate() {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|x| x == k.to_string()))
        {
            continue;
        }
        let refs: Vec<BroadRef> = gallery.iter().map(|(_, g)| BroadRef::new(g)).collect();
        let rows: Vec<(f32, Vec<f32>)> = probes
            .par_iter()
            .map(|(i, p)| {
                let q = BroadProbe::new(p, histogram_weights, params);
                let mut d = Vec::with_capacity(refs.len());
                q.distances(&refs, &mut d);
                split(gallery, *i, d.into_iter().map(|x| x as f32))
            })
            .collect();
        let (genuine, impostor) = flatten(&rows);
        // Cost on one core: one probe against a 10,000-person gallery (entries repeated).
        let big: Vec<BroadRef> = (0..10_000).map(|i| refs[i % refs.len()]).collect();
        let q = BroadProbe::new(probes[0].1, weights, params);
        let mut times = Vec::new();
        let mut out = Vec::with_capacity(big.len());
        for _ in 0..15 {
            out.clear();
            let start = Instant::now();
            q.distances(&big, &mut out);
            std::hint::black_box(&out);
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<28} {} poses: TAR@1e-1 {:.4} @3e-2 {:.4} @1e-2 {:.4} @1e-3 {:.4}; 10,000 people on one core: median {:.3} ms",
            q.poses(),
            tar_at(&genuine, &impostor, 1e-1),
            tar_at(&genuine, &impostor, 3e-2),
            tar_at(&genuine, &impostor, 1e-2),
            tar_at(&genuine, &impostor, 1e-3),
            times[times.len() / 2],
        );
        for keep in [0.2, 0.1, 0.05, 0.02] {
            let tb = quantile(&impostor, keep);
            let both = (0..genuine.len())
                .filter(|&k| genuine[k] < tb && cg[k] < tc)
                .count();
            let coarse_alone = cg.iter().filter(|&&d| d < tc).count();
            println!(
                "  keep {keep:>4}: mates kept {:.4}; then coarse 10 %: {both} of the {coarse_alone} the coarse stage keeps alone",
                genuine.iter().filter(|&&d| d < tb).count() as f64 / genuine.len() as f64,
            );
        }
        // Diagnosis: does the best histogram pose (a rotation frame) agree with the full
        // matcher's rotation on genuine pairs?
        if std::env::var_os("ROTATIONS").is_some() && k == 0 {
            let mut agree: BTreeMap<(i32, i32), usize> = BTreeMap::new();
            for (i, p) in probes {
                let g = gallery.iter().find(|(j, _)| j == i).unwrap().1;
                let q = BroadProbe::new(p, histogram_weights, params);
                let (_, f) = q.best_pose(&BroadRef::new(g));
                let hist_deg = p.print().or(p.vein()).unwrap().frames()[f].rotation_deg as i32;
                let pairs = [
                    (p.print().unwrap(), g.print().unwrap()),
                    (p.vein().unwrap(), g.vein().unwrap()),
                ];
                if let Some((_, a)) = compare_joint(&pairs, SearchRange::default()) {
                    *agree.entry((hist_deg, a.rotation_deg as i32)).or_default() += 1;
                }
            }
            println!("  (histogram rotation, full matcher rotation): genuine pairs {agree:?}");
        }
        // Diagnosis: the genuine pairs this design ranks worst (accepted by the full matcher).
        if std::env::var_os("WORST").is_some() {
            let t10 = quantile(&impostor, 0.05);
            for (k, (i, p)) in probes.iter().enumerate() {
                if !(accepted[k] && genuine[k] >= t10) {
                    continue;
                }
                let g = gallery.iter().find(|(j, _)| j == i).unwrap().1;
                let valid = |t: &Template| {
                    [t.print(), t.vein()].map(|m| m.map_or(0, |m| m.canonical().valid_cells()))
                };
                let pairs = [
                    (p.print().unwrap(), g.print().unwrap()),
                    (p.vein().unwrap(), g.vein().unwrap()),
                ];
                let pose = compare_joint(&pairs, SearchRange::default())
                    .map(|(_, a)| (a.rotation_deg, a.scale, a.dx, a.dy));
                println!(
                    "  worst: subject {i} distance {} (5 % quantile {t10}) valid probe {:?} mate {:?} pose {pose:?}",
                    genuine[k],
                    valid(p),
                    valid(g)
                );
            }
        }
        // Whole cascades at N = 10,000, estimated from these impostor distributions: a mate
        // survives a stage keeping a fraction f of N when its distance is below the impostors'
        // f-quantile.
        // (histograms, local histograms, coarse, fine keep): 1.0 = stage off; fine 0.32 % =
        // K 32, 0.16 % = K 16.
        for (h, l, c, f) in [
            (1.0, 1.0, 0.1, 0.0032),
            (1.0, 1.0, 0.02, 0.0032),
            (0.2, 1.0, 0.02, 0.0032),
            (0.1, 1.0, 0.02, 0.0032),
            (0.1, 1.0, 0.02, 0.0016),
            (0.05, 1.0, 0.02, 0.0032),
            (0.03, 1.0, 0.01, 0.0032),
            (0.1, 0.02, 0.01, 0.0032),
            (0.05, 0.02, 0.01, 0.0032),
            (0.05, 0.01, 0.005, 0.0032),
            (0.05, 0.01, 0.01, 0.0032),
            (0.03, 0.01, 0.005, 0.0032),
            (0.05, 1.0, 0.02, 0.0016),
            (0.05, 1.0, 0.02, 0.0008),
            (0.03, 1.0, 0.02, 0.0016),
            (0.03, 1.0, 0.01, 0.0016),
            (0.02, 1.0, 0.01, 0.0016),
            (0.02, 1.0, 0.005, 0.0016),
        ] {
            let off_or = |keep: f64, impostor: &[f32]| {
                if keep < 1.0 {
                    quantile(impostor, keep)
                } else {
                    f32::INFINITY
                }
            };
            let (th, tl, tc, tf) = (
                off_or(h, &impostor),
                off_or(l, &li),
                quantile(&ci, c),
                quantile(&fi, f),
            );
            let lost = (0..genuine.len())
                .filter(|&k| {
                    accepted[k] && !(genuine[k] < th && lg[k] < tl && cg[k] < tc && fg[k] < tf)
                })
                .count();
            println!(
                "  cascade histograms {h} -> local {l} -> coarse {c} -> fine {:.2} %: loses {lost} of the {n_accepted} mates the full matcher accepts",
                100.0 * f
            );
        }
    }
}

/// A probe's distances to the gallery split into (its mate's, everyone else's).
fn split<T>(
    gallery: &[(usize, &Template)],
    subject: usize,
    distances: impl Iterator<Item = T>,
) -> (T, Vec<T>) {
    let mut genuine = None;
    let mut impostor = Vec::with_capacity(gallery.len());
    for ((j, _), d) in gallery.iter().zip(distances) {
        if *j == subject {
            genuine = Some(d);
        } else {
            impostor.push(d);
        }
    }
    // Probes are only taken from identities with a gallery entry.
    (
        genuine.expect("the probe's mate is in the gallery"),
        impostor,
    )
}

fn flatten(rows: &[(f32, Vec<f32>)]) -> (Vec<f32>, Vec<f32>) {
    let genuine = rows.iter().map(|r| r.0).collect();
    let impostor = rows.iter().flat_map(|r| r.1.iter().copied()).collect();
    (genuine, impostor)
}

/// The distance below which a fraction `far` of `impostor` lies.
fn quantile(impostor: &[f32], far: f64) -> f32 {
    let mut v = impostor.to_vec();
    v.sort_by(f32::total_cmp);
    v[((v.len() as f64 * far) as usize).min(v.len() - 1)]
}

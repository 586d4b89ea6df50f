//! Study of 1:N pre-selection sketches: for each design, the rank of the mate among the gallery
//! (sample 0 of each identity) for probes (other samples). Usage:
//! `cargo run --release -p palmkey-palm --example sketch_study -- DATASET`
//! (use a tuning dataset, never the reserved evaluation seed).

use palmkey_palm::code::{coarse_count, CoarseMap, CODE_PLANES, MASK_PLANE};
use palmkey_palm::dataset::Dataset;
use palmkey_palm::engine::Engine;
use palmkey_palm::template::{ModalityCode, Template};
use rayon::prelude::*;

const CODE: [u64; 6] = [0b000, 0b001, 0b011, 0b111, 0b110, 0b100];

fn orient_boards(c: &CoarseMap) -> [u64; 6] {
    let mut out = [0u64; 6];
    for (o, code) in CODE.iter().enumerate() {
        let mut b = c.planes[MASK_PLANE];
        for p in 0..CODE_PLANES {
            b &= if code >> p & 1 == 1 {
                c.planes[p]
            } else {
                !c.planes[p]
            };
        }
        out[o] = b;
    }
    out
}

const NOT_A: u64 = 0xfefe_fefe_fefe_fefe; // columns 1..7 (x > 0)
const NOT_H: u64 = 0x7f7f_7f7f_7f7f_7f7f; // columns 0..6

fn shift(b: u64, dx: i32, dy: i32) -> u64 {
    let mut b = b;
    for _ in 0..dx.max(0) {
        b = (b << 1) & NOT_A;
    }
    for _ in 0..(-dx).max(0) {
        b = (b >> 1) & NOT_H;
    }
    if dy > 0 {
        b <<= 8 * dy;
    } else if dy < 0 {
        b >>= 8 * -dy;
    }
    b
}

fn dilate(b: u64) -> u64 {
    let h = b | shift(b, 1, 0) | shift(b, -1, 0);
    h | shift(h, 0, 1) | shift(h, 0, -1)
}

fn coarse_dist(a: &CoarseMap, b: &CoarseMap, dx: i32, dy: i32) -> f32 {
    let c = coarse_count(a, b, dx, dy);
    if c.compared < 30 {
        0.5
    } else {
        c.differing as f32 / c.compared as f32
    }
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
        .filter(|(_, k, t)| *k != 0 && t.is_some())
        .map(|(i, _, t)| (*i, t.as_ref().unwrap()))
        .collect();
    println!("gallery {}, probes {}", gallery.len(), probes.len());
    let mods = |t: &Template| -> Vec<ModalityCode> {
        [t.print(), t.vein()]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    };

    type Design = (
        &'static str,
        Box<dyn Fn(&Template, &Template) -> f32 + Sync>,
    );
    let designs: Vec<Design> = vec![
        (
            "A zero-shift coarse",
            Box::new(move |p: &Template, g: &Template| {
                mods(p)
                    .iter()
                    .zip(mods(g).iter())
                    .map(|(a, b)| coarse_dist(a.coarse(), b.coarse(), 0, 0))
                    .sum()
            }),
        ),
        (
            "B coarse shifts ±2",
            Box::new(move |p: &Template, g: &Template| {
                let (mp, mg) = (mods(p), mods(g));
                let mut best = f32::INFINITY;
                for dy in -2..=2 {
                    for dx in -2..=2 {
                        let d: f32 = mp
                            .iter()
                            .zip(mg.iter())
                            .map(|(a, b)| coarse_dist(a.coarse(), b.coarse(), dx, dy))
                            .sum();
                        best = best.min(d);
                    }
                }
                best
            }),
        ),
        (
            "C coarse shifts ±2 × gallery frames",
            Box::new(move |p: &Template, g: &Template| {
                let (mp, mg) = (mods(p), mods(g));
                let mut best = f32::INFINITY;
                for f in 0..mg[0].frames().len() {
                    for dy in -2..=2 {
                        for dx in -2..=2 {
                            let d: f32 = mp
                                .iter()
                                .zip(mg.iter())
                                .map(|(a, b)| {
                                    coarse_dist(a.coarse(), &b.frames()[f].coarse, dx, dy)
                                })
                                .sum();
                            best = best.min(d);
                        }
                    }
                }
                best
            }),
        ),
        (
            "D chamfer dilate1 shifts {-2,0,2}",
            Box::new(move |p: &Template, g: &Template| {
                let (mp, mg) = (mods(p), mods(g));
                let mut best = 0u32;
                for dy in [-2, 0, 2] {
                    for dx in [-2, 0, 2] {
                        let mut s = 0;
                        for (a, b) in mp.iter().zip(mg.iter()) {
                            let (pa, gb) = (orient_boards(a.coarse()), orient_boards(b.coarse()));
                            for o in 0..6 {
                                s += (shift(pa[o], dx, dy) & dilate(gb[o])).count_ones();
                            }
                        }
                        best = best.max(s);
                    }
                }
                -(best as f32)
            }),
        ),
        (
            "E engine compare",
            Box::new(move |p: &Template, g: &Template| -engine_ref().compare(p, g).fused),
        ),
    ];
    for (name, d) in &designs {
        let ranks: Vec<usize> = probes
            .par_iter()
            .map(|(i, p)| {
                let scores: Vec<(usize, f32)> =
                    gallery.iter().map(|(j, g)| (*j, d(p, g))).collect();
                let mate = scores
                    .iter()
                    .find(|(j, _)| j == i)
                    .map(|s| s.1)
                    .unwrap_or(f32::INFINITY);
                scores
                    .iter()
                    .filter(|(j, s)| *s < mate || (*s == mate && j < i))
                    .count()
            })
            .collect();
        let mut sorted = ranks.clone();
        sorted.sort_unstable();
        let pct = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
        println!(
            "{name:<40} rank0 {:.3}  median {}  p90 {}  p99 {}  max {}",
            ranks.iter().filter(|&&r| r == 0).count() as f64 / ranks.len() as f64,
            pct(0.5),
            pct(0.9),
            pct(0.99),
            sorted[sorted.len() - 1]
        );
    }
}

fn engine_ref() -> &'static Engine {
    static E: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    E.get_or_init(Engine::default)
}

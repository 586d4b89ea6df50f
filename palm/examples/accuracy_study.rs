//! Where genuine comparisons fail on a *training* synthetic population (never seed 424242):
//! per genuine pair, the print-alone, vein-alone and joint similarities next to the relative
//! pose, blur and occlusion of the two captures, so failures can be traced to a cause.
//!
//! `cargo run --release -p palmkey-palm --example accuracy_study -- <seed> <identities> <samples>`

use palmkey_palm::engine::Engine;
use palmkey_palm::matcher;
use palmkey_palm::synth::Identity;
use rayon::prelude::*;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let (seed, ids, samples) = (args[0], args[1], args[2] as u32);
    assert_ne!(seed, 424_242, "seed 424242 is reserved");
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
    if let Some(v) = env("VSIG") {
        config.vein_bank.sigma = v;
    }
    if let Some(v) = env("VLAM") {
        config.vein_bank.wavelength = v;
    }
    if let Some(v) = env("VMIN") {
        config.vein_bank.min_energy = v;
    }
    if let Some(v) = env("CAND") {
        config.search.candidates = v as usize;
    }
    if let Ok(r) = std::env::var("ROT") {
        config.rotations_deg = r.split(',').map(|x| x.parse().expect("degrees")).collect();
    }
    config.search.fine_scan = std::env::var("FINE").is_ok();
    let engine = Engine::new(config);
    let range = engine.config().search;
    let people: Vec<Identity> = (0..ids)
        .into_par_iter()
        .map(|i| Identity::new(seed, i))
        .collect();
    let caps: Vec<_> = people
        .par_iter()
        .flat_map_iter(|p| (0..samples).map(move |k| (p.id(), p.sample_with_conditions(k))))
        .map(|(id, s)| (id, engine.extract(&s.capture).ok(), s.acquisition))
        .collect();
    let mut imp_p = Vec::new();
    let mut imp_v = Vec::new();
    for i in 0..caps.len().min(200) {
        for j in i + 1..caps.len() {
            if caps[i].0 == caps[j].0 {
                continue;
            }
            if let (Some(a), Some(b)) = (&caps[i].1, &caps[j].1) {
                if let Some(x) = matcher::compare(a.print().unwrap(), b.print().unwrap(), range) {
                    imp_p.push(x.similarity);
                }
                if let Some(x) = matcher::compare(a.vein().unwrap(), b.vein().unwrap(), range) {
                    imp_v.push(x.similarity);
                }
            }
        }
    }
    imp_p.sort_by(|a, b| b.total_cmp(a));
    imp_v.sort_by(|a, b| b.total_cmp(a));
    let tp = imp_p[imp_p.len() / 1000];
    let tv = imp_v[imp_v.len() / 1000];
    println!(
        "impostor p99.9: print {tp:.3} vein {tv:.3} ({} pairs)",
        imp_p.len()
    );
    let (mut n, mut fp, mut fv) = (0, 0, 0);
    for i in 0..caps.len() {
        for j in i + 1..caps.len() {
            if caps[i].0 != caps[j].0 {
                continue;
            }
            let (Some(a), Some(b)) = (&caps[i].1, &caps[j].1) else {
                continue;
            };
            n += 1;
            let p = matcher::compare(a.print().unwrap(), b.print().unwrap(), range);
            let v = matcher::compare(a.vein().unwrap(), b.vein().unwrap(), range);
            let ps = p.map(|x| x.similarity).unwrap_or(0.0);
            let vs = v.map(|x| x.similarity).unwrap_or(0.0);
            let bad_p = ps < tp;
            let bad_v = vs < tv;
            fp += bad_p as u32;
            fv += bad_v as u32;
            if (bad_p || bad_v) && std::env::var("QUIET").is_err() {
                let (qa, qb) = (&caps[i].2, &caps[j].2);
                println!(
                    "{}:{}-{} print {:.3}{} vein {:.3}{} drot {:+.1} dshift {:+.3},{:+.3} scale {:.3} blur {:.2}/{:.2} band {}/{} light {:.2},{:.2}/{:.2},{:.2} palign {:?} valign {:?}",
                    caps[i].0, i % samples as usize, j % samples as usize,
                    ps, if bad_p { "*" } else { "" }, vs, if bad_v { "*" } else { "" },
                    qb.pose.rotation_deg - qa.pose.rotation_deg,
                    qb.pose.shift[0] - qa.pose.shift[0], qb.pose.shift[1] - qa.pose.shift[1],
                    qb.pose.scale / qa.pose.scale,
                    qa.print_sensor.blur, qb.print_sensor.blur,
                    qa.band_aid.is_some(), qb.band_aid.is_some(),
                    qa.print_light.direction[0], qa.print_light.direction[1],
                    qb.print_light.direction[0], qb.print_light.direction[1],
                    p.map(|x| (x.rotation_deg, x.scale, x.dx, x.dy)),
                    v.map(|x| (x.rotation_deg, x.scale, x.dx, x.dy)),
                );
            }
        }
    }
    println!(
        "genuine {n}: print below impostor p99.9 {fp} ({:.1} %), vein below {fv} ({:.1} %)",
        100.0 * fp as f32 / n as f32,
        100.0 * fv as f32 / n as f32
    );
}

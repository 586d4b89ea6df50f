//! Synthetic data through the whole evaluation: synth → extract → all pairs → report. The
//! bounds are loose enough for a small set yet fail for a broken engine (random codes, a
//! constant score, swapped score direction, PAD that lets photos through).

use palmkey_palm::eval::engine_bio::{EngineBiometric, EvalModality};
use palmkey_palm::eval::identification::IdentificationConfig;
use palmkey_palm::eval::run::{evaluate, EvalOptions};
use palmkey_palm::synth::{write_dataset, DatasetSpec, SynthConfig};

const IDENTITIES: u32 = 30;
const SAMPLES: u32 = 4;

#[test]
fn synth_then_eval_meets_accuracy_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DatasetSpec {
        identities: IDENTITIES,
        samples: SAMPLES,
        seed: 20_240,
        attacks: true,
        full_hand: false,
        config: SynthConfig::default(),
    };
    write_dataset(dir.path(), &spec).unwrap();

    let bio = EngineBiometric::new(EvalModality::Fused, false);
    let options = EvalOptions {
        // 6 of 30 identities held out → 24 non-mated probes: FPIR 0.125 is measurable. The
        // cascade hands K = 16 of the gallery of 24 to the full matcher: this checks the
        // plumbing, not the cascade's recall
        // (measured by examples/preselect_study.rs; see docs/palm-report.md).
        identification: Some(IdentificationConfig {
            holdout_every: 5,
            fpir: 0.125,
            ..IdentificationConfig::default()
        }),
        attacks: true,
    };
    let out = evaluate(&bio, dir.path(), "fused", options).unwrap();
    let v = &out.verification;

    // JSON contract.
    let json = v.to_json();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "eer",
            "fta",
            "fte",
            "genuine",
            "identities",
            "impostor",
            "modality",
            "samples",
            "seconds",
            "tar_at_far"
        ]
    );
    assert_eq!(json["modality"], "fused");
    assert_eq!(json["identities"], IDENTITIES);
    assert_eq!(json["samples"], IDENTITIES * SAMPLES);
    let tar = json["tar_at_far"].as_object().unwrap();
    assert_eq!(
        tar.keys().collect::<Vec<_>>(),
        ["1e-2", "1e-3", "1e-4", "1e-5", "1e-6"]
    );
    // ≈ 7,000 impostor pairs: 1e-2 and 1e-3 measurable, 1e-4 and below must be null.
    assert!(tar["1e-2"].is_f64() && tar["1e-3"].is_f64(), "{json}");
    assert!(
        tar["1e-4"].is_null() && tar["1e-5"].is_null() && tar["1e-6"].is_null(),
        "{json}"
    );

    // Acquisition: the synthetic captures are mostly good.
    let fta = json["fta"].as_f64().unwrap();
    let fte = json["fte"].as_f64().unwrap();
    assert!(fta <= 0.1 && fte <= 0.1, "fta {fta} fte {fte}");
    let extracted = (IDENTITIES * SAMPLES) as u64;
    assert!(v.genuine + v.impostor <= extracted * (extracted - 1) / 2);
    assert!(v.genuine >= 150, "genuine pairs {}", v.genuine);

    // Accuracy: a broken engine (random or constant scores) sits near EER 0.5, TAR@1e-2 ≈ 0.01.
    assert!(
        v.genuine_mean > v.impostor_mean,
        "{} vs {}",
        v.genuine_mean,
        v.impostor_mean
    );
    // Measured on this set (seed 20240, 30 × 4) at commit time: EER 1.1 %, TAR@1e-2 98.9 %,
    // TAR@1e-3 98.3 % (177 genuine pairs: one pair is 0.56 %). The bounds leave ~2–6 pairs of
    // slack: an engine that loses one modality's alignment or codes (fused ≈ single-modality
    // EER ≥ 3 %) fails them.
    let eer = v.eer.unwrap();
    assert!(eer <= 0.03, "EER {eer}");
    let tar2 = tar["1e-2"].as_f64().unwrap();
    assert!(tar2 >= 0.97, "TAR@1e-2 {tar2}");
    let tar3 = tar["1e-3"].as_f64().unwrap();
    assert!(tar3 >= 0.95, "TAR@1e-3 {tar3}");

    // Identification.
    let id = out.identification.unwrap();
    assert_eq!(
        id.gallery as u64 + v.acquisition.failed_enrolments as u64,
        24
    );
    assert!(id.rank1 > 0.9, "rank-1 {}", id.rank1);
    assert_eq!(
        id.search.mated_same_result, id.search.mated_probes,
        "{:?}",
        id.search
    );

    // Presentation attacks: printed photos never accepted at any measured operating point.
    let photo = out
        .attacks
        .iter()
        .find(|a| a.attack == "photo")
        .expect("photo attacks");
    assert_eq!(photo.presentations, (IDENTITIES * SAMPLES.min(5)) as usize);
    assert!(photo.at.iter().all(|a| a.accepted == 0), "{photo:?}");
    assert!(out.attacks.iter().any(|a| a.attack == "mismatch"));
}

/// Print alone, with its own alignment: the modality that was far too weak (EER 16.9 % on the
/// reserved set before the bank was rescaled). Measured here at commit time: EER 3.2 %,
/// TAR@1e-2 96.6 %, TAR@1e-3 93.2 % (177 genuine pairs); the previous bank (σ 5.5 %, λ 11 %,
/// 35 % energy mask) gives EER 9.6 %, TAR@1e-2 85.9 % here and fails.
#[test]
fn print_alone_meets_accuracy_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DatasetSpec {
        identities: IDENTITIES,
        samples: SAMPLES,
        seed: 20_240,
        attacks: false,
        full_hand: false,
        config: SynthConfig::default(),
    };
    write_dataset(dir.path(), &spec).unwrap();
    let bio = EngineBiometric::new(EvalModality::Print, false);
    let options = EvalOptions {
        identification: None,
        attacks: false,
    };
    let out = evaluate(&bio, dir.path(), "print", options).unwrap();
    let v = &out.verification;
    assert!(v.genuine >= 150, "genuine pairs {}", v.genuine);
    let eer = v.eer.unwrap();
    assert!(eer <= 0.06, "print EER {eer}");
    let tar = v.to_json()["tar_at_far"]["1e-2"].as_f64().unwrap();
    assert!(tar >= 0.92, "print TAR@1e-2 {tar}");
}

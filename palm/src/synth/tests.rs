//! Generator tests: determinism, stream independence, variation ranges, geometry, attacks and
//! the dataset round trip.

use super::acquisition::{self, Acquisition, Deformation, Pose};
use super::raster::Plane;
use super::rng::{stream, Purpose};
use super::*;
use crate::dataset::Dataset;

fn small() -> SynthConfig {
    SynthConfig {
        roi_size: 64,
        band_aid_rate: 0.03,
    }
}

#[test]
fn samples_are_deterministic_and_distinct() {
    let a = Identity::with_config(9, 4, small());
    let again = Identity::with_config(9, 4, small());
    let s0 = a.sample(0);
    assert_eq!(s0.print, again.sample(0).print);
    assert_eq!(s0.vein, again.sample(0).vein);
    assert_eq!(a.photo_attack(1).vein, again.photo_attack(1).vein);
    assert_ne!(s0.print, a.sample(1).print);
    let other = Identity::with_config(9, 5, small());
    assert_ne!(s0.print, other.sample(0).print);
    let other_seed = Identity::with_config(10, 4, small());
    assert_ne!(s0.vein, other_seed.sample(0).vein);
    for img in [s0.print.as_ref().unwrap(), s0.vein.as_ref().unwrap()] {
        assert_eq!(img.dimensions(), (64, 64));
    }
}

#[test]
fn sample_conditions_depend_only_on_seed_identity_and_index() {
    // A sample's stream is keyed, not a continuation of the anatomy stream: regenerating
    // sample 7 alone gives the same conditions as drawing it after samples 0..7.
    let id = Identity::with_config(3, 11, small());
    let direct = Acquisition::draw(&mut stream(3, Purpose::Acquisition, 11, 7), 0.03);
    assert_eq!(id.acquisition(7), direct);
    // Two identities' sample 7 do not share conditions.
    let other = Identity::with_config(3, 12, small());
    assert_ne!(id.acquisition(7), other.acquisition(7));
}

#[test]
fn variation_stays_within_the_stated_ranges() {
    let mut band_aids = 0;
    let mut max_rotation = 0.0f32;
    let draws = 4000;
    for k in 0..draws {
        let acq = Acquisition::draw(&mut stream(1, Purpose::Acquisition, k / 10, k % 10), 0.03);
        let p = acq.pose;
        assert!(p.rotation_deg.abs() <= acquisition::MAX_ROTATION_DEG);
        assert!(p.shift.iter().all(|s| s.abs() <= acquisition::MAX_SHIFT));
        assert!((acquisition::SCALE_RANGE.0..=acquisition::SCALE_RANGE.1).contains(&p.scale));
        // ROI side = 2 palm units.
        assert!(acq.deformation.max_displacement() <= 2.0 * acquisition::MAX_DEFORMATION + 1e-6);
        let (lo, hi) = acquisition::DEFOCUS_RANGE;
        assert!((lo..=hi).contains(&acq.print_sensor.blur));
        assert!((0.8..=1.25).contains(&acq.print_sensor.gamma));
        max_rotation = max_rotation.max(p.rotation_deg.abs());
        band_aids += acq.band_aid.is_some() as u64;
    }
    // The ranges are used, not just respected: some samples are strongly rotated.
    assert!(max_rotation > 8.0, "max rotation {max_rotation}");
    let rate = band_aids as f64 / draws as f64;
    assert!((0.015..0.05).contains(&rate), "band-aid rate {rate}");
}

/// A noise-free, undeformed, frontally lit acquisition with the given pose.
fn clean(pose: Pose) -> Acquisition {
    let mut acq = Acquisition::draw(&mut stream(0, Purpose::Acquisition, 0, 0), 0.0);
    acq.pose = pose;
    acq.deformation = Deformation::none();
    acq.print_light.direction = [0.0, 0.0, 1.0];
    acq
}

fn ncc(a: &Plane, b: &Plane, radius: f32) -> f32 {
    let n = a.width as f32;
    let pixels: Vec<(f32, f32)> = (0..a.height)
        .flat_map(|y| (0..a.width).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let (u, v) = (x as f32 + 0.5 - n / 2.0, y as f32 + 0.5 - n / 2.0);
            (u * u + v * v).sqrt() < radius * n / 2.0
        })
        .map(|(x, y)| (a.at(x, y), b.at(x, y)))
        .collect();
    let count = pixels.len() as f32;
    let (ma, mb) = pixels.iter().fold((0.0, 0.0), |acc, p| {
        (acc.0 + p.0 / count, acc.1 + p.1 / count)
    });
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in pixels {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

#[test]
fn pose_rotates_the_palm_in_the_roi() {
    let id = Identity::with_config(21, 2, small());
    let roi = 64;
    let straight = render::surface(&id.anatomy, &clean(Pose::IDENTITY), roi).print;
    let turned_pose = Pose {
        rotation_deg: 9.0,
        ..Pose::IDENTITY
    };
    let turned = render::surface(&id.anatomy, &clean(turned_pose), roi).print;
    // Rotate the straight render by the same pose: it must match the posed render.
    let mut expected = Plane::new(roi, roi, 0.0);
    for y in 0..roi {
        for x in 0..roi {
            let u = [
                (x as f32 + 0.5) / roi as f32 * 2.0 - 1.0,
                (y as f32 + 0.5) / roi as f32 * 2.0 - 1.0,
            ];
            let p = turned_pose.palm_point(u);
            let sx = (p[0] + 1.0) * roi as f32 / 2.0 - 0.5;
            let sy = (p[1] + 1.0) * roi as f32 / 2.0 - 0.5;
            *expected.at_mut(x, y) = straight.sample(sx, sy);
        }
    }
    let matched = ncc(&expected, &turned, 0.8);
    let unmatched = ncc(&straight, &turned, 0.8);
    assert!(matched > 0.9, "rotated render vs posed render: {matched}");
    assert!(matched > unmatched + 0.1, "{matched} vs {unmatched}");
}

/// Energy of the detail layer (image minus a broad blur): vessels and creases live there.
fn detail_energy(img: &image::GrayImage) -> f32 {
    let mut plane = Plane::new(img.width() as usize, img.height() as usize, 0.0);
    for (d, p) in plane.data.iter_mut().zip(img.pixels()) {
        *d = p[0] as f32;
    }
    let mut base = plane.clone();
    base.blur(4.0);
    let diff: Vec<f32> = plane
        .data
        .iter()
        .zip(&base.data)
        .map(|(a, b)| a - b)
        .collect();
    let mean = diff.iter().sum::<f32>() / diff.len() as f32;
    diff.iter().map(|d| (d - mean).powi(2)).sum::<f32>() / diff.len() as f32
}

#[test]
fn photo_attacks_have_no_vessels_in_near_infrared() {
    let id = Identity::with_config(5, 1, small());
    let mut genuine = 0.0;
    let mut attack = 0.0;
    for k in 0..4 {
        genuine += detail_energy(id.sample(k).vein.as_ref().unwrap());
        attack += detail_energy(id.photo_attack(k).vein.as_ref().unwrap());
    }
    assert!(
        attack < genuine,
        "attack NIR detail {attack} vs genuine {genuine}"
    );
}

#[test]
fn mismatched_pair_combines_two_palms() {
    let a = Identity::with_config(2, 0, small());
    let b = Identity::with_config(2, 1, small());
    let pair = mismatched_pair(&a, &b, 3);
    assert_eq!(pair.print, a.sample(3).print);
    assert_eq!(pair.vein, b.sample(3).vein);
}

#[test]
fn dataset_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DatasetSpec {
        identities: 3,
        samples: 2,
        seed: 77,
        attacks: true,
        full_hand: false,
        config: small(),
    };
    let summary = write_dataset(dir.path(), &spec).unwrap();
    assert_eq!(summary.samples, 6);
    assert_eq!(summary.photo_attacks, 6);
    assert_eq!(summary.mismatch_attacks, 6);

    let ds = Dataset::open(dir.path()).unwrap();
    let names: Vec<_> = ds.identities().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["00000", "00001", "00002"]);
    assert_eq!(ds.sample_count(), 6);
    assert!(ds.samples().all(|s| s.is_paired()));
    let loaded = ds.sample("00001", "01").unwrap().load().unwrap();
    let expected = Identity::with_config(77, 1, small()).sample(1);
    assert_eq!(loaded.print, expected.print);
    assert_eq!(loaded.vein, expected.vein);

    let photos = Dataset::open(&dir.path().join(".attacks/photo")).unwrap();
    assert_eq!(photos.sample_count(), 6);
    let photo = photos.sample("00002", "00").unwrap().load().unwrap();
    assert_eq!(
        photo.vein,
        Identity::with_config(77, 2, small()).photo_attack(0).vein
    );
    let mismatches = Dataset::open(&dir.path().join(".attacks/mismatch")).unwrap();
    let pair = mismatches.sample("00000", "01").unwrap().load().unwrap();
    // Identity 0's vein partner among 3 is (0 + 2) mod 3 = 2.
    assert_eq!(
        pair.vein,
        Identity::with_config(77, 2, small()).sample(1).vein
    );
    assert!(dir.path().join(".synth.json").is_file());
}

#[test]
fn names_sort_numerically() {
    assert_eq!(generate::identity_name(7, 2000), "00007");
    assert_eq!(generate::identity_name(7, 200_000), "000007");
    assert_eq!(generate::sample_name(3, 10), "03");
    assert_eq!(generate::sample_name(3, 101), "003");
}

#[test]
fn hand_photo_shows_a_hand_around_the_roi_sample() {
    let id = Identity::with_config(4, 8, small());
    let photo = id.hand_photo(2);
    let print = photo.print.unwrap();
    assert_eq!(print.dimensions(), (256, 256));
    assert_eq!(photo.vein.unwrap().dimensions(), (256, 256));
    // Dark background in the corners, bright skin where the palm is.
    let px = |u: f32, v: f32| {
        let x = (u - render::HAND_FRAME_ORIGIN[0]) / render::HAND_FRAME_SPAN * 256.0;
        let y = (v - render::HAND_FRAME_ORIGIN[1]) / render::HAND_FRAME_SPAN * 256.0;
        print.get_pixel(x as u32, y as u32)[0] as f32
    };
    let background = (px(-4.3, 2.9) + px(4.3, 2.9)) / 2.0;
    let palm = (px(0.0, 0.0) + px(0.3, -0.3) + px(-0.3, 0.3)) / 3.0;
    assert!(
        palm > background + 40.0,
        "palm {palm} background {background}"
    );
    // The palm ROI of the same sample is the crop [-1, 1]² of the hand photo's frame.
    let to_plane = |img: &image::GrayImage| {
        let mut p = Plane::new(img.width() as usize, img.height() as usize, 0.0);
        for (d, px) in p.data.iter_mut().zip(img.pixels()) {
            *d = px[0] as f32;
        }
        p
    };
    let hand = to_plane(&print);
    let mut crop = Plane::new(64, 64, 0.0);
    for y in 0..64 {
        for x in 0..64 {
            let u = (x as f32 + 0.5) / 32.0 - 1.0;
            let v = (y as f32 + 0.5) / 32.0 - 1.0;
            let hx = (u - render::HAND_FRAME_ORIGIN[0]) / render::HAND_FRAME_SPAN * 256.0 - 0.5;
            let hy = (v - render::HAND_FRAME_ORIGIN[1]) / render::HAND_FRAME_SPAN * 256.0 - 0.5;
            *crop.at_mut(x, y) = hand.sample(hx, hy);
        }
    }
    let same = ncc(&crop, &to_plane(id.sample(2).print.as_ref().unwrap()), 0.9);
    let other = ncc(&crop, &to_plane(id.sample(3).print.as_ref().unwrap()), 0.9);
    assert!(
        same > 0.6 && same > other + 0.2,
        "same sample {same}, other sample {other}"
    );
}

//! Alignment debugging: a capture against rotated/shifted copies of itself and its siblings.
use palmkey_palm::capture::Capture;
use palmkey_palm::engine::Engine;
use palmkey_palm::filters::Plane;
use palmkey_palm::matcher::{compare, SearchRange};
use palmkey_palm::synth::Identity;

fn main() {
    let engine = Engine::default();
    let person = Identity::new(1, 3);
    let c0 = person.sample(0);
    let t0 = engine.extract(&c0).unwrap();
    let p = Plane::from_gray(c0.print.as_ref().unwrap());
    let v = Plane::from_gray(c0.vein.as_ref().unwrap());
    for (deg, dx) in [
        (0.0f32, 0.0f32),
        (2.5, 0.0),
        (4.0, 0.0),
        (0.0, 1.0),
        (0.0, 2.0),
        (0.0, 3.0),
        (0.0, 4.0),
        (0.0, 6.0),
    ] {
        let warp = |img: &Plane| {
            img.warp_square(63.5 + dx, 63.5, 128.0, deg.to_radians(), 128)
                .to_gray()
        };
        let c = Capture::paired(warp(&p), warp(&v));
        let t = engine.extract(&c).unwrap();
        let range = SearchRange::default();
        let a = compare(t.print().unwrap(), t0.print().unwrap(), range);
        let b = compare(t0.print().unwrap(), t.print().unwrap(), range);
        println!("rot {deg} dx {dx}: {a:?}\n          rev {b:?}");
    }
    for k in 1..5 {
        let s = person.sample_with_conditions(k);
        let t = engine.extract(&s.capture).unwrap();
        let a = compare(
            t.print().unwrap(),
            t0.print().unwrap(),
            SearchRange::default(),
        );
        let pv = compare(
            t.vein().unwrap(),
            t0.vein().unwrap(),
            SearchRange::default(),
        );
        println!(
            "sample {k}: pose {:?} -> {a:?} vein {pv:?}",
            s.acquisition.pose
        );
    }
    println!("sample 0 pose {:?}", person.acquisition(0).pose);
}

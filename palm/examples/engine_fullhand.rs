//! Whole-hand localisation on synthetic hand photos: success rate and genuine/impostor scores.
//! `cargo run --release -p palmkey-palm --example engine_fullhand -- OUT_DIR`
use palmkey_palm::engine::{Engine, EngineConfig};
use palmkey_palm::filters::Plane;
use palmkey_palm::roi::locate_palm;
use palmkey_palm::synth::Identity;

fn main() {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/tmp".into()));
    let engine = Engine::new(EngineConfig {
        full_hand: true,
        ..EngineConfig::default()
    });
    let (mut ok, mut total) = (0, 0);
    let mut templates = Vec::new();
    for id in 0..6 {
        let p = Identity::new(13, id);
        for k in 0..3 {
            let c = p.hand_photo(k);
            total += 1;
            if id == 0 && k == 0 {
                c.print
                    .as_ref()
                    .unwrap()
                    .save(out.join("hand_print.png"))
                    .unwrap();
                let img = Plane::from_gray(c.print.as_ref().unwrap());
                if let Ok(f) = locate_palm(&img) {
                    f.extract(&img, 128)
                        .to_gray()
                        .save(out.join("hand_roi.png"))
                        .unwrap();
                    println!("frame {f:?} image {}x{}", img.w, img.h);
                }
            }
            match engine.extract(&c) {
                Ok(t) => {
                    ok += 1;
                    templates.push((id, t));
                }
                Err(e) => println!("palm {id} capture {k}: {e}"),
            }
        }
    }
    println!("extracted {ok}/{total}");
    for i in 0..templates.len() {
        for j in i + 1..templates.len() {
            let s = engine.compare(&templates[i].1, &templates[j].1);
            if templates[i].0 == templates[j].0 {
                println!("genuine {}: {:?}", templates[i].0, s);
            }
        }
    }
}

//! Writes a few synthetic captures and their normalised ROIs to a folder, to look at them.
//! `cargo run --release -p palmkey-palm --example engine_dump -- OUT_DIR`
use palmkey_palm::engine::Engine;
use palmkey_palm::synth::Identity;
use palmkey_palm::{filters::Plane, normalize};

fn main() {
    let out = std::path::PathBuf::from(std::env::args().nth(1).expect("out dir"));
    std::fs::create_dir_all(&out).expect("out dir");
    let engine = Engine::default();
    let stretch = |p: &Plane| p.map(|v| (v * 0.25 + 0.5).clamp(0.0, 1.0)).to_gray();
    for id in 0..2 {
        let person = Identity::new(1, id);
        for k in 0..3 {
            let c = person.sample(k);
            c.print
                .as_ref()
                .unwrap()
                .save(out.join(format!("{id}_{k}_print.png")))
                .unwrap();
            c.vein
                .as_ref()
                .unwrap()
                .save(out.join(format!("{id}_{k}_vein.png")))
                .unwrap();
            let rois = engine.rois(&c).unwrap();
            stretch(&normalize::print(rois.print.as_ref().unwrap()))
                .save(out.join(format!("{id}_{k}_print_n.png")))
                .unwrap();
            stretch(&normalize::vein(rois.vein.as_ref().unwrap()))
                .save(out.join(format!("{id}_{k}_vein_n.png")))
                .unwrap();
        }
        let a = person.photo_attack(0);
        a.print
            .as_ref()
            .unwrap()
            .save(out.join(format!("{id}_attack_print.png")))
            .unwrap();
        a.vein
            .as_ref()
            .unwrap()
            .save(out.join(format!("{id}_attack_vein.png")))
            .unwrap();
    }
    // One contact sheet of everything, 2x upscaled.
    let names = [
        "0_0_print",
        "0_1_print",
        "0_2_print",
        "0_0_vein",
        "0_1_vein",
        "0_attack_print",
        "0_attack_vein",
        "0_0_print_n",
        "0_1_print_n",
        "0_0_vein_n",
        "0_1_vein_n",
        "1_0_print",
    ];
    let cell = 256u32;
    let mut sheet = image::GrayImage::new(cell * 6, cell * 2);
    for (i, n) in names.iter().enumerate() {
        let img = image::open(out.join(format!("{n}.png")))
            .unwrap()
            .into_luma8();
        let img = image::imageops::resize(&img, cell, cell, image::imageops::FilterType::Triangle);
        image::imageops::replace(
            &mut sheet,
            &img,
            (i as u32 % 6 * cell).into(),
            (i as u32 / 6 * cell).into(),
        );
    }
    sheet.save(out.join("sheet.png")).unwrap();
}

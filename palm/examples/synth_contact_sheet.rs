//! Renders a contact sheet of synthetic captures: one row per identity, each tile a visible
//! print ROI next to its NIR vein ROI; the last column is a photo attack of that identity.
//!
//! `cargo run --release -p palmkey-palm --example synth_contact_sheet -- OUT.png [SEED] [ROWS] [SAMPLES] [IDS]`
//! (IDS: comma-separated identity numbers, one per row; default 0..ROWS; tile size from
//! `SHEET_TILE`, default 128). docs/images/synth-samples.png is `-- OUT 21 4 2 6,3,11,14`.

use image::{GrayImage, Luma};
use palmkey_palm::synth::Identity;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "synth-samples.png".into());
    let seed: u64 = args.next().map_or(Ok(7), |s| s.parse())?;
    let rows: u32 = args.next().map_or(Ok(4), |s| s.parse())?;
    let samples: u32 = args.next().map_or(Ok(3), |s| s.parse())?;
    let ids: Vec<u64> = match args.next() {
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => (0..rows as u64).collect(),
    };
    let rows = ids.len() as u32;
    let tile: u32 = std::env::var("SHEET_TILE").map_or(Ok(128), |s| s.parse())?;
    let gap = 6u32;
    let pair = 2 * tile + 2;
    let cols = samples + 1;
    let width = cols * pair + (cols - 1) * gap;
    let height = rows * tile + (rows - 1) * gap;
    let mut sheet = GrayImage::from_pixel(width, height, Luma([255]));
    for r in 0..rows {
        let identity = Identity::new(seed, ids[r as usize]);
        for c in 0..cols {
            let capture = if c < samples {
                identity.sample(c)
            } else {
                identity.photo_attack(0)
            };
            let x0 = c * (pair + gap);
            let y0 = r * (tile + gap);
            for (k, img) in [capture.print, capture.vein].into_iter().enumerate() {
                let img = img.expect("paired capture");
                let img = image::imageops::resize(&img, tile, tile, image::imageops::Triangle);
                image::imageops::replace(
                    &mut sheet,
                    &img,
                    (x0 + k as u32 * (tile + 2)) as i64,
                    y0 as i64,
                );
            }
        }
    }
    let file = std::io::BufWriter::new(std::fs::File::create(&out)?);
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        file,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    );
    sheet.write_with_encoder(encoder)?;
    println!("wrote {out} ({width}x{height})");
    Ok(())
}

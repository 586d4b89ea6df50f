//! Code stability under a one-pixel shift of the working plane.
use palmkey_palm::code::{Coder, GRID};
use palmkey_palm::filters::Plane;
use palmkey_palm::synth::Identity;
use palmkey_palm::{normalize, print};

fn main() {
    let c = Identity::new(1, 3).sample(0);
    let p = Plane::from_gray(c.print.as_ref().unwrap()).resize(64, 64);
    let n = normalize::print(&p);
    let mut shifted = n.clone();
    for y in 0..64 {
        for x in 0..64 {
            shifted.data[y * 64 + x] = n.at((x + 1).min(63), y);
        }
    }
    let coder = Coder::new(print::BANK, 64, &[0]);
    let a = coder.encode(&n, &|_, _| true).remove(0).1;
    let b = coder.encode(&shifted, &|_, _| true).remove(0).1;
    let (mut same, mut diff, mut only) = (0, 0, 0);
    for y in 0..GRID {
        for x in 0..GRID {
            match (a.cell(x, y), b.cell(x, y)) {
                (Some(i), Some(j)) if i == j => same += 1,
                (Some(_), Some(_)) => diff += 1,
                (None, None) => {}
                _ => only += 1,
            }
        }
    }
    println!("same {same} diff {diff} one-sided {only}");
    for y in 0..GRID {
        let row: String = (0..GRID)
            .map(|x| {
                a.cell(x, y)
                    .map(|k| (b'0' + k as u8) as char)
                    .unwrap_or('.')
            })
            .collect();
        let row2: String = (0..GRID)
            .map(|x| {
                b.cell(x, y)
                    .map(|k| (b'0' + k as u8) as char)
                    .unwrap_or('.')
            })
            .collect();
        println!("{row}  {row2}");
    }
}

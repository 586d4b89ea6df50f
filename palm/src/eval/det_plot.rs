//! A small DET-curve picture (PNG) drawn with the `image` crate: log FMR on x, log FNMR on y,
//! one coloured curve per modality, decade grid and labels in a built-in 5×7 pixel font.

use image::{Rgb, RgbImage};

const W: u32 = 560;
const H: u32 = 420;
const LEFT: i32 = 56;
const RIGHT: i32 = 16;
const TOP: i32 = 28;
const BOTTOM: i32 = 40;
/// x axis: FMR 1e-7 … 1; y axis: FNMR 1e-4 … 1.
const X_DECADES: (i32, i32) = (-7, 0);
const Y_DECADES: (i32, i32) = (-4, 0);

/// One curve: a label and `(FMR, FNMR)` points.
#[derive(Debug, Clone)]
pub struct Curve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

const COLOURS: [Rgb<u8>; 4] = [
    Rgb([200, 40, 40]),
    Rgb([30, 110, 200]),
    Rgb([20, 140, 60]),
    Rgb([150, 60, 170]),
];

/// Draws the curves; FNMR values of 0 are drawn on the bottom edge.
pub fn draw(curves: &[Curve], title: &str) -> RgbImage {
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    let (x0, x1) = (LEFT, W as i32 - RIGHT);
    let (y0, y1) = (TOP, H as i32 - BOTTOM);
    let px = |fmr: f64| {
        let l = fmr
            .max(1e-12)
            .log10()
            .clamp(X_DECADES.0 as f64, X_DECADES.1 as f64);
        x0 as f64 + (l - X_DECADES.0 as f64) / (X_DECADES.1 - X_DECADES.0) as f64 * (x1 - x0) as f64
    };
    let py = |fnmr: f64| {
        let l = fnmr
            .max(1e-12)
            .log10()
            .clamp(Y_DECADES.0 as f64, Y_DECADES.1 as f64);
        y1 as f64 - (l - Y_DECADES.0 as f64) / (Y_DECADES.1 - Y_DECADES.0) as f64 * (y1 - y0) as f64
    };
    let grid = Rgb([225, 225, 225]);
    let ink = Rgb([40, 40, 40]);
    for d in X_DECADES.0..=X_DECADES.1 {
        let x = px(10f64.powi(d)).round() as i32;
        line(&mut img, (x, y0), (x, y1), grid);
        let label = decade_label(d);
        text(&mut img, x - 3 * label.len() as i32, y1 + 6, &label, ink);
    }
    for d in Y_DECADES.0..=Y_DECADES.1 {
        let y = py(10f64.powi(d)).round() as i32;
        line(&mut img, (x0, y), (x1, y), grid);
        let label = decade_label(d);
        text(
            &mut img,
            x0 - 6 * label.len() as i32 - 4,
            y - 3,
            &label,
            ink,
        );
    }
    for (a, b) in [
        ((x0, y0), (x1, y0)),
        ((x0, y1), (x1, y1)),
        ((x0, y0), (x0, y1)),
        ((x1, y0), (x1, y1)),
    ] {
        line(&mut img, a, b, ink);
    }
    text(&mut img, (x0 + x1) / 2 - 9, H as i32 - 14, "FMR", ink);
    text(&mut img, 4, TOP - 16, "FNMR", ink);
    text(
        &mut img,
        (x0 + x1) / 2 - 3 * title.len() as i32,
        8,
        title,
        ink,
    );
    for (i, c) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let pts: Vec<(i32, i32)> = c
            .points
            .iter()
            .map(|&(f, m)| (px(f).round() as i32, py(m).round() as i32))
            .collect();
        for w in pts.windows(2) {
            thick_line(&mut img, w[0], w[1], colour);
        }
        let ly = y0 + 10 + 12 * i as i32;
        thick_line(&mut img, (x1 - 90, ly + 3), (x1 - 74, ly + 3), colour);
        text(&mut img, x1 - 68, ly, &c.label, ink);
    }
    img
}

fn decade_label(d: i32) -> String {
    if d == 0 {
        "1".to_string()
    } else {
        format!("1e{d}")
    }
}

fn put(img: &mut RgbImage, x: i32, y: i32, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

/// Bresenham line.
fn line(img: &mut RgbImage, (mut x, mut y): (i32, i32), (xe, ye): (i32, i32), c: Rgb<u8>) {
    let (dx, dy) = ((xe - x).abs(), -(ye - y).abs());
    let (sx, sy) = (if x < xe { 1 } else { -1 }, if y < ye { 1 } else { -1 });
    let mut err = dx + dy;
    loop {
        put(img, x, y, c);
        if x == xe && y == ye {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

fn thick_line(img: &mut RgbImage, a: (i32, i32), b: (i32, i32), c: Rgb<u8>) {
    for (ox, oy) in [(0, 0), (1, 0), (0, 1)] {
        line(img, (a.0 + ox, a.1 + oy), (b.0 + ox, b.1 + oy), c);
    }
}

/// 5×7 glyphs, one byte per row (low 5 bits, bit 4 = leftmost column).
fn glyph(ch: char) -> [u8; 7] {
    match ch {
        '0' => [14, 17, 19, 21, 25, 17, 14],
        '1' => [4, 12, 4, 4, 4, 4, 14],
        '2' => [14, 17, 1, 2, 4, 8, 31],
        '3' => [30, 1, 1, 14, 1, 1, 30],
        '4' => [2, 6, 10, 18, 31, 2, 2],
        '5' => [31, 16, 30, 1, 1, 17, 14],
        '6' => [6, 8, 16, 30, 17, 17, 14],
        '7' => [31, 1, 2, 4, 8, 8, 8],
        '8' => [14, 17, 17, 14, 17, 17, 14],
        '9' => [14, 17, 17, 15, 1, 2, 12],
        '-' => [0, 0, 0, 31, 0, 0, 0],
        '.' => [0, 0, 0, 0, 0, 12, 12],
        ',' => [0, 0, 0, 0, 12, 4, 8],
        '%' => [24, 25, 2, 4, 8, 19, 3],
        '=' => [0, 0, 31, 0, 31, 0, 0],
        '(' => [2, 4, 8, 8, 8, 4, 2],
        ')' => [8, 4, 2, 2, 2, 4, 8],
        ':' => [0, 12, 12, 0, 12, 12, 0],
        'x' | 'X' => [0, 17, 10, 4, 10, 17, 0],
        c if c.is_ascii_uppercase() => upper(c),
        c if c.is_ascii_lowercase() => lower(c),
        _ => [0; 7],
    }
}

fn upper(c: char) -> [u8; 7] {
    match c {
        'A' => [14, 17, 17, 31, 17, 17, 17],
        'D' => [28, 18, 17, 17, 17, 18, 28],
        'E' => [31, 16, 16, 30, 16, 16, 31],
        'F' => [31, 16, 16, 30, 16, 16, 16],
        'M' => [17, 27, 21, 21, 17, 17, 17],
        'N' => [17, 25, 21, 19, 17, 17, 17],
        'R' => [30, 17, 17, 30, 20, 18, 17],
        'T' => [31, 4, 4, 4, 4, 4, 4],
        _ => [31, 17, 17, 17, 17, 17, 31],
    }
}

fn lower(c: char) -> [u8; 7] {
    match c {
        'a' => [0, 0, 14, 1, 15, 17, 15],
        'c' => [0, 0, 14, 16, 16, 17, 14],
        'd' => [1, 1, 13, 19, 17, 17, 15],
        'e' => [0, 0, 14, 17, 31, 16, 14],
        'f' => [6, 9, 8, 28, 8, 8, 8],
        'h' => [16, 16, 22, 25, 17, 17, 17],
        'i' => [4, 0, 12, 4, 4, 4, 14],
        'k' => [16, 16, 18, 20, 24, 20, 18],
        'l' => [12, 4, 4, 4, 4, 4, 14],
        'm' => [0, 0, 26, 21, 21, 17, 17],
        'n' => [0, 0, 22, 25, 17, 17, 17],
        'o' => [0, 0, 14, 17, 17, 17, 14],
        'p' => [0, 0, 30, 17, 30, 16, 16],
        'r' => [0, 0, 22, 25, 16, 16, 16],
        's' => [0, 0, 14, 16, 14, 1, 30],
        't' => [8, 8, 28, 8, 8, 9, 6],
        'u' => [0, 0, 17, 17, 17, 19, 13],
        'v' => [0, 0, 17, 17, 17, 10, 4],
        'y' => [0, 0, 17, 17, 15, 1, 14],
        _ => [0, 0, 31, 17, 17, 17, 31],
    }
}

fn text(img: &mut RgbImage, x: i32, y: i32, s: &str, c: Rgb<u8>) {
    for (i, ch) in s.chars().enumerate() {
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..5 {
                if bits >> (4 - col) & 1 == 1 {
                    put(img, x + 6 * i as i32 + col, y + row as i32, c);
                }
            }
        }
    }
}

/// Reads a TSV written by `palm eval --det-points` (`# comment` lines, then `fmr<TAB>fnmr`).
pub fn read_points(text: &str) -> Result<Vec<(f64, f64)>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .enumerate()
        .map(|(i, l)| {
            let mut it = l.split('\t').map(str::trim).map(str::parse::<f64>);
            match (it.next(), it.next()) {
                (Some(Ok(f)), Some(Ok(m))) => Ok((f, m)),
                _ => Err(format!("line {}: expected `fmr<TAB>fnmr`", i + 1)),
            }
        })
        .collect()
}

/// `palmkey palm det-plot`.
pub fn run_command(args: &crate::cli::DetPlotArgs) -> anyhow::Result<()> {
    let curves = args
        .curves
        .iter()
        .map(|spec| {
            let (label, path) = spec
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--curve wants LABEL=FILE, got {spec:?}"))?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading {path}: {e}"))?;
            let points = read_points(&text).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
            Ok(Curve {
                label: label.to_string(),
                points,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    draw(&curves, &args.title).save(&args.out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_curves_in_their_colours() {
        let curve = Curve {
            label: "fused".into(),
            points: vec![(1e-6, 0.5), (1e-3, 0.05), (1e-1, 0.001)],
        };
        let img = draw(&[curve], "DET");
        assert_eq!(img.dimensions(), (W, H));
        let red = img.pixels().filter(|p| **p == COLOURS[0]).count();
        assert!(red > 300, "{red} curve pixels");
        let ink = img.pixels().filter(|p| **p == Rgb([40, 40, 40])).count();
        assert!(ink > 1000, "axes and labels drawn");
    }
}

//! Palm region of interest.
//!
//! Two inputs are supported:
//! - **ROI squares** (the dataset default): the image already is the palm square, as delivered
//!   by real ROI-producing sensors and by public ROI datasets. We take the central square and
//!   resample it; the residual rotation/translation of such ROIs is absorbed by the matcher.
//! - **Whole-hand photos** (`--full-hand`): the palm square is found from the finger valleys,
//!   following the classic valley-point coordinate system (Zhang et al., 2003): segment the
//!   hand, take the palm centre (maximum of the distance transform), cast rays to find the
//!   fingers (rays much longer than the palm radius), take the valleys between index/middle and
//!   ring/little fingers as the x-axis and place a square below it, sized by the valley distance.

use crate::filters::Plane;

/// A square in source-image pixels: centre, side and rotation (radians; the ROI's "down"
/// direction points from the fingers towards the wrist).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PalmFrame {
    pub cx: f32,
    pub cy: f32,
    pub side: f32,
    pub angle: f32,
}

/// Why no palm square could be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoiError {
    #[error("no hand in the image")]
    NoHand,
    #[error("fingers not found (need four fingers spread apart)")]
    FingersNotFound,
    #[error("palm only partly in the image")]
    Partial,
}

impl PalmFrame {
    /// The largest centred square of a `w × h` image (ROI-square input).
    pub fn centred_square(w: usize, h: usize) -> Self {
        Self {
            cx: (w as f32 - 1.0) / 2.0,
            cy: (h as f32 - 1.0) / 2.0,
            side: w.min(h) as f32,
            angle: 0.0,
        }
    }

    /// Samples the frame into an `out × out` plane.
    pub fn extract(&self, img: &Plane, out: usize) -> Plane {
        img.warp_square(self.cx, self.cy, self.side, self.angle, out)
    }

    /// Fraction of the square that lies outside a `w × h` image.
    pub fn outside_fraction(&self, w: usize, h: usize) -> f32 {
        let n = 16;
        let (s, c) = self.angle.sin_cos();
        let mut outside = 0;
        for j in 0..n {
            for i in 0..n {
                let du = ((i as f32 + 0.5) / n as f32 - 0.5) * self.side;
                let dv = ((j as f32 + 0.5) / n as f32 - 0.5) * self.side;
                let x = self.cx + du * c - dv * s;
                let y = self.cy + du * s + dv * c;
                if x < 0.0 || y < 0.0 || x > w as f32 - 1.0 || y > h as f32 - 1.0 {
                    outside += 1;
                }
            }
        }
        outside as f32 / (n * n) as f32
    }
}

/// Working resolution (longest side) for hand segmentation.
const SEGMENT_SIDE: usize = 256;

/// Finds the palm square in a whole-hand image (hand and background of different brightness).
pub fn locate_palm(img: &Plane) -> Result<PalmFrame, RoiError> {
    let scale = (img.w.max(img.h) as f32 / SEGMENT_SIDE as f32).max(1.0);
    let (w, h) = (
        (img.w as f32 / scale).round() as usize,
        (img.h as f32 / scale).round() as usize,
    );
    let small = img.resize(w.max(8), h.max(8)).gauss_blur(1.5);
    let mask = largest_component(&segment(&small), small.w, small.h).ok_or(RoiError::NoHand)?;
    let area = mask.iter().filter(|&&m| m).count();
    if area < small.w * small.h / 20 {
        return Err(RoiError::NoHand);
    }
    let dist = distance_transform(&mask, small.w, small.h);
    let (centre_idx, radius) = dist
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, &d)| (i, d))
        .ok_or(RoiError::NoHand)?;
    let (pcx, pcy) = ((centre_idx % small.w) as f32, (centre_idx / small.w) as f32);
    let (rays, touches) = cast_rays(&mask, small.w, small.h, pcx, pcy);
    let fingers = finger_runs(&rays, &touches, radius);
    let valleys = valley_points(&rays, &fingers).ok_or(RoiError::FingersNotFound)?;
    let ((x1, y1), (x3, y3)) = (
        polar(pcx, pcy, valleys.0, &rays),
        polar(pcx, pcy, valleys.1, &rays),
    );
    let d = ((x3 - x1).powi(2) + (y3 - y1).powi(2)).sqrt();
    if d < radius * 0.5 {
        return Err(RoiError::FingersNotFound);
    }
    let (mx, my) = ((x1 + x3) / 2.0, (y1 + y3) / 2.0);
    // Unit normal of the valley line, pointing into the palm.
    let (mut nx, mut ny) = (-(y3 - y1) / d, (x3 - x1) / d);
    if (pcx - mx) * nx + (pcy - my) * ny < 0.0 {
        nx = -nx;
        ny = -ny;
    }
    // PolyU-style ROI: side ≈ 1.03 × the valley distance, centre ≈ 0.8 × it below the line.
    let side = 1.03 * d;
    let offset = 0.8 * d;
    let frame = PalmFrame {
        cx: (mx + nx * offset) * scale,
        cy: (my + ny * offset) * scale,
        side: side * scale,
        angle: (-nx).atan2(ny),
    };
    if frame.outside_fraction(img.w, img.h) > 0.05 {
        return Err(RoiError::Partial);
    }
    Ok(frame)
}

/// Otsu threshold; the foreground is the class that does not dominate the image border.
fn segment(img: &Plane) -> Vec<bool> {
    let mut hist = [0u32; 256];
    for &v in &img.data {
        hist[(v.clamp(0.0, 1.0) * 255.0) as usize] += 1;
    }
    let total = img.data.len() as f64;
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0, mut best, mut thr) = (0f64, 0f64, -1f64, 128usize);
    for (t, &c) in hist.iter().enumerate() {
        w0 += c as f64;
        sum0 += t as f64 * c as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let between = w0 * w1 * (sum0 / w0 - (sum_all - sum0) / w1).powi(2);
        if between > best {
            best = between;
            thr = t;
        }
    }
    let t = (thr as f32 + 0.5) / 255.0;
    let border: Vec<f32> = (0..img.w)
        .flat_map(|x| [img.at(x, 0), img.at(x, img.h - 1)])
        .chain((0..img.h).flat_map(|y| [img.at(0, y), img.at(img.w - 1, y)]))
        .collect();
    let bright_border = border.iter().filter(|&&v| v > t).count() * 2 > border.len();
    img.data.iter().map(|&v| (v > t) != bright_border).collect()
}

fn largest_component(mask: &[bool], w: usize, h: usize) -> Option<Vec<bool>> {
    let mut label = vec![0u32; mask.len()];
    let mut best = (0u32, 0usize);
    let mut next = 1;
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || label[start] != 0 {
            continue;
        }
        let mut size = 0;
        label[start] = next;
        stack.push(start);
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if mask[j] && label[j] == 0 {
                    label[j] = next;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        if size > best.1 {
            best = (next, size);
        }
        next += 1;
    }
    (best.1 > 0).then(|| label.iter().map(|&l| l == best.0).collect())
}

/// Two-pass chamfer (3-4) distance to the background, in pixels.
fn distance_transform(mask: &[bool], w: usize, h: usize) -> Vec<f32> {
    let big = 1e9f32;
    let mut d: Vec<f32> = mask.iter().map(|&m| if m { big } else { 0.0 }).collect();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if d[i] == 0.0 {
                continue;
            }
            let mut v = if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
                1.0
            } else {
                d[i]
            };
            if x > 0 {
                v = v.min(d[i - 1] + 1.0);
            }
            if y > 0 {
                v = v.min(d[i - w] + 1.0);
                if x > 0 {
                    v = v.min(d[i - w - 1] + 1.4);
                }
                if x + 1 < w {
                    v = v.min(d[i - w + 1] + 1.4);
                }
            }
            d[i] = v;
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            let i = y * w + x;
            let mut v = d[i];
            if x + 1 < w {
                v = v.min(d[i + 1] + 1.0);
            }
            if y + 1 < h {
                v = v.min(d[i + w] + 1.0);
                if x + 1 < w {
                    v = v.min(d[i + w + 1] + 1.4);
                }
                if x > 0 {
                    v = v.min(d[i + w - 1] + 1.4);
                }
            }
            d[i] = v;
        }
    }
    d
}

const RAYS: usize = 360;

/// Boundary distance along `RAYS` directions, and whether each ray left through the image edge.
fn cast_rays(mask: &[bool], w: usize, h: usize, cx: f32, cy: f32) -> (Vec<f32>, Vec<bool>) {
    let mut dist = vec![0f32; RAYS];
    let mut touches = vec![false; RAYS];
    for k in 0..RAYS {
        let (s, c) = (k as f32 * std::f32::consts::TAU / RAYS as f32).sin_cos();
        let mut r = 0f32;
        loop {
            let (x, y) = (cx + (r + 1.0) * c, cy + (r + 1.0) * s);
            if x < 0.0 || y < 0.0 || x >= w as f32 || y >= h as f32 {
                touches[k] = true;
                break;
            }
            if !mask[y as usize * w + x as usize] {
                break;
            }
            r += 1.0;
        }
        dist[k] = r;
    }
    (dist, touches)
}

/// A finger: a run of consecutive rays reaching well beyond the palm radius.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: usize,
    len: usize,
}

fn finger_runs(rays: &[f32], touches: &[bool], radius: f32) -> Vec<Run> {
    let long: Vec<bool> = rays.iter().map(|&r| r > 1.6 * radius).collect();
    let Some(first_short) = long.iter().position(|&l| !l) else {
        return Vec::new();
    };
    let mut runs = Vec::new();
    let mut k = 0;
    while k < RAYS {
        let i = (first_short + k) % RAYS;
        if long[i] {
            let start = i;
            let mut len = 0;
            while k < RAYS && long[(first_short + k) % RAYS] {
                len += 1;
                k += 1;
            }
            let wrist = (0..len).any(|j| touches[(start + j) % RAYS]);
            if !wrist && len >= 2 {
                runs.push(Run { start, len });
            }
        } else {
            k += 1;
        }
    }
    runs
}

/// Ray indices of the index/middle and ring/little valleys.
fn valley_points(rays: &[f32], runs: &[Run]) -> Option<(usize, usize)> {
    let n = runs.len();
    if !(4..=5).contains(&n) {
        return None;
    }
    let gap_after =
        |i: usize| (runs[(i + 1) % n].start + RAYS - (runs[i].start + runs[i].len)) % RAYS;
    // The largest gap is the wrist side: the finger sequence starts after it.
    let wrist = (0..n).max_by_key(|&i| gap_after(i))?;
    let mut order: Vec<Run> = (1..=n).map(|k| runs[(wrist + k) % n]).collect();
    if n == 5 {
        // The thumb is the end finger with the wider gap to its neighbour.
        let gap_first = (order[1].start + RAYS - (order[0].start + order[0].len)) % RAYS;
        let gap_last = (order[4].start + RAYS - (order[3].start + order[3].len)) % RAYS;
        if gap_first > gap_last {
            order.remove(0);
        } else {
            order.remove(4);
        }
    }
    let valley = |a: Run, b: Run| {
        let from = a.start + a.len;
        let span = (b.start + RAYS - from) % RAYS;
        (0..=span)
            .map(|j| (from + j) % RAYS)
            .min_by(|&x, &y| rays[x].total_cmp(&rays[y]))
    };
    Some((valley(order[0], order[1])?, valley(order[2], order[3])?))
}

fn polar(cx: f32, cy: f32, ray: usize, rays: &[f32]) -> (f32, f32) {
    let (s, c) = (ray as f32 * std::f32::consts::TAU / RAYS as f32).sin_cos();
    (cx + rays[ray] * c, cy + rays[ray] * s)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A bright hand silhouette on a dark background: palm disc, four fingers, a thumb and a
    /// forearm, rotated by `angle` (radians) about `(cx, cy)`.
    pub(crate) fn hand(w: usize, h: usize, cx: f32, cy: f32, angle: f32) -> Plane {
        let mut p = Plane::filled(w, h, 0.1);
        let (s, c) = angle.sin_cos();
        for y in 0..h {
            for x in 0..w {
                // Into the hand's own frame: fingers towards -v, wrist towards +v.
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                let u = dx * c + dy * s;
                let v = -dx * s + dy * c;
                let palm = (u / 60.0).powi(2) + (v / 65.0).powi(2) <= 1.0;
                let forearm = v > 0.0 && u.abs() < 45.0;
                let finger = [-42.0f32, -14.0, 14.0, 42.0]
                    .iter()
                    .zip([100.0f32, 115.0, 110.0, 85.0])
                    .any(|(&fu, len)| (u - fu).abs() < 11.0 && v < -30.0 && v > -45.0 - len);
                // Thumb: a slanted bar leaving the palm side.
                let (tu, tv) = (u - 55.0, v - 10.0);
                let along = tu * 0.8 + tv * -0.6;
                let across = -tu * -0.6 + tv * 0.8;
                let thumb = along > 0.0 && along < 80.0 && across.abs() < 12.0;
                if palm || forearm || finger || thumb {
                    p.data[y * w + x] = 0.75;
                }
            }
        }
        p
    }

    #[test]
    fn finds_the_palm_in_rotated_and_shifted_hands() {
        for (angle_deg, cx, cy) in [
            (0.0f32, 200.0, 230.0),
            (15.0, 180.0, 250.0),
            (-20.0, 220.0, 240.0),
        ] {
            let angle = angle_deg.to_radians();
            let img = hand(400, 420, cx, cy, angle);
            let f = locate_palm(&img).unwrap_or_else(|e| panic!("{angle_deg}°: {e}"));
            let err = (f.angle - angle).abs().to_degrees();
            assert!(err < 4.0, "{angle_deg}°: angle {}", f.angle.to_degrees());
            // The square sits in the palm: its centre is near the palm disc, in the hand frame
            // between the finger bases (v≈-30) and the palm centre.
            let (dx, dy) = (f.cx - cx, f.cy - cy);
            let (s, c) = angle.sin_cos();
            let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
            assert!(
                u.abs() < 15.0 && v > -30.0 && v < 40.0,
                "{angle_deg}°: centre u={u} v={v}"
            );
            assert!(f.side > 45.0 && f.side < 130.0, "side {}", f.side);
        }
    }

    #[test]
    fn reports_no_hand_and_missing_fingers() {
        assert_eq!(
            locate_palm(&Plane::filled(200, 200, 0.4)),
            Err(RoiError::NoHand)
        );
        let mut fist = Plane::filled(200, 200, 0.1);
        for y in 0..200 {
            for x in 0..200 {
                if (x as f32 - 100.0).powi(2) + (y as f32 - 100.0).powi(2) < 60.0f32.powi(2) {
                    fist.data[y * 200 + x] = 0.8;
                }
            }
        }
        assert_eq!(locate_palm(&fist), Err(RoiError::FingersNotFound));
    }

    #[test]
    fn centred_square_roi_is_the_image() {
        let f = PalmFrame::centred_square(100, 80);
        assert_eq!(f.side, 80.0);
        assert_eq!(f.outside_fraction(100, 80), 0.0);
    }
}

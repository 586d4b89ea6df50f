//! An identity's subcutaneous vessel network, grown by space colonisation (Runions et al. 2007):
//! trunks enter from the wrist and the palm edges and grow towards scattered attraction points
//! until the palm is supplied. Radii follow Murray's law (r³ of a parent = Σ r³ of its
//! children), so vessels taper towards their tips; a few anastomoses join neighbouring branches
//! into the mesh seen in palm-vein images. Each vessel lies at a depth that decides how much
//! tissue scattering blurs it.

use rand::Rng;
use rand_distr::{Distribution, Normal};

use super::raster::{value_noise, Canvas, Plane};
use super::strokes::{self, dist, Point, Profile, Stroke};

/// The identity's near-infrared anatomy on the palm canvas.
#[derive(Debug, Clone)]
pub struct VeinMaps {
    /// Blood absorption of vessels near the surface, already blurred by their scattering.
    pub shallow: Plane,
    /// Blood absorption of deeper vessels, blurred more and weaker.
    pub deep: Plane,
    /// Smooth tissue reflectance variation in NIR (fat, tendons, bone), around 0.
    pub tissue: Plane,
}

struct Node {
    pos: Point,
    parent: Option<usize>,
    children: u8,
    deep: bool,
}

const STEP: f32 = 0.08;
const INFLUENCE: f32 = 0.55;
const KILL: f32 = 0.13;
const LEAF_RADIUS: f32 = 0.017;
const MAX_RADIUS: f32 = 0.06;
/// Radius (units, ≈ 1 mm) whose chord absorption is 1.0 before scattering blur.
const REF_RADIUS: f32 = 0.03;

pub fn render<R: Rng>(rng: &mut R, canvas: &Canvas) -> VeinMaps {
    let (nodes, radius) = grow(rng, canvas.extent);
    let fade = tip_fade(&nodes);
    let mut shallow = canvas.plane(0.0);
    let mut deep = canvas.plane(0.0);
    for (i, node) in nodes.iter().enumerate() {
        let Some(p) = node.parent else { continue };
        let width = [radius[p].min(radius[i] * 1.3), radius[i]];
        // Absorption follows the chord through the vessel, so it scales with the radius.
        let stroke = Stroke {
            points: vec![nodes[p].pos, node.pos],
            width: width.to_vec(),
            strength: vec![
                width[0] / REF_RADIUS * fade[p],
                width[1] / REF_RADIUS * fade[i],
            ],
        };
        let target = if node.deep { &mut deep } else { &mut shallow };
        strokes::draw(target, canvas, &stroke, Profile::Tube);
    }
    for stroke in anastomoses(rng, &nodes, &radius) {
        strokes::draw(&mut shallow, canvas, &stroke, Profile::Tube);
    }
    let unit = canvas.px_per_unit;
    shallow.blur(unit * rng.gen_range(0.018..0.03));
    deep.blur(unit * rng.gen_range(0.045..0.07));
    VeinMaps {
        shallow,
        deep,
        tissue: value_noise(rng, canvas.size, canvas.size, unit * 0.7, 3),
    }
}

/// Space colonisation from edge roots towards random attractors; returns nodes and radii.
fn grow<R: Rng>(rng: &mut R, extent: f32) -> (Vec<Node>, Vec<f32>) {
    let span = extent - 0.05;
    let mut attractors: Vec<Point> = (0..rng.gen_range(200..320))
        .map(|_| [rng.gen_range(-span..span), rng.gen_range(-span..span)])
        .collect();
    let mut nodes: Vec<Node> = Vec::new();
    // Trunks: from the wrist (bottom) and from both palm edges.
    let wrist = rng.gen_range(2..5);
    for k in 0..wrist {
        let x = -1.2 + 2.4 * (k as f32 + rng.gen_range(0.2..0.8)) / wrist as f32;
        nodes.push(root([x, extent], rng.gen_bool(0.35)));
    }
    for side in [-1.0f32, 1.0] {
        for _ in 0..rng.gen_range(1..4) {
            nodes.push(root(
                [side * extent, rng.gen_range(-1.4..1.2)],
                rng.gen_bool(0.5),
            ));
        }
    }
    let jitter = Normal::new(0.0f32, 0.15).expect("finite");
    for _ in 0..120 {
        // Each attractor pulls its nearest node within the influence radius.
        let mut pull: Vec<Option<Point>> = vec![None; nodes.len()];
        for a in &attractors {
            let mut best = (INFLUENCE, usize::MAX);
            for (i, n) in nodes.iter().enumerate() {
                let d = dist(*a, n.pos);
                if d < best.0 {
                    best = (d, i);
                }
            }
            if best.1 != usize::MAX {
                let n = nodes[best.1].pos;
                let dir = [(a[0] - n[0]) / best.0, (a[1] - n[1]) / best.0];
                let acc = pull[best.1].get_or_insert([0.0, 0.0]);
                acc[0] += dir[0];
                acc[1] += dir[1];
            }
        }
        let before = nodes.len();
        for (i, p) in pull.into_iter().enumerate() {
            let Some(d) = p else { continue };
            if nodes[i].children >= 2 {
                continue;
            }
            let angle = d[1].atan2(d[0]) + jitter.sample(rng);
            let pos = [
                nodes[i].pos[0] + STEP * angle.cos(),
                nodes[i].pos[1] + STEP * angle.sin(),
            ];
            nodes[i].children += 1;
            let deep = nodes[i].deep;
            nodes.push(Node {
                pos,
                parent: Some(i),
                children: 0,
                deep,
            });
        }
        if nodes.len() == before {
            break;
        }
        attractors.retain(|a| nodes[before..].iter().all(|n| dist(*a, n.pos) > KILL));
        if attractors.is_empty() {
            break;
        }
    }
    smooth(&mut nodes);
    let radius = murray_radii(&nodes);
    (nodes, radius)
}

fn root(pos: Point, deep: bool) -> Node {
    Node {
        pos,
        parent: None,
        children: 0,
        deep,
    }
}

/// Relaxes the zig-zag of the growth steps towards the parent/child midpoints.
fn smooth(nodes: &mut [Node]) {
    for _ in 0..2 {
        let mut first_child: Vec<Option<usize>> = vec![None; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            if let Some(p) = n.parent {
                first_child[p].get_or_insert(i);
            }
        }
        let old: Vec<Point> = nodes.iter().map(|n| n.pos).collect();
        for (i, n) in nodes.iter_mut().enumerate() {
            if let (Some(p), Some(c)) = (n.parent, first_child[i]) {
                n.pos = [
                    0.5 * old[i][0] + 0.25 * (old[p][0] + old[c][0]),
                    0.5 * old[i][1] + 0.25 * (old[p][1] + old[c][1]),
                ];
            }
        }
    }
}

/// Vessel ends do not stop abruptly: the last few segments before a tip dive deeper into the
/// tissue and fade out. Fade in [0, 1] from the number of segments to the farthest tip.
fn tip_fade(nodes: &[Node]) -> Vec<f32> {
    let mut reach = vec![0u32; nodes.len()];
    for i in (0..nodes.len()).rev() {
        if let Some(p) = nodes[i].parent {
            reach[p] = reach[p].max(reach[i] + 1);
        }
    }
    reach
        .iter()
        .map(|&r| super::raster::smoothstep((r as f32 / 5.0).min(1.0)))
        .collect()
}

/// Murray's law bottom-up: children are always created after their parents.
fn murray_radii(nodes: &[Node]) -> Vec<f32> {
    let mut cubes = vec![0.0f32; nodes.len()];
    for i in (0..nodes.len()).rev() {
        if cubes[i] == 0.0 {
            cubes[i] = LEAF_RADIUS.powi(3);
        }
        if let Some(p) = nodes[i].parent {
            cubes[p] += cubes[i];
        }
    }
    cubes.iter().map(|c| c.cbrt().min(MAX_RADIUS)).collect()
}

/// Cross-links between nearby nodes of different branches.
fn anastomoses<R: Rng>(rng: &mut R, nodes: &[Node], radius: &[f32]) -> Vec<Stroke> {
    let mut out = Vec::new();
    let wanted = rng.gen_range(6..14);
    for _ in 0..wanted * 20 {
        if out.len() >= wanted {
            break;
        }
        let a = rng.gen_range(0..nodes.len());
        let b = rng.gen_range(0..nodes.len());
        let d = dist(nodes[a].pos, nodes[b].pos);
        let related = nodes[a].parent == Some(b) || nodes[b].parent == Some(a);
        if related || !(0.15..0.45).contains(&d) {
            continue;
        }
        let r = radius[a].min(radius[b]).max(LEAF_RADIUS * 1.4);
        let mid = [
            0.5 * (nodes[a].pos[0] + nodes[b].pos[0]) + rng.gen_range(-0.05..0.05),
            0.5 * (nodes[a].pos[1] + nodes[b].pos[1]) + rng.gen_range(-0.05..0.05),
        ];
        out.push(Stroke {
            points: vec![nodes[a].pos, mid, nodes[b].pos],
            width: vec![r, r * 0.9, r],
            strength: vec![r / REF_RADIUS; 3],
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn tree_grows_and_tapers() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let (nodes, radius) = grow(&mut rng, 2.0);
        let max = radius.iter().cloned().fold(0.0, f32::max);
        eprintln!("nodes {} max radius {max}", nodes.len());
        assert!(nodes.len() > 100);
        assert!(max > 1.8 * LEAF_RADIUS);
    }
}

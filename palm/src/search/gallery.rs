//! A 1:N gallery with a two-stage search: a popcount scan over short binary sketches stored
//! contiguously (structure of arrays, `words` u64 per entry) pre-selects the K nearest entries,
//! and only those K are compared with the full matcher. The scan reads `8 × words` bytes per
//! entry instead of the whole template, which is what makes 1:1M fit in tens of milliseconds.

/// The best gallery entry for a probe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Position in the gallery.
    pub index: usize,
    /// The label the entry was enrolled under (e.g. a subject or template id).
    pub label: u32,
    /// Full-matcher similarity of probe and entry.
    pub score: f32,
}

/// Reusable scratch memory for [`Gallery::search`] (no allocation per query).
#[derive(Debug, Default)]
pub struct Scratch {
    distances: Vec<u16>,
    candidates: Vec<u32>,
}

/// Templates with their sketches and labels.
#[derive(Debug, Clone)]
pub struct Gallery<T> {
    words: usize,
    sketches: Vec<u64>,
    templates: Vec<T>,
    labels: Vec<u32>,
}

impl<T> Gallery<T> {
    /// An empty gallery whose sketches have `words` 64-bit words (1..=1000).
    pub fn new(words: usize) -> Self {
        assert!((1..=1000).contains(&words), "sketch length out of range");
        Self {
            words,
            sketches: Vec::new(),
            templates: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Sketch length in 64-bit words.
    pub fn words(&self) -> usize {
        self.words
    }

    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// Reserves room for `additional` more entries.
    pub fn reserve(&mut self, additional: usize) {
        self.sketches.reserve(additional * self.words);
        self.templates.reserve(additional);
        self.labels.reserve(additional);
    }

    /// Adds an entry. Panics if the sketch has the wrong length (a programming error).
    pub fn push(&mut self, label: u32, sketch: &[u64], template: T) {
        assert_eq!(sketch.len(), self.words, "sketch length");
        self.sketches.extend_from_slice(sketch);
        self.templates.push(template);
        self.labels.push(label);
    }

    pub fn template(&self, index: usize) -> &T {
        &self.templates[index]
    }

    pub fn label(&self, index: usize) -> u32 {
        self.labels[index]
    }

    /// Indices of the `k` entries whose sketches are nearest (Hamming) to `probe`, in gallery
    /// order. One pass computes all distances and their histogram; the histogram gives the
    /// cut-off distance, a second pass over the 2-byte distances collects the candidates.
    pub fn preselect<'s>(&self, probe: &[u64], k: usize, scratch: &'s mut Scratch) -> &'s [u32] {
        assert_eq!(probe.len(), self.words, "probe sketch length");
        let n = self.len();
        scratch.candidates.clear();
        if n == 0 || k == 0 {
            return &scratch.candidates;
        }
        let max_d = 64 * self.words;
        let mut hist = vec![0u32; max_d + 1];
        scratch.distances.clear();
        scratch.distances.reserve(n);
        for entry in self.sketches.chunks_exact(self.words) {
            let d = hamming(entry, probe);
            hist[d as usize] += 1;
            scratch.distances.push(d);
        }
        if k >= n {
            scratch.candidates.extend(0..n as u32);
            return &scratch.candidates;
        }
        // Cut-off: smallest distance c with count(d <= c) >= k; entries at c fill the rest.
        let (mut acc, mut cut) = (0usize, 0usize);
        for (d, &c) in hist.iter().enumerate() {
            acc += c as usize;
            if acc >= k {
                cut = d;
                break;
            }
        }
        let mut at_cut = k - (acc - hist[cut] as usize);
        let cut = cut as u16;
        for (i, &d) in scratch.distances.iter().enumerate() {
            if d < cut {
                scratch.candidates.push(i as u32);
            } else if d == cut && at_cut > 0 {
                at_cut -= 1;
                scratch.candidates.push(i as u32);
            }
        }
        &scratch.candidates
    }

    /// Position of entry `index` in the pre-selection order for `probe` (0 = nearest sketch):
    /// the entries [`Gallery::preselect`] takes before it, ties broken by gallery order. The
    /// two-stage search finds that entry iff `k > rank`.
    pub fn preselect_rank(&self, probe: &[u64], index: usize) -> usize {
        let words = self.words;
        let target = hamming(&self.sketches[index * words..(index + 1) * words], probe);
        self.sketches
            .chunks_exact(words)
            .enumerate()
            .filter(|&(i, entry)| {
                let d = hamming(entry, probe);
                d < target || (d == target && i < index)
            })
            .count()
    }

    /// Two-stage search: pre-select `k` entries by sketch, score them with `score` (the full
    /// matcher, probe bound in the closure), return the best. Ties keep the lower index, as
    /// [`Gallery::search_exhaustive`] does, so both agree whenever the winner is pre-selected.
    pub fn search<F>(
        &self,
        probe_sketch: &[u64],
        k: usize,
        scratch: &mut Scratch,
        score: F,
    ) -> Option<Hit>
    where
        F: Fn(&T) -> f32,
    {
        let candidates = self.preselect(probe_sketch, k, scratch);
        self.best_of(candidates.iter().map(|&i| i as usize), score)
    }

    /// Compares the probe with every entry: the reference the pre-selection is measured against.
    pub fn search_exhaustive<F>(&self, score: F) -> Option<Hit>
    where
        F: Fn(&T) -> f32,
    {
        self.best_of(0..self.len(), score)
    }

    fn best_of<F, I>(&self, indices: I, score: F) -> Option<Hit>
    where
        F: Fn(&T) -> f32,
        I: Iterator<Item = usize>,
    {
        let mut best: Option<Hit> = None;
        for i in indices {
            let s = score(&self.templates[i]);
            if best.is_none_or(|b| s > b.score) {
                best = Some(Hit {
                    index: i,
                    label: self.labels[i],
                    score: s,
                });
            }
        }
        best
    }
}

/// Hamming distance of two equally long bit strings.
#[inline]
pub fn hamming(a: &[u64], b: &[u64]) -> u16 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x ^ y).count_ones())
        .sum::<u32>() as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Gallery of random 4-word "templates" whose sketch is the template itself; the full
    /// score is the bit agreement.
    fn gallery(n: usize, rng: &mut ChaCha8Rng) -> Gallery<[u64; 4]> {
        let mut g = Gallery::new(4);
        for i in 0..n {
            let t: [u64; 4] = rng.gen();
            g.push(i as u32 * 10, &t, t);
        }
        g
    }

    fn agreement(a: &[u64; 4], b: &[u64; 4]) -> f32 {
        1.0 - f32::from(hamming(a, b)) / 256.0
    }

    #[test]
    fn preselect_returns_exactly_the_k_nearest() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let g = gallery(5000, &mut rng);
        let probe: [u64; 4] = rng.gen();
        let mut scratch = Scratch::default();
        let cands = g.preselect(&probe, 50, &mut scratch).to_vec();
        assert_eq!(cands.len(), 50);
        let mut all: Vec<u16> = (0..g.len())
            .map(|i| hamming(g.template(i), &probe))
            .collect();
        all.sort_unstable();
        let worst_selected = cands
            .iter()
            .map(|&i| hamming(g.template(i as usize), &probe))
            .max()
            .unwrap();
        assert_eq!(worst_selected, all[49]);
        assert_eq!(g.preselect(&probe, 10_000, &mut scratch).len(), 5000);
    }

    #[test]
    fn two_stage_search_finds_a_noisy_mate_like_exhaustive_search() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let g = gallery(20_000, &mut rng);
        let mut scratch = Scratch::default();
        for _ in 0..50 {
            let mate = rng.gen_range(0..g.len());
            let mut probe = *g.template(mate);
            for _ in 0..40 {
                let bit = rng.gen_range(0..256);
                probe[bit / 64] ^= 1 << (bit % 64);
            }
            let fast = g
                .search(&probe, 8, &mut scratch, |t| agreement(t, &probe))
                .unwrap();
            let slow = g.search_exhaustive(|t| agreement(t, &probe)).unwrap();
            assert_eq!(fast, slow);
            assert_eq!(fast.index, mate);
            assert_eq!(fast.label, mate as u32 * 10);
            assert!(g.preselect_rank(&probe, mate) < 8);
        }
    }

    #[test]
    fn empty_gallery_finds_nothing() {
        let g: Gallery<[u64; 4]> = Gallery::new(4);
        let mut scratch = Scratch::default();
        assert!(g.search(&[0; 4], 5, &mut scratch, |_| 1.0).is_none());
        assert!(g.search_exhaustive(|_| 1.0).is_none());
    }
}

//! The palm template: print and/or vein orientation codes, versioned binary format.
//!
//! Each modality keeps its code map at a few rotations of the sampling frame (the canonical
//! frame first), so that matching can absorb a palm rotation without touching images.
//!
//! Binary format (little endian), version [`Template::VERSION`]:
//! ```text
//! "PKTP" | version u8 | modality flags u8 (bit0 print, bit1 vein)
//! per present modality (print first): n u8, then n × (angle i8 [degrees], 64 × u64 words)
//! ```
//! Size with the default engine (5 rotations per modality, both modalities):
//! `6 + 2 × (1 + 5 × 513) = 5,138 bytes` (≈ 5 KiB); 2.6 KiB for one modality.

use crate::code::{CoarseMap, CodeMap, WORDS};

/// Scales of the palm (relative to the stored frames) the matcher also tries. Derived from the
/// stored maps by resampling the code, in memory only: they cost no template bytes.
pub const SEARCH_SCALES: [f32; 3] = [1.0, 0.92, 1.08];

/// One frame the matcher aligns a probe against: a stored rotation at one scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchFrame {
    pub rotation_deg: i8,
    /// Index into [`SEARCH_SCALES`].
    pub scale: u8,
    pub map: CodeMap,
    pub coarse: CoarseMap,
}

/// One modality's code at the canonical rotation and a few rotated sampling frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModalityCode {
    /// `(rotation in degrees, map)`; the first entry is the canonical (0°) frame.
    variants: Vec<(i8, CodeMap)>,
    /// Every stored rotation at every [`SEARCH_SCALES`] entry (canonical first).
    frames: Vec<SearchFrame>,
    /// The canonical map's coarse code (the probe side of the coarse search).
    coarse: CoarseMap,
}

impl ModalityCode {
    /// `variants[0]` must be the 0° frame.
    pub fn new(variants: Vec<(i8, CodeMap)>) -> Result<Self, TemplateError> {
        match variants.first() {
            Some((0, _)) if variants.len() <= u8::MAX as usize => {
                let frames = SEARCH_SCALES
                    .iter()
                    .enumerate()
                    .flat_map(|(si, &s)| {
                        variants.iter().map(move |(deg, map)| {
                            let map = if si == 0 { map.clone() } else { map.scaled(s) };
                            SearchFrame {
                                rotation_deg: *deg,
                                scale: si as u8,
                                coarse: map.coarse(),
                                map,
                            }
                        })
                    })
                    .collect();
                let coarse = variants[0].1.coarse();
                Ok(Self {
                    variants,
                    frames,
                    coarse,
                })
            }
            _ => Err(TemplateError::Malformed(
                "first code variant must be the 0° frame",
            )),
        }
    }

    /// All frames the matcher searches (stored rotations × derived scales), canonical first.
    pub fn frames(&self) -> &[SearchFrame] {
        &self.frames
    }

    /// The canonical map's coarse code.
    pub fn coarse(&self) -> &CoarseMap {
        &self.coarse
    }

    /// The canonical (0°) code map.
    pub fn canonical(&self) -> &CodeMap {
        &self.variants[0].1
    }

    /// All `(rotation degrees, map)` variants, canonical first.
    pub fn variants(&self) -> &[(i8, CodeMap)] {
        &self.variants
    }

    /// The canonical map's packed words (3 code planes + mask; see [`crate::code`]).
    pub fn words(&self) -> &[u64] {
        self.canonical().words()
    }
}

/// A palm template. At least one modality is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    print: Option<ModalityCode>,
    vein: Option<ModalityCode>,
}

/// Why template bytes were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("not a palm template (bad magic)")]
    BadMagic,
    #[error("unsupported template version {found} (this engine reads version {expected})")]
    Version { found: u8, expected: u8 },
    #[error("template truncated")]
    Truncated,
    #[error("malformed template: {0}")]
    Malformed(&'static str),
}

const MAGIC: &[u8; 4] = b"PKTP";

impl Template {
    /// Format version written by [`Template::to_bytes`]. Bumped whenever codes change meaning
    /// (filters, grid, layout): old templates must be re-enrolled, never silently compared.
    pub const VERSION: u8 = 1;

    pub fn new(
        print: Option<ModalityCode>,
        vein: Option<ModalityCode>,
    ) -> Result<Self, TemplateError> {
        if print.is_none() && vein.is_none() {
            return Err(TemplateError::Malformed("template without any modality"));
        }
        Ok(Self { print, vein })
    }

    pub fn print(&self) -> Option<&ModalityCode> {
        self.print.as_ref()
    }

    pub fn vein(&self) -> Option<&ModalityCode> {
        self.vein.as_ref()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + 2 * (1 + 5 * (1 + WORDS * 8)));
        out.extend_from_slice(MAGIC);
        out.push(Self::VERSION);
        out.push(u8::from(self.print.is_some()) | u8::from(self.vein.is_some()) << 1);
        for code in [&self.print, &self.vein].into_iter().flatten() {
            out.push(code.variants.len() as u8);
            for (angle, map) in &code.variants {
                out.push(*angle as u8);
                for w in map.words() {
                    out.extend_from_slice(&w.to_le_bytes());
                }
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TemplateError> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(TemplateError::BadMagic);
        }
        let version = r.byte()?;
        if version != Self::VERSION {
            return Err(TemplateError::Version {
                found: version,
                expected: Self::VERSION,
            });
        }
        let flags = r.byte()?;
        if flags & !0b11 != 0 {
            return Err(TemplateError::Malformed("unknown modality flags"));
        }
        let mut read_code = |present: bool| -> Result<Option<ModalityCode>, TemplateError> {
            if !present {
                return Ok(None);
            }
            let n = r.byte()?;
            let mut variants = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let angle = r.byte()? as i8;
                let mut words = [0u64; WORDS];
                for w in words.iter_mut() {
                    *w = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
                }
                variants.push((angle, CodeMap::from_words(words)));
            }
            ModalityCode::new(variants).map(Some)
        };
        let print = read_code(flags & 1 != 0)?;
        let vein = read_code(flags & 2 != 0)?;
        if !r.0.is_empty() {
            return Err(TemplateError::Malformed("trailing bytes"));
        }
        Self::new(print, vein)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TemplateError> {
        if self.0.len() < n {
            return Err(TemplateError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, TemplateError> {
        Ok(self.take(1)?[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(seed: u64) -> CodeMap {
        let mut words = [0u64; WORDS];
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for w in words.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *w = x;
        }
        CodeMap::from_words(words)
    }

    fn sample() -> Template {
        let print = ModalityCode::new(vec![(0, map(1)), (-6, map(2)), (6, map(3))]).unwrap();
        let vein = ModalityCode::new(vec![(0, map(4))]).unwrap();
        Template::new(Some(print), Some(vein)).unwrap()
    }

    #[test]
    fn round_trip() {
        let t = sample();
        let bytes = t.to_bytes();
        assert_eq!(bytes.len(), 6 + (1 + 3 * 513) + (1 + 513));
        assert_eq!(Template::from_bytes(&bytes).unwrap(), t);
        let print_only = Template::new(t.print().cloned(), None).unwrap();
        assert_eq!(
            Template::from_bytes(&print_only.to_bytes()).unwrap(),
            print_only
        );
    }

    #[test]
    fn version_mismatch_and_damage_are_rejected() {
        let mut bytes = sample().to_bytes();
        bytes[4] = Template::VERSION + 1;
        assert_eq!(
            Template::from_bytes(&bytes),
            Err(TemplateError::Version {
                found: Template::VERSION + 1,
                expected: Template::VERSION
            })
        );
        let good = sample().to_bytes();
        assert_eq!(
            Template::from_bytes(&good[..good.len() - 1]),
            Err(TemplateError::Truncated)
        );
        assert_eq!(
            Template::from_bytes(b"XXXX\x01\x01"),
            Err(TemplateError::BadMagic)
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            Template::from_bytes(&trailing),
            Err(TemplateError::Malformed(_))
        ));
        let mut empty = good[..6].to_vec();
        empty[5] = 0;
        assert!(matches!(
            Template::from_bytes(&empty),
            Err(TemplateError::Malformed(_))
        ));
    }
}

//! The identification index: the enrolled templates decoded once, with their pre-selection
//! sketches, kept in step with the store's enrollment gallery.
//!
//! 1:N search: galleries up to [`IdentifyConfig::exhaustive_up_to`] people are compared
//! exhaustively. Larger ones go through the palm crate's two-stage search (popcount scan over
//! sketches, full comparison of the K nearest). The engine report (docs/palm-report.md) shows
//! that the sketch does not yet keep the mate in the top K reliably, so when the pre-selected
//! best is below the threshold the rest of the gallery is compared too
//! ([`IdentifyConfig::exhaustive_fallback`]): a genuine person is then found late rather than
//! rejected and charged a retry. The decision is always the best match over everyone compared,
//! at the engine's calibrated threshold.

use std::collections::HashMap;

use super::matcher::PalmMatcher;
use crate::palm::search::{Gallery, Scratch};
use crate::palm::template::Template;
use crate::store::enrollments::Enrollments;
use crate::store::state::TemplateId;

/// How 1:N identification searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentifyConfig {
    /// Candidates the sketch scan hands to the full matcher.
    pub preselect_k: usize,
    /// Galleries up to this size are searched exhaustively.
    pub exhaustive_up_to: usize,
    /// Compare the rest when the pre-selected best does not match.
    pub exhaustive_fallback: bool,
}

impl Default for IdentifyConfig {
    fn default() -> Self {
        IdentifyConfig {
            preselect_k: 64,
            exhaustive_up_to: 128,
            exhaustive_fallback: true,
        }
    }
}

/// Who a probe matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Identified {
    pub template_id: TemplateId,
    pub score: f32,
}

struct Entry {
    template_id: TemplateId,
    template: Template,
    sketch: Vec<u64>,
}

/// Decoded templates + sketch gallery for one revision of the enrollments.
pub struct Index {
    revision: Option<u64>,
    entries: Vec<Entry>,
    /// Labels are positions in `entries`.
    gallery: Gallery<()>,
    scratch: Scratch,
    /// How many identifications needed the exhaustive fallback (for the bench and logs).
    fallbacks: u64,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("revision", &self.revision)
            .field("people", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Index {
    pub fn new(matcher: &PalmMatcher) -> Self {
        Index {
            revision: None,
            entries: Vec::new(),
            gallery: Gallery::new(matcher.sketch_words()),
            scratch: Scratch::default(),
            fallbacks: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn fallbacks(&self) -> u64 {
        self.fallbacks
    }

    /// Bring the index up to the store's enrollments. Templates already decoded are kept;
    /// new ones are decoded on all cores (decoding resamples the code at several scales,
    /// ~1 ms each, so 10,000 people take seconds, once). A stored template that no longer
    /// decodes (engine upgrade) is skipped with a warning: that person must re-enroll.
    pub fn sync(&mut self, enrollments: &Enrollments, matcher: &PalmMatcher) {
        if self.revision == Some(enrollments.revision()) {
            return;
        }
        let mut known: HashMap<TemplateId, Entry> = self
            .entries
            .drain(..)
            .map(|e| (e.template_id.clone(), e))
            .collect();
        let people = enrollments.people();
        let missing: Vec<usize> = (0..people.len())
            .filter(|&i| !known.contains_key(&people[i].template_id))
            .collect();
        let decoded = decode_parallel(&missing, |i| {
            let person = &people[i];
            match Template::from_bytes(&person.template) {
                Ok(template) => Some(Entry {
                    template_id: person.template_id.clone(),
                    sketch: matcher.sketch(&template),
                    template,
                }),
                Err(err) => {
                    tracing::warn!(%err, template_id = %hex::encode(&person.template_id),
                        "stored palm template does not decode: person must re-enroll");
                    None
                }
            }
        });
        for entry in decoded.into_iter().flatten() {
            known.insert(entry.template_id.clone(), entry);
        }
        let mut gallery = Gallery::new(matcher.sketch_words());
        gallery.reserve(people.len());
        for person in people {
            if let Some(entry) = known.remove(&person.template_id) {
                gallery.push(self.entries.len() as u32, &entry.sketch, ());
                self.entries.push(entry);
            }
        }
        self.gallery = gallery;
        self.revision = Some(enrollments.revision());
        tracing::debug!(people = self.entries.len(), "identification index synced");
    }

    /// Add one decoded template directly (bench and tests building large galleries).
    pub fn push(&mut self, template_id: TemplateId, template: Template, matcher: &PalmMatcher) {
        let sketch = matcher.sketch(&template);
        self.gallery.push(self.entries.len() as u32, &sketch, ());
        self.entries.push(Entry {
            template_id,
            template,
            sketch,
        });
    }

    /// Mark the index as matching `revision` (after [`Index::push`]ing its people).
    pub fn set_revision(&mut self, revision: u64) {
        self.revision = Some(revision);
    }

    /// The best-matching enrolled person at or above the threshold.
    pub fn identify(
        &mut self,
        probe: &Template,
        matcher: &PalmMatcher,
        config: &IdentifyConfig,
    ) -> Option<Identified> {
        let n = self.entries.len();
        if n == 0 {
            return None;
        }
        let threshold = matcher.threshold();
        let score = |i: usize| matcher.score(probe, &self.entries[i].template);
        let mut best: Option<(usize, f32)> = None;
        let consider = |i: usize, best: &mut Option<(usize, f32)>| {
            let s = score(i);
            if best.is_none_or(|(_, b)| s > b) {
                *best = Some((i, s));
            }
        };
        if n <= config.exhaustive_up_to.max(config.preselect_k) {
            (0..n).for_each(|i| consider(i, &mut best));
        } else {
            let sketch = matcher.sketch(probe);
            let candidates = self
                .gallery
                .preselect(&sketch, config.preselect_k, &mut self.scratch)
                .to_vec();
            candidates
                .iter()
                .for_each(|&i| consider(i as usize, &mut best));
            if config.exhaustive_fallback && best.is_none_or(|(_, s)| s < threshold) {
                self.fallbacks += 1;
                let mut taken = vec![false; n];
                candidates.iter().for_each(|&i| taken[i as usize] = true);
                (0..n)
                    .filter(|&i| !taken[i])
                    .for_each(|i| consider(i, &mut best));
            }
        }
        let (i, s) = best.filter(|&(_, s)| s >= threshold)?;
        Some(Identified {
            template_id: self.entries[i].template_id.clone(),
            score: s,
        })
    }

    /// 1:1: does `probe` match this enrolled person?
    pub fn template(&self, template_id: &[u8]) -> Option<&Template> {
        self.entries
            .iter()
            .find(|e| e.template_id == template_id)
            .map(|e| &e.template)
    }
}

/// Run `f` over `items` on all available cores, keeping the order.
fn decode_parallel<T: Send>(items: &[usize], f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    if threads <= 1 {
        return items.iter().map(|&i| f(i)).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(|&i| f(i)).collect::<Vec<T>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("template decoding thread panicked"))
            .collect()
    })
}

//! The identification index: the enrolled templates decoded once, with their pre-selection
//! codes, kept in step with the store's enrollment gallery.
//!
//! 1:N search: galleries up to [`IdentifyConfig::exhaustive_up_to`] people are compared
//! exhaustively. Larger ones go through the palm crate's cascade (two quick stages on all
//! cores, then the full matcher on the K best). The cascade misses a mate the full matcher
//! would accept for about 0.3 % of probes (docs/palm-report.md), so when the pre-selected best
//! is below the threshold the rest of the gallery is compared too
//! ([`IdentifyConfig::exhaustive_fallback`]): a genuine person is then found late rather than
//! rejected and charged a retry. The decision is always the best match over everyone compared,
//! at the engine's calibrated threshold.

use std::collections::HashMap;

use rayon::prelude::*;

use super::matcher::PalmMatcher;
use crate::palm::search::cascade::Cascade;
use crate::palm::search::quick::QuickRef;
use crate::palm::template::Template;
use crate::store::enrollments::Enrollments;
use crate::store::state::TemplateId;

/// How 1:N identification searches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdentifyConfig {
    /// The pre-selection: its stages and the K candidates it hands to the full matcher.
    pub cascade: Cascade,
    /// Galleries up to this size are searched exhaustively.
    pub exhaustive_up_to: usize,
    /// Compare the rest when the pre-selected best does not match.
    pub exhaustive_fallback: bool,
}

impl Default for IdentifyConfig {
    fn default() -> Self {
        IdentifyConfig {
            cascade: Cascade::default(),
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
}

/// Decoded templates + pre-selection codes for one revision of the enrollments.
#[derive(Default)]
pub struct Index {
    revision: Option<u64>,
    entries: Vec<Entry>,
    /// `quick[i]` is the pre-selection code of `entries[i]`.
    quick: Vec<QuickRef>,
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
    pub fn new() -> Self {
        Self::default()
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
    pub fn sync(&mut self, enrollments: &Enrollments) {
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
        self.quick.clear();
        for person in people {
            if let Some(entry) = known.remove(&person.template_id) {
                self.quick.push(QuickRef::new(&entry.template));
                self.entries.push(entry);
            }
        }
        self.revision = Some(enrollments.revision());
        tracing::debug!(people = self.entries.len(), "identification index synced");
    }

    /// Add one decoded template directly (bench and tests building large galleries).
    pub fn push(&mut self, template_id: TemplateId, template: Template) {
        self.quick.push(QuickRef::new(&template));
        self.entries.push(Entry {
            template_id,
            template,
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
        // The full matcher over `people` on all cores; the best (highest, then earliest) wins.
        let best_of = |people: Vec<usize>| {
            people
                .into_par_iter()
                .map(|i| (i, matcher.score(probe, &self.entries[i].template)))
                .reduce_with(|a, b| {
                    if b.1 > a.1 || (b.1 == a.1 && b.0 < a.0) {
                        b
                    } else {
                        a
                    }
                })
        };
        let best = if n <= config.exhaustive_up_to.max(config.cascade.k) {
            best_of((0..n).collect())
        } else {
            let candidates: Vec<usize> = config
                .cascade
                .preselect(&matcher.quick_probe(probe), &self.quick)
                .into_iter()
                .map(|i| i as usize)
                .collect();
            let best = best_of(candidates.clone());
            if config.exhaustive_fallback && best.is_none_or(|(_, s)| s < threshold) {
                self.fallbacks += 1;
                let mut taken = vec![false; n];
                candidates.iter().for_each(|&i| taken[i] = true);
                let rest = best_of((0..n).filter(|&i| !taken[i]).collect());
                [best, rest]
                    .into_iter()
                    .flatten()
                    .reduce(|a, b| if b.1 > a.1 { b } else { a })
            } else {
                best
            }
        };
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

//! The identification index: the enrolled templates decoded once, with their pre-selection
//! codes, kept in step with the store's enrollment gallery.
//!
//! 1:N search is the palm crate's ([`crate::palm::search::Gallery`]: exhaustive for small
//! galleries, else the cascade pre-selection, the full matcher on its K best and the exhaustive
//! fallback when their best does not match); this index keeps the gallery's pre-selection codes
//! and the decoded templates the full matcher reads, in the same order. The decision is always
//! the best match over everyone compared, at the engine's calibrated threshold.

use std::collections::HashMap;

use super::matcher::PalmMatcher;
use crate::palm::search::quick::QuickRef;
use crate::palm::search::Gallery;
use crate::palm::template::Template;
use crate::store::enrollments::Enrollments;
use crate::store::state::TemplateId;

/// How 1:N identification searches (the palm crate's search settings).
pub use crate::palm::search::SearchConfig as IdentifyConfig;

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
    /// `quick`'s entry `i` is the pre-selection code of `entries[i]`.
    quick: Gallery,
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
        let outcome = self.quick.search(
            || matcher.quick_probe(probe),
            |i| matcher.score(probe, &self.entries[i].template),
            matcher.threshold(),
            config,
        );
        self.fallbacks += u64::from(outcome.fell_back);
        let hit = outcome.best.filter(|h| h.score >= matcher.threshold())?;
        Some(Identified {
            template_id: self.entries[hit.index].template_id.clone(),
            score: hit.score,
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

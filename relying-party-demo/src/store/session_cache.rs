//! A write-through copy of live sessions in process memory, for stores whose database one
//! process owns.
//!
//! Every request reads its session (a sign-in reads it three times: page, `/start`,
//! `/finish`); from SQLite each read costs a statement and a shared file lock. The store
//! updates this copy after each commit that changes a session, so a hit is what the database
//! holds; a miss (a session from an earlier run, or one not kept because the copy was full)
//! falls back to the database.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::SessionRecord;

/// Sessions kept at most; beyond it new ones are only in the database (an anonymous visitor
/// creates one per page view without cookies, so the copy must not grow with a crawler).
pub(super) const SESSION_CACHE_CAPACITY: usize = 100_000;

#[derive(Debug, Default)]
pub(super) struct SessionCache {
    by_id: HashMap<[u8; 32], SessionRecord>,
}

impl SessionCache {
    /// The cached session: `Some(None)` when it is cached but has expired, `None` when it is
    /// not cached (ask the database).
    pub fn get(&self, id_hash: &[u8; 32], now: OffsetDateTime) -> Option<Option<SessionRecord>> {
        self.by_id
            .get(id_hash)
            .map(|s| (s.expires > now).then(|| s.clone()))
    }

    /// A session as committed to the database (new, or read from it after a miss).
    pub fn insert(&mut self, session: &SessionRecord) {
        if self.by_id.len() < SESSION_CACHE_CAPACITY || self.by_id.contains_key(&session.id_hash) {
            self.by_id.insert(session.id_hash, session.clone());
        }
    }

    /// Sign-in: `old` rotated out for `new`.
    pub fn replace(&mut self, old: &[u8; 32], new: &SessionRecord) {
        self.remove(old);
        self.insert(new);
    }

    /// A session deleted from the database.
    pub fn remove(&mut self, id_hash: &[u8; 32]) {
        self.by_id.remove(id_hash);
    }

    /// The database dropped every session expired at `now`.
    pub fn purge_expired(&mut self, now: OffsetDateTime) {
        self.by_id.retain(|_, s| s.expires > now);
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn session(id: u8, expires: OffsetDateTime) -> SessionRecord {
        SessionRecord {
            id_hash: [id; 32],
            account: None,
            csrf_token: format!("token {id}"),
            expires,
        }
    }

    #[test]
    fn hits_misses_expiry_and_removal() {
        let mut cache = SessionCache::default();
        let later = now() + Duration::hours(1);
        assert!(
            cache.get(&[1; 32], now()).is_none(),
            "not cached: ask the database"
        );
        cache.insert(&session(1, later));
        let hit = cache.get(&[1; 32], now()).unwrap().unwrap();
        assert_eq!(hit.csrf_token, "token 1");
        assert!(
            cache.get(&[1; 32], later).unwrap().is_none(),
            "expired: known gone, no database read"
        );
        cache.remove(&[1; 32]);
        assert!(cache.get(&[1; 32], now()).is_none());
        cache.insert(&session(2, now()));
        cache.insert(&session(3, later));
        cache.purge_expired(now());
        assert!(cache.get(&[2; 32], now()).is_none());
        assert!(cache.get(&[3; 32], now()).unwrap().is_some());
    }

    #[test]
    fn a_full_cache_keeps_what_it_has_and_updates_it() {
        let mut cache = SessionCache::default();
        let later = now() + Duration::hours(1);
        for i in 0..SESSION_CACHE_CAPACITY as u32 {
            let mut s = session(0, later);
            s.id_hash[..4].copy_from_slice(&i.to_le_bytes());
            s.id_hash[31] = 1;
            cache.insert(&s);
        }
        cache.insert(&session(9, later));
        assert!(
            cache.get(&[9; 32], now()).is_none(),
            "full: left to the database"
        );
        let mut first = session(0, later);
        first.id_hash[31] = 1;
        first.csrf_token = "rotated".into();
        cache.insert(&first);
        assert_eq!(
            cache
                .get(&first.id_hash, now())
                .unwrap()
                .unwrap()
                .csrf_token,
            "rotated"
        );
    }
}

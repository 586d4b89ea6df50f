//! Pending WebAuthn ceremonies held in process memory, for stores whose data one process owns.
//!
//! A challenge lives for a few minutes and must not outlive the process that issued it (see
//! [`SqliteStore`](super::SqliteStore)'s durability notes): keeping it in a table cost a write
//! transaction at every `/start` and bought nothing, since every open voided the table anyway.
//! A store shared by several instances (PostgreSQL) keeps them in a table instead.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::{CeremonyKind, StoreError, StoreResult, TakenCeremony, MAX_PENDING_CEREMONIES};

/// Pending ceremonies kept at most, over all sessions (each holds a few hundred bytes of
/// state): beyond it new ceremonies are refused until some finish or expire, so clients from
/// many addresses, each within the rate limit, cannot grow the process without bound.
pub(super) const MAX_PENDING_TOTAL: usize = 200_000;

/// One issued challenge and the ceremony state to finish it with.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    challenge: String,
    state: String,
    expires: OffsetDateTime,
}

impl Pending {
    fn answer(&self, now: OffsetDateTime) -> TakenCeremony {
        if self.expires <= now {
            TakenCeremony::Expired
        } else {
            TakenCeremony::Pending(self.state.clone())
        }
    }
}

/// The pending ceremonies of every session, at most [`MAX_PENDING_CEREMONIES`] per session and
/// kind (oldest dropped first), each in the order it was issued, and at most `capacity` in
/// all.
#[derive(Debug)]
pub(super) struct PendingCeremonies {
    by_session: HashMap<([u8; 32], CeremonyKind), Vec<Pending>>,
    total: usize,
    capacity: usize,
}

impl Default for PendingCeremonies {
    fn default() -> Self {
        Self::with_capacity(MAX_PENDING_TOTAL)
    }
}

impl PendingCeremonies {
    pub fn with_capacity(capacity: usize) -> Self {
        PendingCeremonies {
            by_session: HashMap::new(),
            total: 0,
            capacity,
        }
    }

    /// Issue `challenge` (replacing a pending one with the same challenge); refused with
    /// [`StoreError::Busy`] when `capacity` ceremonies are pending.
    pub fn put(
        &mut self,
        session: &[u8; 32],
        kind: CeremonyKind,
        challenge: &str,
        state: &str,
        expires: OffsetDateTime,
    ) -> StoreResult<()> {
        let list = self.by_session.entry((*session, kind)).or_default();
        let before = list.len();
        list.retain(|p| p.challenge != challenge);
        let replaced = before - list.len();
        if replaced == 0 && self.total >= self.capacity {
            if list.is_empty() {
                self.by_session.remove(&(*session, kind));
            }
            return Err(StoreError::Busy);
        }
        list.push(Pending {
            challenge: challenge.to_owned(),
            state: state.to_owned(),
            expires,
        });
        while list.len() > MAX_PENDING_CEREMONIES {
            // The earliest deadline goes first; of equal deadlines, the earliest issued.
            let oldest = (0..list.len())
                .min_by_key(|&i| (list[i].expires, i))
                .expect("the list is not empty");
            list.remove(oldest);
            self.total -= 1;
        }
        self.total = self.total + 1 - replaced;
        Ok(())
    }

    /// What is pending for `challenge`, left in place.
    pub fn peek(
        &self,
        session: &[u8; 32],
        kind: CeremonyKind,
        challenge: &str,
        now: OffsetDateTime,
    ) -> TakenCeremony {
        self.by_session
            .get(&(*session, kind))
            .and_then(|list| list.iter().find(|p| p.challenge == challenge))
            .map_or(TakenCeremony::Missing, |p| p.answer(now))
    }

    /// Remove `challenge`'s entry, in time or not: whoever removes it owns its single use.
    pub fn remove(
        &mut self,
        session: &[u8; 32],
        kind: CeremonyKind,
        challenge: &str,
    ) -> Option<Pending> {
        let key = (*session, kind);
        let list = self.by_session.get_mut(&key)?;
        let at = list.iter().position(|p| p.challenge == challenge)?;
        let taken = list.remove(at);
        self.total -= 1;
        if list.is_empty() {
            self.by_session.remove(&key);
        }
        Some(taken)
    }

    /// Remove `challenge` and say whether it was pending in time (a challenge is used once).
    pub fn take(
        &mut self,
        session: &[u8; 32],
        kind: CeremonyKind,
        challenge: &str,
        now: OffsetDateTime,
    ) -> TakenCeremony {
        self.remove(session, kind, challenge)
            .map_or(TakenCeremony::Missing, |p| p.answer(now))
    }

    /// Put back an entry [`Self::remove`] took, when what it was taken for did not happen.
    pub fn restore(&mut self, session: &[u8; 32], kind: CeremonyKind, entry: Pending) {
        let list = self.by_session.entry((*session, kind)).or_default();
        if list.len() < MAX_PENDING_CEREMONIES {
            list.push(entry);
            self.total += 1;
        }
    }

    /// Forget every ceremony of a session that ended (sign-out, rotation at sign-in).
    pub fn end_session(&mut self, session: &[u8; 32]) {
        let total = &mut self.total;
        self.by_session.retain(|(s, _), list| {
            let keep = s != session;
            if !keep {
                *total -= list.len();
            }
            keep
        });
    }

    /// Drop every ceremony whose deadline has passed; returns how many went.
    pub fn purge_expired(&mut self, now: OffsetDateTime) -> usize {
        let mut purged = 0;
        self.by_session.retain(|_, list| {
            let before = list.len();
            list.retain(|p| p.expires > now);
            purged += before - list.len();
            !list.is_empty()
        });
        self.total -= purged;
        purged
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;

    const KIND: CeremonyKind = CeremonyKind::Authentication;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn pending(state: &str) -> TakenCeremony {
        TakenCeremony::Pending(state.into())
    }

    #[test]
    fn a_challenge_is_used_once_by_its_own_session_and_kind() {
        let mut p = PendingCeremonies::default();
        let later = now() + Duration::minutes(5);
        p.put(&[1; 32], KIND, "c", "state", later).unwrap();
        assert_eq!(p.peek(&[1; 32], KIND, "c", now()), pending("state"));
        assert_eq!(
            p.peek(&[2; 32], KIND, "c", now()),
            TakenCeremony::Missing,
            "another session's challenge"
        );
        assert_eq!(
            p.take(&[1; 32], CeremonyKind::Payment, "c", now()),
            TakenCeremony::Missing,
            "another kind"
        );
        assert_eq!(p.take(&[1; 32], KIND, "c", now()), pending("state"));
        assert_eq!(p.take(&[1; 32], KIND, "c", now()), TakenCeremony::Missing);
        assert!(p.by_session.is_empty(), "nothing left behind");
    }

    #[test]
    fn a_late_answer_is_expired_and_still_used_up() {
        let mut p = PendingCeremonies::default();
        p.put(&[1; 32], KIND, "c", "state", now()).unwrap();
        assert_eq!(p.peek(&[1; 32], KIND, "c", now()), TakenCeremony::Expired);
        assert_eq!(p.take(&[1; 32], KIND, "c", now()), TakenCeremony::Expired);
        assert_eq!(p.take(&[1; 32], KIND, "c", now()), TakenCeremony::Missing);
    }

    #[test]
    fn the_oldest_beyond_the_limit_are_dropped() {
        let mut p = PendingCeremonies::default();
        for i in 0..MAX_PENDING_CEREMONIES + 3 {
            let expires = now() + Duration::seconds(60 + i as i64);
            p.put(&[1; 32], KIND, &format!("c{i}"), "s", expires)
                .unwrap();
        }
        for i in 0..3 {
            assert_eq!(
                p.peek(&[1; 32], KIND, &format!("c{i}"), now()),
                TakenCeremony::Missing
            );
        }
        for i in 3..MAX_PENDING_CEREMONIES + 3 {
            assert_eq!(
                p.peek(&[1; 32], KIND, &format!("c{i}"), now()),
                pending("s")
            );
        }
        // Re-issuing a pending challenge replaces it rather than adding a second entry.
        let last = format!("c{}", MAX_PENDING_CEREMONIES + 2);
        p.put(&[1; 32], KIND, &last, "new", now() + Duration::hours(1))
            .unwrap();
        assert_eq!(p.peek(&[1; 32], KIND, &last, now()), pending("new"));
        assert_eq!(p.by_session[&([1; 32], KIND)].len(), MAX_PENDING_CEREMONIES);
    }

    #[test]
    fn a_full_set_refuses_new_ceremonies_until_one_goes() {
        let mut p = PendingCeremonies::with_capacity(3);
        let later = now() + Duration::minutes(5);
        p.put(&[1; 32], KIND, "a", "s", later).unwrap();
        p.put(&[2; 32], KIND, "b", "s", later).unwrap();
        p.put(&[3; 32], KIND, "c", "s", now()).unwrap();
        assert!(matches!(
            p.put(&[4; 32], KIND, "d", "s", later),
            Err(StoreError::Busy)
        ));
        assert!(
            !p.by_session.contains_key(&([4; 32], KIND)),
            "no empty entry left"
        );
        // Re-issuing a pending challenge is not a new one.
        p.put(&[1; 32], KIND, "a", "again", later).unwrap();
        p.take(&[2; 32], KIND, "b", now());
        p.put(&[4; 32], KIND, "d", "s", later).unwrap();
        p.purge_expired(now());
        p.end_session(&[1; 32]);
        assert_eq!(p.total, 1);
        p.put(&[5; 32], KIND, "e", "s", later).unwrap();
        p.put(&[6; 32], KIND, "f", "s", later).unwrap();
        assert_eq!(p.total, 3);
    }

    #[test]
    fn remove_and_restore_round_trip() {
        let mut p = PendingCeremonies::default();
        p.put(&[1; 32], KIND, "c", "s", now() + Duration::minutes(1))
            .unwrap();
        let taken = p.remove(&[1; 32], KIND, "c").unwrap();
        assert!(
            p.remove(&[1; 32], KIND, "c").is_none(),
            "owned by one taker"
        );
        p.restore(&[1; 32], KIND, taken);
        assert_eq!(p.peek(&[1; 32], KIND, "c", now()), pending("s"));
    }

    #[test]
    fn ending_a_session_and_purging_forget_its_ceremonies() {
        let mut p = PendingCeremonies::default();
        let later = now() + Duration::minutes(5);
        p.put(&[1; 32], KIND, "a", "s", later).unwrap();
        p.put(&[1; 32], CeremonyKind::Registration, "b", "s", later)
            .unwrap();
        p.put(&[2; 32], KIND, "c", "s", later).unwrap();
        p.put(&[2; 32], KIND, "d", "s", now()).unwrap();
        p.end_session(&[1; 32]);
        assert_eq!(p.peek(&[1; 32], KIND, "a", now()), TakenCeremony::Missing);
        assert_eq!(
            p.peek(&[1; 32], CeremonyKind::Registration, "b", now()),
            TakenCeremony::Missing
        );
        assert_eq!(p.purge_expired(now()), 1);
        assert_eq!(p.peek(&[2; 32], KIND, "c", now()), pending("s"));
        assert_eq!(p.purge_expired(later), 1);
        assert!(p.by_session.is_empty());
    }
}

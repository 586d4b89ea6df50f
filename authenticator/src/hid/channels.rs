//! CTAPHID channel allocation and the channel lock (CTAP 2.1 §11.2.9.1.3, §11.2.9.1.4).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::RngCore;

use super::packet::ChannelId;

/// How many channels stay allocated; the oldest allocation is forgotten first. Hosts open a
/// channel per connection, so this bounds memory without bothering live clients.
pub const DEFAULT_MAX_CHANNELS: usize = 64;

/// The longest CTAPHID_LOCK a host may request, in seconds.
pub const MAX_LOCK_SECONDS: u8 = 10;

/// Allocated channel IDs, oldest first.
#[derive(Debug)]
pub struct Channels {
    allocated: VecDeque<ChannelId>,
    max: usize,
}

impl Channels {
    pub fn new(max: usize) -> Channels {
        Channels {
            allocated: VecDeque::with_capacity(max),
            max: max.max(1),
        }
    }

    /// A fresh random channel ID: never 0, never broadcast, never one already in use.
    /// Random rather than sequential so a host holding a channel from before a restart does
    /// not silently share a new client's channel.
    pub fn allocate(&mut self) -> ChannelId {
        let mut rng = rand::thread_rng();
        let cid = loop {
            let candidate = ChannelId(rng.next_u32());
            if candidate != ChannelId::RESERVED
                && !candidate.is_broadcast()
                && !self.contains(candidate)
            {
                break candidate;
            }
        };
        if self.allocated.len() == self.max {
            if let Some(evicted) = self.allocated.pop_front() {
                tracing::debug!(%evicted, "channel table full: forgetting the oldest channel");
            }
        }
        self.allocated.push_back(cid);
        cid
    }

    pub fn contains(&self, cid: ChannelId) -> bool {
        self.allocated.contains(&cid)
    }

    pub fn len(&self) -> usize {
        self.allocated.len()
    }

    pub fn is_empty(&self) -> bool {
        self.allocated.is_empty()
    }
}

/// CTAPHID_LOCK: one channel holds the device exclusively until the lock expires or is
/// released (lock time 0).
#[derive(Debug, Default)]
pub struct ChannelLock {
    held: Option<(ChannelId, Instant)>,
}

/// Why a LOCK request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockRefused {
    /// Lock time above [`MAX_LOCK_SECONDS`].
    TooLong,
}

impl ChannelLock {
    /// Apply a LOCK request from `cid`: 0 releases, 1..=10 (re)starts the lock.
    pub fn request(
        &mut self,
        cid: ChannelId,
        seconds: u8,
        now: Instant,
    ) -> Result<(), LockRefused> {
        if seconds > MAX_LOCK_SECONDS {
            return Err(LockRefused::TooLong);
        }
        self.held = match seconds {
            0 => None,
            s => Some((cid, now + Duration::from_secs(u64::from(s)))),
        };
        Ok(())
    }

    /// The channel holding the lock right now, if any.
    pub fn holder(&mut self, now: Instant) -> Option<ChannelId> {
        match self.held {
            Some((_, until)) if now >= until => {
                self.held = None;
                None
            }
            Some((cid, _)) => Some(cid),
            None => None,
        }
    }

    /// True when `cid` may not talk because another channel holds the lock.
    pub fn excludes(&mut self, cid: ChannelId, now: Instant) -> bool {
        self.holder(now).is_some_and(|holder| holder != cid)
    }

    pub fn expiry(&self) -> Option<Instant> {
        self.held.map(|(_, until)| until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_distinct_valid_channels() {
        let mut channels = Channels::new(16);
        let cids: Vec<_> = (0..16).map(|_| channels.allocate()).collect();
        for (i, cid) in cids.iter().enumerate() {
            assert_ne!(*cid, ChannelId::RESERVED);
            assert!(!cid.is_broadcast());
            assert!(!cids[i + 1..].contains(cid));
            assert!(channels.contains(*cid));
        }
    }

    #[test]
    fn full_table_forgets_oldest() {
        let mut channels = Channels::new(2);
        let a = channels.allocate();
        let b = channels.allocate();
        let c = channels.allocate();
        assert!(!channels.contains(a));
        assert!(channels.contains(b) && channels.contains(c));
        assert_eq!(channels.len(), 2);
    }

    #[test]
    fn lock_excludes_others_until_expiry() {
        let now = Instant::now();
        let (a, b) = (ChannelId(1), ChannelId(2));
        let mut lock = ChannelLock::default();
        lock.request(a, 2, now).unwrap();
        assert!(lock.excludes(b, now));
        assert!(!lock.excludes(a, now));
        assert!(lock.excludes(b, now + Duration::from_millis(1999)));
        assert!(!lock.excludes(b, now + Duration::from_secs(2)));
        assert_eq!(lock.holder(now), None);
    }

    #[test]
    fn lock_zero_releases_and_eleven_is_refused() {
        let now = Instant::now();
        let mut lock = ChannelLock::default();
        lock.request(ChannelId(1), 10, now).unwrap();
        lock.request(ChannelId(1), 0, now).unwrap();
        assert_eq!(lock.holder(now), None);
        assert_eq!(
            lock.request(ChannelId(1), 11, now),
            Err(LockRefused::TooLong)
        );
    }
}

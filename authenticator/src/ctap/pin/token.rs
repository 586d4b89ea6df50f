//! The pinUvAuthToken and its volatile grant state (CTAP 2.1 §6.5.2.1).
//!
//! One token serves both protocols. Each issuance draws a fresh random token, so an older
//! token stops working. A granted token carries its permissions, an optional permissions RP ID,
//! and the user-present / user-verified flags; it lapses when the usage timer runs out.

use std::time::{Duration, Instant};

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::Permission;
use crate::ctap::user::VerifiedUser;

/// A token nobody used within this time after issuance stops being in use.
pub const INITIAL_USAGE_LIMIT: Duration = Duration::from_secs(30);
/// No token stays in use longer than this after issuance, used or not.
pub const MAX_USAGE_PERIOD: Duration = Duration::from_secs(600);
/// The user-present flag a token got at issuance lasts this long.
pub const USER_PRESENT_LIMIT: Duration = Duration::from_secs(30);

/// Length of the token handed to the platform (encrypted).
pub const TOKEN_LEN: usize = 32;

/// What a token in use currently allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub permissions: Permission,
    /// The permissions RP ID; `None` until bound (getPinToken tokens, or mc/ga binding it).
    pub rp_id: Option<String>,
    pub user_present: bool,
    pub user_verified: bool,
    /// The person built-in UV identified when the token was issued that way; `None` for a
    /// PIN-issued token.
    pub verified_user: Option<VerifiedUser>,
    issued: Instant,
    used: bool,
}

impl Grant {
    fn expired(&self, now: Instant) -> bool {
        let age = now.saturating_duration_since(self.issued);
        age >= MAX_USAGE_PERIOD || (!self.used && age >= INITIAL_USAGE_LIMIT)
    }
}

/// The token value plus its grant; no grant means "not in use".
pub struct PinUvAuthToken {
    key: Zeroizing<[u8; TOKEN_LEN]>,
    grant: Option<Grant>,
}

impl std::fmt::Debug for PinUvAuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinUvAuthToken")
            .field("grant", &self.grant)
            .finish_non_exhaustive()
    }
}

impl PinUvAuthToken {
    /// A fresh, unused token (power-up).
    pub fn new(rng: &mut impl CryptoRngCore) -> Self {
        let mut token = PinUvAuthToken {
            key: Zeroizing::new([0; TOKEN_LEN]),
            grant: None,
        };
        token.reset(rng);
        token
    }

    /// resetPinUvAuthToken: a new random value and no grant.
    pub fn reset(&mut self, rng: &mut impl CryptoRngCore) {
        rng.fill_bytes(self.key.as_mut_slice());
        self.grant = None;
    }

    /// Issue the token: new value, then beginUsingPinUvAuthToken with these rights.
    pub fn issue(
        &mut self,
        rng: &mut impl CryptoRngCore,
        permissions: Permission,
        rp_id: Option<String>,
        user_present: bool,
        verified_user: Option<VerifiedUser>,
        now: Instant,
    ) -> &[u8] {
        self.reset(rng);
        self.grant = Some(Grant {
            permissions,
            rp_id,
            user_present,
            user_verified: true,
            verified_user,
            issued: now,
            used: false,
        });
        self.key.as_slice()
    }

    /// The token value, the HMAC key for pinUvAuthParams made with it.
    pub fn key(&self) -> &[u8] {
        self.key.as_slice()
    }

    /// The grant if the token is still in use at `now`; an expired one is dropped here, so a
    /// lapsed token never comes back.
    pub fn grant_at(&mut self, now: Instant) -> Option<&mut Grant> {
        if self.grant.as_ref().is_some_and(|g| g.expired(now)) {
            self.grant = None;
        }
        let grant = self.grant.as_mut()?;
        if now.saturating_duration_since(grant.issued) >= USER_PRESENT_LIMIT {
            grant.user_present = false;
        }
        Some(grant)
    }

    /// Record a successful use: from now on only the maximum usage period limits the token.
    pub fn mark_used(&mut self) {
        if let Some(grant) = self.grant.as_mut() {
            grant.used = true;
        }
    }

    /// stopUsingPinUvAuthToken.
    pub fn stop_using(&mut self) {
        self.grant = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn issuance_changes_the_value() {
        let mut token = PinUvAuthToken::new(&mut OsRng);
        let before = token.key().to_vec();
        let now = Instant::now();
        let issued = token
            .issue(&mut OsRng, Permission::MC, None, false, None, now)
            .to_vec();
        assert_ne!(before, issued);
        assert!(token.grant_at(now).is_some());
    }

    #[test]
    fn unused_token_lapses_after_the_initial_limit() {
        let mut token = PinUvAuthToken::new(&mut OsRng);
        let now = Instant::now();
        token.issue(&mut OsRng, Permission::GA, None, true, None, now);
        assert!(token.grant_at(now + Duration::from_secs(29)).is_some());
        assert!(token.grant_at(now + INITIAL_USAGE_LIMIT).is_none());
        // Once lapsed it stays lapsed.
        assert!(token.grant_at(now).is_none());
    }

    #[test]
    fn used_token_lasts_until_the_maximum_period() {
        let mut token = PinUvAuthToken::new(&mut OsRng);
        let now = Instant::now();
        token.issue(&mut OsRng, Permission::CM, None, true, None, now);
        token.mark_used();
        let later = token
            .grant_at(now + Duration::from_secs(120))
            .expect("still in use");
        assert!(!later.user_present, "user presence is only fresh for 30 s");
        assert!(later.user_verified);
        assert!(token.grant_at(now + MAX_USAGE_PERIOD).is_none());
    }

    #[test]
    fn stop_using_ends_the_grant() {
        let mut token = PinUvAuthToken::new(&mut OsRng);
        let now = Instant::now();
        token.issue(&mut OsRng, Permission::ACFG, None, false, None, now);
        token.stop_using();
        assert!(token.grant_at(now).is_none());
    }
}

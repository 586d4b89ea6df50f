//! PIN/UV auth: protocols, the pinUvAuthToken, and authenticatorClientPIN.
//!
//! [`PinUv`] is the volatile side of user verification: everything here is lost at power-off
//! on purpose (key-agreement keys, the token, the consecutive-mismatch count). The persistent
//! side (PIN hash, retry counter, minimum length) lives in the store's `PinState`.

pub mod client_pin;
pub mod protocol;
#[cfg(test)]
pub(crate) mod testing;
pub mod token;

use std::time::Instant;

use ciborium::Value;
use rand_core::OsRng;

pub use protocol::{KeyAgreementKey, PinProtocol, SharedSecret};
pub use token::{Grant, PinUvAuthToken};

use super::cose::CoseKey;
use super::user::VerifiedUser;
use super::CtapError;

/// pinUvAuthToken permissions (CTAP 2.1 §6.5.5.7), a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Permission(u8);

impl Permission {
    pub const NONE: Permission = Permission(0);
    /// makeCredential.
    pub const MC: Permission = Permission(0x01);
    /// getAssertion.
    pub const GA: Permission = Permission(0x02);
    /// credentialManagement.
    pub const CM: Permission = Permission(0x04);
    /// bioEnrollment.
    pub const BE: Permission = Permission(0x08);
    /// largeBlobWrite.
    pub const LBW: Permission = Permission(0x10);
    /// authenticatorConfig.
    pub const ACFG: Permission = Permission(0x20);

    pub const fn from_bits(bits: u8) -> Self {
        Permission(bits)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True when every permission in `other` is in `self`.
    pub const fn contains(self, other: Permission) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when any of mc or ga is set: those need a permissions RP ID.
    pub const fn needs_rp_id(self) -> bool {
        self.0 & (Self::MC.0 | Self::GA.0) != 0
    }
}

impl std::ops::BitOr for Permission {
    type Output = Permission;
    fn bitor(self, rhs: Permission) -> Permission {
        Permission(self.0 | rhs.0)
    }
}

/// One new key-agreement key per protocol.
fn fresh_key_agreement() -> [KeyAgreementKey; 2] {
    [
        KeyAgreementKey::generate(&mut OsRng),
        KeyAgreementKey::generate(&mut OsRng),
    ]
}

/// After this many wrong PINs in a row, PIN entry needs a power cycle.
pub const MAX_CONSECUTIVE_MISMATCHES: u8 = 3;

/// Volatile PIN/UV state of a powered-up authenticator.
#[derive(Debug)]
pub struct PinUv {
    /// Indexed by protocol: [protocol 1, protocol 2].
    key_agreement: [KeyAgreementKey; 2],
    token: PinUvAuthToken,
    consecutive_mismatches: u8,
    /// The permissions this device can grant (bioEnrollment and largeBlobWrite only once the
    /// device supports those commands).
    grantable: Permission,
}

impl Default for PinUv {
    fn default() -> Self {
        Self::new()
    }
}

impl PinUv {
    /// Power-up state: fresh key-agreement keys and token, no mismatches.
    pub fn new() -> Self {
        PinUv {
            key_agreement: fresh_key_agreement(),
            token: PinUvAuthToken::new(&mut OsRng),
            consecutive_mismatches: 0,
            grantable: Permission::MC | Permission::GA | Permission::CM | Permission::ACFG,
        }
    }

    /// Let tokens carry `extra` permissions too (e.g. bioEnrollment once palm enrollment lands).
    pub fn allow_permissions(&mut self, extra: Permission) {
        self.grantable = self.grantable | extra;
    }

    /// The permissions a token can be asked for on this device.
    pub fn grantable(&self) -> Permission {
        self.grantable
    }

    /// authenticatorReset (and power-up): new keys, no token, no mismatch count.
    pub fn reset(&mut self) {
        let grantable = self.grantable;
        *self = PinUv::new();
        self.grantable = grantable;
    }

    /// The authenticator's key-agreement public key for `protocol` (getKeyAgreement).
    pub fn key_agreement(&self, protocol: PinProtocol) -> CoseKey {
        self.key_agreement_key(protocol).public_key()
    }

    /// The shared secret with the platform's keyAgreement COSE_Key (clientPIN, hmac-secret).
    pub fn shared_secret(
        &self,
        protocol: PinProtocol,
        platform_key: &Value,
    ) -> Result<SharedSecret, CtapError> {
        self.key_agreement_key(protocol)
            .decapsulate(protocol, platform_key)
    }

    fn key_agreement_key(&self, protocol: PinProtocol) -> &KeyAgreementKey {
        &self.key_agreement[usize::from(protocol.version() - 1)]
    }

    /// Regenerate the key-agreement keys (after a PIN mismatch, so a platform must start over).
    pub fn regenerate_key_agreement(&mut self) {
        self.key_agreement = fresh_key_agreement();
    }

    /// Wrong PINs in a row since power-up.
    pub fn consecutive_mismatches(&self) -> u8 {
        self.consecutive_mismatches
    }

    /// True when PIN entry is blocked until a power cycle (getPINRetries' powerCycleState).
    pub fn power_cycle_required(&self) -> bool {
        self.consecutive_mismatches >= MAX_CONSECUTIVE_MISMATCHES
    }

    pub(crate) fn record_mismatch(&mut self) {
        self.consecutive_mismatches = self.consecutive_mismatches.saturating_add(1);
        self.regenerate_key_agreement();
    }

    pub(crate) fn clear_mismatches(&mut self) {
        self.consecutive_mismatches = 0;
    }

    /// Issue a new token (invalidating the previous one) and return its value.
    pub(crate) fn issue_token(
        &mut self,
        permissions: Permission,
        rp_id: Option<String>,
        user_present: bool,
    ) -> &[u8] {
        self.token.issue(
            &mut OsRng,
            permissions,
            rp_id,
            user_present,
            None,
            Instant::now(),
        )
    }

    /// Issue a new token after built-in UV identified `user`; the token remembers who, so
    /// requests made with it act for that person (shared-terminal semantics).
    pub(crate) fn issue_token_for_user(
        &mut self,
        permissions: Permission,
        rp_id: Option<String>,
        user: VerifiedUser,
    ) -> &[u8] {
        self.token.issue(
            &mut OsRng,
            permissions,
            rp_id,
            true,
            Some(user),
            Instant::now(),
        )
    }

    /// The person built-in UV identified when the current token was issued (`None` for a
    /// PIN-issued token or no token).
    pub fn token_verified_user(&mut self) -> Option<VerifiedUser> {
        self.token
            .grant_at(Instant::now())
            .and_then(|g| g.verified_user.clone())
    }

    /// Invalidate any token (e.g. after changePIN or setPIN).
    pub fn reset_token(&mut self) {
        self.token.reset(&mut OsRng);
    }

    /// Check a pinUvAuthParam made with the token for an operation needing `permission`
    /// (makeCredential, getAssertion): protocol supported, token in use, MAC valid, permission
    /// held, and RP binding. A token without a permissions RP ID gets bound to `rp_id` here.
    /// Failures are `InvalidParameter` (unsupported protocol) or `PinAuthInvalid`.
    pub fn verify(
        &mut self,
        protocol: u8,
        message: &[u8],
        param: &[u8],
        permission: Permission,
        rp_id: Option<&str>,
    ) -> Result<(), CtapError> {
        self.verify_at(protocol, message, param, permission, rp_id, Instant::now())
    }

    pub(crate) fn verify_at(
        &mut self,
        protocol: u8,
        message: &[u8],
        param: &[u8],
        permission: Permission,
        rp_id: Option<&str>,
        now: Instant,
    ) -> Result<(), CtapError> {
        self.check_at(protocol, message, param, permission, now)?;
        let grant = self.token.grant_at(now).ok_or(CtapError::PinAuthInvalid)?;
        match (&grant.rp_id, rp_id) {
            (Some(bound), Some(wanted)) if bound != wanted => {
                return Err(CtapError::PinAuthInvalid)
            }
            (None, Some(wanted)) => grant.rp_id = Some(wanted.to_owned()),
            _ => {}
        }
        self.token.mark_used();
        Ok(())
    }

    /// Check a pinUvAuthParam for `permission` without touching the RP binding; the caller
    /// applies its command's own RP rule using [`Self::token_rp_id`] (credentialManagement
    /// matches an RP ID hash, authenticatorConfig ignores RP IDs).
    pub fn authorize(
        &mut self,
        protocol: u8,
        message: &[u8],
        param: &[u8],
        permission: Permission,
    ) -> Result<(), CtapError> {
        self.check_at(protocol, message, param, permission, Instant::now())?;
        self.token.mark_used();
        Ok(())
    }

    /// Protocol supported, token in use at `now`, MAC valid, permission held. Does not count
    /// as a use: only a request that passes every check does.
    fn check_at(
        &mut self,
        protocol: u8,
        message: &[u8],
        param: &[u8],
        permission: Permission,
        now: Instant,
    ) -> Result<(), CtapError> {
        let protocol = PinProtocol::try_from(protocol)?;
        if self.token.grant_at(now).is_none() {
            return Err(CtapError::PinAuthInvalid);
        }
        protocol.verify(self.token.key(), message, param)?;
        let grant = self.token.grant_at(now).ok_or(CtapError::PinAuthInvalid)?;
        if !grant.permissions.contains(permission) {
            return Err(CtapError::PinAuthInvalid);
        }
        Ok(())
    }

    /// The token's permissions RP ID, if it is in use and bound to one.
    pub fn token_rp_id(&mut self) -> Option<String> {
        self.token
            .grant_at(Instant::now())
            .and_then(|g| g.rp_id.clone())
    }

    /// getUserPresentFlagValue: the token was issued with user presence, less than 30 s ago.
    pub fn token_user_present(&mut self) -> bool {
        self.token
            .grant_at(Instant::now())
            .is_some_and(|g| g.user_present)
    }

    /// getUserVerifiedFlagValue.
    pub fn token_user_verified(&mut self) -> bool {
        self.token
            .grant_at(Instant::now())
            .is_some_and(|g| g.user_verified)
    }

    /// After a makeCredential/getAssertion used the token: clearUserPresentFlag,
    /// clearUserVerifiedFlag and clearPinUvAuthTokenPermissionsExceptLbw.
    pub fn consume_token_flags(&mut self) {
        if let Some(grant) = self.token.grant_at(Instant::now()) {
            grant.user_present = false;
            grant.user_verified = false;
            grant.permissions = Permission(grant.permissions.0 & Permission::LBW.0);
        }
    }
}

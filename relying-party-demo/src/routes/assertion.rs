//! Verifying a usernameless assertion, shared by web sign-in and the in-store POS: the
//! user handle names the account, the credential must be that account's, the signature,
//! origin, RP ID, UV flag and challenge must verify, and the signature counter must move
//! forward. Every outcome lands in the account's sign-in history.
//!
//! # Two store calls per `/finish`
//! [`Store::pending_assertion`](crate::store::Store::pending_assertion) reads the pending
//! ceremony and the passkey; the signature is verified outside any lock or transaction;
//! [`Store::conclude_assertion`](crate::store::Store::conclude_assertion) then consumes the
//! challenge and writes the outcome (counter, history, session rotation) in one transaction
//! that changes nothing when the challenge is already gone. So a challenge answers once even
//! when two finishes race (both may verify; one concludes, the other gets "already used"),
//! and a sign-in costs one write transaction instead of four.

use serde::de::DeserializeOwned;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PublicKeyCredential, WebauthnError,
};

use super::{answered_challenge, ceremony_error};
use crate::error::ApiError;
use crate::session::Session;
use crate::store::{
    AssertionOutcome, AssertionVerdict, CeremonyKind, PasskeyRecord, SessionRecord, SignInRecord,
    TakenCeremony,
};
use crate::AppState;

/// A verified assertion: whose passkey, what was pending with the challenge, what the
/// caller's admission check returned, and (sign-in) the new session.
pub(super) struct Verified<R, A> {
    pub passkey: PasskeyRecord,
    pub pending: R,
    pub admitted: A,
    pub session: Option<Session>,
}

impl AppState {
    /// The server side of an assertion's `/finish` for `session`'s pending ceremony of
    /// `kind`. `split` takes the stored ceremony state (`T`) apart into webauthn-rs's state and
    /// what else was kept with the challenge (`R`, e.g. the POS basket); `purpose` names a
    /// success in the history. `admit` runs after the assertion verified and before anything
    /// is written: its refusal (e.g. the POS's "no payment method") is returned with no state
    /// changed — the challenge stays pending, the counter and history untouched. With
    /// `sign_in`, the session is replaced by a new one signed in to the passkey's account, in
    /// the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish_assertion<T, R, A>(
        &self,
        session: &Session,
        kind: CeremonyKind,
        credential: &PublicKeyCredential,
        split: impl FnOnce(T) -> (DiscoverableAuthentication, R),
        purpose: impl FnOnce(&R) -> String,
        admit: impl FnOnce(&PasskeyRecord) -> Result<A, ApiError>,
        sign_in: bool,
    ) -> Result<Verified<R, A>, ApiError>
    where
        T: DeserializeOwned,
    {
        let challenge = answered_challenge(&credential.response.client_data_json)?;
        let identified = self
            .webauthn
            .identify_discoverable_authentication(credential);
        let now = self.clock.now();
        let pending = self.store.pending_assertion(
            session.id_hash(),
            kind,
            &challenge,
            &credential.raw_id,
            now,
        )?;
        let state: T = match pending.ceremony {
            TakenCeremony::Pending(json) => serde_json::from_str(&json)
                .map_err(|e| ApiError::Internal(format!("stored ceremony state: {e}")))?,
            other => return Err(ceremony_error(kind, &other)),
        };
        let (state, rest) = split(state);
        let (user, _) = identified.map_err(|_| {
            ApiError::BadRequest("the assertion carries no valid user handle".into())
        })?;
        let unknown = || ApiError::Unauthorized("unknown credential".into());
        let record = pending.passkey.ok_or_else(unknown)?;
        if record.account != user {
            // A credential presented under someone else's user handle.
            return Err(unknown());
        }
        let mut passkey: Passkey = serde_json::from_str(&record.passkey_json)
            .map_err(|e| ApiError::Internal(format!("stored passkey: {e}")))?;
        let history = |outcome: String| SignInRecord {
            account: record.account,
            credential_id: record.credential_id.clone(),
            at: now,
            outcome,
        };
        // Consume the challenge and write the outcome in one transaction; when the challenge
        // is already gone (a concurrent finish used it first) nothing is written and the
        // answer is the same as for a missing challenge.
        let conclude = |verdict: AssertionVerdict<'_>,
                        entry: &SignInRecord,
                        new_session: Option<&SessionRecord>| {
            let outcome = AssertionOutcome {
                session: session.id_hash(),
                kind,
                challenge: &challenge,
                credential_id: &record.credential_id,
                verdict,
                history: entry,
                new_session,
            };
            if self.store.conclude_assertion(&outcome)? {
                Ok(())
            } else {
                Err(ceremony_error(kind, &TakenCeremony::Missing))
            }
        };
        let result = match self.assertions.check(credential, state, &mut passkey) {
            Ok(result) => result,
            Err(e) => {
                let (verdict, outcome, error) =
                    if matches!(e, WebauthnError::CredentialPossibleCompromise) {
                        // The signature counter did not move forward: the key may have been
                        // cloned.
                        tracing::warn!(account = %record.account, "signature counter regression");
                        (
                            AssertionVerdict::CounterRegression,
                            "rejected: signature counter went backwards",
                            ApiError::Forbidden(
                                "this passkey's signature counter went backwards (a possible \
                                 clone); it has been flagged"
                                    .into(),
                            ),
                        )
                    } else {
                        (
                            AssertionVerdict::Rejected,
                            "rejected: assertion did not verify",
                            ApiError::Unauthorized(format!("rejected: {e}")),
                        )
                    };
                conclude(verdict, &history(outcome.into()), None)?;
                return Err(error);
            }
        };
        let admitted = admit(&record)?;
        let passkey_json = serde_json::to_string(&passkey)
            .map_err(|e| ApiError::Internal(format!("serializing passkey: {e}")))?;
        let signed_in = if sign_in {
            Some(self.fresh_session(Some(record.account))?)
        } else {
            None
        };
        let verdict = AssertionVerdict::Verified {
            passkey_json: &passkey_json,
            counter: result.counter,
            backup_state: result.backup_state,
        };
        conclude(
            verdict,
            &history(purpose(&rest)),
            signed_in.as_ref().map(|(new, _)| new),
        )?;
        Ok(Verified {
            passkey: record,
            pending: rest,
            admitted,
            session: signed_in.map(|(record, set_cookie)| Session {
                record,
                set_cookie: Some(set_cookie),
            }),
        })
    }
}

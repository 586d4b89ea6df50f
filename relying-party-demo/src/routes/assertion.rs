//! Verifying a usernameless assertion, shared by web sign-in and the in-store POS: the
//! user handle names the account, the credential must be that account's, the signature,
//! origin, RP ID, UV flag and challenge must verify, and the signature counter must move
//! forward. Every outcome lands in the account's sign-in history.

use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PublicKeyCredential, WebauthnError,
};

use crate::error::ApiError;
use crate::store::{PasskeyRecord, SignInRecord};
use crate::AppState;

impl AppState {
    /// Verify `credential` against the pending `state`; on success the passkey's new counter,
    /// backup state and last use are stored and `purpose` is recorded in the history.
    pub(super) fn verify_discoverable(
        &self,
        state: DiscoverableAuthentication,
        credential: &PublicKeyCredential,
        purpose: &str,
    ) -> Result<PasskeyRecord, ApiError> {
        let (user, credential_id) = self
            .webauthn
            .identify_discoverable_authentication(credential)
            .map_err(|_| {
                ApiError::BadRequest("the assertion carries no valid user handle".into())
            })?;
        let unknown = || ApiError::Unauthorized("unknown credential".into());
        let record = self.store.passkey(credential_id)?.ok_or_else(unknown)?;
        if record.account != user {
            // A credential presented under someone else's user handle.
            return Err(unknown());
        }
        let mut passkey: Passkey = serde_json::from_str(&record.passkey_json)
            .map_err(|e| ApiError::Internal(format!("stored passkey: {e}")))?;
        let now = self.clock.now();
        let history = |outcome: &str| SignInRecord {
            account: record.account,
            credential_id: record.credential_id.clone(),
            at: now,
            outcome: outcome.to_owned(),
        };
        let result = match self
            .webauthn
            .finish_discoverable_authentication_v2(credential, state, &passkey)
        {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                // The signature counter did not move forward: the key may have been cloned.
                tracing::warn!(account = %record.account, "signature counter regression");
                self.store
                    .flag_counter_regression(&record.credential_id, now)?;
                self.store
                    .record_sign_in(&history("rejected: signature counter went backwards"))?;
                return Err(ApiError::Forbidden(
                    "this passkey's signature counter went backwards (a possible clone); \
                     it has been flagged"
                        .into(),
                ));
            }
            Err(e) => {
                self.store
                    .record_sign_in(&history("rejected: assertion did not verify"))?;
                return Err(ApiError::Unauthorized(format!("rejected: {e}")));
            }
        };
        passkey.update_credential(&result);
        let passkey_json = serde_json::to_string(&passkey)
            .map_err(|e| ApiError::Internal(format!("serializing passkey: {e}")))?;
        self.store.record_passkey_use(
            &record.credential_id,
            &passkey_json,
            result.backup_state(),
            now,
        )?;
        self.store.record_sign_in(&history(purpose))?;
        Ok(record)
    }
}

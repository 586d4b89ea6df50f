//! Registering a usernameless passkey: a discoverable credential with user verification
//! required. Signed out it creates an account; signed in it adds a passkey to the account.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PasskeyRegistration, RegisterPublicKeyCredential,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::{csrf_header, with_session, Finished};
use crate::attestation::registration_facts;
use crate::error::{ApiError, PageError};
use crate::store::{CeremonyKind, NewAccount, PasskeyRecord, StoreError};
use crate::{pages, AppState};

/// Longest display name kept (characters).
const MAX_DISPLAY_NAME: usize = 64;

pub async fn page(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let session = app.session_or_new(&headers)?;
    let signed_in = session.account().is_some();
    Ok(with_session(
        &session,
        Html(pages::register(session.csrf_token(), signed_in)),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct StartRequest {
    #[serde(default)]
    pub display_name: Option<String>,
}

/// What the server keeps between start and finish.
#[derive(Serialize, Deserialize)]
struct PendingRegistration {
    account: Uuid,
    display_name: String,
    /// Create the account at finish (signed out) or add to an existing one (signed in).
    new_account: bool,
    state: PasskeyRegistration,
}

fn clean_display_name(raw: Option<&str>, account: Uuid) -> String {
    let trimmed: String = raw
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DISPLAY_NAME)
        .collect();
    let trimmed = trimmed.trim();
    if trimmed.is_empty() {
        format!("Member {}", &account.simple().to_string()[..8])
    } else {
        trimmed.to_owned()
    }
}

pub async fn start(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Option<Json<StartRequest>>,
) -> Result<Json<CreationChallengeResponse>, ApiError> {
    let session = app.checked_session(&headers, csrf_header(&headers))?;
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let (account, display_name, new_account, exclude) = match session.account() {
        Some(id) => {
            let account = app
                .store
                .account(id)?
                .ok_or_else(|| ApiError::Unauthorized("account no longer exists".into()))?;
            let exclude = app
                .store
                .passkeys_of(id)?
                .into_iter()
                .map(|p| p.credential_id)
                .collect::<Vec<_>>();
            (id, account.display_name, false, Some(exclude))
        }
        None => {
            let id = Uuid::new_v4();
            let name = clean_display_name(request.display_name.as_deref(), id);
            (id, name, true, None)
        }
    };
    // The user name is what an authenticator's account list shows; usernameless accounts
    // have no login name, so it is the display name too.
    let (mut options, state) = app
        .webauthn
        .start_passkey_registration(account, &display_name, &display_name, exclude)
        .map_err(|e| ApiError::Internal(format!("starting registration: {e}")))?;
    // webauthn-rs's passkey flow asks for residentKey "discouraged"; this app is
    // usernameless, so the credential must be discoverable.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
    }
    app.save_ceremony(
        &session,
        CeremonyKind::Registration,
        &options.public_key.challenge,
        &PendingRegistration {
            account,
            display_name,
            new_account,
            state,
        },
    )?;
    Ok(Json(options))
}

pub async fn finish(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(credential): Json<RegisterPublicKeyCredential>,
) -> Result<Response, ApiError> {
    let session = app.checked_session(&headers, csrf_header(&headers))?;
    let pending: PendingRegistration = app.take_ceremony(
        &session,
        CeremonyKind::Registration,
        &credential.response.client_data_json,
    )?;
    let passkey = app
        .webauthn
        .finish_passkey_registration(&credential, &pending.state)
        .map_err(|e| ApiError::BadRequest(format!("registration rejected: {e}")))?;
    let facts = registration_facts(&credential.response.attestation_object)
        .map_err(|e| ApiError::BadRequest(format!("registration rejected: {e}")))?;
    if !facts.user_verified {
        // finish_passkey_registration already insists on UV; keep the invariant visible.
        return Err(ApiError::BadRequest(
            "registration rejected: the authenticator did not verify the user".into(),
        ));
    }
    let now = app.clock.now();
    let account = NewAccount {
        id: pending.account,
        display_name: pending.display_name,
        created: now,
    };
    let record = PasskeyRecord {
        credential_id: passkey.cred_id().to_vec(),
        account: account.id,
        passkey_json: serde_json::to_string(&passkey)
            .map_err(|e| ApiError::Internal(format!("serializing passkey: {e}")))?,
        name: "Passkey".into(),
        aaguid: facts.aaguid,
        user_verified: facts.user_verified,
        backup_eligible: facts.backup_eligible,
        backup_state: facts.backup_state,
        created: now,
        last_used: None,
        counter_regression: None,
    };
    match app
        .store
        .register_passkey(pending.new_account.then_some(&account), &record)
    {
        Ok(()) => {}
        Err(StoreError::DuplicateCredential) => {
            return Err(ApiError::Conflict(
                "that passkey is already registered".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(account = %account.id, aaguid = %facts.aaguid, "passkey registered");
    let signed_in = app.rotate_session(&session, account.id)?;
    Ok(with_session(
        &signed_in,
        Json(Finished {
            ok: true,
            redirect: "/account",
        }),
    ))
}

//! Usernameless sign-in: the challenge names no credential; the authenticator picks the
//! discoverable credential and returns its user handle, which identifies the account.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, Response};
use axum::Json;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PublicKeyCredential, RequestChallengeResponse,
    WebauthnError,
};

use super::{csrf_header, with_session, Finished};
use crate::error::{ApiError, PageError};
use crate::store::{CeremonyKind, SignInRecord};
use crate::{pages, AppState};

pub async fn page(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let session = app.session_or_new(&headers)?;
    Ok(with_session(
        &session,
        Html(pages::login(session.csrf_token())),
    ))
}

/// Options for `navigator.credentials.get`. They carry `mediation: "conditional"` for
/// autofill; the page's sign-in button drops it for a modal prompt.
pub async fn start(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<RequestChallengeResponse>, ApiError> {
    let session = app.checked_session(&headers, csrf_header(&headers))?;
    let (options, state) = app
        .webauthn
        .start_discoverable_authentication()
        .map_err(|e| ApiError::Internal(format!("starting sign-in: {e}")))?;
    app.save_ceremony(&session, CeremonyKind::Authentication, &state)?;
    Ok(Json(options))
}

pub async fn finish(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(credential): Json<PublicKeyCredential>,
) -> Result<Response, ApiError> {
    let session = app.checked_session(&headers, csrf_header(&headers))?;
    let state: DiscoverableAuthentication =
        app.take_ceremony(&session, CeremonyKind::Authentication)?;
    let (user, credential_id) = app
        .webauthn
        .identify_discoverable_authentication(&credential)
        .map_err(|_| ApiError::BadRequest("the assertion carries no valid user handle".into()))?;
    let unknown = || ApiError::Unauthorized("unknown credential".into());
    let record = app.store.passkey(credential_id)?.ok_or_else(unknown)?;
    if record.account != user {
        // A credential presented under someone else's user handle.
        return Err(unknown());
    }
    let mut passkey: Passkey = serde_json::from_str(&record.passkey_json)
        .map_err(|e| ApiError::Internal(format!("stored passkey: {e}")))?;
    let now = app.clock.now();
    let sign_in = |outcome: &str| SignInRecord {
        account: record.account,
        credential_id: record.credential_id.clone(),
        at: now,
        outcome: outcome.to_owned(),
    };
    let result =
        match app
            .webauthn
            .finish_discoverable_authentication_v2(&credential, state, &passkey)
        {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                // The signature counter did not move forward: the key may have been cloned.
                tracing::warn!(account = %record.account, "signature counter regression");
                app.store
                    .flag_counter_regression(&record.credential_id, now)?;
                app.store
                    .record_sign_in(&sign_in("rejected: signature counter went backwards"))?;
                return Err(ApiError::Forbidden(
                    "this passkey's signature counter went backwards (a possible clone); \
                 it has been flagged"
                        .into(),
                ));
            }
            Err(e) => {
                app.store
                    .record_sign_in(&sign_in("rejected: assertion did not verify"))?;
                return Err(ApiError::Unauthorized(format!("sign-in rejected: {e}")));
            }
        };
    passkey.update_credential(&result);
    let passkey_json = serde_json::to_string(&passkey)
        .map_err(|e| ApiError::Internal(format!("serializing passkey: {e}")))?;
    app.store
        .record_passkey_use(&record.credential_id, &passkey_json, now)?;
    app.store.record_sign_in(&sign_in("signed in"))?;
    let signed_in = app.rotate_session(&session, record.account)?;
    Ok(with_session(
        &signed_in,
        Json(Finished {
            ok: true,
            redirect: "/account",
        }),
    ))
}

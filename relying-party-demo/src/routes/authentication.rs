//! Usernameless sign-in: the challenge names no credential; the authenticator picks the
//! discoverable credential and returns its user handle, which identifies the account.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, Response};
use axum::Json;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PublicKeyCredential, RequestChallengeResponse,
};

use super::{csrf_header, with_session, Finished};
use crate::error::{ApiError, PageError};
use crate::store::CeremonyKind;
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
    app.save_ceremony(
        &session,
        CeremonyKind::Authentication,
        &options.public_key.challenge,
        &state,
    )?;
    Ok(Json(options))
}

pub async fn finish(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(credential): Json<PublicKeyCredential>,
) -> Result<Response, ApiError> {
    let session = app.checked_session(&headers, csrf_header(&headers))?;
    let verified = app.finish_assertion(
        &session,
        CeremonyKind::Authentication,
        &credential,
        |state: DiscoverableAuthentication| (state, ()),
        |_| "signed in".to_owned(),
        |_| Ok(()),
        true,
    )?;
    let signed_in = verified
        .session
        .ok_or_else(|| ApiError::Internal("sign-in without a new session".into()))?;
    Ok(with_session(
        &signed_in,
        Json(Finished {
            ok: true,
            redirect: "/account",
        }),
    ))
}

//! HTTP endpoints. Pages are server-rendered; the two ceremonies are JSON endpoint pairs
//! (`/start` hands out options + a single-use challenge, `/finish` verifies the browser's
//! answer) called by static/webauthn.js or by any client that speaks WebAuthn JSON.

mod account;
mod assertion;
mod assets;
mod authentication;
mod pos;
mod registration;
mod shop;

use axum::http::HeaderMap;
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ratelimit;
use crate::session::{Session, CSRF_HEADER};
use crate::store::{CeremonyKind, TakenCeremony};
use crate::AppState;

pub fn router(state: AppState) -> Router {
    let ceremonies = Router::new()
        .route("/register/start", post(registration::start))
        .route("/register/finish", post(registration::finish))
        .route("/login/start", post(authentication::start))
        .route("/login/finish", post(authentication::finish))
        .route("/pos/pay/start", post(pos::start))
        .route("/pos/pay/finish", post(pos::finish))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            ratelimit::limit_ceremonies,
        ));
    Router::new()
        .merge(ceremonies)
        .route("/", get(account::home))
        .route("/register", get(registration::page))
        .route("/login", get(authentication::page))
        .route("/account", get(account::page))
        .route("/logout", post(account::logout))
        .route("/account/passkeys/rename", post(account::rename_passkey))
        .route("/account/passkeys/delete", post(account::delete_passkey))
        .route(
            "/account/payment-methods",
            post(account::add_payment_method),
        )
        .route("/shop", get(shop::page))
        .route("/shop/basket", post(shop::set_line))
        .route("/shop/checkout", post(shop::checkout))
        .route("/orders", get(shop::orders))
        .route("/pos", get(pos::page))
        .route("/pos/receipt/{id}", get(pos::receipt))
        .route("/static/app.css", get(assets::css))
        .route("/static/webauthn.js", get(assets::js))
        .with_state(state)
}

/// The CSRF token a script sent in its header.
fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

/// The JSON answer of a successful `/finish`: where the page goes next.
#[derive(Debug, Serialize)]
struct Finished {
    ok: bool,
    redirect: &'static str,
}

/// Attach a session's cookie (if new) to a response.
fn with_session(session: &Session, response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    session.apply_cookie(response.headers_mut());
    response
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The challenge a ceremony's options carry, as clientDataJSON will spell it (base64url).
fn challenge_of(challenge: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(challenge)
}

/// The challenge an answer claims to answer, from its clientDataJSON (the signature check
/// later proves it; here it only finds the pending ceremony).
fn answered_challenge(client_data_json: &[u8]) -> Result<String, ApiError> {
    #[derive(Deserialize)]
    struct ClientData {
        challenge: String,
    }
    serde_json::from_slice::<ClientData>(client_data_json)
        .map(|c| c.challenge)
        .map_err(|_| ApiError::BadRequest("clientDataJSON carries no challenge".into()))
}

impl AppState {
    /// Keep a ceremony's state until its deadline, for this session and challenge only.
    fn save_ceremony<T: Serialize>(
        &self,
        session: &Session,
        kind: CeremonyKind,
        challenge: &[u8],
        state: &T,
    ) -> Result<(), ApiError> {
        let json = serde_json::to_string(state)
            .map_err(|e| ApiError::Internal(format!("serializing ceremony state: {e}")))?;
        let expires = self.clock.now() + self.config.challenge_ttl;
        self.store.put_ceremony(
            session.id_hash(),
            kind,
            &challenge_of(challenge),
            &json,
            expires,
        )?;
        Ok(())
    }

    /// Consume the session's pending ceremony that `client_data_json` answers: a challenge
    /// answers once, and only in time.
    fn take_ceremony<T: serde::de::DeserializeOwned>(
        &self,
        session: &Session,
        kind: CeremonyKind,
        client_data_json: &[u8],
    ) -> Result<T, ApiError> {
        let challenge = answered_challenge(client_data_json)?;
        match self
            .store
            .take_ceremony(session.id_hash(), kind, &challenge, self.clock.now())?
        {
            TakenCeremony::Pending(json) => serde_json::from_str(&json)
                .map_err(|e| ApiError::Internal(format!("stored ceremony state: {e}"))),
            other => Err(ceremony_error(kind, &other)),
        }
    }
}

/// Why an answer found no ceremony to conclude (`Pending` is not an error: internal).
fn ceremony_error(kind: CeremonyKind, found: &TakenCeremony) -> ApiError {
    let what = match kind {
        CeremonyKind::Registration => "registration",
        CeremonyKind::Authentication => "sign-in",
        CeremonyKind::Payment => "payment",
    };
    match found {
        TakenCeremony::Expired => {
            ApiError::BadRequest(format!("the {what} challenge expired; start again"))
        }
        TakenCeremony::Missing => ApiError::BadRequest(format!(
            "no {what} in progress for that challenge (already used, or never issued)"
        )),
        TakenCeremony::Pending(_) => {
            ApiError::Internal("a pending ceremony reported as an error".into())
        }
    }
}

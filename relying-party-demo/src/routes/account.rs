//! The signed-in side: home (redirects), the account page with passkey and payment-method
//! management, sign-out.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, Response};
use axum::Form;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;

use super::{see_other, with_session};
use crate::error::{ApiError, PageError};
use crate::store::PasskeyRemoval;
use crate::{pages, AppState};

/// How many sign-ins the account page lists.
const HISTORY_LEN: usize = 10;
/// Longest passkey name or card label kept (characters).
const MAX_NAME: usize = 64;

pub async fn home(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let session = app.session_or_new(&headers)?;
    if session.account().is_some() {
        return Ok(see_other("/account"));
    }
    Ok(with_session(
        &session,
        Html(pages::home(session.csrf_token())),
    ))
}

pub async fn page(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let Some((session, account)) = app.signed_in(&headers)? else {
        return Ok(see_other("/login"));
    };
    let passkeys = app.store.passkeys_of(account.id)?;
    let methods = app.store.payment_methods_of(account.id)?;
    let history = app.store.sign_ins_of(account.id, HISTORY_LEN)?;
    let html = pages::account(
        session.csrf_token(),
        &account,
        &passkeys,
        &methods,
        &history,
    );
    Ok(with_session(&session, Html(html)))
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: Option<String>,
}

pub async fn logout(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let Some(session) = app.current_session(&headers)? else {
        return Ok(see_other("/"));
    };
    session.check_csrf(form.csrf.as_deref())?;
    let mut response = see_other("/");
    app.end_session(&session, response.headers_mut())
        .map_err(PageError::from)?;
    Ok(response)
}

/// Printable text, at most `max` characters, trimmed; None when nothing is left.
pub(super) fn clean_text(raw: &str, max: usize) -> Option<String> {
    let kept: String = raw.chars().filter(|c| !c.is_control()).take(max).collect();
    let trimmed = kept.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

#[derive(Debug, Deserialize)]
pub struct PasskeyForm {
    #[serde(default)]
    csrf: Option<String>,
    credential_id: String,
    #[serde(default)]
    name: Option<String>,
}

fn credential_id(form: &PasskeyForm) -> Result<Vec<u8>, ApiError> {
    URL_SAFE_NO_PAD
        .decode(form.credential_id.as_bytes())
        .map_err(|_| ApiError::BadRequest("malformed credential id".into()))
}

pub async fn rename_passkey(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<PasskeyForm>,
) -> Result<Response, PageError> {
    let (session, account) = app.signed_in_checked(&headers, form.csrf.as_deref())?;
    let id = credential_id(&form)?;
    let name = clean_text(form.name.as_deref().unwrap_or(""), MAX_NAME)
        .ok_or_else(|| ApiError::BadRequest("a passkey needs a name".into()))?;
    if !app.store.rename_passkey(account.id, &id, &name)? {
        return Err(ApiError::NotFound("no such passkey on your account".into()).into());
    }
    Ok(with_session(&session, see_other("/account")))
}

pub async fn delete_passkey(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<PasskeyForm>,
) -> Result<Response, PageError> {
    let (session, account) = app.signed_in_checked(&headers, form.csrf.as_deref())?;
    let id = credential_id(&form)?;
    match app.store.delete_passkey(account.id, &id)? {
        PasskeyRemoval::Removed => {
            tracing::info!(account = %account.id, "passkey deleted");
            Ok(with_session(&session, see_other("/account")))
        }
        PasskeyRemoval::NotFound => {
            Err(ApiError::NotFound("no such passkey on your account".into()).into())
        }
        PasskeyRemoval::LastPasskey => Err(ApiError::Conflict(
            "that is your only passkey: add another one before deleting it \
             (there is no password to fall back on)"
                .into(),
        )
        .into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct PaymentMethodForm {
    #[serde(default)]
    csrf: Option<String>,
    label: String,
    last4: String,
}

/// Save a demo payment method: the label and last four digits the member typed, and a
/// random token standing in for what a payment processor would return.
pub async fn add_payment_method(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<PaymentMethodForm>,
) -> Result<Response, PageError> {
    let (session, account) = app.signed_in_checked(&headers, form.csrf.as_deref())?;
    let label = clean_text(&form.label, 32)
        .ok_or_else(|| ApiError::BadRequest("give the card a label".into()))?;
    let last4 = form.last4.trim();
    if last4.len() != 4 || !last4.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest("the last 4 digits are 4 digits".into()).into());
    }
    let mut raw = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = format!("tok_{}", hex::encode(raw));
    app.store
        .add_payment_method(account.id, &label, last4, &token, app.clock.now())?;
    Ok(with_session(&session, see_other("/account")))
}

//! The signed-in side: home (redirects), the account page, sign-out.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, Response};
use axum::Form;
use serde::Deserialize;

use super::{see_other, with_session};
use crate::error::PageError;
use crate::{pages, AppState};

/// How many sign-ins the account page lists.
const HISTORY_LEN: usize = 10;

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
    let Some(session) = app.current_session(&headers)? else {
        return Ok(see_other("/login"));
    };
    let Some(id) = session.account() else {
        return Ok(see_other("/login"));
    };
    let Some(account) = app.store.account(id)? else {
        return Ok(see_other("/login"));
    };
    let passkeys = app.store.passkeys_of(id)?;
    let history = app.store.sign_ins_of(id, HISTORY_LEN)?;
    let html = pages::account(session.csrf_token(), &account, &passkeys, &history);
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

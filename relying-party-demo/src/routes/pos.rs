//! The in-store point of sale on a shared terminal.
//!
//! The cashier builds a basket on the terminal; "Pay with palm" runs a usernameless WebAuthn
//! assertion with user verification required. On a palmkey terminal the palm UV identifies
//! the person (1:N) and unlocks only their own discoverable credential, so the assertion's
//! user handle names the member without any account picker.
//!
//! # A palm payment is a one-shot authorisation, not a sign-in
//! The terminal is shared: the next customer stands at it seconds later. So a POS assertion
//! never creates, rotates or upgrades a web session — [`finish`] concludes the assertion
//! without a new session (`sign_in: false`), and the terminal's own (anonymous) session
//! stays exactly what it was.
//! What the assertion authorises is fixed at [`start`]: the basket (lines and prices) is
//! stored with the single-use challenge on the server, so the customer's palm approves that
//! basket and nothing else — a cashier cannot swap the basket after the palm, and a replayed
//! or late assertion finds no challenge. The result is one order and one payment in the
//! member's ledger; the receipt is visible only to the terminal session that took it, and
//! shows the member number, not the name.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PublicKeyCredential, RequestChallengeResponse,
};

use super::csrf_header;
use super::shop::MAX_QTY;
use super::with_session;
use crate::error::{ApiError, PageError};
use crate::store::shop::{total, Channel, Line, NewOrder, OrderRefusal};
use crate::store::CeremonyKind;
use crate::{pages, AppState};

/// Most distinct products in one POS basket.
const MAX_LINES: usize = 50;

pub async fn page(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let session = app.session_or_new(&headers)?;
    let products = app.store.products()?;
    Ok(with_session(
        &session,
        Html(pages::pos(session.csrf_token(), &products)),
    ))
}

#[derive(Debug, Deserialize)]
pub struct Item {
    pub sku: String,
    pub qty: u32,
}

#[derive(Debug, Deserialize)]
pub struct StartRequest {
    pub items: Vec<Item>,
}

/// The basket the palm will authorise, kept with the challenge.
#[derive(Serialize, Deserialize)]
struct PendingPayment {
    lines: Vec<Line>,
    state: DiscoverableAuthentication,
}

/// Price the cashier's basket from the catalog (the client's prices are never trusted).
fn priced_lines(app: &AppState, items: &[Item]) -> Result<Vec<Line>, ApiError> {
    let mut lines: Vec<Line> = Vec::new();
    for item in items.iter().filter(|i| i.qty > 0) {
        let product = app
            .store
            .product(&item.sku)?
            .ok_or_else(|| ApiError::BadRequest(format!("no product {:?}", item.sku)))?;
        match lines.iter_mut().find(|l| l.sku == product.sku) {
            Some(line) => line.qty += item.qty,
            None => lines.push(Line::of(&product, item.qty)),
        }
    }
    if lines.is_empty() {
        return Err(ApiError::BadRequest("the basket is empty".into()));
    }
    if lines.len() > MAX_LINES || lines.iter().any(|l| l.qty > MAX_QTY) {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_LINES} products and {MAX_QTY} of each"
        )));
    }
    Ok(lines)
}

/// Options for the terminal's `navigator.credentials.get`: usernameless, UV required, modal
/// (no autofill on a till).
pub async fn start(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<StartRequest>,
) -> Result<Json<RequestChallengeResponse>, ApiError> {
    let session = app.checked_session(&headers, csrf_header(&headers))?;
    let lines = priced_lines(&app, &request.items)?;
    let (mut options, state) = app
        .webauthn
        .start_discoverable_authentication()
        .map_err(|e| ApiError::Internal(format!("starting payment: {e}")))?;
    options.mediation = None;
    app.save_ceremony(
        &session,
        CeremonyKind::Payment,
        &options.public_key.challenge,
        &PendingPayment { lines, state },
    )?;
    Ok(Json(options))
}

#[derive(Debug, Serialize)]
pub struct Paid {
    pub ok: bool,
    pub order_id: i64,
    pub redirect: String,
    /// The member number (not the name: the terminal is public).
    pub member: String,
    pub total: String,
}

/// Verify the palm assertion, identify the member, charge their default payment method and
/// record the order. Deliberately no session change: see the module documentation.
pub async fn finish(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(credential): Json<PublicKeyCredential>,
) -> Result<Json<Paid>, ApiError> {
    let session = app.checked_session(&headers, csrf_header(&headers))?;
    // The member and their payment method are checked after the palm verified and before
    // the assertion concludes: a refused payment (409) changes nothing — no counter step, no
    // history line, the challenge still pending.
    let verified = app.finish_assertion(
        &session,
        CeremonyKind::Payment,
        &credential,
        |pending: PendingPayment| (pending.state, pending.lines),
        |lines| format!("authorised an in-store payment of {}", total(lines)),
        |passkey| {
            let account = app
                .store
                .account(passkey.account)?
                .ok_or_else(|| ApiError::Unauthorized("unknown credential".into()))?;
            let method = app
                .store
                .payment_methods_of(account.id)?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    ApiError::Conflict(format!(
                        "member {} has no saved payment method: add one on the web account",
                        account.member_id()
                    ))
                })?;
            Ok((account, method))
        },
        false,
    )?;
    let (passkey, lines, (account, method)) =
        (verified.passkey, verified.pending, verified.admitted);
    let order = NewOrder {
        account: account.id,
        channel: Channel::InStore,
        lines,
        payment_method: method.id,
        terminal_session: Some(*session.id_hash()),
        credential_id: Some(passkey.credential_id),
        at: app.clock.now(),
    };
    let placed = match app.store.place_order(&order, None)? {
        Ok(placed) => placed,
        Err(OrderRefusal::EmptyBasket) => {
            return Err(ApiError::BadRequest("the basket is empty".into()))
        }
        Err(OrderRefusal::NotYourPaymentMethod) => {
            return Err(ApiError::Conflict("the payment method is gone".into()))
        }
    };
    tracing::info!(member = %account.member_id(), order = placed.id, total = %placed.total, "in-store palm payment");
    Ok(Json(Paid {
        ok: true,
        order_id: placed.id,
        redirect: format!("/pos/receipt/{}", placed.id),
        member: account.member_id(),
        total: placed.total.to_string(),
    }))
}

/// The receipt, for the terminal session that took the payment only.
pub async fn receipt(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let not_found = || {
        PageError(ApiError::NotFound(
            "no such receipt on this terminal".into(),
        ))
    };
    let session = app.current_session(&headers)?.ok_or_else(not_found)?;
    let order = app.store.order(id)?.ok_or_else(not_found)?;
    if order.channel != Channel::InStore || order.terminal_session != Some(*session.id_hash()) {
        return Err(not_found());
    }
    let member = app.store.account(order.account)?.ok_or_else(not_found)?;
    Ok(with_session(
        &session,
        Html(pages::receipt(session.csrf_token(), &order, &member)),
    ))
}

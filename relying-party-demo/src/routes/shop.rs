//! The web shop: catalog and basket for anyone, checkout and order history for members.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, Response};
use axum::Form;
use serde::Deserialize;

use super::{see_other, with_session};
use crate::error::{ApiError, PageError};
use crate::pages::shop::Shopper;
use crate::store::shop::{Channel, NewOrder, OrderRefusal};
use crate::{pages, AppState};

/// How many orders the history lists.
const ORDERS_SHOWN: usize = 50;
/// Most of one product in one basket.
pub(super) const MAX_QTY: u32 = 99;

pub async fn page(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    let session = app.session_or_new(&headers)?;
    let account = match session.account() {
        Some(id) => app.store.account(id)?,
        None => None,
    };
    let payment = match &account {
        Some(a) => app
            .store
            .payment_methods_of(a.id)?
            .first()
            .map(|m| m.display()),
        None => None,
    };
    let products = app.store.products()?;
    let basket = app.store.basket(session.id_hash())?;
    let shopper = Shopper {
        account: account.as_ref(),
        payment,
    };
    let html = pages::shop(session.csrf_token(), &products, &basket, &shopper);
    Ok(with_session(&session, Html(html)))
}

#[derive(Debug, Deserialize)]
pub struct BasketForm {
    #[serde(default)]
    csrf: Option<String>,
    sku: String,
    qty: u32,
}

pub async fn set_line(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<BasketForm>,
) -> Result<Response, PageError> {
    let session = app.checked_session(&headers, form.csrf.as_deref())?;
    if form.qty > MAX_QTY {
        return Err(ApiError::BadRequest(format!("at most {MAX_QTY} of one product")).into());
    }
    let product = app
        .store
        .product(&form.sku)?
        .ok_or_else(|| ApiError::NotFound("no such product".into()))?;
    app.store
        .set_basket_line(session.id_hash(), &product.sku, form.qty)?;
    Ok(see_other("/shop"))
}

#[derive(Debug, Deserialize)]
pub struct CheckoutForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// Online checkout: the basket, paid with the member's default payment method.
pub async fn checkout(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CheckoutForm>,
) -> Result<Response, PageError> {
    let (session, account) = app.signed_in_checked(&headers, form.csrf.as_deref())?;
    let method = app
        .store
        .payment_methods_of(account.id)?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Conflict("add a payment method on your account first".into()))?;
    let order = NewOrder {
        account: account.id,
        channel: Channel::Online,
        lines: app.store.basket(session.id_hash())?,
        payment_method: method.id,
        terminal_session: None,
        credential_id: None,
        at: app.clock.now(),
    };
    match app.store.place_order(&order, Some(session.id_hash()))? {
        Ok(placed) => {
            tracing::info!(account = %account.id, order = placed.id, total = %placed.total, "online order");
            Ok(see_other("/orders"))
        }
        Err(OrderRefusal::EmptyBasket) => {
            Err(ApiError::BadRequest("your basket is empty".into()).into())
        }
        Err(OrderRefusal::NotYourPaymentMethod) => {
            Err(ApiError::Conflict("that payment method is gone; reload".into()).into())
        }
    }
}

pub async fn orders(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some((session, account)) = app.signed_in(&headers)? else {
        return Ok(see_other("/login"));
    };
    let orders = app.store.orders_of(account.id, ORDERS_SHOWN)?;
    let html = pages::orders(session.csrf_token(), &account, &orders);
    Ok(with_session(&session, Html(html)))
}

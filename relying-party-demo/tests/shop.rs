//! The web shop: basket, online checkout, order history.

mod common;

use axum::http::StatusCode;
use common::{Device, Site, Tab, ORIGIN};

fn form(tab: &Tab, fields: &[(&str, &str)]) -> String {
    let mut all = vec![("csrf", tab.csrf.clone().unwrap())];
    all.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(all)
        .finish()
}

async fn add(tab: &mut Tab, sku: &str, qty: &str) -> StatusCode {
    tab.get("/shop").await;
    let body = form(tab, &[("sku", sku), ("qty", qty)]);
    tab.post_form("/shop/basket", &body).await.status
}

#[tokio::test]
async fn a_basket_survives_sign_in_and_checks_out_into_the_order_history() {
    let device = Device::new();
    let site = Site::new();
    let mut browser = device.browser(ORIGIN);
    let mut tab = site.tab();
    assert_eq!(
        tab.register(&mut browser, "Ada").await.status,
        StatusCode::OK
    );
    tab.get("/account").await;
    tab.post_form("/logout", &form(&tab, &[])).await;

    // Shopping signed out.
    assert_eq!(add(&mut tab, "COFFEE", "2").await, StatusCode::SEE_OTHER);
    assert_eq!(add(&mut tab, "APPLES", "1").await, StatusCode::SEE_OTHER);
    assert_eq!(add(&mut tab, "APPLES", "0").await, StatusCode::SEE_OTHER);
    assert_eq!(add(&mut tab, "NOPE", "1").await, StatusCode::NOT_FOUND);
    assert_eq!(
        add(&mut tab, "COFFEE", "100").await,
        StatusCode::BAD_REQUEST
    );
    let shop = tab.get("/shop").await;
    assert!(
        shop.body.contains(r#"<td id="basket-total">€14.98</td>"#),
        "{}",
        shop.body
    );
    assert!(shop.body.contains(r#"id="checkout-hint""#));
    assert!(!shop.body.contains(r#"id="checkout-form""#));

    // Signing in keeps the basket; checkout needs a payment method first.
    assert_eq!(tab.login(&mut browser).await.status, StatusCode::OK);
    let shop = tab.get("/shop").await;
    assert!(shop.body.contains(r#"<td id="basket-total">€14.98</td>"#));
    let reply = tab.post_form("/shop/checkout", &form(&tab, &[])).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    tab.get("/account").await;
    let card = form(&tab, &[("label", "Visa"), ("last4", "4242")]);
    tab.post_form("/account/payment-methods", &card).await;

    let shop = tab.get("/shop").await;
    assert!(shop.body.contains(r#"id="checkout-button""#));
    let reply = tab.post_form("/shop/checkout", &form(&tab, &[])).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), Some("/orders"));
    let orders = tab.get("/orders").await;
    assert!(orders
        .body
        .contains(r#"<td class="order-channel">online</td>"#));
    assert!(orders
        .body
        .contains(r#"<td class="order-total">€14.98</td>"#));
    assert!(orders.body.contains("2 × Coffee beans"));
    assert!(orders.body.contains("Visa ···· 4242"));

    // The basket was paid: empty now, and an empty basket does not check out.
    assert!(tab.get("/shop").await.body.contains(r#"id="basket-empty""#));
    let reply = tab.post_form("/shop/checkout", &form(&tab, &[])).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn order_history_is_for_members_only() {
    let site = Site::new();
    let mut tab = site.tab();
    assert_eq!(tab.get("/orders").await.location(), Some("/login"));
    let shop = tab.get("/shop").await;
    assert_eq!(shop.status, StatusCode::OK);
    assert_eq!(shop.body.matches(r#"class="product""#).count(), 5);
}

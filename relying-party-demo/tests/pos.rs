//! The in-store POS: a palm (here: PIN-verified) assertion on the shared terminal pays for the
//! basket fixed at start, charges the member's saved payment method, lands in their online
//! order history — and never signs anyone in on the terminal.

mod common;

use axum::http::StatusCode;
use common::{Device, Site, Tab, ORIGIN};
use serde_json::json;

fn form(tab: &Tab, fields: &[(&str, &str)]) -> String {
    let mut all = vec![("csrf", tab.csrf.clone().unwrap())];
    all.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(all)
        .finish()
}

/// A registered member with (optionally) a saved card; returns their signed-in tab.
async fn member(site: &Site, device: &Device, card: Option<&str>) -> Tab {
    let mut tab = site.tab();
    let reply = tab.register(&mut device.browser(ORIGIN), "Ada").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    if let Some(last4) = card {
        tab.get("/account").await;
        let body = form(&tab, &[("label", "Visa"), ("last4", last4)]);
        assert_eq!(
            tab.post_form("/account/payment-methods", &body)
                .await
                .status,
            StatusCode::SEE_OTHER
        );
    }
    tab
}

fn basket() -> serde_json::Value {
    json!({ "items": [
        { "sku": "COFFEE", "qty": 1 },
        { "sku": "CROISSANT", "qty": 2 },
        { "sku": "COFFEE", "qty": 1 },
        { "sku": "APPLES", "qty": 0 },
    ]})
}

#[tokio::test]
async fn a_palm_payment_is_recorded_for_the_member_and_signs_nobody_in() {
    let device = Device::new();
    let site = Site::new();
    let mut ada = member(&site, &device, Some("4242")).await;
    let mut terminal = site.tab();
    let page = terminal.get("/pos").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"id="pay-with-palm""#));
    assert!(page.body.contains(r#"id="pos-qty-COFFEE""#));
    let terminal_cookie = terminal.cookie.clone();

    let start = terminal.post_json("/pos/pay/start", &basket()).await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    let public_key = &start.json()["publicKey"];
    assert_eq!(public_key["userVerification"], "required");
    assert!(public_key["allowCredentials"]
        .as_array()
        .is_none_or(|a| a.is_empty()));
    assert!(start.json()["mediation"].is_null(), "modal, not autofill");
    let options = serde_json::from_str(&start.body).unwrap();
    let assertion = device.browser(ORIGIN).get(&options).unwrap();
    let paid = terminal.post_json("/pos/pay/finish", &assertion).await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    let paid = paid.json();
    assert_eq!(paid["member"], "M-1001");
    assert_eq!(
        paid["total"], "€18.68",
        "2 × 7.49 + 2 × 1.85, priced by the server"
    );
    let order_id = paid["order_id"].as_i64().unwrap();

    // The terminal's session is unchanged and still anonymous.
    assert_eq!(terminal.cookie, terminal_cookie, "no new session cookie");
    assert_eq!(terminal.get("/account").await.location(), Some("/login"));
    assert_eq!(terminal.get("/orders").await.location(), Some("/login"));

    // The receipt: on this terminal only; member number, not name.
    let receipt = terminal.get(&format!("/pos/receipt/{order_id}")).await;
    assert_eq!(receipt.status, StatusCode::OK);
    assert!(receipt.body.contains(r#"id="receipt-member">M-1001<"#));
    assert!(receipt.body.contains(r#"id="receipt-total">€18.68<"#));
    assert!(receipt
        .body
        .contains(r#"id="receipt-payment">Visa ···· 4242<"#));
    assert!(!receipt.body.contains("Ada"), "no name on a public screen");
    let elsewhere = ada.get(&format!("/pos/receipt/{order_id}")).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);

    // The member sees it online, and the payment in the sign-in history.
    let orders = ada.get("/orders").await;
    assert!(orders
        .body
        .contains(&format!(r#"data-order-id="{order_id}""#)));
    assert!(orders
        .body
        .contains(r#"<td class="order-channel">in store</td>"#));
    assert!(orders.body.contains("2 × Coffee beans"));
    let account = ada.get("/account").await;
    assert!(account
        .body
        .contains("authorised an in-store payment of €18.68"));

    // The same assertion again: its challenge (and basket) is gone.
    let replay = terminal.post_json("/pos/pay/finish", &assertion).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.body);
}

#[tokio::test]
async fn bad_baskets_and_requests_are_refused() {
    let site = Site::new();
    let mut terminal = site.tab();
    terminal.get("/pos").await;
    for (items, why) in [
        (json!({ "items": [] }), "empty"),
        (
            json!({ "items": [{ "sku": "COFFEE", "qty": 0 }] }),
            "only zeros",
        ),
        (
            json!({ "items": [{ "sku": "CAVIAR", "qty": 1 }] }),
            "unknown product",
        ),
        (
            json!({ "items": [{ "sku": "COFFEE", "qty": 100 }] }),
            "too many",
        ),
    ] {
        let reply = terminal.post_json("/pos/pay/start", &items).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{why}: {}",
            reply.body
        );
    }
    // No CSRF token: refused before anything happens.
    terminal.csrf = None;
    let reply = terminal.post_json("/pos/pay/start", &basket()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // Finishing with nothing started.
    terminal.get("/pos").await;
    let reply = terminal
        .post_json("/pos/pay/finish", &json!({ "id": "x" }))
        .await;
    assert!(reply.status.is_client_error());
}

#[tokio::test]
async fn a_member_without_a_saved_card_is_not_charged() {
    let device = Device::new();
    let site = Site::new();
    let mut ada = member(&site, &device, None).await;
    let mut terminal = site.tab();
    terminal.get("/pos").await;
    let start = terminal.post_json("/pos/pay/start", &basket()).await;
    let options = serde_json::from_str(&start.body).unwrap();
    let assertion = device.browser(ORIGIN).get(&options).unwrap();
    let reply = terminal.post_json("/pos/pay/finish", &assertion).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(reply.error().contains("no saved payment method"));
    assert!(ada.get("/orders").await.body.contains(r#"id="no-orders""#));
}

#[tokio::test]
async fn an_expired_payment_challenge_is_refused() {
    let device = Device::new();
    let site = Site::new();
    let mut ada = member(&site, &device, Some("4242")).await;
    let mut terminal = site.tab();
    terminal.get("/pos").await;
    let start = terminal.post_json("/pos/pay/start", &basket()).await;
    let options = serde_json::from_str(&start.body).unwrap();
    let assertion = device.browser(ORIGIN).get(&options).unwrap();
    site.clock.advance(time::Duration::minutes(6));
    let reply = terminal.post_json("/pos/pay/finish", &assertion).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.error().contains("expired"), "{}", reply.body);
    assert!(ada.get("/orders").await.body.contains(r#"id="no-orders""#));
}

#[tokio::test]
async fn a_web_sign_in_challenge_cannot_pay_and_a_payment_cannot_sign_in() {
    let device = Device::new();
    let site = Site::new();
    member(&site, &device, Some("4242")).await;
    let mut terminal = site.tab();
    terminal.get("/pos").await;
    // An assertion for a sign-in challenge, posted as a payment: no payment is pending.
    let login = terminal.post_json("/login/start", &json!({})).await;
    let options = serde_json::from_str(&login.body).unwrap();
    let assertion = device.browser(ORIGIN).get(&options).unwrap();
    let reply = terminal.post_json("/pos/pay/finish", &assertion).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    // And a payment's assertion posted as a sign-in: no sign-in is pending for its challenge.
    let start = terminal.post_json("/pos/pay/start", &basket()).await;
    let options = serde_json::from_str(&start.body).unwrap();
    let assertion = device.browser(ORIGIN).get(&options).unwrap();
    let reply = terminal.post_json("/login/finish", &assertion).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    // It still pays: the payment challenge was not touched.
    let reply = terminal.post_json("/pos/pay/finish", &assertion).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(terminal.get("/account").await.location(), Some("/login"));
}

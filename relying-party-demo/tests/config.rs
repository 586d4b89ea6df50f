//! RP ID and origin are configuration: a site on https://shop.example accepts that origin
//! and RP ID only, and its cookies are Secure.

mod common;

use axum::http::StatusCode;
use common::{Device, Site};
use relying_party_demo::Config;
use serde_json::json;

fn shop_example() -> Config {
    Config {
        origin: url::Url::parse("https://shop.example").unwrap(),
        rp_id: "shop.example".into(),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_configured_rp_id_and_origin_are_enforced() {
    let device = Device::new();
    let site = Site::with_config(shop_example());
    let mut tab = site.tab();
    let page = tab.get("/register").await;
    let cookie = page.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");

    let start = tab
        .post_json("/register/start", &json!({ "display_name": "Ada" }))
        .await;
    assert_eq!(start.json()["publicKey"]["rp"]["id"], "shop.example");
    let options = serde_json::from_str(&start.body).unwrap();
    let credential = device
        .browser("https://shop.example")
        .create(&options)
        .unwrap();
    let reply = tab.post_json("/register/finish", &credential).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // The same site reached from the development origin: refused.
    let mut other = site.tab();
    let reply = other
        .login(&mut device.browser("http://localhost:8080"))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    // From its own origin: fine.
    let mut own = site.tab();
    let reply = own.login(&mut device.browser("https://shop.example")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn a_credential_for_another_rp_id_is_refused() {
    let device = Device::new();
    let local = Site::new();
    let mut tab = local.tab();
    assert_eq!(
        tab.register(&mut device.browser(common::ORIGIN), "Ada")
            .await
            .status,
        StatusCode::OK
    );
    // shop.example asks; the authenticator holds only a localhost credential.
    let shop = Site::with_config(shop_example());
    let mut tab = shop.tab();
    tab.get("/login").await;
    let start = tab.post_json("/login/start", &json!({})).await;
    let options = serde_json::from_str(&start.body).unwrap();
    let refused = device.browser("https://shop.example").get(&options);
    assert!(refused.is_err(), "no credential for shop.example");
}

//! The account page's management endpoints: rename and delete passkeys, payment methods.

mod common;

use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{Device, Site, Tab, ORIGIN};

/// Registers `name` on a fresh device; returns the tab (signed in) and the credential ID.
async fn member(site: &Site, device: &Device, name: &str) -> (Tab, String) {
    let mut tab = site.tab();
    let reply = tab.register(&mut device.browser(ORIGIN), name).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let page = tab.get("/account").await;
    let marker = r#"data-credential-id=""#;
    let at = page.body.find(marker).expect("a passkey row") + marker.len();
    let id = page.body[at..at + page.body[at..].find('"').unwrap()].to_owned();
    (tab, id)
}

fn form(tab: &Tab, fields: &[(&str, &str)]) -> String {
    let mut all = vec![("csrf", tab.csrf.clone().unwrap())];
    all.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(all)
        .finish()
}

#[tokio::test]
async fn passkeys_are_renamed_and_the_last_one_is_never_deleted() {
    let (first, second) = (Device::new(), Device::new());
    let site = Site::new();
    let (mut tab, id) = member(&site, &first, "Ada").await;
    let page = tab.get("/account").await;
    assert!(
        page.body.contains(r#"id="member-id">M-1001<"#),
        "member number"
    );

    // Rename (markup is escaped on the way out).
    let body = form(&tab, &[("credential_id", &id), ("name", "Desk <key>")]);
    let reply = tab.post_form("/account/passkeys/rename", &body).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let page = tab.get("/account").await;
    assert!(page
        .body
        .contains(r#"<td class="passkey-name">Desk &lt;key&gt;</td>"#));
    let blank = form(&tab, &[("credential_id", &id), ("name", "  ")]);
    assert_eq!(
        tab.post_form("/account/passkeys/rename", &blank)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // The only passkey cannot go: there is no password to fall back on.
    let body = form(&tab, &[("credential_id", &id)]);
    let reply = tab.post_form("/account/passkeys/delete", &body).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert!(reply.body.contains("only passkey"), "{}", reply.body);

    // With a second passkey, the first can be deleted — and no longer signs in.
    tab.get("/register").await;
    let start = tab
        .post_json("/register/start", &serde_json::json!({}))
        .await;
    let options = serde_json::from_str(&start.body).unwrap();
    let credential = second.browser(ORIGIN).create(&options).unwrap();
    assert_eq!(
        tab.post_json("/register/finish", &credential).await.status,
        StatusCode::OK
    );
    tab.get("/account").await;
    let body = form(&tab, &[("credential_id", &id)]);
    let reply = tab.post_form("/account/passkeys/delete", &body).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let page = tab.get("/account").await;
    assert_eq!(page.body.matches(r#"class="passkey""#).count(), 1);
    let mut other = site.tab();
    let reply = other.login(&mut first.browser(ORIGIN)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
}

#[tokio::test]
async fn nobody_manages_someone_elses_passkey() {
    let (ada_device, bea_device) = (Device::new(), Device::new());
    let site = Site::new();
    let (_ada, ada_id) = member(&site, &ada_device, "Ada").await;
    let (mut bea, _) = member(&site, &bea_device, "Bea").await;
    bea.get("/account").await;
    let rename = form(&bea, &[("credential_id", &ada_id), ("name", "mine")]);
    assert_eq!(
        bea.post_form("/account/passkeys/rename", &rename)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let delete = form(&bea, &[("credential_id", &ada_id)]);
    assert_eq!(
        bea.post_form("/account/passkeys/delete", &delete)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let garbage = form(&bea, &[("credential_id", "!!"), ("name", "x")]);
    assert_eq!(
        bea.post_form("/account/passkeys/rename", &garbage)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let raw = URL_SAFE_NO_PAD.decode(&ada_id).unwrap();
    let record = relying_party_demo::Store::passkey(&*site.store, &raw)
        .unwrap()
        .unwrap();
    assert_eq!(record.name, "Passkey", "untouched");
}

#[tokio::test]
async fn management_forms_need_the_csrf_token_and_a_sign_in() {
    let device = Device::new();
    let site = Site::new();
    let (mut tab, id) = member(&site, &device, "Ada").await;
    for (path, body) in [
        (
            "/account/passkeys/rename",
            format!("credential_id={id}&name=x"),
        ),
        ("/account/passkeys/delete", format!("credential_id={id}")),
        (
            "/account/payment-methods",
            "label=Visa&last4=4242".to_owned(),
        ),
        ("/shop/checkout", String::new()),
    ] {
        let reply = tab.post_form(path, &body).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            reply.body
        );
        let reply = tab.post_form(path, &format!("csrf=wrong&{body}")).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
    }
    // A signed-out session with a valid token is still not an account.
    let mut anonymous = site.tab();
    anonymous.get("/").await;
    let body = form(&anonymous, &[("label", "Visa"), ("last4", "4242")]);
    assert_eq!(
        anonymous
            .post_form("/account/payment-methods", &body)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn payment_methods_keep_a_label_and_last_four_only() {
    let device = Device::new();
    let site = Site::new();
    let (mut tab, _) = member(&site, &device, "Ada").await;
    for bad in ["42", "42a2", "12345", ""] {
        let body = form(&tab, &[("label", "Visa"), ("last4", bad)]);
        assert_eq!(
            tab.post_form("/account/payment-methods", &body)
                .await
                .status,
            StatusCode::BAD_REQUEST,
            "{bad:?}"
        );
    }
    let body = form(&tab, &[("label", "Visa"), ("last4", "4242")]);
    assert_eq!(
        tab.post_form("/account/payment-methods", &body)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let page = tab.get("/account").await;
    assert!(
        page.body.contains("Visa ···· 4242 (default)"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("tok_"), "the token is never shown");
}

//! The WebAuthn endpoints end to end: the real palmkey authenticator over UDP, driven through
//! `palmkey::client` as the browser, against the web app; every failure path a relying party
//! must catch.

mod common;

use axum::http::StatusCode;
use common::{Device, Site, ORIGIN};
use relying_party_demo::store::{
    AssertionOutcome, AssertionVerdict, CeremonyKind, SignInRecord, Store,
};
use serde_json::json;

#[tokio::test]
async fn register_sign_out_and_sign_in_without_a_username() {
    let device = Device::new();
    let site = Site::new();
    let mut browser = device.browser(ORIGIN);
    let mut tab = site.tab();

    // Registration asks for a discoverable credential with user verification.
    tab.get("/register").await;
    let start = tab
        .post_json("/register/start", &json!({ "display_name": "Ada <3" }))
        .await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    let selection = &start.json()["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required");
    assert_eq!(selection["requireResidentKey"], true);
    assert_eq!(selection["userVerification"], "required");
    let options = serde_json::from_str(&start.body).unwrap();
    let credential = browser.create(&options).expect("makeCredential");
    let finish = tab.post_json("/register/finish", &credential).await;
    assert_eq!(finish.status, StatusCode::OK, "{}", finish.body);
    assert_eq!(finish.json()["redirect"], "/account");

    // Signed in: the account page lists the passkey with the authenticator's AAGUID.
    let account = tab.get("/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("Ada &lt;3"), "{}", account.body);
    assert!(account.body.contains(&device.aaguid().to_string()));
    assert!(
        account.body.contains(r#"<td class="passkey-uv">yes</td>"#),
        "UV flag shown"
    );
    assert!(
        account.body.contains("palmkey palm terminal"),
        "model named"
    );
    assert!(account
        .body
        .contains(r#"<td class="passkey-backup">device-bound</td>"#));
    assert!(account.body.contains("never"), "not used for sign-in yet");

    // Sign out needs the CSRF token.
    let forged = tab.post_form("/logout", "csrf=nope").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let csrf = tab.csrf.clone().unwrap();
    let out = tab.post_form("/logout", &format!("csrf={csrf}")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(tab.cookie.is_none(), "cookie cleared");
    let gone = tab.get("/account").await;
    assert_eq!(gone.location(), Some("/login"));

    // Usernameless sign-in: the options name no credential.
    tab.get("/login").await;
    let start = tab.post_json("/login/start", &json!({})).await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    let public_key = &start.json()["publicKey"];
    assert!(public_key["allowCredentials"]
        .as_array()
        .is_none_or(|a| a.is_empty()));
    assert_eq!(public_key["userVerification"], "required");
    let options = serde_json::from_str(&start.body).unwrap();
    let assertion = browser.get(&options).expect("getAssertion");
    let finish = tab.post_json("/login/finish", &assertion).await;
    assert_eq!(finish.status, StatusCode::OK, "{}", finish.body);

    let account = tab.get("/account").await;
    assert!(account.body.contains("Ada &lt;3"));
    assert!(!account.body.contains("never"), "last use recorded");
    assert!(account.body.contains("signed in"), "sign-in history");
}

#[tokio::test]
async fn a_second_passkey_joins_the_signed_in_account() {
    let first = Device::new();
    let second = Device::new();
    let site = Site::new();
    let mut tab = site.tab();
    let reply = tab.register(&mut first.browser(ORIGIN), "Grace").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // Signed in, the registration excludes the passkeys already on the account.
    tab.get("/register").await;
    let start = tab.post_json("/register/start", &json!({})).await;
    assert_eq!(
        start.json()["publicKey"]["excludeCredentials"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let options = serde_json::from_str(&start.body).unwrap();
    let credential = second.browser(ORIGIN).create(&options).unwrap();
    let finish = tab.post_json("/register/finish", &credential).await;
    assert_eq!(finish.status, StatusCode::OK, "{}", finish.body);
    let account = tab.get("/account").await;
    assert_eq!(
        account
            .body
            .matches(r#"<td class="passkey-name">Passkey</td>"#)
            .count(),
        2
    );

    // Either authenticator now signs in to the same account.
    let mut other_tab = site.tab();
    let reply = other_tab.login(&mut second.browser(ORIGIN)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(other_tab.get("/account").await.body.contains("Grace"));
}

#[tokio::test]
async fn a_replayed_assertion_is_rejected() {
    let device = Device::new();
    let site = Site::new();
    let mut browser = device.browser(ORIGIN);
    let mut tab = site.tab();
    assert_eq!(
        tab.register(&mut browser, "Ada").await.status,
        StatusCode::OK
    );

    let assertion = tab.assertion(&mut browser).await;
    let first = tab.post_json("/login/finish", &assertion).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);

    // The same answer again (with the new session's CSRF token): its challenge was used up.
    tab.get("/login").await;
    let again = tab.post_json("/login/finish", &assertion).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(
        again.error().contains("no sign-in in progress"),
        "{}",
        again.body
    );

    // Against a fresh challenge it answers nothing pending...
    let fresh = tab.post_json("/login/start", &json!({})).await;
    let stale = tab.post_json("/login/finish", &assertion).await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST, "{}", stale.body);
    // ...and rewritten to claim the fresh challenge, its signature no longer verifies.
    let challenge = fresh.json()["publicKey"]["challenge"].clone();
    let mut forged = serde_json::to_value(&assertion).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw = base64::Engine::decode(&b64, forged["response"]["clientDataJSON"].as_str().unwrap())
        .unwrap();
    let mut client_data: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    client_data["challenge"] = challenge;
    forged["response"]["clientDataJSON"] = json!(base64::Engine::encode(
        &b64,
        serde_json::to_vec(&client_data).unwrap()
    ));
    let reply = tab.post_json("/login/finish", &forged).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
}

#[tokio::test]
async fn another_origin_is_rejected() {
    let site = Site::new();
    let mut tab = site.tab();
    let phishing_device = Device::new();
    let mut phish = phishing_device.browser("http://localhost.evil.example:8080");
    let reply = tab.register(&mut phish, "Mallory").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(
        reply.error().contains("origin does not match"),
        "{}",
        reply.body
    );
    assert!(
        tab.get("/account").await.location() == Some("/login"),
        "not signed in"
    );

    // A real registration, then a sign-in answered from the wrong origin.
    let device = Device::new();
    let mut browser = device.browser(ORIGIN);
    assert_eq!(
        tab.register(&mut browser, "Ada").await.status,
        StatusCode::OK
    );
    let mut fresh = site.tab();
    browser.set_origin("http://127.0.0.1:8080");
    let reply = fresh.login(&mut browser).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert!(
        reply.error().contains("origin does not match"),
        "{}",
        reply.body
    );
    assert!(fresh.cookie.is_some() && fresh.get("/account").await.location() == Some("/login"));
}

#[tokio::test]
async fn an_expired_challenge_is_rejected() {
    let device = Device::new();
    let site = Site::new();
    let mut browser = device.browser(ORIGIN);
    let mut tab = site.tab();
    assert_eq!(
        tab.register(&mut browser, "Ada").await.status,
        StatusCode::OK
    );

    let assertion = tab.assertion(&mut browser).await;
    site.clock
        .advance(site.state.config.challenge_ttl + time::Duration::seconds(1));
    let late = tab.post_json("/login/finish", &assertion).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    assert!(late.error().contains("expired"), "{}", late.body);

    // Registration challenges expire too.
    let mut new_tab = site.tab();
    new_tab.get("/register").await;
    let start = new_tab.post_json("/register/start", &json!({})).await;
    let options = serde_json::from_str(&start.body).unwrap();
    let credential = browser.create(&options).unwrap();
    site.clock
        .advance(site.state.config.challenge_ttl + time::Duration::seconds(1));
    let late = new_tab.post_json("/register/finish", &credential).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    assert!(late.error().contains("expired"), "{}", late.body);
}

#[tokio::test]
async fn an_unknown_credential_is_rejected() {
    let device = Device::new();
    let mut browser = device.browser(ORIGIN);
    // Registered at one site (its own database) ...
    let elsewhere = Site::new();
    assert_eq!(
        elsewhere.tab().register(&mut browser, "Ada").await.status,
        StatusCode::OK
    );
    // ... presented at another that never saw it.
    let site = Site::new();
    let mut tab = site.tab();
    let reply = tab.login(&mut browser).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), "unknown credential");
}

#[tokio::test]
async fn a_signature_counter_regression_is_flagged() {
    let device = Device::new();
    let site = Site::new();
    let mut browser = device.browser(ORIGIN);
    let mut tab = site.tab();
    assert_eq!(
        tab.register(&mut browser, "Ada").await.status,
        StatusCode::OK
    );

    // Pretend a clone of this key already signed with a much higher counter: the stored
    // counter is now ahead of what the real authenticator will send next.
    let mut tab = site.tab();
    let assertion = tab.assertion(&mut browser).await;
    let credential_id = assertion.raw_id.clone();
    let account =
        uuid::Uuid::from_slice(assertion.response.user_handle.as_deref().unwrap()).unwrap();
    let record = site.store.passkey(&credential_id).unwrap().unwrap();
    let mut passkey: serde_json::Value = serde_json::from_str(&record.passkey_json).unwrap();
    let counter = &mut passkey["cred"]["counter"];
    assert!(counter.is_u64(), "stored passkey has a counter: {passkey}");
    *counter = json!(4_000_000_000u32);
    // Stored the way a verified sign-in stores it: concluding a (made-up) pending ceremony of
    // a throw-away session.
    let clone_session = [9u8; 32];
    let at = relying_party_demo::Clock::now(&*site.clock);
    let kind = CeremonyKind::Authentication;
    let later = at + time::Duration::minutes(1);
    site.store
        .put_ceremony(&clone_session, kind, "clone", "{}", later)
        .unwrap();
    let passkey_json = passkey.to_string();
    let concluded = site.store.conclude_assertion(&AssertionOutcome {
        session: &clone_session,
        kind,
        challenge: "clone",
        credential_id: &credential_id,
        verdict: AssertionVerdict::Verified {
            passkey_json: &passkey_json,
            counter: 4_000_000_000,
            backup_state: false,
        },
        history: &SignInRecord {
            account,
            credential_id: credential_id.clone(),
            at,
            outcome: "signed in (the clone)".into(),
        },
        new_session: None,
    });
    assert!(concluded.unwrap());

    let reply = tab.post_json("/login/finish", &assertion).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert!(
        reply.error().contains("counter went backwards"),
        "{}",
        reply.body
    );
    let flagged = site.store.passkey(&credential_id).unwrap().unwrap();
    assert!(flagged.counter_regression.is_some(), "passkey flagged");
    let history = site.store.sign_ins_of(account, 10).unwrap();
    assert!(history[0].outcome.contains("counter went backwards"));
    assert!(
        tab.get("/account").await.location() == Some("/login"),
        "not signed in"
    );
}

#[tokio::test]
async fn state_changing_requests_need_the_csrf_token() {
    let site = Site::new();
    let mut tab = site.tab();
    tab.get("/login").await;
    tab.csrf = Some("forged".into());
    let reply = tab.post_json("/login/start", &json!({})).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // No session at all (a cross-site request without cookies).
    let mut stranger = site.tab();
    let reply = stranger.post_json("/register/start", &json!({})).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_credential_under_another_users_handle_is_rejected() {
    let device = Device::new();
    let other = Device::new();
    let site = Site::new();
    let mut browser = device.browser(ORIGIN);
    assert_eq!(
        site.tab().register(&mut browser, "Ada").await.status,
        StatusCode::OK
    );
    let mut other_browser = other.browser(ORIGIN);
    assert_eq!(
        site.tab().register(&mut other_browser, "Eve").await.status,
        StatusCode::OK
    );
    // Eve's valid assertion relabelled with Ada's user handle must not sign in as Ada.
    let mut tab = site.tab();
    let ada = tab.assertion(&mut browser).await.response.user_handle;
    let mut tab = site.tab();
    let mut eve = tab.assertion(&mut other_browser).await;
    assert_ne!(eve.response.user_handle, ada);
    eve.response.user_handle = ada;
    let reply = tab.post_json("/login/finish", &eve).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(reply.error(), "unknown credential");
}

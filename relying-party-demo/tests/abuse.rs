//! The relying party under attack (issue 8). Each test mounts one attack through the app's
//! HTTP API and proves two things: the attack is refused, and it changed no state — the whole
//! SQLite database (every row of every table: accounts, passkeys and their counters,
//! sessions, pending challenges, baskets, orders, payments) is dumped before and after and
//! compared. The only changes an attack may cause are named per test and checked exactly:
//! - a challenge that was answered is used up, whatever the answer (fail closed);
//! - an assertion that reached signature verification for a known passkey leaves one
//!   "rejected: …" line in that account's sign-in history (the audit trail);
//! - a counter regression additionally flags the passkey (and nothing else about it changes).
//!
//! The attacker's assertions are signed by a software key whose every signed byte the test
//! chooses (the load bench's `soft_authenticator.rs`), so each check is reached with an
//! otherwise valid signature. Every attack request carries its tab's valid CSRF token (the
//! CSRF test aside), so it is refused by the check it exercises, not by the token check. Each test prints one `rp abuse:` line that scripts/hardening/figures.sh counts.

#[path = "common/abuse_support.rs"]
mod abuse_support;
mod common;
// The load bench's software authenticator; these tests use a subset of it.
#[allow(dead_code)]
#[path = "../benches/login_load/soft_authenticator.rs"]
mod soft_authenticator;

use abuse_support::{session_hash, DbSite, Diff, Snapshot};
use axum::http::StatusCode;
use common::{Reply, Site, Tab};
use relying_party_demo::store::{Shop, Store};
use rusqlite::types::Value;
use serde_json::json;
use sha2::{Digest, Sha256};
use soft_authenticator::SoftCredential as SoftKey;
use webauthn_rs_proto::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};

/// A new software passkey answering registration `options` from the site's origin.
fn new_key(options: &CreationChallengeResponse) -> (SoftKey, RegisterPublicKeyCredential) {
    SoftKey::register(options, common::ORIGIN).expect("software registration")
}

/// Register a new member with a software passkey; returns their signed-in tab and the key.
async fn member(site: &Site, name: &str) -> (Tab, SoftKey) {
    let mut tab = site.tab();
    tab.get("/register").await;
    let start = tab
        .post_json("/register/start", &json!({ "display_name": name }))
        .await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    let options: CreationChallengeResponse = serde_json::from_str(&start.body).unwrap();
    let (key, answer) = new_key(&options);
    let finish = tab.post_json("/register/finish", &answer).await;
    assert_eq!(finish.status, StatusCode::OK, "{}", finish.body);
    (tab, key)
}

/// Open /login in `tab` and start a usernameless sign-in.
async fn start_login(tab: &mut Tab) -> RequestChallengeResponse {
    tab.get("/login").await;
    let start = tab.post_json("/login/start", &json!({})).await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    serde_json::from_str(&start.body).unwrap()
}

/// Start a POS payment for `qty` of `sku` on `terminal` (which has loaded /pos).
async fn start_payment(terminal: &mut Tab, sku: &str, qty: u32) -> RequestChallengeResponse {
    let basket = json!({ "items": [{ "sku": sku, "qty": qty }] });
    let start = terminal.post_json("/pos/pay/start", &basket).await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    serde_json::from_str(&start.body).unwrap()
}

/// A complete, honest sign-in in a fresh tab.
async fn login(site: &Site, key: &mut SoftKey) -> Tab {
    let mut tab = site.tab();
    let options = start_login(&mut tab).await;
    let reply = tab
        .post_json("/login/finish", &key.assert(&options).unwrap())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    tab
}

/// Whether `tab` is signed in (the account page answers instead of redirecting).
async fn signed_in(tab: &mut Tab) -> bool {
    tab.get("/account").await.status == StatusCode::OK
}

/// POST an assertion from `tab` and return the reply and what it changed in the database.
async fn attempt(
    db: &DbSite,
    tab: &mut Tab,
    path: &str,
    body: &impl serde::Serialize,
) -> (Reply, Diff) {
    let before = db.snapshot();
    let cookie = tab.cookie.clone();
    let reply = tab.post_json(path, body).await;
    assert_eq!(
        tab.cookie, cookie,
        "a refused request must not set a session cookie"
    );
    (reply, before.diff(&db.snapshot()))
}

/// An attack that must be refused before any state is touched: `status`, an error message
/// containing `why`, the session cookie kept and the database unchanged, row for row.
async fn refused_unchanged(
    db: &DbSite,
    tab: &mut Tab,
    path: &str,
    body: &impl serde::Serialize,
    status: StatusCode,
    why: &str,
) {
    let (reply, diff) = attempt(db, tab, path, body).await;
    assert_eq!(reply.status, status, "{path}: {}", reply.body);
    assert!(reply.error().contains(why), "{path}: {}", reply.body);
    assert!(diff.is_empty(), "{path}: {diff:#?}");
}

/// A fresh tab that has loaded /login: a live anonymous session with its CSRF token, and no
/// sign-in pending.
async fn idle_tab(site: &Site) -> Tab {
    let mut tab = site.tab();
    tab.get("/login").await;
    assert!(tab.csrf.is_some());
    tab
}

/// Sign in from a fresh tab with `key` as it is configured (a lie in its signed bytes): the
/// assertion reaches verification and is refused as unauthorised with `why` in the error,
/// at most its challenge is used up and one "did not verify" audit line written, and the
/// tab is not signed in.
async fn refused_signed_lie(db: &DbSite, key: &mut SoftKey, why: &str, label: &str) {
    let mut tab = db.site.tab();
    let options = start_login(&mut tab).await;
    let answer = key.assert(&options).unwrap();
    let (reply, diff) = attempt(db, &mut tab, "/login/finish", &answer).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{label}: {}",
        reply.body
    );
    assert!(reply.error().contains(why), "{label}: {}", reply.body);
    only_audited(&diff, "did not verify");
    assert!(!signed_in(&mut tab).await, "{label}");
}

/// The state change of an assertion refused before verification: none in the database.
/// (Pending challenges live in the server's memory, not in the database; whether a refused
/// answer used its challenge up is checked by the store's own tests.)
fn database_unchanged(diff: &Diff) {
    assert!(diff.is_empty(), "{diff:#?}");
}

/// The state change a refused, *verified* assertion of a known passkey causes in the
/// database: exactly one "rejected" line in the sign-in history.
fn only_audited(diff: &Diff, why: &str) {
    let mut rest = Diff(diff.0.clone());
    let (removed, audit) = rest.0.remove("sign_ins").unwrap_or_default();
    assert!(removed.is_empty(), "{diff:#?}");
    assert_eq!(audit.len(), 1, "one audit line: {diff:#?}");
    let outcome = audit[0].text("outcome");
    assert!(
        outcome.starts_with("rejected") && outcome.contains(why),
        "audit line {outcome:?}"
    );
    database_unchanged(&rest);
}

fn report(attack: &str, attempts: usize) {
    println!("rp abuse: {attack}: {attempts} attempts rejected, state unchanged");
}

#[tokio::test]
async fn a_replayed_assertion_is_rejected_and_changes_nothing() {
    let db = DbSite::new();
    let site = &db.site;
    let (_, mut key) = member(site, "Ada").await;
    let mut tab = site.tab();
    let options = start_login(&mut tab).await;
    let assertion = key.assert(&options).unwrap();
    let first = tab.post_json("/login/finish", &assertion).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    // Sign-in rotated the session: the tab reloads a page for the new session's CSRF token,
    // so the replay below is refused by the challenge check, not by the token check.
    tab.get("/login").await;

    // The same bytes again, each time with a valid session and its token: in the signed-in
    // tab, in a stranger's tab that has its own sign-in pending, and in a fresh tab with
    // nothing pending. Each is refused at the challenge (400, no sign-in in progress).
    let mut stranger = site.tab();
    start_login(&mut stranger).await;
    let mut idle = idle_tab(site).await;
    for who in [&mut tab, &mut stranger, &mut idle] {
        refused_unchanged(
            &db,
            who,
            "/login/finish",
            &assertion,
            StatusCode::BAD_REQUEST,
            "no sign-in in progress",
        )
        .await;
    }
    assert!(!signed_in(&mut stranger).await);
    assert!(!signed_in(&mut idle).await);
    report("replayed assertion", 3);
}

#[tokio::test]
async fn an_assertion_from_another_origin_is_rejected_and_changes_nothing() {
    let db = DbSite::new();
    let site = &db.site;
    let (_, mut key) = member(site, "Ada").await;
    let origins = [
        "http://localhost.evil.example:8080",
        "http://127.0.0.1:8080",
        "https://localhost:8080",
        "http://localhost:8081",
    ];
    for origin in origins {
        key.origin = origin.into();
        refused_signed_lie(&db, &mut key, "origin does not match", origin).await;
    }
    // The same key from the right origin still signs in: only the origin was wrong.
    key.origin = common::ORIGIN.into();
    login(site, &mut key).await;
    report("cross-origin assertion", origins.len());
}

#[tokio::test]
async fn an_assertion_for_another_rp_id_is_rejected_and_changes_nothing() {
    let db = DbSite::new();
    let site = &db.site;
    let (_, mut key) = member(site, "Ada").await;
    let right = key.rp_id_hash;
    let wrong_ids = ["evil.example", "localhost.evil.example", "LOCALHOST", ""];
    for rp_id in wrong_ids {
        key.rp_id_hash = Sha256::digest(rp_id.as_bytes()).into();
        refused_signed_lie(&db, &mut key, "rejected", rp_id).await;
    }
    key.rp_id_hash = right;
    login(site, &mut key).await;
    report("wrong RP ID hash", wrong_ids.len());
}

#[tokio::test]
async fn an_expired_challenge_is_rejected_and_changes_nothing() {
    let db = DbSite::new();
    let site = &db.site;
    let (_, mut key) = member(site, "Ada").await;
    let mut tab = site.tab();
    let options = start_login(&mut tab).await;
    let assertion = key.assert(&options).unwrap();
    site.clock
        .advance(site.state.config.challenge_ttl + time::Duration::seconds(1));
    let (reply, diff) = attempt(&db, &mut tab, "/login/finish", &assertion).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.error().contains("expired"), "{}", reply.body);
    database_unchanged(&diff);
    assert!(!signed_in(&mut tab).await);

    // A payment challenge at the POS expires the same way (and pays nothing).
    let mut terminal = site.tab();
    terminal.get("/pos").await;
    let options = start_payment(&mut terminal, "COFFEE", 1).await;
    let assertion = key.assert(&options).unwrap();
    site.clock
        .advance(site.state.config.challenge_ttl + time::Duration::seconds(1));
    let (reply, diff) = attempt(&db, &mut terminal, "/pos/pay/finish", &assertion).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.error().contains("expired"), "{}", reply.body);
    database_unchanged(&diff);
    report("expired challenge", 2);
}

#[tokio::test]
async fn a_used_or_foreign_challenge_is_rejected_and_changes_nothing() {
    let db = DbSite::new();
    let site = &db.site;
    let (_, mut key) = member(site, "Ada").await;
    let no_sign_in = "no sign-in in progress";

    // A challenge answered once cannot be answered again, even by a freshly signed assertion
    // (next counter value, new signature). The tab reloads a page after signing in, so it
    // sends its new session's valid CSRF token.
    let mut tab = site.tab();
    let options = start_login(&mut tab).await;
    let ok = tab
        .post_json("/login/finish", &key.assert(&options).unwrap())
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    tab.get("/login").await;
    let again = key.assert(&options).unwrap();
    let bad = StatusCode::BAD_REQUEST;
    refused_unchanged(&db, &mut tab, "/login/finish", &again, bad, no_sign_in).await;

    // A challenge issued to one session is no good in another (a stolen challenge), and
    // trying it does not use it up for its owner.
    let mut owner = site.tab();
    let options = start_login(&mut owner).await;
    let mut thief = site.tab();
    start_login(&mut thief).await;
    let stolen = key.assert(&options).unwrap();
    refused_unchanged(&db, &mut thief, "/login/finish", &stolen, bad, no_sign_in).await;
    assert!(!signed_in(&mut thief).await);
    // A challenge the site never issued.
    let invented = key
        .sign_assertion(b"an invented challenge, 32 bytes")
        .unwrap();
    refused_unchanged(&db, &mut thief, "/login/finish", &invented, bad, no_sign_in).await;
    // A sign-in challenge answered at the payment endpoint (another ceremony kind).
    let no_payment = "no payment in progress";
    refused_unchanged(&db, &mut owner, "/pos/pay/finish", &stolen, bad, no_payment).await;
    // Its owner can still use it.
    let reply = owner.post_json("/login/finish", &stolen).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    report("reused, stolen, invented or cross-ceremony challenge", 4);
}

#[tokio::test]
async fn an_unknown_credential_is_rejected_and_changes_nothing() {
    let db = DbSite::new();
    let site = &db.site;
    let (_, ada) = member(site, "Ada").await;
    // A passkey registered at another site (its own database), then presented here: under its
    // own user handle, and relabelled with Ada's.
    let elsewhere = DbSite::new();
    let (_, mut stranger) = member(&elsewhere.site, "Mallory").await;
    let mut attempts = 0;
    for user_handle in [stranger.user_handle.clone(), ada.user_handle.clone()] {
        stranger.user_handle = user_handle;
        let mut tab = site.tab();
        let options = start_login(&mut tab).await;
        let assertion = stranger.assert(&options).unwrap();
        let (reply, diff) = attempt(&db, &mut tab, "/login/finish", &assertion).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        assert_eq!(reply.error(), "unknown credential");
        database_unchanged(&diff);
        assert!(!signed_in(&mut tab).await);
        attempts += 1;
    }
    report("unknown credential", attempts);
}

#[tokio::test]
async fn a_counter_regression_is_flagged_and_changes_nothing_else() {
    let db = DbSite::new();
    let site = &db.site;
    let (_, mut key) = member(site, "Ada").await;
    login(site, &mut key).await;
    login(site, &mut key).await;
    // A clone of the key signs with the counter value last used, then with a lower one.
    let honest = key.counter;
    let mut attempts = 0;
    for back in [1, 2] {
        key.counter = honest - back;
        let mut tab = site.tab();
        let options = start_login(&mut tab).await;
        let answer = key.assert(&options).unwrap();
        let (reply, diff) = attempt(&db, &mut tab, "/login/finish", &answer).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
        assert!(
            reply.error().contains("counter went backwards"),
            "{}",
            reply.body
        );
        assert!(!signed_in(&mut tab).await);
        // Used-up challenge, one audit line, and the flag on the passkey: nothing else.
        let mut rest = diff;
        let (removed, added) = rest.0.remove("passkeys").unwrap_or_default();
        assert_eq!(
            removed.len(),
            added.len(),
            "passkey rows are changed, not added or removed"
        );
        if let (Some(old), Some(new)) = (removed.first(), added.first()) {
            // The first time: the flag is set (later: set again at the same frozen time).
            let (mut old, mut new) = (old.clone(), new.clone());
            assert_eq!(old.0.remove("counter_regression_ms"), Some(Value::Null));
            assert!(matches!(
                new.0.remove("counter_regression_ms"),
                Some(Value::Integer(_))
            ));
            assert_eq!(
                old, new,
                "only the flag changed (stored counter, last use kept)"
            );
        } else {
            assert!(attempts > 0, "the first regression flags the passkey");
        }
        only_audited(&rest, "counter went backwards");
        attempts += 1;
    }
    let flagged = site.store.passkey(&key.id).unwrap().unwrap();
    assert!(flagged.counter_regression.is_some());
    report("counter regression (flagged)", attempts);
}

/// A form body for `tab`'s page with `csrf` as the token (None: no token field).
fn form(csrf: Option<&str>, fields: &[(&str, &str)]) -> String {
    let mut all: Vec<(&str, &str)> = csrf.map(|t| ("csrf", t)).into_iter().collect();
    all.extend_from_slice(fields);
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(all)
        .finish()
}

/// The credential ID the account page shows first (base64url).
async fn first_credential_id(tab: &mut Tab) -> String {
    let page = tab.get("/account").await;
    let marker = r#"data-credential-id=""#;
    let at = page.body.find(marker).expect("a passkey row") + marker.len();
    page.body[at..at + page.body[at..].find('"').unwrap()].to_owned()
}

/// Every bad token a forged form or script can carry: none, empty, a guess, another live
/// session's real token.
fn bad_tokens(other_sessions_token: &str) -> [Option<String>; 4] {
    [
        None,
        Some(String::new()),
        Some("forged-token".into()),
        Some(other_sessions_token.to_owned()),
    ]
}

#[tokio::test]
async fn every_state_changing_request_needs_its_sessions_csrf_token() {
    let db = DbSite::new();
    let site = &db.site;
    // A member with two passkeys (so deleting one would succeed), a card and a full basket
    // (so checkout would succeed), and a shared terminal in the shop.
    let (mut tab, mut key) = member(site, "Ada").await;
    tab.get("/register").await;
    let start = tab.post_json("/register/start", &json!({})).await;
    let options: CreationChallengeResponse = serde_json::from_str(&start.body).unwrap();
    let (_second_key, answer) = new_key(&options);
    let reply = tab.post_json("/register/finish", &answer).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    tab.get("/account").await;
    let token = tab.csrf.clone().unwrap();
    let card = form(Some(&token), &[("label", "Visa"), ("last4", "4242")]);
    assert_eq!(
        tab.post_form("/account/payment-methods", &card)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let basket = form(Some(&token), &[("sku", "COFFEE"), ("qty", "2")]);
    assert_eq!(
        tab.post_form("/shop/basket", &basket).await.status,
        StatusCode::SEE_OTHER
    );
    let credential_id = first_credential_id(&mut tab).await;
    let mut terminal = site.tab();
    terminal.get("/pos").await;
    let terminal_token = terminal.csrf.clone().unwrap();

    // Forms (urlencoded, token in the body).
    let forms: [(&str, Vec<(&str, &str)>); 7] = [
        ("/logout", vec![]),
        (
            "/account/passkeys/rename",
            vec![("credential_id", &credential_id), ("name", "pwned")],
        ),
        (
            "/account/passkeys/delete",
            vec![("credential_id", &credential_id)],
        ),
        (
            "/account/payment-methods",
            vec![("label", "Attacker"), ("last4", "6666")],
        ),
        ("/shop/checkout", vec![]),
        ("/shop/basket", vec![("sku", "TOTE-BAG"), ("qty", "99")]),
        ("/shop/basket", vec![("sku", "COFFEE"), ("qty", "0")]),
    ];
    let mut attempts = 0;
    for (path, fields) in &forms {
        for bad in bad_tokens(&terminal_token) {
            let before = db.snapshot();
            let cookie = tab.cookie.clone();
            let reply = tab.post_form(path, &form(bad.as_deref(), fields)).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{path} with {bad:?}: {}",
                reply.body
            );
            assert_eq!(tab.cookie, cookie, "{path}: session kept");
            let diff = before.diff(&db.snapshot());
            assert!(diff.is_empty(), "{path} with {bad:?}: {diff:#?}");
            attempts += 1;
        }
    }

    // Script endpoints (JSON, token in the X-CSRF-Token header).
    let mut json_posts: Vec<(&str, serde_json::Value, bool)> = vec![
        ("/login/start", json!({}), false),
        ("/register/start", json!({}), false),
        (
            "/pos/pay/start",
            json!({ "items": [{ "sku": "COFFEE", "qty": 1 }] }),
            true,
        ),
    ];
    // A finish with a real, valid answer: refused for the token alone, and its challenge
    // stays pending (proved below by finishing it with the right token).
    let options = start_login(&mut tab).await;
    let login_answer = key.assert(&options).unwrap();
    json_posts.push((
        "/login/finish",
        serde_json::to_value(&login_answer).unwrap(),
        false,
    ));
    let pay_options = start_payment(&mut terminal, "CROISSANT", 3).await;
    let pay_answer: PublicKeyCredential = key.assert(&pay_options).unwrap();
    json_posts.push((
        "/pos/pay/finish",
        serde_json::to_value(&pay_answer).unwrap(),
        true,
    ));
    for (path, body, at_terminal) in &json_posts {
        let (who, real, others) = if *at_terminal {
            (&mut terminal, terminal_token.clone(), token.clone())
        } else {
            (&mut tab, token.clone(), terminal_token.clone())
        };
        for bad in bad_tokens(&others) {
            who.csrf = bad.clone();
            let (reply, diff) = attempt(&db, who, path, body).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{path} with {bad:?}: {}",
                reply.body
            );
            assert!(diff.is_empty(), "{path} with {bad:?}: {diff:#?}");
            attempts += 1;
        }
        who.csrf = Some(real);
    }

    // With the right token every one of them works: the refusals above were the token's.
    // The answers go in the order they were signed (the sign-in's counter value is below
    // the payment's; the other way round the sign-in would be a counter regression).
    let reply = tab.post_json("/login/finish", &login_answer).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let paid = terminal.post_json("/pos/pay/finish", &pay_answer).await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    tab.get("/account").await;
    let token = tab.csrf.clone().unwrap();
    for (path, fields) in forms.iter().filter(|(path, _)| *path != "/logout") {
        let reply = tab.post_form(path, &form(Some(&token), fields)).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{path} with the right token: {}",
            reply.body
        );
    }
    let orders = site.store.orders_of(uuid(&key), 10).unwrap();
    assert_eq!(orders.len(), 2, "the POS payment and the online checkout");
    let reply = tab.post_form("/logout", &form(Some(&token), &[])).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(tab.cookie.is_none());
    report("missing or wrong CSRF token (12 endpoints)", attempts);
}

fn uuid(key: &SoftKey) -> uuid::Uuid {
    uuid::Uuid::from_slice(&key.user_handle).unwrap()
}

/// The session row of `cookie`, if the store has one.
fn session_row(snapshot: &Snapshot, cookie: &str) -> Option<abuse_support::Row> {
    let hash = session_hash(cookie);
    snapshot
        .rows("sessions")
        .iter()
        .find(|r| r.blob("id_hash") == hash)
        .cloned()
}

#[tokio::test]
async fn a_session_fixed_before_sign_in_is_worthless_after_it() {
    let db = DbSite::new();
    let site = &db.site;
    let (_, mut key) = member(site, "Ada").await;

    // The attacker gets a real anonymous session and plants its cookie in the victim's
    // browser; the victim signs in with it.
    let mut attacker = site.tab();
    attacker.get("/login").await;
    let planted = attacker.cookie.clone().unwrap();
    assert!(session_row(&db.snapshot(), &planted).is_some());
    let mut victim = site.tab();
    victim.cookie = Some(planted.clone());
    let options = start_login(&mut victim).await;
    assert_eq!(
        victim.cookie.as_deref(),
        Some(planted.as_str()),
        "page load keeps it"
    );
    let reply = victim
        .post_json("/login/finish", &key.assert(&options).unwrap())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let new_cookie = victim.cookie.clone().unwrap();
    assert_ne!(new_cookie, planted, "sign-in issues a new session cookie");
    let after = db.snapshot();
    assert!(
        session_row(&after, &planted).is_none(),
        "the planted session is gone"
    );
    let row = session_row(&after, &new_cookie).expect("the new session");
    assert_eq!(row.text("account"), uuid(&key).to_string());
    assert!(
        !signed_in(&mut attacker).await,
        "the planted ID signs nobody in"
    );
    assert!(signed_in(&mut victim).await);

    // A session ID the attacker made up is never adopted: the site hands out its own.
    let mut victim = site.tab();
    victim.cookie = Some("attacker-chosen-session-id".into());
    let options = start_login(&mut victim).await;
    let issued = victim.cookie.clone().unwrap();
    assert_ne!(issued, "attacker-chosen-session-id");
    assert!(session_row(&db.snapshot(), "attacker-chosen-session-id").is_none());
    let reply = victim
        .post_json("/login/finish", &key.assert(&options).unwrap())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_ne!(victim.cookie.as_deref(), Some(issued.as_str()));
    let mut attacker = site.tab();
    attacker.cookie = Some("attacker-chosen-session-id".into());
    assert!(!signed_in(&mut attacker).await);

    // Registration signs in too, and rotates the same way.
    let mut attacker = site.tab();
    attacker.get("/register").await;
    let planted = attacker.cookie.clone().unwrap();
    let mut victim = site.tab();
    victim.cookie = Some(planted.clone());
    victim.get("/register").await;
    let start = victim
        .post_json("/register/start", &json!({ "display_name": "Eve" }))
        .await;
    let options: CreationChallengeResponse = serde_json::from_str(&start.body).unwrap();
    let (_, answer) = new_key(&options);
    let reply = victim.post_json("/register/finish", &answer).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_ne!(victim.cookie.as_deref(), Some(planted.as_str()));
    assert!(session_row(&db.snapshot(), &planted).is_none());
    assert!(!signed_in(&mut attacker).await);
    report("session fixation (planted, invented, at registration)", 3);
}

#[tokio::test]
async fn a_payment_refused_for_want_of_a_payment_method_changes_nothing() {
    let db = DbSite::new();
    let site = &db.site;
    // A member with no saved card pays at the terminal with a valid palm assertion.
    let (mut tab, mut key) = member(site, "Ada").await;
    let mut terminal = site.tab();
    terminal.get("/pos").await;
    let options = start_payment(&mut terminal, "COFFEE", 1).await;
    let assertion = key.assert(&options).unwrap();
    // Refused (409) with no state changed: no order or payment, no history line, the
    // signature counter not advanced, the challenge still pending.
    refused_unchanged(
        &db,
        &mut terminal,
        "/pos/pay/finish",
        &assertion,
        StatusCode::CONFLICT,
        "no saved payment method",
    )
    .await;
    assert!(site.store.orders_of(uuid(&key), 10).unwrap().is_empty());

    // Once the member has saved a card, the same authorised basket pays (exactly once).
    tab.get("/account").await;
    let token = tab.csrf.clone().unwrap();
    let card = form(Some(&token), &[("label", "Visa"), ("last4", "4242")]);
    let saved = tab.post_form("/account/payment-methods", &card).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let paid = terminal.post_json("/pos/pay/finish", &assertion).await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    assert_eq!(site.store.orders_of(uuid(&key), 10).unwrap().len(), 1);
    report("payment without a payment method", 1);
}

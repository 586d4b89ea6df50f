//! The server-rendered pages and static assets (no authenticator needed).

mod common;

use axum::http::StatusCode;
use common::Site;

#[tokio::test]
async fn pages_render_with_a_session_and_csrf_token() {
    let site = Site::new();
    let mut tab = site.tab();
    for path in ["/", "/register", "/login", "/shop", "/pos"] {
        let page = tab.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains(r#"<meta name="csrf-token""#), "{path}");
        assert!(page.body.contains("/static/webauthn.js"), "{path}");
    }
    // One session across the pages: the cookie was set once and kept.
    assert!(tab.cookie.is_some());
    let login = tab.get("/login").await;
    assert!(login.headers.get("set-cookie").is_none(), "session reused");
    assert!(login.body.contains(r#"autocomplete="username webauthn""#));

    // Signed out, the account page sends you to sign in.
    assert_eq!(tab.get("/account").await.location(), Some("/login"));
}

#[tokio::test]
async fn static_assets_are_served_with_their_types() {
    let site = Site::new();
    let mut tab = site.tab();
    let js = tab.get("/static/webauthn.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(js.body.contains("navigator.credentials.create"));
    let css = tab.get("/static/app.css").await;
    assert!(css.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn a_form_post_with_a_bad_token_gets_an_error_page() {
    let site = Site::new();
    let mut tab = site.tab();
    tab.get("/").await;
    let reply = tab.post_form("/logout", "csrf=wrong").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.body.contains("<h1>Forbidden</h1>"), "{}", reply.body);
    assert!(reply.body.contains("CSRF"));
}

#[tokio::test]
async fn ceremonies_are_rate_limited() {
    let site = Site::new();
    let mut tab = site.tab();
    tab.get("/login").await;
    let limit = site.state.config.ceremony_rate_limit;
    for _ in 0..limit {
        let reply = tab.post_json("/login/start", &serde_json::json!({})).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let over = tab.post_json("/login/start", &serde_json::json!({})).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    // Pages are not limited, and the next minute is a new window.
    assert_eq!(tab.get("/login").await.status, StatusCode::OK);
    site.clock.advance(time::Duration::minutes(1));
    let again = tab.post_json("/login/start", &serde_json::json!({})).await;
    assert_eq!(again.status, StatusCode::OK);
}

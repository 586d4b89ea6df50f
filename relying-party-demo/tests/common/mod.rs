//! Test harness: the web app in-process (driven through tower, no sockets) with a hand-driven
//! clock, a cookie-keeping HTTP "tab", and a palmkey authenticator over UDP acting as the
//! browser's authenticator.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use palmkey::client::transport::CtapHid;
use relying_party_demo::browser::{Browser, UserVerification};
use relying_party_demo::session::{COOKIE_NAME, CSRF_HEADER};
use relying_party_demo::terminal::Terminal;
use relying_party_demo::{router, AppState, Config, ManualClock, SqliteStore};
use serde_json::Value;
use tempfile::TempDir;
use time::OffsetDateTime;

pub const PIN: &str = "246810";
pub const ORIGIN: &str = "http://localhost:8080";

/// A factory-fresh palmkey with a PIN set, on its own state folder.
pub struct Device {
    pub terminal: Terminal,
    _dir: TempDir,
}

impl Device {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).expect("state dir");
        let terminal =
            Terminal::start(&state, &dir.path().join("master.key")).expect("start palmkey");
        let mut client = terminal.client().expect("connect");
        let protocol = client.preferred_protocol().expect("getInfo");
        client.set_pin(protocol, PIN).expect("setPIN");
        Device {
            terminal,
            _dir: dir,
        }
    }

    /// A browser on `origin` using this authenticator, verifying the user by PIN.
    pub fn browser(&self, origin: &str) -> Browser<CtapHid> {
        Browser::new(
            self.terminal.client().expect("connect"),
            origin,
            UserVerification::Pin(PIN.into()),
        )
    }

    pub fn aaguid(&self) -> uuid::Uuid {
        let info = self.terminal.client().unwrap().get_info().unwrap();
        uuid::Uuid::from_slice(&info.aaguid).unwrap()
    }
}

/// One relying-party instance (its own database) and its clock.
pub struct Site {
    pub app: Router,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub store: Arc<SqliteStore>,
}

impl Site {
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Self {
        let clock = Arc::new(ManualClock::new(
            OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        ));
        let store = Arc::new(SqliteStore::in_memory().expect("store"));
        let state = AppState::new(config, store.clone(), clock.clone()).expect("app");
        Site {
            app: router(state.clone()),
            state,
            clock,
            store,
        }
    }

    pub fn tab(&self) -> Tab {
        Tab {
            app: self.app.clone(),
            cookie: None,
            csrf: None,
        }
    }
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// A browser tab: keeps the session cookie and the page's CSRF token.
pub struct Tab {
    app: Router,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Tab {
    async fn send(&mut self, request: Request<Body>) -> Reply {
        use tower::ServiceExt;
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if name == COOKIE_NAME {
                assert!(
                    attributes.contains("HttpOnly"),
                    "session cookie not HttpOnly"
                );
                assert!(
                    attributes.contains("SameSite=Lax"),
                    "session cookie not SameSite"
                );
                self.cookie = (!attributes.contains("Max-Age=0")).then(|| value.to_owned());
            }
        }
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    fn request(&self, method: &str, path: &str) -> axum::http::request::Builder {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(c) = &self.cookie {
            b = b.header(COOKIE, format!("{COOKIE_NAME}={c}"));
        }
        b
    }

    /// GET a page; remembers its CSRF token.
    pub async fn get(&mut self, path: &str) -> Reply {
        let req = self.request("GET", path).body(Body::empty()).unwrap();
        let reply = self.send(req).await;
        if let Some(token) = meta_csrf(&reply.body) {
            self.csrf = Some(token);
        }
        reply
    }

    /// POST JSON with the page's CSRF token in the header (as static/webauthn.js does).
    pub async fn post_json(&mut self, path: &str, body: &impl serde::Serialize) -> Reply {
        let mut b = self
            .request("POST", path)
            .header(CONTENT_TYPE, "application/json");
        if let Some(t) = &self.csrf {
            b = b.header(CSRF_HEADER, t.clone());
        }
        let req = b
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap();
        self.send(req).await
    }

    /// POST an urlencoded form.
    pub async fn post_form(&mut self, path: &str, form: &str) -> Reply {
        let req = self
            .request("POST", path)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.send(req).await
    }

    /// Open /register and create a passkey with `browser`; returns the finish reply.
    pub async fn register(&mut self, browser: &mut Browser<CtapHid>, name: &str) -> Reply {
        self.get("/register").await;
        let start = self
            .post_json(
                "/register/start",
                &serde_json::json!({ "display_name": name }),
            )
            .await;
        assert_eq!(start.status, StatusCode::OK, "{}", start.body);
        let options = serde_json::from_str(&start.body).unwrap();
        let credential = browser.create(&options).expect("makeCredential");
        self.post_json("/register/finish", &credential).await
    }

    /// Start a usernameless sign-in (from /login) and get the authenticator's assertion.
    pub async fn assertion(
        &mut self,
        browser: &mut Browser<CtapHid>,
    ) -> webauthn_rs::prelude::PublicKeyCredential {
        self.get("/login").await;
        let start = self.post_json("/login/start", &serde_json::json!({})).await;
        assert_eq!(start.status, StatusCode::OK, "{}", start.body);
        let options = serde_json::from_str(&start.body).unwrap();
        browser.get(&options).expect("getAssertion")
    }

    /// A full usernameless sign-in; returns the finish reply.
    pub async fn login(&mut self, browser: &mut Browser<CtapHid>) -> Reply {
        let assertion = self.assertion(browser).await;
        self.post_json("/login/finish", &assertion).await
    }
}

fn meta_csrf(html: &str) -> Option<String> {
    const PREFIX: &str = r#"<meta name="csrf-token" content=""#;
    let start = html.find(PREFIX)? + PREFIX.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_owned())
}

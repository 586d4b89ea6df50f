//! palmkey relying-party demo: a passwordless web app on axum and webauthn-rs.
//!
//! Usernameless passkeys (discoverable credentials, user verification required): register,
//! log in without a username, see your passkeys, sign out. State lives behind
//! [`store::Store`] (embedded SQLite by default). [`browser`] plays the browser's part with
//! the palmkey authenticator over CTAPHID, for the tests and the end-to-end demo;
//! [`terminal`] runs that authenticator in-process.

pub mod assertion_check;
pub mod attestation;
pub mod authenticators;
pub mod browser;
pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod pages;
pub mod ratelimit;
pub mod routes;
pub mod session;
pub mod store;
pub mod terminal;

use std::sync::Arc;

use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use routes::router;
pub use store::{SqliteStore, Store};

/// Errors building the app from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("WebAuthn configuration (RP ID {rp_id:?}, origin {origin}): {source}")]
    Webauthn {
        rp_id: String,
        origin: Box<Url>,
        source: Box<webauthn_rs::prelude::WebauthnError>,
    },
}

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub webauthn: Arc<Webauthn>,
    pub assertions: Arc<assertion_check::AssertionChecker>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub ceremony_limiter: Arc<ratelimit::RateLimiter>,
}

impl AppState {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SetupError> {
        let setup_error = |source| SetupError::Webauthn {
            rp_id: config.rp_id.clone(),
            origin: Box::new(config.origin.clone()),
            source: Box::new(source),
        };
        let timeout = std::time::Duration::try_from(config.challenge_ttl)
            .unwrap_or(std::time::Duration::from_secs(300));
        let webauthn = WebauthnBuilder::new(&config.rp_id, &config.origin)
            .map_err(setup_error)?
            .rp_name(&config.rp_name)
            .timeout(timeout)
            .build()
            .map_err(setup_error)?;
        let ceremony_limiter = Arc::new(ratelimit::RateLimiter::new(
            config.ceremony_rate_limit,
            time::Duration::minutes(1),
        ));
        let webauthn = Arc::new(webauthn);
        let assertions = Arc::new(assertion_check::AssertionChecker::new(
            Arc::clone(&webauthn),
            &config.rp_id,
            &config.origin,
        ));
        Ok(AppState {
            ceremony_limiter,
            config: Arc::new(config),
            webauthn,
            assertions,
            store,
            clock,
        })
    }
}

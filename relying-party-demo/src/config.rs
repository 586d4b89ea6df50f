//! Where the relying party lives (RP ID, origin) and how long its secrets stay valid.

use std::net::SocketAddr;
use std::path::PathBuf;

use time::Duration;
use url::Url;

#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// The origin browsers see (scheme, host, port); clientDataJSON must carry exactly this.
    pub origin: Url,
    /// The WebAuthn RP ID: the origin's host or a registrable suffix of it.
    pub rp_id: String,
    /// Shown by authenticators and browsers during registration.
    pub rp_name: String,
    /// Data folder of the embedded SQLite store.
    pub data_dir: PathBuf,
    /// How long a registration or login challenge may be answered.
    pub challenge_ttl: Duration,
    /// How long a session lives without being renewed by a sign-in.
    pub session_ttl: Duration,
    /// Ceremony requests (start + finish) one client address may make per minute.
    pub ceremony_rate_limit: u32,
}

impl Default for Config {
    /// The DESIGN.md defaults: 127.0.0.1:8080, origin http://localhost:8080, RP ID localhost.
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            origin: Url::parse("http://localhost:8080").expect("valid default origin"),
            rp_id: "localhost".into(),
            rp_name: "palmkey demo shop".into(),
            data_dir: PathBuf::from("relying-party-data"),
            challenge_ttl: Duration::minutes(5),
            session_ttl: Duration::hours(12),
            ceremony_rate_limit: 60,
        }
    }
}

impl Config {
    /// Cookies get `Secure` only where the origin is https (http://localhost in development).
    pub fn secure_cookies(&self) -> bool {
        self.origin.scheme() == "https"
    }
}

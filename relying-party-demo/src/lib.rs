//! palmkey relying-party demo: a passwordless web app on axum and webauthn-rs.

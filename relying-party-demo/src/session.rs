//! Server-side sessions: the cookie holds 256 random bits, the store holds only their SHA-256
//! (a leaked database does not yield live sessions). Every session carries its own CSRF token;
//! signing in replaces the session (no fixation).

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::error::ApiError;
use crate::store::{Account, SessionRecord};
use crate::AppState;

pub const COOKIE_NAME: &str = "palmkey_rp_session";
/// Header the page's script sends the CSRF token in (JSON ceremony endpoints).
pub const CSRF_HEADER: &str = "x-csrf-token";

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_id(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The session cookie's value in a request, if any.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

/// A live session and, when it was just created, the cookie that hands it to the browser.
#[derive(Debug)]
pub struct Session {
    pub record: SessionRecord,
    pub set_cookie: Option<HeaderValue>,
}

impl Session {
    pub fn id_hash(&self) -> &[u8; 32] {
        &self.record.id_hash
    }

    pub fn account(&self) -> Option<Uuid> {
        self.record.account
    }

    pub fn csrf_token(&self) -> &str {
        &self.record.csrf_token
    }

    /// Constant-time check of a submitted CSRF token.
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), ApiError> {
        let ok = submitted
            .is_some_and(|s| bool::from(s.as_bytes().ct_eq(self.record.csrf_token.as_bytes())));
        if ok {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "missing or wrong CSRF token; reload the page".into(),
            ))
        }
    }

    /// Add this session's Set-Cookie (if any) to a response's headers.
    pub fn apply_cookie(&self, headers: &mut HeaderMap) {
        if let Some(c) = &self.set_cookie {
            headers.append(SET_COOKIE, c.clone());
        }
    }
}

impl AppState {
    /// The request's live session, if it has one.
    pub fn current_session(&self, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
        let Some(id) = cookie_value(headers) else {
            return Ok(None);
        };
        Ok(self
            .store
            .session(&hash_id(id), self.clock.now())?
            .map(|record| Session {
                record,
                set_cookie: None,
            }))
    }

    /// The request's session, or a new anonymous one (page loads: forms need a CSRF token).
    pub fn session_or_new(&self, headers: &HeaderMap) -> Result<Session, ApiError> {
        match self.current_session(headers)? {
            Some(s) => Ok(s),
            None => self.new_session(None),
        }
    }

    /// A state-changing request: it must come with a live session and that session's token.
    pub fn checked_session(
        &self,
        headers: &HeaderMap,
        csrf: Option<&str>,
    ) -> Result<Session, ApiError> {
        let session = self.current_session(headers)?.ok_or_else(|| {
            ApiError::Forbidden("no session (cookies off, or it expired); reload the page".into())
        })?;
        session.check_csrf(csrf)?;
        Ok(session)
    }

    /// The request's session and its account, when signed in (and the account still exists).
    pub fn signed_in(&self, headers: &HeaderMap) -> Result<Option<(Session, Account)>, ApiError> {
        let Some(session) = self.current_session(headers)? else {
            return Ok(None);
        };
        let Some(id) = session.account() else {
            return Ok(None);
        };
        Ok(self.store.account(id)?.map(|account| (session, account)))
    }

    /// A state-changing form post of a signed-in member: session, CSRF token and account.
    pub fn signed_in_checked(
        &self,
        headers: &HeaderMap,
        csrf: Option<&str>,
    ) -> Result<(Session, Account), ApiError> {
        let session = self.checked_session(headers, csrf)?;
        let account = match session.account() {
            Some(id) => self.store.account(id)?,
            None => None,
        };
        let account = account.ok_or_else(|| ApiError::Unauthorized("sign in first".into()))?;
        Ok((session, account))
    }

    /// A fresh session (fresh ID and CSRF token), signed in to `account` if given.
    pub fn new_session(&self, account: Option<Uuid>) -> Result<Session, ApiError> {
        let (record, set_cookie) = self.fresh_session(account)?;
        self.store.insert_session(&record)?;
        Ok(Session {
            record,
            set_cookie: Some(set_cookie),
        })
    }

    /// A new session record and its cookie, not stored yet.
    pub(crate) fn fresh_session(
        &self,
        account: Option<Uuid>,
    ) -> Result<(SessionRecord, HeaderValue), ApiError> {
        let id = random_token();
        let record = SessionRecord {
            id_hash: hash_id(&id),
            account,
            csrf_token: random_token(),
            expires: self.clock.now() + self.config.session_ttl,
        };
        let cookie = format!(
            "{COOKIE_NAME}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
            self.config.session_ttl.whole_seconds(),
            if self.config.secure_cookies() {
                "; Secure"
            } else {
                ""
            }
        );
        let cookie = HeaderValue::from_str(&cookie)
            .map_err(|e| ApiError::Internal(format!("cookie header: {e}")))?;
        Ok((record, cookie))
    }

    /// Replace `old` by a new session for `account` (sign-in), so an ID planted before
    /// sign-in is worthless after it. The basket comes along.
    pub fn rotate_session(&self, old: &Session, account: Uuid) -> Result<Session, ApiError> {
        let (record, set_cookie) = self.fresh_session(Some(account))?;
        self.store.replace_session(old.id_hash(), &record)?;
        Ok(Session {
            record,
            set_cookie: Some(set_cookie),
        })
    }

    /// End `session` and tell the browser to drop its cookie.
    pub fn end_session(&self, session: &Session, headers: &mut HeaderMap) -> Result<(), ApiError> {
        self.store.delete_session(session.id_hash())?;
        headers.append(
            SET_COOKIE,
            HeaderValue::from_static(
                "palmkey_rp_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
            ),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; palmkey_rp_session=xyz; b=2"),
        );
        assert_eq!(cookie_value(&h), Some("xyz"));
        let mut other = HeaderMap::new();
        other.append(COOKIE, HeaderValue::from_static("palmkey_rp_sessionx=1"));
        assert_eq!(cookie_value(&other), None);
    }
}

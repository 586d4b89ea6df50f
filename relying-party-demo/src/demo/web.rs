//! A browser tab over real HTTP (blocking): keeps the session cookie and the page's CSRF
//! token, posts JSON the way static/webauthn.js does and forms the way a page does.

use std::time::Duration;

use serde::Serialize;
use ureq::Agent;

use crate::session::{COOKIE_NAME, CSRF_HEADER};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("HTTP {path}: {source}")]
    Http { path: String, source: ureq::Error },
    #[error("{path} answered {status}: {body}")]
    Status {
        path: String,
        status: u16,
        body: String,
    },
    #[error("{path}: {what}")]
    Unexpected { path: String, what: String },
}

/// One answer, as the demo looks at it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The text inside the element with `id` (first text run; enough for the demo's ids).
    pub fn text_of(&self, id: &str) -> Option<String> {
        let marker = format!(r#"id="{id}""#);
        let at = self.body.find(&marker)?;
        let open_end = at + self.body[at..].find('>')? + 1;
        let close = open_end + self.body[open_end..].find('<')?;
        Some(self.body[open_end..close].trim().to_owned())
    }
}

pub struct Tab {
    agent: Agent,
    base: String,
    cookie: Option<String>,
    csrf: Option<String>,
}

impl Tab {
    /// A fresh tab (no cookies) on the site at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Self {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Tab {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            cookie: None,
            csrf: None,
        }
    }

    pub fn is_signed_out(&self) -> bool {
        self.cookie.is_none()
    }

    fn finish(
        &mut self,
        path: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Page, WebError> {
        let mut response = result.map_err(|source| WebError::Http {
            path: path.to_owned(),
            source,
        })?;
        for set in response.headers().get_all("set-cookie") {
            let Ok(set) = set.to_str() else { continue };
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            if let Some((name, value)) = pair.split_once('=') {
                if name.trim() == COOKIE_NAME {
                    self.cookie = (!attributes.contains("Max-Age=0")).then(|| value.to_owned());
                }
            }
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|source| WebError::Http {
                path: path.to_owned(),
                source,
            })?;
        if let Some(token) = meta_csrf(&body) {
            self.csrf = Some(token);
        }
        Ok(Page {
            status,
            location,
            body,
        })
    }

    fn cookie_header(&self) -> String {
        self.cookie
            .as_ref()
            .map(|c| format!("{COOKIE_NAME}={c}"))
            .unwrap_or_default()
    }

    pub fn get(&mut self, path: &str) -> Result<Page, WebError> {
        let result = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .call();
        self.finish(path, result)
    }

    /// POST JSON with the CSRF header; any status but 200 is an error carrying the body.
    pub fn post_json<B: Serialize>(&mut self, path: &str, body: &B) -> Result<Page, WebError> {
        let page = self.post_json_raw(path, body)?;
        if page.status != 200 {
            return Err(WebError::Status {
                path: path.to_owned(),
                status: page.status,
                body: page.body,
            });
        }
        Ok(page)
    }

    /// POST JSON and return whatever came back.
    pub fn post_json_raw<B: Serialize>(&mut self, path: &str, body: &B) -> Result<Page, WebError> {
        let json = serde_json::to_vec(body).map_err(|e| WebError::Unexpected {
            path: path.to_owned(),
            what: e.to_string(),
        })?;
        let result = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header(CSRF_HEADER, self.csrf.clone().unwrap_or_default())
            .content_type("application/json")
            .send(&json[..]);
        self.finish(path, result)
    }

    /// POST a form with the page's CSRF token added; expects a 303.
    pub fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Result<Page, WebError> {
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let result = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send_form(all);
        let page = self.finish(path, result)?;
        if page.status != 303 {
            return Err(WebError::Status {
                path: path.to_owned(),
                status: page.status,
                body: page.body,
            });
        }
        Ok(page)
    }
}

/// The CSRF token in a page's `<meta name="csrf-token">`.
pub fn meta_csrf(html: &str) -> Option<String> {
    const PREFIX: &str = r#"<meta name="csrf-token" content=""#;
    let start = html.find(PREFIX)? + PREFIX.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_owned())
}

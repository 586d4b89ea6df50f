//! A cookie-keeping HTTP/1.1 "tab" on one keep-alive connection (hyper's client connection),
//! speaking to the site the way its pages' script does: session cookie + `x-csrf-token`.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;

const COOKIE_NAME: &str = "palmkey_rp_session";
const CSRF_META: &str = r#"<meta name="csrf-token" content=""#;

/// A failed request: the status and the site's `{"error": ...}` text.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {body}")]
pub struct HttpError {
    pub status: StatusCode,
    pub body: String,
}

pub struct Tab {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    cookie: Option<String>,
    csrf: Option<String>,
}

impl Tab {
    pub async fn connect(addr: SocketAddr, host: &str) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Tab {
            sender,
            host: host.to_owned(),
            cookie: None,
            csrf: None,
        })
    }

    /// Load a page and keep its session cookie and CSRF token, as a browser would.
    pub async fn page(&mut self, path: &str) -> anyhow::Result<()> {
        let html = self.send(Method::GET, path, None).await?;
        let html = std::str::from_utf8(&html).context("page is not UTF-8")?;
        let start = html
            .find(CSRF_META)
            .map(|i| i + CSRF_META.len())
            .with_context(|| format!("{path} has no CSRF token"))?;
        let end = html[start..].find('"').context("unterminated CSRF meta")? + start;
        self.csrf = Some(html[start..end].to_owned());
        Ok(())
    }

    /// POST JSON to a ceremony endpoint and decode the JSON answer.
    pub async fn post_json<T: Serialize, R: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &T,
    ) -> anyhow::Result<R> {
        let body = serde_json::to_vec(body)?;
        let answer = self.send(Method::POST, path, Some(body)).await?;
        serde_json::from_slice(&answer).with_context(|| format!("decoding the answer of {path}"))
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Bytes> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.host);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, format!("{COOKIE_NAME}={cookie}"));
        }
        if let Some(csrf) = &self.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        self.sender.ready().await.context("connection closed")?;
        let response = self.sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        for value in parts.headers.get_all(SET_COOKIE) {
            let value = value.to_str().unwrap_or_default();
            if let Some(rest) = value
                .strip_prefix(COOKIE_NAME)
                .and_then(|r| r.strip_prefix('='))
            {
                let id = rest.split(';').next().unwrap_or_default();
                self.cookie = (!id.is_empty()).then(|| id.to_owned());
            }
        }
        let bytes = body.collect().await?.to_bytes();
        if !parts.status.is_success() {
            bail!(HttpError {
                status: parts.status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(bytes)
    }
}

//! Rate limiting of the ceremony endpoints: a fixed window per client address, so one client
//! cannot mint challenges (database rows) or grind assertions without bound.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use time::{Duration, OffsetDateTime};

use crate::error::ApiError;
use crate::AppState;

/// More tracked clients than this and stale windows are swept before adding another.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<Option<IpAddr>, (OffsetDateTime, u32)>>,
}

impl RateLimiter {
    /// At most `limit` requests per `window` per client.
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Count one request from `client` (None: address unknown, e.g. in-process callers);
    /// false when it is over the limit.
    pub fn allow(&self, client: Option<IpAddr>, now: OffsetDateTime) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, (start, _)| now - *start < self.window);
        }
        let entry = windows.entry(client).or_insert((now, 0));
        if now - entry.0 >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= self.limit
    }
}

/// Middleware for the ceremony routes.
pub async fn limit_ceremonies(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if !app.ceremony_limiter.allow(client, app.clock.now()) {
        tracing::warn!(?client, "ceremony rate limit hit");
        return ApiError::TooManyRequests.into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_client_and_window() {
        let limiter = RateLimiter::new(2, Duration::minutes(1));
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        assert!(limiter.allow(a, t0));
        assert!(limiter.allow(a, t0));
        assert!(!limiter.allow(a, t0 + Duration::seconds(59)));
        assert!(limiter.allow(b, t0), "another client has its own window");
        assert!(limiter.allow(a, t0 + Duration::minutes(1)), "a new window");
    }
}

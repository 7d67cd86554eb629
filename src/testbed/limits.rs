//! Seed 002's rate limits (限流配置: 全局10000/60s，API 5000/60s，认证500/60s) as a
//! fixed-window limiter in front of a reference service, answering 429 beyond them.
//!
//! Windows are counted from the service's start. Every request except health probes
//! counts against the global budget, `/api/…` also against the API budget and
//! `/api/v1/auth/…` also against the auth budget; a request over any of them is refused and
//! still consumes what it counted, as a counter-based gateway does. The limits are
//! service-wide rather than per client: a load generator is one client, so the two agree
//! for every scenario loadctl runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use crate::scenario::plan::embedded::RateLimits;

pub(super) struct Limiter {
    limits: RateLimits,
    epoch: Instant,
    window: AtomicU64,
    /// global, api, auth.
    used: [AtomicU64; 3],
}

impl Limiter {
    pub(super) fn new(limits: RateLimits) -> Self {
        Limiter {
            limits,
            epoch: Instant::now(),
            window: AtomicU64::new(0),
            used: Default::default(),
        }
    }

    /// Counts one request on `path`; false when it is over a limit.
    fn admit(&self, path: &str) -> bool {
        let w = (self.epoch.elapsed().as_nanos() / self.limits.window.as_nanos().max(1)) as u64;
        if self.window.load(Ordering::Acquire) != w && self.window.swap(w, Ordering::AcqRel) != w {
            // First request of a new window: start the counts over. A request racing
            // with the reset may land in either window, which a gateway allows too.
            for u in &self.used {
                u.store(0, Ordering::Release);
            }
        }
        let mut ok = self.used[0].fetch_add(1, Ordering::AcqRel) < self.limits.global;
        if path.starts_with("/api/") {
            ok &= self.used[1].fetch_add(1, Ordering::AcqRel) < self.limits.api;
            if path.starts_with("/api/v1/auth/") {
                ok &= self.used[2].fetch_add(1, Ordering::AcqRel) < self.limits.auth;
            }
        }
        ok
    }
}

pub(super) async fn enforce(State(l): State<Arc<Limiter>>, req: Request, next: Next) -> Response {
    if super::is_health(req.uri().path()) || l.admit(req.uri().path()) {
        return next.run(req).await;
    }
    let retry = l.limits.window.as_secs().max(1).to_string();
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            ("content-type", "application/json"),
            ("retry-after", retry.as_str()),
        ],
        r#"{"error":"rate_limited"}"#,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_class_has_its_budget() {
        let l = Limiter::new(RateLimits {
            window: Duration::from_secs(3600),
            global: 10,
            api: 6,
            auth: 2,
        });
        let auth: Vec<bool> = (0..3).map(|_| l.admit("/api/v1/auth/login")).collect();
        assert_eq!(auth, [true, true, false]);
        // Three API requests used; three more fit the API budget, then it is spent.
        let api: Vec<bool> = (0..4).map(|_| l.admit("/api/v1/flash/items/1")).collect();
        assert_eq!(api, [true, true, true, false]);
        // Seven counted globally; three more fit.
        let other: Vec<bool> = (0..4).map(|_| l.admit("/media/x.svg")).collect();
        assert_eq!(other, [true, true, true, false]);
    }

    #[test]
    fn a_new_window_starts_over() {
        let l = Limiter::new(RateLimits {
            window: Duration::from_millis(1),
            global: 1,
            api: 1,
            auth: 1,
        });
        assert!(l.admit("/api/v1/auth/login"));
        std::thread::sleep(Duration::from_millis(3));
        assert!(l.admit("/api/v1/auth/login"));
    }
}

//! Fault injection on API requests, drawn from a seeded xorshift PRNG (one draw per request), so
//! that the same requests in the same order meet the same faults.
//!
//! - fail: `500 {"message":"injected fault"}` before any work (the SDK retries it); also the
//!   first `fail_first` requests to paths containing `fail_matching`, whatever the draw;
//! - throttle: `429` with `Retry-After: 1` before any work;
//! - drop: the request is handled (its changes are applied and saved), then the connection is
//!   closed without a byte of the response: the client sees a transport error although the change
//!   happened, the "lost response" that makes retried requests meet their own earlier effect.
//!
//! The drop works with hyper 1's HTTP/1 server: the response's body fails on its first poll, and
//! hyper then gives up the connection with the status line and headers still unsent in its write
//! buffer (they are only flushed together with body data).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::io::ReaderStream;

use crate::config::FaultConfig;
use crate::error::ServerError;

/// xorshift64* seeded through splitmix64 (so that any seed, 0 included, gives a good state).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Fail,
    Throttle,
    Drop,
}

/// Decides, per request, whether and how it fails.
pub(crate) struct FaultInjector {
    config: FaultConfig,
    rng: Mutex<XorShift>,
    /// Aimed failures still to come (`fail_first` at the start).
    aimed_left: AtomicU64,
}

impl FaultInjector {
    /// Checks the rates (each within 0..=1, together at most 1).
    pub(crate) fn new(config: &FaultConfig) -> Result<Self, ServerError> {
        let rates = [("fail", config.fail_rate), ("throttle", config.throttle_rate), ("drop", config.drop_rate)];
        if let Some((name, rate)) = rates.iter().find(|(_, r)| !(0.0..=1.0).contains(r)) {
            return Err(ServerError::Config(format!("--{name}-rate {rate} is not within 0 to 1")));
        }
        if rates.iter().map(|(_, r)| r).sum::<f64>() > 1.0 {
            return Err(ServerError::Config("--fail-rate, --throttle-rate and --drop-rate add up to more than 1".into()));
        }
        Ok(Self { config: config.clone(), rng: Mutex::new(XorShift::new(config.seed)), aimed_left: AtomicU64::new(config.fail_first) })
    }

    /// The fault for a request to `path`: an aimed failure while any is left for it, else a draw.
    fn fault_for(&self, path: &str) -> Option<Fault> {
        let aimed = !self.config.fail_matching.is_empty()
            && path.contains(&self.config.fail_matching)
            && self.aimed_left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok();
        if aimed { Some(Fault::Fail) } else { self.draw() }
    }

    fn draw(&self) -> Option<Fault> {
        // A panic elsewhere cannot leave the generator's state half-updated.
        let x = self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next_unit();
        let c = &self.config;
        if x < c.fail_rate {
            Some(Fault::Fail)
        } else if x < c.fail_rate + c.throttle_rate {
            Some(Fault::Throttle)
        } else if x < c.fail_rate + c.throttle_rate + c.drop_rate {
            Some(Fault::Drop)
        } else {
            None
        }
    }
}

/// Middleware: delays every API request by the configured latency, then injects the drawn fault.
pub(crate) async fn inject(State(injector): State<Arc<FaultInjector>>, request: Request, next: Next) -> Response {
    if injector.config.latency > Duration::ZERO {
        tokio::time::sleep(injector.config.latency).await;
    }
    let what = format!("{} {}", request.method(), request.uri().path());
    match injector.fault_for(request.uri().path()) {
        None => next.run(request).await,
        Some(Fault::Fail) => {
            tracing::info!("injected fault: 500 for {what}");
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "message": "injected fault" }))).into_response()
        }
        Some(Fault::Throttle) => {
            tracing::info!("injected fault: 429 for {what}");
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(json!({ "message": "injected throttle" }))).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Some(Fault::Drop) => {
            let handled = next.run(request).await;
            tracing::info!("injected fault: dropped the {} response to {what} after handling it", handled.status());
            Body::from_stream(ReaderStream::new(FailingReader)).into_response()
        }
    }
}

/// A reader that fails at once: as a response body it makes hyper abandon the connection
/// before anything of the response is sent.
struct FailingReader;

impl AsyncRead for FailingReader {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Err(std::io::Error::other("response dropped by fault injection")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn injector(fail: f64, throttle: f64, drop: f64, seed: u64) -> FaultInjector {
        let config = FaultConfig { fail_rate: fail, throttle_rate: throttle, drop_rate: drop, seed, ..FaultConfig::default() };
        FaultInjector::new(&config).expect("valid rates")
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_in_the_configured_shares() {
        let draws = |seed| {
            let i = injector(0.2, 0.1, 0.3, seed);
            (0..10_000).map(|_| i.draw()).collect::<Vec<_>>()
        };
        let first = draws(7);
        assert_eq!(first, draws(7));
        assert_ne!(first, draws(8));
        let share = |f| first.iter().filter(|d| **d == f).count() as f64 / first.len() as f64;
        assert!((share(Some(Fault::Fail)) - 0.2).abs() < 0.02, "{}", share(Some(Fault::Fail)));
        assert!((share(Some(Fault::Throttle)) - 0.1).abs() < 0.02);
        assert!((share(Some(Fault::Drop)) - 0.3).abs() < 0.02);
        assert!((0..1000).all(|_| injector(0.0, 0.0, 0.0, 0).draw().is_none()));
        assert!((0..1000).all(|_| injector(1.0, 0.0, 0.0, 0).draw() == Some(Fault::Fail)));
    }

    #[test]
    fn aimed_failures_hit_the_first_matching_requests_only_and_leave_the_draws_alone() {
        let config = FaultConfig { fail_first: 2, fail_matching: "/actions".into(), seed: 3, ..FaultConfig::default() };
        let i = FaultInjector::new(&config).expect("valid");
        let faults: Vec<_> = ["/v2/a", "/x/actions", "/v2/b", "/y/actions", "/z/actions"].iter().map(|p| i.fault_for(p)).collect();
        assert_eq!(faults, [None, Some(Fault::Fail), None, Some(Fault::Fail), None]);
    }

    #[test]
    fn rates_are_checked() {
        let config = |fail, drop| FaultConfig { fail_rate: fail, drop_rate: drop, ..FaultConfig::default() };
        assert!(FaultInjector::new(&config(1.5, 0.0)).is_err());
        assert!(FaultInjector::new(&config(0.6, 0.6)).is_err());
        assert!(FaultInjector::new(&config(0.5, 0.5)).is_ok());
    }
}

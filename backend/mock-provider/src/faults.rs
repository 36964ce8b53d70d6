//! Per-request fault injection: merges `x-mock-*` headers over [`MockConfig`] and applies hangs, forced
//! statuses and the error rate before a request reaches its endpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::http::header::HeaderMap;

use crate::config::MockConfig;

/// Prefix shared by every override header; lets requests without overrides skip all lookups.
const PREFIX: &str = "x-mock-";

/// Whether (and how long) to hold a request before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hang {
    No,
    For(Duration),
    Forever,
}

/// The effective behaviour for one request: the server config with that request's overrides applied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestFaults {
    pub ttft: Duration,
    pub chunk_delay: Duration,
    pub chunks: usize,
    pub error_rate: f64,
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    pub hang: Hang,
    pub disconnect_after: Option<usize>,
    pub no_usage: bool,
    pub cached_tokens: u64,
    /// `x-mock-cache-creation-tokens`: prompt tokens reported as written to the cache (Anthropic only).
    pub cache_creation_tokens: u64,
    pub reasoning_tokens: u64,
    /// `x-mock-fixed-id`: use this completion id and a fixed `created`, so two identical requests get
    /// byte-identical answers (the gateway's pass-through test compares them).
    pub fixed_id: Option<String>,
}

impl RequestFaults {
    /// The config's behaviour, before any header is looked at.
    pub(crate) fn from_config(config: &MockConfig) -> Self {
        Self {
            ttft: config.ttft,
            chunk_delay: config.chunk_delay,
            chunks: config.chunks.max(1),
            error_rate: config.error_rate,
            status: config.status.filter(|s| *s >= 400),
            retry_after: config.retry_after,
            hang: if config.hang { Hang::Forever } else { Hang::No },
            disconnect_after: config.disconnect_after,
            no_usage: config.no_usage,
            cached_tokens: 0,
            cache_creation_tokens: 0,
            reasoning_tokens: 0,
            fixed_id: None,
        }
    }

    /// Applies the request's override headers; unparsable values are ignored so a typo falls back to the
    /// server config instead of failing the request.
    pub(crate) fn resolve(config: &MockConfig, headers: &HeaderMap) -> Self {
        let mut faults = Self::from_config(config);
        if !headers.keys().any(|name| name.as_str().starts_with(PREFIX)) {
            return faults;
        }
        let num = |name: &str| header_u64(headers, name);
        faults.fixed_id = header_str(headers, "x-mock-fixed-id").map(str::to_owned);
        if let Some(ms) = num("x-mock-ttft-ms") {
            faults.ttft = Duration::from_millis(ms);
        }
        if let Some(ms) = num("x-mock-chunk-delay-ms") {
            faults.chunk_delay = Duration::from_millis(ms);
        }
        if let Some(n) = num("x-mock-chunks") {
            faults.chunks = usize::try_from(n).unwrap_or(usize::MAX).max(1);
        }
        if let Some(rate) =
            header_str(headers, "x-mock-error-rate").and_then(|v| v.parse::<f64>().ok())
        {
            faults.error_rate = rate;
        }
        if let Some(status) = num("x-mock-status") {
            // A status below 400 lets one request opt out of a server-wide forced error.
            faults.status = u16::try_from(status).ok().filter(|s| *s >= 400);
        }
        if let Some(secs) = num("x-mock-retry-after") {
            faults.retry_after = Some(secs);
        }
        if let Some(ms) = num("x-mock-hang-ms") {
            faults.hang = if ms == 0 {
                Hang::No
            } else {
                Hang::For(Duration::from_millis(ms))
            };
        }
        if let Some(n) = num("x-mock-disconnect-after") {
            faults.disconnect_after = usize::try_from(n).ok();
        }
        if let Some(flag) = header_str(headers, "x-mock-no-usage").and_then(parse_flag) {
            faults.no_usage = flag;
        }
        if let Some(n) = num("x-mock-cached-tokens") {
            faults.cached_tokens = n;
        }
        if let Some(n) = num("x-mock-cache-creation-tokens") {
            faults.cache_creation_tokens = n;
        }
        if let Some(n) = num("x-mock-reasoning-tokens") {
            faults.reasoning_tokens = n;
        }
        faults
    }

    /// Holds the request as configured, then returns the status of the error to inject, if any; the
    /// caller renders it in its dialect's error format, with [`RequestFaults::retry_after`].
    pub(crate) async fn apply(&self, schedule: &ErrorSchedule) -> Option<u16> {
        match self.hang {
            Hang::No => {}
            Hang::For(duration) => tokio::time::sleep(duration).await,
            Hang::Forever => std::future::pending::<()>().await,
        }
        if self.status.is_some() {
            return self.status;
        }
        schedule.should_fail(self.error_rate).then_some(500)
    }
}

/// Decides which requests an error rate fails. It is deterministic rather than random so that tests of
/// retries and fallbacks never flake: with rate `r`, request `n` fails when `ceil((n+1)·r) > ceil(n·r)`,
/// which fails the first request and then spreads failures evenly (0.5 → fail, ok, fail, ok…).
#[derive(Debug, Default)]
pub(crate) struct ErrorSchedule {
    seen: AtomicU64,
}

impl ErrorSchedule {
    /// Whether the next request under `rate` should fail; rates of 0 or 1 do not touch the counter.
    pub(crate) fn should_fail(&self, rate: f64) -> bool {
        if rate.is_nan() || rate <= 0.0 {
            return false;
        }
        if rate >= 1.0 {
            return true;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * rate).ceil() > (n * rate).ceil()
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name).and_then(|v| v.parse().ok())
}

fn parse_flag(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn without_override_headers_the_config_applies() {
        let config = MockConfig {
            status: Some(503),
            retry_after: Some(7),
            ..MockConfig::default()
        };
        let faults = RequestFaults::resolve(&config, &headers(&[("authorization", "Bearer x")]));
        assert_eq!(faults, RequestFaults::from_config(&config));
        assert_eq!(
            (faults.status, faults.retry_after, faults.chunks),
            (Some(503), Some(7), 5)
        );
    }

    #[test]
    fn override_headers_replace_config_values() {
        let h = headers(&[
            ("x-mock-status", "429"),
            ("x-mock-retry-after", "2"),
            ("x-mock-ttft-ms", "150"),
            ("x-mock-chunk-delay-ms", "20"),
            ("x-mock-chunks", "3"),
            ("x-mock-error-rate", "0.25"),
            ("x-mock-hang-ms", "5000"),
            ("x-mock-disconnect-after", "2"),
            ("x-mock-no-usage", "1"),
            ("x-mock-cached-tokens", "4"),
            ("x-mock-cache-creation-tokens", "6"),
            ("x-mock-reasoning-tokens", "9"),
        ]);
        let f = RequestFaults::resolve(&MockConfig::default(), &h);
        assert_eq!((f.status, f.retry_after, f.chunks), (Some(429), Some(2), 3));
        assert_eq!(
            (f.ttft, f.chunk_delay),
            (Duration::from_millis(150), Duration::from_millis(20))
        );
        assert_eq!(f.hang, Hang::For(Duration::from_millis(5000)));
        assert_eq!((f.disconnect_after, f.no_usage), (Some(2), true));
        assert_eq!(
            (f.cached_tokens, f.cache_creation_tokens, f.reasoning_tokens),
            (4, 6, 9)
        );
        assert!((f.error_rate - 0.25).abs() < f64::EPSILON);
    }

    #[test]
    fn success_status_header_cancels_a_forced_error_and_bad_values_are_ignored() {
        let config = MockConfig {
            status: Some(500),
            chunks: 4,
            ..MockConfig::default()
        };
        let f = RequestFaults::resolve(
            &config,
            &headers(&[("x-mock-status", "200"), ("x-mock-chunks", "many")]),
        );
        assert_eq!((f.status, f.chunks), (None, 4));
    }

    #[test]
    fn error_schedule_fails_first_then_spreads_evenly() {
        let schedule = ErrorSchedule::default();
        let got: Vec<bool> = (0..6).map(|_| schedule.should_fail(0.5)).collect();
        assert_eq!(got, [true, false, true, false, true, false]);
        let tenth = ErrorSchedule::default();
        let failures = (0..100).filter(|_| tenth.should_fail(0.1)).count();
        assert_eq!(failures, 10);
        assert!(!schedule.should_fail(0.0) && schedule.should_fail(1.0));
    }
}

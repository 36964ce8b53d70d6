//! OpenAI's rate-limit headers (`x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests`,
//! `x-ratelimit-reset-requests` and the `-tokens` trio), from the tightest limit that applied to a call.

use crate::state::Reading;

/// The request limit and token limit of one check (at most one of them is set).
pub type LimitPair = (Option<i64>, Option<i64>);

/// One limit as the headers show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Trio {
    limit: i64,
    remaining: i64,
    reset_ms: u64,
}

impl Trio {
    fn new(limit: i64, reading: Reading) -> Self {
        Self {
            limit,
            remaining: (limit - reading.used).max(0),
            reset_ms: reading.reset_ms,
        }
    }
}

/// The headers of one call; empty when no RPM or TPM limit applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    requests: Option<Trio>,
    tokens: Option<Trio>,
}

impl RateHeaders {
    /// From the limits of an admission (`(requests limit, tokens limit)` per check) and its readings: for each
    /// kind, the limit with the fewest remaining.
    pub fn from_readings(limits: &[LimitPair], readings: &[Reading]) -> Self {
        let tightest = |pick: fn(&LimitPair) -> Option<i64>| {
            limits
                .iter()
                .zip(readings)
                .filter_map(|(l, r)| pick(l).map(|limit| Trio::new(limit, *r)))
                .min_by_key(|t| t.remaining)
        };
        Self {
            requests: tightest(|l| l.0),
            tokens: tightest(|l| l.1),
        }
    }

    /// A refused request limit.
    pub fn requests(limit: i64, reading: Reading) -> Self {
        Self {
            requests: Some(Trio::new(limit, reading)),
            tokens: None,
        }
    }

    /// A refused token limit.
    pub fn tokens(limit: i64, reading: Reading) -> Self {
        Self {
            requests: None,
            tokens: Some(Trio::new(limit, reading)),
        }
    }

    /// The header names and values.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(t) = self.requests {
            pairs.push(("x-ratelimit-limit-requests", t.limit.to_string()));
            pairs.push(("x-ratelimit-remaining-requests", t.remaining.to_string()));
            pairs.push(("x-ratelimit-reset-requests", format_reset(t.reset_ms)));
        }
        if let Some(t) = self.tokens {
            pairs.push(("x-ratelimit-limit-tokens", t.limit.to_string()));
            pairs.push(("x-ratelimit-remaining-tokens", t.remaining.to_string()));
            pairs.push(("x-ratelimit-reset-tokens", format_reset(t.reset_ms)));
        }
        pairs
    }
}

/// A duration the way OpenAI writes resets: `20ms`, `1s`, `6m0s`.
pub fn format_reset(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let secs = ms.div_ceil(1_000);
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_are_written_like_openai() {
        assert_eq!(format_reset(20), "20ms");
        assert_eq!(format_reset(1_000), "1s");
        assert_eq!(format_reset(1_001), "2s");
        assert_eq!(format_reset(360_000), "6m0s");
    }

    #[test]
    fn the_tightest_limit_of_each_kind_is_shown() {
        let reading = |used| Reading {
            used,
            reset_ms: 30_000,
            window_start: 0,
        };
        let headers = RateHeaders::from_readings(
            &[(Some(10), None), (Some(100), None), (None, Some(1_000))],
            &[reading(3), reading(99), reading(400)],
        );
        let pairs = headers.pairs();
        assert!(pairs.contains(&("x-ratelimit-limit-requests", "100".into())));
        assert!(pairs.contains(&("x-ratelimit-remaining-requests", "1".into())));
        assert!(pairs.contains(&("x-ratelimit-remaining-tokens", "600".into())));
        assert!(pairs.contains(&("x-ratelimit-reset-tokens", "30s".into())));
    }
}

//! A deployment's own requests-per-minute and tokens-per-minute limits (a provider account's quota, say), as
//! seen by this replica: calls and tokens are counted in fixed one-minute windows, and a deployment whose window
//! is full is passed over by routing like one that is cooling down, so the call goes to another deployment
//! instead of collecting the provider's 429.

use std::sync::atomic::{AtomicU64, Ordering};

const WINDOW_MS: u64 = 60_000;

/// The limits set on a deployment (`None`: unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnLimits {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

impl OwnLimits {
    /// Whether any limit is set.
    pub fn any(self) -> bool {
        self.rpm.is_some() || self.tpm.is_some()
    }
}

/// The current minute's counts of one deployment.
#[derive(Debug, Default)]
pub struct Quota {
    /// Index of the minute the counts belong to (`now_ms / 60 000`).
    window: AtomicU64,
    requests: AtomicU64,
    tokens: AtomicU64,
}

impl Quota {
    /// Whether a call with about `tokens` prompt tokens fits in this minute's window.
    pub fn admits(&self, limits: OwnLimits, now_ms: u64, tokens: u64) -> bool {
        if !limits.any() {
            return true;
        }
        self.roll(now_ms);
        let requests = self.requests.load(Ordering::Relaxed);
        let used = self.tokens.load(Ordering::Relaxed);
        // A call larger than the whole TPM limit still goes when the minute is untouched, or it never could.
        limits.rpm.is_none_or(|rpm| requests < rpm)
            && limits
                .tpm
                .is_none_or(|tpm| used == 0 || (used < tpm && used.saturating_add(tokens) <= tpm))
    }

    /// Counts one request sent to the deployment.
    pub fn count_request(&self, now_ms: u64) {
        self.roll(now_ms);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the tokens a call consumed once they are known.
    pub fn count_tokens(&self, now_ms: u64, tokens: u64) {
        self.roll(now_ms);
        self.tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    /// Milliseconds until the next window starts.
    pub fn next_window_in_ms(now_ms: u64) -> u64 {
        WINDOW_MS - now_ms % WINDOW_MS
    }

    /// Starts a new window when the minute has changed. Two threads racing here both see the new minute; only
    /// the one that swaps the index resets the counts, so at most a count or two lands on the old minute.
    fn roll(&self, now_ms: u64) {
        let minute = now_ms / WINDOW_MS;
        let seen = self.window.load(Ordering::Acquire);
        if seen != minute
            && self
                .window
                .compare_exchange(seen, minute, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.requests.store(0, Ordering::Relaxed);
            self.tokens.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_request_window_refuses_until_the_next_minute() {
        let quota = Quota::default();
        let limits = OwnLimits {
            rpm: Some(2),
            tpm: None,
        };
        let t = 120_000;
        assert!(quota.admits(limits, t, 0));
        quota.count_request(t);
        quota.count_request(t + 1);
        assert!(!quota.admits(limits, t + 2, 0));
        assert_eq!(Quota::next_window_in_ms(t + 2), 59_998);
        assert!(quota.admits(limits, t + 60_000, 0));
    }

    #[test]
    fn tokens_count_against_the_tpm_limit_with_the_calls_estimate() {
        let quota = Quota::default();
        let limits = OwnLimits {
            rpm: None,
            tpm: Some(1_000),
        };
        assert!(quota.admits(limits, 0, 1_000));
        // Bigger than the whole limit: only in an untouched minute.
        assert!(quota.admits(limits, 0, 1_001));
        quota.count_tokens(0, 1);
        assert!(!quota.admits(limits, 0, 1_000));
        quota.count_tokens(0, 899);
        assert!(quota.admits(limits, 1, 100));
        assert!(!quota.admits(limits, 1, 101));
        quota.count_tokens(1, 100);
        assert!(!quota.admits(limits, 2, 0));
        assert!(quota.admits(limits, 60_000, 500));
    }

    #[test]
    fn no_limits_admit_everything() {
        let quota = Quota::default();
        quota.count_request(0);
        assert!(quota.admits(OwnLimits::default(), 0, u64::MAX));
    }
}

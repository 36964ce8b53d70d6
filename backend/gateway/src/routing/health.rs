//! Passive health of one deployment, learned from the calls this replica sends it (no probing traffic): a
//! latency and time-to-first-token EWMA and the number of calls in flight for the latency strategy; a rolling
//! error rate and consecutive failures that open a circuit breaker; a half-open state that lets exactly one
//! probe call through; and a cooldown after the provider answered 429, for as long as its `Retry-After` says.
//!
//! Reads on the routing path are lock-free (atomics); recording an outcome takes a short mutex for the rolling
//! window. Health is per replica, like Envoy's outlier detection: every replica learns from its own traffic.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// When circuits open and close.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthPolicy {
    /// Consecutive failures that open the circuit.
    pub consecutive_failures: u32,
    /// Error rate over the window that opens the circuit…
    pub error_rate: f64,
    /// …once the window holds at least this many calls.
    pub min_calls: u32,
    /// Length of the rolling window.
    pub window: Duration,
    /// How long an open circuit refuses calls before letting one probe through.
    pub open_for: Duration,
    /// Cooldown after a 429 that carried no `Retry-After`.
    pub default_cooldown: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            error_rate: 0.5,
            min_calls: 20,
            window: Duration::from_secs(30),
            open_for: Duration::from_secs(30),
            default_cooldown: Duration::from_secs(5),
        }
    }
}

/// The circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Closed,
    Open,
    HalfOpen,
}

impl Circuit {
    /// For metrics and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;
const BUCKETS: usize = 10;

/// Milliseconds since this process first asked; monotonic.
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Default)]
struct Window {
    /// (bucket start ms, calls, failures)
    buckets: [(u64, u32, u32); BUCKETS],
    consecutive_failures: u32,
}

/// The health of one deployment.
#[derive(Debug)]
pub struct DeploymentHealth {
    policy: HealthPolicy,
    circuit: AtomicU8,
    open_until_ms: AtomicU64,
    cooldown_until_ms: AtomicU64,
    probe_taken: AtomicBool,
    in_flight: AtomicU64,
    /// f64 bits; 0 until the first success.
    latency_ewma_us: AtomicU64,
    ttft_ewma_us: AtomicU64,
    window: Mutex<Window>,
    /// This minute's calls and tokens against the deployment's own RPM / TPM limits.
    quota: super::Quota,
}

/// Why a deployment was not tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Its circuit is open (too many failures).
    CircuitOpen,
    /// It answered 429 and asked us to wait.
    CoolingDown,
}

impl Unavailable {
    /// For error messages and attempt logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CircuitOpen => "circuit_open",
            Self::CoolingDown => "cooling_down",
        }
    }
}

/// A call in flight on a deployment; counted until dropped.
#[derive(Debug)]
pub struct InFlight {
    health: Arc<DeploymentHealth>,
    /// This call is the half-open circuit's one probe.
    probe: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.health.in_flight.fetch_sub(1, Ordering::Relaxed);
        // A probe that ended without a verdict (the caller's own 4xx, or the client went away) must hand the
        // probe on, or the circuit would stay half-open with nobody allowed to test it.
        if self.probe && self.health.circuit.load(Ordering::Acquire) == HALF_OPEN {
            self.health.probe_taken.store(false, Ordering::Release);
        }
    }
}

impl DeploymentHealth {
    /// A healthy deployment.
    pub fn new(policy: HealthPolicy) -> Self {
        Self {
            policy,
            circuit: AtomicU8::new(CLOSED),
            open_until_ms: AtomicU64::new(0),
            cooldown_until_ms: AtomicU64::new(0),
            probe_taken: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            latency_ewma_us: AtomicU64::new(0),
            ttft_ewma_us: AtomicU64::new(0),
            window: Mutex::new(Window::default()),
            quota: super::Quota::default(),
        }
    }

    /// This minute's counts against the deployment's own limits.
    pub fn quota(&self) -> &super::Quota {
        &self.quota
    }

    /// Whether the deployment may be chosen now (without taking a half-open probe).
    pub fn check(&self, now: u64) -> Result<(), Unavailable> {
        if self.cooldown_until_ms.load(Ordering::Relaxed) > now {
            return Err(Unavailable::CoolingDown);
        }
        match self.circuit.load(Ordering::Acquire) {
            OPEN if self.open_until_ms.load(Ordering::Relaxed) > now => {
                Err(Unavailable::CircuitOpen)
            }
            HALF_OPEN if self.probe_taken.load(Ordering::Relaxed) => Err(Unavailable::CircuitOpen),
            _ => Ok(()),
        }
    }

    /// Starts a call: counts it in flight and, when the circuit is due for a probe, takes the one probe.
    /// `None` when another call took the probe first.
    pub fn begin(self: &Arc<Self>, now: u64) -> Option<InFlight> {
        self.check(now).ok()?;
        let state = self.circuit.load(Ordering::Acquire);
        if state == OPEN {
            // The open period is over: the first caller moves the circuit to half-open.
            let _ =
                self.circuit
                    .compare_exchange(OPEN, HALF_OPEN, Ordering::AcqRel, Ordering::Acquire);
        }
        let probe = self.circuit.load(Ordering::Acquire) == HALF_OPEN;
        if probe
            && self
                .probe_taken
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return None;
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            health: Arc::clone(self),
            probe,
        })
    }

    /// A call succeeded after `latency`, its first byte after `ttft` (streams).
    pub fn record_success(&self, latency: Duration, ttft: Option<Duration>) {
        update_ewma(&self.latency_ewma_us, latency);
        if let Some(ttft) = ttft {
            update_ewma(&self.ttft_ewma_us, ttft);
        }
        self.record(now_ms(), false);
        if self.circuit.load(Ordering::Acquire) != CLOSED {
            self.circuit.store(CLOSED, Ordering::Release);
            self.probe_taken.store(false, Ordering::Release);
            tracing::info!("deployment circuit closed after a successful probe");
        }
    }

    /// A call failed (connection error, 5xx, time-out).
    pub fn record_failure(&self) {
        let now = now_ms();
        let trip = self.record(now, true);
        let state = self.circuit.load(Ordering::Acquire);
        if state == HALF_OPEN || (state == CLOSED && trip) {
            self.open_until_ms.store(
                now + u64::try_from(self.policy.open_for.as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            self.circuit.store(OPEN, Ordering::Release);
            self.probe_taken.store(false, Ordering::Release);
        }
    }

    /// The provider answered 429: no calls until `retry_after` (or the default cooldown) has passed. A
    /// saturated deployment is not a failing one, so the circuit is left alone.
    pub fn record_rate_limited(&self, retry_after: Option<Duration>) {
        let pause = retry_after.unwrap_or(self.policy.default_cooldown);
        let until = now_ms() + u64::try_from(pause.as_millis()).unwrap_or(u64::MAX);
        self.cooldown_until_ms.fetch_max(until, Ordering::Relaxed);
        if self.circuit.load(Ordering::Acquire) == HALF_OPEN {
            self.probe_taken.store(false, Ordering::Release);
        }
    }

    /// Adds an outcome to the window; true when the circuit should open.
    fn record(&self, now: u64, failed: bool) -> bool {
        let bucket_ms = (u64::try_from(self.policy.window.as_millis()).unwrap_or(u64::MAX)
            / BUCKETS as u64)
            .max(1);
        let start = now - now % bucket_ms;
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = usize::try_from(start / bucket_ms).unwrap_or(0) % BUCKETS;
        if window.buckets[slot].0 != start {
            window.buckets[slot] = (start, 0, 0);
        }
        window.buckets[slot].1 += 1;
        if failed {
            window.buckets[slot].2 += 1;
            window.consecutive_failures += 1;
        } else {
            window.consecutive_failures = 0;
        }
        let oldest = start.saturating_sub(bucket_ms * (BUCKETS as u64 - 1));
        let (calls, failures) = window
            .buckets
            .iter()
            .filter(|(s, _, _)| *s >= oldest)
            .fold((0u32, 0u32), |(c, f), (_, bc, bf)| (c + bc, f + bf));
        failed
            && (window.consecutive_failures >= self.policy.consecutive_failures
                || (calls >= self.policy.min_calls
                    && f64::from(failures) / f64::from(calls) >= self.policy.error_rate))
    }

    /// Milliseconds until the deployment may be tried again; 0 when it may be now.
    pub fn available_in_ms(&self, now: u64) -> u64 {
        let cooldown = self
            .cooldown_until_ms
            .load(Ordering::Relaxed)
            .saturating_sub(now);
        let open = if self.circuit.load(Ordering::Acquire) == OPEN {
            self.open_until_ms
                .load(Ordering::Relaxed)
                .saturating_sub(now)
        } else {
            0
        };
        cooldown.max(open)
    }

    /// The circuit's state now.
    pub fn circuit(&self) -> Circuit {
        match self.circuit.load(Ordering::Acquire) {
            OPEN => Circuit::Open,
            HALF_OPEN => Circuit::HalfOpen,
            _ => Circuit::Closed,
        }
    }

    /// Calls in flight.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Latency EWMA in microseconds; `None` before the first success.
    pub fn latency_us(&self) -> Option<f64> {
        let bits = self.latency_ewma_us.load(Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }

    /// Time-to-first-token EWMA in microseconds; `None` before the first streamed success.
    pub fn ttft_us(&self) -> Option<f64> {
        let bits = self.ttft_ewma_us.load(Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }
}

/// Weight of the newest sample.
const ALPHA: f64 = 0.2;

fn update_ewma(cell: &AtomicU64, sample: Duration) {
    let sample = sample.as_secs_f64() * 1e6;
    // A lost update under a race only drops one sample; a compare-exchange loop would buy nothing here.
    let old = cell.load(Ordering::Relaxed);
    let next = if old == 0 {
        sample
    } else {
        f64::from_bits(old) * (1.0 - ALPHA) + sample * ALPHA
    };
    cell.store(next.max(1.0).to_bits(), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast_policy() -> HealthPolicy {
        HealthPolicy {
            consecutive_failures: 3,
            min_calls: 100,
            open_for: Duration::from_millis(50),
            ..HealthPolicy::default()
        }
    }

    #[test]
    fn consecutive_failures_open_the_circuit_and_one_probe_closes_it() {
        let health = Arc::new(DeploymentHealth::new(fast_policy()));
        for _ in 0..3 {
            assert!(health.begin(now_ms()).is_some());
            health.record_failure();
        }
        assert_eq!(health.circuit(), Circuit::Open);
        assert_eq!(health.check(now_ms()), Err(Unavailable::CircuitOpen));
        std::thread::sleep(Duration::from_millis(60));
        let probe = health.begin(now_ms());
        assert!(probe.is_some(), "the open period is over: one probe");
        assert!(health.begin(now_ms()).is_none(), "only one probe at a time");
        drop(probe);
        health.record_success(Duration::from_millis(10), None);
        assert_eq!(health.circuit(), Circuit::Closed);
        assert!(health.begin(now_ms()).is_some());
    }

    #[test]
    fn a_failed_probe_reopens_the_circuit() {
        let health = Arc::new(DeploymentHealth::new(fast_policy()));
        for _ in 0..3 {
            health.record_failure();
        }
        std::thread::sleep(Duration::from_millis(60));
        let _probe = health.begin(now_ms());
        assert_eq!(health.circuit(), Circuit::HalfOpen);
        health.record_failure();
        assert_eq!(health.circuit(), Circuit::Open);
        assert!(health.begin(now_ms()).is_none());
    }

    #[test]
    fn the_error_rate_opens_the_circuit_once_the_window_is_full_enough() {
        let health = Arc::new(DeploymentHealth::new(HealthPolicy {
            consecutive_failures: 1_000,
            min_calls: 10,
            ..HealthPolicy::default()
        }));
        for i in 0..10 {
            if i % 2 == 0 {
                health.record_success(Duration::from_millis(1), None);
            } else {
                health.record_failure();
            }
        }
        assert_eq!(health.circuit(), Circuit::Open, "5 of 10 failed");
    }

    #[test]
    fn a_probe_that_ends_without_a_verdict_hands_the_probe_on() {
        let health = Arc::new(DeploymentHealth::new(fast_policy()));
        for _ in 0..3 {
            health.record_failure();
        }
        std::thread::sleep(Duration::from_millis(60));
        let probe = health.begin(now_ms());
        assert!(probe.is_some());
        drop(probe);
        assert!(health.begin(now_ms()).is_some(), "the next call may probe");
    }

    #[test]
    fn a_429_cools_the_deployment_down_without_opening_the_circuit() {
        let health = Arc::new(DeploymentHealth::new(fast_policy()));
        health.record_rate_limited(Some(Duration::from_millis(40)));
        assert_eq!(health.check(now_ms()), Err(Unavailable::CoolingDown));
        assert_eq!(health.circuit(), Circuit::Closed);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(health.check(now_ms()), Ok(()));
    }

    #[test]
    fn in_flight_calls_are_counted_until_dropped_and_latency_is_averaged() {
        let health = Arc::new(DeploymentHealth::new(HealthPolicy::default()));
        let a = health.begin(now_ms());
        let b = health.begin(now_ms());
        assert_eq!(health.in_flight(), 2);
        drop((a, b));
        assert_eq!(health.in_flight(), 0);
        health.record_success(Duration::from_millis(100), None);
        health.record_success(Duration::from_millis(200), None);
        let latency = health.latency_us().unwrap_or_default();
        assert!((latency - 120_000.0).abs() < 1.0, "{latency}");
    }
}

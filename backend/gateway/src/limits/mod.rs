//! Spend control on the proxy path: rate limits (requests and tokens per minute for the key, its team and its
//! tenant), the key's concurrency limit, and budgets (hierarchical: a call must fit every budget that covers it
//! and is charged to all of them).
//!
//! A call is admitted before it goes upstream: its worst-case cost (prompt tokens counted + the most output it
//! may produce) is reserved in every covering budget, its worst-case tokens in every TPM window, one request in
//! every RPM window and one in-flight slot, all in one atomic step in the shared state (a Lua script on Redis,
//! so every replica sees the same counters). A call that does not fit anywhere is refused and counted nowhere,
//! never shrunk to fit. When it ends, however it ends (finished, failed, abandoned mid-stream), its [`Ticket`]
//! settles the reservation to the real cost and tokens. The hot path reads budgets and limits from memory only.

mod budgets;
mod headers;
mod webhooks;

pub use budgets::{BudgetBook, BudgetPeriod, BudgetRule, BudgetScope, Period, scope_of};
pub use headers::{RateHeaders, format_reset};
pub use webhooks::Notifier;

use crate::auth::AuthenticatedKey;
use crate::money::Picos;
use crate::state::{
    Admission, AdmitOutcome, BudgetCharge, Check, Reading, Settlement, SharedState, StateError,
};
use crate::store::Repo;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use uuid::Uuid;

/// One minute: the window of RPM and TPM limits.
const MINUTE_MS: u64 = 60_000;
/// After the shared state failed, calls skip it for this long instead of each waiting for a time-out.
const OUTAGE_BACKOFF_MS: u64 = 1_000;

/// The worst case of a call, reserved before it goes upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Prompt tokens plus the most output tokens the call may produce.
    pub tokens: i64,
    pub cost: Picos,
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A requests-per-minute, tokens-per-minute or concurrency limit.
    RateLimited {
        message: String,
        /// `requests` or `tokens`, as OpenAI's `type`.
        kind: &'static str,
        code: &'static str,
        retry_after_secs: u64,
        headers: RateHeaders,
    },
    /// A hard budget would be exceeded.
    BudgetExceeded {
        message: String,
        retry_after_secs: Option<u64>,
    },
    /// The shared counters are unreachable and the tenant chose to fail closed.
    Unavailable,
}

/// Rate limits, concurrency and budgets, for every worker of this replica.
pub struct Limits {
    state: Arc<dyn SharedState>,
    budgets: Arc<BudgetBook>,
    repo: Repo,
    storage_runtime: tokio::runtime::Handle,
    notifier: Notifier,
    /// How long an in-flight slot or reservation lives without being settled: longer than any call.
    lease: Duration,
    /// Milliseconds since the epoch until which the shared state is considered down.
    outage_until: AtomicU64,
    /// Each budget's recorded spend in its current period, as of the last reconciliation (for `/metrics`).
    recorded: std::sync::Mutex<Vec<BudgetSpend>>,
}

/// A budget's spend in its current period as storage has recorded it.
#[derive(Debug, Clone)]
pub struct BudgetSpend {
    pub budget_id: uuid::Uuid,
    pub tenant_id: uuid::Uuid,
    pub name: String,
    pub spent_picos: i64,
    pub limit_picos: i64,
}

/// A check of an admission, with what settling it needs.
enum Planned {
    Requests {
        limit: i64,
    },
    Tokens {
        limit: i64,
        key: String,
        reserved: i64,
    },
    Concurrency {
        key: String,
    },
    Budget(BudgetPeriod),
}

impl Limits {
    /// Builds the enforcer; `lease` must exceed the longest call (the upstream total time-out).
    pub fn new(
        state: Arc<dyn SharedState>,
        budgets: Arc<BudgetBook>,
        repo: Repo,
        storage_runtime: tokio::runtime::Handle,
        lease: Duration,
        egress: &Arc<crate::egress::EgressPolicy>,
    ) -> Arc<Self> {
        Arc::new(Self {
            notifier: Notifier::new(storage_runtime.clone(), egress),
            state,
            budgets,
            repo,
            storage_runtime,
            lease,
            outage_until: AtomicU64::new(0),
            recorded: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Every `every`, raises each budget's live counter to the spend storage has recorded for its period
    /// when the counter is lower: calls served unmetered while Redis was unreachable, settlements that never
    /// arrived and events still queued when a period was seeded are counted again. Never lowers a counter.
    pub fn spawn_reconciler(self: &Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(self);
        self.storage_runtime.spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(limits) = weak.upgrade() else { return };
                limits.reconcile_once().await;
            }
        });
    }

    /// One reconciliation pass over every budget.
    pub async fn reconcile_once(&self) {
        let now = chrono::Utc::now();
        let mut spends = Vec::new();
        let mut counters_down = false;
        for rule in self.budgets.all() {
            let period = rule.period_at(now);
            let recorded = match self
                .repo
                .spend_since(rule.tenant_id, &rule.scope, period.start)
                .await
            {
                Ok(recorded) => recorded,
                Err(e) => {
                    tracing::warn!(error = %e, "budget reconciliation skipped: storage unavailable");
                    return;
                }
            };
            spends.push(BudgetSpend {
                budget_id: rule.id,
                tenant_id: rule.tenant_id,
                name: rule.name.clone(),
                spent_picos: recorded,
                limit_picos: rule.limit_picos,
            });
            if counters_down {
                continue;
            }
            match self.state.reconcile_budget(&period.key, recorded).await {
                Ok(true) => {
                    tracing::warn!(budget = %rule.id, recorded, "a budget counter had missed spend; raised to the recorded spend");
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "budget reconciliation skipped: counters unreachable");
                    counters_down = true;
                }
            }
        }
        *self
            .recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = spends;
    }

    /// Every budget's recorded spend in its current period, as of the last reconciliation.
    pub fn recorded_spend(&self) -> Vec<BudgetSpend> {
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The budgets of this replica (for reloads and tests).
    pub fn budgets(&self) -> &Arc<BudgetBook> {
        &self.budgets
    }

    /// Admits a call or says why not. `estimate` is only computed when a token limit or a budget needs it.
    pub async fn admit(
        self: &Arc<Self>,
        key: &AuthenticatedKey,
        tags: &BTreeMap<String, String>,
        estimate: impl FnOnce() -> Estimate,
    ) -> Result<Ticket, Box<Refusal>> {
        let now = chrono::Utc::now();
        let budgets = self.budgets.covering(key, tags);
        let limits = &key.limits;
        let tenant = key.tenant_id;
        let token_limits = [limits.key_tpm, limits.team_tpm, limits.tenant_tpm];
        let needs_estimate = !budgets.is_empty() || token_limits.iter().any(Option::is_some);
        let estimate = if needs_estimate {
            estimate()
        } else {
            Estimate::default()
        };
        let mut planned = Vec::new();
        let mut checks = Vec::new();
        let request_limits = [limits.key_rpm, limits.team_rpm, limits.tenant_rpm];
        for (limit, counter) in set_levels(key, "rpm", request_limits) {
            checks.push(Check::Window {
                key: counter,
                limit,
                amount: 1,
                window_ms: MINUTE_MS,
            });
            planned.push(Planned::Requests { limit });
        }
        for (limit, counter) in set_levels(key, "tpm", token_limits) {
            checks.push(Check::Window {
                key: counter.clone(),
                limit,
                amount: estimate.tokens,
                window_ms: MINUTE_MS,
            });
            planned.push(Planned::Tokens {
                limit,
                key: counter,
                reserved: estimate.tokens,
            });
        }
        if let Some(limit) = limits.key_concurrency {
            let counter = format!("inflight:{{{tenant}}}:key:{}", key.lineage_id);
            checks.push(Check::Concurrency {
                key: counter.clone(),
                limit,
            });
            planned.push(Planned::Concurrency { key: counter });
        }
        for rule in budgets {
            let period = rule.period_at(now);
            checks.push(Check::Budget {
                key: period.key.clone(),
                limit: rule.limit_picos,
                hard: rule.hard,
                amount: estimate.cost.0,
                ttl_ms: period.ttl_ms,
            });
            planned.push(Planned::Budget(period));
        }
        if checks.is_empty() {
            return Ok(Ticket::unmetered());
        }
        if let Some(refusal) = never_fits(&planned, &checks) {
            log_refusal(key, &refusal);
            return Err(Box::new(refusal));
        }
        // The reservation assumed the call's output is bounded; a call that set no bound gets one upstream.
        let bounded_output = planned.iter().any(|p| match p {
            Planned::Tokens { .. } => true,
            Planned::Budget(period) => period.rule.hard,
            _ => false,
        });
        let call_id = Uuid::now_v7().to_string();
        let admission = Admission {
            // In the tenant's hash slot, like every counter the scripts touch.
            marker: format!("call:{{{tenant}}}:{call_id}"),
            call_id,
            lease_ms: u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX),
            checks,
            now_ms: crate::state::now_ms(),
        };
        match self.run_admission(&admission, &planned).await {
            Ok(AdmitOutcome::Admitted(readings)) => Ok(Ticket {
                headers: RateHeaders::from_readings(&planned_limits(&planned), &readings),
                bounded_output,
                inner: Some(TicketInner {
                    limits: Arc::clone(self),
                    call_id: admission.call_id,
                    marker: admission.marker,
                    planned,
                    readings,
                }),
            }),
            Ok(AdmitOutcome::Refused { index, reading }) => {
                let refusal = refusal(&planned, &admission.checks, index, reading);
                log_refusal(key, &refusal);
                Err(Box::new(refusal))
            }
            Ok(AdmitOutcome::Unseeded(_)) => {
                tracing::error!("budget counters stayed unseeded after seeding");
                self.unavailable(limits.fail_closed)
            }
            Err(e) => {
                if matches!(e, LimitsError::State(_)) {
                    // The script may have run and only its reply been lost: release what it may have taken, or
                    // a key with max_concurrency = 1 stays locked out until the lease ends. The release applies
                    // only if the admission did (its marker), so it is safe either way.
                    self.release_unanswered(admission, planned);
                }
                self.note_outage(&e);
                self.unavailable(limits.fail_closed)
            }
        }
    }

    /// Gives back the in-flight slots and budget reservations of an admission whose reply never arrived. Window
    /// counters are left as they are (their start is the script's clock, unknown here): at worst a minute's TPM
    /// counts the call's estimate.
    fn release_unanswered(self: &Arc<Self>, admission: Admission, planned: Vec<Planned>) {
        let mut settlement = Settlement {
            call_id: admission.call_id,
            marker: admission.marker,
            ..Settlement::default()
        };
        for planned in planned {
            match planned {
                Planned::Concurrency { key } => settlement.concurrency.push(key),
                Planned::Budget(period) => settlement.budgets.push(BudgetCharge {
                    key: period.key.clone(),
                    actual: 0,
                    ttl_ms: period.ttl_ms,
                    thresholds: Vec::new(),
                }),
                Planned::Requests { .. } | Planned::Tokens { .. } => {}
            }
        }
        self.storage_runtime
            .spawn(Arc::clone(self).settle(settlement, Vec::new()));
    }

    /// Runs the admission, seeding budget periods from storage when the shared state has not seen them.
    async fn run_admission(
        &self,
        admission: &Admission,
        planned: &[Planned],
    ) -> Result<AdmitOutcome, LimitsError> {
        if crate::state::now_ms() < self.outage_until.load(Ordering::Relaxed) {
            return Err(LimitsError::Backoff);
        }
        let mut outcome = self.state.admit(admission).await?;
        // Seeding makes every unseeded period seeded, so one round is enough; the loop bounds a race with a
        // concurrent flush of the shared state.
        for _ in 0..2 {
            let AdmitOutcome::Unseeded(indexes) = &outcome else {
                break;
            };
            for index in indexes {
                if let Some(Planned::Budget(period)) = planned.get(*index) {
                    self.seed(period).await?;
                }
            }
            outcome = self.state.admit(admission).await?;
        }
        Ok(outcome)
    }

    /// Starts a budget period's counter from the spend already recorded in it.
    async fn seed(&self, period: &BudgetPeriod) -> Result<(), LimitsError> {
        let repo = self.repo.clone();
        let (tenant, scope, since) = (
            period.rule.tenant_id,
            period.rule.scope.clone(),
            period.start,
        );
        let spent = self
            .storage_runtime
            .spawn(async move { repo.spend_since(tenant, &scope, since).await })
            .await
            .map_err(|e| LimitsError::Storage(e.to_string()))?
            .map_err(|e| LimitsError::Storage(e.to_string()))?;
        self.state
            .seed_budget(&period.key, spent, period.ttl_ms)
            .await?;
        tracing::info!(budget = %period.rule.id, spent, "seeded a budget period from recorded usage");
        Ok(())
    }

    fn unavailable(&self, fail_closed: bool) -> Result<Ticket, Box<Refusal>> {
        if fail_closed {
            Err(Box::new(Refusal::Unavailable))
        } else {
            Ok(Ticket::unmetered())
        }
    }

    fn note_outage(&self, error: &LimitsError) {
        // Only an unreachable Redis skips it for a while; a failed seeding query or a script error concerns
        // this call alone and must not switch metering off for every tenant.
        let redis = match error {
            // Already known to be down: logged when the backoff began.
            LimitsError::Backoff => return,
            LimitsError::State(StateError::Redis(redis)) => redis,
            other => {
                tracing::error!(error = %other, "checking limits failed; the tenant's failure mode applies to this call");
                return;
            }
        };
        if !(redis.is_io_error()
            || redis.is_timeout()
            || redis.is_connection_dropped()
            || redis.is_connection_refusal())
        {
            tracing::error!(error = %error, "the limit counters refused a script; the tenant's failure mode applies to this call");
            return;
        }
        let until = crate::state::now_ms() + OUTAGE_BACKOFF_MS;
        let previous = self.outage_until.swap(until, Ordering::Relaxed);
        if previous < crate::state::now_ms() {
            tracing::error!(error = %error, "limit counters unreachable; each tenant's failure mode applies");
        }
    }

    /// Applies a finished call's real figures; retried briefly, because a lost settlement under-counts spend. A
    /// retry is safe: the settlement applies only once per admission (its marker).
    async fn settle(self: Arc<Self>, settlement: Settlement, periods: Vec<BudgetPeriod>) {
        let mut pause = Duration::from_millis(50);
        for attempt in 1..=5 {
            match self.state.settle(&settlement).await {
                Ok(crossed) => {
                    for crossing in crossed {
                        if let Some(period) = periods.get(crossing.budget) {
                            self.notifier.threshold_crossed(
                                period,
                                crossing.threshold,
                                crossing.spent,
                            );
                        }
                    }
                    return;
                }
                Err(e) if attempt == 5 => {
                    tracing::error!(error = %e, call = %settlement.call_id, "settling a call failed; its reservation expires with its lease");
                }
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum LimitsError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("reading recorded spend failed: {0}")]
    Storage(String),
    #[error("the shared state failed moments ago")]
    Backoff,
}

/// The limits set at the key, team and tenant levels, each with its counter. Counter names are only built for
/// limits that are set: most calls have none, and this runs on every call.
fn set_levels<'a>(
    key: &'a AuthenticatedKey,
    kind: &'static str,
    limits: [Option<i64>; 3],
) -> impl Iterator<Item = (i64, String)> + 'a {
    let tenant = key.tenant_id;
    limits
        .into_iter()
        .enumerate()
        .filter_map(move |(level, limit)| {
            let limit = limit?;
            let counter = match level {
                0 => format!("{kind}:{{{tenant}}}:key:{}", key.lineage_id),
                1 => format!("{kind}:{{{tenant}}}:team:{}", key.team_id),
                _ => format!("{kind}:{{{tenant}}}:tenant"),
            };
            Some((limit, counter))
        })
}

fn planned_limits(planned: &[Planned]) -> Vec<headers::LimitPair> {
    planned
        .iter()
        .map(|p| match p {
            Planned::Requests { limit } => (Some(*limit), None),
            Planned::Tokens { limit, .. } => (None, Some(*limit)),
            _ => (None, None),
        })
        .collect()
}

fn refusal(planned: &[Planned], checks: &[Check], index: usize, reading: Reading) -> Refusal {
    let level = level_of;
    let retry_after_secs = reading.reset_ms.div_ceil(1000).max(1);
    match (planned.get(index), checks.get(index)) {
        (Some(Planned::Requests { limit }), Some(check)) => Refusal::RateLimited {
            message: format!(
                "rate limit reached for requests: the {} allows {limit} requests per minute; retry after {retry_after_secs}s",
                level(check.key())
            ),
            kind: "requests",
            code: "rate_limit_exceeded",
            retry_after_secs,
            headers: RateHeaders::requests(*limit, reading),
        },
        (
            Some(Planned::Tokens {
                limit, reserved, ..
            }),
            Some(check),
        ) => Refusal::RateLimited {
            message: format!(
                "rate limit reached for tokens: the {} allows {limit} tokens per minute, {} are used and this request may need {reserved} (prompt + max output tokens); retry after {retry_after_secs}s",
                level(check.key()),
                reading.used
            ),
            kind: "tokens",
            code: "rate_limit_exceeded",
            retry_after_secs,
            headers: RateHeaders::tokens(*limit, reading),
        },
        (Some(Planned::Concurrency { .. }), Some(Check::Concurrency { limit, .. })) => {
            Refusal::RateLimited {
                message: format!(
                    "concurrency limit reached: this API key may have at most {limit} in flight at once"
                ),
                kind: "requests",
                code: "concurrency_limit_exceeded",
                retry_after_secs: 1,
                headers: RateHeaders::default(),
            }
        }
        (Some(Planned::Budget(period)), Some(Check::Budget { amount, .. })) => {
            let rule = &period.rule;
            let retry_after_secs = period.end.and_then(|end| {
                u64::try_from((end - chrono::Utc::now()).num_seconds().max(1)).ok()
            });
            Refusal::BudgetExceeded {
                message: format!(
                    "budget `{}` ({}) is exhausted for this period: limit {}, already spent or reserved {}, this request may cost up to {}",
                    rule.name,
                    rule.id,
                    Picos(rule.limit_picos),
                    Picos(reading.used),
                    Picos(*amount)
                ),
                retry_after_secs,
            }
        }
        _ => Refusal::Unavailable,
    }
}

/// A check the call can never fit, whatever the counters say (its worst case alone exceeds the limit): refused
/// without asking the shared state, and without a `Retry-After` that would suggest waiting helps.
fn never_fits(planned: &[Planned], checks: &[Check]) -> Option<Refusal> {
    for (planned, check) in planned.iter().zip(checks) {
        match (planned, check) {
            (
                Planned::Tokens {
                    limit, reserved, ..
                },
                Check::Window { key, .. },
            ) if reserved > limit => {
                return Some(Refusal::RateLimited {
                    message: format!(
                        "request too large: it may need {reserved} tokens (prompt + max output tokens) but the {} allows {limit} tokens per minute; lower max_tokens",
                        level_of(key)
                    ),
                    kind: "tokens",
                    code: "rate_limit_exceeded",
                    retry_after_secs: 0,
                    headers: RateHeaders::default(),
                });
            }
            (Planned::Budget(period), Check::Budget { amount, .. })
                if period.rule.hard && *amount > period.rule.limit_picos =>
            {
                return Some(Refusal::BudgetExceeded {
                    message: format!(
                        "this request may cost up to {} which is more than the whole limit {} of budget `{}` ({}); lower max_tokens",
                        Picos(*amount),
                        Picos(period.rule.limit_picos),
                        period.rule.name,
                        period.rule.id
                    ),
                    retry_after_secs: None,
                });
            }
            _ => {}
        }
    }
    None
}

fn level_of(key: &str) -> &'static str {
    if key.contains(":key:") {
        "API key"
    } else if key.contains(":team:") {
        "team"
    } else {
        "tenant"
    }
}

/// Refusals are logged (metrics come with observability) so operators can see what limits turned away.
fn log_refusal(key: &AuthenticatedKey, refusal: &Refusal) {
    let reason = match refusal {
        Refusal::RateLimited { code, kind, .. } => format!("{code}:{kind}"),
        Refusal::BudgetExceeded { .. } => "budget_exceeded".into(),
        Refusal::Unavailable => "limits_unavailable".into(),
    };
    tracing::info!(tenant = %key.tenant_id, key = %key.prefix, reason, "call refused by limits");
}

/// An admitted call's claim on the counters. Settle it with the real figures; dropping it unsettled (the
/// call never reached a provider) releases everything it reserved.
pub struct Ticket {
    pub headers: RateHeaders,
    /// A TPM limit or hard budget reserved for a bounded output: the upstream call must carry that bound.
    pub bounded_output: bool,
    inner: Option<TicketInner>,
}

struct TicketInner {
    limits: Arc<Limits>,
    call_id: String,
    marker: String,
    planned: Vec<Planned>,
    readings: Vec<Reading>,
}

impl Ticket {
    /// A call nothing limits (or one let through unmetered while the counters are unreachable).
    pub fn unmetered() -> Self {
        Self {
            headers: RateHeaders::default(),
            bounded_output: false,
            inner: None,
        }
    }

    /// Replaces the reservations with what the call really used.
    pub fn settle(mut self, tokens: i64, cost: Picos) {
        if let Some(inner) = self.inner.take() {
            inner.settle(tokens, cost);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.settle(0, Picos(0));
        }
    }
}

impl TicketInner {
    fn settle(self, tokens: i64, cost: Picos) {
        let mut settlement = Settlement {
            call_id: self.call_id,
            marker: self.marker,
            ..Settlement::default()
        };
        let mut periods = Vec::new();
        for (planned, reading) in self.planned.into_iter().zip(self.readings) {
            match planned {
                Planned::Requests { .. } => {}
                Planned::Tokens { key, reserved, .. } => {
                    settlement
                        .windows
                        .push((key, reading.window_start, tokens - reserved));
                }
                Planned::Concurrency { key } => settlement.concurrency.push(key),
                Planned::Budget(period) => {
                    settlement.budgets.push(BudgetCharge {
                        key: period.key.clone(),
                        actual: cost.0,
                        ttl_ms: period.ttl_ms,
                        thresholds: period.rule.threshold_amounts(),
                    });
                    periods.push(period);
                }
            }
        }
        let limits = self.limits;
        let task = limits.clone().settle(settlement, periods);
        // Settling talks to Redis; it must not hold up the response, and it must happen even when the call
        // ended because its client went away or its worker is stopping (this may run in a destructor while an
        // HTTP worker's runtime shuts down): it runs on the main runtime, which outlives the workers.
        limits.storage_runtime.spawn(task);
    }
}

//! The counters behind rate limits, concurrency limits and budgets, checked and charged all-or-nothing: one
//! admission either fits every limit that covers a call and is counted against all of them, or is counted
//! against none. Redis runs the same algorithm as one Lua script (`redis_state.rs`); [`Ledger`] is the
//! in-process implementation for the embedded mode, and the reference the Lua script is tested against.
//!
//! Leases make a crash harmless: an in-flight slot and a budget reservation each carry an expiry, and an expired
//! one is released by the next admission that looks at the same counter, so a replica that dies mid-call cannot
//! leak capacity or budget forever.

use std::collections::{HashMap, HashSet};

/// One limit an admission must fit. Budget keys are complete (the caller puts the period start in them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// A fixed-window counter (requests or tokens per minute): refused when `used + amount > limit`. The
    /// counter of the current window is `{key}:{window start}`, the start taken from the ledger's clock (Redis's
    /// own, so every replica agrees on where a minute begins).
    Window {
        key: String,
        limit: i64,
        amount: i64,
        window_ms: u64,
    },
    /// In-flight calls, one lease each: refused when `leases + 1 > limit`.
    Concurrency { key: String, limit: i64 },
    /// Spend in one budget period, in picos: `spent + reserved + amount` must stay within `limit` when `hard`.
    /// A soft budget is only counted. A period not seen since the counters were (re)created must be seeded
    /// from storage first ([`AdmitOutcome::Unseeded`]).
    Budget {
        key: String,
        limit: i64,
        hard: bool,
        amount: i64,
        /// Until the period ends (plus a day); 0 for a budget that never resets.
        ttl_ms: u64,
    },
}

impl Check {
    /// The counter's key.
    pub fn key(&self) -> &str {
        match self {
            Self::Window { key, .. } | Self::Concurrency { key, .. } | Self::Budget { key, .. } => {
                key
            }
        }
    }
}

/// One call asking to be let through.
#[derive(Debug, Clone)]
pub struct Admission {
    pub call_id: String,
    /// The call's admission marker (a counter name in the tenant's slot): set when the call is admitted, taken
    /// by its one settlement. A retried settlement, or the release of an admission whose reply was lost, finds
    /// it gone or never set and changes nothing.
    pub marker: String,
    /// How long an in-flight slot or a reservation survives without being settled.
    pub lease_ms: u64,
    pub checks: Vec<Check>,
    pub now_ms: u64,
}

/// A counter as the admission left it (for rate-limit headers and error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// Including this call when it was admitted; before it when it was refused.
    pub used: i64,
    /// Milliseconds until the counter resets (windows); 0 when unknown or never.
    pub reset_ms: u64,
    /// The start of the window counted in (windows), for settling against the same counter.
    pub window_start: u64,
}

/// The answer to an admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdmitOutcome {
    /// Counted against every check; one reading per check, in order.
    Admitted(Vec<Reading>),
    /// Check `index` does not fit; nothing was counted.
    Refused { index: usize, reading: Reading },
    /// These budget checks have no seeded period yet; nothing was counted.
    Unseeded(Vec<usize>),
}

/// The real figures of a finished call.
#[derive(Debug, Clone, Default)]
pub struct Settlement {
    pub call_id: String,
    /// The admission's marker ([`Admission::marker`]): the settlement applies only if it takes it.
    pub marker: String,
    /// Window counters (key, window start) to correct by `actual - reserved` (token estimates).
    pub windows: Vec<(String, u64, i64)>,
    /// Concurrency leases to release.
    pub concurrency: Vec<String>,
    pub budgets: Vec<BudgetCharge>,
}

/// The real cost of a call on one budget period.
#[derive(Debug, Clone)]
pub struct BudgetCharge {
    pub key: String,
    pub actual: i64,
    pub ttl_ms: u64,
    /// Absolute amounts (picos) whose crossing must be notified, each once per period.
    pub thresholds: Vec<i64>,
}

/// A threshold crossed by a settlement for the first time in its period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crossed {
    /// Index into [`Settlement::budgets`].
    pub budget: usize,
    pub threshold: i64,
    /// Spend after this call.
    pub spent: i64,
}

#[derive(Debug, Default)]
struct BudgetState {
    spent: i64,
    reserved: i64,
    /// call id -> (amount, lease expiry)
    reservations: HashMap<String, (i64, u64)>,
    fired: HashSet<i64>,
    expires_at: Option<u64>,
}

/// The in-process ledger. Not thread-safe by itself: the owner holds it behind a mutex, never across an await.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Admission markers of calls not yet settled, with their lease expiry.
    admitted: HashMap<String, u64>,
    windows: HashMap<String, (i64, u64)>,
    leases: HashMap<String, HashMap<String, u64>>,
    budgets: HashMap<String, BudgetState>,
    operations: u64,
}

impl Ledger {
    /// Checks every limit and, when all fit, counts the call against all of them.
    pub fn admit(&mut self, admission: &Admission) -> AdmitOutcome {
        let now = admission.now_ms;
        self.sweep(now);
        let mut readings = Vec::with_capacity(admission.checks.len());
        let mut unseeded = Vec::new();
        for (index, check) in admission.checks.iter().enumerate() {
            let reading = match check {
                Check::Window {
                    key,
                    limit,
                    amount,
                    window_ms,
                } => {
                    let window_start = now - now % window_ms.max(&1);
                    let reset_ms = window_start + window_ms - now;
                    let used = match self.windows.get(&window_key(key, window_start)) {
                        Some((used, ends)) if *ends > now => *used,
                        _ => 0,
                    };
                    let reading = Reading {
                        used,
                        reset_ms,
                        window_start,
                    };
                    if used.saturating_add(*amount) > *limit {
                        return AdmitOutcome::Refused { index, reading };
                    }
                    reading
                }
                Check::Concurrency { key, limit } => {
                    let leases = self.leases.entry(key.clone()).or_default();
                    leases.retain(|_, expiry| *expiry > now);
                    let used = leases.len() as i64;
                    if used + 1 > *limit {
                        return AdmitOutcome::Refused {
                            index,
                            reading: Reading {
                                used,
                                ..Reading::default()
                            },
                        };
                    }
                    Reading {
                        used,
                        ..Reading::default()
                    }
                }
                Check::Budget {
                    key,
                    limit,
                    hard,
                    amount,
                    ..
                } => {
                    let Some(budget) = self.budgets.get_mut(key) else {
                        unseeded.push(index);
                        continue;
                    };
                    release_expired(budget, now);
                    let used = budget.spent.saturating_add(budget.reserved);
                    if *hard && used.saturating_add(*amount) > *limit {
                        return AdmitOutcome::Refused {
                            index,
                            reading: Reading {
                                used,
                                ..Reading::default()
                            },
                        };
                    }
                    Reading {
                        used,
                        ..Reading::default()
                    }
                }
            };
            readings.push(reading);
        }
        if !unseeded.is_empty() {
            return AdmitOutcome::Unseeded(unseeded);
        }
        for (check, reading) in admission.checks.iter().zip(readings.iter_mut()) {
            match check {
                Check::Window {
                    key,
                    amount,
                    window_ms,
                    ..
                } => {
                    let ends = reading.window_start + window_ms;
                    let entry = self
                        .windows
                        .entry(window_key(key, reading.window_start))
                        .or_insert((0, ends));
                    entry.0 = entry.0.saturating_add(*amount);
                    reading.used = entry.0;
                }
                Check::Concurrency { key, .. } => {
                    let leases = self.leases.entry(key.clone()).or_default();
                    leases.insert(admission.call_id.clone(), now + admission.lease_ms);
                    reading.used = leases.len() as i64;
                }
                Check::Budget {
                    key,
                    amount,
                    ttl_ms,
                    ..
                } => {
                    if let Some(budget) = self.budgets.get_mut(key) {
                        budget.reserved = budget.reserved.saturating_add(*amount);
                        budget.reservations.insert(
                            admission.call_id.clone(),
                            (*amount, now + admission.lease_ms),
                        );
                        if *ttl_ms > 0 {
                            budget.expires_at = Some(now + ttl_ms);
                        }
                        reading.used = budget.spent.saturating_add(budget.reserved);
                    }
                }
            }
        }
        self.admitted
            .insert(admission.marker.clone(), now + admission.lease_ms);
        AdmitOutcome::Admitted(readings)
    }

    /// Sets a budget period's starting spend unless it is already known; true when this call seeded it.
    pub fn seed(&mut self, key: &str, spent: i64, ttl_ms: u64, now_ms: u64) -> bool {
        if self.budgets.contains_key(key) {
            return false;
        }
        self.budgets.insert(
            key.to_owned(),
            BudgetState {
                spent,
                expires_at: (ttl_ms > 0).then_some(now_ms + ttl_ms),
                ..BudgetState::default()
            },
        );
        true
    }

    /// Raises a seeded period's spend to `recorded` if it is lower; true when it did.
    pub fn reconcile(&mut self, key: &str, recorded: i64) -> bool {
        match self.budgets.get_mut(key) {
            Some(budget) if budget.spent < recorded => {
                budget.spent = recorded;
                true
            }
            _ => false,
        }
    }

    /// Replaces reservations by real figures, releases leases, and reports thresholds crossed for the first
    /// time in their period.
    pub fn settle(&mut self, settlement: &Settlement, now_ms: u64) -> Vec<Crossed> {
        // Once per admitted call: a retry (or a release for an admission that never applied) changes nothing.
        if self
            .admitted
            .remove(&settlement.marker)
            .is_none_or(|expiry| expiry <= now_ms)
        {
            return Vec::new();
        }
        for (key, start, delta) in &settlement.windows {
            if let Some((used, ends)) = self.windows.get_mut(&window_key(key, *start))
                && *ends > now_ms
            {
                *used = used.saturating_add(*delta).max(0);
            }
        }
        for key in &settlement.concurrency {
            if let Some(leases) = self.leases.get_mut(key) {
                leases.remove(&settlement.call_id);
            }
        }
        let mut crossed = Vec::new();
        for (index, charge) in settlement.budgets.iter().enumerate() {
            // A period nobody seeded (the counters were lost meanwhile) starts from this call; the next
            // admission seeds it from storage, which by then includes this call.
            let Some(budget) = self.budgets.get_mut(&charge.key) else {
                continue;
            };
            if let Some((amount, _)) = budget.reservations.remove(&settlement.call_id) {
                budget.reserved -= amount;
            }
            budget.spent = budget.spent.saturating_add(charge.actual);
            if charge.ttl_ms > 0 {
                budget.expires_at = Some(now_ms + charge.ttl_ms);
            }
            for threshold in &charge.thresholds {
                if budget.spent >= *threshold && budget.fired.insert(*threshold) {
                    crossed.push(Crossed {
                        budget: index,
                        threshold: *threshold,
                        spent: budget.spent,
                    });
                }
            }
        }
        crossed
    }

    /// Drops what has expired, now and then, so the maps stay as small as the live counters.
    fn sweep(&mut self, now: u64) {
        self.operations += 1;
        if !self.operations.is_multiple_of(1024) {
            return;
        }
        self.windows.retain(|_, (_, ends)| *ends > now);
        self.admitted.retain(|_, expiry| *expiry > now);
        self.leases.retain(|_, leases| {
            leases.retain(|_, expiry| *expiry > now);
            !leases.is_empty()
        });
        self.budgets
            .retain(|_, b| b.expires_at.is_none_or(|at| at > now));
    }
}

/// The counter of one window.
pub fn window_key(key: &str, window_start: u64) -> String {
    format!("{key}:{window_start}")
}

fn release_expired(budget: &mut BudgetState, now: u64) {
    let mut released = 0;
    budget.reservations.retain(|_, (amount, expiry)| {
        let keep = *expiry > now;
        if !keep {
            released += *amount;
        }
        keep
    });
    budget.reserved -= released;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(call: &str, checks: Vec<Check>, now_ms: u64) -> Admission {
        Admission {
            call_id: call.into(),
            marker: call.into(),
            lease_ms: 1_000,
            checks,
            now_ms,
        }
    }

    fn rpm(limit: i64) -> Check {
        Check::Window {
            key: "rpm".into(),
            limit,
            amount: 1,
            window_ms: 60_000,
        }
    }

    fn budget(amount: i64) -> Check {
        Check::Budget {
            key: "b".into(),
            limit: 100,
            hard: true,
            amount,
            ttl_ms: 0,
        }
    }

    #[test]
    fn a_refused_check_counts_nothing_anywhere() {
        let mut ledger = Ledger::default();
        ledger.seed("b", 0, 0, 0);
        let first = ledger.admit(&admission("1", vec![rpm(5), budget(90)], 0));
        assert!(matches!(first, AdmitOutcome::Admitted(_)));
        // The budget does not fit: the RPM counter must not move either.
        let second = ledger.admit(&admission("2", vec![rpm(5), budget(20)], 0));
        assert_eq!(
            second,
            AdmitOutcome::Refused {
                index: 1,
                reading: Reading {
                    used: 90,
                    ..Reading::default()
                }
            }
        );
        let third = ledger.admit(&admission("3", vec![rpm(5), budget(10)], 0));
        let AdmitOutcome::Admitted(readings) = third else {
            panic!("third call should fit: {third:?}");
        };
        assert_eq!(readings[0].used, 2);
        assert_eq!(readings[1].used, 100);
    }

    #[test]
    fn settling_replaces_the_reservation_and_fires_each_threshold_once() {
        let mut ledger = Ledger::default();
        ledger.seed("b", 40, 0, 0);
        assert!(
            !ledger.seed("b", 0, 0, 0),
            "a seeded period is never reseeded"
        );
        let _ = ledger.admit(&admission("1", vec![budget(50)], 0));
        let charge = |actual| Settlement {
            call_id: "1".into(),
            marker: "1".into(),
            budgets: vec![BudgetCharge {
                key: "b".into(),
                actual,
                ttl_ms: 0,
                thresholds: vec![50, 80],
            }],
            ..Settlement::default()
        };
        let crossed = ledger.settle(&charge(15), 0);
        assert_eq!(
            crossed,
            vec![Crossed {
                budget: 0,
                threshold: 50,
                spent: 55
            }]
        );
        // The reservation is gone: 55 spent, so 45 more fit and 46 do not.
        assert!(matches!(
            ledger.admit(&admission("2", vec![budget(46)], 0)),
            AdmitOutcome::Refused { .. }
        ));
        assert!(matches!(
            ledger.admit(&admission("2", vec![budget(45)], 0)),
            AdmitOutcome::Admitted(_)
        ));
        let again = Settlement {
            call_id: "2".into(),
            marker: "2".into(),
            ..charge(30)
        };
        let crossed = ledger.settle(&again, 0);
        assert_eq!(
            crossed.iter().map(|c| c.threshold).collect::<Vec<_>>(),
            [80]
        );
    }

    #[test]
    fn an_unsettled_reservation_and_lease_expire() {
        let mut ledger = Ledger::default();
        ledger.seed("b", 0, 0, 0);
        let conc = Check::Concurrency {
            key: "c".into(),
            limit: 1,
        };
        assert!(matches!(
            ledger.admit(&admission("1", vec![conc.clone(), budget(100)], 0)),
            AdmitOutcome::Admitted(_)
        ));
        assert!(matches!(
            ledger.admit(&admission("2", vec![conc.clone()], 10)),
            AdmitOutcome::Refused { .. }
        ));
        // The holder died; after its lease both the slot and the reservation are free again.
        assert!(matches!(
            ledger.admit(&admission("3", vec![conc, budget(100)], 1_001)),
            AdmitOutcome::Admitted(_)
        ));
    }

    #[test]
    fn an_unseeded_budget_is_reported_before_anything_counts() {
        let mut ledger = Ledger::default();
        let outcome = ledger.admit(&admission("1", vec![rpm(5), budget(1)], 0));
        assert_eq!(outcome, AdmitOutcome::Unseeded(vec![1]));
        ledger.seed("b", 0, 0, 0);
        let AdmitOutcome::Admitted(readings) =
            ledger.admit(&admission("1", vec![rpm(5), budget(1)], 0))
        else {
            panic!("should be admitted after seeding");
        };
        assert_eq!(readings[0].used, 1, "the unseeded attempt counted nothing");
    }

    #[test]
    fn a_window_resets_when_it_ends() {
        let mut ledger = Ledger::default();
        assert!(matches!(
            ledger.admit(&admission("1", vec![rpm(1)], 0)),
            AdmitOutcome::Admitted(_)
        ));
        assert!(matches!(
            ledger.admit(&admission("2", vec![rpm(1)], 59_999)),
            AdmitOutcome::Refused { .. }
        ));
        assert!(matches!(
            ledger.admit(&admission("3", vec![rpm(1)], 60_000)),
            AdmitOutcome::Admitted(_)
        ));
    }

    #[test]
    fn a_retried_settlement_and_a_release_of_an_unapplied_admission_change_nothing() {
        let mut ledger = Ledger::default();
        ledger.seed("b", 0, 0, 0);
        let _ = ledger.admit(&admission("1", vec![budget(50)], 0));
        let charge = Settlement {
            call_id: "1".into(),
            marker: "1".into(),
            budgets: vec![BudgetCharge {
                key: "b".into(),
                actual: 30,
                ttl_ms: 0,
                thresholds: Vec::new(),
            }],
            ..Settlement::default()
        };
        ledger.settle(&charge, 0);
        ledger.settle(&charge, 0);
        // Spent 30 once: 70 more fit, 71 do not.
        assert!(matches!(
            ledger.admit(&admission("2", vec![budget(71)], 0)),
            AdmitOutcome::Refused { .. }
        ));
        // The release of an admission whose reply was lost frees what it holds, once.
        let conc = Check::Concurrency {
            key: "c".into(),
            limit: 1,
        };
        let _ = ledger.admit(&admission("lost", vec![conc.clone()], 0));
        let release = Settlement {
            call_id: "lost".into(),
            marker: "lost".into(),
            concurrency: vec!["c".into()],
            ..Settlement::default()
        };
        ledger.settle(&release, 0);
        ledger.settle(&release, 0);
        assert!(matches!(
            ledger.admit(&admission("next", vec![conc], 0)),
            AdmitOutcome::Admitted(_)
        ));
        // A release for a call whose admission never applied gives nothing back.
        let ghost = Settlement {
            call_id: "ghost".into(),
            marker: "ghost".into(),
            ..charge
        };
        ledger.settle(&ghost, 0);
        assert!(matches!(
            ledger.admit(&admission("3", vec![budget(70)], 0)),
            AdmitOutcome::Admitted(_)
        ));
    }
}

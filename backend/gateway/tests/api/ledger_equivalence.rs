//! The spend-control rules exist twice: the in-process ledger (embedded mode) and the Redis scripts (every
//! replica). Both are driven here by the same random sequence of admissions, settlements, retried settlements and
//! releases of admissions that never applied, and every decision and counter must agree.

use crate::helpers::redis_url;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use switchyard::state::{
    Admission, AdmitOutcome, BudgetCharge, Check, MemoryState, RedisState, Settlement, SharedState,
};

const WINDOW_MS: u64 = 60_000;

/// An admitted call not yet settled: id, admission marker, checks, budget periods (key, ttl).
type OpenCall = (String, String, Vec<Check>, Vec<(String, u64)>);
const LEASE_MS: u64 = 600_000;

/// The admission's decision and the counters it read, without the clock-dependent parts (the scripts use
/// Redis's clock, the ledger the caller's: window starts and resets may differ by a millisecond).
fn decision(outcome: &AdmitOutcome) -> (String, Vec<i64>) {
    match outcome {
        AdmitOutcome::Admitted(readings) => {
            ("admitted".into(), readings.iter().map(|r| r.used).collect())
        }
        AdmitOutcome::Refused { index, reading } => {
            (format!("refused at {index}"), vec![reading.used])
        }
        AdmitOutcome::Unseeded(indexes) => (format!("unseeded {indexes:?}"), Vec::new()),
    }
}

/// A random call over a small set of shared counters, so calls collide on them.
fn random_checks(rng: &mut StdRng, tenant: &str) -> (Vec<Check>, Vec<(String, u64)>) {
    let mut checks = Vec::new();
    if rng.random_bool(0.6) {
        checks.push(Check::Window {
            key: format!("rpm:{{{tenant}}}:key:a"),
            limit: 120,
            amount: 1,
            window_ms: WINDOW_MS,
        });
    }
    if rng.random_bool(0.6) {
        checks.push(Check::Window {
            key: format!("tpm:{{{tenant}}}:team:t"),
            limit: 6_000,
            amount: rng.random_range(10..120),
            window_ms: WINDOW_MS,
        });
    }
    if rng.random_bool(0.5) {
        checks.push(Check::Concurrency {
            key: format!("inflight:{{{tenant}}}:key:a"),
            limit: 25,
        });
    }
    let mut budgets = Vec::new();
    for (name, hard) in [("hard", true), ("soft", false)] {
        if rng.random_bool(0.5) {
            let key = format!("budget:{{{tenant}}}:{name}:0");
            checks.push(Check::Budget {
                key: key.clone(),
                limit: 40_000,
                hard,
                amount: rng.random_range(100..900),
                ttl_ms: 3_600_000,
            });
            budgets.push((key, 3_600_000));
        }
    }
    (checks, budgets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_and_the_redis_scripts_take_the_same_decisions_on_a_random_sequence() {
    let prefix = format!("syeq-{}", uuid::Uuid::now_v7().simple());
    let redis: Arc<dyn SharedState> = RedisState::connect(&redis_url(), &prefix)
        .await
        .expect("Redis for the equivalence test");
    let memory: Arc<dyn SharedState> = Arc::new(MemoryState::default());
    let tenant = uuid::Uuid::now_v7().to_string();
    for name in ["hard", "soft"] {
        let key = format!("budget:{{{tenant}}}:{name}:0");
        for state in [&redis, &memory] {
            state.seed_budget(&key, 250, 3_600_000).await.unwrap();
        }
    }
    let mut rng = StdRng::seed_from_u64(0x5eed_2026);
    // Admitted calls not yet settled.
    let mut open: Vec<OpenCall> = Vec::new();
    let mut settled: Vec<Settlement> = Vec::new();
    // What the hard budget must hold in the end, counted here independently of both: its seed, each call's real
    // cost once, and the reservations of calls still open. A retried settlement that charged twice would show.
    let hard_key = format!("budget:{{{tenant}}}:hard:0");
    let mut hard_spent: i64 = 250;
    let (mut admitted, mut refused) = (0, 0);
    for step in 0..400 {
        let roll = rng.random_range(0..100);
        if roll < 55 || open.is_empty() {
            let call = uuid::Uuid::now_v7().to_string();
            let (checks, budgets) = random_checks(&mut rng, &tenant);
            if checks.is_empty() {
                continue;
            }
            let admission = Admission {
                marker: format!("call:{{{tenant}}}:{call}"),
                call_id: call.clone(),
                lease_ms: LEASE_MS,
                checks: checks.clone(),
                now_ms: u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap(),
            };
            let in_redis = redis.admit(&admission).await.unwrap();
            let in_memory = memory.admit(&admission).await.unwrap();
            assert_eq!(
                decision(&in_redis),
                decision(&in_memory),
                "step {step}: admission of {checks:?}"
            );
            if matches!(in_memory, AdmitOutcome::Admitted(_)) {
                admitted += 1;
                open.push((call, admission.marker, checks, budgets));
            } else {
                refused += 1;
            }
        } else if roll < 85 {
            let (call, marker, checks, budgets) = open.swap_remove(rng.random_range(0..open.len()));
            let mut settlement = Settlement {
                call_id: call,
                marker,
                ..Settlement::default()
            };
            let start = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap();
            for check in &checks {
                match check {
                    Check::Window { key, amount, .. } if key.starts_with("tpm") => {
                        let real = rng.random_range(0..*amount);
                        settlement.windows.push((
                            key.clone(),
                            start - start % WINDOW_MS,
                            real - amount,
                        ));
                    }
                    Check::Concurrency { key, .. } => settlement.concurrency.push(key.clone()),
                    _ => {}
                }
            }
            for (key, ttl_ms) in budgets {
                settlement.budgets.push(BudgetCharge {
                    key,
                    actual: rng.random_range(0..900),
                    ttl_ms,
                    thresholds: vec![10_000, 30_000],
                });
            }
            let in_redis = redis.settle(&settlement).await.unwrap();
            let in_memory = memory.settle(&settlement).await.unwrap();
            assert_eq!(in_redis, in_memory, "step {step}: settlement");
            hard_spent += settlement
                .budgets
                .iter()
                .filter(|b| b.key == hard_key)
                .map(|b| b.actual)
                .sum::<i64>();
            settled.push(settlement);
        } else if roll < 95 && !settled.is_empty() {
            // A retried settlement (its first reply was lost): nothing may change, in either.
            let again = settled[rng.random_range(0..settled.len())].clone();
            assert!(redis.settle(&again).await.unwrap().is_empty());
            assert!(memory.settle(&again).await.unwrap().is_empty());
        } else {
            // The release of an admission whose reply was lost but which never applied.
            let ghost = Settlement {
                call_id: "ghost".into(),
                marker: format!("call:{{{tenant}}}:ghost-{step}"),
                concurrency: vec![format!("inflight:{{{tenant}}}:key:a")],
                budgets: vec![BudgetCharge {
                    key: format!("budget:{{{tenant}}}:hard:0"),
                    actual: 0,
                    ttl_ms: 3_600_000,
                    thresholds: Vec::new(),
                }],
                ..Settlement::default()
            };
            redis.settle(&ghost).await.unwrap();
            memory.settle(&ghost).await.unwrap();
        }
    }
    assert!(
        admitted > 50 && refused > 10,
        "the sequence exercises both outcomes: {admitted} admitted, {refused} refused"
    );
    // One last probe of every counter: the same readings in both.
    let (checks, _) = (
        vec![
            Check::Window {
                key: format!("tpm:{{{tenant}}}:team:t"),
                limit: i64::MAX,
                amount: 0,
                window_ms: WINDOW_MS,
            },
            Check::Concurrency {
                key: format!("inflight:{{{tenant}}}:key:a"),
                limit: i64::MAX,
            },
            Check::Budget {
                key: format!("budget:{{{tenant}}}:hard:0"),
                limit: i64::MAX,
                hard: true,
                amount: 0,
                ttl_ms: 3_600_000,
            },
            Check::Budget {
                key: format!("budget:{{{tenant}}}:soft:0"),
                limit: i64::MAX,
                hard: false,
                amount: 0,
                ttl_ms: 3_600_000,
            },
        ],
        (),
    );
    let probe = Admission {
        call_id: "probe".into(),
        marker: format!("call:{{{tenant}}}:probe"),
        lease_ms: LEASE_MS,
        checks,
        now_ms: u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap(),
    };
    let (verdict, readings) = decision(&redis.admit(&probe).await.unwrap());
    assert_eq!(
        (verdict.clone(), readings.clone()),
        decision(&memory.admit(&probe).await.unwrap())
    );
    let hard_reserved: i64 = open
        .iter()
        .flat_map(|(_, _, checks, _)| checks)
        .filter_map(|check| match check {
            Check::Budget { key, amount, .. } if *key == hard_key => Some(*amount),
            _ => None,
        })
        .sum();
    assert_eq!(verdict, "admitted");
    assert_eq!(
        readings[2],
        hard_spent + hard_reserved,
        "the hard budget holds each call's cost exactly once"
    );
}

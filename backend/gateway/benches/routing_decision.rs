//! The routing decision alone: for a model group of 10 deployments, look the group up in the catalog
//! snapshot, keep the deployments in the allowed regions, drop the unhealthy ones and order the rest by the
//! group's strategy — what `proxy::route::plan` does before any I/O. Printed per strategy as the mean, median
//! and p99 over batches of 1,000 decisions (each batch's time / 1,000), the median against the 5 µs budget. On a
//! loaded 2-core machine the p99 measures the other processes as much as the decision.
//!
//!     cargo bench -p switchyard --bench routing_decision
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark binary"
)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard::catalog::{Deployment, HealthRegistry, Snapshot};
use switchyard::crypto::MasterKeys;
use switchyard::routing::{CallShape, HealthPolicy, Strategy, strategy};
use switchyard::store::CatalogRows;
use switchyard::store::entities::{deployment, provider};
use uuid::Uuid;

const DEPLOYMENTS: usize = 10;
const BATCH: usize = 1_000;
const BATCHES: usize = 2_000;

fn catalog(tenant: Uuid) -> Snapshot {
    let now = chrono::Utc::now();
    let provider = provider::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        name: "p".into(),
        kind: "openai".into(),
        base_url: "http://127.0.0.1:9/v1".into(),
        api_key_env: None,
        api_key_ciphertext: None,
        api_key_hint: None,
        created_at: now,
        updated_at: now,
    };
    let deployments = (0..DEPLOYMENTS)
        .map(|i| deployment::Model {
            id: Uuid::now_v7(),
            tenant_id: tenant,
            public_model: "gpt-bench".into(),
            provider_id: provider.id,
            upstream_model: "m".into(),
            region: if i % 2 == 0 { "eu" } else { "us" }.into(),
            input_price_micros: 1_000_000 + i64::try_from(i).unwrap() * 10_000,
            output_price_micros: 4_000_000,
            cached_input_price_micros: None,
            created_at: now,
            updated_at: now,
            price_source: "deployment".into(),
            weight: 1 + i32::try_from(i).unwrap(),
            priority: i32::try_from(i % 3).unwrap(),
            // Limits that never bind, so the decision pays for checking them.
            rpm_limit: Some(i32::MAX),
            tpm_limit: Some(i64::MAX),
        })
        .collect();
    let rows = CatalogRows {
        providers: vec![provider],
        deployments,
        prices: Vec::new(),
        groups: Vec::new(),
    };
    Snapshot::build(
        rows,
        &MasterKeys::from_keys([7; 32], Vec::new()),
        &HealthRegistry::new(HealthPolicy::default()),
        &[],
    )
}

/// One decision, as the proxy makes it.
fn decide(
    snapshot: &Snapshot,
    tenant: Uuid,
    allowed: &HashSet<String>,
    strategy: Strategy,
    shape: CallShape,
    rng: &mut impl rand::Rng,
) -> Option<Arc<Deployment>> {
    let now = switchyard::routing::health::now_ms();
    let candidates: Vec<Arc<Deployment>> = snapshot
        .deployments(tenant, "gpt-bench")?
        .iter()
        .filter(|d| {
            allowed.contains(&d.region)
                && d.health.check(now).is_ok()
                && d.within_own_limits(now, shape.prompt_tokens)
        })
        .cloned()
        .collect();
    let order = strategy::order(strategy, &candidates, shape, rng);
    order.first().map(|i| Arc::clone(&candidates[*i]))
}

fn main() {
    let tenant = Uuid::now_v7();
    let snapshot = catalog(tenant);
    // Give the latency strategy something to weigh.
    for (i, d) in snapshot
        .deployments(tenant, "gpt-bench")
        .unwrap()
        .iter()
        .enumerate()
    {
        d.health
            .record_success(Duration::from_millis(100 + 10 * i as u64), None);
    }
    // Every region allowed, so all 10 deployments are candidates (the worst case for ordering).
    let allowed: HashSet<String> = ["eu", "us"].iter().map(|s| (*s).to_owned()).collect();
    let shape = CallShape {
        streamed: false,
        prompt_tokens: 500,
        max_output: 1_000,
    };
    let mut rng = rand::rng();
    println!("routing decision, {DEPLOYMENTS} deployments, {BATCHES} batches of {BATCH}");
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>8}",
        "strategy", "mean", "p50", "p99", "budget"
    );
    for strategy in [
        Strategy::Weighted,
        Strategy::Priority,
        Strategy::Cost,
        Strategy::Latency,
    ] {
        let mut per_decision = Vec::with_capacity(BATCHES);
        for _ in 0..BATCHES {
            let started = Instant::now();
            for _ in 0..BATCH {
                std::hint::black_box(decide(
                    &snapshot, tenant, &allowed, strategy, shape, &mut rng,
                ));
            }
            per_decision.push(started.elapsed().as_secs_f64() * 1e9 / BATCH as f64);
        }
        per_decision.sort_by(f64::total_cmp);
        let mean = per_decision.iter().sum::<f64>() / per_decision.len() as f64;
        let p50 = per_decision[per_decision.len() / 2];
        let p99 = per_decision[per_decision.len() * 99 / 100];
        println!(
            "{:<10} {:>7.0} ns {:>7.0} ns {:>7.0} ns {:>8}",
            strategy.as_str(),
            mean,
            p50,
            p99,
            if p50 < 5_000.0 { "< 5 µs" } else { "OVER" }
        );
    }
}

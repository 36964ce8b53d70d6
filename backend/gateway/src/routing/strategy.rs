//! Ordering the candidate deployments of one call. The first is tried first; the rest are the retry order.
//! No allocation beyond one small vector, no lock: the routing decision must stay in single microseconds.

use super::health::DeploymentHealth;
use rand::Rng;

/// How a model group picks among its deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Lowest expected latency: EWMA of latency (time to first token for streams) times calls in flight, by
    /// the power of two random choices; deployments not yet measured are tried first to learn them.
    Latency,
    /// Cheapest for this request's token estimate; ties by latency.
    Cost,
    /// Random in proportion to the weights.
    #[default]
    Weighted,
    /// Lowest priority number first; weighted among equals.
    Priority,
}

impl Strategy {
    /// Parses a stored or requested name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "latency" => Some(Self::Latency),
            "cost" => Some(Self::Cost),
            "weighted" => Some(Self::Weighted),
            "priority" => Some(Self::Priority),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Latency => "latency",
            Self::Cost => "cost",
            Self::Weighted => "weighted",
            Self::Priority => "priority",
        }
    }
}

/// What the strategies need to know about a deployment.
pub trait Routable {
    fn health(&self) -> &DeploymentHealth;
    fn weight(&self) -> u32;
    fn priority(&self) -> i32;
    /// Estimated cost of this call here, in picos.
    fn estimated_cost(&self, prompt_tokens: u64, max_output: u64) -> i64;
}

/// The call being routed.
#[derive(Debug, Clone, Copy)]
pub struct CallShape {
    pub streamed: bool,
    pub prompt_tokens: u64,
    pub max_output: u64,
}

/// Expected latency score (lower is better); unmeasured deployments score 0 so they get measured.
fn latency_score<T: Routable>(candidate: &T, shape: CallShape) -> f64 {
    let health = candidate.health();
    let measured = if shape.streamed {
        health.ttft_us().or_else(|| health.latency_us())
    } else {
        health.latency_us()
    };
    measured.unwrap_or(0.0) * (health.in_flight() as f64 + 1.0)
}

/// Orders `candidates` (indexes into the slice) for one call.
pub fn order<T: Routable>(
    strategy: Strategy,
    candidates: &[T],
    shape: CallShape,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    match strategy {
        Strategy::Latency => {
            // Scores are computed once per call, not once per comparison.
            let scores: Vec<f64> = candidates.iter().map(|c| latency_score(c, shape)).collect();
            order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
            // Power of two choices: the first pick is the better of two random ones, weighted by in-flight
            // calls through the score, so a burst does not all land on the one currently fastest.
            if order.len() >= 2 {
                let a = rng.random_range(0..order.len());
                let mut b = rng.random_range(0..order.len() - 1);
                if b >= a {
                    b += 1;
                }
                let best = if scores[order[a]] <= scores[order[b]] {
                    a
                } else {
                    b
                };
                let chosen = order.remove(best);
                order.insert(0, chosen);
            }
        }
        Strategy::Cost => {
            let keys: Vec<(i64, f64)> = candidates
                .iter()
                .map(|c| {
                    (
                        c.estimated_cost(shape.prompt_tokens, shape.max_output),
                        latency_score(c, shape),
                    )
                })
                .collect();
            order.sort_by(|a, b| {
                keys[*a]
                    .0
                    .cmp(&keys[*b].0)
                    .then(keys[*a].1.total_cmp(&keys[*b].1))
            });
        }
        Strategy::Weighted => weighted_shuffle(candidates, &mut order, rng),
        Strategy::Priority => {
            weighted_shuffle(candidates, &mut order, rng);
            // Stable: equal priorities keep their weighted order.
            order.sort_by_key(|i| candidates[*i].priority());
        }
    }
    order
}

/// Weighted sampling without replacement: each position is drawn in proportion to the remaining weights.
fn weighted_shuffle<T: Routable>(candidates: &[T], order: &mut [usize], rng: &mut impl Rng) {
    for position in 0..order.len() {
        let total: u64 = order[position..]
            .iter()
            .map(|i| u64::from(candidates[*i].weight()))
            .sum();
        if total == 0 {
            return;
        }
        let mut pick = rng.random_range(0..total);
        for j in position..order.len() {
            let weight = u64::from(candidates[order[j]].weight());
            if pick < weight {
                order.swap(position, j);
                break;
            }
            pick -= weight;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::health::HealthPolicy;
    use std::sync::Arc;
    use std::time::Duration;

    struct Fake {
        health: Arc<DeploymentHealth>,
        weight: u32,
        priority: i32,
        cost: i64,
    }

    impl Routable for Fake {
        fn health(&self) -> &DeploymentHealth {
            &self.health
        }
        fn weight(&self) -> u32 {
            self.weight
        }
        fn priority(&self) -> i32 {
            self.priority
        }
        fn estimated_cost(&self, _: u64, _: u64) -> i64 {
            self.cost
        }
    }

    fn fake(weight: u32, priority: i32, cost: i64, latency_ms: Option<u64>) -> Fake {
        let health = Arc::new(DeploymentHealth::new(HealthPolicy::default()));
        if let Some(ms) = latency_ms {
            health.record_success(Duration::from_millis(ms), None);
        }
        Fake {
            health,
            weight,
            priority,
            cost,
        }
    }

    const SHAPE: CallShape = CallShape {
        streamed: false,
        prompt_tokens: 100,
        max_output: 100,
    };

    #[test]
    fn cost_picks_the_cheapest_and_retries_in_price_order() {
        let candidates = [
            fake(1, 0, 30, None),
            fake(1, 0, 10, None),
            fake(1, 0, 20, None),
        ];
        let order = order(Strategy::Cost, &candidates, SHAPE, &mut rand::rng());
        assert_eq!(order, vec![1, 2, 0]);
    }

    #[test]
    fn priority_tries_the_lowest_number_first() {
        let candidates = [
            fake(1, 2, 0, None),
            fake(1, 0, 0, None),
            fake(1, 1, 0, None),
        ];
        let order = order(Strategy::Priority, &candidates, SHAPE, &mut rand::rng());
        assert_eq!(order, vec![1, 2, 0]);
    }

    #[test]
    fn weighted_follows_the_weights() {
        let candidates = [fake(9, 0, 0, None), fake(1, 0, 0, None)];
        let mut rng = rand::rng();
        let first_is_heavy = (0..10_000)
            .filter(|_| order(Strategy::Weighted, &candidates, SHAPE, &mut rng)[0] == 0)
            .count();
        assert!((8_600..9_400).contains(&first_is_heavy), "{first_is_heavy}");
    }

    #[test]
    fn latency_prefers_the_fast_deployment_but_not_exclusively() {
        let candidates = [
            fake(1, 0, 0, Some(500)),
            fake(1, 0, 0, Some(50)),
            fake(1, 0, 0, Some(400)),
        ];
        let mut rng = rand::rng();
        let mut firsts = [0; 3];
        for _ in 0..3_000 {
            firsts[order(Strategy::Latency, &candidates, SHAPE, &mut rng)[0]] += 1;
        }
        // The fast one wins every pair it is in (2 of 3 pairs); the slowest never goes first.
        assert!(firsts[1] > 1_800, "{firsts:?}");
        assert_eq!(firsts[0], 0, "{firsts:?}");
    }
}

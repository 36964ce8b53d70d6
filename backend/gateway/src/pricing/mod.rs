//! Which price applies: the one place that decides what a call costs per token. A deployment is priced either
//! by its own price columns (`price_source = deployment`) or by the price catalog (`catalog`): the `model_prices`
//! rows of its provider kind and upstream model. Catalog rows have an `effective_from` and are never edited, so
//! the price of any moment can be read back and a price change never rewrites past costs.
//!
//! Resolution for a catalog-priced deployment at time `t`: the latest row with `effective_from <= t` from the
//! first of these groups that has one:
//! 1. the tenant's own rows for (provider kind, upstream model);
//! 2. for an `openai`-kind provider only, the tenant's rows for the same model under another kind;
//! 3. the shipped global rows for (provider kind, upstream model);
//! 4. for an `openai`-kind provider only, the global rows for the same model under another kind.
//!
//! Steps 2 and 4 exist because `openai` is a wire format, not a vendor: Anthropic, Google and Mistral all serve
//! their models through OpenAI-compatible endpoints, and such a provider is registered with the kind `openai`.
//! Other kinds are tried in name order, so the answer never depends on row order.
//!
//! Everything here is pure; `catalog` builds the schedules when it loads and the proxy only reads them.

pub mod seed;

use crate::money::{PricePerMTok, Prices};
use crate::store::entities::{deployment, model_price};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use uuid::Uuid;

/// The provider kinds a catalog row may name: every kind a provider can have, plus the vendors whose models
/// reach the gateway through an OpenAI-compatible endpoint.
pub const CATALOG_KINDS: [&str; 4] = ["openai", "anthropic", "gemini", "mistral"];

/// The provider kind whose deployments may use another kind's price of the same model (see the module doc).
const COMPATIBLE_KIND: &str = "openai";

/// Where a deployment's prices come from (`deployments.price_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSource {
    /// The deployment's own price columns.
    Deployment,
    /// The price catalog (`model_prices`).
    Catalog,
}

impl PriceSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "deployment",
            Self::Catalog => "catalog",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Deployment, Self::Catalog]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// The prices of a catalog row.
pub fn row_prices(row: &model_price::Model) -> Prices {
    Prices {
        input: PricePerMTok(row.input_price_micros),
        output: PricePerMTok(row.output_price_micros),
        cached_input: row.cached_input_price_micros.map(PricePerMTok),
        reasoning: row.reasoning_price_micros.map(PricePerMTok),
    }
}

/// The prices in a deployment's own columns (deployments have no reasoning price: reasoning is output).
pub fn own_prices(row: &deployment::Model) -> Prices {
    Prices {
        input: PricePerMTok(row.input_price_micros),
        output: PricePerMTok(row.output_price_micros),
        cached_input: row.cached_input_price_micros.map(PricePerMTok),
        reasoning: None,
    }
}

/// The price history that applies to one (tenant, provider kind, upstream model): groups of rows in the order
/// of the resolution steps, each sorted by `effective_from`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceSchedule {
    groups: Vec<History>,
}

/// One group's prices, each with the instant it starts, oldest first.
type History = Vec<(DateTime<Utc>, Prices)>;

impl PriceSchedule {
    /// The prices in force at `at`, if any row applies yet.
    pub fn at(&self, at: DateTime<Utc>) -> Option<Prices> {
        self.groups.iter().find_map(|group| {
            let started = group.partition_point(|(from, _)| *from <= at);
            started
                .checked_sub(1)
                .and_then(|i| group.get(i))
                .map(|(_, prices)| *prices)
        })
    }
}

/// Catalog rows indexed by upstream model, from which schedules are built.
#[derive(Debug, Default)]
pub struct PriceBook {
    by_model: HashMap<String, Vec<model_price::Model>>,
}

impl PriceBook {
    /// Indexes rows; rows of every tenant may be mixed, `schedule` keeps only the ones a tenant may use.
    pub fn new(rows: impl IntoIterator<Item = model_price::Model>) -> Self {
        let mut by_model: HashMap<String, Vec<model_price::Model>> = HashMap::new();
        for row in rows {
            by_model
                .entry(row.upstream_model.clone())
                .or_default()
                .push(row);
        }
        Self { by_model }
    }

    /// The schedule of `upstream_model` for a deployment of `tenant_id` on a provider of `provider_kind`.
    pub fn schedule(
        &self,
        tenant_id: Uuid,
        provider_kind: &str,
        upstream_model: &str,
    ) -> PriceSchedule {
        let Some(rows) = self.by_model.get(upstream_model) else {
            return PriceSchedule::default();
        };
        // Keyed by (tenant rows first, exact kind first, kind name): the order of the resolution steps.
        let mut groups: BTreeMap<(bool, bool, &str), History> = BTreeMap::new();
        for row in rows {
            let global = match row.tenant_id {
                None => true,
                Some(owner) if owner == tenant_id => false,
                Some(_) => continue,
            };
            let exact = row.provider_kind == provider_kind;
            if !exact && provider_kind != COMPATIBLE_KIND {
                continue;
            }
            groups
                .entry((global, !exact, row.provider_kind.as_str()))
                .or_default()
                .push((row.effective_from, row_prices(row)));
        }
        let groups = groups
            .into_values()
            .map(|mut group| {
                group.sort_by_key(|(from, _)| *from);
                group
            })
            .collect();
        PriceSchedule { groups }
    }

    /// How a deployment is priced, given its provider's kind.
    pub fn pricing_of(&self, row: &deployment::Model, provider_kind: &str) -> DeploymentPricing {
        let own = own_prices(row);
        match PriceSource::parse(&row.price_source) {
            Some(PriceSource::Catalog) => DeploymentPricing::Catalog {
                schedule: Arc::new(self.schedule(
                    row.tenant_id,
                    provider_kind,
                    &row.upstream_model,
                )),
                fallback: own,
            },
            Some(PriceSource::Deployment) => DeploymentPricing::Own(own),
            None => {
                tracing::warn!(deployment = %row.id, price_source = %row.price_source, "unknown price source; using the deployment's own prices");
                DeploymentPricing::Own(own)
            }
        }
    }
}

/// Of rows already in force (effective at or before some instant), the one per (provider kind, upstream model)
/// that applies to `tenant_id`: its own latest row, or else the latest global one. This is the price list a
/// tenant sees for that instant; it does not borrow across kinds, which depends on a provider (see `schedule`).
pub fn in_force(
    rows: impl IntoIterator<Item = model_price::Model>,
    tenant_id: Uuid,
) -> Vec<model_price::Model> {
    let mut best: HashMap<(String, String), model_price::Model> = HashMap::new();
    for row in rows {
        if row.tenant_id.is_some_and(|owner| owner != tenant_id) {
            continue;
        }
        // Tenant rows rank above global ones, then later rows above earlier ones.
        let rank = |r: &model_price::Model| (r.tenant_id.is_some(), r.effective_from);
        let key = (row.provider_kind.clone(), row.upstream_model.clone());
        match best.get(&key) {
            Some(current) if rank(current) >= rank(&row) => {}
            _ => {
                best.insert(key, row);
            }
        }
    }
    best.into_values().collect()
}

/// How one deployment is priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentPricing {
    /// Its own price columns.
    Own(Prices),
    /// The catalog. `fallback` (the deployment's columns, which hold the catalog price of its last pricing
    /// change) applies only if no catalog row is in force, e.g. on a replica whose clock runs behind.
    Catalog {
        schedule: Arc<PriceSchedule>,
        fallback: Prices,
    },
}

impl DeploymentPricing {
    /// The prices in force at `at`.
    pub fn at(&self, at: DateTime<Utc>) -> Prices {
        match self {
            Self::Own(prices) => *prices,
            Self::Catalog { schedule, fallback } => schedule.at(at).unwrap_or(*fallback),
        }
    }

    /// Where the prices come from.
    pub fn source(&self) -> PriceSource {
        match self {
            Self::Own(_) => PriceSource::Deployment,
            Self::Catalog { .. } => PriceSource::Catalog,
        }
    }
}

#[cfg(test)]
mod tests;

//! The shipped price catalog (`seed.toml`), inserted at every start as global `model_prices` rows.
//!
//! Why at start and not in a migration: the data lives in one readable file next to the code that reads it, and
//! a later catalog version is shipped by appending a `[[version]]` to that file, with no schema change. Each row
//! has a deterministic id (a UUIDv7 whose time is its `effective_from` and whose other bits hash its kind, model
//! and date), so inserting is idempotent and safe when several replicas start at once. Rows are never updated:
//! if a stored shipped row differs from the file, the file was edited in place, which the rules forbid, and
//! the start logs an error instead of rewriting history.

use crate::money::PricePerMTok;
use crate::store::entities::model_price;
use anyhow::Context;
use chrono::{DateTime, Utc};
use figment::Figment;
use figment::providers::{Format, Toml};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, QueryFilter};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use uuid::Uuid;

/// The catalog file, compiled in.
const SEED: &str = include_str!("seed.toml");

#[derive(Debug, Deserialize)]
struct SeedFile {
    version: Vec<SeedVersion>,
}

#[derive(Debug, Deserialize)]
struct SeedVersion {
    effective_from: DateTime<Utc>,
    note: String,
    prices: Vec<SeedPrice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedPrice {
    kind: String,
    model: String,
    input: String,
    output: String,
    cached_input: Option<String>,
    reasoning: Option<String>,
}

/// Every shipped row, parsed and validated. `created_at` is the given time (rows are inserted once).
pub fn rows(created_at: DateTime<Utc>) -> anyhow::Result<Vec<model_price::Model>> {
    let file: SeedFile = Figment::from(Toml::string(SEED))
        .extract()
        .context("pricing/seed.toml")?;
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for version in file.version {
        for price in version.prices {
            let context = || {
                format!(
                    "{}/{} of {}",
                    price.kind, price.model, version.effective_from
                )
            };
            anyhow::ensure!(
                super::CATALOG_KINDS.contains(&price.kind.as_str()),
                "{}: unknown kind",
                context()
            );
            anyhow::ensure!(
                seen.insert((
                    price.kind.clone(),
                    price.model.clone(),
                    version.effective_from
                )),
                "{}: listed twice",
                context()
            );
            let micros = |value: &str| {
                value
                    .parse::<PricePerMTok>()
                    .map(|p| p.0)
                    .with_context(context)
            };
            let optional = |value: &Option<String>| value.as_deref().map(micros).transpose();
            rows.push(model_price::Model {
                id: seed_id(&price.kind, &price.model, version.effective_from),
                tenant_id: None,
                input_price_micros: micros(&price.input)?,
                output_price_micros: micros(&price.output)?,
                cached_input_price_micros: optional(&price.cached_input)?,
                reasoning_price_micros: optional(&price.reasoning)?,
                provider_kind: price.kind,
                upstream_model: price.model,
                effective_from: version.effective_from,
                created_at,
                created_by: None,
                note: Some(version.note.clone()),
            });
        }
    }
    Ok(rows)
}

/// The id of a shipped row: the same on every installation and every start.
fn seed_id(kind: &str, model: &str, effective_from: DateTime<Utc>) -> Uuid {
    let digest = Sha256::digest(format!(
        "switchyard-price-seed\n{kind}\n{model}\n{}",
        effective_from.to_rfc3339()
    ));
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    let millis = u64::try_from(effective_from.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

/// Inserts the shipped rows that are missing; returns how many rows the file has.
pub async fn ensure(db: &DatabaseConnection) -> anyhow::Result<usize> {
    let rows = rows(Utc::now())?;
    let count = rows.len();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let insert = model_price::Entity::insert_many(
        rows.iter().cloned().map(IntoActiveModel::into_active_model),
    )
    .on_conflict(
        OnConflict::column(model_price::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec(db)
    .await;
    match insert {
        Ok(_) | Err(DbErr::RecordNotInserted) => {}
        Err(e) => return Err(e).context("inserting the shipped price catalog"),
    }
    let stored = model_price::Entity::find()
        .filter(model_price::Column::Id.is_in(ids))
        .all(db)
        .await
        .context("reading back the shipped price catalog")?;
    for row in &rows {
        if let Some(stored) = stored.iter().find(|s| s.id == row.id)
            && !same_price(stored, row)
        {
            tracing::error!(
                kind = %row.provider_kind,
                model = %row.upstream_model,
                effective_from = %row.effective_from,
                "the shipped price differs from the stored one; shipped prices are never edited in place, so the stored one stays (add a later version to pricing/seed.toml instead)"
            );
        }
    }
    Ok(count)
}

fn same_price(a: &model_price::Model, b: &model_price::Model) -> bool {
    (
        &a.provider_kind,
        &a.upstream_model,
        a.effective_from,
        a.input_price_micros,
        a.output_price_micros,
        a.cached_input_price_micros,
        a.reasoning_price_micros,
    ) == (
        &b.provider_kind,
        &b.upstream_model,
        b.effective_from,
        b.input_price_micros,
        b.output_price_micros,
        b.cached_input_price_micros,
        b.reasoning_price_micros,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_parses_and_covers_the_four_vendors() {
        let rows = rows(Utc::now()).expect("the shipped catalog parses");
        for kind in super::super::CATALOG_KINDS {
            assert!(
                rows.iter().filter(|r| r.provider_kind == kind).count() >= 5,
                "too few {kind} rows"
            );
        }
        let gpt4o = rows.iter().find(|r| r.upstream_model == "gpt-4o").map(|r| {
            (
                r.input_price_micros,
                r.output_price_micros,
                r.cached_input_price_micros,
            )
        });
        assert_eq!(gpt4o, Some((2_500_000, 10_000_000, Some(1_250_000))));
    }

    #[test]
    fn shipped_ids_are_stable_and_distinct() {
        let first = rows(Utc::now()).expect("parses");
        let again = rows(Utc::now()).expect("parses");
        let ids: HashSet<Uuid> = first.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), first.len());
        assert_eq!(
            first.iter().map(|r| r.id).collect::<Vec<_>>(),
            again.iter().map(|r| r.id).collect::<Vec<_>>()
        );
        assert!(first.iter().all(|r| r.id.get_version_num() == 7));
    }
}

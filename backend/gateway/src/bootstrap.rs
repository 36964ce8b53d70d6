//! What exists from the first start: the default tenant and team; and the demo setup (`serve --demo`), which
//! points a `mock` provider at the bundled mock provider and serves it as the model `demo`.

use crate::catalog::ProviderKind;
use crate::keys;
use crate::money::PricePerMTok;
use crate::pricing::PriceSource;
use crate::store::entities::{deployment, provider, team, tenant};
use crate::store::{Repo, StoreError};
use chrono::Utc;
use uuid::Uuid;

/// Name of the demo provider and model.
pub const DEMO_PROVIDER: &str = "mock";
/// Public model name served by the demo.
pub const DEMO_MODEL: &str = "demo";

/// Makes sure the demo provider points at `base_url` and the demo model exists; returns a fresh demo key.
pub async fn ensure_demo(
    repo: &Repo,
    tenant: &tenant::Model,
    team: &team::Model,
    base_url: &str,
) -> Result<String, StoreError> {
    let now = Utc::now();
    let provider = match repo.find_provider(tenant.id, DEMO_PROVIDER).await? {
        Some(existing) => repo.update_provider_base_url(existing, base_url).await?,
        None => {
            repo.insert_provider(provider::Model {
                id: Uuid::now_v7(),
                tenant_id: tenant.id,
                name: DEMO_PROVIDER.into(),
                kind: kind_name(ProviderKind::OpenAi).into(),
                base_url: base_url.into(),
                api_key_env: None,
                api_key_ciphertext: None,
                api_key_hint: None,
                created_at: now,
                updated_at: now,
            })
            .await?
        }
    };
    let has_demo_model = repo
        .list_deployments(tenant.id)
        .await?
        .iter()
        .any(|d| d.public_model == DEMO_MODEL);
    if !has_demo_model {
        repo.insert_deployment(deployment::Model {
            id: Uuid::now_v7(),
            tenant_id: tenant.id,
            public_model: DEMO_MODEL.into(),
            provider_id: provider.id,
            upstream_model: "mock-gpt".into(),
            region: "local".into(),
            // Priced like a small commercial model so the demo shows real-looking costs.
            input_price_micros: PricePerMTok(150_000).0,
            output_price_micros: PricePerMTok(600_000).0,
            cached_input_price_micros: Some(PricePerMTok(75_000).0),
            created_at: now,
            updated_at: now,
            price_source: PriceSource::Deployment.as_str().into(),
            weight: 1,
            priority: 0,
            rpm_limit: None,
            tpm_limit: None,
        })
        .await?;
    }
    let new_key = keys::generate();
    let name = format!("demo-{}", now.format("%Y%m%d-%H%M%S"));
    repo.insert_api_key(keys::new_row(tenant.id, team.id, name, &new_key, None))
        .await?;
    Ok(new_key.secret)
}

/// The stored name of a provider kind.
pub fn kind_name(kind: ProviderKind) -> &'static str {
    kind.as_str()
}

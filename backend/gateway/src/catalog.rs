//! The in-memory routing catalog: every tenant's providers and deployments with their price schedules, routing
//! settings and passive health, swapped
//! atomically on reload so the proxy reads it without locks or database round trips. Reloaded periodically and
//! on `Invalidation::Catalog`; while the database is unreachable the last good snapshot stays in use.

use crate::crypto::MasterKeys;
use crate::money::Prices;
use crate::pricing::{DeploymentPricing, PriceBook};
use crate::routing::{
    DeploymentHealth, GroupSettings, HealthPolicy, OwnLimits, Routable, Strategy,
};
use crate::state::{Invalidation, SharedState};
use crate::store::{Repo, StoreError};
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// A credential that must never reach a log line or a response.
#[derive(Clone)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The raw value, for the one place that sends it upstream.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// Wire format family of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenAI and everything that speaks its API (vLLM, Ollama, Groq, Together, DeepSeek, Mistral …).
    OpenAi,
    /// Azure OpenAI: OpenAI's wire format at `{base}/deployments/{deployment}/…?api-version=…` with an
    /// `api-key` header; the deployment's upstream model is the Azure deployment name.
    Azure,
    /// Anthropic Messages: `POST {base}/messages` (base `https://api.anthropic.com/v1`) with `x-api-key` and
    /// `anthropic-version`; requests and answers are translated from and to OpenAI's format.
    Anthropic,
    /// Google Gemini: `POST {base}/models/{model}:generateContent` and `:streamGenerateContent?alt=sse` (base
    /// `https://generativelanguage.googleapis.com/v1beta`) with `x-goog-api-key`; translated like Anthropic.
    Gemini,
}

impl ProviderKind {
    /// Every kind, by its stored name (for error messages and documentation).
    pub const NAMES: &'static [&'static str] = &["openai", "azure", "anthropic", "gemini"];

    /// Parses the stored / command-line name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "openai" => Some(Self::OpenAi),
            "azure" => Some(Self::Azure),
            "anthropic" => Some(Self::Anthropic),
            "gemini" => Some(Self::Gemini),
            _ => None,
        }
    }

    /// The stored name (also the kind under which the price catalog is searched first).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Azure => "azure",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
        }
    }

    /// The kind whose catalog prices apply: Azure OpenAI serves OpenAI's models at OpenAI's list prices.
    pub fn pricing_kind(self) -> &'static str {
        match self {
            Self::OpenAi | Self::Azure => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
        }
    }

    /// Whether the provider speaks OpenAI's wire format, so bodies pass through untranslated.
    pub fn speaks_openai(self) -> bool {
        matches!(self, Self::OpenAi | Self::Azure)
    }
}

/// The `anthropic-version` sent to Anthropic: the only version of the Messages API there is.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The `api-version` Azure OpenAI deployments are called with unless the provider's base URL names one
/// (`https://<resource>.openai.azure.com/openai?api-version=…`).
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// A provider as the proxy uses it.
#[derive(Debug)]
pub struct Provider {
    pub id: Uuid,
    pub name: String,
    pub kind: ProviderKind,
    /// Base URL including the version path, e.g. `https://api.openai.com/v1`; no trailing slash.
    pub base_url: String,
    pub api_key: Option<SecretString>,
    /// Endpoint URLs and the credential header, prepared once per catalog load instead of per request.
    pub endpoints: Endpoints,
}

/// A provider's credential header, ready to send.
#[derive(Debug)]
pub struct Endpoints {
    /// `Authorization: Bearer <key>` (OpenAI), `api-key: <key>` (Azure), `x-api-key: <key>` (Anthropic) or
    /// `x-goog-api-key: <key>` (Gemini), the value marked sensitive so HTTP libraries never print it.
    pub credential: Option<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    /// Headers the provider requires on every call (Anthropic's `anthropic-version`).
    pub fixed: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
}

impl Endpoints {
    fn new(kind: ProviderKind, api_key: Option<&SecretString>) -> Result<Self, String> {
        let credential = match api_key {
            Some(key) => {
                let (name, text) = match kind {
                    ProviderKind::OpenAi => (
                        reqwest::header::AUTHORIZATION,
                        format!("Bearer {}", key.expose()),
                    ),
                    ProviderKind::Azure => (
                        reqwest::header::HeaderName::from_static("api-key"),
                        key.expose().to_owned(),
                    ),
                    ProviderKind::Anthropic => (
                        reqwest::header::HeaderName::from_static("x-api-key"),
                        key.expose().to_owned(),
                    ),
                    ProviderKind::Gemini => (
                        reqwest::header::HeaderName::from_static("x-goog-api-key"),
                        key.expose().to_owned(),
                    ),
                };
                let mut value = reqwest::header::HeaderValue::from_str(&text).map_err(|_| {
                    "the API key contains characters not allowed in a header".to_owned()
                })?;
                value.set_sensitive(true);
                Some((name, value))
            }
            None => None,
        };
        let fixed = match kind {
            ProviderKind::Anthropic => vec![(
                reqwest::header::HeaderName::from_static("anthropic-version"),
                reqwest::header::HeaderValue::from_static(ANTHROPIC_VERSION),
            )],
            ProviderKind::OpenAi | ProviderKind::Azure | ProviderKind::Gemini => Vec::new(),
        };
        Ok(Self { credential, fixed })
    }
}

/// Where one deployment's calls go, built once per catalog load.
#[derive(Debug)]
pub struct DeploymentUrls {
    pub chat: reqwest::Url,
    /// Streamed chat; differs from `chat` only for Gemini (`:streamGenerateContent?alt=sse`).
    pub chat_stream: reqwest::Url,
    /// `None` for providers whose embeddings API the gateway does not speak (Anthropic has none; Gemini's
    /// `embedContent` is not translated).
    pub embeddings: Option<reqwest::Url>,
}

/// A deployment's endpoint URLs, built once per catalog load.
fn deployment_urls(provider: &Provider, upstream_model: &str) -> Result<DeploymentUrls, String> {
    let parse = |text: String| reqwest::Url::parse(&text).map_err(|e| format!("{text}: {e}"));
    // Path segments are pushed, not formatted, so a model or deployment name is always escaped.
    let under_base =
        |segments: &[&str], query: Option<(&str, &str)>| -> Result<reqwest::Url, String> {
            let mut url = parse(provider.base_url.clone())?;
            let kept_query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            url.set_query(None);
            url.path_segments_mut()
                .map_err(|()| format!("{}: not a base URL", provider.base_url))?
                .pop_if_empty()
                .extend(segments);
            if query.is_some() || !kept_query.is_empty() {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in &kept_query {
                    pairs.append_pair(k, v);
                }
                if let Some((k, v)) = query {
                    pairs.append_pair(k, v);
                }
            }
            Ok(url)
        };
    match provider.kind {
        ProviderKind::OpenAi => {
            let chat = parse(format!("{}/chat/completions", provider.base_url))?;
            Ok(DeploymentUrls {
                chat_stream: chat.clone(),
                chat,
                embeddings: Some(parse(format!("{}/embeddings", provider.base_url))?),
            })
        }
        ProviderKind::Azure => {
            let base = parse(provider.base_url.clone())?;
            let version = base
                .query_pairs()
                .find(|(k, _)| k == "api-version")
                .map_or_else(|| AZURE_API_VERSION.to_owned(), |(_, v)| v.into_owned());
            let endpoint = |operation: &[&str]| -> Result<reqwest::Url, String> {
                let mut url = base.clone();
                url.set_query(None);
                url.path_segments_mut()
                    .map_err(|()| format!("{}: not a base URL", provider.base_url))?
                    .pop_if_empty()
                    .push("deployments")
                    .push(upstream_model)
                    .extend(operation);
                url.query_pairs_mut().append_pair("api-version", &version);
                Ok(url)
            };
            let chat = endpoint(&["chat", "completions"])?;
            Ok(DeploymentUrls {
                chat_stream: chat.clone(),
                chat,
                embeddings: Some(endpoint(&["embeddings"])?),
            })
        }
        ProviderKind::Anthropic => {
            let chat = under_base(&["messages"], None)?;
            Ok(DeploymentUrls {
                chat_stream: chat.clone(),
                chat,
                embeddings: None,
            })
        }
        ProviderKind::Gemini => {
            // Google names models `models/<id>`; either spelling is accepted as the upstream model.
            let model = upstream_model
                .strip_prefix("models/")
                .unwrap_or(upstream_model);
            Ok(DeploymentUrls {
                chat: under_base(&["models", &format!("{model}:generateContent")], None)?,
                chat_stream: under_base(
                    &["models", &format!("{model}:streamGenerateContent")],
                    Some(("alt", "sse")),
                )?,
                embeddings: None,
            })
        }
    }
}

/// One way to serve a public model.
#[derive(Debug)]
pub struct Deployment {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub public_model: String,
    pub upstream_model: String,
    pub region: String,
    /// Its own prices or the catalog's schedule; read it through `prices_at`.
    pub pricing: DeploymentPricing,
    pub provider: Arc<Provider>,
    /// Where chat completions (whole and streamed) and embeddings of this deployment are sent.
    pub urls: DeploymentUrls,
    /// Share of traffic under the weighted strategy.
    pub weight: u32,
    /// Lower first under the priority strategy.
    pub priority: i32,
    /// The deployment's own RPM / TPM limits, counted per replica in `health.quota()`.
    pub own_limits: OwnLimits,
    /// Passive health, kept across catalog reloads.
    pub health: Arc<DeploymentHealth>,
}

impl Routable for Arc<Deployment> {
    fn health(&self) -> &DeploymentHealth {
        &self.health
    }

    fn weight(&self) -> u32 {
        self.weight
    }

    fn priority(&self) -> i32 {
        self.priority
    }

    fn estimated_cost(&self, prompt_tokens: u64, max_output: u64) -> i64 {
        let prices = self.prices_at(Utc::now());
        prices
            .input
            .cost_of(prompt_tokens)
            .saturating_add(prices.output.cost_of(max_output))
            .0
    }
}

impl Deployment {
    /// The prices in force at `at`. A call is priced at the instant it started, so a price change (including
    /// a future-dated catalog price reaching its time) applies to calls from then on and never to earlier ones.
    pub fn prices_at(&self, at: DateTime<Utc>) -> Prices {
        self.pricing.at(at)
    }

    /// Whether a call of about `prompt_tokens` fits this minute under the deployment's own limits.
    pub fn within_own_limits(&self, now_ms: u64, prompt_tokens: u64) -> bool {
        self.health
            .quota()
            .admits(self.own_limits, now_ms, prompt_tokens)
    }
}

/// Whether `name` is one of the operator's allowed provider-key variables (`admin.provider_key_env`: exact
/// names, or prefixes ending in `*`).
pub fn key_env_allowed(allowed: &[String], name: &str) -> bool {
    allowed.iter().any(|entry| match entry.strip_suffix('*') {
        Some(prefix) => name.len() > prefix.len() && name.starts_with(prefix),
        None => name == entry,
    })
}

/// One consistent view of the catalog.
#[derive(Default)]
pub struct Snapshot {
    /// tenant -> public model -> deployments (in creation order).
    by_tenant: HashMap<Uuid, HashMap<String, Vec<Arc<Deployment>>>>,
    /// Routing settings of the groups that have any; the others route with the defaults.
    /// tenant -> public model -> settings.
    groups: HashMap<Uuid, HashMap<String, GroupSettings>>,
}

impl Snapshot {
    /// Builds a snapshot from storage rows; deployments whose provider is missing or of an unknown kind are
    /// skipped with a warning rather than failing the whole catalog.
    pub fn build(
        rows: crate::store::CatalogRows,
        master_keys: &MasterKeys,
        health: &HealthRegistry,
        key_env: &[String],
    ) -> Self {
        let providers: HashMap<Uuid, Arc<Provider>> = rows
            .providers
            .into_iter()
            .filter_map(|p| {
                let Some(kind) = ProviderKind::parse(&p.kind) else {
                    tracing::warn!(provider = %p.name, kind = %p.kind, "skipping provider of unknown kind");
                    return None;
                };
                let api_key = match (&p.api_key_ciphertext, p.api_key_env.as_deref()) {
                    (Some(sealed), _) => match master_keys.decrypt(sealed, &provider_key_context(p.id)) {
                        Ok(key) => Some(SecretString::new(key)),
                        Err(e) => {
                            tracing::error!(provider = %p.name, error = %e, "cannot decrypt the provider's API key");
                            None
                        }
                    },
                    // Only the operator's allowed names are read, whoever stored the row: the gateway's own
                    // secrets live in its environment too.
                    (None, Some(var)) if !key_env_allowed(key_env, var) => {
                        tracing::warn!(provider = %p.name, env = var, "provider API key variable is not in admin.provider_key_env; not read");
                        None
                    }
                    (None, Some(var)) => match std::env::var(var) {
                        Ok(value) if !value.is_empty() => Some(SecretString::new(value)),
                        _ => {
                            tracing::warn!(provider = %p.name, env = var, "provider API key variable is not set");
                            None
                        }
                    },
                    (None, None) => None,
                };
                let base_url = p.base_url.trim_end_matches('/').to_owned();
                let endpoints = match Endpoints::new(kind, api_key.as_ref()) {
                    Ok(endpoints) => endpoints,
                    Err(e) => {
                        tracing::warn!(provider = %p.name, error = %e, "skipping provider with an unusable base URL or key");
                        return None;
                    }
                };
                Some((p.id, Arc::new(Provider { id: p.id, name: p.name, kind, base_url, api_key, endpoints })))
            })
            .collect();
        let book = PriceBook::new(rows.prices);
        let mut by_tenant: HashMap<Uuid, HashMap<String, Vec<Arc<Deployment>>>> = HashMap::new();
        for d in rows.deployments {
            let Some(provider) = providers.get(&d.provider_id) else {
                continue;
            };
            let urls = match deployment_urls(provider, &d.upstream_model) {
                Ok(urls) => urls,
                Err(e) => {
                    tracing::warn!(deployment = %d.id, error = %e, "skipping a deployment with an unusable URL");
                    continue;
                }
            };
            let deployment = Deployment {
                id: d.id,
                tenant_id: d.tenant_id,
                public_model: d.public_model.clone(),
                pricing: book.pricing_of(&d, provider.kind.pricing_kind()),
                urls,
                upstream_model: d.upstream_model,
                region: d.region,
                provider: Arc::clone(provider),
                weight: u32::try_from(d.weight).unwrap_or(0),
                priority: d.priority,
                own_limits: OwnLimits {
                    rpm: d.rpm_limit.and_then(|n| u64::try_from(n).ok()),
                    tpm: d.tpm_limit.and_then(|n| u64::try_from(n).ok()),
                },
                health: health.of(d.id),
            };
            by_tenant
                .entry(d.tenant_id)
                .or_default()
                .entry(d.public_model)
                .or_default()
                .push(Arc::new(deployment));
        }
        let mut groups: HashMap<Uuid, HashMap<String, GroupSettings>> = HashMap::new();
        for g in rows.groups {
            {
                let strategy = Strategy::parse(&g.strategy).unwrap_or_else(|| {
                    tracing::warn!(model = %g.public_model, strategy = %g.strategy, "unknown routing strategy; using the default");
                    Strategy::default()
                });
                let fallbacks = g
                    .fallbacks
                    .and_then(|f| serde_json::from_value(f).ok())
                    .unwrap_or_default();
                let max_attempts = g
                    .max_attempts
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .unwrap_or(crate::routing::DEFAULT_MAX_ATTEMPTS);
                groups.entry(g.tenant_id).or_default().insert(
                    g.public_model,
                    GroupSettings {
                        strategy,
                        fallbacks,
                        max_attempts,
                    },
                );
            }
        }
        Self { by_tenant, groups }
    }

    /// The routing settings of a model group.
    pub fn group(&self, tenant_id: Uuid, model: &str) -> &GroupSettings {
        static DEFAULT: std::sync::LazyLock<GroupSettings> =
            std::sync::LazyLock::new(GroupSettings::default);
        self.groups
            .get(&tenant_id)
            .and_then(|models| models.get(model))
            .unwrap_or(&DEFAULT)
    }

    /// The deployments serving `model` for the tenant, if the tenant has that model at all.
    pub fn deployments(&self, tenant_id: Uuid, model: &str) -> Option<&[Arc<Deployment>]> {
        self.by_tenant
            .get(&tenant_id)?
            .get(model)
            .map(Vec::as_slice)
    }

    /// The deployments of one tenant (for the admin API's health view).
    pub fn tenant_deployments(&self, tenant_id: Uuid) -> impl Iterator<Item = &Arc<Deployment>> {
        self.by_tenant
            .get(&tenant_id)
            .into_iter()
            .flat_map(|models| models.values())
            .flatten()
    }

    /// Every deployment of every tenant (for scrape-time metrics).
    pub fn all_deployments(&self) -> impl Iterator<Item = &Arc<Deployment>> {
        self.by_tenant
            .values()
            .flat_map(|models| models.values())
            .flatten()
    }

    /// The tenant's public model names, sorted.
    pub fn models(&self, tenant_id: Uuid) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .by_tenant
            .get(&tenant_id)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        names.sort_unstable();
        names
    }
}

/// Every deployment's health, by id, so that a catalog reload keeps what this replica has learnt.
pub struct HealthRegistry {
    policy: HealthPolicy,
    map: Mutex<HashMap<Uuid, Arc<DeploymentHealth>>>,
}

impl HealthRegistry {
    /// An empty registry whose deployments follow `policy`.
    pub fn new(policy: HealthPolicy) -> Self {
        Self {
            policy,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The health of a deployment, created healthy on first sight.
    pub fn of(&self, id: Uuid) -> Arc<DeploymentHealth> {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            map.entry(id)
                .or_insert_with(|| Arc::new(DeploymentHealth::new(self.policy))),
        )
    }
}

/// The associated data that binds an encrypted provider key to its provider row.
pub fn provider_key_context(provider_id: Uuid) -> String {
    format!("provider:{provider_id}:api_key")
}

/// The live catalog.
pub struct Catalog {
    snapshot: ArcSwap<Snapshot>,
    health: HealthRegistry,
    repo: Repo,
    master_keys: Arc<MasterKeys>,
    /// `admin.provider_key_env`: the variables a provider key may be read from.
    key_env: Arc<[String]>,
    reloading: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// Loads the first snapshot; fails when the database cannot be read at start.
    pub async fn load(
        repo: Repo,
        master_keys: Arc<MasterKeys>,
        policy: HealthPolicy,
        key_env: &[String],
    ) -> Result<Arc<Self>, StoreError> {
        let health = HealthRegistry::new(policy);
        let snapshot = Snapshot::build(repo.load_catalog().await?, &master_keys, &health, key_env);
        Ok(Arc::new(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            health,
            repo,
            master_keys,
            key_env: key_env.into(),
            reloading: tokio::sync::Mutex::new(()),
        }))
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// Reloads from storage; on failure keeps the current snapshot.
    pub async fn reload(&self) -> Result<(), StoreError> {
        // One reload at a time: otherwise a slow reload that read the database before a change could store
        // its older snapshot after a newer one.
        let _serialized = self.reloading.lock().await;
        let rows = self.repo.load_catalog().await?;
        self.snapshot.store(Arc::new(Snapshot::build(
            rows,
            &self.master_keys,
            &self.health,
            &self.key_env,
        )));
        Ok(())
    }

    /// Keeps the catalog fresh: reloads every `every`, and at once on an invalidation.
    pub fn spawn_refresher(self: &Arc<Self>, state: Arc<dyn SharedState>, every: Duration) {
        let catalog = Arc::clone(self);
        let mut invalidations = state.subscribe();
        tokio::spawn(async move {
            // The first snapshot was just loaded; the first periodic reload is one period away.
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    message = invalidations.recv() => match message {
                        Ok(Invalidation::Catalog | Invalidation::Everything) => {}
                        Ok(Invalidation::ApiKey { .. } | Invalidation::Budgets) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
                if let Err(e) = catalog.reload().await {
                    tracing::warn!(error = %e, "catalog reload failed; keeping the last snapshot");
                }
            }
        });
    }
}

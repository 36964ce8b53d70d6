//! Building the application: storage, shared state, catalog, key cache, usage pipeline and the HTTP server,
//! bound to its listener before it runs so tests can ask for port 0 and read the real port.

use crate::admin::{self, context::AdminState};
use crate::auth::KeyResolver;
use crate::catalog::Catalog;
use crate::config::Settings;
use crate::crypto::{CryptoError, MasterKeys};
use crate::error::ProxyError;
use crate::health::{self, HealthState};
use crate::identity::tokens::TokenSigner;
use crate::limits::{BudgetBook, Limits};
use crate::proxy::{self, ProxyParts};
use crate::state::{MemoryState, RedisState, SharedState};
use crate::store::entities::{team, tenant};
use crate::store::{self, Repo};
use crate::upstream::UpstreamClient;
use crate::usage::{self, Spool, UsageWriter, WriterStats};
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError, web};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;

/// Long-lived parts of a built application, exposed for the CLI, the demo and tests.
#[derive(Clone)]
pub struct Services {
    pub repo: Repo,
    pub state: Arc<dyn SharedState>,
    pub catalog: Arc<Catalog>,
    pub default_tenant: tenant::Model,
    pub default_team: team::Model,
    pub usage_stats: Arc<WriterStats>,
    /// The usage sink (shutdown waits on its open calls).
    pub usage: crate::usage::UsageSink,
    pub limits: Arc<Limits>,
    /// The trace exporter, when traces are on.
    pub tracing: Option<Arc<crate::otel::Tracing>>,
}

/// A built, bound, not yet running application.
pub struct Application {
    port: u16,
    server: Server,
    writer: UsageWriter,
    upkeep: tokio::task::JoinHandle<()>,
    services: Services,
}

/// Opens storage and shared state as configured, migrating the database and adding the shipped prices.
pub async fn open_storage(settings: &Settings) -> anyhow::Result<(Repo, Arc<dyn SharedState>)> {
    let url = settings.effective_database_url();
    let db = store::connect(&url, settings.database_pool_size)
        .await
        .with_context(|| format!("connecting to the database ({})", redact_url(&url)))?;
    store::migrate(&db).await.context("applying migrations")?;
    crate::pricing::seed::ensure(&db)
        .await
        .context("seeding the shipped price catalog")?;
    let state: Arc<dyn SharedState> = match &settings.redis_url {
        Some(url) => RedisState::connect(url, &settings.redis_prefix)
            .await
            .with_context(|| format!("connecting to Redis ({})", redact_url(url)))?,
        None => Arc::new(MemoryState::default()),
    };
    Ok((Repo::new(db), state))
}

impl Application {
    /// Builds everything and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen_addr()?)
            .with_context(|| format!("binding {}", settings.listen))?;
        Self::build_with_listener(settings, listener).await
    }

    /// Builds everything on an already bound listener.
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let (repo, state) = open_storage(&settings).await?;
        // Before any event can arrive: this month's and next month's partitions (Postgres).
        usage::maintenance::ensure_partitions(&repo, chrono::Utc::now())
            .await
            .context("creating usage partitions")?;
        let (default_tenant, default_team) = repo.ensure_default_tenant().await?;
        crate::admin::bootstrap::ensure_first_owner(&repo, &default_tenant)
            .await
            .context("creating the first owner")?;
        let previous: Vec<Vec<u8>> = settings
            .admin
            .jwt_previous_secrets
            .iter()
            .map(|s| s.0.as_bytes().to_vec())
            .collect();
        let signer = TokenSigner::new(&jwt_secret(&settings)?, settings.admin.access_token_ttl)
            .and_then(|signer| signer.with_previous(&previous))
            .context("admin.jwt_secret")?;
        let master_keys = Arc::new(master_keys(&settings)?);
        let egress = settings.egress_policy()?;
        let proxies = crate::client_address::TrustedProxies::parse(&settings.admin.trusted_proxies)
            .map_err(|message| anyhow::anyhow!("admin.trusted_proxies: {message}"))?;
        let admin_state = web::Data::new(AdminState {
            repo: repo.clone(),
            state: Arc::clone(&state),
            signer,
            master_keys: Arc::clone(&master_keys),
            settings: settings.admin.clone(),
            storage_runtime: tokio::runtime::Handle::current(),
            egress: Arc::clone(&egress),
            proxies: proxies.clone(),
            hashing: Arc::new(tokio::sync::Semaphore::new(
                settings.admin.password_hash_concurrency,
            )),
        });
        tokio::task::spawn_blocking(usage::tokenizer::warm_up);

        let catalog = Catalog::load(
            repo.clone(),
            Arc::clone(&master_keys),
            settings.routing.health_policy(),
            &settings.admin.provider_key_env,
        )
        .await
        .context("loading the provider catalog")?;
        catalog.spawn_refresher(Arc::clone(&state), settings.proxy.catalog_refresh);
        let budgets = BudgetBook::load(repo.clone(), Arc::clone(&master_keys))
            .await
            .context("loading budgets")?;
        budgets.spawn_refresher(&state, settings.proxy.catalog_refresh);
        // A reservation or in-flight slot must outlive the longest call it covers.
        let limits = Limits::new(
            Arc::clone(&state),
            budgets,
            repo.clone(),
            tokio::runtime::Handle::current(),
            settings.upstream.total_timeout + std::time::Duration::from_secs(60),
            &egress,
        );
        limits.spawn_reconciler(std::time::Duration::from_secs(60));
        let keys = KeyResolver::new(
            repo.clone(),
            settings.proxy.key_cache_ttl,
            settings.proxy.key_cache_max_stale,
            &state,
        );

        let spool_dir = settings.spool_dir();
        let spool = Spool::open(&spool_dir)
            .with_context(|| format!("opening the usage spool {}", spool_dir.display()))?;
        let (sink, rx, queued) = usage::channel();
        let writer = UsageWriter::start(repo.clone(), spool, settings.usage.clone(), rx, queued);
        let upkeep = usage::maintenance::spawn(repo.clone(), settings.usage.raw_retention_days);

        // Checked once here so a broken TLS setup fails the start; each worker then builds its own client, so
        // pooled upstream connections live on the worker's own runtime (actix workers are single-threaded).
        let shared_upstream = UpstreamClient::new(settings.upstream.clone(), Arc::clone(&egress))
            .context("building the upstream HTTP client")?;
        // Traces export from this runtime (the storage runtime), never from the HTTP workers.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tracing_export =
            crate::otel::Tracing::init(&settings.tracing).context("starting the trace exporter")?;
        let metrics = Arc::new(
            crate::metrics::Metrics::new(settings.metrics.max_label_sets, settings.metrics.enabled)
                .context("registering the metrics")?,
        );
        let metrics_endpoint = settings.metrics.enabled.then(|| {
            web::Data::new(crate::metrics::MetricsEndpoint {
                metrics: Arc::clone(&metrics),
                catalog: Arc::clone(&catalog),
                usage: sink.clone(),
                stats: Arc::clone(&writer.stats),
                bearer_token: settings.metrics.bearer_token.as_ref().map(|t| t.0.clone()),
                spans: tracing_export.as_ref().map(|t| Arc::clone(&t.stats)),
                token_required: settings.admin.mode == crate::config::TenancyMode::Saas,
                limits: Arc::clone(&limits),
                proxies: proxies.clone(),
            })
        });
        let usage_sink = sink.clone();
        let proxy_parts = ProxyParts {
            keys,
            catalog: Arc::clone(&catalog),
            usage: sink,
            limits: Arc::clone(&limits),
            metrics,
            tracing: tracing_export.clone(),
            settings: settings.proxy.clone(),
            proxies: proxies.clone(),
        };
        let health_state = web::Data::new(HealthState {
            repo: repo.clone(),
            state: Arc::clone(&state),
            storage_runtime: tokio::runtime::Handle::current(),
        });
        let console = web::Data::new(crate::console::ConsoleFiles::new(
            settings.console_dir.clone(),
        ));
        // The admin API reads live deployment health from the catalog.
        let catalog_data = web::Data::from(Arc::clone(&catalog));
        let port = listener.local_addr()?.port();
        let workers = if settings.workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            settings.workers
        };

        let server = HttpServer::new(move || {
            let upstream = shared_upstream.for_worker();
            App::new()
                .app_data(web::Data::new(proxy_parts.clone().into_state(upstream)))
                .app_data(health_state.clone())
                .app_data(admin_state.clone())
                .app_data(console.clone())
                .app_data(catalog_data.clone())
                .configure(health::configure)
                .configure(|cfg| {
                    if let Some(endpoint) = &metrics_endpoint {
                        cfg.app_data(endpoint.clone())
                            .route("/metrics", web::get().to(crate::metrics::scrape));
                    }
                })
                .configure(proxy::configure)
                .configure(admin::configure)
                .default_service(web::to(route_not_found))
        })
        .workers(workers)
        // Each SSE event is a small write: with Nagle's algorithm on, a kept-alive client's delayed ACK holds the
        // next one back by ~40 ms. Answers go out as they are written.
        .tcp_nodelay(true)
        .shutdown_timeout(
            u64::try_from(settings.proxy.shutdown_grace.as_millis().div_ceil(1000))
                .unwrap_or(u64::MAX),
        )
        .listen(listener)?
        .run();

        let services = Services {
            repo,
            state,
            catalog,
            default_tenant,
            default_team,
            usage_stats: Arc::clone(&writer.stats),
            usage: usage_sink,
            limits,
            tracing: tracing_export,
        };
        Ok(Self {
            port,
            server,
            writer,
            upkeep,
            services,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Shared parts, for the demo and tests.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// A handle that stops the server (gracefully with `stop(true)`).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGINT / SIGTERM or a handle), then drains the usage queue before returning.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        // Workers that stopped with calls still running drop those calls' records, each recording its event as
        // `interrupted`; wait for them before the queue is drained for the last time.
        let still_open = self
            .services
            .usage
            .wait_for_open_calls(std::time::Duration::from_secs(10))
            .await;
        if still_open > 0 {
            tracing::error!(
                calls = still_open,
                "calls still open after the HTTP server stopped; their events may be missing"
            );
        }
        tracing::info!("HTTP server stopped; flushing usage events");
        self.writer.shutdown().await;
        if let Some(tracing) = self.services.tracing.clone() {
            // Shutting the exporter down blocks while it sends the last batch.
            let _ = tokio::task::spawn_blocking(move || tracing.shutdown()).await;
        }
        self.upkeep.abort();
        served.context("HTTP server failed")
    }
}

/// The master keys for secrets at rest: `SWITCHYARD_MASTER_KEY` (and `_PREVIOUS` while rotating), or for a
/// single node a key file created in the data directory.
fn master_keys(settings: &Settings) -> anyhow::Result<MasterKeys> {
    match MasterKeys::from_env() {
        Ok(keys) => Ok(keys),
        Err(CryptoError::MissingKey(_)) => {
            if settings.redis_url.is_some() {
                tracing::warn!(
                    "SWITCHYARD_MASTER_KEY is not set: this replica keeps its own key file; replicas must share one key"
                );
            }
            Ok(MasterKeys::ephemeral_for_embedded(&settings.data_dir)?)
        }
        Err(e) => Err(e).context("SWITCHYARD_MASTER_KEY"),
    }
}

/// The access-token signing secret: configured (shared by every replica), or a random one kept in the data
/// directory for a single node.
fn jwt_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &settings.admin.jwt_secret {
        return Ok(secret.0.as_bytes().to_vec());
    }
    let path = settings.data_dir.join("jwt.secret");
    // Created private (0600) from its first byte, never written first and restricted after.
    let secret = crate::crypto::key_file::read_or_create_private(&path, || {
        Ok(crate::keys::generate().secret.into_bytes())
    })
    .with_context(|| format!("reading or creating {}", path.display()))?;
    if secret.len() < 32 {
        anyhow::bail!(
            "{} holds fewer than 32 bytes; delete it to make a new one",
            path.display()
        );
    }
    if settings.redis_url.is_some() {
        tracing::warn!(
            "admin.jwt_secret is not set: each replica signs sessions with its own secret; set SWITCHYARD_ADMIN__JWT_SECRET"
        );
    }
    Ok(secret)
}

/// Anything no route took: the console for a browser path, else the proxy's JSON 404.
async fn route_not_found(
    req: HttpRequest,
    console: web::Data<crate::console::ConsoleFiles>,
) -> HttpResponse {
    if crate::console::is_console_request(&req)
        && let Some(response) = crate::console::serve(&req, &console)
    {
        return response;
    }
    let mut response =
        ProxyError::RouteNotFound(format!("{} {}", req.method(), req.path())).error_response();
    if req.path().starts_with("/v1") {
        crate::proxy::with_request_id(response.headers_mut());
    }
    response
}

/// A URL with its password replaced, for log lines and error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => {
                    format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}

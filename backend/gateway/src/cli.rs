//! The `switchyard` command line: `serve`, `migrate`, and operator commands for keys, providers and models
//! that act on the configured database directly, so a gateway can be run headless before the admin API exists.
//! Commands that change what running gateways cache publish an invalidation through the shared state.

use crate::bootstrap;
use crate::catalog::ProviderKind;
use crate::config::Settings;
use crate::keys;
use crate::money::{PricePerMTok, Prices};
use crate::pricing::PriceSource;
use crate::startup::{Application, open_storage};
use crate::state::{Invalidation, SharedState};
use crate::store::Repo;
use crate::store::entities::{deployment, provider};
use crate::telemetry;
use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

/// Switchyard, the multi-tenant AI gateway.
#[derive(Parser, Debug)]
#[command(name = "switchyard", version, about)]
pub struct Cli {
    /// TOML configuration file (also `SWITCHYARD_CONFIG`).
    #[arg(long, env = "SWITCHYARD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the gateway.
    Serve {
        /// Also start the bundled mock provider, serve it as the model `demo`, and print a key to try it with.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API keys of the default tenant.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage providers of the default tenant.
    #[command(subcommand)]
    Providers(ProvidersCommand),
    /// Manage public models (deployments) of the default tenant.
    #[command(subcommand)]
    Models(ModelsCommand),
}

/// `switchyard keys …`
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key; its secret is printed once, alone on the last line.
    Create {
        #[arg(long)]
        name: String,
        /// Team slug (default: the default team).
        #[arg(long)]
        team: Option<String>,
        /// Comma-separated public model names this key may use (default: all).
        #[arg(long, value_delimiter = ',')]
        models: Option<Vec<String>>,
    },
    /// List keys (display prefixes only).
    List,
    /// Revoke a key by id or display prefix.
    Revoke { id_or_prefix: String },
}

/// `switchyard providers …`
#[derive(Subcommand, Debug)]
pub enum ProvidersCommand {
    /// Register a provider.
    Add {
        #[arg(long)]
        name: String,
        /// Wire format: `openai` (OpenAI and every OpenAI-compatible server), `azure`, `anthropic` or `gemini`.
        #[arg(long = "type", default_value = "openai")]
        kind: String,
        /// Base URL including the version path, e.g. `https://api.openai.com/v1`.
        #[arg(long)]
        base_url: String,
        /// Name of the environment variable holding the provider API key (the key itself is never passed on
        /// the command line or stored).
        #[arg(long)]
        api_key_env: Option<String>,
    },
    /// List providers.
    List,
}

/// `switchyard models …`
#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Serve a public model name with a provider's upstream model.
    Add {
        #[arg(long)]
        model: String,
        #[arg(long)]
        provider: String,
        #[arg(long)]
        upstream_model: String,
        /// Data residency region of this deployment.
        #[arg(long, default_value = "global")]
        region: String,
        /// Price per million input tokens, e.g. 2.50.
        #[arg(long, default_value = "0")]
        input_price: String,
        /// Price per million output tokens.
        #[arg(long, default_value = "0")]
        output_price: String,
        /// Price per million cached input tokens (default: the input price).
        #[arg(long)]
        cached_input_price: Option<String>,
    },
    /// List public models and their deployments.
    List,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(settings.log_format);
    match cli.command {
        Command::Serve { demo } => serve(settings, demo).await,
        Command::Migrate => {
            open_storage(&settings).await?;
            out(format_args!("migrations applied"))
        }
        Command::Keys(command) => keys_command(&settings, command).await,
        Command::Providers(command) => providers_command(&settings, command).await,
        Command::Models(command) => models_command(&settings, command).await,
    }
}

async fn serve(settings: Settings, demo: bool) -> anyhow::Result<()> {
    let mock = if demo {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("binding the demo mock provider")?;
        Some(
            mock_provider::MockServer::start(
                listener,
                mock_provider::MockConfig {
                    // A little latency so streaming is visible in a terminal.
                    ttft: std::time::Duration::from_millis(150),
                    chunk_delay: std::time::Duration::from_millis(40),
                    ..mock_provider::MockConfig::default()
                },
            )
            .await?,
        )
    } else {
        None
    };
    let mut settings = settings;
    if mock.is_some() {
        // The demo provider listens on loopback, which the egress policy refuses unless allowed: the operator
        // asked for it with `--demo`, so exactly its address is allowed.
        settings
            .egress
            .allowed_networks
            .push("127.0.0.1".to_owned());
    }
    let app = Application::build(settings.clone()).await?;
    let services = app.services().clone();
    tracing::info!(
        port = app.port(),
        database = if settings.database_url.is_some() {
            "configured"
        } else {
            "embedded sqlite"
        },
        shared_state = services.state.kind(),
        "switchyard listening"
    );
    if let Some(mock) = &mock {
        let secret = bootstrap::ensure_demo(
            &services.repo,
            &services.default_tenant,
            &services.default_team,
            &mock.base_url(),
        )
        .await?;
        services.catalog.reload().await?;
        print_demo_banner(app.port(), &secret, settings.database_url.is_none())?;
    }
    let result = app.run_until_stopped().await;
    if let Some(mock) = mock {
        mock.stop().await;
    }
    result
}

fn print_demo_banner(port: u16, secret: &str, embedded: bool) -> anyhow::Result<()> {
    let base = format!("http://127.0.0.1:{port}/v1");
    let storage = if embedded {
        "embedded SQLite"
    } else {
        "the configured database"
    };
    out(format_args!(
        "\nSwitchyard is running at http://127.0.0.1:{port} ({storage}; the model `demo` is served by the bundled mock provider).\n\
         A demo API key was created for you (shown once):\n\n    {secret}\n\n\
         Try it:\n\n    curl {base}/chat/completions -H \"Authorization: Bearer {secret}\" -H 'Content-Type: application/json' \\\n      -d '{{\"model\":\"demo\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello!\"}}]}}'\n\n\
         With the OpenAI Python SDK:\n\n    from openai import OpenAI\n    client = OpenAI(base_url=\"{base}\", api_key=\"{secret}\")\n    print(client.chat.completions.create(model=\"demo\", messages=[{{\"role\": \"user\", \"content\": \"Hello!\"}}]).choices[0].message.content)\n\n\
         The web console is at http://127.0.0.1:{port}/ - sign in as the first owner (on the first start, its one-time\n\
         password was printed above). More keys: in the console, or `switchyard keys create --name my-app`.\n\
         Stop with Ctrl-C (usage is flushed before exit).\n"
    ))
}

/// Writes a line to stdout; the CLI's output is its interface.
fn out(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{args}").context("writing to stdout")
}

async fn notify(settings: &Settings, state: &Arc<dyn SharedState>, message: Invalidation) {
    if let Err(e) = state.publish(&message).await {
        tracing::warn!(error = %e, "could not notify running gateways; they pick the change up within their cache TTL");
    } else if settings.redis_url.is_none() {
        tracing::info!(
            ttl = ?settings.proxy.key_cache_ttl,
            "no Redis configured: a running gateway notices this change within its cache TTL / catalog refresh"
        );
    }
}

async fn keys_command(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    let (repo, state) = open_storage(settings).await?;
    let (tenant, default_team) = repo.ensure_default_tenant().await?;
    match command {
        KeysCommand::Create { name, team, models } => {
            let team = match team {
                Some(slug) => repo
                    .find_team(tenant.id, &slug)
                    .await?
                    .with_context(|| format!("no team `{slug}`"))?,
                None => default_team,
            };
            let new_key = keys::generate();
            let row = repo
                .insert_api_key(keys::new_row(tenant.id, team.id, name, &new_key, models))
                .await?;
            out(format_args!(
                "created key `{}` (id {}, prefix {}) in team `{}`",
                row.name, row.id, row.prefix, team.slug
            ))?;
            out(format_args!("the secret is shown once; store it now:"))?;
            out(format_args!("{}", new_key.secret))
        }
        KeysCommand::List => {
            out(format_args!(
                "{:<36}  {:<14}  {:<20}  {:<8}  created",
                "id", "prefix", "name", "status"
            ))?;
            for key in repo.list_api_keys(tenant.id).await? {
                let status = if key.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                out(format_args!(
                    "{:<36}  {:<14}  {:<20}  {:<8}  {}",
                    key.id,
                    key.prefix,
                    key.name,
                    status,
                    key.created_at.format("%Y-%m-%d %H:%M")
                ))?;
            }
            Ok(())
        }
        KeysCommand::Revoke { id_or_prefix } => {
            let Some(key) = repo.revoke_api_key(tenant.id, &id_or_prefix).await? else {
                bail!("no key matches `{id_or_prefix}`");
            };
            notify(
                settings,
                &state,
                Invalidation::ApiKey {
                    key_hash: key.key_hash.clone(),
                },
            )
            .await;
            out(format_args!("revoked key `{}` ({})", key.name, key.prefix))
        }
    }
}

async fn providers_command(settings: &Settings, command: ProvidersCommand) -> anyhow::Result<()> {
    let (repo, state) = open_storage(settings).await?;
    let (tenant, _) = repo.ensure_default_tenant().await?;
    match command {
        ProvidersCommand::Add {
            name,
            kind,
            base_url,
            api_key_env,
        } => {
            let Some(parsed) = ProviderKind::parse(&kind) else {
                bail!(
                    "unknown provider type `{kind}` (supported: {})",
                    ProviderKind::NAMES.join(", ")
                )
            };
            if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                bail!("--base-url must start with http:// or https://");
            }
            if let Some(var) = &api_key_env
                && !crate::catalog::key_env_allowed(&settings.admin.provider_key_env, var)
            {
                bail!(
                    "--api-key-env {var} is not in admin.provider_key_env ({}); the catalog reads no other variable",
                    settings.admin.provider_key_env.join(", ")
                );
            }
            if let Some(var) = &api_key_env
                && std::env::var(var).is_err()
            {
                tracing::warn!(env = %var, "the variable is not set in this shell; the gateway reads it at start");
            }
            if repo.find_provider(tenant.id, &name).await?.is_some() {
                bail!("a provider named `{name}` already exists");
            }
            let now = Utc::now();
            let row = repo
                .insert_provider(provider::Model {
                    id: Uuid::now_v7(),
                    tenant_id: tenant.id,
                    name,
                    kind: bootstrap::kind_name(parsed).into(),
                    base_url: base_url.trim_end_matches('/').to_owned(),
                    api_key_env,
                    api_key_ciphertext: None,
                    api_key_hint: None,
                    created_at: now,
                    updated_at: now,
                })
                .await?;
            notify(settings, &state, Invalidation::Catalog).await;
            out(format_args!(
                "added provider `{}` ({}, {}) id {}",
                row.name, row.kind, row.base_url, row.id
            ))
        }
        ProvidersCommand::List => {
            out(format_args!(
                "{:<20}  {:<8}  {:<40}  api key from",
                "name", "type", "base url"
            ))?;
            for p in repo.list_providers(tenant.id).await? {
                let key = p
                    .api_key_env
                    .map(|v| format!("${v}"))
                    .unwrap_or_else(|| "(none)".into());
                out(format_args!(
                    "{:<20}  {:<8}  {:<40}  {}",
                    p.name, p.kind, p.base_url, key
                ))?;
            }
            Ok(())
        }
    }
}

async fn models_command(settings: &Settings, command: ModelsCommand) -> anyhow::Result<()> {
    let (repo, state) = open_storage(settings).await?;
    let (tenant, _) = repo.ensure_default_tenant().await?;
    match command {
        ModelsCommand::Add {
            model,
            provider,
            upstream_model,
            region,
            input_price,
            output_price,
            cached_input_price,
        } => {
            let provider = repo
                .find_provider(tenant.id, &provider)
                .await?
                .with_context(|| format!("no provider `{provider}`"))?;
            let prices = Prices {
                input: input_price
                    .parse::<PricePerMTok>()
                    .context("--input-price")?,
                output: output_price
                    .parse::<PricePerMTok>()
                    .context("--output-price")?,
                cached_input: cached_input_price
                    .map(|p| p.parse::<PricePerMTok>())
                    .transpose()
                    .context("--cached-input-price")?,
                reasoning: None,
            };
            if model.is_empty() || upstream_model.is_empty() || region.is_empty() {
                bail!("--model, --upstream-model and --region must not be empty");
            }
            let now = Utc::now();
            let row = repo
                .insert_deployment(deployment::Model {
                    id: Uuid::now_v7(),
                    tenant_id: tenant.id,
                    public_model: model,
                    provider_id: provider.id,
                    upstream_model,
                    region,
                    input_price_micros: prices.input.0,
                    output_price_micros: prices.output.0,
                    cached_input_price_micros: prices.cached_input.map(|p| p.0),
                    created_at: now,
                    updated_at: now,
                    price_source: PriceSource::Deployment.as_str().into(),
                    weight: 1,
                    priority: 0,
                    rpm_limit: None,
                    tpm_limit: None,
                })
                .await?;
            notify(settings, &state, Invalidation::Catalog).await;
            out(format_args!(
                "model `{}` -> {}/{} in {} (input {}, output {} per million tokens) id {}",
                row.public_model,
                provider.name,
                row.upstream_model,
                row.region,
                prices.input,
                prices.output,
                row.id
            ))
        }
        ModelsCommand::List => list_models(&repo, tenant.id).await,
    }
}

async fn list_models(repo: &Repo, tenant_id: Uuid) -> anyhow::Result<()> {
    let providers = repo.list_providers(tenant_id).await?;
    out(format_args!(
        "{:<20}  {:<16}  {:<24}  {:<8}  {:>10}  {:>10}",
        "model", "provider", "upstream model", "region", "input/M", "output/M"
    ))?;
    for d in repo.list_deployments(tenant_id).await? {
        let provider = providers
            .iter()
            .find(|p| p.id == d.provider_id)
            .map_or("?", |p| p.name.as_str());
        out(format_args!(
            "{:<20}  {:<16}  {:<24}  {:<8}  {:>10}  {:>10}",
            d.public_model,
            provider,
            d.upstream_model,
            d.region,
            PricePerMTok(d.input_price_micros),
            PricePerMTok(d.output_price_micros)
        ))?;
    }
    Ok(())
}

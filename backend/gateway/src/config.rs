//! Settings: defaults < TOML file (`SWITCHYARD_CONFIG` or `--config`) < `SWITCHYARD_*` environment variables
//! (nested keys with `__`, e.g. `SWITCHYARD_UPSTREAM__CONNECT_TIMEOUT=2s`). Validated once at start; every
//! error names the key at fault. Every setting is documented in docs/configuration.md.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variables with the `SWITCHYARD_` prefix that are not settings of this struct (read elsewhere).
/// `SWITCHYARD_TEST_*`, `SWITCHYARD_E2E_*` and `SWITCHYARD_SKIP_E2E` belong to the test suites.
const NON_SETTING_ENV: &[&str] = &[
    "config",
    "skip_e2e",
    "cache_dir",
    "admin_email",
    "admin_password",
    "master_key",
    "master_key_previous",
];

/// The whole validated configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds.
    pub listen: String,
    /// `postgres://…` or `sqlite://…`; unset: a SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// `redis://…`; unset: in-process state (single node only).
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so several deployments can share one Redis.
    pub redis_prefix: String,
    /// Directory for the embedded database and the usage spool.
    pub data_dir: PathBuf,
    /// The built web console (`scripts/build-console.sh` writes it), served at `/`.
    pub console_dir: PathBuf,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// Database connection pool size.
    pub database_pool_size: u32,
    pub proxy: ProxySettings,
    pub upstream: UpstreamSettings,
    pub usage: UsageSettings,
    pub routing: RoutingSettings,
    pub admin: AdminSettings,
    pub metrics: MetricsSettings,
    pub tracing: TracingSettings,
    /// Where tenant-aimed outbound requests (provider URLs, budget webhooks) may go: `crate::egress`.
    pub egress: crate::egress::EgressSettings,
}

/// OpenTelemetry traces over OTLP. The standard `OTEL_*` variables apply where these settings are left unset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingSettings {
    /// `true` / `false`; unset: on when an OTLP endpoint is configured here or in `OTEL_EXPORTER_OTLP_ENDPOINT` /
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`. `OTEL_SDK_DISABLED=true` turns it off.
    pub enabled: Option<bool>,
    /// Collector base URL (`http://collector:4318` for HTTP, `http://collector:4317` for gRPC); unset: the
    /// `OTEL_EXPORTER_OTLP_*ENDPOINT` variables, else the OTLP default.
    pub endpoint: Option<String>,
    /// `http/protobuf` or `grpc`; unset: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`, else
    /// `http/protobuf`.
    pub protocol: Option<String>,
    /// Share of new traces sampled (0 to 1); a caller's sampled flag is followed. `OTEL_TRACES_SAMPLER` wins.
    pub sample_ratio: f64,
    /// Spans waiting for export at most; beyond it spans are dropped and counted.
    pub max_queue_size: usize,
    /// How often a batch is sent.
    #[serde(with = "humantime_serde")]
    pub export_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub export_timeout: Duration,
    /// Record prompts and completions (redacted) on spans. Off by default.
    pub capture_content: bool,
    /// `service.name` unless `OTEL_SERVICE_NAME` is set.
    pub service_name: String,
}

impl TracingSettings {
    fn env(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }

    /// Whether traces are exported.
    pub fn is_enabled(&self) -> bool {
        if Self::env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return false;
        }
        self.enabled.unwrap_or_else(|| {
            self.endpoint.is_some()
                || Self::env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                || Self::env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
        })
    }

    /// The configured endpoint (the exporter reads the `OTEL_*` variables itself when this is `None`).
    pub fn endpoint(&self) -> Option<String> {
        self.endpoint.clone()
    }

    /// The transport: the setting, then the standard variables, then HTTP/protobuf.
    pub fn protocol(&self) -> crate::otel::OtlpProtocol {
        self.protocol
            .clone()
            .or_else(|| Self::env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
            .or_else(|| Self::env("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .and_then(|p| crate::otel::OtlpProtocol::parse(&p))
            .unwrap_or(crate::otel::OtlpProtocol::HttpProtobuf)
    }
}

/// `GET /metrics` in Prometheus' text format.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `GET /metrics`.
    pub enabled: bool,
    /// When set, scrapes must send `Authorization: Bearer <token>`.
    pub bearer_token: Option<SecretValue>,
    /// Most (tenant, model, provider) label sets with their own series; later ones are counted as `other`.
    pub max_label_sets: usize,
}

/// A secret setting: never printed by `Debug`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretValue(pub String);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

/// How tenants come to exist.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TenancyMode {
    /// One tenant, created at first start.
    SelfHosted,
    /// A platform operator creates tenants; sign-up creates a tenant with its owner.
    Saas,
}

/// The admin API and console sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub mode: TenancyMode,
    /// HS256 secret for access tokens, at least 32 bytes; every replica must share it. Unset: a random secret
    /// kept in `<data_dir>/jwt.secret` (single node only).
    pub jwt_secret: Option<SecretValue>,
    /// Lifetime of an access token.
    #[serde(with = "humantime_serde")]
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token (each refresh issues a new one).
    #[serde(with = "humantime_serde")]
    pub refresh_token_ttl: Duration,
    /// Mark session cookies `Secure` (turn off only for plain-http development).
    pub secure_cookies: bool,
    /// Failed sign-ins allowed per email (and per client address) within `login_window`.
    pub login_attempts: u32,
    #[serde(with = "humantime_serde")]
    pub login_window: Duration,
    /// Environment variables a provider's key may be read from (`api_key_env`): exact names, or prefixes
    /// ending in `*`. Reading the gateway's environment is an operator's power: the admin API accepts only
    /// these names in self-hosted mode and none in SaaS mode; the catalog reads no other variable.
    pub provider_key_env: Vec<String>,
    /// Previous access-token secrets, still accepted for verification while a rotation completes (tokens are
    /// only ever signed with `jwt_secret`).
    pub jwt_previous_secrets: Vec<SecretValue>,
    /// Reverse proxies (networks or addresses) whose `X-Forwarded-For` names the client for sign-in throttling
    /// and the `/metrics` loopback rule. Empty: the peer address is the client.
    pub trusted_proxies: Vec<String>,
    /// How long an invitation to join a tenant can be accepted.
    #[serde(with = "humantime_serde")]
    pub invitation_ttl: Duration,
    /// Password hashes computed at once (Argon2id uses 19 MiB each); further sign-ins wait their turn.
    pub password_hash_concurrency: usize,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings of the `/v1` proxy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// Largest accepted request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long a resolved API key is trusted before it is looked up again.
    #[serde(with = "humantime_serde")]
    pub key_cache_ttl: Duration,
    /// While the database is unreachable, how long an expired cache entry may still be used.
    #[serde(with = "humantime_serde")]
    pub key_cache_max_stale: Duration,
    /// How often the in-memory catalog of providers and deployments is reloaded.
    #[serde(with = "humantime_serde")]
    pub catalog_refresh: Duration,
    /// Request headers copied to the upstream request. Exact names, or a prefix ending in `*`.
    pub forward_headers: Vec<String>,
    /// How long a graceful shutdown waits for in-flight requests and streams.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Output tokens reserved against budgets and TPM limits for a call that sets no `max_tokens`.
    pub default_max_output_tokens: u64,
}

/// Timeouts and pooling of upstream HTTP calls (defaults for every provider).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Until the response headers arrive.
    #[serde(with = "humantime_serde")]
    pub first_byte_timeout: Duration,
    /// The whole call, streams included.
    #[serde(with = "humantime_serde")]
    pub total_timeout: Duration,
    /// Idle keep-alive connections kept per upstream host.
    pub pool_max_idle_per_host: usize,
    /// Largest provider answer read: a whole non-streamed body, or everything one stream delivers. Past it the
    /// call ends with a 502 `upstream_response_too_large`, billed for what was consumed.
    pub max_response_bytes: usize,
    /// Largest single SSE event of a provider stream (an event is held until its blank line arrives).
    pub max_event_bytes: usize,
}

/// Passive health of deployments: when a circuit opens, how long it stays open, and the cooldown after a 429
/// without `Retry-After`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// Consecutive failures that open a deployment's circuit.
    pub circuit_consecutive_failures: u32,
    /// Error rate (0 to 1) over `circuit_window` that opens it, once the window holds `circuit_min_calls`.
    pub circuit_error_rate: f64,
    pub circuit_min_calls: u32,
    #[serde(with = "humantime_serde")]
    pub circuit_window: Duration,
    /// How long an open circuit refuses calls before one probe is let through.
    #[serde(with = "humantime_serde")]
    pub circuit_open_for: Duration,
    /// Cooldown after a provider's 429 that carried no `Retry-After`.
    #[serde(with = "humantime_serde")]
    pub default_cooldown: Duration,
}

impl RoutingSettings {
    /// The health policy these settings describe.
    pub fn health_policy(&self) -> crate::routing::HealthPolicy {
        crate::routing::HealthPolicy {
            consecutive_failures: self.circuit_consecutive_failures,
            error_rate: self.circuit_error_rate,
            min_calls: self.circuit_min_calls,
            window: self.circuit_window,
            open_for: self.circuit_open_for,
            default_cooldown: self.default_cooldown,
        }
    }
}

/// The usage-event pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSettings {
    /// Most events written in one insert.
    pub batch_size: usize,
    /// Longest an event waits in memory before its batch is written.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Where batches go while the database is unreachable; default `<data_dir>/spool`.
    pub spool_dir: Option<PathBuf>,
    /// How often the spool is retried.
    #[serde(with = "humantime_serde")]
    pub replay_interval: Duration,
    /// Days raw usage events are kept (0: forever). The hourly roll-ups that reports read are kept regardless.
    pub raw_retention_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: None,
            redis_url: None,
            redis_prefix: "switchyard".into(),
            data_dir: PathBuf::from("./data"),
            console_dir: PathBuf::from("./frontend/dist"),
            workers: 0,
            log_format: LogFormat::Text,
            database_pool_size: 16,
            proxy: ProxySettings {
                max_body_bytes: 8 * 1024 * 1024,
                key_cache_ttl: Duration::from_secs(30),
                key_cache_max_stale: Duration::from_secs(3600),
                catalog_refresh: Duration::from_secs(30),
                forward_headers: Vec::new(),
                shutdown_grace: Duration::from_secs(30),
                default_max_output_tokens: 4096,
            },
            upstream: UpstreamSettings {
                connect_timeout: Duration::from_secs(5),
                first_byte_timeout: Duration::from_secs(120),
                total_timeout: Duration::from_secs(600),
                pool_max_idle_per_host: 512,
                max_response_bytes: 64 * 1024 * 1024,
                max_event_bytes: 8 * 1024 * 1024,
            },
            usage: UsageSettings {
                batch_size: 2000,
                flush_interval: Duration::from_millis(200),
                spool_dir: None,
                replay_interval: Duration::from_secs(5),
                raw_retention_days: 400,
            },
            routing: RoutingSettings {
                circuit_consecutive_failures: 5,
                circuit_error_rate: 0.5,
                circuit_min_calls: 20,
                circuit_window: Duration::from_secs(30),
                circuit_open_for: Duration::from_secs(30),
                default_cooldown: Duration::from_secs(5),
            },
            admin: AdminSettings {
                mode: TenancyMode::SelfHosted,
                jwt_secret: None,
                access_token_ttl: Duration::from_secs(15 * 60),
                refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
                secure_cookies: true,
                login_attempts: 10,
                login_window: Duration::from_secs(15 * 60),
                provider_key_env: vec![
                    "SWITCHYARD_PROVIDER_KEY_*".into(),
                    "OPENAI_API_KEY".into(),
                    "ANTHROPIC_API_KEY".into(),
                    "GEMINI_API_KEY".into(),
                    "AZURE_OPENAI_API_KEY".into(),
                ],
                jwt_previous_secrets: Vec::new(),
                trusted_proxies: Vec::new(),
                invitation_ttl: Duration::from_secs(7 * 24 * 3600),
                password_hash_concurrency: 2,
            },
            metrics: MetricsSettings {
                enabled: true,
                bearer_token: None,
                max_label_sets: 10_000,
            },
            tracing: TracingSettings {
                enabled: None,
                endpoint: None,
                protocol: None,
                sample_ratio: 1.0,
                max_queue_size: 4096,
                export_interval: Duration::from_secs(2),
                export_timeout: Duration::from_secs(10),
                capture_content: false,
                service_name: "switchyard".into(),
            },
            egress: crate::egress::EgressSettings::default(),
        }
    }
}

/// A configuration that could not be loaded or failed validation.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Load(Box<figment::Error>),
    #[error("invalid configuration: `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
}

impl Settings {
    /// Whether the gateway runs in SaaS mode (tenants are strangers to each other and to the operator).
    pub fn is_saas(&self) -> bool {
        self.admin.mode == TenancyMode::Saas
    }

    /// The egress policy these settings describe.
    pub fn egress_policy(
        &self,
    ) -> Result<std::sync::Arc<crate::egress::EgressPolicy>, ConfigError> {
        crate::egress::EgressPolicy::new(&self.egress, self.is_saas())
            .map(std::sync::Arc::new)
            .map_err(|message| ConfigError::Invalid {
                key: "egress.allowed_networks",
                message,
            })
    }

    /// Loads defaults, then the TOML file if given, then the environment, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("SWITCHYARD_").split("__").filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            !NON_SETTING_ENV.contains(&key.as_str())
                && !key.starts_with("test_")
                && !key.starts_with("e2e_")
                // Provider keys named by `admin.provider_key_env`.
                && !key.starts_with("provider_key_")
        }));
        let settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&self.tracing.sample_ratio) {
            return Err(ConfigError::Invalid {
                key: "tracing.sample_ratio",
                message: "must be between 0 and 1".into(),
            });
        }
        if let Some(protocol) = &self.tracing.protocol
            && crate::otel::OtlpProtocol::parse(protocol).is_none()
        {
            return Err(ConfigError::Invalid {
                key: "tracing.protocol",
                message: "must be `http/protobuf` or `grpc`".into(),
            });
        }
        if self.tracing.export_timeout.is_zero()
            || self.tracing.export_timeout > Duration::from_secs(10)
        {
            return Err(ConfigError::Invalid {
                key: "tracing.export_timeout",
                message: "must be above 0 and at most 10s (an export and its retries must end inside the batch processor's own time-out)".into(),
            });
        }
        if self
            .metrics
            .bearer_token
            .as_ref()
            .is_some_and(|t| t.0.trim().is_empty())
        {
            return Err(ConfigError::Invalid {
                key: "metrics.bearer_token",
                message: "must not be empty (leave it unset for no token)".into(),
            });
        }
        if self.tracing.max_queue_size == 0 {
            return Err(ConfigError::Invalid {
                key: "tracing.max_queue_size",
                message: "must be at least 1".into(),
            });
        }
        if self.metrics.max_label_sets == 0 {
            return Err(ConfigError::Invalid {
                key: "metrics.max_label_sets",
                message: "must be at least 1".into(),
            });
        }
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        if self.listen.parse::<SocketAddr>().is_err() {
            return invalid("listen", "expected an address like 127.0.0.1:8080");
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            return invalid("database_url", "expected a postgres:// or sqlite:// URL");
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("redis+unix://"))
        {
            return invalid("redis_url", "expected a redis:// or rediss:// URL");
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            return invalid(
                "redis_prefix",
                "must be non-empty and contain no whitespace",
            );
        }
        if self.database_pool_size == 0 {
            return invalid("database_pool_size", "must be at least 1");
        }
        if self.proxy.max_body_bytes == 0 {
            return invalid("proxy.max_body_bytes", "must be greater than 0");
        }
        if self.routing.circuit_consecutive_failures == 0 || self.routing.circuit_min_calls == 0 {
            return invalid(
                "routing.circuit_consecutive_failures",
                "circuit_consecutive_failures and circuit_min_calls must be at least 1",
            );
        }
        if !(self.routing.circuit_error_rate > 0.0 && self.routing.circuit_error_rate <= 1.0) {
            return invalid(
                "routing.circuit_error_rate",
                "must be above 0 and at most 1",
            );
        }
        if self.routing.circuit_window.is_zero() || self.routing.circuit_open_for.is_zero() {
            return invalid(
                "routing.circuit_window",
                "circuit_window and circuit_open_for must be greater than 0",
            );
        }
        if !(1..=1_000_000).contains(&self.proxy.default_max_output_tokens) {
            return invalid(
                "proxy.default_max_output_tokens",
                "must be between 1 and 1000000",
            );
        }
        if self.proxy.key_cache_ttl.is_zero() {
            return invalid("proxy.key_cache_ttl", "must be greater than 0");
        }
        if self.proxy.catalog_refresh.is_zero() {
            return invalid("proxy.catalog_refresh", "must be greater than 0");
        }
        for (key, value) in [
            ("upstream.connect_timeout", self.upstream.connect_timeout),
            (
                "upstream.first_byte_timeout",
                self.upstream.first_byte_timeout,
            ),
            ("upstream.total_timeout", self.upstream.total_timeout),
            ("usage.flush_interval", self.usage.flush_interval),
            ("usage.replay_interval", self.usage.replay_interval),
        ] {
            if value.is_zero() {
                return invalid(key, "must be greater than 0");
            }
        }
        if self.upstream.first_byte_timeout > self.upstream.total_timeout {
            return invalid(
                "upstream.first_byte_timeout",
                "must not exceed upstream.total_timeout",
            );
        }
        if self
            .admin
            .jwt_secret
            .as_ref()
            .is_some_and(|s| s.0.len() < 32)
        {
            return invalid("admin.jwt_secret", "must be at least 32 bytes");
        }
        if self.admin.access_token_ttl.is_zero()
            || self.admin.refresh_token_ttl <= self.admin.access_token_ttl
        {
            return invalid(
                "admin.refresh_token_ttl",
                "must be longer than a non-zero admin.access_token_ttl",
            );
        }
        if self.admin.login_attempts == 0 || self.admin.login_window.is_zero() {
            return invalid(
                "admin.login_attempts",
                "login_attempts and login_window must be greater than 0",
            );
        }
        if let Err(message) = crate::egress::EgressPolicy::new(&self.egress, false) {
            return Err(ConfigError::Invalid {
                key: "egress.allowed_networks",
                message,
            });
        }
        if let Err(message) =
            crate::client_address::TrustedProxies::parse(&self.admin.trusted_proxies)
        {
            return Err(ConfigError::Invalid {
                key: "admin.trusted_proxies",
                message,
            });
        }
        if self
            .admin
            .jwt_previous_secrets
            .iter()
            .any(|s| s.0.len() < 32)
        {
            return invalid(
                "admin.jwt_previous_secrets",
                "each must be at least 32 bytes",
            );
        }
        if self.admin.password_hash_concurrency == 0 {
            return invalid("admin.password_hash_concurrency", "must be at least 1");
        }
        if self.admin.invitation_ttl.is_zero() {
            return invalid("admin.invitation_ttl", "must be greater than 0");
        }
        if self.upstream.max_event_bytes == 0
            || self.upstream.max_response_bytes < self.upstream.max_event_bytes
        {
            return invalid(
                "upstream.max_event_bytes",
                "must be above 0 and at most upstream.max_response_bytes",
            );
        }
        if !(1..=10_000).contains(&self.usage.batch_size) {
            return invalid("usage.batch_size", "must be between 1 and 10000");
        }
        Ok(())
    }

    /// The database URL in effect: the configured one, or the embedded SQLite file.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("switchyard.db").display()
            ),
        }
    }

    /// Where spooled usage batches are kept.
    pub fn spool_dir(&self) -> PathBuf {
        self.usage
            .spool_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("spool"))
    }

    /// The listen address (validated at load).
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| ConfigError::Invalid {
            key: "listen",
            message: "expected an address like 127.0.0.1:8080".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(Settings::default().validate().is_ok());
    }

    #[test]
    fn an_invalid_value_names_its_key() {
        let mut s = Settings::default();
        s.usage.batch_size = 0;
        let err = s
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("usage.batch_size"), "{err}");
        let s = Settings {
            database_url: Some("mysql://x".into()),
            ..Settings::default()
        };
        let err = s
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("database_url"), "{err}");
    }

    #[test]
    fn a_file_with_an_unknown_or_mistyped_key_is_refused_with_its_name() {
        let dir = std::env::temp_dir().join(format!("sy-cfg-{}", uuid::Uuid::now_v7()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("c.toml");
        let _ = std::fs::write(&path, "[upstream]\nconect_timeout = \"1s\"\n");
        let err = Settings::load(Some(&path))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("conect_timeout"), "{err}");
        let _ = std::fs::write(&path, "[upstream]\nconnect_timeout = \"soon\"\n");
        let err = Settings::load(Some(&path))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("connect_timeout"), "{err}");
        let _ = std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\n[usage]\nbatch_size = 50\n",
        );
        let ok = Settings::load(Some(&path));
        assert_eq!(ok.as_ref().map(|s| s.usage.batch_size).ok(), Some(50));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

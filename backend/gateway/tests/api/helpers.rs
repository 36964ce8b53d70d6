//! The test harness: a real gateway on a random port, its own database (a fresh Postgres database, or a SQLite
//! file for the embedded mode), its own Redis key prefix, and its own mock provider on a random port. Tests can
//! therefore run in parallel without `#[serial]`.

use mock_provider::{MockConfig, MockServer};
use sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait};
use std::path::PathBuf;
use std::time::Duration;
use switchyard::config::Settings;
use switchyard::keys;
use switchyard::startup::{Application, Services};
use switchyard::store::Repo;
use switchyard::store::entities::{deployment, provider, usage_event};
use uuid::Uuid;

/// Public model served by the mock with known prices.
pub const MODEL: &str = "gpt-test";
/// A second model that the restricted key may not use.
pub const OTHER_MODEL: &str = "other-model";
/// Prices of `MODEL` in micros per million tokens: input 2.50, output 10.00, cached input 1.25.
pub const INPUT_MICROS: i64 = 2_500_000;
pub const OUTPUT_MICROS: i64 = 10_000_000;
pub const CACHED_MICROS: i64 = 1_250_000;

/// The Postgres server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("SWITCHYARD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The Redis server tests use (each test with its own key prefix).
pub fn redis_url() -> String {
    std::env::var("SWITCHYARD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Storage mode of a test app.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Postgres + Redis, as in production.
    Production,
    /// SQLite + in-process state, as on first run.
    Embedded,
}

/// Knobs a test may turn.
pub struct TestOptions {
    pub mode: Mode,
    pub mock: MockConfig,
    pub tweak: Box<dyn FnOnce(&mut Settings) + Send>,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            mode: Mode::Production,
            mock: MockConfig::default(),
            tweak: Box::new(|_| {}),
        }
    }
}

/// A database created for one test and dropped with it.
pub struct TestDatabase {
    pub url: String,
    name: Option<String>,
    dir: PathBuf,
}

impl TestDatabase {
    /// A fresh, empty database of the given mode.
    pub async fn create(mode: Mode) -> Self {
        let dir = std::env::temp_dir().join(format!("switchyard-test-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        match mode {
            Mode::Production => {
                let name = format!("sy_test_{}", Uuid::now_v7().simple());
                let admin = Database::connect(postgres_admin_url())
                    .await
                    .expect("connect to Postgres (is it running?)");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let base = postgres_admin_url();
                let url = match base.rfind('/') {
                    Some(i) => format!("{}/{name}", &base[..i]),
                    None => panic!("bad SWITCHYARD_TEST_DATABASE_URL"),
                };
                Self {
                    url,
                    name: Some(name),
                    dir,
                }
            }
            Mode::Embedded => {
                let url = format!("sqlite://{}?mode=rwc", dir.join("switchyard.db").display());
                Self {
                    url,
                    name: None,
                    dir,
                }
            }
        }
    }

    /// A scratch directory belonging to this test (data dir, spool).
    pub fn dir(&self) -> &PathBuf {
        &self.dir
    }

    /// Drops the database and the scratch directory.
    pub async fn drop_now(&self) {
        self.drop_database().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Drops the database only (the scratch directory stays for the test to read).
    pub async fn drop_database(&self) {
        if let Some(name) = &self.name
            && let Ok(admin) = Database::connect(postgres_admin_url()).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
            admin.close().await.ok();
        }
    }
}

/// Settings for a test gateway on `db`.
pub fn test_settings(db: &TestDatabase, mode: Mode) -> Settings {
    let mut settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: Some(db.url.clone()),
        data_dir: db.dir().join("data"),
        workers: 2,
        database_pool_size: 8,
        ..Settings::default()
    };
    // The mock providers listen on loopback over plain http: allowed here as an operator would allow a local
    // vLLM. The security tests narrow this again to show the refusals.
    settings.egress.allowed_networks = vec!["127.0.0.0/8".into(), "::1".into()];
    settings.egress.require_https = Some(false);
    if mode == Mode::Production {
        settings.redis_url = Some(redis_url());
        settings.redis_prefix = format!("sytest-{}", Uuid::now_v7().simple());
    }
    settings.admin.jwt_secret = Some(switchyard::config::SecretValue(
        "test-jwt-secret-that-is-long-enough-0123456789".into(),
    ));
    settings.admin.secure_cookies = false;
    settings.usage.flush_interval = Duration::from_millis(20);
    settings.usage.replay_interval = Duration::from_millis(200);
    settings.proxy.forward_headers = vec!["x-mock-*".into()];
    settings.proxy.shutdown_grace = Duration::from_secs(5);
    settings
}

/// A running gateway with a mock provider, a known model and two keys.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub mock: MockServer,
    pub services: Services,
    pub settings: Settings,
    /// A key for every model.
    pub key: String,
    /// A key restricted to `MODEL`.
    pub restricted_key: String,
    pub db: TestDatabase,
    handle: actix_web::dev::ServerHandle,
    join: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts a gateway with default options.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestOptions::default()).await
}

/// Starts a gateway.
pub async fn spawn_app_with(options: TestOptions) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        switchyard::telemetry::init(switchyard::config::LogFormat::Text);
    }
    let mock = start_mock(options.mock).await;
    let db = TestDatabase::create(options.mode).await;
    let mut settings = test_settings(&db, options.mode);
    (options.tweak)(&mut settings);
    let app = Application::build(settings.clone())
        .await
        .expect("build application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let services = app.services().clone();
    let handle = app.handle();
    let join = tokio::spawn(app.run_until_stopped());

    add_provider_and_models(&services, "mock", &mock.base_url()).await;
    let key = create_key(&services.repo, &services, None).await;
    let restricted_key = create_key(&services.repo, &services, Some(vec![MODEL.to_owned()])).await;
    services.catalog.reload().await.expect("reload catalog");

    let client = http_client();
    TestApp {
        address,
        client,
        mock,
        services,
        settings,
        key,
        restricted_key,
        db,
        handle,
        join,
    }
}

/// An HTTP client for tests (installs the TLS crypto provider reqwest needs, even for plain http).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .expect("client")
}

/// Starts a mock provider on a random port.
pub async fn start_mock(config: MockConfig) -> MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind mock");
    MockServer::start(listener, config)
        .await
        .expect("start mock")
}

/// Registers a provider at `base_url` serving `MODEL` and `OTHER_MODEL`.
pub async fn add_provider_and_models(services: &Services, name: &str, base_url: &str) {
    let now = chrono::Utc::now();
    let tenant = services.default_tenant.id;
    let provider = services
        .repo
        .insert_provider(provider::Model {
            id: Uuid::now_v7(),
            tenant_id: tenant,
            name: name.into(),
            kind: "openai".into(),
            base_url: base_url.into(),
            api_key_env: None,
            api_key_ciphertext: None,
            api_key_hint: None,
            created_at: now,
            updated_at: now,
        })
        .await
        .expect("insert provider");
    for (model, cached) in [(MODEL, Some(CACHED_MICROS)), (OTHER_MODEL, None)] {
        services
            .repo
            .insert_deployment(deployment::Model {
                id: Uuid::now_v7(),
                tenant_id: tenant,
                public_model: model.into(),
                provider_id: provider.id,
                upstream_model: "mock-gpt".into(),
                region: "eu".into(),
                input_price_micros: INPUT_MICROS,
                output_price_micros: OUTPUT_MICROS,
                cached_input_price_micros: cached,
                created_at: now,
                updated_at: now,
                price_source: "deployment".into(),
                weight: 1,
                priority: 0,
                rpm_limit: None,
                tpm_limit: None,
            })
            .await
            .expect("insert deployment");
    }
}

/// Creates a key in the default team; returns its secret.
pub async fn create_key(repo: &Repo, services: &Services, models: Option<Vec<String>>) -> String {
    let new_key = keys::generate();
    let row = keys::new_row(
        services.default_tenant.id,
        services.default_team.id,
        "test".into(),
        &new_key,
        models,
    );
    repo.insert_api_key(row).await.expect("insert key");
    new_key.secret
}

/// How long [`eventually`] waits: generous, because CI runs the suite on a loaded two-core machine, and only a
/// failing test ever waits that long.
pub const EVENTUALLY_WITHIN: Duration = Duration::from_secs(10);

/// Runs `check` every 25 ms until it returns `Ok`, and returns that value; fails the test after
/// [`EVENTUALLY_WITHIN`], naming `what` and the last `Err` (the state the check last saw).
///
/// Why: the gateway applies some changes in the background (an invalidation reaching a cache, a reservation
/// settled, a circuit closing). A sleep of a guessed length is too short on a loaded machine and wasted time on
/// an idle one; this waits exactly as long as the condition takes. `check` may assert on the states it passes
/// through, so a wrong intermediate answer still fails at once.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + EVENTUALLY_WITHIN;
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not reached within {EVENTUALLY_WITHIN:?} (last seen: {last})"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Asserts the status of an admin response and returns its JSON body (`null` when there is none).
pub async fn json_of(response: reqwest::Response, status: u16) -> serde_json::Value {
    let actual = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    assert_eq!(actual, status, "{body}");
    body
}

/// A minimal chat body.
pub fn chat_body(stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello to the integration test"}],
        "stream": stream,
    })
}

impl TestApp {
    /// POSTs JSON to a path with the full-access key.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.post_as(&self.key, path, body).await
    }

    /// POSTs JSON to a path with the given key.
    pub async fn post_as(
        &self,
        key: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request reaches the gateway")
    }

    /// Number of usage rows in the database.
    pub async fn usage_count(&self) -> u64 {
        usage_event::Entity::find()
            .count(self.services.repo.db())
            .await
            .expect("count usage")
    }

    /// All usage rows.
    pub async fn usage_rows(&self) -> Vec<usage_event::Model> {
        usage_event::Entity::find()
            .all(self.services.repo.db())
            .await
            .expect("read usage")
    }

    /// Usage rows of calls that reached a provider (refusals are in the request log too, with no deployment).
    pub async fn billed_rows(&self) -> Vec<usage_event::Model> {
        let mut rows = self.usage_rows().await;
        rows.retain(|r| r.deployment_id.is_some());
        rows
    }

    /// Waits until at least `n` rows of calls that reached a provider exist; returns how many there are.
    pub async fn wait_for_billed(&self, n: u64, within: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let count = self.billed_rows().await.len() as u64;
            if count >= n || tokio::time::Instant::now() > deadline {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until at least `n` usage rows exist (the writer batches asynchronously).
    pub async fn wait_for_usage(&self, n: u64, within: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let count = self.usage_count().await;
            if count >= n || tokio::time::Instant::now() > deadline {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops the gateway gracefully (flushing usage) and returns its usage rows as the database then holds them;
    /// the mock and the database are then dropped.
    pub async fn shutdown_and_read_usage(self) -> Vec<usage_event::Model> {
        self.handle.stop(true).await;
        let _ = self.join.await;
        let rows = usage_event::Entity::find()
            .all(self.services.repo.db())
            .await
            .expect("read usage");
        self.mock.stop().await;
        self.db.drop_now().await;
        rows
    }

    /// Stops the gateway gracefully and the mock, drops the database, and keeps the scratch directory (data
    /// dir, spool) for the test to read and remove.
    pub async fn shutdown_keeping_files(self) {
        self.handle.stop(true).await;
        let _ = self.join.await;
        self.mock.stop().await;
        self.db.drop_database().await;
    }

    /// Stops the gateway gracefully (flushing usage), stops the mock, drops the database.
    pub async fn shutdown(self) {
        self.handle.stop(true).await;
        let _ = self.join.await;
        self.mock.stop().await;
        self.db.drop_now().await;
    }
}

/// Argon2 hashing is slow in debug builds; tests share one hash per password.
pub const TEST_PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Creates a user with `role` in `tenant_id` (the default tenant when `None`); returns the user id.
    pub async fn create_user(&self, email: &str, role: &str, tenant_id: Option<Uuid>) -> Uuid {
        use sea_orm::{ActiveModelTrait, IntoActiveModel};
        use switchyard::store::entities::{membership, user};
        static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        let hash = HASH
            .get_or_init(|| async {
                switchyard::identity::password::hash_password(TEST_PASSWORD).expect("hash")
            })
            .await
            .clone();
        let now = chrono::Utc::now();
        let db = self.services.repo.db();
        let user = user::Model {
            id: Uuid::now_v7(),
            email: email.into(),
            name: email.into(),
            password_hash: hash,
            is_platform_admin: false,
            created_at: now,
            updated_at: now,
        }
        .into_active_model()
        .insert(db)
        .await
        .expect("insert user");
        membership::Model {
            id: Uuid::now_v7(),
            tenant_id: tenant_id.unwrap_or(self.services.default_tenant.id),
            user_id: user.id,
            role: role.into(),
            created_at: now,
            updated_at: now,
        }
        .into_active_model()
        .insert(db)
        .await
        .expect("insert membership");
        user.id
    }

    /// Signs in; returns the login response body.
    pub async fn login(&self, email: &str, password: &str) -> serde_json::Value {
        let response = self
            .client
            .post(format!("{}/api/v1/auth/login", self.address))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login request");
        assert_eq!(response.status(), 200, "login of {email} failed");
        response.json().await.expect("login body")
    }

    /// Creates a user with a role and returns an access token for it.
    pub async fn token_for(&self, email: &str, role: &str) -> (Uuid, String) {
        let id = self.create_user(email, role, None).await;
        let body = self.login(email, TEST_PASSWORD).await;
        (
            id,
            body["access_token"]
                .as_str()
                .expect("access token")
                .to_owned(),
        )
    }

    /// Adds another tenant directly in the database (as a platform operator would).
    pub async fn create_tenant(&self, slug: &str) -> switchyard::store::entities::tenant::Model {
        use sea_orm::{ActiveModelTrait, IntoActiveModel};
        let now = chrono::Utc::now();
        switchyard::store::entities::tenant::Model {
            id: Uuid::now_v7(),
            slug: slug.into(),
            name: slug.into(),
            currency: "USD".into(),
            created_at: now,
            updated_at: now,
            allowed_regions: None,
            rpm_limit: None,
            tpm_limit: None,
            limits_failure_mode: "open".into(),
            request_log_retention_days: None,
            capture_bodies: false,
        }
        .into_active_model()
        .insert(self.services.repo.db())
        .await
        .expect("insert tenant")
    }

    /// Calls the admin API with `token` and returns the JSON body after checking the status.
    pub async fn admin_json(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        status: u16,
    ) -> serde_json::Value {
        json_of(self.admin(token, method, path, body).await, status).await
    }

    /// Calls the admin API with a bearer token.
    pub async fn admin(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.address))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("admin request")
    }
}

/// The provider-kind models tests add beside `MODEL`: (public model, upstream model).
pub const CLAUDE_MODEL: (&str, &str) = ("claude-test", "claude-sonnet-4-5");
pub const GEMINI_MODEL: (&str, &str) = ("gemini-test", "gemini-3.5-flash");

impl TestApp {
    /// Registers a provider of `kind` at `base_url` (with an API key, which Anthropic and Gemini require) and a
    /// deployment of `model` on it in region `eu` at `MODEL`'s prices, through the admin API; returns the
    /// deployment id.
    pub async fn add_model_of_kind(
        &self,
        kind: &str,
        base_url: &str,
        (model, upstream_model): (&str, &str),
    ) -> String {
        let (_, token) = self
            .token_for(&format!("{kind}-{model}-owner@example.com"), "owner")
            .await;
        let provider = self
            .admin_json(
                &token,
                reqwest::Method::POST,
                "/providers",
                Some(serde_json::json!({"name": format!("{kind}-{model}"), "kind": kind, "base_url": base_url,
                                        "api_key": format!("{kind}-secret-key")})),
                201,
            )
            .await;
        let deployment = self
            .admin_json(
                &token,
                reqwest::Method::POST,
                "/deployments",
                Some(
                    serde_json::json!({"model": model, "provider_id": provider["id"],
                                        "upstream_model": upstream_model, "region": "eu",
                                        "input_price": "2.5", "output_price": "10"}),
                ),
                201,
            )
            .await;
        self.services
            .catalog
            .reload()
            .await
            .expect("reload catalog");
        deployment["id"].as_str().expect("deployment id").to_owned()
    }
}

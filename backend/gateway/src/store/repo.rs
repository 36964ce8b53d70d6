//! Queries. Every function that reads configuration takes the tenant id, so a caller cannot forget it.

use super::entities::{
    api_key, budget, deployment, model_group, model_price, provider, team, tenant, usage_event,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

/// Slug of the tenant and of the team that exist from the first start.
pub const DEFAULT_SLUG: &str = "default";

/// A storage failure, kept apart from "not found" (which is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Conflict(String),
}

/// Every provider, deployment and catalog price, as loaded into the in-memory catalog.
pub struct Catalog {
    pub providers: Vec<provider::Model>,
    pub deployments: Vec<deployment::Model>,
    /// Every `model_prices` row, global and of every tenant (a small table: one row per price change).
    pub prices: Vec<model_price::Model>,
    /// Every model group with routing settings.
    pub groups: Vec<model_group::Model>,
}

/// Repository over one database connection (cheap to clone: the connection is a pool).
#[derive(Clone)]
pub struct Repo {
    db: DatabaseConnection,
}

impl Repo {
    /// Wraps a connection pool.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The underlying pool, for health checks and tests.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Creates the default tenant and its default team when missing; returns both.
    pub async fn ensure_default_tenant(&self) -> Result<(tenant::Model, team::Model), StoreError> {
        let now = Utc::now();
        let tenant = match tenant::Entity::find()
            .filter(tenant::Column::Slug.eq(DEFAULT_SLUG))
            .one(&self.db)
            .await?
        {
            Some(t) => t,
            None => {
                let row = tenant::Model {
                    id: Uuid::now_v7(),
                    slug: DEFAULT_SLUG.into(),
                    name: "Default".into(),
                    currency: "USD".into(),
                    created_at: now,
                    updated_at: now,
                    allowed_regions: None,
                    rpm_limit: None,
                    tpm_limit: None,
                    limits_failure_mode: "open".into(),
                    request_log_retention_days: None,
                    capture_bodies: false,
                };
                insert_ignoring_race(&self.db, row.clone().into_active_model()).await?;
                tenant::Entity::find()
                    .filter(tenant::Column::Slug.eq(DEFAULT_SLUG))
                    .one(&self.db)
                    .await?
                    .ok_or_else(|| StoreError::Conflict("default tenant vanished".into()))?
            }
        };
        let team = match self.find_team(tenant.id, DEFAULT_SLUG).await? {
            Some(t) => t,
            None => {
                let row = team::Model {
                    id: Uuid::now_v7(),
                    tenant_id: tenant.id,
                    slug: DEFAULT_SLUG.into(),
                    name: "Default".into(),
                    created_at: now,
                    updated_at: now,
                    allowed_regions: None,
                    rpm_limit: None,
                    tpm_limit: None,
                };
                insert_ignoring_race(&self.db, row.into_active_model()).await?;
                self.find_team(tenant.id, DEFAULT_SLUG)
                    .await?
                    .ok_or_else(|| StoreError::Conflict("default team vanished".into()))?
            }
        };
        Ok((tenant, team))
    }

    /// A team of the tenant by slug.
    pub async fn find_team(
        &self,
        tenant_id: Uuid,
        slug: &str,
    ) -> Result<Option<team::Model>, StoreError> {
        Ok(team::Entity::find()
            .filter(team::Column::TenantId.eq(tenant_id))
            .filter(team::Column::Slug.eq(slug))
            .one(&self.db)
            .await?)
    }

    /// Stores a new API key row (the caller hashed the secret).
    pub async fn insert_api_key(&self, row: api_key::Model) -> Result<api_key::Model, StoreError> {
        Ok(row.into_active_model().insert(&self.db).await?)
    }

    /// The key with this secret hash, in any tenant: this is how the proxy learns the tenant.
    pub async fn find_api_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<api_key::Model>, StoreError> {
        Ok(api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(key_hash))
            .one(&self.db)
            .await?)
    }

    /// The key with this secret hash and the region restrictions of its tenant and team (NULL: unrestricted).
    pub async fn find_key_with_owners(
        &self,
        key_hash: &str,
    ) -> Result<Option<(api_key::Model, tenant::Model, team::Model)>, StoreError> {
        let Some(key) = self.find_api_key_by_hash(key_hash).await? else {
            return Ok(None);
        };
        let tenant = tenant::Entity::find_by_id(key.tenant_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::Conflict(format!("key {} has no tenant", key.id)))?;
        let team = team::Entity::find_by_id(key.team_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::Conflict(format!("key {} has no team", key.id)))?;
        Ok(Some((key, tenant, team)))
    }

    /// The tenant's keys, newest first.
    pub async fn list_api_keys(&self, tenant_id: Uuid) -> Result<Vec<api_key::Model>, StoreError> {
        Ok(api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .order_by_desc(api_key::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    /// Marks the key (by id or display prefix) revoked; returns it, or `None` when the tenant has no such key.
    pub async fn revoke_api_key(
        &self,
        tenant_id: Uuid,
        id_or_prefix: &str,
    ) -> Result<Option<api_key::Model>, StoreError> {
        let mut query = api_key::Entity::find().filter(api_key::Column::TenantId.eq(tenant_id));
        query = match Uuid::parse_str(id_or_prefix) {
            Ok(id) => query.filter(api_key::Column::Id.eq(id)),
            Err(_) => query.filter(api_key::Column::Prefix.eq(id_or_prefix)),
        };
        let matches = query.all(&self.db).await?;
        if matches.len() > 1 {
            return Err(StoreError::Conflict(format!(
                "{id_or_prefix} matches {} keys; use the id",
                matches.len()
            )));
        }
        let Some(key) = matches.into_iter().next() else {
            return Ok(None);
        };
        let now = Utc::now();
        let mut active = key.into_active_model();
        active.revoked_at = Set(Some(now));
        active.updated_at = Set(now);
        Ok(Some(active.update(&self.db).await?))
    }

    /// Stores a provider.
    pub async fn insert_provider(
        &self,
        row: provider::Model,
    ) -> Result<provider::Model, StoreError> {
        Ok(row.into_active_model().insert(&self.db).await?)
    }

    /// A provider of the tenant by name.
    pub async fn find_provider(
        &self,
        tenant_id: Uuid,
        name: &str,
    ) -> Result<Option<provider::Model>, StoreError> {
        Ok(provider::Entity::find()
            .filter(provider::Column::TenantId.eq(tenant_id))
            .filter(provider::Column::Name.eq(name))
            .one(&self.db)
            .await?)
    }

    /// Points an existing provider at a new base URL (the demo's mock provider moves port on each start).
    pub async fn update_provider_base_url(
        &self,
        row: provider::Model,
        base_url: &str,
    ) -> Result<provider::Model, StoreError> {
        let mut active = row.into_active_model();
        active.base_url = Set(base_url.to_owned());
        active.updated_at = Set(Utc::now());
        Ok(active.update(&self.db).await?)
    }

    /// The tenant's providers by name.
    pub async fn list_providers(
        &self,
        tenant_id: Uuid,
    ) -> Result<Vec<provider::Model>, StoreError> {
        Ok(provider::Entity::find()
            .filter(provider::Column::TenantId.eq(tenant_id))
            .order_by_asc(provider::Column::Name)
            .all(&self.db)
            .await?)
    }

    /// Stores a deployment.
    pub async fn insert_deployment(
        &self,
        row: deployment::Model,
    ) -> Result<deployment::Model, StoreError> {
        Ok(row.into_active_model().insert(&self.db).await?)
    }

    /// The tenant's deployments by public model name.
    pub async fn list_deployments(
        &self,
        tenant_id: Uuid,
    ) -> Result<Vec<deployment::Model>, StoreError> {
        Ok(deployment::Entity::find()
            .filter(deployment::Column::TenantId.eq(tenant_id))
            .order_by_asc(deployment::Column::PublicModel)
            .all(&self.db)
            .await?)
    }

    /// Everything the in-memory routing catalog needs, for all tenants.
    pub async fn load_catalog(&self) -> Result<Catalog, StoreError> {
        Ok(Catalog {
            providers: provider::Entity::find().all(&self.db).await?,
            deployments: deployment::Entity::find()
                .order_by_asc(deployment::Column::CreatedAt)
                .all(&self.db)
                .await?,
            prices: model_price::Entity::find().all(&self.db).await?,
            groups: model_group::Entity::find().all(&self.db).await?,
        })
    }

    /// Inserts a batch of usage events and adds them to the hourly roll-ups in the same transaction. Ids already
    /// present are skipped and not rolled up again, so replaying a batch is harmless. Returns how many were new.
    pub async fn insert_usage_events(
        &self,
        events: &[usage_event::Model],
    ) -> Result<u64, StoreError> {
        super::rollups::insert_events(&self.db, events, true).await
    }

    /// Every budget of every tenant (the proxy keeps them in memory).
    pub async fn all_budgets(&self) -> Result<Vec<budget::Model>, StoreError> {
        Ok(budget::Entity::find().all(&self.db).await?)
    }

    /// Recorded spend (picos) of a tenant's calls since `since` that match `scope`: the starting point of a
    /// budget period whose shared counter was lost or never existed, and what reconciliation compares with.
    /// Read from the hourly roll-ups, which are written in the same transaction as the raw events, are exact,
    /// and are never expired by raw retention (so a `total` budget remembers its spend however old), and which
    /// hold one row per hour and dimension set instead of one per call. Periods start on whole hours, so the
    /// hours from `since` on hold exactly the calls since then.
    pub async fn spend_since(
        &self,
        tenant_id: Uuid,
        scope: &SpendScope,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        use sea_orm::{ConnectionTrait, Statement, Value};
        let backend = self.db.get_database_backend();
        let mut values: Vec<Value> = Vec::new();
        let mut bind = |value: Value| {
            values.push(value);
            match backend {
                DatabaseBackend::Postgres => format!("${}", values.len()),
                _ => "?".to_owned(),
            }
        };
        // Bound in the order they appear in the text: SQLite's `?` are positional.
        let tenant = bind(tenant_id.into());
        let from = bind(since.into());
        let (table, condition) = match scope {
            SpendScope::Tenant => ("usage_rollups_hourly", String::new()),
            SpendScope::Team(id) => (
                "usage_rollups_hourly",
                format!(" AND team_id = {}", bind((*id).into())),
            ),
            // A key's spend includes the keys rotated from it.
            SpendScope::Key(id) => {
                let (direct, lineage) = (bind((*id).into()), bind((*id).into()));
                (
                    "usage_rollups_hourly",
                    format!(
                        " AND (api_key_id = {direct} OR api_key_id IN (SELECT id FROM api_keys WHERE lineage_id = {lineage}))"
                    ),
                )
            }
            SpendScope::Tag { key, value } => {
                let (k, v) = (bind(key.clone().into()), bind(value.clone().into()));
                (
                    "usage_tag_rollups_hourly",
                    format!(" AND tag_key = {k} AND tag_value = {v}"),
                )
            }
        };
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(cost_picos), 0) AS BIGINT) AS spent FROM {table} \
             WHERE tenant_id = {tenant} AND hour >= {from}{condition}"
        );
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<i64>("", "spent")?,
            None => 0,
        })
    }
}

/// Which calls a spend total covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendScope {
    Tenant,
    Team(Uuid),
    Key(Uuid),
    Tag { key: String, value: String },
}

/// Inserts a row, treating a unique-constraint race with another starting replica as success.
async fn insert_ignoring_race<A>(db: &DatabaseConnection, row: A) -> Result<(), StoreError>
where
    A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    match row.insert(db).await {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

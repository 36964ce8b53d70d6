//! sea-orm entities, one module per table (see migrations/ for the schema and its comments).

/// An organisation; every other row belongs to exactly one.
pub mod tenant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub slug: String,
        pub name: String,
        pub currency: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// JSON array of region codes; NULL: every region.
        pub allowed_regions: Option<Json>,
        pub rpm_limit: Option<i64>,
        pub tpm_limit: Option<i64>,
        /// `open` or `closed`: what happens to calls while the shared counters are unreachable.
        pub limits_failure_mode: String,
        /// Days the tenant's raw usage events (its request log) are kept; NULL: `usage.raw_retention_days`.
        pub request_log_retention_days: Option<i32>,
        /// Whether the redacted bodies of the tenant's calls are captured in its request log.
        pub capture_bodies: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A group of people and keys inside a tenant; the unit of chargeback.
pub mod team {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "teams")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub slug: String,
        pub name: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// JSON array of region codes, narrowing the tenant's; NULL: the tenant's.
        pub allowed_regions: Option<Json>,
        pub rpm_limit: Option<i64>,
        pub tpm_limit: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A virtual API key (only its SHA-256 hash is stored).
pub mod api_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub team_id: Uuid,
        pub name: String,
        pub key_hash: String,
        pub prefix: String,
        pub allowed_models: Option<Json>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub expires_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
        pub last_used_at: Option<DateTimeUtc>,
        pub application: Option<String>,
        pub owner_user_id: Option<Uuid>,
        pub allowed_regions: Option<Json>,
        pub allowed_tools: Option<Json>,
        pub rpm_limit: Option<i64>,
        pub tpm_limit: Option<i64>,
        /// Free-form string tags attached to every usage event of this key.
        pub metadata: Option<Json>,
        pub replaced_by: Option<Uuid>,
        pub max_concurrency: Option<i64>,
        /// The first key of this key's rotation chain; `None` when it was never rotated into.
        pub lineage_id: Option<Uuid>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An upstream LLM provider account (base URL + where its credential lives).
pub mod provider {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "providers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub name: String,
        pub kind: String,
        pub base_url: String,
        pub api_key_env: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// The provider's API key, encrypted (see `crypto`); never returned.
        pub api_key_ciphertext: Option<String>,
        /// A masked form of the key for display.
        pub api_key_hint: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A public model name served by one provider's upstream model in one region, at its own prices or the catalog's.
pub mod deployment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deployments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub public_model: String,
        pub provider_id: Uuid,
        pub upstream_model: String,
        pub region: String,
        pub input_price_micros: i64,
        pub output_price_micros: i64,
        pub cached_input_price_micros: Option<i64>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// `deployment`: priced by the columns above; `catalog`: by `model_prices` (see `pricing`).
        pub price_source: String,
        /// Share of traffic under the weighted strategy.
        pub weight: i32,
        /// Lower first under the priority strategy.
        pub priority: i32,
        /// The deployment's own requests per minute (per replica); `None`: unlimited.
        pub rpm_limit: Option<i32>,
        /// The deployment's own tokens per minute (per replica); `None`: unlimited.
        pub tpm_limit: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One proxied call: who made it, where it went, what it consumed and cost.
pub mod usage_event {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
    #[sea_orm(table_name = "usage_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub created_at: DateTimeUtc,
        pub tenant_id: Uuid,
        pub team_id: Uuid,
        pub api_key_id: Uuid,
        pub endpoint: String,
        pub public_model: String,
        pub provider_id: Option<Uuid>,
        pub provider_name: String,
        pub deployment_id: Option<Uuid>,
        pub upstream_model: String,
        pub region: String,
        pub input_tokens: i64,
        pub output_tokens: i64,
        pub cached_tokens: i64,
        pub reasoning_tokens: i64,
        pub usage_source: String,
        pub cost_picos: i64,
        pub latency_us: i64,
        pub ttft_us: Option<i64>,
        pub status_code: i32,
        pub outcome: String,
        pub streamed: bool,
        pub end_user: Option<String>,
        pub tags: Json,
        pub error_message: Option<String>,
        pub application: Option<String>,
        pub user_id: Option<Uuid>,
        pub session_id: Option<String>,
        pub agent_id: Option<String>,
        /// Attempts before the last one: `[{deployment_id, region, status, reason}]`.
        pub attempts: Option<Json>,
        /// The caller's parent step (`x-switchyard-parent-id`): another call's id or an agent step's.
        pub parent_id: Option<String>,
        /// In a session: `{"calls":[{"id","name"}],"results":[tool_call_id…]}`, the tool calls the model asked
        /// for and the tool results this call sent back.
        pub tools: Option<Json>,
        /// When the tenant captures bodies: `{"request": …, "response": …}`, redacted.
        pub bodies: Option<Json>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A person who can sign in to the console / admin API.
pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub email: String,
        pub name: String,
        pub password_hash: String,
        pub is_platform_admin: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A user's role in a tenant.
pub mod membership {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "memberships")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub user_id: Uuid,
        pub role: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A user's membership of a team.
pub mod team_member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "team_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub team_id: Uuid,
        pub user_id: Uuid,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One issued refresh token (hashed), in a family of rotations.
pub mod refresh_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub tenant_id: Uuid,
        pub family_id: Uuid,
        pub token_hash: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub rotated_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An invitation to join a tenant, accepted by the invitee with its single-use token.
pub mod invitation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "invitations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub email: String,
        pub role: String,
        pub token_hash: String,
        pub invited_by: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub accepted_at: Option<DateTimeUtc>,
        pub accepted_by: Option<Uuid>,
        pub revoked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A data-residency region of the catalog.
pub mod region {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "regions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub name: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One recorded administrative change.
pub mod audit_entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub actor_user_id: Option<Uuid>,
        pub actor: String,
        pub action: String,
        pub target_type: String,
        pub target_id: Option<String>,
        pub before: Option<Json>,
        pub after: Option<Json>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A spending limit on a scope and period.
pub mod budget {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "budgets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub name: String,
        pub scope_type: String,
        pub scope_id: Option<Uuid>,
        pub tag_key: Option<String>,
        pub tag_value: Option<String>,
        pub period: String,
        pub limit_picos: i64,
        pub soft_thresholds: Json,
        pub hard_limit: bool,
        pub webhook_url: Option<String>,
        pub webhook_secret_ciphertext: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The price of one upstream model of one provider kind from `effective_from` on; NULL tenant: the shipped
/// catalog. Never updated: a price change is a new row.
pub mod model_price {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "model_prices")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Option<Uuid>,
        pub provider_kind: String,
        pub upstream_model: String,
        pub input_price_micros: i64,
        pub output_price_micros: i64,
        pub cached_input_price_micros: Option<i64>,
        pub reasoning_price_micros: Option<i64>,
        pub effective_from: DateTimeUtc,
        pub created_at: DateTimeUtc,
        pub created_by: Option<Uuid>,
        pub note: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A public model's routing: strategy, fallback chain and attempt budget.
pub mod model_group {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "model_groups")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub public_model: String,
        pub strategy: String,
        /// JSON array of public model names.
        pub fallbacks: Option<Json>,
        pub max_attempts: Option<i32>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

//! Tenant scoping in one layer. Admin code reaches tenant-owned rows only through `Scoped`, whose queries all
//! start filtered by the caller's tenant: an id of another tenant simply is not found.

use super::entities::{
    api_key, audit_entry, budget, deployment, invitation, membership, model_group, model_price,
    provider, team, team_member, tenant, usage_event, user,
};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, Select};
use uuid::Uuid;

/// Queries limited to one tenant.
#[derive(Clone)]
pub struct Scoped {
    pub db: DatabaseConnection,
    pub tenant_id: Uuid,
}

impl Scoped {
    /// Scopes a connection to a tenant.
    pub fn new(db: DatabaseConnection, tenant_id: Uuid) -> Self {
        Self { db, tenant_id }
    }

    /// The tenant itself.
    pub fn tenant(&self) -> Select<tenant::Entity> {
        tenant::Entity::find().filter(tenant::Column::Id.eq(self.tenant_id))
    }

    /// The tenant's teams.
    pub fn teams(&self) -> Select<team::Entity> {
        team::Entity::find().filter(team::Column::TenantId.eq(self.tenant_id))
    }

    /// The tenant's team memberships.
    pub fn team_members(&self) -> Select<team_member::Entity> {
        team_member::Entity::find().filter(team_member::Column::TenantId.eq(self.tenant_id))
    }

    /// The tenant's memberships (users and roles).
    pub fn memberships(&self) -> Select<membership::Entity> {
        membership::Entity::find().filter(membership::Column::TenantId.eq(self.tenant_id))
    }

    /// The tenant's invitations.
    pub fn invitations(&self) -> Select<invitation::Entity> {
        invitation::Entity::find().filter(invitation::Column::TenantId.eq(self.tenant_id))
    }

    /// The tenant's membership of the account with `email`, if it has one (no other tenant is looked at).
    pub fn membership_by_email(&self, email: &str) -> Select<membership::Entity> {
        use sea_orm::sea_query::Query;
        self.memberships().filter(
            membership::Column::UserId.in_subquery(
                Query::select()
                    .column(user::Column::Id)
                    .from(user::Entity)
                    .and_where(user::Column::Email.eq(email))
                    .to_owned(),
            ),
        )
    }

    /// The tenant's API keys.
    pub fn keys(&self) -> Select<api_key::Entity> {
        api_key::Entity::find().filter(api_key::Column::TenantId.eq(self.tenant_id))
    }

    /// The tenant's providers.
    pub fn providers(&self) -> Select<provider::Entity> {
        provider::Entity::find().filter(provider::Column::TenantId.eq(self.tenant_id))
    }

    /// The tenant's deployments.
    pub fn deployments(&self) -> Select<deployment::Entity> {
        deployment::Entity::find().filter(deployment::Column::TenantId.eq(self.tenant_id))
    }

    /// The tenant's model groups (routing settings).
    pub fn model_groups(&self) -> Select<model_group::Entity> {
        model_group::Entity::find().filter(model_group::Column::TenantId.eq(self.tenant_id))
    }

    /// The tenant's budgets.
    pub fn budgets(&self) -> Select<budget::Entity> {
        budget::Entity::find().filter(budget::Column::TenantId.eq(self.tenant_id))
    }

    /// The catalog prices the tenant sees: its own and the shipped global ones (read-only).
    pub fn visible_prices(&self) -> Select<model_price::Entity> {
        model_price::Entity::find().filter(
            Condition::any()
                .add(model_price::Column::TenantId.eq(self.tenant_id))
                .add(model_price::Column::TenantId.is_null()),
        )
    }

    /// The tenant's own catalog prices (the only ones it may change).
    pub fn own_prices(&self) -> Select<model_price::Entity> {
        model_price::Entity::find().filter(model_price::Column::TenantId.eq(self.tenant_id))
    }

    /// The tenant's usage events (the request log).
    pub fn usage_events(&self) -> Select<usage_event::Entity> {
        usage_event::Entity::find().filter(usage_event::Column::TenantId.eq(self.tenant_id))
    }

    /// The tenant's audit log.
    pub fn audit(&self) -> Select<audit_entry::Entity> {
        audit_entry::Entity::find().filter(audit_entry::Column::TenantId.eq(self.tenant_id))
    }
}

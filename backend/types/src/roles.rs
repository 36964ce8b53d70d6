//! The role matrix: which role may do what. This is the only place that decides: the admin API enforces it
//! (`gateway::admin::roles`, where a test checks it against `docs/roles.md` cell by cell) and the console
//! shows only what it permits.

use serde::{Deserialize, Serialize};

/// A user's role in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Finance,
    Developer,
    Viewer,
}

impl Role {
    /// Every role, in the order of the documented matrix.
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Finance,
        Role::Developer,
        Role::Viewer,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Finance => "finance",
            Self::Developer => "developer",
            Self::Viewer => "viewer",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// Something a signed-in user may try to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    TenantRead,
    TenantUpdate,
    MembersRead,
    MembersManage,
    TeamsRead,
    TeamsManage,
    KeysRead,
    KeysManage,
    ProvidersRead,
    ProvidersManage,
    BudgetsRead,
    BudgetsManage,
    RegionsRead,
    AuditRead,
    ReportsRead,
    PricesRead,
    PricesManage,
    RequestsRead,
}

impl Action {
    /// Every action, in the order of the documented matrix.
    pub const ALL: [Action; 18] = [
        Action::TenantRead,
        Action::TenantUpdate,
        Action::MembersRead,
        Action::MembersManage,
        Action::TeamsRead,
        Action::TeamsManage,
        Action::KeysRead,
        Action::KeysManage,
        Action::ProvidersRead,
        Action::ProvidersManage,
        Action::BudgetsRead,
        Action::BudgetsManage,
        Action::RegionsRead,
        Action::AuditRead,
        Action::ReportsRead,
        Action::PricesRead,
        Action::PricesManage,
        Action::RequestsRead,
    ];

    /// The name used in docs/roles.md.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TenantRead => "tenant.read",
            Self::TenantUpdate => "tenant.update",
            Self::MembersRead => "members.read",
            Self::MembersManage => "members.manage",
            Self::TeamsRead => "teams.read",
            Self::TeamsManage => "teams.manage",
            Self::KeysRead => "keys.read",
            Self::KeysManage => "keys.manage",
            Self::ProvidersRead => "providers.read",
            Self::ProvidersManage => "providers.manage",
            Self::BudgetsRead => "budgets.read",
            Self::BudgetsManage => "budgets.manage",
            Self::RegionsRead => "regions.read",
            Self::AuditRead => "audit.read",
            Self::ReportsRead => "reports.read",
            Self::PricesRead => "prices.read",
            Self::PricesManage => "prices.manage",
            Self::RequestsRead => "requests.read",
        }
    }
}

/// How far a permission reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything in the tenant.
    All,
    /// Only what the user owns, in teams they belong to (a developer's own keys).
    Own,
    /// Nothing.
    None,
}

impl Scope {
    /// The symbol used in docs/roles.md.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::All => "yes",
            Self::Own => "own",
            Self::None => "no",
        }
    }
}

/// The matrix.
pub fn permits(role: Role, action: Action) -> Scope {
    use Action::*;
    use Role::*;
    match (role, action) {
        (Owner | Admin, _) => Scope::All,
        (
            Finance,
            TenantRead | MembersRead | TeamsRead | ProvidersRead | BudgetsRead | BudgetsManage
            | RegionsRead | AuditRead | ReportsRead | PricesRead | PricesManage | RequestsRead,
        ) => Scope::All,
        (
            Finance,
            TenantUpdate | MembersManage | TeamsManage | KeysRead | KeysManage | ProvidersManage,
        ) => Scope::None,
        (
            Developer,
            TenantRead | MembersRead | TeamsRead | ProvidersRead | RegionsRead | PricesRead,
        ) => Scope::All,
        (Developer, KeysRead | KeysManage | RequestsRead) => Scope::Own,
        (
            Developer,
            TenantUpdate | MembersManage | TeamsManage | ProvidersManage | BudgetsRead
            | BudgetsManage | AuditRead | ReportsRead | PricesManage,
        ) => Scope::None,
        (
            Viewer,
            TenantRead | MembersRead | TeamsRead | KeysRead | ProvidersRead | BudgetsRead
            | RegionsRead | AuditRead | PricesRead | RequestsRead,
        ) => Scope::All,
        (
            Viewer,
            TenantUpdate | MembersManage | TeamsManage | KeysManage | ProvidersManage
            | BudgetsManage | ReportsRead | PricesManage,
        ) => Scope::None,
    }
}

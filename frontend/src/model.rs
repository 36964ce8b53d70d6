//! The admin API's resources as the console reads them (docs/admin-api.md). Fields the console does not show
//! are left out; unknown fields are ignored, so the gateway can add fields without breaking the console.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub currency: String,
    pub allowed_regions: Option<Vec<String>>,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Region {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Team {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub allowed_regions: Option<Vec<String>>,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub joined_at: String,
}

/// An invitation to join the tenant (`GET /invitations`); its token is never listed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub role: String,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: String,
    pub created_at: String,
    pub expires_at: String,
}

/// `POST /members` answers the invitation and, once, the page that accepts it (the token in its fragment).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NewInvitation {
    #[serde(flatten)]
    pub invitation: Invitation,
    pub accept_path: String,
}

/// A key revoked with the member who owned it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RevokedKey {
    pub name: String,
    pub prefix: String,
}

/// `DELETE /members/{user_id}` answers the keys of the member that were revoked with the membership.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RemovedMember {
    #[serde(default)]
    pub revoked_keys: Vec<RevokedKey>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TeamMember {
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub team_id: String,
    pub owner_user_id: Option<String>,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub max_concurrency: Option<i64>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub replaced_by: Option<String>,
    pub last_used_at: Option<String>,
    pub created_at: String,
}

impl ApiKey {
    pub fn status(&self) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.replaced_by.is_some() {
            "rotated"
        } else {
            "active"
        }
    }
}

/// `POST /keys` and `POST /keys/{id}/rotate` answer the key and its secret, once.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NewKey {
    #[serde(flatten)]
    pub key: ApiKey,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CurrentPeriod {
    pub start: String,
    pub end: Option<String>,
    pub spent: String,
    pub percent_used: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Budget {
    pub id: String,
    pub name: String,
    pub scope_type: String,
    pub scope_id: Option<String>,
    pub tag_key: Option<String>,
    pub tag_value: Option<String>,
    pub period: String,
    pub limit: String,
    pub currency: String,
    pub soft_thresholds: Vec<u8>,
    pub hard_limit: bool,
    pub webhook_url: Option<String>,
    pub updated_at: String,
    pub current_period: Option<CurrentPeriod>,
}

impl Budget {
    pub fn percent(&self) -> i64 {
        self.current_period.as_ref().map_or(0, |p| p.percent_used)
    }

    pub fn spent(&self) -> String {
        self.current_period
            .as_ref()
            .map_or_else(|| "0".into(), |p| p.spent.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub base_url: String,
    pub api_key_hint: Option<String>,
    pub api_key_env: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Health {
    pub circuit: String,
    pub available_in_ms: u64,
    pub in_flight: u64,
    pub latency_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub model: String,
    pub provider_id: String,
    pub upstream_model: String,
    pub region: String,
    pub price_source: String,
    pub input_price: String,
    pub output_price: String,
    pub weight: i64,
    pub priority: i64,
    pub rpm_limit: Option<i64>,
    pub tpm_limit: Option<i64>,
    pub health: Option<Health>,
}

/// A chargeback report: rows are objects whose keys are `columns`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub currency: String,
    pub columns: Vec<String>,
    pub rows: Vec<Value>,
    pub totals: Value,
}

impl Report {
    pub fn total_cost(&self) -> String {
        text(&self.totals, "cost")
    }

    pub fn total(&self, key: &str) -> i64 {
        self.totals.get(key).and_then(Value::as_i64).unwrap_or(0)
    }
}

/// A field of a JSON row as text (`""` for null).
pub fn text(row: &Value, key: &str) -> String {
    match row.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub actor: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Call {
    pub id: String,
    pub created_at: String,
    pub endpoint: String,
    pub model: String,
    pub provider: Option<String>,
    pub region: Option<String>,
    pub status_code: i64,
    pub outcome: String,
    pub error_message: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost: String,
    pub latency_ms: Option<f64>,
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SessionSummary {
    pub session_id: String,
    pub first_call_at: String,
    pub last_call_at: String,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost: String,
    pub failed_calls: i64,
}

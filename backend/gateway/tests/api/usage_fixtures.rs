//! Random usage for the chargeback tests, and the reference: every report figure recomputed here from the raw
//! events read back from the database, with plain `i128` sums and `rust_decimal` for the amounts.

use crate::helpers::TestApp;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use switchyard::store::entities::{team, tenant, usage_event};
use uuid::Uuid;

/// Teams, keys (each in one team) and users that random events are attributed to.
pub struct Fixture {
    pub tenant_id: Uuid,
    pub teams: Vec<Uuid>,
    /// `(key id, its team)`.
    pub keys: Vec<(Uuid, Uuid)>,
    pub users: Vec<Uuid>,
}

impl Fixture {
    /// Three teams (the default one and two more), five keys and two users in the app's default tenant.
    pub async fn create(app: &TestApp) -> Self {
        let db = app.services.repo.db();
        let tenant_id = app.services.default_tenant.id;
        let now = Utc::now();
        let mut teams = vec![app.services.default_team.id];
        for name in ["Search, \"Ranking\"", "Platform"] {
            let row = team::Model {
                id: Uuid::now_v7(),
                tenant_id,
                slug: format!("t-{}", Uuid::now_v7().simple()),
                name: name.into(),
                created_at: now,
                updated_at: now,
                allowed_regions: None,
                rpm_limit: None,
                tpm_limit: None,
            };
            teams.push(row.into_active_model().insert(db).await.unwrap().id);
        }
        let mut keys = Vec::new();
        for n in 0..5 {
            let team = teams[n % teams.len()];
            let row = switchyard::keys::new_row(
                tenant_id,
                team,
                format!("key-{n}"),
                &switchyard::keys::generate(),
                None,
            );
            keys.push((
                app.services.repo.insert_api_key(row).await.unwrap().id,
                team,
            ));
        }
        let mut users = Vec::new();
        for n in 0..2 {
            let email = format!("owner-{n}-{}@example.com", Uuid::now_v7().simple());
            users.push(app.create_user(&email, "developer", None).await);
        }
        Self {
            tenant_id,
            teams,
            keys,
            users,
        }
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// `n` events spread over `[start, start + span)`, at whole microseconds (what Postgres keeps).
pub fn random_events(
    rng: &mut StdRng,
    fixture: &Fixture,
    n: usize,
    start: DateTime<Utc>,
    span: Duration,
) -> Vec<usage_event::Model> {
    let models = [("gpt-a", "up-a"), ("gpt-b", "up-b"), ("embed", "up-e")];
    let tag_values: [(&str, &[&str]); 2] = [
        ("env", &["prod", "staging"]),
        (
            "feature",
            &["search", "chat", "with, comma \"and quotes\"\nand a line"],
        ),
    ];
    (0..n)
        .map(|_| {
            let (key, team) = *pick(rng, &fixture.keys);
            let (model, upstream) = *pick(rng, &models);
            let micros = rng.random_range(0..span.num_microseconds().unwrap());
            let mut tags = Map::new();
            for (tag, values) in tag_values {
                if rng.random_bool(0.6) {
                    tags.insert(tag.into(), json!(pick(rng, values)));
                }
            }
            let status = *pick(rng, &[200, 200, 200, 200, 429, 500, 499]);
            usage_event::Model {
                id: Uuid::now_v7(),
                created_at: start + Duration::microseconds(micros),
                tenant_id: fixture.tenant_id,
                team_id: team,
                api_key_id: key,
                endpoint: "chat.completions".into(),
                public_model: model.into(),
                provider_id: None,
                provider_name: pick(rng, &["openai", "azure"]).to_string(),
                deployment_id: None,
                upstream_model: upstream.into(),
                region: pick(rng, &["eu", "us"]).to_string(),
                input_tokens: rng.random_range(0..50_000),
                output_tokens: rng.random_range(0..8_000),
                cached_tokens: rng.random_range(0..1_000),
                reasoning_tokens: rng.random_range(0..500),
                usage_source: "provider".into(),
                // Odd pico amounts up to 20 currency units: every digit of the sum matters.
                cost_picos: rng.random_range(0..20_000_000_000_000i64) | 1,
                latency_us: 1_000,
                ttft_us: None,
                status_code: status,
                outcome: if status == 200 {
                    "ok"
                } else {
                    "upstream_error"
                }
                .into(),
                streamed: false,
                end_user: None,
                tags: Value::Object(tags),
                error_message: None,
                application: pick(rng, &[None, Some("checkout"), Some("support")]).map(Into::into),
                user_id: *pick(rng, &[None, Some(fixture.users[0]), Some(fixture.users[1])]),
                session_id: None,
                agent_id: None,
                attempts: None,
                parent_id: None,
                tools: None,
                bodies: None,
            }
        })
        .collect()
}

/// A seeded generator; the seed goes into failure messages so a failure can be replayed.
pub fn seeded() -> (StdRng, u64) {
    let seed = rand::rng().random();
    (StdRng::seed_from_u64(seed), seed)
}

/// The measures of one group, as the API writes them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Measures {
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    pub cost_picos: i128,
}

impl Measures {
    fn add(&mut self, e: &usage_event::Model) {
        self.requests += 1;
        self.errors += i64::from(e.status_code >= 400);
        self.input_tokens += e.input_tokens;
        self.output_tokens += e.output_tokens;
        self.cached_tokens += e.cached_tokens;
        self.reasoning_tokens += e.reasoning_tokens;
        self.cost_picos += i128::from(e.cost_picos);
    }

    /// The exact decimal the API must print for the cost.
    pub fn cost(&self) -> String {
        Decimal::from_i128_with_scale(self.cost_picos, 12)
            .normalize()
            .to_string()
    }

    /// Reads the measures of a JSON row (or totals object).
    pub fn of(row: &Value) -> (Self, String) {
        let n = |k: &str| row[k].as_i64().unwrap_or_else(|| panic!("{k} in {row}"));
        let measures = Self {
            requests: n("requests"),
            errors: n("errors"),
            input_tokens: n("input_tokens"),
            output_tokens: n("output_tokens"),
            cached_tokens: n("cached_tokens"),
            reasoning_tokens: n("reasoning_tokens"),
            cost_picos: 0,
        };
        (measures, row["cost"].as_str().unwrap().to_owned())
    }
}

/// The value of a `group_by` dimension for one event, as the API's id or value column shows it.
pub fn dimension_value(e: &usage_event::Model, dimension: &str) -> Option<String> {
    match dimension {
        "team" => Some(e.team_id.to_string()),
        "key" => Some(e.api_key_id.to_string()),
        "user" => e.user_id.map(|u| u.to_string()),
        "application" => e.application.clone(),
        "model" => Some(e.public_model.clone()),
        "provider" => Some(e.provider_name.clone()),
        "region" => Some(e.region.clone()),
        "day" => Some(e.created_at.format("%Y-%m-%d").to_string()),
        "month" => Some(e.created_at.format("%Y-%m").to_string()),
        tag => Some(
            e.tags[tag.trim_start_matches("tag:")]
                .as_str()
                .unwrap_or("(untagged)")
                .to_owned(),
        ),
    }
}

/// The column of a JSON row that holds a dimension's value.
pub fn dimension_column(dimension: &str) -> &str {
    match dimension {
        "team" => "team_id",
        "key" => "key_id",
        "user" => "user_id",
        d if d.starts_with("tag:") => "tag_value",
        other => other,
    }
}

/// Expected groups: dimension values (in the order given) to measures, over the events `keep` accepts.
pub fn expected(
    events: &[usage_event::Model],
    dimensions: &[&str],
    keep: impl Fn(&usage_event::Model) -> bool,
) -> BTreeMap<Vec<Option<String>>, Measures> {
    let mut groups: BTreeMap<Vec<Option<String>>, Measures> = BTreeMap::new();
    for e in events.iter().filter(|e| keep(e)) {
        let key = dimensions.iter().map(|d| dimension_value(e, d)).collect();
        groups.entry(key).or_default().add(e);
    }
    groups
}

/// The groups of a JSON report, keyed like [`expected`].
pub fn actual(
    report: &Value,
    dimensions: &[&str],
) -> BTreeMap<Vec<Option<String>>, (Measures, String)> {
    report["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {report}"))
        .iter()
        .map(|row| {
            let key = dimensions
                .iter()
                .map(|d| row[dimension_column(d)].as_str().map(str::to_owned))
                .collect();
            (key, Measures::of(row))
        })
        .collect()
}

/// A second tenant; returns its id.
pub async fn other_tenant(app: &TestApp) -> Uuid {
    let now = Utc::now();
    tenant::Model {
        id: Uuid::now_v7(),
        slug: format!("other-{}", Uuid::now_v7().simple()),
        name: "Other".into(),
        currency: "EUR".into(),
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
    .insert(app.services.repo.db())
    .await
    .unwrap()
    .id
}

//! A team's monthly statement: its calls of one closed month, one line per model, provider and region, with
//! the team's totals. Built from a report grouped by team, model, provider and region.

use super::table::json_totals;
use crate::money::picos_sum_to_string;
use crate::store::reports::{Dimension, ReportRow, Totals};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// How a statement's report is grouped; the CSV adds `Month` in front.
pub const STATEMENT_GROUPING: [Dimension; 4] = [
    Dimension::Team,
    Dimension::Model,
    Dimension::Provider,
    Dimension::Region,
];

/// One line of a statement.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatementLine {
    pub model: String,
    pub provider: String,
    pub region: String,
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    /// Exact decimal in the statement's currency.
    pub cost: String,
}

/// One team's part of a statement.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamStatement {
    pub team_id: Uuid,
    /// `null` when the team has been deleted since.
    pub team_name: Option<String>,
    pub lines: Vec<StatementLine>,
    /// The measures summed over the lines.
    #[schema(value_type = Object)]
    pub totals: Value,
}

/// `GET /api/v1/statements/{month}` as JSON.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatementView {
    /// `YYYY-MM`.
    pub month: String,
    pub from: DateTime<Utc>,
    /// Exclusive: the first instant of the next month.
    pub to: DateTime<Utc>,
    pub currency: String,
    pub generated_at: DateTime<Utc>,
    pub teams: Vec<TeamStatement>,
    /// Every team's totals summed.
    #[schema(value_type = Object)]
    pub totals: Value,
}

/// Groups report rows (ordered by team) into teams and lines.
pub fn build(
    rows: Vec<ReportRow>,
    month: String,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    currency: String,
) -> StatementView {
    let mut teams: Vec<(TeamStatement, Totals)> = Vec::new();
    let mut grand = Totals::default();
    for row in rows {
        let team_id = row.team_id.unwrap_or_default();
        if teams.last().is_none_or(|(t, _)| t.team_id != team_id) {
            teams.push((
                TeamStatement {
                    team_id,
                    team_name: row.team_name.clone(),
                    lines: Vec::new(),
                    totals: Value::Null,
                },
                Totals::default(),
            ));
        }
        grand.add(&row.totals);
        if let Some((team, totals)) = teams.last_mut() {
            totals.add(&row.totals);
            let t = &row.totals;
            team.lines.push(StatementLine {
                model: row.model.unwrap_or_default(),
                provider: row.provider.unwrap_or_default(),
                region: row.region.unwrap_or_default(),
                requests: t.requests,
                errors: t.errors,
                input_tokens: t.input_tokens,
                output_tokens: t.output_tokens,
                cached_tokens: t.cached_tokens,
                reasoning_tokens: t.reasoning_tokens,
                cost: picos_sum_to_string(t.cost_picos),
            });
        }
    }
    StatementView {
        month,
        from,
        to,
        currency,
        generated_at: Utc::now(),
        teams: teams
            .into_iter()
            .map(|(mut team, totals)| {
                team.totals = json_totals(&totals);
                team
            })
            .collect(),
        totals: json_totals(&grand),
    }
}

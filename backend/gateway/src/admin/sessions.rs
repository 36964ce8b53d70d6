//! Agent sessions: the calls that carried one `x-switchyard-session-id`, listed with their totals, and one session
//! as a graph. Nodes are the calls and the tool invocations the model asked for; edges are parent / child
//! (`x-switchyard-parent-id`), a call asking for a tool (`tool_call`), and a tool's result sent back in a later
//! call (`tool_result`).

use super::context::{AdminState, Session};
use super::error::ApiError;
use super::pagination::PageQuery;
use super::requests::{micros_to_ms, visible_events};
use super::roles::Action;
use crate::money::{Picos, picos_sum_to_string};
use crate::store::Scoped;
use crate::store::entities::usage_event;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Most calls one session graph holds; a longer session is cut at this many (the oldest) and says so.
pub const MAX_GRAPH_CALLS: u64 = 5_000;

/// A session's totals, as listed.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionSummary {
    pub session_id: String,
    pub first_call_at: DateTime<Utc>,
    pub last_call_at: DateTime<Utc>,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Exact decimal string.
    pub cost: String,
    /// Calls that did not end `ok`.
    pub failed_calls: i64,
}

/// A page of sessions, most recently active first; pass `next_cursor` as `cursor` for the next page.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionPage {
    pub data: Vec<SessionSummary>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, FromQueryResult)]
struct SummaryRow {
    session_id: String,
    first_call_at: DateTime<Utc>,
    last_call_at: DateTime<Utc>,
    calls: i64,
    input_tokens: i64,
    output_tokens: i64,
    cost_picos: i64,
    failed_calls: i64,
}

/// Filters of `GET /api/v1/sessions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionFilter {
    /// Sessions in which this agent made a call.
    pub agent_id: Option<String>,
    /// Sessions with a call of this team.
    pub team_id: Option<Uuid>,
    /// Sessions that cost at least this much (decimal string).
    pub min_cost: Option<String>,
    /// Only calls from this instant on count (and a session must have one).
    pub since: Option<DateTime<Utc>>,
    /// Only calls before this instant count.
    pub until: Option<DateTime<Utc>>,
    /// 1 to 200; default 50.
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<DateTime<Utc>>,
}

/// `GET /api/v1/sessions`: sessions, most recently active first.
#[utoipa::path(
    get,
    path = "/api/v1/sessions",
    operation_id = "sessions_list",
    tag = "sessions",
    summary = "List agent sessions with their totals",
    params(SessionFilter),
    responses(
        (status = 200, description = "One page of sessions", body = SessionPage),
        (status = 400, description = "Invalid input (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn list(
    admin: web::Data<AdminState>,
    session: Session,
    filter: web::Query<SessionFilter>,
) -> Result<HttpResponse, ApiError> {
    let scope = session.require(Action::RequestsRead)?;
    let filter = filter.into_inner();
    let limit = PageQuery {
        limit: filter.limit,
        cursor: None,
    }
    .limit()?;
    let min_cost = filter
        .min_cost
        .as_deref()
        .map(|text| {
            text.parse::<Picos>()
                .map_err(|e| ApiError::validation("min_cost", e.to_string()))
        })
        .transpose()?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let page = admin
        .run(async move {
            use usage_event::Column as C;
            let mut query =
                visible_events(&scoped, &session, scope).filter(C::SessionId.is_not_null());
            if let Some(since) = filter.since {
                query = query.filter(C::CreatedAt.gte(since));
            }
            if let Some(until) = filter.until {
                query = query.filter(C::CreatedAt.lt(until));
            }
            // An agent or team filter picks sessions; their totals still count every call.
            let sessions_where = |condition: sea_orm::sea_query::SimpleExpr| {
                visible_events(&scoped, &session, scope)
                    .select_only()
                    .column(C::SessionId)
                    .filter(condition)
                    .filter(C::SessionId.is_not_null())
                    .into_query()
            };
            if let Some(agent) = &filter.agent_id {
                query =
                    query.filter(C::SessionId.in_subquery(sessions_where(C::AgentId.eq(agent))));
            }
            if let Some(team) = filter.team_id {
                query = query.filter(C::SessionId.in_subquery(sessions_where(C::TeamId.eq(team))));
            }
            let mut query = query
                .select_only()
                .column(C::SessionId)
                .column_as(C::CreatedAt.min(), "first_call_at")
                .column_as(C::CreatedAt.max(), "last_call_at")
                .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "calls")
                .column_as(
                    Expr::cust("CAST(SUM(input_tokens) AS BIGINT)"),
                    "input_tokens",
                )
                .column_as(
                    Expr::cust("CAST(SUM(output_tokens) AS BIGINT)"),
                    "output_tokens",
                )
                .column_as(Expr::cust("CAST(SUM(cost_picos) AS BIGINT)"), "cost_picos")
                .column_as(
                    Expr::cust("CAST(SUM(CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END) AS BIGINT)"),
                    "failed_calls",
                )
                .group_by(C::SessionId);
            if let Some(cursor) = filter.cursor {
                query = query.having(C::CreatedAt.max().lt(cursor));
            }
            if let Some(min) = min_cost {
                query = query.having(C::CostPicos.sum().gte(min.0));
            }
            let rows = query
                .order_by_desc(C::CreatedAt.max())
                .limit(limit + 1)
                .into_model::<SummaryRow>()
                .all(&scoped.db)
                .await?;
            let more = rows.len() as u64 > limit;
            let mut data: Vec<SessionSummary> = rows
                .into_iter()
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .map(|r| SessionSummary {
                    session_id: r.session_id,
                    first_call_at: r.first_call_at,
                    last_call_at: r.last_call_at,
                    calls: r.calls,
                    input_tokens: r.input_tokens,
                    output_tokens: r.output_tokens,
                    cost: Picos(r.cost_picos).to_string(),
                    failed_calls: r.failed_calls,
                })
                .collect();
            data.shrink_to_fit();
            let next_cursor = more
                .then(|| {
                    data.last().map(|s| {
                        s.last_call_at
                            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                    })
                })
                .flatten();
            Ok(SessionPage { data, next_cursor })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// A node of a session graph.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GraphNode {
    /// A call's id (its `x-request-id`), `tool:<tool call id>` for a tool invocation, or `step:<parent id>` for a
    /// parent step that is not a call of the session.
    pub id: String,
    /// `call`, `tool` or `step`.
    pub kind: String,
    /// For a call: its agent. For a tool: the function name.
    pub name: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub model: Option<String>,
    pub outcome: Option<String>,
    pub status_code: Option<i32>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Exact decimal string; 0 for tools and steps.
    pub cost: String,
    pub latency_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
}

/// An edge of a session graph.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq, PartialOrd, Ord)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    /// `parent` (a step and the call it made), `tool_call` (a call and the tool it asked for) or `tool_result`
    /// (a tool and the call that sent its result back).
    pub kind: String,
}

/// A session's totals.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GraphTotals {
    pub calls: usize,
    pub tool_invocations: usize,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost: String,
    /// Sum of the calls' latencies.
    pub latency_ms: f64,
    pub agents: Vec<String>,
}

/// One session as a graph.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionGraph {
    pub session_id: String,
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
    pub totals: GraphTotals,
    /// True when the session has more than `MAX_GRAPH_CALLS` calls and only the oldest are in the graph.
    pub truncated: bool,
}

/// `GET /api/v1/sessions/{session_id}`: the session as a graph of calls and tool invocations.
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{session_id}",
    operation_id = "sessions_get",
    tag = "sessions",
    summary = "One agent session as a call graph",
    params(("session_id" = String, Path, description = "The x-switchyard-session-id")),
    responses(
        (status = 200, description = "The session graph", body = SessionGraph),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 404, description = "No call of this session that you may see (`not_found`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn graph(
    admin: web::Data<AdminState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = session.require(Action::RequestsRead)?;
    let session_id = path.into_inner();
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    let graph = admin
        .run(async move {
            use usage_event::Column as C;
            // Only what the graph shows: never the captured bodies of thousands of calls.
            let rows = visible_events(&scoped, &session, scope)
                .select_only()
                .columns([
                    C::Id,
                    C::CreatedAt,
                    C::PublicModel,
                    C::Outcome,
                    C::StatusCode,
                    C::InputTokens,
                    C::OutputTokens,
                    C::CostPicos,
                    C::LatencyUs,
                    C::TtftUs,
                    C::AgentId,
                    C::ParentId,
                    C::Tools,
                ])
                .filter(C::SessionId.eq(session_id.clone()))
                .order_by_asc(C::CreatedAt)
                .order_by_asc(C::Id)
                .limit(MAX_GRAPH_CALLS + 1)
                .into_model::<GraphCall>()
                .all(&scoped.db)
                .await?;
            if rows.is_empty() {
                return Err(ApiError::NotFound("session"));
            }
            let truncated = rows.len() as u64 > MAX_GRAPH_CALLS;
            let rows = &rows[..rows.len().min(MAX_GRAPH_CALLS as usize)];
            Ok(build_graph(session_id, rows, truncated))
        })
        .await?;
    Ok(HttpResponse::Ok().json(graph))
}

/// The columns of a call the session graph shows.
#[derive(Debug, FromQueryResult)]
pub struct GraphCall {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub public_model: String,
    pub outcome: String,
    pub status_code: i32,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_picos: i64,
    pub latency_us: i64,
    pub ttft_us: Option<i64>,
    pub agent_id: Option<String>,
    pub parent_id: Option<String>,
    pub tools: Option<serde_json::Value>,
}

/// Builds the graph of a session's calls (oldest first).
pub fn build_graph(session_id: String, calls: &[GraphCall], truncated: bool) -> SessionGraph {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let call_ids: HashMap<String, ()> = calls.iter().map(|c| (c.id.to_string(), ())).collect();
    // Tool call id -> node index, in order of first sight.
    let mut tools: BTreeMap<String, usize> = BTreeMap::new();
    let mut steps: BTreeMap<String, ()> = BTreeMap::new();
    let mut agents: Vec<String> = Vec::new();
    let (mut input, mut output, mut cost, mut latency_us) = (0i64, 0i64, 0i128, 0i64);
    for call in calls {
        let id = call.id.to_string();
        input = input.saturating_add(call.input_tokens);
        output = output.saturating_add(call.output_tokens);
        cost += i128::from(call.cost_picos);
        latency_us = latency_us.saturating_add(call.latency_us);
        if let Some(agent) = &call.agent_id
            && !agents.contains(agent)
        {
            agents.push(agent.clone());
        }
        nodes.push(GraphNode {
            id: id.clone(),
            kind: "call".into(),
            name: call.agent_id.clone(),
            created_at: Some(call.created_at),
            model: Some(call.public_model.clone()),
            outcome: Some(call.outcome.clone()),
            status_code: Some(call.status_code),
            input_tokens: call.input_tokens,
            output_tokens: call.output_tokens,
            cost: Picos(call.cost_picos).to_string(),
            latency_ms: Some(micros_to_ms(call.latency_us)),
            ttft_ms: call.ttft_us.map(micros_to_ms),
        });
        if let Some(parent) = &call.parent_id {
            let from = if call_ids.contains_key(parent) {
                parent.clone()
            } else {
                let step = format!("step:{parent}");
                if steps.insert(step.clone(), ()).is_none() {
                    nodes.push(empty_node(step.clone(), "step", Some(parent.clone())));
                }
                step
            };
            edges.push(GraphEdge {
                from,
                to: id.clone(),
                kind: "parent".into(),
            });
        }
        let links = call.tools.as_ref();
        for result in links
            .and_then(|t| t.get("results"))
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str)
        {
            let node = tool_node(&mut nodes, &mut tools, result, None);
            edges.push(GraphEdge {
                from: nodes[node].id.clone(),
                to: id.clone(),
                kind: "tool_result".into(),
            });
        }
        for requested in links
            .and_then(|t| t.get("calls"))
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(tool_id) = requested.get("id").and_then(serde_json::Value::as_str) else {
                continue;
            };
            let name = requested.get("name").and_then(serde_json::Value::as_str);
            let node = tool_node(&mut nodes, &mut tools, tool_id, name);
            edges.push(GraphEdge {
                from: id.clone(),
                to: nodes[node].id.clone(),
                kind: "tool_call".into(),
            });
        }
    }
    edges.sort();
    edges.dedup();
    SessionGraph {
        session_id,
        totals: GraphTotals {
            calls: calls.len(),
            tool_invocations: tools.len(),
            input_tokens: input,
            output_tokens: output,
            cost: picos_sum_to_string(cost),
            latency_ms: micros_to_ms(latency_us),
            agents,
        },
        nodes,
        edges,
        truncated,
    }
}

/// The node of a tool call, created on first sight; a later sight may name its function.
fn tool_node(
    nodes: &mut Vec<GraphNode>,
    tools: &mut BTreeMap<String, usize>,
    tool_call_id: &str,
    name: Option<&str>,
) -> usize {
    let index = *tools.entry(tool_call_id.to_owned()).or_insert_with(|| {
        nodes.push(empty_node(format!("tool:{tool_call_id}"), "tool", None));
        nodes.len() - 1
    });
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        nodes[index].name = Some(name.to_owned());
    }
    index
}

fn empty_node(id: String, kind: &str, name: Option<String>) -> GraphNode {
    GraphNode {
        id,
        kind: kind.into(),
        name,
        created_at: None,
        model: None,
        outcome: None,
        status_code: None,
        input_tokens: 0,
        output_tokens: 0,
        cost: "0".into(),
        latency_ms: None,
        ttft_ms: None,
    }
}

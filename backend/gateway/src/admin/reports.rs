//! Chargeback: `GET /api/v1/reports/chargeback` and `GET /api/v1/statements/{month}`, as JSON or as CSV
//! (`?format=csv`, or `Accept: text/csv`). CSV is streamed from the database in chunks, so an export of a year
//! is never built in memory; JSON is bounded to [`MAX_JSON_ROWS`] groups. See docs/chargeback.md.

use super::budgets::currency;
use super::context::{AdminState, Session};
use super::error::ApiError;
use super::roles::Action;
use crate::chargeback::period::{default_range, is_closed, month_range, parse_bound, parse_month};
use crate::chargeback::statement::{STATEMENT_GROUPING, StatementView, build};
use crate::chargeback::table::{json_row, json_totals};
use crate::chargeback::{CsvEncoder, columns};
use crate::store::Scoped;
use crate::store::reports::{Dimension, Filters, ReportRow, ReportSpec, Totals};
use actix_web::http::header::{ACCEPT, CONTENT_DISPOSITION};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Most groups a JSON report returns; larger reports are for CSV.
pub const MAX_JSON_ROWS: usize = 10_000;
/// CSV bytes sent per chunk.
const CHUNK_BYTES: usize = 64 * 1024;

/// Query of `GET /api/v1/reports/chargeback`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Start, inclusive: a date (UTC midnight) or an RFC 3339 time on a whole hour. Default: the first of the
    /// current month.
    pub from: Option<String>,
    /// End, exclusive, in the same forms. Default: the end of the current hour.
    pub to: Option<String>,
    /// Comma-separated: `team`, `application`, `key`, `user`, `model`, `provider`, `region`, `tag:<key>`, `day`,
    /// `month`. Empty: one row with the totals.
    pub group_by: Option<String>,
    pub team_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub application: Option<String>,
    pub user_id: Option<Uuid>,
    /// Public model name.
    pub model: Option<String>,
    /// Provider name.
    pub provider: Option<String>,
    pub region: Option<String>,
    /// `key=value`: only calls carrying this tag.
    pub tag: Option<String>,
    /// `json` (default) or `csv`; wins over `Accept`.
    pub format: Option<String>,
}

/// Query of `GET /api/v1/statements/{month}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// Only this team's statement.
    pub team_id: Option<Uuid>,
    /// `json` (default) or `csv`; wins over `Accept`.
    pub format: Option<String>,
}

/// A chargeback report as JSON.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    pub from: DateTime<Utc>,
    /// Exclusive.
    pub to: DateTime<Utc>,
    pub currency: String,
    /// The grouping as given back in column order, e.g. `["team", "tag:env"]`.
    pub group_by: Vec<String>,
    /// The names of the row fields in order: the same as the CSV header.
    pub columns: Vec<String>,
    /// One object per group, keyed by `columns`.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Value>,
    /// The measures summed over all rows (`cost` an exact decimal string).
    #[schema(value_type = Object)]
    pub totals: Value,
}

fn parse_dimension(name: &str) -> Result<Dimension, ApiError> {
    Ok(match name {
        "team" => Dimension::Team,
        "application" => Dimension::Application,
        "key" => Dimension::Key,
        "user" => Dimension::User,
        "model" => Dimension::Model,
        "provider" => Dimension::Provider,
        "region" => Dimension::Region,
        "day" => Dimension::Day,
        "month" => Dimension::Month,
        other => match other.strip_prefix("tag:") {
            Some(key)
                if !key.is_empty() && key.chars().count() <= crate::proxy::tags::MAX_KEY_LEN =>
            {
                Dimension::Tag(key.to_owned())
            }
            _ => {
                return Err(ApiError::validation(
                    "group_by",
                    format!(
                        "unknown grouping `{other}`; use team, application, key, user, model, provider, region, \
                         tag:<key>, day or month"
                    ),
                ));
            }
        },
    })
}

fn dimension_name(dimension: &Dimension) -> String {
    match dimension {
        Dimension::Month => "month".into(),
        Dimension::Day => "day".into(),
        Dimension::Team => "team".into(),
        Dimension::Application => "application".into(),
        Dimension::Key => "key".into(),
        Dimension::User => "user".into(),
        Dimension::Model => "model".into(),
        Dimension::Provider => "provider".into(),
        Dimension::Region => "region".into(),
        Dimension::Tag(key) => format!("tag:{key}"),
    }
}

fn spec_of(query: &ReportQuery, now: DateTime<Utc>) -> Result<ReportSpec, ApiError> {
    let (default_from, default_to) = default_range(now);
    let bound = |field: &'static str, value: &Option<String>, default| match value {
        Some(text) => parse_bound(text).map_err(|m| ApiError::validation(field, m)),
        None => Ok(default),
    };
    let from = bound("from", &query.from, default_from)?;
    let to = bound("to", &query.to, default_to)?;
    let group_by = query
        .group_by
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_dimension)
        .collect::<Result<Vec<_>, _>>()?;
    let tag = match &query.tag {
        None => None,
        Some(pair) => match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Some((key.trim().to_owned(), value.trim().to_owned()))
            }
            _ => return Err(ApiError::validation("tag", "expected key=value")),
        },
    };
    let filters = Filters {
        team_id: query.team_id,
        api_key_id: query.api_key_id,
        application: query.application.clone(),
        user_id: query.user_id,
        model: query.model.clone(),
        provider: query.provider.clone(),
        region: query.region.clone(),
        tag,
    };
    ReportSpec::new(from, to, group_by, filters)
        .map_err(|e| ApiError::validation(e.field, e.message))
}

/// CSV when `?format=csv`, or without `format` when `Accept` asks for `text/csv`.
fn wants_csv(format: Option<&str>, request: &HttpRequest) -> Result<bool, ApiError> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(ApiError::validation("format", "use json or csv")),
        None => Ok(request
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"))),
    }
}

/// Reads at most `MAX_JSON_ROWS` rows; more is a 400 that points to CSV.
async fn bounded_rows(scoped: &Scoped, spec: &ReportSpec) -> Result<Vec<ReportRow>, ApiError> {
    let limit = MAX_JSON_ROWS as u64 + 1;
    let mut stream = scoped.report_stream(spec, Some(limit)).await?;
    let mut rows = Vec::new();
    while let Some(row) = stream.next().await {
        rows.push(row?);
        if rows.len() > MAX_JSON_ROWS {
            return Err(ApiError::validation(
                "group_by",
                format!(
                    "the report has more than {MAX_JSON_ROWS} rows; group by less, narrow the range or \
                     download it as CSV (format=csv)"
                ),
            ));
        }
    }
    Ok(rows)
}

/// `GET /api/v1/reports/chargeback`.
#[utoipa::path(
    get,
    path = "/api/v1/reports/chargeback",
    operation_id = "reports_chargeback",
    tag = "reports",
    summary = "Spend by team, application, key, user, model, provider, region, tag and period",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report as JSON, or as CSV (`text/csv`, streamed) with `format=csv` or `Accept: text/csv`", body = ReportView),
        (status = 400, description = "Invalid range, grouping or filter, or too many rows for JSON (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn chargeback(
    admin: web::Data<AdminState>,
    session: Session,
    query: web::Query<ReportQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::ReportsRead)?;
    let query = query.into_inner();
    let csv = wants_csv(query.format.as_deref(), &request)?;
    let spec = spec_of(&query, Utc::now())?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    if csv {
        let name = format!(
            "chargeback_{}_{}.csv",
            spec.from().format("%Y%m%dT%H"),
            spec.to().format("%Y%m%dT%H")
        );
        return stream_csv(&admin, scoped, spec, name).await;
    }
    let view = admin
        .run(async move {
            let currency = currency(&scoped).await?;
            let rows = bounded_rows(&scoped, &spec).await?;
            let columns = columns(spec.group_by());
            let mut totals = Totals::default();
            for row in &rows {
                totals.add(&row.totals);
            }
            Ok(ReportView {
                from: spec.from(),
                to: spec.to(),
                group_by: spec.group_by().iter().map(dimension_name).collect(),
                columns: columns.iter().map(|c| c.name().to_owned()).collect(),
                rows: rows
                    .iter()
                    .map(|r| json_row(r, &columns, &currency))
                    .collect(),
                totals: json_totals(&totals),
                currency,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `GET /api/v1/statements/{month}`.
#[utoipa::path(
    get,
    path = "/api/v1/statements/{month}",
    operation_id = "statements_get",
    tag = "reports",
    summary = "A closed month's statement per team",
    params(("month" = String, Path, description = "`YYYY-MM`, a month that has ended (UTC)"), StatementQuery),
    responses(
        (status = 200, description = "The statement as JSON, or as CSV (`text/csv`) with `format=csv` or `Accept: text/csv`", body = StatementView),
        (status = 400, description = "Not a month (`validation_failed`)", body = super::error::ApiErrorBody),
        (status = 401, description = "Not signed in (`missing_token`, `invalid_token`, `token_expired`)", body = super::error::ApiErrorBody),
        (status = 403, description = "The role does not allow this (`forbidden`)", body = super::error::ApiErrorBody),
        (status = 409, description = "The month has not ended yet (`conflict`)", body = super::error::ApiErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn statement(
    admin: web::Data<AdminState>,
    session: Session,
    month: web::Path<String>,
    query: web::Query<StatementQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    session.require(Action::ReportsRead)?;
    let csv = wants_csv(query.format.as_deref(), &request)?;
    let month_text = month.into_inner();
    let month = parse_month(&month_text).map_err(|m| ApiError::validation("month", m))?;
    let now = Utc::now();
    if !is_closed(month, now) {
        let (_, end) = month_range(month);
        return Err(ApiError::Conflict(format!(
            "{month_text} is not closed yet; its statement is available from {}",
            end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    let range = month_range(month);
    let mut grouping = STATEMENT_GROUPING.to_vec();
    if csv {
        grouping.push(Dimension::Month);
    }
    let filters = Filters {
        team_id: query.team_id,
        ..Filters::default()
    };
    let spec = ReportSpec::new(range.0, range.1, grouping, filters)
        .map_err(|e| ApiError::validation(e.field, e.message))?;
    let scoped = Scoped::new(admin.repo.db().clone(), session.tenant_id);
    if csv {
        let suffix = query.team_id.map(|t| format!("_{t}")).unwrap_or_default();
        let name = format!("statement_{}{suffix}.csv", month.format("%Y-%m"));
        return stream_csv(&admin, scoped, spec, name).await;
    }
    let month_label = month.format("%Y-%m").to_string();
    let view = admin
        .run(async move {
            let currency = currency(&scoped).await?;
            let rows = bounded_rows(&scoped, &spec).await?;
            Ok(build(rows, month_label, range, currency))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

type Chunk = Result<Bytes, std::io::Error>;

/// Streams a report as CSV. A task on the storage runtime reads rows from the database and sends CSV chunks
/// through a small bounded channel, so a slow client slows the query instead of filling memory, and a client
/// that goes away stops it. The first chunk (header and first row) is awaited before answering, so a failing
/// query is still a 500 in the error shape; a failure later cuts the response short.
async fn stream_csv(
    admin: &AdminState,
    scoped: Scoped,
    spec: ReportSpec,
    filename: String,
) -> Result<HttpResponse, ApiError> {
    let (tx, mut rx) = mpsc::channel::<Chunk>(4);
    admin.storage_runtime.spawn(async move {
        if let Err(e) = produce_csv(&scoped, &spec, &tx).await {
            tracing::error!(error = %e, "streaming a CSV report failed");
            let _ = tx.send(Err(std::io::Error::other("report failed"))).await;
        }
    });
    let first = match rx.recv().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => return Err(ApiError::internal(e)),
        None => return Err(ApiError::internal("the report task ended without output")),
    };
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(futures_util::stream::once(async move { Ok(first) }).chain(rest)))
}

async fn produce_csv(
    scoped: &Scoped,
    spec: &ReportSpec,
    tx: &mpsc::Sender<Chunk>,
) -> Result<(), ApiError> {
    let currency = currency(scoped).await?;
    let csv_error = ApiError::internal;
    let mut encoder = CsvEncoder::new(columns(spec.group_by()), &currency).map_err(csv_error)?;
    let mut rows = scoped.report_stream(spec, None).await?;
    let mut first = true;
    while let Some(row) = rows.next().await {
        encoder.row(&row?).map_err(csv_error)?;
        if first || encoder.pending() >= CHUNK_BYTES {
            first = false;
            let chunk = Bytes::from(encoder.take().map_err(csv_error)?);
            if tx.send(Ok(chunk)).await.is_err() {
                return Ok(()); // The client went away.
            }
        }
    }
    let _ = tx
        .send(Ok(Bytes::from(encoder.take().map_err(csv_error)?)))
        .await;
    Ok(())
}

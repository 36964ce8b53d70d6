//! Chargeback reports read from the hourly roll-ups, never from raw events: a report over a year reads at most
//! one row per hour and key combination, however many calls there were.
//!
//! One SQL statement per report: the roll-up rows in range are grouped by the requested dimensions and the
//! names (team, key, user) are joined in afterwards. A tag grouping reads the tag roll-up for that key and adds
//! "(untagged)" groups computed as the hourly roll-up minus the tag roll-up, all in one `UNION ALL` of signed
//! rows. Sums come back exact: costs as two `BIGINT` halves (whole micro-units and the rest), recombined in
//! `i128`. A plain sum would not do: it is `NUMERIC` on Postgres, and an overflow error on SQLite past `i64`.

mod spec;

pub use spec::{Dimension, Filters, ReportRow, ReportSpec, RowStream, SpecError, Totals, UNTAGGED};

use super::{Scoped, StoreError};
use futures_util::StreamExt;
use sea_orm::{DbBackend, QueryResult, Statement, StreamTrait, Value};
use uuid::Uuid;

/// A statement under construction; placeholders are numbered in the order values are bound.
struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }
}

/// The SQL alias of each dimension's column and how a roll-up row `r` yields it.
fn dimension_sql(backend: DbBackend, dimension: &Dimension) -> (&'static str, String) {
    let period = |pg: &str, sqlite_len: u8| match backend {
        DbBackend::Postgres => format!("to_char(r.hour AT TIME ZONE 'UTC', '{pg}')"),
        _ => format!("substr(r.hour, 1, {sqlite_len})"),
    };
    match dimension {
        Dimension::Month => ("d_month", period("YYYY-MM", 7)),
        Dimension::Day => ("d_day", period("YYYY-MM-DD", 10)),
        Dimension::Team => ("d_team", "r.team_id".into()),
        Dimension::Application => ("d_application", "r.application".into()),
        Dimension::Key => ("d_key", "r.api_key_id".into()),
        Dimension::User => ("d_user", "r.user_id".into()),
        Dimension::Model => ("d_model", "r.public_model".into()),
        Dimension::Provider => ("d_provider", "r.provider_name".into()),
        Dimension::Region => ("d_region", "r.region".into()),
        Dimension::Tag(_) => ("d_tag", "r.tag_value".into()),
    }
}

/// Which roll-up rows one member of the union reads, and with which sign.
enum Member<'a> {
    /// The hourly roll-up; with `untagged`, labelled as calls without the tag.
    Hourly { untagged: bool },
    /// The tag roll-up for `key` (and `value`); `negate` and `untagged` subtract it from the untagged group.
    Tagged {
        key: &'a str,
        value: Option<&'a str>,
        negate: bool,
    },
}

fn push_member(sql: &mut Sql, scoped: &Scoped, spec: &ReportSpec, member: &Member<'_>) {
    let backend = sql.backend;
    let (table, sign, tag_expr) = match member {
        Member::Hourly { untagged } => (
            "usage_rollups_hourly",
            "",
            untagged.then_some("CAST(NULL AS TEXT)"),
        ),
        Member::Tagged { negate: true, .. } => {
            ("usage_tag_rollups_hourly", "-", Some("CAST(NULL AS TEXT)"))
        }
        Member::Tagged { .. } => ("usage_tag_rollups_hourly", "", None),
    };
    let mut columns = Vec::new();
    for dimension in spec.group_by() {
        let (alias, expr) = dimension_sql(backend, dimension);
        let expr = match (dimension, tag_expr) {
            (Dimension::Tag(_), Some(label)) => label.to_owned(),
            _ => expr,
        };
        columns.push(format!("{expr} AS {alias}"));
    }
    for sum in super::rollups::SUMS {
        columns.push(format!("{sign}r.{sum} AS {sum}"));
    }
    let tenant = sql.bind(scoped.tenant_id);
    let from = sql.bind(spec.from());
    let to = sql.bind(spec.to());
    let mut text = format!(
        "SELECT {} FROM {table} r WHERE r.tenant_id = {tenant} AND r.hour >= {from} AND r.hour < {to}",
        columns.join(", ")
    );
    let f = spec.filters();
    let mut condition = |column: &str, value: Value| {
        let placeholder = sql.bind(value);
        text.push_str(&format!(" AND r.{column} = {placeholder}"));
    };
    if let Some(id) = f.team_id {
        condition("team_id", id.into());
    }
    if let Some(id) = f.api_key_id {
        condition("api_key_id", id.into());
    }
    if let Some(application) = &f.application {
        condition("application", application.clone().into());
    }
    if let Some(id) = f.user_id {
        condition("user_id", id.into());
    }
    if let Some(model) = &f.model {
        condition("public_model", model.clone().into());
    }
    if let Some(provider) = &f.provider {
        condition("provider_name", provider.clone().into());
    }
    if let Some(region) = &f.region {
        condition("region", region.clone().into());
    }
    if let Member::Tagged { key, value, .. } = member {
        condition("tag_key", (*key).to_owned().into());
        if let Some(value) = value {
            condition("tag_value", (*value).to_owned().into());
        }
    }
    sql.text.push_str(&text);
}

fn members<'a>(spec: &'a ReportSpec) -> Vec<Member<'a>> {
    let filter = spec.filters().tag.as_ref();
    match (spec.tag_key(), filter) {
        (None, _) => vec![Member::Hourly { untagged: false }],
        // Filtered on a tag: only calls carrying it, from the tag roll-up.
        (Some(key), Some((_, value))) => vec![Member::Tagged {
            key,
            value: Some(value),
            negate: false,
        }],
        // Grouped by a tag: every value, plus all calls minus the tagged ones as "(untagged)".
        (Some(key), None) => vec![
            Member::Tagged {
                key,
                value: None,
                negate: false,
            },
            Member::Hourly { untagged: true },
            Member::Tagged {
                key,
                value: None,
                negate: true,
            },
        ],
    }
}

fn report_sql(scoped: &Scoped, spec: &ReportSpec, limit: Option<u64>) -> Statement {
    let backend = scoped.db.get_database_backend();
    let mut sql = Sql {
        backend,
        text: String::new(),
        values: Vec::new(),
    };
    let aliases: Vec<&str> = spec
        .group_by()
        .iter()
        .map(|d| dimension_sql(backend, d).0)
        .collect();
    let mut outer = aliases.iter().map(|a| format!("s.{a}")).collect::<Vec<_>>();
    for sum in [
        "requests",
        "errors",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
    ] {
        outer.push(format!("CAST(SUM(s.{sum}) AS BIGINT) AS {sum}"));
    }
    outer.push("CAST(SUM(s.reasoning_tokens) AS BIGINT) AS reasoning_tokens".into());
    outer.push("CAST(SUM(s.cost_picos / 1000000) AS BIGINT) AS cost_micros".into());
    outer.push("CAST(SUM(s.cost_picos % 1000000) AS BIGINT) AS cost_rest".into());
    sql.text
        .push_str("SELECT a.*, t.name AS team_name, k.name AS key_name, k.prefix AS key_prefix, ");
    sql.text.push_str("u.email AS user_email FROM (SELECT ");
    sql.text.push_str(&outer.join(", "));
    sql.text.push_str(" FROM (");
    for (i, member) in members(spec).iter().enumerate() {
        if i > 0 {
            sql.text.push_str(" UNION ALL ");
        }
        push_member(&mut sql, scoped, spec, member);
    }
    sql.text.push_str(") s");
    if !aliases.is_empty() {
        let keys = outer[..aliases.len()].join(", ");
        sql.text
            .push_str(&format!(" GROUP BY {keys} HAVING SUM(s.requests) <> 0"));
    }
    // Names only for grouped dimensions; the joins on other columns match nothing (NULL ids).
    let column = |d: Dimension, alias: &str| {
        if spec.groups(&d) {
            format!("a.{alias}")
        } else {
            "NULL".to_owned()
        }
    };
    sql.text.push_str(&format!(
        ") a LEFT JOIN teams t ON t.id = {} LEFT JOIN api_keys k ON k.id = {} LEFT JOIN users u ON u.id = {}",
        column(Dimension::Team, "d_team"),
        column(Dimension::Key, "d_key"),
        column(Dimension::User, "d_user"),
    ));
    let mut order = Vec::new();
    for dimension in spec.group_by() {
        let (alias, _) = dimension_sql(backend, dimension);
        match dimension {
            Dimension::Team => order.push("t.name".to_owned()),
            Dimension::Key => order.push("k.name".to_owned()),
            Dimension::User => order.push("u.email".to_owned()),
            _ => {}
        }
        order.push(format!("a.{alias}"));
    }
    if !order.is_empty() {
        sql.text
            .push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    if let Some(limit) = limit {
        sql.text.push_str(&format!(" LIMIT {limit}"));
    }
    Statement::from_sql_and_values(backend, sql.text, sql.values)
}

fn decode(row: &QueryResult, spec: &ReportSpec) -> Result<ReportRow, StoreError> {
    let text = |alias: &str| row.try_get::<Option<String>>("", alias);
    let id = |alias: &str| row.try_get::<Option<Uuid>>("", alias);
    let number = |alias: &str| -> Result<i64, StoreError> {
        Ok(row.try_get::<Option<i64>>("", alias)?.unwrap_or(0))
    };
    let mut out = ReportRow::default();
    for dimension in spec.group_by() {
        match dimension {
            Dimension::Month => out.month = text("d_month")?,
            Dimension::Day => out.day = text("d_day")?,
            Dimension::Team => {
                out.team_id = id("d_team")?;
                out.team_name = text("team_name")?;
            }
            Dimension::Application => {
                out.application = text("d_application")?.filter(|a| !a.is_empty())
            }
            Dimension::Key => {
                out.key_id = id("d_key")?;
                out.key_name = text("key_name")?;
                out.key_prefix = text("key_prefix")?;
            }
            Dimension::User => {
                out.user_id = id("d_user")?.filter(|u| !u.is_nil());
                out.user_email = text("user_email")?;
            }
            Dimension::Model => out.model = text("d_model")?,
            Dimension::Provider => out.provider = text("d_provider")?,
            Dimension::Region => out.region = text("d_region")?,
            Dimension::Tag(key) => {
                out.tag_key = Some(key.clone());
                out.tag_value = Some(text("d_tag")?.unwrap_or_else(|| UNTAGGED.to_owned()));
            }
        }
    }
    out.totals = Totals {
        requests: number("requests")?,
        errors: number("errors")?,
        input_tokens: number("input_tokens")?,
        output_tokens: number("output_tokens")?,
        cached_tokens: number("cached_tokens")?,
        reasoning_tokens: number("reasoning_tokens")?,
        cost_picos: i128::from(number("cost_micros")?) * 1_000_000
            + i128::from(number("cost_rest")?),
    };
    Ok(out)
}

impl Scoped {
    /// The report's rows in order, streamed from the database: nothing is collected, so an export of any size
    /// holds one row at a time. The stream holds a pooled connection until it ends or is dropped.
    pub async fn report_stream<'a>(
        &'a self,
        spec: &'a ReportSpec,
        limit: Option<u64>,
    ) -> Result<RowStream<'a>, StoreError> {
        let rows = self.db.stream_raw(report_sql(self, spec, limit)).await?;
        Ok(Box::pin(rows.filter_map(move |row| async move {
            match row {
                Err(e) => Some(Err(StoreError::from(e))),
                Ok(row) => match decode(&row, spec) {
                    // Without grouping, an empty range still yields one row of NULL sums.
                    Ok(r) if r.totals.requests == 0 => None,
                    other => Some(other),
                },
            }
        })))
    }
}

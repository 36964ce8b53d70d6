//! What a report asks for (range, grouping, filters) and what it answers (rows of sums), with the rules the
//! roll-ups impose on a request.

use super::super::StoreError;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use std::pin::Pin;
use uuid::Uuid;

/// What a report can be grouped by. The declaration order is the column order of every report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    Month,
    Day,
    Team,
    Application,
    Key,
    User,
    Model,
    Provider,
    Region,
    /// The values of one tag key.
    Tag(String),
}

/// Narrowing of a report; every set filter must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub team_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub application: Option<String>,
    pub user_id: Option<Uuid>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub region: Option<String>,
    /// Only calls carrying this tag key with this value.
    pub tag: Option<(String, String)>,
}

/// A report: the UTC hours `[from, to)`, filters, and the dimensions to group by (sorted, no duplicates). Built
/// only by [`ReportSpec::new`], which refuses what the roll-ups cannot answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSpec {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: Vec<Dimension>,
    filters: Filters,
}

/// Why a report cannot be built; `field` names the query parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SpecError {
    pub field: &'static str,
    pub message: String,
}

/// The label of calls that do not carry the tag key a report is grouped by.
pub const UNTAGGED: &str = "(untagged)";

/// Sums over a set of calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: i64,
    /// Calls answered with a status of 400 or more.
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    /// Exact cost in pico-units; `i128` because a sum of `i64` picos can pass `i64::MAX`.
    pub cost_picos: i128,
}

impl Totals {
    /// Adds another group's sums.
    pub fn add(&mut self, other: &Totals) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cached_tokens = self.cached_tokens.saturating_add(other.cached_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(other.reasoning_tokens);
        self.cost_picos = self.cost_picos.saturating_add(other.cost_picos);
    }
}

/// One group of a report. Only the fields of the grouped dimensions are set, plus the names joined in for them
/// (absent when the team, key or user has been deleted since).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportRow {
    pub month: Option<String>,
    pub day: Option<String>,
    pub team_id: Option<Uuid>,
    pub team_name: Option<String>,
    pub application: Option<String>,
    pub key_id: Option<Uuid>,
    pub key_name: Option<String>,
    pub key_prefix: Option<String>,
    pub user_id: Option<Uuid>,
    pub user_email: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub region: Option<String>,
    pub tag_key: Option<String>,
    pub tag_value: Option<String>,
    pub totals: Totals,
}

/// A stream of report rows that borrows the connection.
pub type RowStream<'a> = Pin<Box<dyn Stream<Item = Result<ReportRow, StoreError>> + Send + 'a>>;

impl ReportSpec {
    /// Validates a report. `from` and `to` must be whole UTC hours (the roll-ups are hourly), `from` before `to`;
    /// one tag key at most, since the tag roll-up has one tag per row and cannot tell which calls carry two.
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        mut group_by: Vec<Dimension>,
        filters: Filters,
    ) -> Result<Self, SpecError> {
        let error = |field, message: &str| SpecError {
            field,
            message: message.to_owned(),
        };
        let whole_hour = |t: DateTime<Utc>| {
            t.timestamp().rem_euclid(3600) == 0 && t.timestamp_subsec_nanos() == 0
        };
        if !whole_hour(from) || !whole_hour(to) {
            return Err(error(
                if whole_hour(from) { "to" } else { "from" },
                "reports are built from hourly roll-ups: use a date (2026-11-01) or a whole UTC hour (2026-11-01T08:00:00Z)",
            ));
        }
        if from >= to {
            return Err(error("to", "must be after `from`"));
        }
        group_by.sort();
        group_by.dedup();
        let tag_keys: Vec<&str> = group_by
            .iter()
            .filter_map(|d| match d {
                Dimension::Tag(key) => Some(key.as_str()),
                _ => None,
            })
            .collect();
        if tag_keys.len() > 1 {
            return Err(error(
                "group_by",
                "group by one tag key at most: the tag roll-up cannot combine two tags of a call",
            ));
        }
        if let (Some(group), Some((filter, _))) = (tag_keys.first(), &filters.tag)
            && group != filter
        {
            return Err(error(
                "tag",
                "filter on the tag key the report is grouped by, or on none: the tag roll-up cannot combine two tags of a call",
            ));
        }
        Ok(Self {
            from,
            to,
            group_by,
            filters,
        })
    }

    /// Start of the range (inclusive).
    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }

    /// End of the range (exclusive).
    pub fn to(&self) -> DateTime<Utc> {
        self.to
    }

    /// The dimensions, in column order.
    pub fn group_by(&self) -> &[Dimension] {
        &self.group_by
    }

    /// The filters.
    pub fn filters(&self) -> &Filters {
        &self.filters
    }

    /// The one tag key the report involves (grouped by or filtered on); the roll-ups can answer one at a time.
    pub fn tag_key(&self) -> Option<&str> {
        self.group_by
            .iter()
            .find_map(|d| match d {
                Dimension::Tag(key) => Some(key.as_str()),
                _ => None,
            })
            .or(self.filters.tag.as_ref().map(|(key, _)| key.as_str()))
    }

    pub(crate) fn groups(&self, dimension: &Dimension) -> bool {
        match dimension {
            Dimension::Tag(_) => self.group_by.iter().any(|d| matches!(d, Dimension::Tag(_))),
            other => self.group_by.contains(other),
        }
    }
}

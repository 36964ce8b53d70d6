//! The columns of a report and their values. JSON rows and CSV records are both made from [`columns`] and
//! [`cells`], so a report's JSON and CSV carry the same values under the same names in the same order.

use crate::money::picos_sum_to_string;
use crate::store::reports::{Dimension, ReportRow, Totals};
use serde_json::{Map, Value};

/// One column of a report, named as in the CSV header and the JSON rows (see docs/chargeback.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Month,
    Day,
    TeamId,
    TeamName,
    Application,
    KeyId,
    KeyName,
    KeyPrefix,
    UserId,
    UserEmail,
    Model,
    Provider,
    Region,
    TagKey,
    TagValue,
    Requests,
    Errors,
    InputTokens,
    OutputTokens,
    CachedTokens,
    ReasoningTokens,
    Cost,
    Currency,
}

/// The measures every report ends with, in order.
const MEASURES: [Column; 8] = [
    Column::Requests,
    Column::Errors,
    Column::InputTokens,
    Column::OutputTokens,
    Column::CachedTokens,
    Column::ReasoningTokens,
    Column::Cost,
    Column::Currency,
];

impl Column {
    /// The header / JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Day => "day",
            Self::TeamId => "team_id",
            Self::TeamName => "team_name",
            Self::Application => "application",
            Self::KeyId => "key_id",
            Self::KeyName => "key_name",
            Self::KeyPrefix => "key_prefix",
            Self::UserId => "user_id",
            Self::UserEmail => "user_email",
            Self::Model => "model",
            Self::Provider => "provider",
            Self::Region => "region",
            Self::TagKey => "tag_key",
            Self::TagValue => "tag_value",
            Self::Requests => "requests",
            Self::Errors => "errors",
            Self::InputTokens => "input_tokens",
            Self::OutputTokens => "output_tokens",
            Self::CachedTokens => "cached_tokens",
            Self::ReasoningTokens => "reasoning_tokens",
            Self::Cost => "cost",
            Self::Currency => "currency",
        }
    }
}

/// The columns of a report grouped by `group_by` (in the canonical order [`Dimension`] declares), then the
/// measures and the currency.
pub fn columns(group_by: &[Dimension]) -> Vec<Column> {
    let mut out = Vec::new();
    for dimension in group_by {
        out.extend_from_slice(match dimension {
            Dimension::Month => &[Column::Month][..],
            Dimension::Day => &[Column::Day],
            Dimension::Team => &[Column::TeamId, Column::TeamName],
            Dimension::Application => &[Column::Application],
            Dimension::Key => &[Column::KeyId, Column::KeyName, Column::KeyPrefix],
            Dimension::User => &[Column::UserId, Column::UserEmail],
            Dimension::Model => &[Column::Model],
            Dimension::Provider => &[Column::Provider],
            Dimension::Region => &[Column::Region],
            Dimension::Tag(_) => &[Column::TagKey, Column::TagValue],
        });
    }
    out.extend_from_slice(&MEASURES);
    out
}

/// One value of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Absent: no application, no owning user, or the name of a deleted team or key. Empty in CSV.
    Null,
    Text(String),
    Count(i64),
    /// An exact decimal amount: a string in JSON too, never a float.
    Amount(String),
}

fn text(value: &Option<String>) -> Cell {
    value.clone().map_or(Cell::Null, Cell::Text)
}

fn id(value: &Option<uuid::Uuid>) -> Cell {
    value.map_or(Cell::Null, |v| Cell::Text(v.to_string()))
}

/// The value of `column` in `row`.
pub fn cell(row: &ReportRow, column: Column, currency: &str) -> Cell {
    let totals = &row.totals;
    match column {
        Column::Month => text(&row.month),
        Column::Day => text(&row.day),
        Column::TeamId => id(&row.team_id),
        Column::TeamName => text(&row.team_name),
        Column::Application => text(&row.application),
        Column::KeyId => id(&row.key_id),
        Column::KeyName => text(&row.key_name),
        Column::KeyPrefix => text(&row.key_prefix),
        Column::UserId => id(&row.user_id),
        Column::UserEmail => text(&row.user_email),
        Column::Model => text(&row.model),
        Column::Provider => text(&row.provider),
        Column::Region => text(&row.region),
        Column::TagKey => text(&row.tag_key),
        Column::TagValue => text(&row.tag_value),
        Column::Currency => Cell::Text(currency.to_owned()),
        measure => measure_cell(totals, measure),
    }
}

fn measure_cell(totals: &Totals, column: Column) -> Cell {
    match column {
        Column::Requests => Cell::Count(totals.requests),
        Column::Errors => Cell::Count(totals.errors),
        Column::InputTokens => Cell::Count(totals.input_tokens),
        Column::OutputTokens => Cell::Count(totals.output_tokens),
        Column::CachedTokens => Cell::Count(totals.cached_tokens),
        Column::ReasoningTokens => Cell::Count(totals.reasoning_tokens),
        Column::Cost => Cell::Amount(picos_sum_to_string(totals.cost_picos)),
        _ => Cell::Null,
    }
}

impl Cell {
    fn json(self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Text(s) | Self::Amount(s) => Value::String(s),
            Self::Count(n) => Value::from(n),
        }
    }

    fn csv(self) -> String {
        match self {
            Self::Null => String::new(),
            Self::Text(s) => neutralise_formula(s),
            Self::Amount(s) => s,
            Self::Count(n) => n.to_string(),
        }
    }
}

/// A text cell a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage
/// return: a tag value or key name chosen by whoever holds a key) is prefixed with `'`, as OWASP recommends
/// against CSV injection. Only text is touched: amounts and counts are numbers the gateway wrote.
fn neutralise_formula(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

/// A row as a JSON object keyed by column name.
pub fn json_row(row: &ReportRow, columns: &[Column], currency: &str) -> Value {
    let mut object = Map::new();
    for column in columns {
        object.insert(
            column.name().to_owned(),
            cell(row, *column, currency).json(),
        );
    }
    Value::Object(object)
}

/// Totals as JSON: the measures without the currency (which the report gives once).
pub fn json_totals(totals: &Totals) -> Value {
    let mut object = Map::new();
    for column in &MEASURES[..MEASURES.len() - 1] {
        object.insert(
            column.name().to_owned(),
            measure_cell(totals, *column).json(),
        );
    }
    Value::Object(object)
}

/// Writes CSV (RFC 4180: CRLF line ends; fields quoted when they hold a comma, a quote or a line break, quotes
/// doubled) into a buffer the caller empties chunk by chunk, so an export of any size stays small in memory.
pub struct CsvEncoder {
    writer: csv::Writer<Vec<u8>>,
    columns: Vec<Column>,
    currency: String,
}

impl CsvEncoder {
    /// An encoder whose buffer already holds the header row.
    pub fn new(columns: Vec<Column>, currency: &str) -> Result<Self, csv::Error> {
        let mut writer = Self::writer();
        writer.write_record(columns.iter().map(|c| c.name()))?;
        Ok(Self {
            writer,
            columns,
            currency: currency.to_owned(),
        })
    }

    /// Appends one record.
    pub fn row(&mut self, row: &ReportRow) -> Result<(), csv::Error> {
        self.writer.write_record(
            self.columns
                .iter()
                .map(|c| cell(row, *c, &self.currency).csv()),
        )
    }

    /// Bytes ready to be taken (up to the csv writer's own 8 KiB buffer more are held back until `take`).
    pub fn pending(&self) -> usize {
        self.writer.get_ref().len()
    }

    /// Bytes written so far and not yet taken.
    pub fn take(&mut self) -> Result<Vec<u8>, csv::Error> {
        std::mem::replace(&mut self.writer, Self::writer())
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))
    }

    fn writer() -> csv::Writer<Vec<u8>> {
        csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cells_that_a_spreadsheet_would_run_are_neutralised_and_amounts_are_not() {
        for formula in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(Cell::Text(formula.into()).csv(), format!("'{formula}"));
        }
        assert_eq!(Cell::Text("team=search".into()).csv(), "team=search");
        assert_eq!(Cell::Amount("12.5".into()).csv(), "12.5");
        assert_eq!(
            Cell::Text("=1".into()).json(),
            serde_json::Value::String("=1".into())
        );
    }

    #[test]
    fn csv_quotes_by_rfc_4180_and_writes_exact_amounts() {
        let columns = columns(&[Dimension::Team, Dimension::Tag("env".into())]);
        let mut encoder = CsvEncoder::new(columns, "EUR").expect("encoder");
        let row = ReportRow {
            team_name: Some("Search, \"Ranking\"\nand more".into()),
            tag_key: Some("env".into()),
            tag_value: Some("prod".into()),
            totals: Totals {
                requests: 3,
                cost_picos: 75_000,
                ..Totals::default()
            },
            ..ReportRow::default()
        };
        assert!(encoder.row(&row).is_ok());
        let text = String::from_utf8(encoder.take().unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            text,
            "team_id,team_name,tag_key,tag_value,requests,errors,input_tokens,output_tokens,cached_tokens,\
             reasoning_tokens,cost,currency\r\n\
             ,\"Search, \"\"Ranking\"\"\nand more\",env,prod,3,0,0,0,0,0,0.000000075,EUR\r\n"
        );
    }
}

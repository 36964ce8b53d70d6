//! Cursor pagination: lists are ordered by id descending (ids are UUIDv7, so newest first); the cursor is the
//! last id of the previous page. Stable under inserts, unlike offsets.

use super::error::ApiError;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Largest page.
pub const MAX_LIMIT: u64 = 200;
const DEFAULT_LIMIT: u64 = 50;

/// `?limit=&cursor=`.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size, validated.
    pub fn limit(&self) -> Result<u64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::validation(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// Fetches one page of `query`, newest first by `id`: the rows after the cursor, one more than the page size
    /// (`Page::from_rows` uses the extra row to know whether another page exists).
    pub async fn fetch<E: EntityTrait>(
        &self,
        mut query: Select<E>,
        id: E::Column,
        db: &DatabaseConnection,
    ) -> Result<Vec<E::Model>, ApiError> {
        if let Some(cursor) = self.cursor()? {
            query = query.filter(id.lt(cursor));
        }
        Ok(query
            .order_by_desc(id)
            .limit(self.limit()? + 1)
            .all(db)
            .await?)
    }

    /// The id after which the page starts.
    pub fn cursor(&self) -> Result<Option<Uuid>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| {
                Uuid::parse_str(c).map_err(|_| {
                    ApiError::validation("cursor", "not a cursor returned by this API")
                })
            })
            .transpose()
    }
}

/// One page of results.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows (the extra one only says whether more exist).
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: u64,
        id: impl Fn(&R) -> Uuid,
        view: impl Fn(R) -> T,
    ) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|r| id(r).to_string())
        } else {
            None
        };
        Self {
            data: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

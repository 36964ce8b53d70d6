//! The admin API's one error shape, `{"error":{"code","message","details"}}`, and its mapping to statuses.

use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};

/// Everything an `/api/v1` handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid session: missing, malformed or expired credentials.
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    /// Signed in, but the role does not allow this.
    #[error("your role does not allow this action")]
    Forbidden,
    /// Unknown id, or an id of another tenant (never distinguishable from the outside).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Invalid input; `field` names the offending field.
    #[error("{message}")]
    Validation { field: String, message: String },
    /// A uniqueness or state conflict (e.g. a team slug already taken).
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` did not match the current version.
    #[error("the resource changed since you read it; reload and retry")]
    PreconditionFailed,
    /// Too many attempts.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// Something on our side; details are logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A validation error naming `field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Wraps an unexpected failure, keeping its text for the log only.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated { code, .. } => code,
            Self::Forbidden => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Validation { .. } => "validation_failed",
            Self::Conflict(_) => "conflict",
            Self::PreconditionFailed => "precondition_failed",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Internal(_) => "internal_error",
        }
    }

    fn details(&self) -> Value {
        match self {
            Self::Validation { field, .. } => json!({"field": field}),
            Self::TooManyRequests {
                retry_after_secs, ..
            } => json!({"retry_after_seconds": retry_after_secs}),
            _ => Value::Null,
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        match error {
            crate::store::StoreError::Conflict(message) => Self::Conflict(message),
            other => Self::internal(other),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        match error.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                Self::Conflict("a resource with these values already exists".into())
            }
            _ => Self::internal(error),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            // 422 would be more precise, but most clients and OpenAPI generators treat 400 as "fix your input".
            Self::Validation { .. } => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(detail) = self {
            tracing::error!(detail = %detail, "admin API internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Self::TooManyRequests {
            retry_after_secs, ..
        } = self
        {
            response.insert_header((RETRY_AFTER, retry_after_secs.to_string()));
        }
        response.json(json!({"error": {"code": self.code(), "message": self.to_string(), "details": self.details()}}))
    }
}

/// The error body as the OpenAPI document describes it. `error_response` builds the same JSON by hand; this type
/// exists only so the document can name that shape (a unit test keeps the two in step).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
}

/// The inside of [`ApiErrorBody`].
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ApiErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`, `not_found`, `invalid_credentials`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// `{"field": …}` for validation errors, `{"retry_after_seconds": …}` for rate limits, otherwise `null`.
    pub details: Option<Value>,
}

//! Optimistic concurrency for edits: every resource answers with an `ETag` derived from its `updated_at`;
//! an edit carrying `If-Match` is refused with 412 when the resource changed in between (no lost updates).

use super::error::ApiError;
use chrono::{DateTime, Utc};

/// The request's `If-Match` header, if any.
pub fn if_match(req: &actix_web::HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The entity tag of a version.
pub fn etag_of(updated_at: DateTime<Utc>) -> String {
    format!("\"{}\"", updated_at.timestamp_micros())
}

/// Passes when there is no `If-Match`, or it names the current version (or `*`).
pub fn check_if_match(if_match: Option<&str>, updated_at: DateTime<Utc>) -> Result<(), ApiError> {
    match if_match.map(str::trim) {
        None | Some("*") => Ok(()),
        Some(tags)
            if tags
                .split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag_of(updated_at)) =>
        {
            Ok(())
        }
        Some(_) => Err(ApiError::PreconditionFailed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_the_current_tag_only() {
        let at = Utc::now();
        assert!(check_if_match(None, at).is_ok());
        assert!(check_if_match(Some(&etag_of(at)), at).is_ok());
        assert!(check_if_match(Some("*"), at).is_ok());
        assert!(check_if_match(Some("\"1\""), at).is_err());
    }
}

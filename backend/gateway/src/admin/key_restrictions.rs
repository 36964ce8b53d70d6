//! What a developer may change on their own key: restrictions only narrow, and tags already set stay. A developer cannot clear or widen an
//! allow-list, a limit or an expiry that is set (by an admin or by themselves); only roles that manage every key
//! (owner, admin) can. Without this, an admin's restriction on a developer's key would last until the developer
//! sent `null`.

use super::api_keys::UpdateKey;
use super::error::ApiError;
use crate::store::entities::api_key;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeSet;

const NARROW_ONLY: &str =
    "only an admin can widen or remove this restriction; you can only narrow it";

/// Checks an edit by a caller limited to their own keys.
pub fn check_narrowing(row: &api_key::Model, body: &UpdateKey) -> Result<(), ApiError> {
    list(
        "allowed_models",
        row.allowed_models.as_ref(),
        &body.allowed_models,
    )?;
    list(
        "allowed_regions",
        row.allowed_regions.as_ref(),
        &body.allowed_regions,
    )?;
    list(
        "allowed_tools",
        row.allowed_tools.as_ref(),
        &body.allowed_tools,
    )?;
    ceiling("rpm_limit", row.rpm_limit, body.rpm_limit)?;
    ceiling("tpm_limit", row.tpm_limit, body.tpm_limit)?;
    ceiling("max_concurrency", row.max_concurrency, body.max_concurrency)?;
    ceiling::<DateTime<Utc>>("expires_at", row.expires_at, body.expires_at)?;
    tags(row.metadata.as_ref(), &body.metadata)
}

/// The key's tags are binding on its calls (tag budgets count by them): a developer may add tags, not change
/// or remove one that is set.
fn tags(
    current: Option<&Value>,
    edit: &Option<Option<std::collections::BTreeMap<String, String>>>,
) -> Result<(), ApiError> {
    let Some(new) = edit else { return Ok(()) };
    let Some(current) = current.and_then(Value::as_object) else {
        return Ok(());
    };
    let kept = current.iter().all(|(name, value)| {
        new.as_ref()
            .and_then(|new| new.get(name))
            .is_some_and(|v| Some(v.as_str()) == value.as_str())
    });
    if kept {
        Ok(())
    } else {
        Err(ApiError::validation("metadata", NARROW_ONLY))
    }
}

/// An allow-list may be set where there was none, or replaced by a subset of itself.
fn list(
    field: &'static str,
    current: Option<&Value>,
    edit: &Option<Option<Vec<String>>>,
) -> Result<(), ApiError> {
    let Some(new) = edit else { return Ok(()) };
    let Some(current) = current.and_then(Value::as_array) else {
        return Ok(());
    };
    let current: BTreeSet<&str> = current.iter().filter_map(Value::as_str).collect();
    match new {
        Some(new) if new.iter().all(|item| current.contains(item.as_str())) => Ok(()),
        _ => Err(ApiError::validation(field, NARROW_ONLY)),
    }
}

/// A limit (or an expiry) may be set where there was none, or lowered (brought forward).
fn ceiling<T: PartialOrd>(
    field: &'static str,
    current: Option<T>,
    edit: Option<Option<T>>,
) -> Result<(), ApiError> {
    match (current, edit) {
        (_, None) | (None, _) => Ok(()),
        (Some(current), Some(Some(new))) if new <= current => Ok(()),
        _ => Err(ApiError::validation(field, NARROW_ONLY)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_restriction_can_only_narrow() {
        let current = serde_json::json!(["a", "b"]);
        assert!(list("m", Some(&current), &Some(Some(vec!["a".into()]))).is_ok());
        assert!(list("m", Some(&current), &Some(None)).is_err());
        assert!(
            list(
                "m",
                Some(&current),
                &Some(Some(vec!["a".into(), "c".into()]))
            )
            .is_err()
        );
        assert!(list("m", None, &Some(Some(vec!["z".into()]))).is_ok());
        assert!(ceiling("r", Some(10), Some(Some(5))).is_ok());
        assert!(ceiling("r", Some(10), Some(Some(11))).is_err());
        assert!(ceiling("r", Some(10), Some(None)).is_err());
        assert!(ceiling("r", None::<i64>, Some(None)).is_ok());
    }
}

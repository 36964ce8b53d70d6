//! Attribution tags: `x-switchyard-tags: k=v,k2=v2`, OpenAI `metadata` (string values) and `user`. Bounded so
//! that reports stay cheap: too many or too long tags are a 400 that says which limit, never silently cut.

use crate::error::ProxyError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most tags on one call.
pub const MAX_TAGS: usize = 16;
/// Longest tag key, in characters.
pub const MAX_KEY_LEN: usize = 64;
/// Longest tag value: 512 characters (OpenAI's `metadata` limit) and 512 bytes of UTF-8, so that a tag always
/// fits in the tag roll-up's index entry (Postgres refuses entries over about 2.7 kB, and a batch that can
/// never be written would sit in the spool forever).
pub const MAX_VALUE_LEN: usize = 512;
/// Longest `user`, in characters.
pub const MAX_USER_LEN: usize = 256;
/// Longest session or agent id, in characters.
pub const MAX_ID_LEN: usize = 128;

/// The tags, end user, agent session and agent of one call.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    pub tags: BTreeMap<String, String>,
    pub end_user: Option<String>,
    pub session_id: Option<String>,
    pub agent_id: Option<String>,
    /// The parent step of this call in an agent workflow.
    pub parent_id: Option<String>,
}

/// Attribution of a call: the call's own tags, then the key's tags (its `metadata`), which win on a shared name,
/// and the session and agent headers.
pub fn from_request(
    headers: &actix_web::http::header::HeaderMap,
    body: &mut Map<String, Value>,
    key_tags: &BTreeMap<String, String>,
) -> Result<Attribution, ProxyError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
    };
    let mut attribution = extract(header("x-switchyard-tags"), body)?;
    // The workflow ids come from their headers or, for SDKs that only pass a body, from the call's own
    // `metadata` keys `session_id`, `agent_id` and `parent_id` (the header wins); either way they are not kept as
    // tags. A key's default tags never set them.
    let mut from_metadata = |key: &str| attribution.tags.remove(key);
    let (session, agent, parent) = (
        from_metadata("session_id"),
        from_metadata("agent_id"),
        from_metadata("parent_id"),
    );
    // The key's own tags (its `metadata`, set by whoever manages the key) are binding: a call cannot replace
    // them with a value of its own, or it could leave a tag budget by sending another value.
    // The key's `session_id`, `agent_id` and `parent_id` are defaults for the workflow ids, not tags.
    let workflow = ["session_id", "agent_id", "parent_id"];
    for (key, value) in key_tags {
        if !workflow.contains(&key.as_str()) {
            attribution.tags.insert(key.clone(), value.clone());
        }
    }
    let default_of = |id: Option<String>, name: &str| id.or_else(|| key_tags.get(name).cloned());
    let (session, agent, parent) = (
        default_of(session, "session_id"),
        default_of(agent, "agent_id"),
        default_of(parent, "parent_id"),
    );
    if attribution.tags.len() > MAX_TAGS {
        return Err(ProxyError::bad_request(
            format!(
                "too many tags: {} with the API key's own (at most {MAX_TAGS})",
                attribution.tags.len()
            ),
            None,
        ));
    }
    attribution.session_id = bounded_id(
        "x-switchyard-session-id",
        header("x-switchyard-session-id").or(session.as_deref()),
    )?;
    attribution.agent_id = bounded_id(
        "x-switchyard-agent-id",
        header("x-switchyard-agent-id").or(agent.as_deref()),
    )?;
    attribution.parent_id = bounded_id(
        "x-switchyard-parent-id",
        header("x-switchyard-parent-id").or(parent.as_deref()),
    )?;
    Ok(attribution)
}

fn bounded_id(name: &str, value: Option<&str>) -> Result<Option<String>, ProxyError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(id) if id.chars().count() <= MAX_ID_LEN && !id.chars().any(char::is_control) => {
            Ok(Some(id.to_owned()))
        }
        Some(_) => Err(ProxyError::bad_request(
            format!("{name} must be at most {MAX_ID_LEN} printable characters"),
            None,
        )),
    }
}

impl Attribution {
    /// Tags as stored on the usage event.
    pub fn tags_json(&self) -> Value {
        Value::Object(
            self.tags
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }
}

/// Collects attribution from the header and the body. `metadata` is removed from the body (providers reject it
/// without `store`) unless the caller asked the provider to store the completion (`store: true`), where it is
/// meant for the provider too. Header tags win over metadata on the same key.
pub fn extract(
    header: Option<&str>,
    body: &mut Map<String, Value>,
) -> Result<Attribution, ProxyError> {
    let mut tags = BTreeMap::new();
    let store = matches!(body.get("store"), Some(Value::Bool(true)));
    let metadata = if store {
        body.get("metadata").cloned()
    } else {
        body.remove("metadata")
    };
    if let Some(metadata) = metadata {
        match metadata {
            Value::Null => {}
            Value::Object(entries) => {
                for (key, value) in entries {
                    let Value::String(value) = value else {
                        return Err(ProxyError::bad_request(
                            format!("metadata `{key}` must be a string"),
                            Some("metadata"),
                        ));
                    };
                    insert(&mut tags, key, value, Some("metadata"))?;
                }
            }
            _ => {
                return Err(ProxyError::bad_request(
                    "`metadata` must be an object of strings",
                    Some("metadata"),
                ));
            }
        }
    }
    if let Some(header) = header {
        for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(ProxyError::bad_request(
                    format!("x-switchyard-tags: `{pair}` is not key=value"),
                    None,
                ));
            };
            insert(
                &mut tags,
                key.trim().to_owned(),
                value.trim().to_owned(),
                None,
            )?;
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ProxyError::bad_request(
            format!("too many tags: {} (at most {MAX_TAGS})", tags.len()),
            None,
        ));
    }
    let end_user = match body.get("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(user)) if user.chars().count() <= MAX_USER_LEN => Some(user.clone()),
        Some(Value::String(_)) => {
            return Err(ProxyError::bad_request(
                format!("`user` is longer than {MAX_USER_LEN} characters"),
                Some("user"),
            ));
        }
        Some(_) => {
            return Err(ProxyError::bad_request(
                "`user` must be a string",
                Some("user"),
            ));
        }
    };
    Ok(Attribution {
        tags,
        end_user,
        ..Attribution::default()
    })
}

fn insert(
    tags: &mut BTreeMap<String, String>,
    key: String,
    value: String,
    param: Option<&'static str>,
) -> Result<(), ProxyError> {
    if key.is_empty() || key.chars().count() > MAX_KEY_LEN {
        return Err(ProxyError::bad_request(
            format!("tag key `{key}` must be 1 to {MAX_KEY_LEN} characters"),
            param,
        ));
    }
    // `=` and `,` would make the header form ambiguous; control characters break CSV exports.
    if key
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '=' || c == ',')
    {
        return Err(ProxyError::bad_request(
            format!("tag key `{key}` must not contain whitespace, control characters, `=` or `,`"),
            param,
        ));
    }
    if value.len() > MAX_VALUE_LEN || value.chars().any(char::is_control) {
        return Err(ProxyError::bad_request(
            format!(
                "tag `{key}`: the value must be at most {MAX_VALUE_LEN} bytes of printable characters"
            ),
            param,
        ));
    }
    tags.insert(key, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn header_and_metadata_merge_and_metadata_leaves_the_body() {
        let mut body =
            object(json!({"model": "m", "user": "u-1", "metadata": {"app": "a", "env": "dev"}}));
        let attribution = extract(Some("env=prod, feature=search"), &mut body).unwrap_or_default();
        assert!(!body.contains_key("metadata"));
        assert_eq!(attribution.end_user.as_deref(), Some("u-1"));
        assert_eq!(
            attribution.tags_json(),
            json!({"app": "a", "env": "prod", "feature": "search"})
        );
    }

    #[test]
    fn limits_are_refused_with_a_reason() {
        let too_many: String = (0..17)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let err = |h: &str| {
            extract(Some(h), &mut Map::new())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err(&too_many).contains("too many tags"));
        assert!(err("novalue").contains("key=value"));
        assert!(err(&format!("k={}", "v".repeat(513))).contains("at most 512"));
        assert!(err("bad key=v").contains("must not contain whitespace"));
        let mut body = object(json!({"metadata": {"k": 1}}));
        assert!(extract(None, &mut body).is_err());
    }

    #[test]
    fn metadata_stays_in_the_body_when_the_provider_is_asked_to_store() {
        let mut body = object(json!({"store": true, "metadata": {"app": "a"}}));
        let attribution = extract(None, &mut body).unwrap_or_default();
        assert_eq!(body["metadata"], json!({"app": "a"}));
        assert_eq!(attribution.tags_json(), json!({"app": "a"}));
    }
}

//! What a tenant may point the gateway at: outbound URLs (provider base URLs, budget webhooks) checked against
//! the egress policy when they are saved, and the environment variables a provider key may be read from. Both
//! are re-checked where they are used (the egress policy at connect time, the variable names when the catalog
//! loads): this module gives the tenant a clear 400 early.

use super::error::ApiError;
use crate::catalog::key_env_allowed as env_name_allowed;
use crate::egress::{EgressError, EgressPolicy};

/// A URL a tenant asks the gateway to call: `http(s)` only, without credentials in it, and allowed by the egress
/// policy as far as can be told before resolving it. Returned trimmed of surrounding whitespace.
pub fn outbound_url(
    field: &'static str,
    url: &str,
    egress: &EgressPolicy,
) -> Result<String, ApiError> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| ApiError::validation(field, "must be an http:// or https:// URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ApiError::validation(
            field,
            "must not carry credentials in the URL",
        ));
    }
    match egress.check_url(&parsed) {
        Ok(()) => Ok(url.to_owned()),
        Err(EgressError::Malformed) => Err(ApiError::validation(
            field,
            "must be an http:// or https:// URL with a host",
        )),
        Err(refusal) => Err(ApiError::validation(field, refusal.to_string())),
    }
}

/// Checks a tenant's `api_key_env`: refused outright in SaaS mode (the gateway's environment is the operator's),
/// and in self-hosted mode accepted only for the operator's allowed names.
pub fn provider_key_env(saas: bool, allowed: &[String], name: &str) -> Result<String, ApiError> {
    if saas {
        return Err(ApiError::validation(
            "api_key_env",
            "reading the gateway's environment is reserved to the operator on this gateway; send the key as api_key",
        ));
    }
    let name = name.trim();
    if !env_name_allowed(allowed, name) {
        return Err(ApiError::validation(
            "api_key_env",
            format!(
                "`{name}` is not a variable the operator allows provider keys in (admin.provider_key_env: {})",
                allowed.join(", ")
            ),
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_names_and_prefixes_pass() {
        let allowed = vec![
            "SWITCHYARD_PROVIDER_KEY_*".to_owned(),
            "OPENAI_API_KEY".to_owned(),
        ];
        assert!(env_name_allowed(&allowed, "SWITCHYARD_PROVIDER_KEY_VLLM"));
        assert!(env_name_allowed(&allowed, "OPENAI_API_KEY"));
        assert!(!env_name_allowed(&allowed, "SWITCHYARD_PROVIDER_KEY_"));
        assert!(!env_name_allowed(&allowed, "SWITCHYARD_ADMIN__JWT_SECRET"));
        assert!(!env_name_allowed(&allowed, "SWITCHYARD_MASTER_KEY"));
        assert!(!env_name_allowed(&allowed, "OPENAI_API_KEY_2"));
        assert!(provider_key_env(true, &allowed, "OPENAI_API_KEY").is_err());
    }
}

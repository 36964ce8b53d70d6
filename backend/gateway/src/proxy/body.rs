//! Reading and validating request bodies with our own limit and error messages (actix's defaults answer in
//! plain text).

use crate::error::ProxyError;
use actix_web::{HttpRequest, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::{Map, Value};

/// Reads the whole body, refusing anything over `limit` bytes with a 413 as early as possible.
pub async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Bytes, ProxyError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ProxyError::PayloadTooLarge(limit));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ProxyError::bad_request(format!("could not read the request body: {e}"), None)
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ProxyError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses a JSON object body, saying where and why parsing failed.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ProxyError> {
    if body.is_empty() {
        return Err(ProxyError::bad_request(
            "the request body is empty; expected a JSON object",
            None,
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ProxyError::bad_request(
            "the request body must be a JSON object",
            None,
        )),
        Err(e) => Err(ProxyError::bad_request(
            format!("the request body is not valid JSON: {e}"),
            None,
        )),
    }
}

/// Like [`parse_object`], keeping the caller's text of each top-level field for forwarding as written.
pub fn parse_object_as_written(
    body: &[u8],
) -> Result<(Map<String, Value>, super::forward::RawRequest), ProxyError> {
    match super::forward::RawRequest::parse(body) {
        Some((raw, map)) => Ok((map, raw)),
        // Not an object: the plain parse words the caller's error.
        None => parse_object(body).map(|map| (map, super::forward::RawRequest::default())),
    }
}

/// The required string field `model`.
pub fn required_model(body: &Map<String, Value>) -> Result<String, ProxyError> {
    match body.get("model") {
        Some(Value::String(model)) if !model.is_empty() => Ok(model.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(ProxyError::bad_request(
            "you must provide a model parameter",
            Some("model"),
        )),
        Some(_) => Err(ProxyError::bad_request(
            "`model` must be a string",
            Some("model"),
        )),
    }
}

/// An optional boolean field.
pub fn optional_bool(body: &Map<String, Value>, field: &'static str) -> Result<bool, ProxyError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ProxyError::bad_request(
            format!("`{field}` must be a boolean"),
            Some(field),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let msg = |r: Result<Map<String, Value>, ProxyError>| {
            r.err().map(|e| e.to_string()).unwrap_or_default()
        };
        assert!(msg(parse_object(b"{\"model\": ")).contains("not valid JSON"));
        assert!(msg(parse_object(b"[1]")).contains("JSON object"));
        assert!(msg(parse_object(b"")).contains("empty"));
    }

    #[test]
    fn model_must_be_a_non_empty_string() {
        let body = |s: &str| parse_object(s.as_bytes()).unwrap_or_default();
        assert_eq!(
            required_model(&body(r#"{"model":"m"}"#)).ok().as_deref(),
            Some("m")
        );
        assert!(required_model(&body(r#"{"model":""}"#)).is_err());
        assert!(required_model(&body(r#"{"model":3}"#)).is_err());
        assert!(required_model(&body(r#"{}"#)).is_err());
    }
}

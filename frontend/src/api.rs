//! The only way the console talks to the gateway: JSON over `/api/v1`, with the signed-in session's access
//! token. An expired token is refreshed once (the refresh token is an HttpOnly cookie the page cannot read);
//! if that fails the session is marked expired, which opens the sign-in dialog over the current page so that
//! nothing typed is lost, and the call answers with an error the page shows.

use gloo_net::http::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::auth::Auth;

/// An error as the admin API reports it (`{"error": {"code", "message", "details"}}`), or a network failure.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// `details.field`: the input the error is about, for inline form errors.
    pub field: Option<String>,
}

impl ApiError {
    pub fn local(message: impl Into<String>) -> Self {
        Self {
            status: 0,
            code: "network_error".into(),
            message: message.into(),
            field: None,
        }
    }

    fn session_expired() -> Self {
        Self {
            status: 401,
            code: "session_expired".into(),
            message: "Your session has expired. Sign in again; what you typed is still here."
                .into(),
            field: None,
        }
    }

    /// Reads an error answer; anything that is not the API's shape still becomes a readable message.
    async fn from_response(response: &Response) -> Self {
        let status = response.status();
        let body: Option<Value> = response.json().await.ok();
        let error = body.as_ref().and_then(|b| b.get("error"));
        let text = |key: &str| {
            error
                .and_then(|e| e.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Self {
            status,
            code: text("code").unwrap_or_else(|| "http_error".into()),
            message: text("message").unwrap_or_else(|| format!("the server answered {status}")),
            field: error
                .and_then(|e| e.get("details"))
                .and_then(|d| d.get("field"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }

    /// The message for one form field, when the error is about it.
    pub fn for_field(&self, field: &str) -> Option<String> {
        (self.field.as_deref() == Some(field)).then(|| self.message.clone())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Clone, Copy)]
pub enum Method {
    Get,
    Post,
    Patch,
    Put,
    Delete,
}

/// The `/api/v1` path of an endpoint with its query, the values encoded.
pub fn path_with_query(path: &str, query: &[(&str, String)]) -> String {
    let pairs: Vec<String> = query
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", String::from(js_sys::encode_uri_component(v))))
        .collect();
    if pairs.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

/// Sends one request as it is, with `token` as the bearer when there is one.
async fn send_once(
    method: Method,
    path: &str,
    token: Option<String>,
    body: Option<&Value>,
) -> ApiResult<Response> {
    let url = format!("/api/v1{path}");
    let mut request = match method {
        Method::Get => Request::get(&url),
        Method::Post => Request::post(&url),
        Method::Patch => Request::patch(&url),
        Method::Put => Request::put(&url),
        Method::Delete => Request::delete(&url),
    }
    .header("Accept", "application/json");
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let built = match body {
        Some(body) => request.json(body),
        None => request.build(),
    }
    .map_err(|e| ApiError::local(e.to_string()))?;
    built.send().await.map_err(|_| {
        ApiError::local("The gateway could not be reached. Check your connection and try again.")
    })
}

/// Sends one request, refreshing the session once if the access token has expired.
pub async fn send_raw(
    auth: Auth,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> ApiResult<Response> {
    let attempt = |token: Option<String>| send_once(method, path, token, body);
    let token = auth.token();
    let response = attempt(token.clone()).await?;
    if response.status() != 401 {
        return Ok(response);
    }
    let error = ApiError::from_response(&response).await;
    if !matches!(
        error.code.as_str(),
        "token_expired" | "invalid_token" | "missing_token"
    ) {
        return Err(error);
    }
    if auth.renew(token).await {
        let retried = attempt(auth.token()).await?;
        if retried.status() != 401 {
            return Ok(retried);
        }
    }
    auth.mark_expired();
    Err(ApiError::session_expired())
}

/// Sends a request and reads a JSON answer; an error status becomes an `ApiError`.
pub async fn call<T: DeserializeOwned>(
    auth: Auth,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> ApiResult<T> {
    let response = send_raw(auth, method, path, body).await?;
    if !response.ok() {
        return Err(ApiError::from_response(&response).await);
    }
    if response.status() == 204 {
        return serde_json::from_value(Value::Null).map_err(|e| ApiError::local(e.to_string()));
    }
    response
        .json::<T>()
        .await
        .map_err(|e| ApiError::local(format!("unexpected answer from the gateway: {e}")))
}

pub async fn get<T: DeserializeOwned>(auth: Auth, path: &str) -> ApiResult<T> {
    call(auth, Method::Get, path, None).await
}

pub async fn post<T: DeserializeOwned>(
    auth: Auth,
    path: &str,
    body: &impl Serialize,
) -> ApiResult<T> {
    let body = serde_json::to_value(body).map_err(|e| ApiError::local(e.to_string()))?;
    call(auth, Method::Post, path, Some(&body)).await
}

pub async fn patch<T: DeserializeOwned>(
    auth: Auth,
    path: &str,
    body: &impl Serialize,
) -> ApiResult<T> {
    let body = serde_json::to_value(body).map_err(|e| ApiError::local(e.to_string()))?;
    call(auth, Method::Patch, path, Some(&body)).await
}

/// A call answered with no body (`204`).
pub async fn no_content(auth: Auth, method: Method, path: &str) -> ApiResult<()> {
    let response = send_raw(auth, method, path, None).await?;
    if response.ok() {
        Ok(())
    } else {
        Err(ApiError::from_response(&response).await)
    }
}

/// A call whose success may come with a body or without one (`204`): any 2xx succeeds, and the body is read
/// when there is one the console understands (`None` otherwise), so the gateway can add a body later.
pub async fn maybe_json<T: DeserializeOwned>(
    auth: Auth,
    method: Method,
    path: &str,
) -> ApiResult<Option<T>> {
    let response = send_raw(auth, method, path, None).await?;
    if !response.ok() {
        return Err(ApiError::from_response(&response).await);
    }
    if response.status() == 204 {
        return Ok(None);
    }
    Ok(response.json::<T>().await.ok())
}

/// A file download: the answer's exact bytes and the file name its `Content-Disposition` gives.
pub async fn download(auth: Auth, path: &str) -> ApiResult<(Vec<u8>, Option<String>, String)> {
    let response = send_raw(auth, Method::Get, path, None).await?;
    if !response.ok() {
        return Err(ApiError::from_response(&response).await);
    }
    let headers = response.headers();
    let filename = headers.get("content-disposition").and_then(|d| {
        d.split("filename=").nth(1).map(|f| {
            f.trim_matches(|c| c == '"' || c == ';' || c == ' ')
                .to_owned()
        })
    });
    let content_type = headers
        .get("content-type")
        .unwrap_or_else(|| "application/octet-stream".into());
    let bytes = response
        .binary()
        .await
        .map_err(|e| ApiError::local(e.to_string()))?;
    Ok((bytes, filename, content_type))
}

/// Sign-in, refresh and sign-out go without the retry logic above.
pub mod session {
    use super::*;

    pub async fn post_json(
        path: &str,
        body: Option<&Value>,
        token: Option<String>,
    ) -> ApiResult<Response> {
        let response = send_once(Method::Post, path, token, body).await?;
        if response.ok() {
            Ok(response)
        } else {
            Err(ApiError::from_response(&response).await)
        }
    }
}

//! Sending one call along its plan: each deployment in turn until one answers, with jittered exponential
//! backoff between attempts, all inside the call's one deadline. Connection errors, time-outs and 5xx count
//! against the deployment's health; a 429 cools it down for its `Retry-After`; both move on to the next
//! deployment. Any other 4xx is the caller's and ends the call at once. Only the response headers are awaited
//! here, so a stream fails over only before its first byte reaches the client.

use super::ProxyState;
use super::call::CallRecord;
use super::chat::fail;
use super::route::Plan;
use crate::catalog::Deployment;
use crate::error::ProxyError;
use crate::otel::CallTrace;
use crate::routing::InFlight;
use crate::routing::health::now_ms;
use crate::upstream::ForwardedHeader;
use actix_web::HttpResponse;
use bytes::Bytes;
use rand::Rng;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// First backoff step; doubled per attempt up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// One attempt that did not answer the call, as recorded on the usage event.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub deployment_id: uuid::Uuid,
    pub region: String,
    /// The status the attempt ended with (502 / 504 for a connection error or time-out; 0: skipped).
    pub status: u16,
    /// `upstream_error`, `upstream_timeout`, `rate_limited`, `circuit_open`, `rejected` …
    pub reason: String,
    pub message: String,
}

/// The attempt that answered (its deployment is the call record's).
pub struct Sent {
    pub response: reqwest::Response,
    pub in_flight: InFlight,
}

/// Tries the plan's deployments in order. The call's record follows along: it names the deployment each attempt
/// goes to, whether anything was sent, and every attempt that did not answer, so a call dropped mid-way is
/// recorded with what it had done. On failure the error is the caller's answer (every attempt failed, or the
/// last one was refused for the caller's own reasons).
#[expect(
    clippy::too_many_arguments,
    reason = "the call, its plan and its deadline are one attempt loop's inputs; a struct would only rename them"
)]
pub async fn send(
    state: &ProxyState,
    plan: &Plan,
    forwarded: &[ForwardedHeader],
    deadline: Instant,
    streamed: bool,
    trace: &CallTrace,
    call: &mut CallRecord,
    mut prepare: impl FnMut(&Deployment) -> Result<(reqwest::Url, Bytes), ProxyError>,
) -> Result<Sent, Box<ProxyError>> {
    let mut last: Option<(ProxyError, Arc<Deployment>)> = None;
    // Why the last deployment passed over could not take the call; answered only if no attempt was sent.
    let mut passed_over: Option<(ProxyError, Arc<Deployment>)> = None;
    // Attempts actually sent; the backoff grows with them, not with deployments passed over.
    let mut sent_attempts = 0usize;
    for deployment in &plan.deployments {
        // A deployment whose provider cannot take this request (a field its format cannot carry, an endpoint it
        // does not have) is passed over for the next one; if none can, the caller gets that 400.
        let (url, body) = match prepare(deployment) {
            Ok(prepared) => prepared,
            Err(error) => {
                state.metrics.observe_attempt(
                    deployment.id,
                    &deployment.provider.name,
                    "unsupported",
                );
                call.failed_attempts.push(Attempt {
                    deployment_id: deployment.id,
                    region: deployment.region.clone(),
                    status: actix_web::ResponseError::status_code(&error).as_u16(),
                    reason: "unsupported".into(),
                    message: error.to_string(),
                });
                passed_over = Some((error, Arc::clone(deployment)));
                continue;
            }
        };
        if sent_attempts > 0 {
            let pause = backoff(sent_attempts);
            if Instant::now() + pause >= deadline {
                break;
            }
            tokio::time::sleep(pause).await;
        }
        let Some(in_flight) = deployment.health.begin(now_ms()) else {
            state
                .metrics
                .observe_attempt(deployment.id, &deployment.provider.name, "circuit_open");
            call.failed_attempts.push(Attempt {
                deployment_id: deployment.id,
                region: deployment.region.clone(),
                status: 0,
                reason: "circuit_open".into(),
                message: "another call is probing this deployment".into(),
            });
            continue;
        };
        sent_attempts += 1;
        call.deployment = Arc::clone(deployment);
        call.sent = true;
        let mut headers = forwarded.to_vec();
        let attempt_trace = trace.attempt(deployment, &mut headers);
        if deployment.own_limits.any() {
            deployment.health.quota().count_request(now_ms());
        }
        let started = Instant::now();
        let result = state
            .upstream
            .post_json(&deployment.provider, &url, body, headers, deadline)
            .await;
        match result {
            Ok(response) => {
                state
                    .metrics
                    .observe_attempt(deployment.id, &deployment.provider.name, "ok");
                attempt_trace.end(Some(response.status().as_u16()), None);
                // The response headers: for a stream its first byte, for a whole answer nearly all of it.
                let elapsed = started.elapsed();
                deployment
                    .health
                    .record_success(elapsed, streamed.then_some(elapsed));
                return Ok(Sent {
                    response,
                    in_flight,
                });
            }
            Err(error) => {
                let (retry, reason) = judge(deployment, &error);
                state
                    .metrics
                    .observe_attempt(deployment.id, &deployment.provider.name, reason);
                attempt_trace.end(
                    Some(actix_web::ResponseError::status_code(&error).as_u16()),
                    Some((reason, &error.to_string())),
                );
                call.failed_attempts.push(Attempt {
                    deployment_id: deployment.id,
                    region: deployment.region.clone(),
                    status: actix_web::ResponseError::status_code(&error).as_u16(),
                    reason: reason.into(),
                    message: error.to_string(),
                });
                tracing::warn!(deployment = %deployment.id, reason, error = %error, "attempt failed");
                last = Some((error, Arc::clone(deployment)));
                if !retry {
                    break;
                }
            }
        }
    }
    // A provider's own failure (with its status and Retry-After) tells the caller more than the format of a
    // deployment that was passed over; that 400 is the answer only when nothing was sent.
    let error = match (last, passed_over) {
        (Some((error, deployment)), _) | (None, Some((error, deployment))) => {
            call.deployment = deployment;
            error
        }
        (None, None) => ProxyError::NoHealthyDeployment {
            message: "every deployment of this model is unavailable (circuit open or cooling down)"
                .into(),
            retry_after: Some(1),
        },
    };
    // The caller gets the last attempt's own error (a provider's 429 stays a 429); the earlier ones are on the
    // usage event. The last one is also in `failed_attempts`, so the event lists every attempt that did not answer.
    Err(Box::new(error))
}

/// Turns the outcome of [`send`] into the answering response with its call, or the answer to give at once (a
/// failed call is recorded here, with every attempt).
pub fn into_call(
    sent: Result<Sent, Box<ProxyError>>,
    mut call: CallRecord,
) -> Result<(reqwest::Response, CallRecord), Box<Result<HttpResponse, ProxyError>>> {
    match sent {
        Ok(sent) => {
            call.in_flight = Some(sent.in_flight);
            Ok((sent.response, call))
        }
        Err(error) => Err(Box::new(Ok(fail(call, *error)))),
    }
}

/// Records the failure on the deployment's health; says whether another deployment may be tried.
fn judge(deployment: &Deployment, error: &ProxyError) -> (bool, &'static str) {
    match error {
        ProxyError::UpstreamFailed(_) => {
            deployment.health.record_failure();
            (true, "upstream_error")
        }
        ProxyError::UpstreamTimeout(_) => {
            deployment.health.record_failure();
            (true, "upstream_timeout")
        }
        ProxyError::UpstreamRejected {
            status,
            retry_after,
            ..
        } if status.as_u16() == 429 => {
            let pause = retry_after
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            deployment.health.record_rate_limited(pause);
            (true, "rate_limited")
        }
        _ => (false, "rejected"),
    }
}

/// Equal-jitter exponential backoff before attempt `n` (1-based among retries).
fn backoff(n: usize) -> Duration {
    let exponent = u32::try_from(n.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    let cap = BASE_BACKOFF
        .saturating_mul(1u32 << exponent)
        .min(MAX_BACKOFF);
    let half = cap / 2;
    let jitter_ms = rand::rng().random_range(0..=u64::try_from(half.as_millis()).unwrap_or(0));
    half + Duration::from_millis(jitter_ms)
}

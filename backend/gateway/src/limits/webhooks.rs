//! Budget threshold notifications: a JSON POST to the budget's webhook, signed like Stripe's
//! (`x-switchyard-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the budget's `whsec_`
//! secret), so the receiver can check origin and freshness. Whether a threshold fires is decided atomically in
//! the shared state (once per threshold per period across every replica); delivery is retried a few times.

use super::budgets::BudgetPeriod;
use crate::egress::EgressPolicy;
use crate::money::Picos;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// Delivery attempts per notification.
const ATTEMPTS: u32 = 4;

/// Sends notifications in the background.
pub struct Notifier {
    http: Option<reqwest::Client>,
    runtime: tokio::runtime::Handle,
    egress: Arc<EgressPolicy>,
}

impl Notifier {
    /// A notifier whose deliveries run on `runtime`.
    /// Deliveries go through the egress policy: a webhook URL is a tenant's to choose.
    pub fn new(runtime: tokio::runtime::Handle, egress: &Arc<EgressPolicy>) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = egress
            .client_builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| tracing::error!(error = %e, "budget webhooks are off: no HTTP client"))
            .ok();
        Self {
            http,
            runtime,
            egress: Arc::clone(egress),
        }
    }

    /// Notifies that `period` crossed `threshold` (picos) with `spent`.
    pub fn threshold_crossed(&self, period: &BudgetPeriod, threshold: i64, spent: i64) {
        let rule = &period.rule;
        tracing::info!(budget = %rule.id, threshold, spent, "budget threshold crossed");
        let (Some(http), Some(webhook)) = (self.http.clone(), rule.webhook.clone()) else {
            return;
        };
        let percent = if rule.limit_picos > 0 {
            i128::from(threshold) * 100 / i128::from(rule.limit_picos)
        } else {
            100
        };
        let body = json!({
            "type": "budget.threshold_crossed",
            "budget_id": rule.id,
            "budget_name": rule.name,
            "tenant_id": rule.tenant_id,
            "threshold_percent": percent,
            "threshold": Picos(threshold).to_string(),
            "limit": Picos(rule.limit_picos).to_string(),
            "spent": Picos(spent).to_string(),
            "period_start": period.start,
            "period_end": period.end,
            "hard_limit": rule.hard,
        })
        .to_string();
        let budget_id = rule.id;
        let egress = Arc::clone(&self.egress);
        self.runtime.spawn(async move {
            match reqwest::Url::parse(&webhook.url).map(|url| egress.check_url(&url)) {
                Ok(Ok(())) => {}
                Ok(Err(refusal)) => {
                    tracing::warn!(budget = %budget_id, error = %refusal, "budget webhook not sent: egress refused");
                    return;
                }
                Err(_) => {
                    tracing::warn!(budget = %budget_id, "budget webhook not sent: unusable URL");
                    return;
                }
            }
            let mut pause = Duration::from_millis(500);
            for attempt in 1..=ATTEMPTS {
                let timestamp = chrono::Utc::now().timestamp();
                let signature = sign(webhook.secret.expose(), timestamp, &body);
                let sent = http
                    .post(&webhook.url)
                    .header("content-type", "application/json")
                    .header("x-switchyard-signature", format!("t={timestamp},v1={signature}"))
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => return,
                    Ok(response) => tracing::warn!(budget = %budget_id, status = %response.status(), attempt, "budget webhook refused"),
                    Err(e) => tracing::warn!(budget = %budget_id, error = %crate::upstream::error_chain(&e), attempt, "budget webhook failed"),
                }
                if attempt < ATTEMPTS {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
            tracing::error!(budget = %budget_id, "budget webhook undelivered after {ATTEMPTS} attempts");
        });
    }
}

/// Hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC accepts keys of any length; this arm cannot be reached.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::sign;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Reference computed with: printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            sign("whsec_test", 1_700_000_000, "{}"),
            "35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }
}

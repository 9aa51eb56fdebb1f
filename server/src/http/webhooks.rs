//! `POST /api/v1/webhooks/sellapp`: verify the signature on the raw bytes, store the delivery
//! once, answer 2xx at once, and wake the processor. Nothing is processed in the request.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use domain::AppContext;
use domain::metrics::Metrics;
use domain::payments::{signature, webhooks};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;
use super::connector_auth::db_unavailable;
use super::openapi::ErrorBody;

#[derive(Serialize, ToSchema)]
pub struct Receipt {
    /// `received` (stored, will be processed) or `duplicate` (already stored; nothing done).
    pub status: &'static str,
}

/// Receives a Sell.app webhook. Answers fast and neutrally: processing happens afterwards.
#[utoipa::path(
    post,
    path = "/webhooks/sellapp",
    tag = "payments",
    params(("Signature" = String, Header, description = "Lowercase hex HMAC-SHA256 of the raw body with the store's webhook secret")),
    request_body(content = Object, example = json!({"event": "order.completed", "store": 1,
        "data": {"id": 236, "status": {"status": {"status": "COMPLETED"}},
                 "customer_information": {"email": "ada@example.com", "id": 9},
                 "products": [{"id": 77, "variants": [{"id": 701}]}]}})),
    responses(
        (status = 200, description = "Stored (or already stored)", body = Receipt, example = json!({"status": "received"})),
        (status = 400, description = "Signed, but not a Sell.app envelope", body = ErrorBody),
        (status = 401, description = "Missing, malformed or wrong signature", body = ErrorBody),
        (status = 503, description = "Database unavailable: Sell.app should retry", body = ErrorBody),
    )
)]
pub async fn sellapp(
    State(ctx): State<AppContext>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Receipt>, ApiError> {
    let secrets: Vec<&str> = ctx
        .config
        .sellapp_webhook_secrets
        .iter()
        .map(|s| s.expose().as_str())
        .collect();
    let header = headers.get("signature").and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify(&body, header, &secrets) {
        Metrics::inc(&ctx.metrics.webhook_signature_rejections);
        ctx.metrics.recent_rejections.record(chrono::Utc::now());
        if secrets.is_empty() {
            tracing::error!("Sell.app webhook refused: SELLAPP_WEBHOOK_SECRETS is not set");
        } else {
            tracing::warn!(reason = %e, "Sell.app webhook refused");
        }
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            e.to_string(),
        ));
    }
    let envelope = webhooks::envelope(&body).map_err(|e| {
        tracing::warn!(error = %e, "signed webhook with an unreadable envelope");
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_envelope", e.to_string())
    })?;
    let received = webhooks::store(&ctx.db, &envelope, &body)
        .await
        .map_err(db_unavailable)?;
    let status = match received {
        webhooks::Received::Stored => {
            Metrics::inc(&ctx.metrics.webhook_received);
            ctx.payment_events.notify_one();
            tracing::info!(event = %envelope.event, resource = %envelope.resource_id, "webhook stored");
            "received"
        }
        webhooks::Received::Duplicate => {
            Metrics::inc(&ctx.metrics.webhook_duplicates);
            "duplicate"
        }
    };
    Ok(Json(Receipt { status }))
}

//! `POST /api/v1/events` (one event) and `POST /api/v1/events/batch` (many, answered per item).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use domain::AppContext;
use domain::ingest::{self, ItemResult, Status};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::ApiError;
use super::connector_auth::{ConnectorAuth, db_unavailable};
use super::json_body::JsonBody;

/// More items than this in one batch is refused whole: split it.
pub const BATCH_MAX: usize = 1000;

#[derive(Deserialize, ToSchema)]
pub struct Batch {
    /// Up to 1000 events, each shaped like the body of `POST /api/v1/events`.
    #[schema(value_type = Vec<domain::ingest::event::EventSchema>)]
    pub events: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchResult {
    /// One result per event, in request order.
    pub results: Vec<ItemResult>,
    pub accepted: usize,
    pub duplicate: usize,
    pub ignored: usize,
    pub rejected: usize,
    /// Items in guilds another connector owns (nothing of theirs was stored).
    pub forbidden: usize,
}

const EXAMPLE_EVENT: &str = r#"{
  "type": "message_create",
  "guild_id": "1180000000000000001", "channel_id": "1180000000000000002",
  "message_id": "1180000000000000100",
  "author": {"id": "1180000000000000003", "name": "Head Trader", "avatar": null},
  "content": "BTC long 91,000 | TP 93,500 | SL 89,800",
  "embeds": [],
  "attachments": [{"id": "1180000000000000200", "filename": "chart.png",
    "url": "https://cdn.discordapp.com/attachments/1180000000000000002/1180000000000000200/chart.png",
    "content_type": "image/png", "size": 48213, "width": 1200, "height": 800}],
  "created_at": "2026-11-27T12:00:00Z", "edited_at": null
}"#;

fn example_event() -> Value {
    serde_json::from_str(EXAMPLE_EVENT).expect("example is valid JSON")
}

/// Ingests one event.
#[utoipa::path(
    post,
    path = "/events",
    tag = "ingest",
    security(("connector_token" = [])),
    request_body(content = domain::ingest::event::EventSchema, example = json!(example_event())),
    responses(
        (status = 200, description = "Accepted, a duplicate, or ignored with a reason", body = ItemResult,
            example = json!({"status": "accepted"})),
        (status = 400, description = "Malformed JSON or an invalid field (named in the message)", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or unknown token", body = super::openapi::ErrorBody),
        (status = 403, description = "The connector is disabled (`connector_disabled`), or the guild belongs to another connector (`not_owner`)", body = super::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB"),
        (status = 415, description = "Body is not application/json", body = super::openapi::ErrorBody),
        (status = 503, description = "Database unavailable: nothing was stored, retry", body = super::openapi::ErrorBody),
    )
)]
pub async fn post_event(
    State(ctx): State<AppContext>,
    ConnectorAuth(connector): ConnectorAuth,
    body: JsonBody,
) -> Result<Json<ItemResult>, ApiError> {
    let event = ingest::parse_with(body.0, Utc::now(), &ctx.config.attachment_sources).map_err(|r| {
        tracing::warn!(connector = %connector.pid, field = %r.field, reason = %r.message, "event rejected");
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_event", r.to_string())
    })?;
    let mut done = ingest::ingest(&ctx.db, &ctx.feed, &connector, vec![Ok(event)])
        .await
        .map_err(db_unavailable)?;
    let result = done.results.pop().expect("one result per item");
    if result.status == Status::Forbidden {
        let reason = result.reason.unwrap_or_default();
        tracing::warn!(connector = %connector.pid, %reason, "event refused: not this connector's guild");
        return Err(ApiError::new(StatusCode::FORBIDDEN, "not_owner", reason));
    }
    if result.status == Status::Ignored {
        tracing::info!(connector = %connector.pid, reason = result.reason.as_deref().unwrap_or(""), "event ignored");
    }
    Ok(Json(result))
}

/// Ingests many events in one transaction, answering per item: one bad item never drops the
/// good ones.
#[utoipa::path(
    post,
    path = "/events/batch",
    tag = "ingest",
    security(("connector_token" = [])),
    request_body(content = Batch, example = json!({"events": [example_event(), {"type": "message_delete",
        "guild_id": "1180000000000000001", "channel_id": "1180000000000000002", "message_id": "1180000000000000100"}]})),
    responses(
        (status = 200, description = "Per-item results", body = BatchResult, example = json!({
            "results": [{"status": "accepted"}, {"status": "ignored", "reason": "channel #general is not a source channel"},
                        {"status": "rejected", "field": "author.id", "reason": "author.id: invalid type: integer `5`, expected a Discord id as a string of digits"}],
            "accepted": 1, "duplicate": 0, "ignored": 1, "rejected": 1, "forbidden": 0})),
        (status = 400, description = "Not a batch, or more than 1000 events", body = super::openapi::ErrorBody),
        (status = 401, description = "Missing or unknown token", body = super::openapi::ErrorBody),
        (status = 403, description = "The connector is disabled", body = super::openapi::ErrorBody),
        (status = 413, description = "Body over 1 MiB"),
        (status = 415, description = "Body is not application/json", body = super::openapi::ErrorBody),
        (status = 503, description = "Database unavailable: nothing was stored, retry", body = super::openapi::ErrorBody),
    )
)]
pub async fn post_batch(
    State(ctx): State<AppContext>,
    ConnectorAuth(connector): ConnectorAuth,
    body: JsonBody,
) -> Result<Json<BatchResult>, ApiError> {
    let batch: Batch = body.decode()?;
    if batch.events.len() > BATCH_MAX {
        tracing::warn!(connector = %connector.pid, items = batch.events.len(), "batch too large");
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "batch_too_large",
            format!("events: at most {BATCH_MAX} per batch, got {}", batch.events.len()),
        ));
    }
    let now = Utc::now();
    let items: Vec<_> = batch
        .events
        .into_iter()
        .map(|v| ingest::parse_with(v, now, &ctx.config.attachment_sources))
        .collect();
    let rejected = items.iter().filter(|i| i.is_err()).count();
    if rejected > 0 {
        tracing::warn!(connector = %connector.pid, rejected, "batch items rejected");
    }
    let done = ingest::ingest(&ctx.db, &ctx.feed, &connector, items)
        .await
        .map_err(db_unavailable)?;
    if done.results.iter().any(|r| r.status == Status::Forbidden) {
        tracing::warn!(connector = %connector.pid, "batch items refused: not this connector's guild");
    }
    let count = |s: Status| done.results.iter().filter(|r| r.status == s).count();
    Ok(Json(BatchResult {
        accepted: count(Status::Accepted),
        duplicate: count(Status::Duplicate),
        ignored: count(Status::Ignored),
        rejected: count(Status::Rejected),
        forbidden: count(Status::Forbidden),
        results: done.results,
    }))
}

//! Probes for orchestrators: `/healthz` says the process answers, `/readyz` that it can do work.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::AppContext;
use serde_json::{Value, json};

use super::ApiError;

/// A database slower than this is as good as down for a request path.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(ctx): State<AppContext>) -> Result<Json<Value>, ApiError> {
    let backend = domain::Backend::of(&ctx.db).as_str();
    let unavailable = |why: String| {
        tracing::warn!(database = backend, "not ready: {why}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            format!("the {backend} database is not reachable"),
        )
    };
    match tokio::time::timeout(READY_TIMEOUT, domain::database::ping(&ctx.db)).await {
        Ok(Ok(elapsed)) => Ok(Json(json!({
            "status": "ready",
            "database": backend,
            "database_ms": elapsed.as_secs_f64() * 1000.0,
        }))),
        Ok(Err(e)) => Err(unavailable(e.to_string())),
        Err(_) => Err(unavailable(format!("no answer within {READY_TIMEOUT:?}"))),
    }
}

/// Prometheus text: counters of this process.
pub async fn metrics(State(ctx): State<AppContext>) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ctx.metrics.render(),
    )
}

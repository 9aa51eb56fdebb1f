//! Probes for orchestrators: `/healthz` says the process answers, `/readyz` that it can do work.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::AppContext;
use serde_json::{Value, json};
use sha2::Digest;

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

/// Prometheus text: counters of this process, and mirror delivery latency over the last hour
/// from the delivery ledger (every bot process's deliveries, read from the database).
pub async fn render(ctx: &AppContext) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut text = ctx.metrics.render();
    text.push_str(&commit_counts(ctx.feed.commits()));
    match domain::mirror::ledger::latency(&ctx.db, chrono::Utc::now()).await {
        Ok(ops) => text.push_str(&mirror_summary(&ops)),
        Err(e) => tracing::warn!(error = %e, "cannot read the mirror ledger for /metrics"),
    }
    match domain::capture::status(&ctx.db).await {
        Ok(Some((_, status))) => text.push_str(&capture_summary(&status)),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the capture status for /metrics"),
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Ingest requests and the transactions that committed them (requests ÷ transactions is how
/// much the commit queue groups under load).
fn commit_counts(c: &domain::feed::Commits) -> String {
    use std::sync::atomic::Ordering;
    let mut out = String::new();
    for (name, help, n) in [
        ("ingest_requests_total", "Ingest requests committed.", &c.requests),
        (
            "ingest_transactions_total",
            "Ingest transactions committed (one holds every request waiting for it).",
            &c.transactions,
        ),
    ] {
        out.push_str(&format!(
            "# HELP signaldesk_{name} {help}\n# TYPE signaldesk_{name} counter\nsignaldesk_{name} {}\n",
            n.load(Ordering::Relaxed)
        ));
    }
    out
}

/// A summary per operation: quantiles over the last hour (a sliding window, as summaries are).
fn mirror_summary(ops: &[domain::mirror::ledger::OpLatency]) -> String {
    let name = "signaldesk_mirror_delivery_seconds";
    let mut out = format!(
        "# HELP {name} Mirror delivery latency over the last hour: ingest accepted → Discord answered.\n# TYPE {name} summary\n"
    );
    for o in ops {
        for (q, ms) in [("0.5", o.p50_ms), ("0.95", o.p95_ms), ("0.99", o.p99_ms)] {
            out.push_str(&format!(
                "{name}{{op=\"{}\",quantile=\"{q}\"}} {}\n",
                o.op,
                ms as f64 / 1000.0
            ));
        }
        out.push_str(&format!("{name}_sum{{op=\"{}\"}} {}\n", o.op, o.sum_ms as f64 / 1000.0));
        out.push_str(&format!("{name}_count{{op=\"{}\"}} {}\n", o.op, o.count));
    }
    out
}

/// The gateway capture: latency over the last hour (Discord's timestamp → ingest accepted), and
/// whether a bot process holds the capture.
fn capture_summary(status: &domain::capture::CaptureStatus) -> String {
    let name = "signaldesk_capture_latency_seconds";
    let mut out = format!(
        "# HELP {name} Gateway capture latency over the last hour: the message's Discord timestamp → ingest accepted.\n# TYPE {name} summary\n"
    );
    if let Some(l) = status.latency {
        for (q, ms) in [("0.5", l.p50_ms), ("0.95", l.p95_ms)] {
            out.push_str(&format!("{name}{{quantile=\"{q}\"}} {}\n", ms / 1000.0));
        }
        out.push_str(&format!("{name}_count {}\n", l.samples));
    }
    out.push_str(&format!(
        "# HELP signaldesk_capture_held Whether a bot process holds the gateway capture.\n# TYPE signaldesk_capture_held gauge\nsignaldesk_capture_held {}\n",
        u8::from(status.holder.is_some())
    ));
    out
}

/// `/metrics` on the public listener: only with `METRICS_TOKEN` set, and only for its bearer.
/// (What the counters reveal — payment volumes, failures, how many customers are watching — is
/// the operator's business.)
pub async fn metrics(State(ctx): State<AppContext>, headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(token) = &ctx.config.metrics_token else {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no page here").into_response();
    };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compared as hashes: equal length, and no early exit on the first differing byte.
    let hash = |s: &str| sha2::Sha256::digest(s.as_bytes());
    let ok = presented.is_some_and(|p| {
        hash(p)
            .iter()
            .zip(hash(token.expose()).iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    });
    if !ok {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send the metrics token as a bearer token",
        )
        .into_response();
    }
    render(&ctx).await
}

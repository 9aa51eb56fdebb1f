//! `/rpc/admin/queues/*`: the job queues at a glance, and Retry / Discard for dead jobs.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindRow {
    pub kind: String,
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub dead: u64,
    /// "12 s", or empty when nothing due waits.
    pub oldest_due: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRowView {
    pub id: String,
    pub kind: String,
    pub key: String,
    pub attempts: i32,
    pub last_error: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct QueuesView {
    pub kinds: Vec<KindRow>,
    pub failing: Vec<JobRowView>,
    pub dead: Vec<JobRowView>,
    /// Jobs finished in each of the last 60 minutes, oldest first.
    pub per_minute: Vec<u64>,
    /// Claim latency (due → claimed by a worker) in each of the last 60 minutes, oldest first.
    pub claim_latency: Vec<LatencyMinute>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LatencyMinute {
    pub claims: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub max_ms: u64,
}

#[cfg(feature = "ssr")]
fn row(j: entity::job::Model) -> JobRowView {
    JobRowView {
        id: j.id.to_string(),
        kind: format!("{:?}", j.kind),
        key: j.unique_key.unwrap_or_default(),
        attempts: j.attempts,
        last_error: j.last_error.unwrap_or_default(),
        updated_at: j.updated_at.to_rfc3339(),
    }
}

#[cfg(feature = "ssr")]
fn wait(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}

#[server(prefix = "/rpc/admin", endpoint = "queues")]
pub async fn queues() -> Result<QueuesView, AppError> {
    use domain::jobs::overview;
    let ctx = crate::auth::admin_context().await?;
    let unavailable = |e| crate::error::unavailable("reading the queues", e);
    let now = chrono::Utc::now();
    Ok(QueuesView {
        kinds: overview::summary(&ctx.db, now)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|k| KindRow {
                kind: format!("{:?}", k.kind),
                queued: k.queued,
                running: k.running,
                done: k.done,
                dead: k.dead,
                oldest_due: k.oldest_due.map(wait).unwrap_or_default(),
            })
            .collect(),
        failing: overview::recent_failures(&ctx.db, 20)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(row)
            .collect(),
        dead: overview::dead(&ctx.db, 50)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(row)
            .collect(),
        per_minute: overview::per_minute(&ctx.db, now).await.map_err(unavailable)?,
        claim_latency: overview::claim_latency(&ctx.db, now)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|m| LatencyMinute {
                claims: m.claims,
                p50_ms: m.p50_ms,
                p95_ms: m.p95_ms,
                max_ms: m.max_ms,
            })
            .collect(),
    })
}

/// `action` is `retry` or `discard`.
#[server(prefix = "/rpc/admin", endpoint = "queues/dead")]
pub async fn act_on_dead_job(id: String, action: String) -> Result<(), AppError> {
    use domain::jobs::overview;
    let ctx = crate::auth::admin_context().await?;
    let Ok(id) = id.parse::<i64>() else {
        return crate::error::fail(AppError::invalid("id", "not a job id"));
    };
    let unavailable = |e| crate::error::unavailable("changing a dead job", e);
    let changed = match action.as_str() {
        "retry" => overview::retry(&ctx.db, id).await.map_err(unavailable)?,
        "discard" => overview::discard(&ctx.db, id).await.map_err(unavailable)?,
        _ => return crate::error::fail(AppError::invalid("action", "retry or discard")),
    };
    if !changed {
        return crate::error::fail(AppError::NotFound);
    }
    tracing::info!(job = id, action = %action, "dead job handled by an admin");
    Ok(())
}

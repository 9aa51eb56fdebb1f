//! `/rpc/admin/mirror/*`: the delivery ledger — latency per operation over the last hour,
//! failing and dead mirror jobs, and the gap audit with one-click re-enqueue.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRow {
    pub op: String,
    pub count: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRow {
    pub job_id: String,
    pub copy: String,
    pub dead: bool,
    pub attempts: i32,
    pub error: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapRow {
    pub signal_id: String,
    pub message_id: String,
    pub target: String,
    pub content: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MirrorView {
    pub ops: Vec<OpRow>,
    /// p95 (ms) and count per minute over the last hour, oldest first.
    pub minutes: Vec<(u64, u64)>,
    pub failures: Vec<FailureRow>,
    pub gaps: Vec<GapRow>,
}

#[server(prefix = "/rpc/admin", endpoint = "mirror")]
pub async fn mirror_overview() -> Result<MirrorView, AppError> {
    use domain::mirror::ledger;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let ctx = crate::auth::admin_context().await?;
    let unavailable = |e| crate::error::unavailable("reading the mirror ledger", e);
    let now = chrono::Utc::now();
    let ops = ledger::latency(&ctx.db, now)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|o| OpRow {
            op: o.op,
            count: o.count,
            p50_ms: o.p50_ms,
            p95_ms: o.p95_ms,
            p99_ms: o.p99_ms,
        })
        .collect();
    let minutes = ledger::per_minute(&ctx.db, now).await.map_err(unavailable)?;
    use entity::job::{self, JobKind, JobStatus};
    let failures = job::Entity::find()
        .filter(job::Column::Kind.eq(JobKind::Mirror))
        .filter(job::Column::LastError.is_not_null())
        .filter(job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running, JobStatus::Dead]))
        .order_by_desc(job::Column::UpdatedAt)
        .limit(50)
        .all(&ctx.db)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|j| FailureRow {
            job_id: j.id.to_string(),
            copy: j.unique_key.unwrap_or_default(),
            dead: j.status == JobStatus::Dead,
            attempts: j.attempts,
            error: j.last_error.unwrap_or_default(),
            updated_at: j.updated_at.to_rfc3339(),
        })
        .collect();
    let gaps = ledger::gaps(&ctx.db, now, chrono::Duration::hours(24))
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|g| GapRow {
            signal_id: g.signal_id.to_string(),
            message_id: g.message_id.to_string(),
            target: g.target_channel_id.to_string(),
            content: g.content,
            why: g.why,
        })
        .collect();
    Ok(MirrorView {
        ops,
        minutes,
        failures,
        gaps,
    })
}

/// Queues a gap's copy again. Returns whether it was queued (the signal and mapping exist).
#[server(prefix = "/rpc/admin", endpoint = "mirror/requeue")]
pub async fn requeue_copy(signal: String, target: String) -> Result<bool, AppError> {
    let ctx = crate::auth::admin_context().await?;
    let (Ok(signal_id), Ok(target_id)) = (signal.parse::<i64>(), target.parse::<i64>()) else {
        return crate::error::fail(AppError::invalid("signal", "signal and target are ids"));
    };
    let queued = domain::mirror::ledger::requeue(&ctx.db, signal_id, target_id)
        .await
        .map_err(|e| crate::error::unavailable("queueing the copy", e))?;
    if !queued {
        return crate::error::fail(AppError::invalid(
            "target",
            "no such signal, or its channel is not mapped to that target",
        ));
    }
    tracing::info!(
        signal = signal_id,
        target = target_id,
        "mirror copy re-queued by an admin"
    );
    Ok(true)
}

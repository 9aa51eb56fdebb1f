//! What the queues page shows: per kind, how many jobs are in each state and how long the
//! oldest due job has waited; recent failures; dead jobs, with Retry and Discard; jobs finished
//! per minute over the last hour.

use chrono::{DateTime, Duration, Utc};
use entity::job::{self, JobKind, JobStatus, Model as JobRow};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindSummary {
    pub kind: JobKind,
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub dead: u64,
    /// How long the oldest due queued job has waited (none waiting: `None`).
    pub oldest_due: Option<Duration>,
}

pub async fn summary(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<KindSummary>, DbErr> {
    use sea_orm::Iterable;
    let mut out = Vec::new();
    for kind in JobKind::iter() {
        let count = |status: JobStatus| {
            job::Entity::find()
                .filter(job::Column::Kind.eq(kind))
                .filter(job::Column::Status.eq(status))
                .count(db)
        };
        let oldest = job::Entity::find()
            .filter(job::Column::Kind.eq(kind))
            .filter(job::Column::Status.eq(JobStatus::Queued))
            .filter(job::Column::RunAt.lte(now))
            .order_by_asc(job::Column::RunAt)
            .one(db)
            .await?;
        out.push(KindSummary {
            kind,
            queued: count(JobStatus::Queued).await?,
            running: count(JobStatus::Running).await?,
            done: count(JobStatus::Done).await?,
            dead: count(JobStatus::Dead).await?,
            oldest_due: oldest.map(|j| now - j.run_at),
        });
    }
    Ok(out)
}

/// Jobs still trying whose last attempt failed, newest first.
pub async fn recent_failures(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<JobRow>, DbErr> {
    job::Entity::find()
        .filter(job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
        .filter(job::Column::LastError.is_not_null())
        .order_by_desc(job::Column::UpdatedAt)
        .limit(limit)
        .all(db)
        .await
}

pub async fn dead(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<JobRow>, DbErr> {
    job::Entity::find()
        .filter(job::Column::Status.eq(JobStatus::Dead))
        .order_by_desc(job::Column::UpdatedAt)
        .limit(limit)
        .all(db)
        .await
}

/// A dead job runs again now, with a fresh attempt budget (the admin fixed the cause). Returns
/// whether it was dead. A newer queued job for the same key makes the retry unnecessary: then
/// the dead one is simply discarded.
pub async fn retry(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let now = Utc::now();
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Queued))
        .col_expr(job::Column::RunAt, Expr::value(now))
        .col_expr(
            job::Column::MaxAttempts,
            Expr::col(job::Column::Attempts).add(super::DEFAULT_MAX_ATTEMPTS),
        )
        .col_expr(job::Column::FinishedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.eq(JobStatus::Dead))
        .exec(db)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected == 1),
        Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => discard(db, id).await,
        Err(e) => Err(e),
    }
}

/// Removes a dead job for good.
pub async fn discard(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let res = job::Entity::delete_many()
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.eq(JobStatus::Dead))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Jobs finished (done or dead) in each of the last 60 minutes, oldest minute first.
pub async fn per_minute(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<u64>, DbErr> {
    let since = now - Duration::minutes(60);
    let finished: Vec<Option<DateTime<Utc>>> = job::Entity::find()
        .select_only()
        .column(job::Column::FinishedAt)
        .filter(job::Column::FinishedAt.gt(since))
        .into_tuple()
        .all(db)
        .await?;
    let mut minutes = vec![0u64; 60];
    for at in finished.into_iter().flatten() {
        let i = (at - since).num_minutes().clamp(0, 59) as usize;
        minutes[i] += 1;
    }
    Ok(minutes)
}

/// Claim latency in one minute: how long due jobs waited for a worker (claimed − due).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencyMinute {
    pub claims: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub max_ms: u64,
}

/// Claim latency in each of the last 60 minutes (by claim time), oldest minute first. A job is
/// counted at its latest claim; a retry's wait is measured from the moment its backoff ended.
pub async fn claim_latency(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<LatencyMinute>, DbErr> {
    let since = now - Duration::minutes(60);
    let claims: Vec<(Option<DateTime<Utc>>, DateTime<Utc>)> = job::Entity::find()
        .select_only()
        .column(job::Column::ClaimedAt)
        .column(job::Column::RunAt)
        .filter(job::Column::ClaimedAt.gt(since))
        .into_tuple()
        .all(db)
        .await?;
    let mut minutes: Vec<Vec<u64>> = vec![Vec::new(); 60];
    for (claimed, due) in claims {
        let Some(claimed) = claimed else { continue };
        let i = (claimed - since).num_minutes().clamp(0, 59) as usize;
        minutes[i].push(Ord::max((claimed - due).num_milliseconds(), 0) as u64);
    }
    Ok(minutes
        .into_iter()
        .map(|mut waits| {
            if waits.is_empty() {
                return LatencyMinute::default();
            }
            waits.sort_unstable();
            let at = |q: f64| waits[((waits.len() - 1) as f64 * q).round() as usize];
            LatencyMinute {
                claims: waits.len() as u64,
                p50_ms: at(0.5),
                p95_ms: at(0.95),
                max_ms: *waits.last().expect("not empty"),
            }
        })
        .collect())
}

//! The job queue: every background effect (role sync, mirroring, …) is a row here.
//!
//! - Enqueue in the caller's transaction: the change and its job commit together or not at all
//!   (J1). At most one *queued* job per `(kind, unique_key)`: a newer enqueue replaces the waiting
//!   one's payload (J10). On PostgreSQL a `NOTIFY` carrying only the id wakes workers at commit (J8);
//!   it is a hint, workers also poll (J7).
//! - Claim: one statement that takes due jobs — queued ones whose time came, and running ones whose
//!   lease ran out (their worker died, J2) — with `FOR UPDATE SKIP LOCKED` on PostgreSQL, a single
//!   conditional `UPDATE … RETURNING` on SQLite (which serialises writers), so no job is claimed
//!   twice at once (J5). A claim increments `attempts`; that number is the claim's fencing token.
//! - Finish: complete, retry or bury, each conditional on the token, so a worker whose lease was
//!   lost and whose job was claimed again cannot overwrite the newer claim (J3); completion can
//!   run in the effect's own transaction (J4). Retries back off with jitter unless the failure says
//!   when (`retry_after`, J6); out of attempts the job is `dead`, visible in admin.

pub mod overview;
pub mod retry;
pub mod worker;

use chrono::{DateTime, Duration, Utc};
use entity::job::{self, Model as JobRow};
pub use entity::job::{JobKind, JobStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, Statement, Value,
};

/// The PostgreSQL channel job wake-ups go to (payload: the job id).
pub const NOTIFY_CHANNEL: &str = "signaldesk_jobs";
pub const DEFAULT_MAX_ATTEMPTS: i32 = 8;

/// A job a worker holds: what to do, and the token that proves the claim is still its own.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub job: JobRow,
}

impl Claimed {
    pub fn id(&self) -> i64 {
        self.job.id
    }

    /// The fencing token: the claim's attempt number.
    pub fn token(&self) -> i32 {
        self.job.attempts
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The claim is no longer this worker's (its lease ran out and someone else claimed the job).
    #[error("stale claim of job {0}: its lease was lost and the job was claimed again")]
    Stale(i64),
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn kind_str(kind: JobKind) -> String {
    use sea_orm::ActiveEnum;
    kind.to_value()
}

/// Queues a job, in the caller's transaction. With a `unique_key`, a job of the same kind and key
/// that is still waiting takes the new payload instead of a second job being queued.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    kind: JobKind,
    unique_key: Option<&str>,
    payload: &serde_json::Value,
    run_at: DateTime<Utc>,
) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let now = Utc::now();
    let insert =
        "INSERT INTO job (kind, unique_key, payload, status, attempts, max_attempts, run_at, created_at, updated_at)";
    let sql = match (backend, unique_key) {
        // Without a key there is nothing to merge with (and SQLite refuses a conflict target
        // whose partial index a NULL key cannot match).
        (DbBackend::Postgres, None) => {
            format!("{insert} VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $6) RETURNING id")
        }
        (_, None) => format!("{insert} VALUES (?1, ?2, ?3, 'queued', 0, ?4, ?5, ?6, ?6) RETURNING id"),
        (DbBackend::Postgres, Some(_)) => {
            format!(
                "{insert} VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $6) \
                 ON CONFLICT (kind, unique_key) WHERE status = 'queued' AND unique_key IS NOT NULL \
                 DO UPDATE SET payload = excluded.payload, updated_at = excluded.updated_at, \
                 run_at = LEAST(job.run_at, excluded.run_at) RETURNING id"
            )
        }
        (_, Some(_)) => format!(
            "{insert} VALUES (?1, ?2, ?3, 'queued', 0, ?4, ?5, ?6, ?6) \
             ON CONFLICT (kind, unique_key) WHERE status = 'queued' AND unique_key IS NOT NULL \
             DO UPDATE SET payload = excluded.payload, updated_at = excluded.updated_at, \
             run_at = MIN(job.run_at, excluded.run_at) RETURNING id"
        ),
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            &sql,
            [
                kind_str(kind).into(),
                unique_key.map(str::to_owned).into(),
                payload.to_string().into(),
                DEFAULT_MAX_ATTEMPTS.into(),
                run_at.into(),
                now.into(),
            ],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("enqueue returned no row".into()))?;
    let id: i64 = row.try_get_by_index(0)?;
    if backend == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [NOTIFY_CHANNEL.into(), id.to_string().into()],
        ))
        .await?;
    }
    Ok(id)
}

/// Claims up to `limit` due jobs of `kinds` for `lease`.
pub async fn claim(
    db: &sea_orm::DatabaseConnection,
    kinds: &[JobKind],
    limit: u64,
    lease: Duration,
) -> Result<Vec<Claimed>, DbErr> {
    if kinds.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let now = Utc::now();
    let mut values: Vec<Value> = vec![now.into(), (now + lease).into()];
    let first_kind = values.len() + 1;
    let kinds_sql: Vec<String> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            values.push(kind_str(*k).into());
            match backend {
                DbBackend::Postgres => format!("${}", first_kind + i),
                _ => format!("?{}", first_kind + i),
            }
        })
        .collect();
    let p = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    };
    // One job per key at a time: a queued job waits while another job of its key is running
    // (its lease may have run out: that one is claimed again first), so the operations on one
    // thing — a copy, a member — never overlap.
    let one_per_key = "(unique_key IS NULL OR NOT EXISTS (SELECT 1 FROM job AS other WHERE other.kind = job.kind \
         AND other.unique_key = job.unique_key AND other.status = 'running' AND other.id <> job.id))";
    let kinds = kinds_sql.join(", ");
    let now_p = p(1);
    // Two claims, each walking `idx_job_queue` in the order it takes jobs and stopping at its
    // limit: jobs whose lease ran out (their process died), then queued jobs that are due. On
    // PostgreSQL sorting is switched off for the claim: while a backlog grows faster than the
    // statistics follow (an unreachable CDN, thousands of attachment fetches due), the planner
    // believed a couple of jobs were queued and read and sorted all of them — 60 to 200 ms a
    // claim with 30,000 queued, a whole core, and the backlog only grew.
    let txn = match backend {
        DbBackend::Postgres => {
            let txn = sea_orm::TransactionTrait::begin(db).await?;
            txn.execute_unprepared("SET LOCAL enable_sort = off").await?;
            Some(txn)
        }
        _ => None,
    };
    let set = format!(
        "status = 'running', attempts = attempts + 1, lease_until = {lease}, updated_at = {now_p}, claimed_at = {now_p}",
        lease = p(2),
    );
    let mut claimed = Vec::new();
    for due in [
        format!("status = 'running' AND lease_until < {now_p} AND kind IN ({kinds}) AND {one_per_key}"),
        format!("status = 'queued' AND run_at <= {now_p} AND kind IN ({kinds}) AND {one_per_key}"),
    ] {
        let left = limit - claimed.len() as u64;
        if left == 0 {
            break;
        }
        let sql = match backend {
            DbBackend::Postgres => format!(
                "UPDATE job SET {set} WHERE id IN (SELECT id FROM job WHERE {due} ORDER BY run_at, id LIMIT {left} \
                 FOR UPDATE SKIP LOCKED) RETURNING *"
            ),
            // SQLite runs one writer at a time: the inner select and the update are one statement,
            // so two workers can never take the same row.
            _ => format!(
                "UPDATE job SET {set} WHERE id IN (SELECT id FROM job WHERE {due} ORDER BY run_at, id LIMIT {left}) RETURNING *"
            ),
        };
        let statement = JobRow::find_by_statement(Statement::from_sql_and_values(backend, &sql, values.clone()));
        claimed.extend(match &txn {
            Some(txn) => statement.all(txn).await?,
            None => statement.all(db).await?,
        });
    }
    if let Some(txn) = txn {
        txn.commit().await?;
    }
    let rows = claimed;
    Ok(rows.into_iter().map(|job| Claimed { job }).collect())
}

/// Only the claim holding the current token may change the job.
fn fenced(claimed: &Claimed) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(job::Column::Id.eq(claimed.id()))
        .add(job::Column::Status.eq(JobStatus::Running))
        .add(job::Column::Attempts.eq(claimed.token()))
}

async fn finish(
    db: &impl ConnectionTrait,
    claimed: &Claimed,
    update: sea_orm::UpdateMany<job::Entity>,
) -> Result<(), JobError> {
    let res = update.filter(fenced(claimed)).exec(db).await?;
    if res.rows_affected == 1 {
        Ok(())
    } else {
        Err(JobError::Stale(claimed.id()))
    }
}

/// The job is done. Call it in the effect's own transaction where the effect is in the database.
pub async fn complete(db: &impl ConnectionTrait, claimed: &Claimed) -> Result<(), JobError> {
    let now = Utc::now();
    let update = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Done))
        .col_expr(job::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(job::Column::FinishedAt, Expr::value(Some(now)))
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    finish(db, claimed, update).await
}

/// The attempt failed. The job runs again after the backoff (or `retry_after`), unless it has
/// used its attempts: then it is dead. Returns the status it now has.
pub async fn fail(
    db: &impl ConnectionTrait,
    claimed: &Claimed,
    error: &str,
    retry_after: Option<Duration>,
) -> Result<JobStatus, JobError> {
    if claimed.token() >= claimed.job.max_attempts {
        bury(db, claimed, error).await?;
        return Ok(JobStatus::Dead);
    }
    let now = Utc::now();
    let wait = retry::delay(claimed.token(), retry_after, rand::random::<f64>());
    let update = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Queued))
        .col_expr(job::Column::RunAt, Expr::value(now + wait))
        .col_expr(job::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(job::Column::LastError, Expr::value(Some(error.to_owned())))
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    Ok(if requeue(db, claimed, update, error).await? {
        JobStatus::Queued
    } else {
        JobStatus::Done
    })
}

/// Queues a claimed job again; a newer job of its key queued meanwhile (the unique index says
/// so) supersedes it instead. Returns whether it was queued again.
async fn requeue(
    db: &impl ConnectionTrait,
    claimed: &Claimed,
    update: sea_orm::UpdateMany<job::Entity>,
    error: &str,
) -> Result<bool, JobError> {
    match finish(db, claimed, update).await {
        Ok(()) => Ok(true),
        Err(JobError::Db(e)) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
            if superseded(db, claimed, error).await? {
                Ok(false)
            } else {
                Err(JobError::Db(e))
            }
        }
        Err(e) => Err(e),
    }
}

/// A job that would be queued again while a newer job of its key already waits is done instead:
/// jobs name what to bring in line, not what to send, so the waiting one does all this one
/// would (and one queued job per key is the rule, J10). Returns whether that happened.
async fn superseded(db: &impl ConnectionTrait, claimed: &Claimed, error: &str) -> Result<bool, JobError> {
    let Some(key) = &claimed.job.unique_key else {
        return Ok(false);
    };
    let waiting = job::Entity::find()
        .filter(job::Column::Kind.eq(claimed.job.kind))
        .filter(job::Column::UniqueKey.eq(key.as_str()))
        .filter(job::Column::Status.eq(JobStatus::Queued))
        .one(db)
        .await?;
    let Some(newer) = waiting else {
        return Ok(false);
    };
    let now = Utc::now();
    let update = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Done))
        .col_expr(job::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(
            job::Column::LastError,
            Expr::value(Some(format!("superseded by job {} (last error: {error})", newer.id))),
        )
        .col_expr(job::Column::FinishedAt, Expr::value(Some(now)))
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    finish(db, claimed, update).await?;
    Ok(true)
}

/// The job cannot run yet, through no failure: queued again for `after` from now, and its
/// attempt budget grows by the attempt this claim used (the fencing token still only grows).
pub async fn postpone(
    db: &impl ConnectionTrait,
    claimed: &Claimed,
    reason: &str,
    after: Duration,
) -> Result<(), JobError> {
    let now = Utc::now();
    let update = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Queued))
        .col_expr(job::Column::RunAt, Expr::value(now + after))
        .col_expr(job::Column::MaxAttempts, Expr::col(job::Column::MaxAttempts).add(1))
        .col_expr(job::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(job::Column::LastError, Expr::value(Some(reason.to_owned())))
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    requeue(db, claimed, update, reason).await.map(|_| ())
}

/// No retry can fix this (a configuration fault, an attempt budget spent): the job is dead.
pub async fn bury(db: &impl ConnectionTrait, claimed: &Claimed, error: &str) -> Result<(), JobError> {
    let now = Utc::now();
    let update = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Dead))
        .col_expr(job::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(job::Column::LastError, Expr::value(Some(error.to_owned())))
        .col_expr(job::Column::FinishedAt, Expr::value(Some(now)))
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    finish(db, claimed, update).await
}

/// Extends the lease of a job still being worked on (a worker's heartbeat).
pub async fn heartbeat(db: &impl ConnectionTrait, claimed: &Claimed, lease: Duration) -> Result<(), JobError> {
    let update = job::Entity::update_many()
        .col_expr(job::Column::LeaseUntil, Expr::value(Some(Utc::now() + lease)))
        .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()));
    finish(db, claimed, update).await
}

/// Fails with `Stale` when the claim is no longer ours (call inside the transaction whose
/// writes must only land under the current claim).
pub async fn still_held(db: &impl ConnectionTrait, claimed: &Claimed) -> Result<(), JobError> {
    let update = job::Entity::update_many().col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()));
    finish(db, claimed, update).await
}

//! The job queue (issue 12, item 2 — groundwork): the J properties that need no worker process,
//! on SQLite and PostgreSQL against the migrated database of a real app.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use domain::jobs::{self, JobError, JobKind, JobStatus};
use sea_orm::{EntityTrait, TransactionTrait};
use serde_json::json;

use crate::helpers::{Backend, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    j1_a_job_commits_with_the_change_and_never_without_it,
    j3_a_stale_completion_is_rejected,
    j5_concurrent_workers_never_claim_the_same_job,
    j6_failures_back_off_honour_retry_after_and_end_dead,
    j10_one_queued_job_per_kind_and_unique_key,
    j7_without_wake_ups_the_poll_still_runs_every_job,
    j9_stopping_finishes_the_job_in_hand_and_claims_no_more,
    one_job_per_key_runs_at_a_time,
    a_retry_while_a_newer_job_of_its_key_waits_is_superseded,
);

const LEASE: Duration = Duration::seconds(30);

/// A `run_at` for a job that is due now. A second in the past, so a test that enqueues and then
/// claims at once does not depend on the wall clock never stepping back between the two calls
/// (it did once on a loaded CI machine: the claim found nothing due).
fn due() -> chrono::DateTime<Utc> {
    Utc::now() - Duration::seconds(1)
}

async fn row(db: &sea_orm::DatabaseConnection, id: i64) -> entity::job::Model {
    entity::job::Entity::find_by_id(id).one(db).await.unwrap().unwrap()
}

async fn j1_a_job_commits_with_the_change_and_never_without_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.ctx.db;
    let txn = db.begin().await.unwrap();
    jobs::enqueue(&txn, JobKind::RoleSync, None, &json!({"n": 1}), due())
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    assert!(
        entity::job::Entity::find().all(db).await.unwrap().is_empty(),
        "rolled back: no job"
    );
    let txn = db.begin().await.unwrap();
    let id = jobs::enqueue(&txn, JobKind::RoleSync, None, &json!({"n": 2}), due())
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(row(db, id).await.status, JobStatus::Queued);
}

async fn j3_a_stale_completion_is_rejected(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.ctx.db;
    let id = jobs::enqueue(db, JobKind::RoleSync, None, &json!({}), due())
        .await
        .unwrap();
    // Worker A claims with a lease that runs out at once (it stalled, or was killed).
    let a = jobs::claim(db, &[JobKind::RoleSync], 1, Duration::milliseconds(-1))
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    // Worker B takes the job over once the lease is gone (J2) ...
    let b = jobs::claim(db, &[JobKind::RoleSync], 1, LEASE).await.unwrap();
    assert_eq!((b.len(), b[0].id(), b[0].token()), (1, id, 2));
    // ... and A's late completion, failure or heartbeat changes nothing.
    assert!(matches!(jobs::complete(db, &a[0]).await, Err(JobError::Stale(_))));
    assert!(matches!(
        jobs::fail(db, &a[0], "late", None).await,
        Err(JobError::Stale(_))
    ));
    assert!(matches!(
        jobs::heartbeat(db, &a[0], LEASE).await,
        Err(JobError::Stale(_))
    ));
    assert_eq!(row(db, id).await.status, JobStatus::Running);
    jobs::complete(db, &b[0]).await.unwrap();
    assert_eq!(row(db, id).await.status, JobStatus::Done);
    assert!(
        matches!(jobs::complete(db, &b[0]).await, Err(JobError::Stale(_))),
        "done is done"
    );
}

async fn j5_concurrent_workers_never_claim_the_same_job(backend: Backend) {
    const JOBS: usize = 200;
    let app = spawn_app(backend).await;
    let db = &app.ctx.db;
    for i in 0..JOBS {
        jobs::enqueue(db, JobKind::RoleSync, None, &json!({"i": i}), due())
            .await
            .unwrap();
    }
    let workers = (0..8).map(|_| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = jobs::claim(&db, &[JobKind::RoleSync], 3, LEASE).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                for c in claimed {
                    jobs::complete(&db, &c).await.unwrap();
                    mine.push(c.id());
                }
            }
        })
    });
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for w in futures_util::future::join_all(workers).await {
        for id in w.unwrap() {
            *seen.entry(id).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), JOBS, "every job ran");
    assert!(seen.values().all(|n| *n == 1), "no job ran twice");
}

async fn j6_failures_back_off_honour_retry_after_and_end_dead(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.ctx.db;
    let id = jobs::enqueue(db, JobKind::Mirror, None, &json!({}), due())
        .await
        .unwrap();
    let before = Utc::now();
    let c = jobs::claim(db, &[JobKind::Mirror], 1, LEASE).await.unwrap().remove(0);
    assert_eq!(
        jobs::fail(db, &c, "503 from Discord", None).await.unwrap(),
        JobStatus::Queued
    );
    let r = row(db, id).await;
    assert!(
        r.run_at >= before + Duration::milliseconds(900),
        "backed off: {}",
        r.run_at - before
    );
    assert_eq!(r.last_error.as_deref(), Some("503 from Discord"));
    assert!(
        jobs::claim(db, &[JobKind::Mirror], 1, LEASE).await.unwrap().is_empty(),
        "not due yet"
    );
    // A rate limit says exactly when: that wins over the backoff.
    let make_due = || async {
        use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
        entity::job::Entity::update_many()
            .col_expr(
                entity::job::Column::RunAt,
                Expr::value(Utc::now() - Duration::seconds(1)),
            )
            .filter(entity::job::Column::Id.eq(id))
            .exec(db)
            .await
            .unwrap();
    };
    make_due().await;
    let c = jobs::claim(db, &[JobKind::Mirror], 1, LEASE).await.unwrap().remove(0);
    let told = Utc::now();
    jobs::fail(db, &c, "429", Some(Duration::minutes(5))).await.unwrap();
    let wait = row(db, id).await.run_at - told;
    assert!(wait > Duration::seconds(295) && wait < Duration::seconds(305), "{wait}");
    // Out of attempts: dead, and never claimed again.
    for _ in 2..jobs::DEFAULT_MAX_ATTEMPTS - 1 {
        make_due().await;
        let c = jobs::claim(db, &[JobKind::Mirror], 1, LEASE).await.unwrap().remove(0);
        jobs::fail(db, &c, "still failing", None).await.unwrap();
    }
    make_due().await;
    let c = jobs::claim(db, &[JobKind::Mirror], 1, LEASE).await.unwrap().remove(0);
    assert_eq!(c.token(), jobs::DEFAULT_MAX_ATTEMPTS);
    assert_eq!(jobs::fail(db, &c, "last try", None).await.unwrap(), JobStatus::Dead);
    make_due().await;
    assert!(jobs::claim(db, &[JobKind::Mirror], 1, LEASE).await.unwrap().is_empty());
    assert_eq!(row(db, id).await.status, JobStatus::Dead);
}

async fn j10_one_queued_job_per_kind_and_unique_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.ctx.db;
    let key = Some("user:1/role:2");
    let first = jobs::enqueue(db, JobKind::RoleSync, key, &json!({"action": "grant"}), due())
        .await
        .unwrap();
    let second = jobs::enqueue(db, JobKind::RoleSync, key, &json!({"action": "revoke"}), due())
        .await
        .unwrap();
    assert_eq!(first, second, "the waiting job took the newer payload");
    assert_eq!(row(db, first).await.payload, json!({"action": "revoke"}).to_string());
    // Another kind, or no key, is another job.
    let mirror = jobs::enqueue(db, JobKind::Mirror, key, &json!({}), due())
        .await
        .unwrap();
    assert_ne!(mirror, first);
    // While the job runs, a new decision queues one successor (not a second runner).
    let running = jobs::claim(db, &[JobKind::RoleSync], 1, LEASE).await.unwrap().remove(0);
    let next = jobs::enqueue(db, JobKind::RoleSync, key, &json!({"action": "grant"}), due())
        .await
        .unwrap();
    assert_ne!(next, running.id());
    let again = jobs::enqueue(db, JobKind::RoleSync, key, &json!({"action": "revoke"}), due())
        .await
        .unwrap();
    assert_eq!(again, next);
    assert_eq!(entity::job::Entity::find().all(db).await.unwrap().len(), 3);
}

/// The successor of a running job waits until it finishes: the operations on one thing (a
/// member's roles, a signal's copy) never overlap.
async fn one_job_per_key_runs_at_a_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.ctx.db;
    let key = Some("signal:1/target:2");
    jobs::enqueue(db, JobKind::Mirror, key, &json!({}), due())
        .await
        .unwrap();
    let first = jobs::claim(db, &[JobKind::Mirror], 5, LEASE).await.unwrap().remove(0);
    let next = jobs::enqueue(db, JobKind::Mirror, key, &json!({}), due())
        .await
        .unwrap();
    let other = jobs::enqueue(db, JobKind::Mirror, Some("signal:9/target:2"), &json!({}), due())
        .await
        .unwrap();
    let claimed = jobs::claim(db, &[JobKind::Mirror], 5, LEASE).await.unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.id()).collect::<Vec<_>>(),
        vec![other],
        "another key runs; ours waits"
    );
    jobs::complete(db, &first).await.unwrap();
    let claimed = jobs::claim(db, &[JobKind::Mirror], 5, LEASE).await.unwrap();
    assert_eq!(claimed.iter().map(|c| c.id()).collect::<Vec<_>>(), vec![next]);
}

/// A failing job whose key already has a newer job waiting is not queued a second time (which
/// the one-queued-per-key rule forbids): it is done, superseded, and the waiting job does the work.
async fn a_retry_while_a_newer_job_of_its_key_waits_is_superseded(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.ctx.db;
    let key = Some("guild:1/user:2/discord:3");
    jobs::enqueue(db, JobKind::RoleSync, key, &json!({}), due())
        .await
        .unwrap();
    let first = jobs::claim(db, &[JobKind::RoleSync], 1, LEASE).await.unwrap().remove(0);
    let next = jobs::enqueue(db, JobKind::RoleSync, key, &json!({}), due())
        .await
        .unwrap();
    let status = jobs::fail(db, &first, "Discord failed (HTTP 502)", None).await.unwrap();
    assert_eq!(status, JobStatus::Done);
    let old = row(db, first.id()).await;
    assert!(old.last_error.unwrap().contains(&format!("superseded by job {next}")));
    assert_eq!(row(db, next).await.status, JobStatus::Queued);
    // Postponing (a member who left) is superseded the same way.
    let second = jobs::claim(db, &[JobKind::RoleSync], 1, LEASE).await.unwrap().remove(0);
    let third = jobs::enqueue(db, JobKind::RoleSync, key, &json!({}), due())
        .await
        .unwrap();
    jobs::postpone(db, &second, "not a member", Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(row(db, second.id()).await.status, JobStatus::Done);
    assert_eq!(row(db, third).await.status, JobStatus::Queued);
}

/// A job's wake-up on PostgreSQL carries its id and nothing else (NOTIFY payloads are public to
/// every listener of the database and limited to 8000 bytes), and arrives only at commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j8_the_wake_up_carries_the_job_id_only() {
    use sea_orm::sqlx::postgres::PgListener;
    let app = spawn_app(Backend::Postgres).await;
    let db = &app.ctx.db;
    let mut listener = PgListener::connect_with(db.get_postgres_connection_pool())
        .await
        .unwrap();
    listener.listen(jobs::NOTIFY_CHANNEL).await.unwrap();
    let big = json!({"content": "x".repeat(10_000)});
    let txn = db.begin().await.unwrap();
    let id = jobs::enqueue(&txn, JobKind::Mirror, None, &big, due()).await.unwrap();
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), listener.recv()).await;
    assert!(early.is_err(), "no wake-up before commit");
    txn.commit().await.unwrap();
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
        .await
        .expect("a wake-up after commit")
        .unwrap();
    assert_eq!(n.payload(), id.to_string());
}

fn settings(poll_ms: u64) -> jobs::worker::Settings {
    jobs::worker::Settings {
        kinds: vec![JobKind::RoleSync],
        lease: LEASE,
        poll: std::time::Duration::from_millis(poll_ms),
    }
}

/// No NOTIFY reaches this worker (as when its LISTEN connection is gone): the bounded poll
/// still picks every job up.
async fn j7_without_wake_ups_the_poll_still_runs_every_job(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = app.ctx.db.clone();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let never_woken = std::sync::Arc::new(tokio::sync::Notify::new());
    let worker = tokio::spawn(jobs::worker::run(
        db.clone(),
        settings(200),
        never_woken,
        stop,
        |_job| async { jobs::worker::Outcome::Done },
    ));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for i in 0..5 {
        jobs::enqueue(&db, JobKind::RoleSync, None, &json!({"i": i}), due())
            .await
            .unwrap();
    }
    let mut done = 0;
    for _ in 0..50 {
        use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
        done = entity::job::Entity::find()
            .filter(entity::job::Column::Status.eq(JobStatus::Done))
            .count(&db)
            .await
            .unwrap();
        if done == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(done, 5, "polled up without any wake-up");
    stop_tx.send(true).unwrap();
    assert_eq!(worker.await.unwrap(), 5);
}

/// Told to stop while a job runs, the worker finishes that job and claims no other.
async fn j9_stopping_finishes_the_job_in_hand_and_claims_no_more(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = app.ctx.db.clone();
    let first = jobs::enqueue(&db, JobKind::RoleSync, None, &json!({}), due())
        .await
        .unwrap();
    let second = jobs::enqueue(&db, JobKind::RoleSync, None, &json!({}), due())
        .await
        .unwrap();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let started_tx = std::sync::Mutex::new(Some(started_tx));
    let worker = tokio::spawn(jobs::worker::run(
        db.clone(),
        settings(50),
        std::sync::Arc::new(tokio::sync::Notify::new()),
        stop,
        move |_job| {
            if let Some(tx) = started_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            async {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                jobs::worker::Outcome::Done
            }
        },
    ));
    started.await.unwrap();
    stop_tx.send(true).unwrap();
    assert_eq!(worker.await.unwrap(), 1, "the job in hand was finished");
    assert_eq!(row(&db, first).await.status, JobStatus::Done);
    assert_eq!(
        row(&db, second).await.status,
        JobStatus::Queued,
        "nothing claimed after the stop"
    );
}

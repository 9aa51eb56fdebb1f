//! Ingest's group commit (issue 16): requests that arrive while a transaction holds the feed's
//! append lock wait, then commit together — each answered on its own, feed rows in order and
//! without a hole — and one the database refuses fails alone.

use std::sync::atomic::Ordering;
use std::time::Duration;

use domain::Backend as Engine;
use sea_orm::sqlx;
use serde_json::Value;

use crate::capture::{Source, create};
use crate::helpers::Backend;
use crate::on_both_databases;

on_both_databases!(requests_waiting_for_the_append_lock_commit_together_each_answered,);

/// Another transaction holding what orders feed appends, as a second server (PostgreSQL's
/// advisory lock) or the bot process (SQLite's write lock) does.
enum LockHolder {
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
}

impl LockHolder {
    async fn take(db: &sea_orm::DatabaseConnection) -> Self {
        match Engine::of(db) {
            Engine::Postgres => {
                let mut c = db.get_postgres_connection_pool().acquire().await.unwrap();
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(domain::feed::APPEND_LOCK_KEY)
                    .execute(&mut *c)
                    .await
                    .unwrap();
                Self::Postgres(c)
            }
            Engine::Sqlite => {
                let mut c = db.get_sqlite_connection_pool().acquire().await.unwrap();
                sqlx::query("BEGIN IMMEDIATE").execute(&mut *c).await.unwrap();
                Self::Sqlite(c)
            }
        }
    }

    async fn release(self) {
        match self {
            Self::Postgres(mut c) => {
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(domain::feed::APPEND_LOCK_KEY)
                    .execute(&mut *c)
                    .await
                    .unwrap();
            }
            Self::Sqlite(mut c) => {
                sqlx::query("COMMIT").execute(&mut *c).await.unwrap();
            }
        }
    }
}

fn counts(s: &Source) -> (u64, u64) {
    let c = s.app.ctx.feed.commits();
    (
        c.requests.load(Ordering::Relaxed),
        c.transactions.load(Ordering::Relaxed),
    )
}

async fn requests_waiting_for_the_append_lock_commit_together_each_answered(backend: Backend) {
    const REQUESTS: u64 = 12;
    let s = Source::start(backend).await;
    let (requests_before, transactions_before) = counts(&s);
    let rows_before = s.feed_rows().await.len();

    let holder = LockHolder::take(&s.app.ctx.db).await;
    let posts: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let (client, url, token) = (s.app.client.clone(), s.app.url("/api/v1/events"), s.token.clone());
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&create(100 + i, &format!("signal {i}")))
                    .send()
                    .await
                    .unwrap();
                (res.status(), res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    // Every request reaches the queue; the first waits inside the database for the lock.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        posts.iter().all(|p| !p.is_finished()),
        "nothing commits while another transaction holds the lock"
    );
    holder.release().await;
    for post in posts {
        let (status, body) = post.await.unwrap();
        assert_eq!(
            (status.as_u16(), body["status"].as_str()),
            (200, Some("accepted")),
            "{body}"
        );
    }

    let (requests, transactions) = counts(&s);
    assert_eq!(requests - requests_before, REQUESTS);
    // The first request's transaction, then one for everything that queued behind it.
    assert_eq!(
        transactions - transactions_before,
        2,
        "grouped into one transaction after the first"
    );
    let rows = s.feed_rows().await;
    assert_eq!(rows.len() - rows_before, REQUESTS as usize, "one feed row per request");
    assert!(
        rows.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "feed rows without a hole"
    );
    assert_eq!(s.signals().await.len(), REQUESTS as usize);

    let metrics = s.app.metrics().await;
    assert!(
        metrics.contains(&format!("signaldesk_ingest_requests_total {requests}\n")),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("signaldesk_ingest_transactions_total {transactions}\n")),
        "{metrics}"
    );
}

/// A request the database cannot store (PostgreSQL refuses a NUL character in text; the API
/// rejects such content before it gets this far, so the event is built past the parser) fails on
/// its own: the requests grouped with it are committed and answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_database_refuses_fails_alone_in_its_group() {
    let s = Source::start(Backend::Postgres).await;
    let rows_before = s.feed_rows().await.len();
    let event = |i: u64, content: &str| {
        let mut e = domain::ingest::parse(create(200 + i, "placeholder"), chrono::Utc::now()).unwrap();
        let domain::ingest::Event::MessageCreated(m) = &mut e else {
            unreachable!("a create")
        };
        m.snapshot.content = content.to_owned();
        e
    };
    let holder = LockHolder::take(&s.app.ctx.db).await;
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let (db, feed, connector) = (s.app.ctx.db.clone(), s.app.ctx.feed.clone(), s.connector.clone());
            let e = event(i, if i == 5 { "BUY\0BTC" } else { "BUY BTC" });
            tokio::spawn(async move { domain::ingest::ingest(&db, &feed, &connector, vec![Ok(e)]).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    holder.release().await;
    for (i, call) in calls.into_iter().enumerate() {
        let done = call.await.unwrap();
        if i == 5 {
            assert!(done.is_err(), "the refused request fails");
        } else {
            let done = done.unwrap_or_else(|e| panic!("request {i} failed with its neighbour: {e}"));
            assert_eq!(done.results[0].status, domain::ingest::Status::Accepted);
        }
    }
    assert_eq!(s.feed_rows().await.len() - rows_before, 7);
    assert_eq!(s.signals().await.len(), 7);
}

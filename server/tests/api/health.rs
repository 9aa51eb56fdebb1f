use serde_json::Value;

use crate::helpers::{Backend, METRICS_TOKEN, spawn_app, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(
    healthz_answers_ok,
    readyz_reports_the_database,
    readyz_is_503_when_the_database_is_gone,
    unknown_api_path_is_a_json_404,
    metrics_need_the_token_or_a_private_listener,
);

async fn metrics_need_the_token_or_a_private_listener(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/metrics").await.status(), 401, "no token");
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    let right = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(right.text().await.unwrap().contains("signaldesk_feed_followers"));

    // No token configured: not served on the public port at all; a private listener serves it.
    let app = spawn_app_with(backend, &[("METRICS_TOKEN", ""), ("METRICS_ADDR", "127.0.0.1:0")]).await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    let private = app.metrics_addr.expect("a metrics listener");
    let res = reqwest::get(format!("http://{private}/metrics")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("signaldesk_payment_alert"));
}

async fn healthz_answers_ok(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

async fn readyz_reports_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], backend.name());
}

async fn readyz_is_503_when_the_database_is_gone(backend: Backend) {
    let app = spawn_app(backend).await;
    // Closing the shared pool makes every query fail, as a lost database would.
    app.ctx.db.clone().close().await.unwrap();
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "database_unavailable");
    assert!(body["error"]["message"].as_str().unwrap().contains("not reachable"));
    // The process itself is still alive.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

async fn unknown_api_path_is_a_json_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/api/v1/nope").await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn sqlite_default_runs_in_wal_mode_with_a_busy_timeout() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app(Backend::Sqlite).await;
    let db = &app.ctx.db;
    let pragma = |name: &'static str| {
        let stmt = Statement::from_string(db.get_database_backend(), format!("PRAGMA {name}"));
        async move { db.query_one_raw(stmt).await.unwrap().unwrap() }
    };
    let mode: String = pragma("journal_mode").await.try_get_by_index(0).unwrap();
    assert_eq!(mode, "wal");
    let timeout_ms: i64 = pragma("busy_timeout").await.try_get_by_index(0).unwrap();
    assert_eq!(timeout_ms, 5000);
    assert_eq!(app.ctx.config.pool_size, 4, "explicit SQLite pool size");
}

use serde_json::Value;

use crate::helpers::{Backend, spawn_app, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(
    landing_page_is_server_rendered_with_plans_from_the_database,
    product_name_is_configurable,
    status_server_function_reads_the_database,
    unknown_page_is_a_404_page,
    responses_are_compressed_when_asked
);

async fn landing_page_is_server_rendered_with_plans_from_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"<h1 data-testid="product-name">SignalDesk</h1>"#),
        "{html}"
    );
    // The seeded tiers are in the HTML itself: readable before any wasm runs.
    for plan in ["Basic", "Advanced", "Pro"] {
        assert!(html.contains(&format!("<h3>{plan}</h3>")), "missing {plan}: {html}");
    }
    assert!(html.contains("/pkg/signaldesk.js"), "hydration script missing");
    assert!(html.contains(r#"href="/login""#) && html.contains(r#"href="/dashboard""#));
}

async fn product_name_is_configurable(backend: Backend) {
    let app = spawn_app_with(backend, &[("APP_NAME", "Alpha Calls")]).await;
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("<title>Alpha Calls</title>"), "{html}");
    assert!(html.contains(r#"content="Alpha Calls""#));
    assert!(html.contains(r#"data-testid="product-name">Alpha Calls<"#));
}

async fn status_server_function_reads_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .client
        .post(app.url("/rpc/status"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["plans"], 3);
    assert_eq!(body["database"], backend.name());
    assert!(body["database_ms"].as_f64().unwrap() >= 0.0);
}

async fn unknown_page_is_a_404_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/no/such/page").await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("Page not found"));
}

async fn responses_are_compressed_when_asked(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .client
        .get(app.url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-encoding").map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
}

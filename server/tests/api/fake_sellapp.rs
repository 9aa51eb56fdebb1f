//! A local stand-in for Sell.app's invoices API (`GET /v2/invoices`), speaking its wire format:
//! bearer key, `limit`/`page` pagination with `{data, meta: {current_page, last_page}}`, and
//! scripted faults (429 with `Retry-After`, 5xx) served before the real answers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const KEY: &str = "sk_test_reconcile";

#[derive(Clone, Default)]
pub struct FakeSellapp {
    pub invoices: Arc<Mutex<Vec<Value>>>,
    pub faults: Arc<Mutex<VecDeque<u16>>>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FakeSellapp {
    /// Serves on a free port; returns the base URL (the part before `/v2/...`).
    pub async fn start(&self) -> String {
        let app = axum::Router::new()
            .route("/api/v2/invoices", axum::routing::get(invoices))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/api")
    }
}

async fn invoices(
    State(fake): State<FakeSellapp>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    fake.requests
        .lock()
        .unwrap()
        .push(format!("page={}", param("page").unwrap_or_default()));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {KEY}")) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"message": "Unauthenticated."}))).into_response();
    }
    if let Some(code) = fake.faults.lock().unwrap().pop_front() {
        let status = StatusCode::from_u16(code).unwrap();
        return if code == 429 {
            (
                status,
                [("retry-after", "1")],
                Json(json!({"message": "Too Many Attempts."})),
            )
                .into_response()
        } else {
            (status, Json(json!({"message": "Server Error"}))).into_response()
        };
    }
    let limit: usize = param("limit").and_then(|v| v.parse().ok()).unwrap_or(15).clamp(1, 100);
    let page: usize = param("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let all = fake.invoices.lock().unwrap().clone();
    let last_page = all.len().div_ceil(limit).max(1);
    let data: Vec<Value> = all.into_iter().skip((page - 1) * limit).take(limit).collect();
    Json(json!({"data": data, "meta": {"current_page": page, "last_page": last_page, "per_page": limit}}))
        .into_response()
}

//! Sell.app payments end to end over HTTP (issue 5): the test plays Sell.app's webhook sender
//! (signing with its own HMAC), the app stores, processes and grants. W1–W4 and W6 of the
//! reliability properties are named tests here; all run on SQLite and PostgreSQL.

use std::time::Duration;

use chrono::Utc;
use entity::webhook_event;
use hmac::{Hmac, Mac};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(
    w1_missing_malformed_and_wrong_signatures_are_refused_and_counted,
    w6_old_and_new_secrets_both_verify_during_a_rotation,
    w2_a_paid_order_is_acknowledged_at_once_and_grants_access,
    w2_a_stored_event_is_processed_even_without_a_wake_up,
    w3_fifty_concurrent_identical_webhooks_make_one_grant,
    w4_a_late_order_created_changes_nothing,
    refund_and_dispute_take_exactly_that_orders_days_back,
    a_variant_policy_wins_over_the_product_policy,
    an_unpriced_variant_of_a_product_with_priced_variants_fails_visibly,
    w4_an_order_without_a_paid_status_grants_nothing,
    every_line_of_an_order_grants_and_the_amount_is_on_the_timeline,
    an_order_without_a_policy_fails_visibly_and_replays_after_one_is_added,
    paid_before_sign_up_applies_when_the_account_is_created,
    a_returning_customer_is_known_by_sellapp_id_before_email,
    customer_access_view_counts_down_from_the_ledger,
    admin_policies_and_failure_inbox_work_through_server_functions,
    w5_reconciliation_repairs_missed_payments_and_refunds,
    forged_signatures_never_raise_the_alert_but_failures_do,
    racing_refunds_take_an_order_back_once,
    racing_expiry_sweeps_record_an_expiry_once,
    j1_role_jobs_commit_with_the_access_change_and_never_without_it,
    j10_one_queued_role_job_per_customer,
    a_tier_step_down_queues_role_sync,
    an_expiry_during_a_long_outage_is_recorded_on_start,
    expiry_is_recorded_once_and_queues_the_role_revoke,
    admin_grants_and_revokes_with_a_reason_on_the_timeline,
    w2_an_event_stored_before_a_crash_is_processed_after_restart,
    a_grant_left_waiting_by_a_race_is_claimed_at_the_next_sign_in,
    long_addresses_and_ids_fit_their_columns,
);

pub const SECRET: &str = "whsec_current";
const OLD_SECRET: &str = "whsec_previous";
const PRODUCT: &str = "77";

pub async fn payments_app(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        &[("SELLAPP_WEBHOOK_SECRETS", &format!("{SECRET}, {OLD_SECRET}"))],
    )
    .await
}

pub fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// What Sell.app would post for an order.
pub fn order(event: &str, id: u64, email: &str, status: &str, variant: Option<u64>) -> Value {
    let mut product = json!({"id": PRODUCT.parse::<u64>().unwrap()});
    if let Some(v) = variant {
        product["variants"] = json!([{"id": v}]);
    }
    json!({"event": event, "store": 1, "data": {
        "id": id, "store_id": 1,
        "status": {"status": {"status": status}, "history": []},
        "customer_information": {"email": email, "id": null},
        "subscription_id": null,
        "products": [product],
        "created_at": "2026-11-27T12:00:00.000000Z"
    }})
}

pub async fn deliver_raw(app: &TestApp, body: &[u8], signature: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/webhooks/sellapp"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        req = req.header("Signature", s);
    }
    req.send().await.unwrap()
}

pub async fn deliver(app: &TestApp, payload: &Value) -> String {
    let body = serde_json::to_vec(payload).unwrap();
    let res = deliver_raw(app, &body, Some(&sign(&body, SECRET))).await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until no stored event is pending.
pub async fn settle(app: &TestApp) {
    use sea_orm::{ColumnTrait, QueryFilter};
    for _ in 0..200 {
        let pending = webhook_event::Entity::find()
            .filter(webhook_event::Column::Status.eq("pending"))
            .count(&app.ctx.db)
            .await
            .unwrap();
        if pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("webhook events still pending after 10 s");
}

pub async fn tier_id(app: &TestApp, slug: &str) -> i32 {
    domain::entitlements::tiers(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.slug == slug)
        .unwrap()
        .id
}

pub async fn policy(app: &TestApp, variant: &str, slug: &str, days: i32) {
    let tier = tier_id(app, slug).await;
    domain::payments::policies::create(&app.ctx.db, PRODUCT, variant, tier, days)
        .await
        .unwrap();
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    use sea_orm::{ColumnTrait, QueryFilter};
    entity::user_account::Entity::find()
        .filter(entity::user_account::Column::Email.eq(email))
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// (tier slug, whole days left) now, for an account.
pub async fn access(app: &TestApp, email: &str) -> Option<(String, i64)> {
    let uid = user_id(app, email).await;
    domain::entitlements::access_at(&app.ctx.db, uid, Utc::now())
        .await
        .unwrap()
        .map(|a| (a.tier.slug, (a.access_ends - Utc::now()).num_hours().div_euclid(24) + 1))
}

/// The access changes on `email`'s timeline, newest first (the lines that change no access,
/// like an address proven, left out).
pub async fn access_history(app: &TestApp, email: &str) -> Vec<entity::access_change::Model> {
    domain::entitlements::history(&app.ctx.db, email)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind != "proven")
        .collect()
}

async fn statuses(app: &TestApp) -> Vec<String> {
    use sea_orm::QueryOrder;
    webhook_event::Entity::find()
        .order_by_asc(webhook_event::Column::Id)
        .all(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.status)
        .collect()
}

async fn w1_missing_malformed_and_wrong_signatures_are_refused_and_counted(backend: Backend) {
    let app = payments_app(backend).await;
    let body = serde_json::to_vec(&order("order.completed", 1, "a@example.com", "COMPLETED", None)).unwrap();
    let good = sign(&body, SECRET);
    let wrong_secret = sign(&body, "not-the-secret");
    let cases: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some(good[..40].to_owned()),
        Some("z".repeat(64)),
        Some(wrong_secret),
        Some(format!("{good} ")),
    ];
    let refused = cases.len() - 1; // the trailing space is trimmed: that one is valid
    for (i, sig) in cases.iter().enumerate() {
        let res = deliver_raw(&app, &body, sig.as_deref()).await;
        if i == cases.len() - 1 {
            assert_eq!(res.status(), 200, "a trimmed valid signature passes");
            continue;
        }
        assert_eq!(res.status(), 401, "case {i}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["code"], "invalid_signature");
    }
    // A body changed after signing fails.
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_eq!(deliver_raw(&app, &tampered, Some(&good)).await.status(), 401);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(&format!(
            "signaldesk_webhook_signature_rejections_total {}",
            refused + 1
        )),
        "{metrics}"
    );
    assert_eq!(
        webhook_event::Entity::find().count(&app.ctx.db).await.unwrap(),
        1,
        "only the valid one stored"
    );

    // No secret configured: everything is refused (safe default).
    let closed = spawn_app_with(backend, &[]).await;
    assert_eq!(deliver_raw(&closed, &body, Some(&good)).await.status(), 401);
}

async fn w6_old_and_new_secrets_both_verify_during_a_rotation(backend: Backend) {
    let app = payments_app(backend).await;
    for (i, secret) in [SECRET, OLD_SECRET].iter().enumerate() {
        let body =
            serde_json::to_vec(&order("order.created", 10 + i as u64, "a@example.com", "PENDING", None)).unwrap();
        assert_eq!(deliver_raw(&app, &body, Some(&sign(&body, secret))).await.status(), 200);
    }
}

async fn w2_a_paid_order_is_acknowledged_at_once_and_grants_access(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "advanced", 30).await;
    app.sign_up_verified("ada@example.com", PASSWORD).await;
    assert_eq!(access(&app, "ada@example.com").await, None);
    assert_eq!(
        deliver(
            &app,
            &order("order.completed", 236, "Ada@Example.com", "COMPLETED", None)
        )
        .await,
        "received"
    );
    settle(&app).await;
    assert_eq!(access(&app, "ada@example.com").await, Some(("advanced".into(), 30)));
    assert_eq!(statuses(&app).await, ["processed"]);
    // The same delivery again: acknowledged, nothing more.
    assert_eq!(
        deliver(
            &app,
            &order("order.completed", 236, "Ada@Example.com", "COMPLETED", None)
        )
        .await,
        "duplicate"
    );
    let history = access_history(&app, "ada@example.com").await;
    assert_eq!(history.len(), 1);
    assert_eq!(
        (
            history[0].kind.as_str(),
            history[0].cause.as_str(),
            history[0].actor.as_deref()
        ),
        ("granted", "payment", Some("Sell.app order.completed #236"))
    );
}

async fn w2_a_stored_event_is_processed_even_without_a_wake_up(backend: Backend) {
    // As after a crash between the 2xx and processing: the row is stored, nobody was woken.
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    app.sign_up_verified("crash@example.com", PASSWORD).await;
    let body = serde_json::to_vec(&order("order.completed", 500, "crash@example.com", "COMPLETED", None)).unwrap();
    let env = domain::payments::webhooks::envelope(&body).unwrap();
    domain::payments::webhooks::store(&app.ctx.db, &env, &body)
        .await
        .unwrap();
    settle(&app).await;
    assert_eq!(access(&app, "crash@example.com").await, Some(("basic".into(), 30)));
}

async fn w3_fifty_concurrent_identical_webhooks_make_one_grant(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "pro", 30).await;
    app.sign_up_verified("rush@example.com", PASSWORD).await;
    let body = serde_json::to_vec(&order("order.completed", 900, "rush@example.com", "COMPLETED", None)).unwrap();
    let sig = sign(&body, SECRET);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (client, url, body, sig) = (
            app.client.clone(),
            app.url("/api/v1/webhooks/sellapp"),
            body.clone(),
            sig.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .header("content-type", "application/json")
                .header("Signature", sig)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()["status"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut received = 0;
    for t in tasks {
        if t.await.unwrap() == "received" {
            received += 1;
        }
    }
    assert_eq!(received, 1, "one delivery stored, 49 duplicates");
    settle(&app).await;
    let uid = user_id(&app, "rush@example.com").await;
    assert_eq!(
        domain::entitlements::all_grants(&app.ctx.db, uid).await.unwrap().len(),
        1
    );
    assert_eq!(access(&app, "rush@example.com").await, Some(("pro".into(), 30)));
}

async fn w4_a_late_order_created_changes_nothing(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    app.sign_up_verified("late@example.com", PASSWORD).await;
    deliver(
        &app,
        &order("order.completed", 41, "late@example.com", "COMPLETED", None),
    )
    .await;
    settle(&app).await;
    deliver(&app, &order("order.created", 41, "late@example.com", "PENDING", None)).await;
    settle(&app).await;
    assert_eq!(access(&app, "late@example.com").await, Some(("basic".into(), 30)));
    assert_eq!(statuses(&app).await, ["processed", "ignored"]);
}

async fn refund_and_dispute_take_exactly_that_orders_days_back(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    app.sign_up_verified("refund@example.com", PASSWORD).await;
    for id in [1, 2, 3] {
        deliver(
            &app,
            &order("order.completed", id, "refund@example.com", "COMPLETED", None),
        )
        .await;
    }
    settle(&app).await;
    assert_eq!(access(&app, "refund@example.com").await, Some(("basic".into(), 90)));
    deliver(&app, &order("order.updated", 2, "refund@example.com", "REFUNDED", None)).await;
    settle(&app).await;
    assert_eq!(access(&app, "refund@example.com").await, Some(("basic".into(), 60)));
    deliver(
        &app,
        &order("order.disputed", 3, "refund@example.com", "DISPUTING", None),
    )
    .await;
    settle(&app).await;
    assert_eq!(access(&app, "refund@example.com").await, Some(("basic".into(), 30)));
    // A refund that overtakes its payment: the payment, when it arrives, grants nothing.
    deliver(&app, &order("order.updated", 4, "refund@example.com", "REFUNDED", None)).await;
    deliver(
        &app,
        &order("order.completed", 4, "refund@example.com", "COMPLETED", None),
    )
    .await;
    settle(&app).await;
    assert_eq!(access(&app, "refund@example.com").await, Some(("basic".into(), 30)));
}

async fn a_variant_policy_wins_over_the_product_policy(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    policy(&app, "701", "pro", 90).await;
    app.sign_up_verified("v@example.com", PASSWORD).await;
    app.sign_up_verified("none@example.com", PASSWORD).await;
    deliver(
        &app,
        &order("order.completed", 1, "v@example.com", "COMPLETED", Some(701)),
    )
    .await;
    deliver(
        &app,
        &order("order.completed", 2, "none@example.com", "COMPLETED", None),
    )
    .await;
    settle(&app).await;
    assert_eq!(access(&app, "v@example.com").await, Some(("pro".into(), 90)));
    assert_eq!(
        access(&app, "none@example.com").await,
        Some(("basic".into(), 30)),
        "no variant named → the product's policy"
    );
}

/// The product's policy does not silently price a variant when the product's variants are priced
/// one by one: variant 702 (no policy of its own) fails visibly instead of buying basic.
async fn an_unpriced_variant_of_a_product_with_priced_variants_fails_visibly(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    policy(&app, "701", "pro", 90).await;
    app.sign_up_verified("p@example.com", PASSWORD).await;
    deliver(
        &app,
        &order("order.completed", 2, "p@example.com", "COMPLETED", Some(702)),
    )
    .await;
    settle(&app).await;
    let failures = failures_soon(&app).await;
    assert!(
        failures[0].last_error.as_deref().unwrap().contains("variant 702"),
        "{:?}",
        failures[0].last_error
    );
    assert_eq!(access(&app, "p@example.com").await, None);
    // A product without variant policies still covers all its variants.
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    app.sign_up_verified("q@example.com", PASSWORD).await;
    deliver(
        &app,
        &order("order.completed", 3, "q@example.com", "COMPLETED", Some(703)),
    )
    .await;
    settle(&app).await;
    assert_eq!(access(&app, "q@example.com").await, Some(("basic".into(), 30)));
}

async fn failures_soon(app: &TestApp) -> Vec<domain::payments::webhooks::StoredEvent> {
    for _ in 0..200 {
        let failures = domain::payments::webhooks::failures(&app.ctx.db, 100).await.unwrap();
        if !failures.is_empty() {
            return failures;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no failure recorded within 10 s");
}

/// Only a status in the paid list grants: a completed event without a status, or with one that
/// is not paid, is recorded as ignored and grants nothing.
async fn w4_an_order_without_a_paid_status_grants_nothing(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    app.sign_up_verified("nostatus@example.com", PASSWORD).await;
    let mut no_status = order("order.completed", 11, "nostatus@example.com", "COMPLETED", None);
    no_status["data"].as_object_mut().unwrap().remove("status");
    deliver(&app, &no_status).await;
    deliver(
        &app,
        &order("order.completed", 12, "nostatus@example.com", "PENDING", None),
    )
    .await;
    deliver(&app, &order("order.paid", 13, "nostatus@example.com", "REVIEW", None)).await;
    settle(&app).await;
    assert_eq!(access(&app, "nostatus@example.com").await, None);
    assert_eq!(statuses(&app).await, vec!["ignored", "ignored", "ignored"]);
    deliver(
        &app,
        &order("order.completed", 14, "nostatus@example.com", "PAID", None),
    )
    .await;
    settle(&app).await;
    assert_eq!(access(&app, "nostatus@example.com").await, Some(("basic".into(), 30)));
}

/// Every product line buys its own time; the amount and currency are kept and shown; a refund
/// takes every line back.
async fn every_line_of_an_order_grants_and_the_amount_is_on_the_timeline(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    domain::payments::policies::create(&app.ctx.db, "88", "", tier_id(&app, "basic").await, 7)
        .await
        .unwrap();
    app.sign_up_verified("lines@example.com", PASSWORD).await;
    let mut two_lines = order("order.completed", 21, "lines@example.com", "COMPLETED", None);
    two_lines["data"]["products"] = json!([{"id": 77}, {"id": 88, "quantity": 2}]);
    two_lines["data"]["total"] = json!("4999");
    two_lines["data"]["currency"] = json!("EUR");
    deliver(&app, &two_lines).await;
    // The same delivery again: nothing more.
    deliver(
        &app,
        &order("order.completed", 21, "lines@example.com", "COMPLETED", None),
    )
    .await;
    settle(&app).await;
    assert_eq!(access(&app, "lines@example.com").await, Some(("basic".into(), 30 + 14)));
    let grants = domain::entitlements::grants_for_email(&app.ctx.db, "lines@example.com")
        .await
        .unwrap();
    assert_eq!(grants.len(), 2, "one grant per line");
    let first = grants.iter().find(|g| g.order_id.as_deref() == Some("21")).unwrap();
    assert_eq!(
        (first.amount_minor, first.currency.as_deref()),
        (Some(4999), Some("EUR"))
    );
    let history = domain::entitlements::history(&app.ctx.db, "lines@example.com")
        .await
        .unwrap();
    assert!(
        history.iter().any(|h| h.detail.contains("paid 49.99 EUR")),
        "{history:?}"
    );

    deliver(&app, &order("order.updated", 21, "lines@example.com", "REFUNDED", None)).await;
    settle(&app).await;
    assert_eq!(access(&app, "lines@example.com").await, None, "both lines taken back");
}

async fn an_order_without_a_policy_fails_visibly_and_replays_after_one_is_added(backend: Backend) {
    let app = payments_app(backend).await;
    app.sign_up_verified("np@example.com", PASSWORD).await;
    deliver(&app, &order("order.completed", 7, "np@example.com", "COMPLETED", None)).await;
    let mut failures = Vec::new();
    for _ in 0..200 {
        failures = domain::payments::webhooks::failures(&app.ctx.db, 100).await.unwrap();
        if !failures.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].attempts, 1);
    assert!(
        failures[0]
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("no policy for product 77"),
        "{:?}",
        failures[0].last_error
    );
    assert_eq!(access(&app, "np@example.com").await, None);

    policy(&app, "", "advanced", 60).await;
    assert_eq!(
        domain::payments::webhooks::replay(&app.ctx.db, &[failures[0].id])
            .await
            .unwrap(),
        1
    );
    app.ctx.payment_events.notify_one();
    settle(&app).await;
    assert_eq!(access(&app, "np@example.com").await, Some(("advanced".into(), 60)));
    // Replaying a processed event does nothing (it is not failed any more).
    assert_eq!(
        domain::payments::webhooks::replay(&app.ctx.db, &[failures[0].id])
            .await
            .unwrap(),
        0
    );
}

async fn paid_before_sign_up_applies_when_the_account_is_created(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "pro", 30).await;
    deliver(
        &app,
        &order("order.completed", 3000, "early@example.com", "COMPLETED", None),
    )
    .await;
    settle(&app).await;
    app.sign_up_verified("Early@Example.com", PASSWORD).await;
    assert_eq!(access(&app, "early@example.com").await, Some(("pro".into(), 30)));
    let kinds: Vec<String> = access_history(&app, "early@example.com")
        .await
        .into_iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(kinds, ["linked", "granted"]);
}

async fn a_returning_customer_is_known_by_sellapp_id_before_email(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    app.sign_up_verified("first@example.com", PASSWORD).await;
    let mut first = order("order.completed", 1, "first@example.com", "COMPLETED", None);
    first["data"]["customer_information"]["id"] = json!(4242);
    deliver(&app, &first).await;
    settle(&app).await;
    // Same Sell.app customer, paying with another email: the account is found by the id.
    let mut second = order("order.completed", 2, "other-address@example.com", "COMPLETED", None);
    second["data"]["customer_information"]["id"] = json!(4242);
    deliver(&app, &second).await;
    settle(&app).await;
    assert_eq!(access(&app, "first@example.com").await, Some(("basic".into(), 60)));
}

async fn customer_access_view_counts_down_from_the_ledger(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "pro", 30).await;
    let session = app.sign_up_verified("view@example.com", PASSWORD).await;
    let view = |session: String| {
        let app = &app;
        async move {
            let res = app.call("/rpc/access", &[], Some(&session)).await;
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let before = view(session.clone()).await;
    assert_eq!(before["tier"], Value::Null);
    assert_eq!(before["seconds_left"], 0);
    deliver(
        &app,
        &order("order.completed", 88, "view@example.com", "COMPLETED", None),
    )
    .await;
    settle(&app).await;
    let after = view(session.clone()).await;
    assert_eq!(after["tier"], "Pro");
    let left = after["seconds_left"].as_i64().unwrap();
    assert!((30 * 86_400 - 60..=30 * 86_400).contains(&left), "{left}");
    assert_eq!(after["orders"][0]["reference"], "Order #88");
    // Nobody else's access is readable: the function answers for the caller only.
    assert_eq!(app.call("/rpc/access", &[], None).await.status(), 401);
}

async fn admin_policies_and_failure_inbox_work_through_server_functions(backend: Backend) {
    let app = payments_app(backend).await;
    let admin = app.sign_up_verified("boss@example.com", PASSWORD).await;
    app.make_admin("boss@example.com").await;
    let tier = tier_id(&app, "advanced").await.to_string();
    let res = app
        .call(
            "/rpc/admin/policies/create",
            &[("product_id", "77"), ("variant_id", ""), ("tier", &tier), ("days", "0")],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.json::<Value>().await.unwrap()["Invalid"]["field"], "days");

    app.sign_up_verified("late-policy@example.com", PASSWORD).await;
    deliver(
        &app,
        &order("order.completed", 5, "late-policy@example.com", "COMPLETED", None),
    )
    .await;
    for _ in 0..200 {
        if !domain::payments::webhooks::failures(&app.ctx.db, 100)
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failures: Value = app
        .call("/rpc/admin/webhooks/failures", &[], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failures[0]["event"], "order.completed");
    assert!(
        failures[0]["payload"]
            .as_str()
            .unwrap()
            .contains("late-policy@example.com")
    );

    let res = app
        .call(
            "/rpc/admin/policies/create",
            &[
                ("product_id", "77"),
                ("variant_id", ""),
                ("tier", &tier),
                ("days", "30"),
            ],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 200);
    let queued: Value = app
        .call("/rpc/admin/webhooks/replay", &[("id", "all")], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queued, 1);
    settle(&app).await;
    assert_eq!(
        access(&app, "late-policy@example.com").await,
        Some(("advanced".into(), 30))
    );
    let failures: Value = app
        .call("/rpc/admin/webhooks/failures", &[], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failures, json!([]));

    // Update: the policy now buys 45 days; a bad value is refused and changes nothing.
    let listed: Value = app
        .call("/rpc/admin/policies", &[], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let id = listed["policies"][0]["id"].as_str().unwrap().to_owned();
    let res = app
        .call(
            "/rpc/admin/policies/update",
            &[("id", &id), ("tier", &tier), ("days", "-1")],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = app
        .call(
            "/rpc/admin/policies/update",
            &[("id", &id), ("tier", &tier), ("days", "45")],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 200);
    let listed: Value = app
        .call("/rpc/admin/policies", &[], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["policies"][0]["days"], 45);
    let res = app
        .call("/rpc/admin/policies/delete", &[("id", &id)], Some(&admin))
        .await;
    assert_eq!(res.status(), 200);
    let listed: Value = app
        .call("/rpc/admin/policies", &[], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["policies"], json!([]));
}

fn invoice(id: u64, email: &str, status: &str) -> Value {
    order("order.updated", id, email, status, None)["data"].clone()
}

async fn w5_reconciliation_repairs_missed_payments_and_refunds(backend: Backend) {
    use crate::fake_sellapp::{FakeSellapp, KEY};
    use domain::payments::reconcile::{ReconcileError, SellappApi};
    let fake = FakeSellapp::default();
    let base = fake.start().await;
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    app.sign_up_verified("paid@example.com", PASSWORD).await;
    app.sign_up_verified("missed@example.com", PASSWORD).await;
    deliver(
        &app,
        &order("order.completed", 1, "paid@example.com", "COMPLETED", None),
    )
    .await;
    settle(&app).await;

    // Sell.app's truth: order 1 was refunded and order 2 paid, both webhooks lost; 150 other
    // invoices make it two pages; the API first answers 429, then 503.
    {
        let mut invoices = fake.invoices.lock().unwrap();
        invoices.push(invoice(1, "paid@example.com", "REFUNDED"));
        invoices.push(invoice(2, "missed@example.com", "COMPLETED"));
        for i in 0..150 {
            invoices.push(invoice(1000 + i, "someone@example.com", "PENDING"));
        }
        fake.faults.lock().unwrap().extend([429, 503]);
    }
    let api = SellappApi::new(base.parse().unwrap(), domain::Secret::new(KEY.into()));
    let report = domain::payments::reconcile::run(&app.ctx.db, &api, None).await.unwrap();
    assert_eq!(report.invoices_seen, 152);
    assert_eq!(
        (report.granted.clone(), report.revoked.clone()),
        (vec!["2".to_owned()], vec!["1".to_owned()])
    );
    assert_eq!(access(&app, "paid@example.com").await, None);
    assert_eq!(access(&app, "missed@example.com").await, Some(("basic".into(), 30)));
    assert_eq!(fake.requests.lock().unwrap().len(), 4, "429 and 503 retried, two pages");
    let causes: Vec<(String, Option<String>)> = access_history(&app, "missed@example.com")
        .await
        .into_iter()
        .map(|c| (c.cause, c.actor))
        .collect();
    assert_eq!(
        causes,
        [("payment".to_owned(), Some("Sell.app reconciliation #2".to_owned()))]
    );

    // A second pass finds nothing to repair.
    let again = domain::payments::reconcile::run(&app.ctx.db, &api, None).await.unwrap();
    assert!(again.granted.is_empty() && again.revoked.is_empty());

    let wrong = SellappApi::new(base.parse().unwrap(), domain::Secret::new("sk_wrong".into()));
    assert!(matches!(
        domain::payments::reconcile::run(&app.ctx.db, &wrong, None).await,
        Err(ReconcileError::BadKey)
    ));
}

async fn forged_signatures_never_raise_the_alert_but_failures_do(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("SELLAPP_WEBHOOK_SECRETS", SECRET), ("PAYMENT_ALERT_THRESHOLD", "3")],
    )
    .await;
    let admin = app.sign_up_verified("alert@example.com", PASSWORD).await;
    app.make_admin("alert@example.com").await;
    let banners = || async {
        app.call("/rpc/admin/payments/alert", &[], Some(&admin))
            .await
            .json::<Value>()
            .await
            .unwrap()
    };
    let admin_page = || async {
        app.client
            .get(app.url("/admin/users"))
            .header("cookie", format!("sd_session={admin}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert_eq!(banners().await, json!({"alert": null, "rejections": null}));
    // Anyone can send badly signed requests: they are refused, counted and noticed, but they
    // never raise the payment alert.
    for _ in 0..50 {
        assert_eq!(deliver_raw(&app, b"{}", Some(&"0".repeat(64))).await.status(), 401);
    }
    let b = banners().await;
    assert_eq!(b["alert"], Value::Null, "{b}");
    assert!(
        b["rejections"]
            .as_str()
            .unwrap()
            .starts_with("50 webhook deliveries with a wrong"),
        "{b}"
    );
    // Wake the worker so it has certainly looked at the alert since.
    app.ctx.payment_events.notify_one();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let metrics = app.metrics().await;
    assert!(metrics.contains("\nsignaldesk_payment_alert 0\n"), "{metrics}");
    assert!(
        metrics.contains("signaldesk_webhook_signature_rejections_recent 50"),
        "{metrics}"
    );
    let page = admin_page().await;
    assert!(page.contains("data-testid=\"signature-notice\"") && !page.contains("data-testid=\"payment-alert\""));

    // Processing failures (orders nobody priced) do raise it.
    app.sign_up_verified("nopolicy@example.com", PASSWORD).await;
    for id in 1..=3 {
        deliver(
            &app,
            &order("order.completed", id, "nopolicy@example.com", "COMPLETED", None),
        )
        .await;
    }
    let mut gauge = String::new();
    for _ in 0..250 {
        gauge = app.metrics().await;
        if gauge.contains("\nsignaldesk_payment_alert 1\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gauge.contains("\nsignaldesk_payment_alert 1\n"), "{gauge}");
    let b = banners().await;
    assert!(
        b["alert"]
            .as_str()
            .is_some_and(|a| a.contains("3 failed payment event(s)")),
        "{b}"
    );
    assert!(
        admin_page().await.contains("data-testid=\"payment-alert\""),
        "the admin console shows the banner"
    );
}

const ROLES: &str = "basic=1300000000000000001,advanced=1300000000000000002,pro=1300000000000000003";

/// The role-sync jobs: (unique key, payload, status).
async fn role_jobs(app: &TestApp) -> Vec<(String, serde_json::Value, entity::job::JobStatus)> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    entity::job::Entity::find()
        .filter(entity::job::Column::Kind.eq(entity::job::JobKind::RoleSync))
        .order_by_asc(entity::job::Column::Id)
        .all(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .map(|j| {
            (
                j.unique_key.unwrap_or_default(),
                serde_json::from_str(&j.payload).unwrap(),
                j.status,
            )
        })
        .collect()
}

/// Links a Discord account the way the OAuth callback stores it.
async fn link_discord(app: &TestApp, user_id: i64, discord_user_id: i64) {
    use sea_orm::{ActiveModelTrait, Set};
    entity::discord_link::ActiveModel {
        user_id: Set(user_id),
        discord_user_id: Set(discord_user_id),
        username: Set(format!("trader{discord_user_id}")),
        linked_at: Set(Utc::now()),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
}

async fn roles_app(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        &[
            ("SELLAPP_WEBHOOK_SECRETS", SECRET),
            ("CUSTOMER_GUILD_ID", "1300000000000000000"),
            ("TIER_ROLES", ROLES),
        ],
    )
    .await
}

async fn j1_role_jobs_commit_with_the_access_change_and_never_without_it(backend: Backend) {
    use sea_orm::TransactionTrait;
    let app = roles_app(backend).await;
    policy(&app, "", "pro", 30).await;
    app.sign_up_verified("roles@example.com", PASSWORD).await;
    let uid = user_id(&app, "roles@example.com").await;
    link_discord(&app, uid, 1400000000000000001).await;
    deliver(
        &app,
        &order("order.completed", 61, "roles@example.com", "COMPLETED", None),
    )
    .await;
    settle(&app).await;
    let jobs = role_jobs(&app).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        jobs[0].1,
        serde_json::json!({"user_id": uid, "discord_user_id": 1400000000000000001i64, "guild_id": 1300000000000000000i64}),
        "the job names who, never which roles"
    );
    assert_eq!(jobs[0].2, entity::job::JobStatus::Queued);
    // A change that rolls back leaves no job behind.
    let map = domain::role_sync::RoleGuild::from_config(&app.ctx.config).unwrap();
    let txn = app.ctx.db.begin().await.unwrap();
    entity::job::Entity::delete_many().exec(&txn).await.unwrap();
    domain::role_sync::sync_user(&txn, &map, uid).await.unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(role_jobs(&app).await.len(), 1);
    // Nobody linked: nothing to sync.
    app.sign_up_verified("unlinked@example.com", PASSWORD).await;
    let other = user_id(&app, "unlinked@example.com").await;
    assert_eq!(domain::role_sync::sync_user(&app.ctx.db, &map, other).await.unwrap(), 0);
}

async fn j10_one_queued_role_job_per_customer(backend: Backend) {
    let app = roles_app(backend).await;
    app.sign_up_verified("j10@example.com", PASSWORD).await;
    let uid = user_id(&app, "j10@example.com").await;
    link_discord(&app, uid, 1400000000000000002).await;
    let map = domain::role_sync::RoleGuild::from_config(&app.ctx.config).unwrap();
    for slug in ["basic", "pro"] {
        domain::entitlements::admin_grant(
            &app.ctx.db,
            Some(&map),
            domain::entitlements::NewGrant {
                user_id: Some(uid),
                email: "j10@example.com".into(),
                order_id: None,
                tier_id: tier_id(&app, slug).await,
                days: 7,
                starts_at: Utc::now(),
                cause: domain::entitlements::GrantCause::Admin,
                reason: "goodwill".into(),
                actor: Some("admin test".into()),
                amount_minor: None,
                currency: None,
            },
        )
        .await
        .unwrap();
    }
    let jobs = role_jobs(&app).await;
    assert_eq!(jobs.len(), 1, "two changes, one queued job for the customer: {jobs:?}");
}

async fn expiry_is_recorded_once_and_queues_the_role_revoke(backend: Backend) {
    let app = roles_app(backend).await;
    app.sign_up_verified("expired@example.com", PASSWORD).await;
    let uid = user_id(&app, "expired@example.com").await;
    link_discord(&app, uid, 1400000000000000003).await;
    let now = Utc::now();
    domain::entitlements::grant(
        &app.ctx.db,
        domain::entitlements::NewGrant {
            user_id: Some(uid),
            email: "expired@example.com".into(),
            order_id: Some("expiry-1".into()),
            tier_id: tier_id(&app, "basic").await,
            days: 1,
            starts_at: now - chrono::Duration::hours(30),
            cause: domain::entitlements::GrantCause::Payment,
            reason: "test".into(),
            actor: Some("test".into()),
            amount_minor: None,
            currency: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        access(&app, "expired@example.com").await,
        None,
        "readers see the end without any sweep"
    );
    let map = domain::role_sync::RoleGuild::from_config(&app.ctx.config).unwrap();
    assert_eq!(
        domain::entitlements::record_expiries(&app.ctx.db, Some(&map), now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        domain::entitlements::record_expiries(&app.ctx.db, Some(&map), now)
            .await
            .unwrap(),
        0
    );
    let kinds: Vec<String> = access_history(&app, "expired@example.com")
        .await
        .into_iter()
        .map(|c| c.kind)
        .collect();
    assert_eq!(kinds, ["expired", "granted"]);
    assert_eq!(role_jobs(&app).await.len(), 1, "the expiry queued role sync");
}

fn grant_of(
    email: &str,
    user: i64,
    tier_id: i32,
    days: i32,
    starts_at: chrono::DateTime<Utc>,
) -> domain::entitlements::NewGrant {
    domain::entitlements::NewGrant {
        user_id: Some(user),
        email: email.into(),
        order_id: None,
        tier_id,
        days,
        starts_at,
        cause: domain::entitlements::GrantCause::Admin,
        reason: "test".into(),
        actor: Some("test".into()),
        amount_minor: None,
        currency: None,
    }
}

/// Pro for a day on top of a month of basic: when pro ends, basic resumes, and the role must
/// follow (the sweep finds the step-down by the stored moment of the next change).
async fn a_tier_step_down_queues_role_sync(backend: Backend) {
    let app = roles_app(backend).await;
    app.sign_up_verified("steps@example.com", PASSWORD).await;
    let uid = user_id(&app, "steps@example.com").await;
    link_discord(&app, uid, 1400000000000000004).await;
    let map = domain::role_sync::RoleGuild::from_config(&app.ctx.config).unwrap();
    let now = Utc::now();
    for (tier, days) in [("basic", 30), ("pro", 1)] {
        domain::entitlements::admin_grant(
            &app.ctx.db,
            Some(&map),
            grant_of("steps@example.com", uid, tier_id(&app, tier).await, days, now),
        )
        .await
        .unwrap();
    }
    entity::job::Entity::delete_many().exec(&app.ctx.db).await.unwrap();
    let later = now + chrono::Duration::days(1) + chrono::Duration::minutes(1);
    let at = domain::entitlements::access_at(&app.ctx.db, uid, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(at.tier.slug, "basic", "the ledger steps down");
    assert_eq!(
        domain::entitlements::record_expiries(&app.ctx.db, Some(&map), now)
            .await
            .unwrap(),
        0,
        "nothing due yet"
    );
    assert_eq!(
        domain::entitlements::record_expiries(&app.ctx.db, Some(&map), later)
            .await
            .unwrap(),
        1
    );
    assert_eq!(role_jobs(&app).await.len(), 1, "the step-down queued role sync");
    let history = domain::entitlements::history(&app.ctx.db, "steps@example.com")
        .await
        .unwrap();
    assert!(
        history.iter().all(|h| h.kind != "expired"),
        "access goes on: {history:?}"
    );
}

/// Every process was down for ten days: the end that passed meanwhile is recorded by the
/// running sweep as soon as it starts looking, with no window that could miss it.
async fn an_expiry_during_a_long_outage_is_recorded_on_start(backend: Backend) {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    let app = roles_app(backend).await;
    app.sign_up_verified("outage@example.com", PASSWORD).await;
    let uid = user_id(&app, "outage@example.com").await;
    link_discord(&app, uid, 1400000000000000005).await;
    let long_ago = Utc::now() - chrono::Duration::days(11);
    domain::entitlements::grant(
        &app.ctx.db,
        grant_of("outage@example.com", uid, tier_id(&app, "basic").await, 1, long_ago),
    )
    .await
    .unwrap();
    // What the server stored when the grant was written, before the outage.
    entity::user_account::Entity::update_many()
        .col_expr(
            entity::user_account::Column::AccessChangesAt,
            Expr::value(Some(long_ago + chrono::Duration::days(1))),
        )
        .filter(entity::user_account::Column::Id.eq(uid))
        .exec(&app.ctx.db)
        .await
        .unwrap();
    // The app's own payment worker sweeps every few seconds.
    let mut kinds = Vec::new();
    for _ in 0..100 {
        kinds = domain::entitlements::history(&app.ctx.db, "outage@example.com")
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.kind)
            .collect::<Vec<_>>();
        if kinds.contains(&"expired".to_owned()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(kinds.iter().filter(|k| *k == "expired").count(), 1, "{kinds:?}");
    assert!(!role_jobs(&app).await.is_empty(), "and the role removal is queued");
}

async fn admin_grants_and_revokes_with_a_reason_on_the_timeline(backend: Backend) {
    let app = payments_app(backend).await;
    let admin = app.sign_up_verified("ops@example.com", PASSWORD).await;
    app.make_admin("ops@example.com").await;
    app.sign_up_verified("vip@example.com", PASSWORD).await;
    let tier = tier_id(&app, "advanced").await.to_string();
    let grant = |reason: &'static str, request: &'static str| {
        let (app, admin, tier) = (&app, admin.clone(), tier.clone());
        async move {
            app.call(
                "/rpc/admin/customers/grant",
                &[
                    ("email", "vip@example.com"),
                    ("tier", &tier),
                    ("days", "14"),
                    ("reason", reason),
                    ("request", request),
                ],
                Some(&admin),
            )
            .await
            .status()
        }
    };
    assert_eq!(grant("  ", "form-0001").await, 422, "a reason is required");
    assert_eq!(access(&app, "vip@example.com").await, None);
    assert_eq!(grant("compensation for the outage", "form-0002").await, 200);
    assert_eq!(access(&app, "vip@example.com").await, Some(("advanced".into(), 14)));
    // The same form submitted again (a double click, a retried request) grants once.
    assert_eq!(grant("compensation for the outage", "form-0002").await, 200);
    assert_eq!(access(&app, "vip@example.com").await, Some(("advanced".into(), 14)));
    assert_eq!(grant("compensation", "").await, 422, "no request key, no grant");

    let view: Value = app
        .call(
            "/rpc/admin/customers/one",
            &[("email", "VIP@example.com")],
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["tier"], "Advanced");
    assert_eq!(view["timeline"][0]["cause"], "admin by ops@example.com");
    let grant_id = view["grants"][0]["id"].as_str().unwrap().to_owned();
    let found: Value = app
        .call("/rpc/admin/customers", &[("query", "vip")], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found, json!(["vip@example.com"]));

    let res = app
        .call(
            "/rpc/admin/customers/revoke",
            &[("id", &grant_id), ("reason", "granted by mistake")],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(access(&app, "vip@example.com").await, None);
    let kinds: Vec<String> = domain::entitlements::history(&app.ctx.db, "vip@example.com")
        .await
        .unwrap()
        .into_iter()
        .map(|c| format!("{}: {}", c.kind, c.detail))
        .collect();
    assert_eq!(kinds[0], "revoked: granted by mistake");
}

/// W2, crash after the acknowledgement: the first process stores the delivery and dies before
/// processing it; a new process on the same database processes it on start.
async fn w2_an_event_stored_before_a_crash_is_processed_after_restart(backend: Backend) {
    use std::collections::BTreeMap;
    let database = crate::helpers::TestDatabase::create(backend).await;
    let mut settings = database.settings();
    settings.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
    settings.insert("SELLAPP_WEBHOOK_SECRETS".into(), SECRET.into());
    let config = || domain::Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).unwrap();

    // First process: receives (stores) and "crashes" — it never runs its worker.
    let first = server::Application::build(config()).await.unwrap();
    let db = first.context().db.clone();
    let tier = domain::entitlements::tiers(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.slug == "pro")
        .unwrap();
    domain::payments::policies::create(&db, PRODUCT, "", tier.id, 30)
        .await
        .unwrap();
    // Made by the operator, so the address counts as verified.
    domain::accounts::create(
        &db,
        "restart@example.com",
        domain::Secret::new(PASSWORD.into()),
        domain::accounts::Role::Customer,
    )
    .await
    .unwrap();
    let body = serde_json::to_vec(&order("order.completed", 777, "restart@example.com", "COMPLETED", None)).unwrap();
    let env = domain::payments::webhooks::envelope(&body).unwrap();
    domain::payments::webhooks::store(&db, &env, &body).await.unwrap();
    drop(first);

    // Second process on the same database.
    let second = server::Application::build(config()).await.unwrap();
    let ctx = second.context().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(second.run_until(async move {
        let _ = rx.await;
    }));
    let uid = domain::accounts::id_for_email(&ctx.db, "restart@example.com")
        .await
        .unwrap()
        .unwrap();
    let mut access = None;
    for _ in 0..100 {
        access = domain::entitlements::access_at(&ctx.db, uid, Utc::now()).await.unwrap();
        if access.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(access.map(|a| a.tier.slug).as_deref(), Some("pro"));
    let _ = tx.send(());
    running.await.unwrap().unwrap();
    drop(database);
}

async fn a_grant_left_waiting_by_a_race_is_claimed_at_the_next_sign_in(backend: Backend) {
    let app = payments_app(backend).await;
    app.sign_up_verified("race@example.com", PASSWORD).await;
    // As if the payment was processed while the account was being created: waiting, no user.
    domain::entitlements::grant(
        &app.ctx.db,
        domain::entitlements::NewGrant {
            user_id: None,
            email: "race@example.com".into(),
            order_id: Some("race-1".into()),
            tier_id: tier_id(&app, "basic").await,
            days: 30,
            starts_at: Utc::now(),
            cause: domain::entitlements::GrantCause::Payment,
            reason: "test".into(),
            actor: Some("order.completed #race-1".into()),
            amount_minor: None,
            currency: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(access(&app, "race@example.com").await, None);
    assert!(app.sign_in("race@example.com", PASSWORD).await.status().is_success());
    assert_eq!(access(&app, "race@example.com").await, Some(("basic".into(), 30)));
}

/// Processes racing to take the same order back (a refund webhook, a dispute, reconciliation)
/// revoke it once and write one timeline entry.
async fn racing_refunds_take_an_order_back_once(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    app.sign_up_verified("race-refund@example.com", PASSWORD).await;
    deliver(
        &app,
        &order("order.completed", 31, "race-refund@example.com", "COMPLETED", None),
    )
    .await;
    settle(&app).await;
    let races = (0..10).map(|i| {
        let db = app.ctx.db.clone();
        tokio::spawn(async move {
            domain::entitlements::revoke_order(&db, "31", "race-refund@example.com", "refunded", &format!("racer {i}"))
                .await
        })
    });
    let mut took = 0;
    for r in futures_util::future::join_all(races).await {
        if r.unwrap().unwrap().is_some() {
            took += 1;
        }
    }
    assert_eq!(took, 1, "exactly one racer took it back");
    let history = domain::entitlements::history(&app.ctx.db, "race-refund@example.com")
        .await
        .unwrap();
    assert_eq!(history.iter().filter(|h| h.kind == "revoked").count(), 1, "{history:?}");
    assert_eq!(access(&app, "race-refund@example.com").await, None);
}

/// Every server process sweeps expiries; racing sweeps record each expiry once.
async fn racing_expiry_sweeps_record_an_expiry_once(backend: Backend) {
    let app = payments_app(backend).await;
    app.sign_up_verified("race-expiry@example.com", PASSWORD).await;
    let user = domain::accounts::id_for_email(&app.ctx.db, "race-expiry@example.com")
        .await
        .unwrap()
        .unwrap();
    let tier = tier_id(&app, "basic").await;
    // A day of access that ended a second ago; another customer's has a day left.
    for (email, uid, ends_in) in [
        ("race-expiry@example.com", Some(user), chrono::Duration::seconds(-1)),
        ("still-on@example.com", None, chrono::Duration::days(1)),
    ] {
        domain::entitlements::grant(
            &app.ctx.db,
            domain::entitlements::NewGrant {
                user_id: uid,
                email: email.into(),
                order_id: None,
                tier_id: tier,
                days: 1,
                starts_at: Utc::now() - chrono::Duration::days(1) + ends_in,
                cause: domain::entitlements::GrantCause::Admin,
                reason: "test".into(),
                actor: Some("test".into()),
                amount_minor: None,
                currency: None,
            },
        )
        .await
        .unwrap();
    }
    let sweeps = (0..6).map(|_| {
        let db = app.ctx.db.clone();
        tokio::spawn(async move { domain::entitlements::record_expiries(&db, None, Utc::now()).await })
    });
    let recorded: usize = futures_util::future::join_all(sweeps)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .sum();
    // The app's own payment worker sweeps too (every few seconds): it may be the one that
    // records the end, so the sweeps here record it at most once, and the ledger holds it once.
    assert!(recorded <= 1, "{recorded} sweeps recorded the same end");
    let history = domain::entitlements::history(&app.ctx.db, "race-expiry@example.com")
        .await
        .unwrap();
    assert_eq!(history.iter().filter(|h| h.kind == "expired").count(), 1, "{history:?}");
}

/// PostgreSQL enforces every declared length (SQLite ignores them, so only this run can catch an
/// overflow): an admin with a 254-character address grants and revokes from /admin/customers,
/// and is named as the actor on the timeline; an order id of 64 characters with several lines
/// grants and is refunded; a payer address past 254 characters is a visible processing failure,
/// never a database error.
async fn long_addresses_and_ids_fit_their_columns(backend: Backend) {
    let app = payments_app(backend).await;
    // Every DNS label at most 63 characters, the whole address at RFC 5321's 254.
    let long_admin = format!(
        "{}@{}.{}.{}.example.com",
        "o".repeat(64),
        "d".repeat(60),
        "e".repeat(60),
        "f".repeat(55)
    );
    assert_eq!(long_admin.len(), 254);
    let admin = app.sign_up_verified(&long_admin, PASSWORD).await;
    app.make_admin(&long_admin).await;
    app.sign_up_verified("long@example.com", PASSWORD).await;
    let tier = tier_id(&app, "pro").await.to_string();
    let res = app
        .call(
            "/rpc/admin/customers/grant",
            &[
                ("email", "long@example.com"),
                ("tier", &tier),
                ("days", "3"),
                ("reason", "a long address"),
                ("request", &"k".repeat(64)),
            ],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(access(&app, "long@example.com").await, Some(("pro".into(), 3)));
    let view: Value = app
        .call(
            "/rpc/admin/customers/one",
            &[("email", "long@example.com")],
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["timeline"][0]["cause"], format!("admin by {long_admin}"));
    let grant_id = view["grants"][0]["id"].as_str().unwrap().to_owned();
    let res = app
        .call(
            "/rpc/admin/customers/revoke",
            &[("id", &grant_id), ("reason", "done")],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(access(&app, "long@example.com").await, None);
    let history = domain::entitlements::history(&app.ctx.db, "long@example.com")
        .await
        .unwrap();
    assert_eq!(
        (
            history[0].kind.as_str(),
            history[0].cause.as_str(),
            history[0].actor.as_deref()
        ),
        ("revoked", "admin", Some(long_admin.as_str()))
    );

    // An order id at its 64-character limit, with lines after the first.
    policy(&app, "", "basic", 30).await;
    let long_id = "9".repeat(64);
    let mut lines = order("order.completed", 1, "long@example.com", "COMPLETED", None);
    lines["data"]["id"] = json!(long_id);
    lines["data"]["products"] = json!([{"id": 77}, {"id": 77}, {"id": 77}]);
    deliver(&app, &lines).await;
    settle(&app).await;
    assert_eq!(access(&app, "long@example.com").await, Some(("basic".into(), 90)));
    let mut refund = order("order.updated", 1, "long@example.com", "REFUNDED", None);
    refund["data"]["id"] = json!(long_id);
    deliver(&app, &refund).await;
    settle(&app).await;
    assert_eq!(access(&app, "long@example.com").await, None);

    // A payer address no account could have: a failure the operator sees, with its reason.
    let too_long = format!("{}@example.com", "p".repeat(250));
    deliver(&app, &order("order.completed", 2, &too_long, "COMPLETED", None)).await;
    let failures = failures_soon(&app).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    let error = failures[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("email"), "{error}");
}

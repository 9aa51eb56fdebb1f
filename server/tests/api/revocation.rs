//! Rights that end while a dashboard is open: every way a customer's session or access can be
//! taken away closes their open feed socket within a second — on SQLite and PostgreSQL, whether
//! the change comes through this server, a signed webhook, or the CLI in another process — and
//! the server sends nothing after. An extension while open moves the socket's end instead.
//! A change written without its rights-log row (a missed wake-up) is still caught by the
//! process's batched backstop (`server::feed_roster`) within `FEED_RECHECK_SECONDS`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::capture::{Source, create};
use crate::feed::{Socket, connect, customer_with_access, next};
use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::on_both_databases;
use crate::payments::{SECRET, deliver, order, policy};

on_both_databases!(
    s4_signing_out_closes_the_open_feed,
    s4_sign_out_everywhere_closes_the_other_browsers_feed,
    s4_a_password_change_closes_the_other_browsers_feed,
    s4_demoting_an_admin_from_the_cli_closes_their_feed,
    s9_a_refund_closes_the_feed,
    s9_a_dispute_closes_the_feed,
    s9_an_admin_revoke_closes_the_feed,
    an_extension_while_the_feed_is_open_moves_its_end,
    backstop_closes_a_feed_whose_session_ended_without_a_notice,
    backstop_closes_a_feed_whose_grant_ended_without_a_notice,
    backstop_sweep_names_only_the_sockets_whose_rights_differ,
);

const EMAIL: &str = "open@example.com";
const LIMIT: Duration = Duration::from_secs(1);

async fn open(app: &TestApp, session: &str) -> Socket {
    let mut ws = connect(app, Some(session), &app.address, None).await.unwrap();
    let hello = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (hello["type"].as_str(), hello["state"].as_str()),
        (Some("access"), Some("active"))
    );
    ws
}

/// Runs `trigger` (which returns once the change has committed), then expects the socket to say
/// `state` and close within [`LIMIT`]; then ingests a signal and checks nothing more arrives.
async fn closes_within_a_second(s: &Source, ws: &mut Socket, state: &str, trigger: impl Future<Output = ()>) {
    trigger.await;
    let said = closes_saying(ws, state, LIMIT).await;
    assert!(said < LIMIT, "took {said:?}");
    s.event(create(990_001, "after the end")).await;
    match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
        Ok(None) | Ok(Some(Err(_))) | Err(_) => {}
        Ok(Some(Ok(m))) => assert!(!m.is_text(), "sent after the end: {m:?}"),
    }
}

async fn with_access(backend: Backend) -> (Source, String) {
    let s = Source::start(backend).await;
    let session = customer_with_access(&s.app, EMAIL, chrono::Duration::days(1)).await;
    (s, session)
}

async fn s4_signing_out_closes_the_open_feed(backend: Backend) {
    let (s, session) = with_access(backend).await;
    let mut ws = open(&s.app, &session).await;
    closes_within_a_second(&s, &mut ws, "signed_out", async {
        let res = s.app.call("/rpc/sign-out", &[], Some(&session)).await;
        assert!(res.status().is_success() || res.status().is_redirection());
    })
    .await;
}

async fn s4_sign_out_everywhere_closes_the_other_browsers_feed(backend: Backend) {
    let (s, laptop) = with_access(backend).await;
    let phone = crate::helpers::session_cookie(&s.app.sign_in(EMAIL, PASSWORD).await).unwrap();
    let mut ws = open(&s.app, &laptop).await;
    let mut own = open(&s.app, &phone).await;
    closes_within_a_second(&s, &mut ws, "signed_out", async {
        let res = s.app.call("/rpc/sessions/revoke-others", &[], Some(&phone)).await;
        assert_eq!(res.status(), 200);
    })
    .await;
    // The browser that asked keeps its feed.
    let still = next(&mut own, Duration::from_secs(2)).await.unwrap();
    assert_eq!(still["type"], "event", "the asking browser's feed goes on: {still}");
}

async fn s4_a_password_change_closes_the_other_browsers_feed(backend: Backend) {
    let (s, laptop) = with_access(backend).await;
    let phone = crate::helpers::session_cookie(&s.app.sign_in(EMAIL, PASSWORD).await).unwrap();
    let mut ws = open(&s.app, &laptop).await;
    closes_within_a_second(&s, &mut ws, "signed_out", async {
        let res = s
            .app
            .call(
                "/rpc/password",
                &[
                    ("current_password", PASSWORD),
                    ("new_password", "an entirely new passphrase"),
                ],
                Some(&phone),
            )
            .await;
        assert_eq!(res.status(), 200);
    })
    .await;
}

async fn s4_demoting_an_admin_from_the_cli_closes_their_feed(backend: Backend) {
    let (s, session) = with_access(backend).await;
    s.app.make_admin(EMAIL).await;
    let mut ws = open(&s.app, &session).await;
    let settings = s.app.database_settings();
    closes_within_a_second(&s, &mut ws, "signed_out", async {
        // The real CLI, another process: only the database carries the change across.
        let out = tokio::task::spawn_blocking(move || {
            crate::helpers::server_cli(&["admin", "demote", "--email", EMAIL], &settings)
        })
        .await
        .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    })
    .await;
    assert_eq!(s.app.whoami(&session).await, None, "the demoted admin's session ended");
}

/// A customer whose only access is Sell.app order 1 (paid through a signed webhook).
async fn paid(backend: Backend) -> (Source, String) {
    let s = Source::start_with(backend, &[("SELLAPP_WEBHOOK_SECRETS", SECRET)]).await;
    policy(&s.app, "", "basic", 30).await;
    let session = s.app.sign_up_verified(EMAIL, PASSWORD).await;
    deliver(&s.app, &order("order.completed", 1, EMAIL, "COMPLETED", None)).await;
    for _ in 0..100 {
        if crate::payments::access(&s.app, EMAIL).await.is_some() {
            return (s, session);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the payment never granted access");
}

/// Delivers a webhook and waits until it has been processed (the change committed).
async fn take_back(s: &Source, event: &str, status: &str) {
    deliver(&s.app, &order(event, 1, EMAIL, status, None)).await;
    crate::payments::settle(&s.app).await;
}

async fn s9_a_refund_closes_the_feed(backend: Backend) {
    let (s, session) = paid(backend).await;
    let mut ws = open(&s.app, &session).await;
    closes_within_a_second(&s, &mut ws, "ended", take_back(&s, "order.updated", "REFUNDED")).await;
}

async fn s9_a_dispute_closes_the_feed(backend: Backend) {
    let (s, session) = paid(backend).await;
    let mut ws = open(&s.app, &session).await;
    closes_within_a_second(&s, &mut ws, "ended", take_back(&s, "order.disputed", "DISPUTING")).await;
}

async fn s9_an_admin_revoke_closes_the_feed(backend: Backend) {
    let (s, session) = with_access(backend).await;
    let admin = s.app.sign_up("ops@example.com", PASSWORD).await;
    s.app.make_admin("ops@example.com").await;
    let grant = domain::entitlements::grants_for_email(&s.app.ctx.db, EMAIL)
        .await
        .unwrap()[0]
        .id;
    let mut ws = open(&s.app, &session).await;
    closes_within_a_second(&s, &mut ws, "ended", async {
        let res = s
            .app
            .call(
                "/rpc/admin/customers/revoke",
                &[("id", &grant.to_string()), ("reason", "chargeback by phone")],
                Some(&admin),
            )
            .await;
        assert_eq!(res.status(), 200);
    })
    .await;
}

async fn an_extension_while_the_feed_is_open_moves_its_end(backend: Backend) {
    let s = Source::start(backend).await;
    // Six seconds: an admin's sign-up and the extension must fit inside them on a loaded machine.
    let session = customer_with_access(&s.app, EMAIL, chrono::Duration::seconds(6)).await;
    let admin = s.app.sign_up("ops@example.com", PASSWORD).await;
    s.app.make_admin("ops@example.com").await;
    let mut ws = open(&s.app, &session).await;
    let tier = domain::entitlements::tiers(&s.app.ctx.db).await.unwrap()[0]
        .id
        .to_string();
    let res = s
        .app
        .call(
            "/rpc/admin/customers/grant",
            &[
                ("email", EMAIL),
                ("tier", &tier),
                ("days", "30"),
                ("reason", "goodwill"),
                ("request", "extend-0001"),
            ],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 200);
    let moved = next(&mut ws, LIMIT).await.expect("the new end within a second");
    assert_eq!(
        (moved["type"].as_str(), moved["state"].as_str()),
        (Some("access"), Some("active"))
    );
    // Past the old end the feed still delivers.
    tokio::time::sleep(Duration::from_secs(7)).await;
    s.event(create(990_002, "still live")).await;
    let e = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(e["signal"]["content"], "still live");
}

/// The backstop runs every second in these tests.
const RECHECK: &[(&str, &str)] = &[("FEED_RECHECK_SECONDS", "1")];

/// Lets the rights-change log's notices of the set-up (the grant) reach the socket first: one
/// arriving after the silent change would wake the socket instead of the backstop.
async fn settle_notices() {
    tokio::time::sleep(server::rights_watch::POLL * 5).await;
}

/// Waits (up to `within`) for the socket to say `state` and close, and returns how long until it
/// said it; heartbeats are fine, anything else is not.
async fn closes_saying(ws: &mut Socket, state: &str, within: Duration) -> Duration {
    let started = Instant::now();
    let mut said = None;
    loop {
        let left = within.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                match v["type"].as_str() {
                    Some("heartbeat") => {}
                    Some("access") if v["state"] == state => said = Some(started.elapsed()),
                    _ => panic!("unexpected message while rights ended: {v}"),
                }
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("the socket was still open {within:?} after the change (said {state}: {said:?})"),
        }
    }
    said.unwrap_or_else(|| panic!("the socket closed without saying {state}"))
}

async fn backstop_closes_a_feed_whose_session_ended_without_a_notice(backend: Backend) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let s = Source::start_with(backend, RECHECK).await;
    let session = customer_with_access(&s.app, EMAIL, chrono::Duration::days(1)).await;
    let mut ws = open(&s.app, &session).await;
    settle_notices().await;
    // Revoked behind the app's back: no rights-log row, so nothing wakes the socket but the
    // backstop.
    let hash = domain::sessions::hash_token(&session);
    let done = entity::session::Entity::update_many()
        .col_expr(entity::session::Column::RevokedAt, Expr::value(chrono::Utc::now()))
        .filter(entity::session::Column::TokenHash.eq(hash))
        .exec(&s.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(done.rows_affected, 1);
    closes_saying(&mut ws, "signed_out", Duration::from_secs(4)).await;
}

async fn backstop_closes_a_feed_whose_grant_ended_without_a_notice(backend: Backend) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let s = Source::start_with(backend, RECHECK).await;
    let session = customer_with_access(&s.app, EMAIL, chrono::Duration::days(1)).await;
    let mut ws = open(&s.app, &session).await;
    settle_notices().await;
    let done = entity::entitlement_grant::Entity::update_many()
        .col_expr(
            entity::entitlement_grant::Column::RevokedAt,
            Expr::value(chrono::Utc::now()),
        )
        .filter(entity::entitlement_grant::Column::Email.eq(EMAIL))
        .exec(&s.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(done.rows_affected, 1);
    closes_saying(&mut ws, "ended", Duration::from_secs(4)).await;
}

/// The sweep itself: a socket holding the rights the database gives is left alone (steady state
/// costs no socket a read); one holding other rights, or on a dead session, is named once.
async fn backstop_sweep_names_only_the_sockets_whose_rights_differ(backend: Backend) {
    use server::feed_roster::{FeedRoster, Rights, sweep};
    let app = crate::helpers::spawn_app(backend).await;
    let a = customer_with_access(&app, EMAIL, chrono::Duration::days(1)).await;
    let b = customer_with_access(&app, "other@example.com", chrono::Duration::days(1)).await;
    let (signed_a, access_a) = domain::sessions::resolve_with_access(&app.ctx.db, &app.ctx.tiers, &a)
        .await
        .unwrap()
        .unwrap();
    let (signed_b, access_b) = domain::sessions::resolve_with_access(&app.ctx.db, &app.ctx.tiers, &b)
        .await
        .unwrap()
        .unwrap();
    let (rights_a, rights_b) = (Rights::of(&access_a.unwrap()), Rights::of(&access_b.unwrap()));
    let roster = FeedRoster::default();
    let _a1 = roster.seat(signed_a.account.id, signed_a.session.id, rights_a);
    let _a2 = roster.seat(signed_a.account.id, signed_a.session.id, rights_a);
    let b1 = roster.seat(signed_b.account.id, signed_b.session.id, rights_b);
    assert_eq!(sweep(&app.ctx, &roster).await.unwrap(), Vec::<i64>::new());
    // A socket that holds a stale end (as if it missed an extension) is named.
    b1.holds(Rights {
        access_ends: rights_b.access_ends - chrono::Duration::hours(1),
        ..rights_b
    });
    assert_eq!(sweep(&app.ctx, &roster).await.unwrap(), vec![signed_b.account.id]);
    b1.holds(rights_b);
    // A session signed out (through the app: the sweep does not care how) names its user once,
    // however many sockets it has.
    domain::sessions::revoke_token(&app.ctx.db, &a).await.unwrap();
    assert_eq!(sweep(&app.ctx, &roster).await.unwrap(), vec![signed_a.account.id]);
    // A socket that closed leaves the roster.
    drop(b1);
    assert_eq!(roster.len(), 2);
}

//! Channels by tier (issue 13, item 5): a channel opens from a tier up. The dashboard's server
//! render, the websocket's replay and its live frames all leave out what the customer's tier
//! does not open; an upgrade opens the channel with its history at once, a downgrade closes it at
//! that second; the plans list which channels each tier opens, from the data.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use crate::capture::{GENERAL, SIGNALS, Source, create};
use crate::feed::{connect, next};
use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::on_both_databases;

on_both_databases!(
    s9_a_basic_customer_never_receives_a_pro_channel,
    an_upgrade_opens_the_channel_and_its_history_at_once,
    a_downgrade_closes_the_channel_at_that_second,
    plans_list_the_channels_each_tier_opens,
    the_admin_sets_a_channel_tier_with_clear_refusals,
    a_tier_added_after_the_process_read_its_tiers_opens_the_feed,
);

/// A message in #general (the pro channel here).
pub fn in_general(id: u64, content: &str) -> Value {
    let mut e = create(id, content);
    e["channel_id"] = json!(GENERAL);
    e
}

/// #signals opens to every tier, #general from Pro up.
pub async fn two_channels(backend: Backend) -> Source {
    let s = Source::start(backend).await;
    let db = &s.app.ctx.db;
    domain::discovery::set_flag(db, GENERAL.parse().unwrap(), domain::discovery::Role::Source, true)
        .await
        .unwrap();
    let pro = s.app.tier_id("pro").await;
    domain::channel_tiers::set_min_tier(db, GENERAL.parse().unwrap(), Some(pro))
        .await
        .unwrap();
    s
}

/// Gives `email` a grant of `slug` that started `started_ago` ago and lasts `days`.
pub async fn grant(app: &TestApp, email: &str, slug: &str, starts_at: chrono::DateTime<Utc>, days: i32) {
    let uid = domain::accounts::id_for_email(&app.ctx.db, email)
        .await
        .unwrap()
        .unwrap();
    domain::entitlements::grant(
        &app.ctx.db,
        domain::entitlements::NewGrant {
            user_id: Some(uid),
            email: email.into(),
            order_id: None,
            tier_id: app.tier_id(slug).await,
            days,
            starts_at,
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

async fn customer(app: &TestApp, email: &str, slug: &str) -> String {
    let session = app.sign_up(email, PASSWORD).await;
    grant(app, email, slug, Utc::now(), 30).await;
    session
}

async fn dashboard(app: &TestApp, session: &str) -> Value {
    let res = app.call("/rpc/dashboard", &[], Some(session)).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn contents(view: &Value) -> Vec<String> {
    view["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["content"].as_str().unwrap().to_owned())
        .collect()
}

/// The next event's content, skipping access frames.
async fn next_event(ws: &mut crate::feed::Socket, wait: Duration) -> Option<Value> {
    loop {
        let v = next(ws, wait).await?;
        if v["type"] != "access" {
            return Some(v);
        }
    }
}

async fn s9_a_basic_customer_never_receives_a_pro_channel(backend: Backend) {
    let s = two_channels(backend).await;
    s.batch(vec![create(1, "for everyone"), in_general(2, "pro only")])
        .await;
    let basic = customer(&s.app, "basic@example.com", "basic").await;
    let pro = customer(&s.app, "pro@example.com", "pro").await;

    // The server render (the dashboard's data).
    let b = dashboard(&s.app, &basic).await;
    assert_eq!(contents(&b), ["for everyone"]);
    assert_eq!(b["access"]["channels"], json!(["signals"]));
    assert_eq!(b["access"]["locked"], json!([["general", "Pro"]]));
    let page = s.app.get_with_session("/dashboard", &basic).await;
    assert!(!page.contains("pro only"), "the page never carries it");
    assert!(page.contains("Upgrade to read #general (Pro)"));
    let p = dashboard(&s.app, &pro).await;
    assert_eq!(contents(&p), ["pro only", "for everyone"]);

    // The replay from the start, then live frames.
    let mut ws = connect(&s.app, Some(&basic), &s.app.address, Some(0)).await.unwrap();
    let first = next_event(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(first["signal"]["content"], "for everyone");
    s.event(in_general(3, "pro, live")).await;
    s.event(create(4, "everyone, live")).await;
    let live = next_event(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(live["signal"]["content"], "everyone, live", "the pro frame was skipped");
    assert_eq!(next(&mut ws, Duration::from_millis(500)).await, None);

    let mut ws = connect(&s.app, Some(&pro), &s.app.address, Some(0)).await.unwrap();
    let mut seen = Vec::new();
    while let Some(e) = next_event(&mut ws, Duration::from_secs(2)).await {
        seen.push(e["signal"]["content"].as_str().unwrap().to_owned());
        if seen.len() == 4 {
            break;
        }
    }
    assert_eq!(seen, ["for everyone", "pro only", "pro, live", "everyone, live"]);
}

async fn an_upgrade_opens_the_channel_and_its_history_at_once(backend: Backend) {
    let s = two_channels(backend).await;
    s.event(in_general(1, "pro history")).await;
    let session = customer(&s.app, "climber@example.com", "basic").await;
    let mut ws = connect(&s.app, Some(&session), &s.app.address, None).await.unwrap();
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"], "access");
    s.event(in_general(2, "before the upgrade")).await;
    assert_eq!(next(&mut ws, Duration::from_millis(500)).await, None);

    // The upgrade (what a paid webhook writes): the open socket tells the page to reload its list.
    grant(&s.app, "climber@example.com", "pro", Utc::now(), 30).await;
    let resync = next_event(&mut ws, Duration::from_secs(3)).await.unwrap();
    assert_eq!(
        (resync["type"].as_str(), resync["reason"].as_str()),
        (Some("resync"), Some("tier"))
    );
    assert_eq!(
        contents(&dashboard(&s.app, &session).await),
        ["before the upgrade", "pro history"],
        "the history is open at once"
    );
    s.event(in_general(3, "after the upgrade")).await;
    assert_eq!(
        next_event(&mut ws, Duration::from_secs(5)).await.unwrap()["signal"]["content"],
        "after the upgrade"
    );
}

async fn a_downgrade_closes_the_channel_at_that_second(backend: Backend) {
    let s = two_channels(backend).await;
    let email = "stepdown@example.com";
    let session = s.app.sign_up(email, PASSWORD).await;
    // A day of Pro that ends in 6 s, with a day of Basic paused behind it (6 s: the grants, the
    // socket and the first event must fit before it even on a loaded machine).
    let started = Utc::now() - chrono::Duration::days(1) + chrono::Duration::seconds(6);
    grant(&s.app, email, "pro", started, 1).await;
    grant(&s.app, email, "basic", started, 1).await;
    let mut ws = connect(&s.app, Some(&session), &s.app.address, None).await.unwrap();
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"], "access");
    let pro_ends = started + chrono::Duration::days(1);
    s.event(in_general(1, "while pro")).await;
    assert_eq!(
        next_event(&mut ws, Duration::from_secs(2)).await.unwrap()["signal"]["content"],
        "while pro"
    );
    let resync = next_event(&mut ws, Duration::from_secs(9)).await.unwrap();
    let at = Utc::now();
    assert_eq!(
        (resync["type"].as_str(), resync["reason"].as_str()),
        (Some("resync"), Some("tier"))
    );
    assert!(
        at >= pro_ends && at - pro_ends < chrono::Duration::milliseconds(2000),
        "closed at {at}, pro ended {pro_ends}"
    );
    s.event(in_general(2, "after pro")).await;
    s.event(create(3, "basic goes on")).await;
    assert_eq!(
        next_event(&mut ws, Duration::from_secs(5)).await.unwrap()["signal"]["content"],
        "basic goes on"
    );
    let view = dashboard(&s.app, &session).await;
    assert_eq!(contents(&view), ["basic goes on"]);
    assert_eq!(view["access"]["tier"], "Basic");
}

async fn plans_list_the_channels_each_tier_opens(backend: Backend) {
    let s = two_channels(backend).await;
    let res = s.app.call("/rpc/plans", &[], None).await;
    assert_eq!(res.status(), 200);
    let plans: Value = res.json().await.unwrap();
    let of = |slug: &str| plans.as_array().unwrap().iter().find(|p| p["slug"] == slug).unwrap()["channels"].clone();
    assert_eq!(of("basic"), json!(["signals"]));
    assert_eq!(of("advanced"), json!(["signals"]));
    assert_eq!(of("pro"), json!(["signals", "general"]));
    let home = s.app.get("/").await.text().await.unwrap();
    assert!(
        home.contains("Channels: #signals, #general"),
        "the landing page lists them"
    );
    assert!(
        !home.contains("the advanced channels"),
        "no fixed text promises channels"
    );
}

async fn the_admin_sets_a_channel_tier_with_clear_refusals(backend: Backend) {
    let s = Source::start(backend).await;
    let admin = s.app.sign_up_verified("ops@example.com", PASSWORD).await;
    s.app.make_admin("ops@example.com").await;
    let pro = s.app.tier_id("pro").await.to_string();
    let set = |channel: &'static str, tier: String| {
        let (app, admin) = (&s.app, admin.clone());
        async move {
            app.call(
                "/rpc/admin/channels/tier",
                &[("channel", channel), ("tier", &tier)],
                Some(&admin),
            )
            .await
        }
    };
    assert_eq!(set(SIGNALS, pro.clone()).await.status(), 200);
    let view: Value = s
        .app
        .call("/rpc/admin/channels", &[("guild", crate::capture::GUILD)], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let row = view["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == SIGNALS)
        .unwrap()
        .clone();
    assert_eq!(
        (row["tier_id"].as_str(), row["tier_label"].as_str()),
        (Some(pro.as_str()), Some("Pro and up"))
    );
    for (tier, why) in [("999", "no such tier"), ("pro", "not a tier id")] {
        let res = set(SIGNALS, tier.into()).await;
        assert_eq!(res.status(), 422, "{tier}");
        assert!(res.text().await.unwrap().contains(why), "{tier}");
    }
    assert_eq!(set("1100000000000000999", pro.clone()).await.status(), 404);
    assert_eq!(set(SIGNALS, String::new()).await.status(), 200, "back to every tier");
    let customer = s.app.sign_up("cust@example.com", PASSWORD).await;
    let res = s
        .app
        .call(
            "/rpc/admin/channels/tier",
            &[("channel", SIGNALS), ("tier", &pro)],
            Some(&customer),
        )
        .await;
    assert_eq!(res.status(), 403);
}

/// The feed's handshake takes the tiers from the process's copy: a tier added since (a newer
/// process ran a migration) is read again rather than costing its customers their feed.
async fn a_tier_added_after_the_process_read_its_tiers_opens_the_feed(backend: Backend) {
    use sea_orm::{ActiveModelTrait, Set};
    let s = Source::start(backend).await;
    let early = s.app.sign_up("early@example.com", PASSWORD).await;
    grant(&s.app, "early@example.com", "basic", Utc::now(), 30).await;
    let mut ws = connect(&s.app, Some(&early), &s.app.address, None).await.unwrap();
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"], "access");
    entity::tier::ActiveModel {
        slug: Set("elite".into()),
        name: Set("Elite".into()),
        rank: Set(100),
        description: Set(String::new()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&s.app.ctx.db)
    .await
    .unwrap();
    let session = s.app.sign_up("elite@example.com", PASSWORD).await;
    grant(&s.app, "elite@example.com", "elite", Utc::now(), 30).await;
    let mut ws = connect(&s.app, Some(&session), &s.app.address, None).await.unwrap();
    let hello = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (hello["type"].as_str(), hello["state"].as_str()),
        (Some("access"), Some("active"))
    );
    s.event(create(1, "for every tier")).await;
    assert_eq!(
        next_event(&mut ws, Duration::from_secs(5)).await.unwrap()["signal"]["content"],
        "for every tier"
    );
}

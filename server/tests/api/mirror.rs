//! `/rpc/admin/mirror*` and `/metrics`: the delivery ledger's latency per operation, the gap
//! audit (a signal in a mapped channel with no copy and nothing queued) and its re-queue, and
//! mirror jobs queued by ingest only while the connector forwards.

use chrono::{Duration, Utc};
use domain::discovery::{self, ChannelInfo, GuildInfo, Role};
use domain::snowflake::Snowflake;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    ingest_queues_one_mirror_job_per_target_only_while_forwarding,
    the_gap_audit_finds_a_missing_copy_and_requeue_fills_it,
    latency_per_operation_shows_on_the_page_and_in_metrics,
    a_mapping_never_copies_a_channel_to_readers_its_tier_does_not_open,
);

const PASSWORD: &str = "correct horse battery";
const SOURCE_GUILD: i64 = 1_500_000_000_000_000_000;
const SOURCE: i64 = 1_500_000_000_000_000_001;
const CUSTOMERS: i64 = 1_600_000_000_000_000_000;
const TARGETS: [i64; 2] = [1_600_000_000_000_000_001, 1_600_000_000_000_000_002];

struct Mirrored {
    app: TestApp,
    admin: String,
    connector: domain::connectors::Connector,
}

async fn mirrored(backend: Backend, forwarding: bool) -> Mirrored {
    let app = spawn_app(backend).await;
    let admin = app.sign_up_verified("ops@example.com", PASSWORD).await;
    app.make_admin("ops@example.com").await;
    let db = &app.ctx.db;
    let (connector, _) = domain::connectors::create(db, "Collector").await.unwrap();
    let guild = |id: i64| GuildInfo {
        id: Snowflake::from_db(id),
        name: "g".into(),
        icon: None,
    };
    discovery::record_guilds(db, &connector, &[guild(SOURCE_GUILD), guild(CUSTOMERS)])
        .await
        .unwrap();
    let channel = |id: i64| ChannelInfo {
        id: Snowflake::from_db(id),
        name: format!("c{id}"),
        kind: 0,
        parent_id: None,
        position: 0,
    };
    discovery::record_channels(db, &connector, Snowflake::from_db(SOURCE_GUILD), &[channel(SOURCE)])
        .await
        .unwrap();
    discovery::record_channels(db, &connector, Snowflake::from_db(CUSTOMERS), &TARGETS.map(channel))
        .await
        .unwrap();
    discovery::set_flag(db, Snowflake::from_db(SOURCE), Role::Source, true)
        .await
        .unwrap();
    for t in TARGETS {
        discovery::set_flag(db, Snowflake::from_db(t), Role::Target, true)
            .await
            .unwrap();
        discovery::create_mapping(db, Snowflake::from_db(SOURCE), Snowflake::from_db(t))
            .await
            .unwrap();
    }
    let connector = domain::connectors::set_forwarding(db, &connector.pid, forwarding)
        .await
        .unwrap();
    Mirrored { app, admin, connector }
}

impl Mirrored {
    async fn post(&self, id: u64, content: &str) {
        let event = json!({
            "type": "message_create", "guild_id": SOURCE_GUILD.to_string(), "channel_id": SOURCE.to_string(),
            "message_id": id.to_string(), "author": {"id": "1500000000000000050", "name": "Head Trader"},
            "content": content, "created_at": Utc::now().to_rfc3339(),
        });
        let items = vec![domain::ingest::parse(event, Utc::now())];
        let feed = domain::feed::Feed::new();
        domain::ingest::ingest(&self.app.ctx.db, &feed, &self.connector, items)
            .await
            .unwrap();
    }

    async fn view(&self) -> Value {
        let res = self.app.call("/rpc/admin/mirror", &[], Some(&self.admin)).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }
}

async fn mirror_jobs(app: &TestApp) -> Vec<entity::job::Model> {
    entity::job::Entity::find()
        .all(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == entity::job::JobKind::Mirror)
        .collect()
}

async fn ingest_queues_one_mirror_job_per_target_only_while_forwarding(backend: Backend) {
    let on = mirrored(backend, true).await;
    on.post(1, "BTC long").await;
    let jobs = mirror_jobs(&on.app).await;
    assert_eq!(jobs.len(), 2, "one per mapped target");
    let copies = entity::mirror_copy::Entity::find().all(&on.app.ctx.db).await.unwrap();
    assert_eq!(copies.len(), 2);
    assert!(copies.iter().all(|c| c.state == "pending" && c.last_op == "create"));

    let off = mirrored(backend, false).await;
    off.post(1, "BTC long").await;
    assert!(
        mirror_jobs(&off.app).await.is_empty(),
        "forwarding off: nothing is mirrored"
    );
}

async fn the_gap_audit_finds_a_missing_copy_and_requeue_fills_it(backend: Backend) {
    let m = mirrored(backend, false).await;
    m.post(7, "missed while forwarding was off").await;
    // The audit gives fresh signals half a minute; this one is older.
    let signal = entity::signal::Entity::find()
        .one(&m.app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    let mut old: entity::signal::ActiveModel = signal.clone().into();
    old.ingested_at = Set(Utc::now() - Duration::minutes(2));
    old.update(&m.app.ctx.db).await.unwrap();

    let view = m.view().await;
    let gaps = view["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 2, "{view}");
    assert!(gaps[0]["why"].as_str().unwrap().contains("forwarding was off"));

    let target = TARGETS[0].to_string();
    let res = m
        .app
        .call(
            "/rpc/admin/mirror/requeue",
            &[("signal", &signal.id.to_string()), ("target", &target)],
            Some(&m.admin),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(mirror_jobs(&m.app).await.len(), 1);
    let view = m.view().await;
    assert_eq!(
        view["gaps"].as_array().unwrap().len(),
        1,
        "the re-queued copy is on its way"
    );

    let unmapped = m
        .app
        .call(
            "/rpc/admin/mirror/requeue",
            &[("signal", &signal.id.to_string()), ("target", "42")],
            Some(&m.admin),
        )
        .await;
    assert_eq!(unmapped.status(), 422);
    assert_eq!(
        mirror_jobs(&m.app).await.len(),
        1,
        "nothing queued for a target it is not mapped to"
    );
}

fn answered(at: chrono::DateTime<Utc>) -> domain::mirror::CopyUpdate {
    domain::mirror::CopyUpdate {
        state: Some(domain::mirror::state::LIVE),
        answered_at: Some(at),
        ..Default::default()
    }
}

async fn latency_per_operation_shows_on_the_page_and_in_metrics(backend: Backend) {
    let m = mirrored(backend, true).await;
    m.post(9, "fast").await;
    let now = Utc::now();
    for (i, copy) in entity::mirror_copy::Entity::find()
        .all(&m.app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .enumerate()
    {
        let id = copy.id;
        let mut c: entity::mirror_copy::ActiveModel = copy.into();
        c.accepted_at = Set(now - Duration::milliseconds(100 + 100 * i as i64));
        c.update(&m.app.ctx.db).await.unwrap();
        // Discord answered: recorded the way the bot's worker records it.
        domain::mirror::update_copy(&m.app.ctx.db, id, answered(now))
            .await
            .unwrap();
    }
    // A later edit of one copy: its create still counts (every operation is in the history).
    let first = entity::mirror_copy::Entity::find()
        .one(&m.app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    domain::mirror::queue(
        &m.app.ctx.db,
        first.signal_id,
        &[first.target_channel_id],
        domain::mirror::MirrorOp::Update,
        Some(now),
    )
    .await
    .unwrap();
    domain::mirror::update_copy(&m.app.ctx.db, first.id, answered(Utc::now()))
        .await
        .unwrap();
    let history = domain::mirror::ledger::history(&m.app.ctx.db, first.id).await.unwrap();
    assert_eq!(
        history.iter().map(|d| d.op.as_str()).collect::<Vec<_>>(),
        ["create", "update"]
    );
    assert!(history.iter().all(|d| d.answered_at >= d.accepted_at));
    let view = m.view().await;
    let update = view["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == "update")
        .unwrap()
        .clone();
    assert_eq!(update["count"], 1, "{update}");
    let create = view["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == "create")
        .unwrap()
        .clone();
    assert_eq!(create["count"], 2);
    assert!(
        (100..=120).contains(&create["p50_ms"].as_u64().unwrap())
            || (200..=220).contains(&create["p50_ms"].as_u64().unwrap()),
        "{create}"
    );
    assert!((200..=220).contains(&create["p99_ms"].as_u64().unwrap()), "{create}");
    assert_eq!(view["minutes"].as_array().unwrap().len(), 60);
    assert_eq!(view["minutes"][59][1], 3);

    let metrics = m.app.metrics().await;
    assert!(
        metrics.contains("# TYPE signaldesk_mirror_delivery_seconds summary"),
        "{metrics}"
    );
    assert!(
        metrics.contains("signaldesk_mirror_delivery_seconds_count{op=\"create\"} 2"),
        "{metrics}"
    );
}

/// Channels by tier, for the mirror: a target open to more tiers than its source is refused when
/// mapping and when changing either channel's tier, and ingest queues no copy into one that
/// slipped through (two admins' concurrent changes), written here straight to the database.
async fn a_mapping_never_copies_a_channel_to_readers_its_tier_does_not_open(backend: Backend) {
    let m = mirrored(backend, true).await;
    let db = &m.app.ctx.db;
    let pro = m.app.tier_id("pro").await;
    let call = |path: &'static str, form: Vec<(&'static str, String)>| {
        let (app, admin) = (&m.app, m.admin.clone());
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.call(path, &form, Some(&admin)).await
        }
    };
    // Raising the source above its (open) targets would leak: refused, nothing changed.
    let res = call(
        "/rpc/admin/channels/tier",
        vec![("channel", SOURCE.to_string()), ("tier", pro.to_string())],
    )
    .await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("would reach customers who may not read them"), "{body}");
    // Close both targets to Pro first; then the source may follow.
    for t in TARGETS {
        let res = call(
            "/rpc/admin/channels/tier",
            vec![("channel", t.to_string()), ("tier", pro.to_string())],
        )
        .await;
        assert_eq!(res.status(), 200);
    }
    let res = call(
        "/rpc/admin/channels/tier",
        vec![("channel", SOURCE.to_string()), ("tier", pro.to_string())],
    )
    .await;
    assert_eq!(res.status(), 200);
    // Opening a target again is refused while it is mapped from the Pro source.
    let res = call(
        "/rpc/admin/channels/tier",
        vec![("channel", TARGETS[0].to_string()), ("tier", String::new())],
    )
    .await;
    assert_eq!(res.status(), 422);
    // A new mapping into an open target is refused too.
    discovery::delete_mapping(db, discovery::mappings(db).await.unwrap()[0].id)
        .await
        .unwrap();
    let res = call(
        "/rpc/admin/channels/tier",
        vec![("channel", TARGETS[0].to_string()), ("tier", String::new())],
    )
    .await;
    assert_eq!(res.status(), 200, "unmapped, it may open");
    let res = call(
        "/rpc/admin/mappings/create",
        vec![("source", SOURCE.to_string()), ("target", TARGETS[0].to_string())],
    )
    .await;
    assert_eq!(res.status(), 422);

    // The last word at ingest: a leaky mapping written behind the checks' back gets no job.
    entity::channel_mapping::ActiveModel {
        source_channel_id: Set(SOURCE),
        target_channel_id: Set(TARGETS[0]),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    m.post(1, "pro signal").await;
    let jobs = mirror_jobs(&m.app).await;
    let targets: Vec<i64> = jobs
        .iter()
        .map(|j| {
            serde_json::from_str::<Value>(&j.payload).unwrap()["target_channel_id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(targets, [TARGETS[1]], "only the Pro target gets a copy");
}

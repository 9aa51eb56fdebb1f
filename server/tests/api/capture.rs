//! Signal capture through the real HTTP API (issue 4): connector auth, ingest semantics, feed
//! log and wake-ups, discovery, runtime config, and the replay tool. Every test runs on SQLite
//! and on PostgreSQL.

use std::collections::BTreeMap;

use entity::{feed_log, signal, signal_thread};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;

on_both_databases!(
    bearer_token_is_required_and_checked,
    rotated_token_keeps_working_for_the_grace_period_only,
    bad_input_gets_a_specific_error_and_stores_nothing,
    events_outside_source_channels_are_ignored_with_a_reason_and_never_stored,
    a_repeated_create_is_a_noop,
    an_update_applies_only_if_newer,
    delete_is_a_tombstone_that_nothing_resurrects,
    bulk_delete_tombstones_every_listed_message,
    batch_answers_per_item_and_keeps_the_good_ones,
    threads_under_source_channels_are_captured,
    any_delivery_order_converges_to_the_same_state,
    concurrent_identical_requests_make_one_signal,
    every_accepted_change_appends_one_feed_row_and_wakes_followers,
    runtime_config_answers_304_until_something_changes,
    fetch_channels_request_is_answered_once_and_not_replayed_after_restart,
    snapshots_keep_flags_and_mark_missing_channels,
    replay_tool_posts_a_jsonl_file,
    admin_functions_manage_connectors_flags_and_mappings,
    the_bot_connector_shows_its_capture_and_has_no_token,
);

/// F2: while PostgreSQL refuses connections, ingest answers 503 (nothing acknowledged is lost);
/// when it is back, the same server accepts again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_ingest_answers_503_while_postgres_is_down_and_recovers_without_restart() {
    use sea_orm::{ConnectionTrait, Database};
    let s = Source::start(Backend::Postgres).await;
    assert_eq!(s.event(create(1, "before the outage")).await["status"], "accepted");
    let db_name = s
        .app
        .ctx
        .db
        .get_postgres_connection_pool()
        .connect_options()
        .get_database()
        .unwrap()
        .to_owned();
    let admin = Database::connect(crate::helpers::postgres_admin_url()).await.unwrap();
    // `ALLOW_CONNECTIONS false` holds even for superusers (it is how template0 is closed).
    let outage = |down: bool| {
        let admin = &admin;
        let db_name = db_name.clone();
        async move {
            admin
                .execute_unprepared(&format!("ALTER DATABASE \"{db_name}\" ALLOW_CONNECTIONS {}", !down))
                .await
                .unwrap();
            if down {
                admin
                    .execute_unprepared(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}'"
                    ))
                    .await
                    .unwrap();
            }
        }
    };
    outage(true).await;
    let res = s.post("/api/v1/events", create(2, "during the outage")).await;
    let (status, code, _) = error_of(res).await;
    assert_eq!((status, code.as_str()), (503, "database_unavailable"));
    outage(false).await;
    // Back: the pool reconnects by itself; the connector's retry is accepted.
    let mut status = None;
    for _ in 0..50 {
        let res = s.post("/api/v1/events", create(2, "during the outage")).await;
        if res.status() == 200 {
            status = Some(
                res.json::<Value>().await.unwrap()["status"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(status.as_deref(), Some("accepted"));
    let contents: Vec<String> = s.signals().await.into_iter().map(|x| x.content).collect();
    assert_eq!(contents, ["before the outage", "during the outage"]);
}

pub const GUILD: &str = "1100000000000000001";
pub const SIGNALS: &str = "1100000000000000010";
pub const GENERAL: &str = "1100000000000000011";
pub const CATEGORY: &str = "1100000000000000012";
pub const AUTHOR: &str = "1100000000000000050";

/// A running app with one connector whose guild has a Source channel (#signals), a plain
/// channel (#general) and a category.
pub struct Source {
    pub app: TestApp,
    pub token: String,
    pub connector: domain::connectors::Connector,
}

impl Source {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    /// A source on an app started with extra settings.
    pub async fn start_with(backend: Backend, settings: &[(&str, &str)]) -> Self {
        let app = crate::helpers::spawn_app_with(backend, settings).await;
        let (connector, token) = domain::connectors::create(&app.ctx.db, "Collector").await.unwrap();
        let source = Source {
            app,
            token: token.expose().clone(),
            connector,
        };
        source.snapshot().await;
        domain::discovery::set_flag(
            &source.app.ctx.db,
            SIGNALS.parse().unwrap(),
            domain::discovery::Role::Source,
            true,
        )
        .await
        .unwrap();
        source
    }

    pub async fn snapshot(&self) {
        let res = self
            .put(
                "/api/v1/discovery/guilds",
                json!({"guilds": [{"id": GUILD, "name": "Alpha Signals"}]}),
            )
            .await;
        assert_eq!(res.status(), 200);
        let res = self
            .put(
                &format!("/api/v1/discovery/guilds/{GUILD}/channels"),
                json!({"channels": [
                    {"id": CATEGORY, "name": "Trading", "type": 4, "position": 0},
                    {"id": SIGNALS, "name": "signals", "type": 0, "parent_id": CATEGORY, "position": 1},
                    {"id": GENERAL, "name": "general", "type": 0, "position": 2},
                ]}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut req = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request")
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> reqwest::Response {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    /// Posts one event and returns the item result (asserting 200).
    pub async fn event(&self, event: Value) -> Value {
        let res = self.post("/api/v1/events", event).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    pub async fn batch(&self, events: Vec<Value>) -> Value {
        let res = self.post("/api/v1/events/batch", json!({ "events": events })).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    pub async fn signals(&self) -> Vec<signal::Model> {
        signal::Entity::find()
            .order_by_asc(signal::Column::MessageId)
            .all(&self.app.ctx.db)
            .await
            .unwrap()
    }

    pub async fn feed_rows(&self) -> Vec<feed_log::Model> {
        feed_log::Entity::find()
            .order_by_asc(feed_log::Column::Seq)
            .all(&self.app.ctx.db)
            .await
            .unwrap()
    }
}

pub fn message(kind: &str, id: u64, content: &str, edited: Option<&str>) -> Value {
    json!({
        "type": kind,
        "guild_id": GUILD, "channel_id": SIGNALS, "message_id": id.to_string(),
        "author": {"id": AUTHOR, "name": "Head Trader"},
        "content": content,
        "attachments": [{"id": "1100000000000000900", "filename": "chart.png",
            "url": "https://cdn.discordapp.com/attachments/1/2/chart.png", "content_type": "image/png",
            "size": 1000, "width": 640, "height": 480}],
        "created_at": "2026-11-27T12:00:00Z",
        "edited_at": edited,
    })
}

pub fn create(id: u64, content: &str) -> Value {
    message("message_create", id, content, None)
}

pub fn update(id: u64, content: &str, edited: &str) -> Value {
    message("message_update", id, content, Some(edited))
}

pub fn delete(id: u64, at: &str) -> Value {
    json!({"type": "message_delete", "guild_id": GUILD, "channel_id": SIGNALS, "message_id": id.to_string(), "deleted_at": at})
}

pub async fn error_of(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"].as_str().unwrap_or_default().to_owned(),
        body["error"]["message"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn bearer_token_is_required_and_checked(backend: Backend) {
    let s = Source::start(backend).await;
    let url = s.app.url("/api/v1/events");
    let res = s.app.client.post(&url).json(&create(1, "x")).send().await.unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(error_of(res).await.0, 401);
    let res = s
        .app
        .client
        .post(&url)
        .bearer_auth("sdc_not-a-real-token")
        .json(&create(1, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.0, 401);

    domain::connectors::set_enabled(&s.app.ctx.db, &s.connector.pid, false)
        .await
        .unwrap();
    let (status, code, _) = error_of(s.post("/api/v1/events", create(1, "x")).await).await;
    assert_eq!((status, code.as_str()), (403, "connector_disabled"));
    assert!(s.signals().await.is_empty(), "nothing stored from a disabled connector");

    domain::connectors::set_enabled(&s.app.ctx.db, &s.connector.pid, true)
        .await
        .unwrap();
    assert_eq!(s.event(create(1, "x")).await["status"], "accepted");
    let seen = domain::connectors::find(&s.app.ctx.db, &s.connector.pid).await.unwrap();
    assert!(seen.last_seen_at.is_some(), "last contact is recorded");
}

async fn rotated_token_keeps_working_for_the_grace_period_only(backend: Backend) {
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
    let mut s = Source::start(backend).await;
    let old = s.token.clone();
    let (_, new) = domain::connectors::rotate(&s.app.ctx.db, &s.connector.pid)
        .await
        .unwrap();
    assert_eq!(s.event(create(1, "old token, in grace")).await["status"], "accepted");
    s.token = new.expose().clone();
    assert_eq!(s.event(create(2, "new token")).await["status"], "accepted");

    // The grace period ends: the old token is refused, the new one still works.
    let c = domain::connectors::find(&s.app.ctx.db, &s.connector.pid).await.unwrap();
    let mut active = c.into_active_model();
    active.previous_token_expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    active.update(&s.app.ctx.db).await.unwrap();
    s.token = old;
    assert_eq!(error_of(s.post("/api/v1/events", create(3, "x")).await).await.0, 401);
    s.token = new.expose().clone();
    assert_eq!(s.event(create(3, "x")).await["status"], "accepted");
}

async fn bad_input_gets_a_specific_error_and_stores_nothing(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Source::start(backend).await;
    let url = s.app.url("/api/v1/events");

    let res = s
        .app
        .client
        .post(&url)
        .bearer_auth(&s.token)
        .header("content-type", "application/json")
        .body("{\"type\": \"message_create\", ")
        .send()
        .await
        .unwrap();
    let (status, code, message) = error_of(res).await;
    assert_eq!((status, code.as_str()), (400, "invalid_json"), "{message}");

    let mut bad = create(1, "x");
    bad["author"]["id"] = json!(1100000000000000050_u64);
    let (status, code, message) = error_of(s.post("/api/v1/events", bad).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_event"));
    assert!(message.starts_with("author.id:"), "{message}");

    let mut bad = create(1, "x");
    bad["attachments"][0]["url"] = json!("https://evil.example/chart.png");
    let (status, _, message) = error_of(s.post("/api/v1/events", bad).await).await;
    assert_eq!(status, 400);
    assert!(
        message.starts_with("attachments[0]:") && message.contains("not a Discord CDN host"),
        "{message}"
    );

    let res = s
        .app
        .client
        .post(&url)
        .bearer_auth(&s.token)
        .header("content-type", "text/plain")
        .body(create(1, "x").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.0, 415);

    let (status, code, message) = error_of(
        s.post("/api/v1/events/batch", json!({"events": vec![create(1, "x"); 1001]}))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "batch_too_large"), "{message}");

    // Over 1 MiB: refused from the headers alone.
    let addr = s.app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/events/batch HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        s.token,
        1024 * 1024 + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""code":"payload_too_large""#), "{answer}");

    assert!(s.signals().await.is_empty());
    assert!(s.feed_rows().await.is_empty());
}

async fn events_outside_source_channels_are_ignored_with_a_reason_and_never_stored(backend: Backend) {
    let s = Source::start(backend).await;
    let mut in_general = create(1, "chatter");
    in_general["channel_id"] = json!(GENERAL);
    let r = s.event(in_general).await;
    assert_eq!(r["status"], "ignored");
    assert_eq!(r["reason"], "channel #general is not a source channel");

    let mut unknown = create(2, "elsewhere");
    unknown["channel_id"] = json!("1100000000000000999");
    let r = s.event(unknown).await;
    assert_eq!(r["status"], "ignored");
    assert!(r["reason"].as_str().unwrap().starts_with("unknown channel"), "{r}");

    let mut wrong_guild = create(3, "spoofed guild");
    wrong_guild["guild_id"] = json!("1100000000000000777");
    assert_eq!(s.event(wrong_guild).await["status"], "ignored");

    let thread_in_general = json!({"type": "thread_create", "guild_id": GUILD, "channel_id": GENERAL,
        "thread_id": "1100000000000000400", "name": "side chat"});
    assert_eq!(s.event(thread_in_general).await["status"], "ignored");

    assert!(s.signals().await.is_empty());
    assert!(s.feed_rows().await.is_empty());
    assert_eq!(signal_thread::Entity::find().count(&s.app.ctx.db).await.unwrap(), 0);
}

async fn a_repeated_create_is_a_noop(backend: Backend) {
    let s = Source::start(backend).await;
    assert_eq!(s.event(create(1, "BUY BTC")).await["status"], "accepted");
    for _ in 0..3 {
        assert_eq!(s.event(create(1, "BUY BTC")).await["status"], "duplicate");
    }
    let signals = s.signals().await;
    assert_eq!(signals.len(), 1);
    assert_eq!(signals[0].content, "BUY BTC");
    assert_eq!(signals[0].message_id, 1);
    assert_eq!(s.feed_rows().await.len(), 1);
}

async fn an_update_applies_only_if_newer(backend: Backend) {
    let s = Source::start(backend).await;
    s.event(create(1, "BUY BTC 91k")).await;
    let r = s.event(update(1, "BUY BTC 90k", "2026-11-27T12:05:00Z")).await;
    assert_eq!(r["status"], "accepted");
    let r = s.event(update(1, "BUY BTC 95k", "2026-11-27T12:01:00Z")).await;
    assert_eq!(
        (r["status"].as_str(), r["reason"].as_str()),
        (Some("ignored"), Some("older than the stored version"))
    );
    // An edit that arrives before its create wins; the late create is stale.
    s.event(update(2, "edited first", "2026-11-27T12:03:00Z")).await;
    assert_eq!(s.event(create(2, "original")).await["status"], "ignored");

    let signals = s.signals().await;
    assert_eq!(signals[0].content, "BUY BTC 90k");
    assert_eq!(signals[0].edited_at.unwrap().to_rfc3339(), "2026-11-27T12:05:00+00:00");
    assert_eq!(signals[1].content, "edited first");
    let ops: Vec<String> = s.feed_rows().await.into_iter().map(|r| r.op).collect();
    assert_eq!(ops, ["message_created", "message_updated", "message_created"]);
}

async fn delete_is_a_tombstone_that_nothing_resurrects(backend: Backend) {
    let s = Source::start(backend).await;
    s.event(create(1, "BUY")).await;
    assert_eq!(s.event(delete(1, "2026-11-27T12:10:00Z")).await["status"], "accepted");
    assert_eq!(s.event(delete(1, "2026-11-27T12:11:00Z")).await["status"], "duplicate");
    let late = s.event(update(1, "sneaky edit", "2026-11-27T12:20:00Z")).await;
    assert_eq!(late["reason"], "message already deleted");
    assert_eq!(s.event(create(1, "BUY")).await["status"], "ignored");

    // A delete that overtakes its create leaves a tombstone the create cannot get past.
    assert_eq!(s.event(delete(2, "2026-11-27T12:10:00Z")).await["status"], "accepted");
    assert_eq!(s.event(create(2, "too late")).await["status"], "ignored");

    let signals = s.signals().await;
    assert!(signals.iter().all(|x| x.deleted_at.is_some()));
    assert_eq!(signals[0].content, "BUY", "the deleted content is kept for the record");
    assert_eq!(signals[1].content, "");
    let ops: Vec<String> = s.feed_rows().await.into_iter().map(|r| r.op).collect();
    assert_eq!(ops, ["message_created", "message_deleted", "message_deleted"]);
}

async fn bulk_delete_tombstones_every_listed_message(backend: Backend) {
    let s = Source::start(backend).await;
    s.event(create(1, "a")).await;
    s.event(create(2, "b")).await;
    let bulk = json!({"type": "message_bulk_delete", "guild_id": GUILD, "channel_id": SIGNALS,
        "message_ids": ["1", "2", "3"]});
    assert_eq!(s.event(bulk.clone()).await["status"], "accepted");
    assert_eq!(s.event(bulk).await["status"], "duplicate");
    let signals = s.signals().await;
    assert_eq!(signals.len(), 3);
    assert!(signals.iter().all(|x| x.deleted_at.is_some()));
}

async fn batch_answers_per_item_and_keeps_the_good_ones(backend: Backend) {
    let s = Source::start(backend).await;
    let mut bad = create(3, "x");
    bad["message_id"] = json!(3);
    let mut elsewhere = create(4, "x");
    elsewhere["channel_id"] = json!(GENERAL);
    let answer = s
        .batch(vec![
            create(1, "one"),
            create(1, "one"),
            bad,
            elsewhere,
            json!("not an object"),
            create(2, "two"),
        ])
        .await;
    let statuses: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["accepted", "duplicate", "rejected", "ignored", "rejected", "accepted"]
    );
    assert_eq!(answer["results"][2]["field"], "message_id");
    assert_eq!(answer["results"][4]["field"], "(event)");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(s.signals().await.len(), 2);
}

async fn threads_under_source_channels_are_captured(backend: Backend) {
    let s = Source::start(backend).await;
    const THREAD: &str = "1100000000000000400";
    let thread = |kind: &str, name: &str| json!({"type": kind, "guild_id": GUILD, "channel_id": SIGNALS, "thread_id": THREAD, "name": name});
    assert_eq!(
        s.event(thread("thread_create", "BTC trade #12")).await["status"],
        "accepted"
    );
    assert_eq!(
        s.event(thread("thread_create", "BTC trade #12")).await["status"],
        "duplicate"
    );

    // In a thread: named by thread_id, or (as Discord does) by the thread as the channel.
    let mut in_thread = create(1, "TP1 hit");
    in_thread["thread_id"] = json!(THREAD);
    assert_eq!(s.event(in_thread).await["status"], "accepted");
    let mut thread_as_channel = create(2, "TP2 hit");
    thread_as_channel["channel_id"] = json!(THREAD);
    assert_eq!(s.event(thread_as_channel).await["status"], "accepted");
    let signals = s.signals().await;
    for x in &signals {
        assert_eq!(x.channel_id.to_string(), SIGNALS);
        assert_eq!(x.thread_id.map(|t| t.to_string()).as_deref(), Some(THREAD));
    }

    assert_eq!(
        s.event(thread("thread_update", "BTC trade #12 (closed)")).await["status"],
        "accepted"
    );
    let del = json!({"type": "thread_delete", "guild_id": GUILD, "channel_id": SIGNALS, "thread_id": THREAD});
    assert_eq!(s.event(del.clone()).await["status"], "accepted");
    assert_eq!(s.event(del).await["status"], "duplicate");
    assert_eq!(
        s.event(thread("thread_update", "revived?")).await["reason"],
        "thread already deleted"
    );

    let t = signal_thread::Entity::find().one(&s.app.ctx.db).await.unwrap().unwrap();
    assert_eq!(t.name, "BTC trade #12 (closed)");
    assert!(t.deleted_at.is_some());
    let ops: Vec<String> = s.feed_rows().await.into_iter().map(|r| r.op).collect();
    assert_eq!(
        ops,
        [
            "thread_created",
            "message_created",
            "message_created",
            "thread_updated",
            "thread_deleted"
        ]
    );
}

/// What one message ends as, for comparing runs: its live version, or when it was deleted
/// (a tombstone keeps nothing else that a reader sees).
fn final_state(signals: &[signal::Model]) -> BTreeMap<i64, (String, Option<String>, Option<String>)> {
    signals
        .iter()
        .map(|s| {
            let state = match s.deleted_at {
                Some(at) => (String::new(), None, Some(at.to_rfc3339())),
                None => (s.content.clone(), s.edited_at.map(|t| t.to_rfc3339()), None),
            };
            (s.message_id, state)
        })
        .collect()
}

async fn any_delivery_order_converges_to_the_same_state(backend: Backend) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xC0FFEE);
    let mut events = Vec::new();
    for id in 1..=6u64 {
        events.push(create(id, &format!("m{id} v0")));
        for v in 1..=rng.gen_range(0..4) {
            let minute = rng.gen_range(1..4);
            events.push(update(
                id,
                &format!("m{id} v{v}"),
                &format!("2026-11-27T12:0{minute}:00Z"),
            ));
        }
        if rng.gen_bool(0.4) {
            events.push(delete(id, &format!("2026-11-27T12:3{}:00Z", rng.gen_range(0..3))));
        }
    }
    let mut expected = None;
    for round in 0..6 {
        let s = Source::start(backend).await;
        let mut delivery = events.clone();
        for _ in 0..rng.gen_range(0..6) {
            delivery.push(events[rng.gen_range(0..events.len())].clone());
        }
        delivery.shuffle(&mut rng);
        // Some one at a time, the rest in batches of random size.
        let split = rng.gen_range(0..delivery.len());
        for e in &delivery[..split] {
            s.event(e.clone()).await;
        }
        for chunk in delivery[split..].chunks(rng.gen_range(1..5)) {
            s.batch(chunk.to_vec()).await;
        }
        let state = final_state(&s.signals().await);
        match &expected {
            None => expected = Some(state),
            Some(want) => assert_eq!(&state, want, "round {round} diverged"),
        }
    }
}

async fn concurrent_identical_requests_make_one_signal(backend: Backend) {
    let s = Source::start(backend).await;
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let client = s.app.client.clone();
        let url = s.app.url("/api/v1/events");
        let token = s.token.clone();
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&create(1, "BUY ETH"))
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
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| *s == "accepted").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "duplicate").count(), 23);
    assert_eq!(s.signals().await.len(), 1);
    assert_eq!(s.feed_rows().await.len(), 1);
}

async fn every_accepted_change_appends_one_feed_row_and_wakes_followers(backend: Backend) {
    let s = Source::start(backend).await;
    let mut local = s.app.ctx.feed.subscribe();
    let mut listener = match backend {
        Backend::Postgres => {
            let pool = s.app.ctx.db.get_postgres_connection_pool().clone();
            let mut l = sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await.unwrap();
            l.listen(domain::feed::NOTIFY_CHANNEL).await.unwrap();
            Some(l)
        }
        Backend::Sqlite => None,
    };
    s.batch(vec![create(1, "a"), create(2, "b"), create(1, "a")]).await;
    let rows = s.feed_rows().await;
    assert_eq!(rows.len(), 2);
    assert!(rows[0].seq < rows[1].seq);
    let woke = tokio::time::timeout(std::time::Duration::from_secs(5), local.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(woke, rows[1].seq, "one wake-up per commit, carrying the last sequence");
    if let Some(l) = listener.as_mut() {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), l.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n.payload(), rows[1].seq.to_string(), "NOTIFY carries the id only");
    }
    // Nothing accepted, nothing appended, no news: any later wake-up (on PostgreSQL this
    // process's own LISTEN echoes its NOTIFY) carries no sequence beyond the last one.
    s.event(create(1, "a")).await;
    assert_eq!(s.feed_rows().await.len(), 2);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    while let Ok(seq) = local.try_recv() {
        assert!(seq <= rows[1].seq, "woken for {seq} after a duplicate");
    }
    let signal_ids: Vec<Option<i64>> = rows.iter().map(|r| r.signal_id).collect();
    let count = signal::Entity::find()
        .filter(signal::Column::Id.is_in(signal_ids.into_iter().flatten()))
        .count(&s.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(count, 2);
}

async fn runtime_config_answers_304_until_something_changes(backend: Backend) {
    let s = Source::start(backend).await;
    let res = s.send(reqwest::Method::GET, "/api/v1/connector/config", None).await;
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let config: Value = res.json().await.unwrap();
    assert_eq!(
        config["source_channels"],
        json!([{"guild_id": GUILD, "channel_id": SIGNALS, "name": "signals"}])
    );
    assert_eq!(etag, format!("\"{}\"", config["version"].as_str().unwrap()));

    let poll = |etag: String| {
        let client = s.app.client.clone();
        let url = s.app.url("/api/v1/connector/config");
        let token = s.token.clone();
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .header("if-none-match", etag)
                .send()
                .await
                .unwrap()
        }
    };
    let res = poll(etag.clone()).await;
    assert_eq!(res.status(), 304);
    assert!(res.bytes().await.unwrap().is_empty());

    domain::discovery::set_flag(
        &s.app.ctx.db,
        GENERAL.parse().unwrap(),
        domain::discovery::Role::Source,
        true,
    )
    .await
    .unwrap();
    let res = poll(etag.clone()).await;
    assert_eq!(res.status(), 200, "a new source channel changes the config");
    let new_etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(poll(new_etag).await.status(), 304);
}

async fn fetch_channels_request_is_answered_once_and_not_replayed_after_restart(backend: Backend) {
    let s = Source::start(backend).await;
    let config = || async {
        s.send(reqwest::Method::GET, "/api/v1/connector/config", None)
            .await
            .json::<Value>()
            .await
            .unwrap()
    };
    let req = domain::discovery::request_channels(&s.app.ctx.db, GUILD.parse().unwrap())
        .await
        .unwrap();
    let again = domain::discovery::request_channels(&s.app.ctx.db, GUILD.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(req.id, again.id, "one pending request per guild");
    assert_eq!(config().await["discovery_requests"][0]["guild_id"], GUILD);

    s.snapshot().await; // the connector answers with the guild's channels
    assert_eq!(config().await["discovery_requests"], json!([]));
    let latest = domain::discovery::latest_request(&s.app.ctx.db, GUILD.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.status, "answered");

    // A request made before the connector restarts is not replayed to the new process.
    domain::discovery::request_channels(&s.app.ctx.db, GUILD.parse().unwrap())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let hello = s
        .post("/api/v1/connector/hello", json!({"version": "collector 2.0.0"}))
        .await;
    assert_eq!(hello.status(), 200);
    let hello: Value = hello.json().await.unwrap();
    assert_eq!(hello["config"]["discovery_requests"], json!([]));
    let latest = domain::discovery::latest_request(&s.app.ctx.db, GUILD.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.status, "expired");
    let c = domain::connectors::find(&s.app.ctx.db, &s.connector.pid).await.unwrap();
    assert_eq!(c.version.as_deref(), Some("collector 2.0.0"));

    let res = s
        .put(
            "/api/v1/discovery/guilds/1100000000000000777/channels",
            json!({"channels": []}),
        )
        .await;
    assert_eq!(error_of(res).await.1, "unknown_guild");
}

async fn snapshots_keep_flags_and_mark_missing_channels(backend: Backend) {
    let s = Source::start(backend).await;
    let res = s
        .put(
            &format!("/api/v1/discovery/guilds/{GUILD}/channels"),
            json!({"channels": [{"id": SIGNALS, "name": "signals-vip", "type": 0, "position": 1}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let channels = domain::discovery::channels(&s.app.ctx.db, Some(GUILD.parse().unwrap()))
        .await
        .unwrap();
    let signals = channels.iter().find(|c| c.id.to_string() == SIGNALS).unwrap();
    assert!(signals.is_source && signals.present);
    assert_eq!(signals.name, "signals-vip");
    assert!(
        channels
            .iter()
            .filter(|c| c.id.to_string() != SIGNALS)
            .all(|c| !c.present)
    );

    let res = s
        .put(
            &format!("/api/v1/discovery/guilds/{GUILD}/channels"),
            json!({"channels": [{"id": SIGNALS, "name": "signals", "type": "text"}]}),
        )
        .await;
    let (status, _, message) = error_of(res).await;
    assert_eq!(status, 400);
    assert!(message.starts_with("channels[0].type"), "{message}");

    // A category can be neither source nor target.
    let err = domain::discovery::set_flag(
        &s.app.ctx.db,
        CATEGORY.parse().unwrap(),
        domain::discovery::Role::Target,
        true,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot be a target"), "{err}");
}

async fn replay_tool_posts_a_jsonl_file(backend: Backend) {
    let s = Source::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let mut lines: Vec<String> = (1..=25)
        .map(|i| create(i, &format!("signal {i}")).to_string())
        .collect();
    lines.push(String::new());
    lines.push(update(3, "signal 3, edited", "2026-11-27T12:05:00Z").to_string());
    lines.push(create(1, "signal 1").to_string());
    std::fs::write(&file, lines.join("\n")).unwrap();
    let mut progress = Vec::new();
    let totals = server::replay::run(&file, &s.app.address, &s.token, 10, &mut progress)
        .await
        .unwrap();
    assert_eq!((totals.sent, totals.accepted, totals.duplicate), (27, 26, 1));
    let progress = String::from_utf8(progress).unwrap();
    assert_eq!(progress.lines().count(), 3, "one progress line per batch: {progress}");
    assert_eq!(s.signals().await.len(), 25);

    let err = server::replay::run(&file, &s.app.address, "sdc_wrong", 10, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(err.contains("401"), "{err}");
}

async fn admin_functions_manage_connectors_flags_and_mappings(backend: Backend) {
    use crate::helpers::PASSWORD;
    let s = Source::start(backend).await;
    let admin = s.app.sign_up("ops@example.com", PASSWORD).await;
    s.app.make_admin("ops@example.com").await;
    let call = |path: &'static str, form: Vec<(&'static str, String)>| {
        let app = &s.app;
        let admin = admin.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = app.call(path, &form, Some(&admin)).await;
            (res.status().as_u16(), res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    let (status, issued) = call(
        "/rpc/admin/connectors/create",
        vec![("name", "Backup collector".into())],
    )
    .await;
    assert_eq!(status, 200);
    let token = issued["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("sdc_"));
    let (status, err) = call("/rpc/admin/connectors/create", vec![("name", "   ".into())]).await;
    assert_eq!(status, 422, "{err}");

    let (_, list) = call("/rpc/admin/connectors", vec![]).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Collector", "Backup collector"]);
    let stored = serde_json::to_string(
        &entity::connector::Entity::find()
            .all(&s.app.ctx.db)
            .await
            .unwrap()
            .iter()
            .map(|c| format!("{c:?}"))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(!stored.contains(&token), "only the token's hash is stored");

    // Mappings only between a Source and a Target channel.
    let (status, err) = call(
        "/rpc/admin/mappings/create",
        vec![("source", SIGNALS.into()), ("target", GENERAL.into())],
    )
    .await;
    assert_eq!(status, 422);
    assert!(err.to_string().contains("Target"), "{err}");
    let (status, _) = call(
        "/rpc/admin/channels/flag",
        vec![
            ("channel", GENERAL.into()),
            ("role", "target".into()),
            ("on", "true".into()),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        "/rpc/admin/mappings/create",
        vec![("source", SIGNALS.into()), ("target", GENERAL.into())],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        "/rpc/admin/mappings/create",
        vec![("source", SIGNALS.into()), ("target", GENERAL.into())],
    )
    .await;
    assert_eq!(status, 422, "no duplicate mapping");
    let (_, view) = call("/rpc/admin/mappings", vec![]).await;
    assert_eq!(view["mappings"].as_array().unwrap().len(), 1);
    assert_eq!(view["sources"][0]["id"], SIGNALS);
    assert_eq!(view["targets"][0]["id"], GENERAL);

    // Unflagging the target removes the mapping that needed it.
    call(
        "/rpc/admin/channels/flag",
        vec![
            ("channel", GENERAL.into()),
            ("role", "target".into()),
            ("on", "false".into()),
        ],
    )
    .await;
    let (_, view) = call("/rpc/admin/mappings", vec![]).await;
    assert_eq!(view["mappings"], json!([]));

    let (status, _) = call("/rpc/admin/channels/fetch", vec![("guild", GUILD.into())]).await;
    assert_eq!(status, 200);
    let (_, channels) = call("/rpc/admin/channels", vec![("guild", GUILD.into())]).await;
    assert_eq!(channels["request"], "pending");
    assert_eq!(channels["channels"].as_array().unwrap().len(), 3);

    s.event(create(1, "BUY SOL")).await;
    let (_, list) = call("/rpc/admin/connectors", vec![]).await;
    let events = &list[0]["events"];
    assert_eq!(events[0]["op"], "message_created");
    assert_eq!(events[0]["excerpt"], "BUY SOL");

    let (status, _) = call(
        "/rpc/admin/connectors/forwarding",
        vec![("id", s.connector.pid.clone()), ("forwarding", "true".into())],
    )
    .await;
    assert_eq!(status, 200);
    let res = s.send(reqwest::Method::GET, "/api/v1/connector/config", None).await;
    assert_eq!(res.json::<Value>().await.unwrap()["forwarding"], true);
}

/// The built-in connector on /admin/connectors: kind "Discord bot", which process captures, the
/// capture latency (Discord's timestamp → ingest accepted) over the last hour, its alert, no
/// token to rotate; the latency and the lease in /metrics; a channel's capture warning on
/// /admin/channels.
async fn the_bot_connector_shows_its_capture_and_has_no_token(backend: Backend) {
    use crate::helpers::PASSWORD;
    let s = Source::start_with(
        backend,
        &[("DISCORD_CLIENT_ID", "123456"), ("DISCORD_CLIENT_SECRET", "x")],
    )
    .await;
    let db = &s.app.ctx.db;
    let admin = s.app.sign_up("ops@example.com", PASSWORD).await;
    s.app.make_admin("ops@example.com").await;
    let bot = domain::capture::bot_connector(db).await.unwrap();
    assert_eq!(
        domain::capture::bot_connector(db).await.unwrap().id,
        bot.id,
        "one built-in connector"
    );
    // The guild moves to the bot (as an admin would reassign it), and a message it captured
    // 1.5 s after Discord stamped it.
    entity::guild::Entity::update_many()
        .col_expr(
            entity::guild::Column::ConnectorId,
            sea_orm::sea_query::Expr::value(bot.id),
        )
        .exec(db)
        .await
        .unwrap();
    let posted = chrono::Utc::now() - chrono::Duration::milliseconds(1500);
    let mut event = create(42, "captured by the bot");
    event["created_at"] = json!(posted.to_rfc3339());
    let feed = domain::feed::Feed::new();
    let item = domain::ingest::parse(event, chrono::Utc::now());
    let done = domain::ingest::ingest(db, &feed, &bot, vec![item]).await.unwrap();
    assert_eq!(done.results[0].status, domain::ingest::Status::Accepted);
    assert!(
        domain::capture::lease::hold(
            db,
            domain::capture::lease::CAPTURE,
            "abc@pid7",
            chrono::Duration::seconds(30)
        )
        .await
        .unwrap()
    );
    assert!(
        !domain::capture::lease::hold(
            db,
            domain::capture::lease::CAPTURE,
            "other@pid8",
            chrono::Duration::seconds(30)
        )
        .await
        .unwrap(),
        "one holder at a time"
    );
    domain::capture::set_alert(db, &bot, Some(domain::capture::NO_MESSAGE_CONTENT))
        .await
        .unwrap();
    domain::capture::set_channel_warning(db, SIGNALS.parse().unwrap(), Some(domain::capture::CANNOT_READ))
        .await
        .unwrap();

    let res = s.app.call("/rpc/admin/connectors", &[], Some(&admin)).await;
    let list: Value = res.json().await.unwrap();
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "Discord bot")
        .expect("the bot's row")
        .clone();
    assert_eq!(row["builtin"], true);
    assert_eq!(row["capture"]["holder"][0], "abc@pid7");
    let (p50, samples) = (
        row["capture"]["latency"][0].as_f64().unwrap(),
        row["capture"]["latency"][2].as_u64().unwrap(),
    );
    assert_eq!(samples, 1);
    assert!(
        (1500.0..10_000.0).contains(&p50),
        "latency from Discord's timestamp: {p50} ms"
    );
    assert!(row["alert"].as_str().unwrap().contains("Message Content Intent"));
    let invite = row["capture"]["invite_url"].as_str().unwrap();
    assert!(
        invite.contains("client_id=123456")
            && invite.contains("scope=bot")
            && invite.contains(&format!("permissions={}", domain::capture::BOT_PERMISSIONS)),
        "{invite}"
    );
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "Collector")
            .unwrap()["kind"],
        "API collector"
    );

    let res = s
        .app
        .call(
            "/rpc/admin/connectors/rotate",
            &[("id", row["id"].as_str().unwrap())],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 422, "the bot's connector has no token to rotate");

    let metrics = s.app.metrics().await;
    assert!(
        metrics.contains("signaldesk_capture_latency_seconds{quantile=\"0.95\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("signaldesk_capture_latency_seconds_count 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("signaldesk_capture_held 1\n"), "{metrics}");

    let res = s
        .app
        .call("/rpc/admin/channels", &[("guild", GUILD)], Some(&admin))
        .await;
    let view: Value = res.json().await.unwrap();
    let signals = view["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == SIGNALS)
        .unwrap()
        .clone();
    assert!(
        signals["warning"].as_str().unwrap().contains("Read Message History"),
        "{signals}"
    );
}

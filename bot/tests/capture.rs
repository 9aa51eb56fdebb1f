//! Gateway capture against the fake Discord's gateway, with the real bot process: every dispatch
//! type becomes the right signal change through the domain's ingest, guilds and channels are
//! discovered without "Fetch channels", an outage (sessions forgotten, RESUME refused) is repaired
//! by a backfill and the re-check, a channel the bot cannot read is flagged, a withheld Message
//! Content intent raises one alert, and of several bot processes exactly one captures.

use std::time::Duration;

use domain::capture::{self, recheck};
use domain::discovery::{self, Role};
use domain::snowflake::Snowflake;
use entity::{capture_lease, channel, connector, guild, mirror_copy, signal_thread};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use testkit::database::Backend;
use testkit::discord::Fault;

#[macro_use]
mod support;

use support::capture::{CATEGORY, CHAT, GUILD, SIGNALS, TRADER, eventually, rig};

on_both_databases!(
    every_dispatch_type_becomes_the_right_signal_change,
    an_outage_during_traffic_ends_equal_to_discord,
    a_refused_resume_triggers_a_backfill,
    a_channel_the_bot_cannot_read_is_flagged,
    the_forwarding_switch_applies_to_what_the_bot_captures,
    mentions_are_captured_by_name,
);

async fn every_dispatch_type_becomes_the_right_signal_change(backend: Backend) {
    let rig = rig(backend).await;
    let _bot = rig.spawn_bot();
    rig.discovered().await;

    // Discovery from GUILD_CREATE: the guild is the bot connector's, channels with their parents.
    let bot = connector::Entity::find()
        .filter(connector::Column::Kind.eq(capture::DISCORD_BOT))
        .one(&rig.db)
        .await
        .unwrap()
        .expect("the built-in connector");
    assert_eq!(bot.name, "Discord bot");
    let g = guild::Entity::find_by_id(GUILD as i64)
        .one(&rig.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((g.name.as_str(), g.connector_id), ("Signals HQ", bot.id));
    let signals = channel::Entity::find_by_id(SIGNALS as i64)
        .one(&rig.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (signals.name.as_str(), signals.parent_id),
        ("signals", Some(CATEGORY as i64))
    );

    // MESSAGE_CREATE.
    let m1 = rig.fake.with(|w| w.post_message(SIGNALS, TRADER, "BTC long 64k"));
    let s = rig
        .signal_where(m1, "the post is captured", |s| s.content == "BTC long 64k")
        .await;
    assert_eq!(
        (s.connector_id, s.channel_id, s.thread_id),
        (bot.id, SIGNALS as i64, None)
    );
    assert_eq!(s.author_name, "trader");
    // Capture latency: Discord's own timestamp (the snowflake's time) to ingest accepted.
    let posted = s.posted_at.expect("the message's time");
    assert!(s.ingested_at >= posted && s.ingested_at - posted < chrono::Duration::seconds(10));

    // MESSAGE_UPDATE (full).
    rig.fake.with(|w| w.edit_message(SIGNALS, m1, "BTC long 65k"));
    rig.signal_where(m1, "the edit is captured", |s| {
        s.content == "BTC long 65k" && s.edited_at.is_some()
    })
    .await;

    // MESSAGE_UPDATE (partial: an embed unfurl carries only ids and embeds) keeps the rest.
    rig.fake.with(|w| {
        w.dispatch(
            "MESSAGE_UPDATE",
            json!({"id": m1.to_string(), "channel_id": SIGNALS.to_string(), "guild_id": GUILD.to_string(),
                   "embeds": [{"type": "link", "title": "BTC chart", "url": "https://example.com/chart"}]}),
        )
    });
    let s = rig
        .signal_where(m1, "the partial update is captured", |s| {
            s.embeds_json.contains("BTC chart")
        })
        .await;
    assert_eq!(s.content, "BTC long 65k", "a partial update keeps the content");
    assert_eq!(s.author_name, "trader", "and the author");

    // MESSAGE_DELETE.
    rig.fake.with(|w| w.delete_message(SIGNALS, m1));
    let s = rig
        .signal_where(m1, "the delete is captured", |s| s.deleted_at.is_some())
        .await;
    assert_eq!(s.delete_reason, None, "a delete seen live needs no reason");

    // MESSAGE_DELETE_BULK.
    let (m2, m3) = rig.fake.with(|w| {
        (
            w.post_message(SIGNALS, TRADER, "two"),
            w.post_message(SIGNALS, TRADER, "three"),
        )
    });
    rig.signal_where(m3, "the posts are captured", |_| true).await;
    rig.fake.with(|w| {
        w.messages.get_mut(&SIGNALS).unwrap().retain(|m| m.id != m2 && m.id != m3);
        w.dispatch(
            "MESSAGE_DELETE_BULK",
            json!({"ids": [m2.to_string(), m3.to_string()], "channel_id": SIGNALS.to_string(), "guild_id": GUILD.to_string()}),
        )
    });
    rig.signal_where(m2, "bulk delete (first)", |s| s.deleted_at.is_some())
        .await;
    rig.signal_where(m3, "bulk delete (second)", |s| s.deleted_at.is_some())
        .await;

    // THREAD_CREATE, a message in the thread, THREAD_UPDATE, THREAD_LIST_SYNC, THREAD_DELETE.
    const THREAD: u64 = SIGNALS + 1000;
    const SYNCED: u64 = SIGNALS + 2000;
    rig.fake.with(|w| {
        w.add_channel(GUILD, THREAD, "Setups", 11, Some(SIGNALS));
        let t = w.thread_json(GUILD, THREAD, SIGNALS, "Setups", false);
        w.dispatch("THREAD_CREATE", t)
    });
    let db = rig.db.clone();
    let thread = |id: u64| {
        let db = db.clone();
        async move { signal_thread::Entity::find_by_id(id as i64).one(&db).await.unwrap() }
    };
    eventually(30, "the thread is captured", || async {
        thread(THREAD).await.filter(|t| t.name == "Setups")
    })
    .await;
    let in_thread = rig.fake.with(|w| w.post_message(THREAD, TRADER, "entry 1"));
    let s = rig
        .signal_where(in_thread, "the thread's message is captured", |_| true)
        .await;
    assert_eq!((s.channel_id, s.thread_id), (SIGNALS as i64, Some(THREAD as i64)));
    rig.fake.with(|w| {
        let t = w.thread_json(GUILD, THREAD, SIGNALS, "Setups (closed)", true);
        w.dispatch("THREAD_UPDATE", t)
    });
    eventually(30, "the thread's update", || async {
        thread(THREAD)
            .await
            .filter(|t| t.name == "Setups (closed)" && t.archived)
    })
    .await;
    rig.fake.with(|w| {
        let t = w.thread_json(GUILD, SYNCED, SIGNALS, "Synced", false);
        w.dispatch(
            "THREAD_LIST_SYNC",
            json!({"guild_id": GUILD.to_string(), "channel_ids": [SIGNALS.to_string()], "threads": [t], "members": []}),
        )
    });
    eventually(30, "the synced thread", || async { thread(SYNCED).await }).await;
    rig.fake.with(|w| {
        w.dispatch(
            "THREAD_DELETE",
            json!({"id": THREAD.to_string(), "guild_id": GUILD.to_string(), "parent_id": SIGNALS.to_string(), "type": 11}),
        )
    });
    eventually(30, "the thread's delete", || async {
        thread(THREAD).await.filter(|t| t.deleted_at.is_some())
    })
    .await;

    // Not a Source channel: nothing stored. A new channel is discovered from CHANNEL_CREATE.
    let chatter = rig.fake.with(|w| w.post_message(CHAT, TRADER, "gm"));
    const NEW: u64 = SIGNALS + 3000;
    rig.fake.with(|w| {
        w.add_channel(GUILD, NEW, "alts", 0, Some(CATEGORY));
        w.dispatch(
            "CHANNEL_CREATE",
            json!({"id": NEW.to_string(), "type": 0, "name": "alts", "position": 5, "parent_id": CATEGORY.to_string(),
                   "guild_id": GUILD.to_string(), "permission_overwrites": [], "nsfw": false}),
        )
    });
    eventually(30, "the new channel is discovered", || async {
        channel::Entity::find_by_id(NEW as i64).one(&db).await.unwrap()
    })
    .await;
    assert!(
        rig.signal(chatter).await.is_none(),
        "a non-Source channel is not captured"
    );

    // Disabled on /admin/connectors: the bot stores nothing, like a collector whose token is refused.
    domain::connectors::set_enabled(&rig.db, &bot.pid, false).await.unwrap();
    let ignored = rig.fake.with(|w| w.post_message(SIGNALS, TRADER, "while disabled"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        rig.signal(ignored).await.is_none(),
        "a disabled connector captures nothing"
    );
}

/// Traffic on both sides of an outage: 100 messages seen live; then the gateway goes down (its
/// sessions forgotten, so the RESUME after it is refused) while 100 more are posted, 30 edited
/// and 10 deleted. After it, the database says exactly what Discord does: nothing lost, nothing
/// doubled, nothing deleted brought back — edits and deletes of earlier messages found by the
/// re-check, with its reason — and so does the dashboard's own query.
async fn an_outage_during_traffic_ends_equal_to_discord(backend: Backend) {
    let rig = rig(backend).await;
    let _bot = rig.spawn_bot();
    rig.discovered().await;
    let mut ids: Vec<u64> = Vec::new();
    for i in 0..100 {
        ids.push(rig.fake.with(|w| w.post_message(SIGNALS, TRADER, &format!("live {i}"))));
    }
    rig.signal_where(*ids.last().unwrap(), "the live traffic is captured", |_| true)
        .await;

    rig.fake.with(|w| w.gateway_outage());
    for i in 0..100 {
        ids.push(
            rig.fake
                .with(|w| w.post_message(SIGNALS, TRADER, &format!("missed {i}"))),
        );
    }
    let mut rng = rand::thread_rng();
    use rand::seq::SliceRandom;
    let mut shuffled = ids.clone();
    shuffled.shuffle(&mut rng);
    let (edited, rest) = shuffled.split_at(30);
    let deleted = &rest[..10];
    rig.fake.with(|w| {
        for id in edited {
            w.edit_message(SIGNALS, *id, &format!("edited {id}"));
        }
        for id in deleted {
            w.delete_message(SIGNALS, *id);
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    rig.fake.with(|w| w.gateway_up());

    let want: Vec<(i64, String)> = rig.fake.with(|w| {
        w.channel_messages(SIGNALS)
            .iter()
            .map(|m| (m.id as i64, m.body["content"].as_str().unwrap_or("").to_owned()))
            .collect()
    });
    let got = eventually(60, "the database equals Discord after the outage", || async {
        let live: Vec<(i64, String)> = rig
            .signals()
            .await
            .into_iter()
            .filter(|s| s.deleted_at.is_none())
            .map(|s| (s.message_id, s.content))
            .collect();
        (live == want).then_some(live)
    })
    .await;
    assert_eq!(got.len(), 190);
    // What a customer's dashboard lists (its own query, at the highest tier): the same messages,
    // each once, and a deleted one only as deleted.
    let top = domain::entitlements::tiers(&rig.db)
        .await
        .unwrap()
        .iter()
        .map(|t| t.rank)
        .max()
        .unwrap();
    let shown = domain::feed::view::latest(&rig.db, top, None, 1000).await.unwrap();
    let mut once: Vec<&str> = shown.iter().map(|v| v.message_id.as_str()).collect();
    once.sort_unstable();
    once.dedup();
    assert_eq!(once.len(), shown.len(), "the dashboard lists no message twice");
    let mut dashboard: Vec<(i64, String)> = shown
        .iter()
        .filter(|v| v.deleted_at.is_none())
        .map(|v| (v.message_id.parse().unwrap(), v.content.clone()))
        .collect();
    dashboard.sort_unstable();
    assert_eq!(dashboard, want, "the dashboard shows what Discord has");
    for id in deleted {
        if let Some(s) = rig.signal(*id).await {
            assert!(s.deleted_at.is_some(), "a deleted message stays deleted");
            assert_eq!(s.delete_reason.as_deref(), Some(recheck::REASON), "and says why");
        }
    }
    let identifies = rig.fake.with(|w| w.gateway.identifies);
    assert!(
        identifies >= 2,
        "a fresh session after the outage ({identifies} IDENTIFYs)"
    );
}

/// The connection drops and Discord has forgotten the session: the RESUME is refused
/// (INVALID_SESSION), the bot identifies afresh and backfills what was posted in between —
/// with the periodic sweep off, only that backfill can find it.
async fn a_refused_resume_triggers_a_backfill(backend: Backend) {
    let mut rig = rig(backend).await;
    rig.settings.insert("CAPTURE_SWEEP_SECONDS".into(), "3600".into());
    let _bot = rig.spawn_bot();
    rig.discovered().await;
    let first = rig.fake.with(|w| w.post_message(SIGNALS, TRADER, "seen live"));
    rig.signal_where(first, "the live post", |_| true).await;
    let missed: Vec<u64> = rig.fake.with(|w| {
        w.close_gateway(4000);
        w.forget_gateway_sessions();
        // No session exists now: these reach no one but a REST read.
        (0..20)
            .map(|i| w.post_message(SIGNALS, TRADER, &format!("missed {i}")))
            .collect()
    });
    for id in &missed {
        rig.signal_where(*id, "a message posted while no session existed", |_| true)
            .await;
    }
    let (resumes, invalid) = rig.fake.with(|w| (w.gateway.resumes, w.gateway.invalid_sessions));
    assert!(invalid >= 1, "the RESUME was refused ({resumes} RESUMEs)");
}

async fn a_channel_the_bot_cannot_read_is_flagged(backend: Backend) {
    let rig = rig(backend).await;
    let _bot = rig.spawn_bot();
    rig.discovered().await;
    rig.fake.with(|w| {
        w.fault(
            "GET",
            &format!("/channels/{SIGNALS}/messages"),
            Fault::Error {
                status: 403,
                code: 50001,
                message: "Missing Access".into(),
            },
            1000,
        )
    });
    // A new session backfills (and is refused).
    rig.fake.with(|w| {
        w.close_gateway(4000);
        w.forget_gateway_sessions();
    });
    let db = rig.db.clone();
    let warned = eventually(30, "the channel shows why it is not captured", || async {
        channel::Entity::find_by_id(SIGNALS as i64)
            .one(&db)
            .await
            .unwrap()
            .and_then(|c| c.capture_warning)
    })
    .await;
    assert!(warned.contains("View Channel / Read Message History"), "{warned}");
}

/// The bot connector's forwarding switch works like any connector's: off, a captured message is
/// stored but not copied; on, the same bot process mirrors what it captures into the mapped
/// channel of the customers' server (found, like the source, from its GUILD_CREATE).
async fn the_forwarding_switch_applies_to_what_the_bot_captures(backend: Backend) {
    const CUSTOMERS: u64 = 1_700_000_000_000_000_100;
    const COPIES: u64 = 1_700_000_000_000_000_101;
    let rig = rig(backend).await;
    rig.fake.with(|w| {
        w.add_guild(CUSTOMERS, "Customers", 10);
        w.add_channel(CUSTOMERS, COPIES, "copies", 0, None);
    });
    let _bot = rig.spawn_bot();
    rig.discovered().await;
    let db = rig.db.clone();
    eventually(30, "the customers' server is discovered too", || {
        let db = db.clone();
        async move { channel::Entity::find_by_id(COPIES as i64).one(&db).await.unwrap() }
    })
    .await;
    let copies = Snowflake::from_db(COPIES as i64);
    discovery::set_flag(&rig.db, copies, Role::Target, true).await.unwrap();
    discovery::create_mapping(&rig.db, Snowflake::from_db(SIGNALS as i64), copies)
        .await
        .unwrap();
    let bot = capture::bot_connector(&rig.db).await.unwrap();
    assert!(!bot.forwarding, "forwarding starts off, as for every connector");

    let kept = rig
        .fake
        .with(|w| w.post_message(SIGNALS, TRADER, "kept, not forwarded"));
    let kept = rig
        .signal_where(kept, "captured while forwarding is off", |_| true)
        .await;
    let queued = mirror_copy::Entity::find()
        .filter(mirror_copy::Column::SignalId.eq(kept.id))
        .count(&rig.db)
        .await
        .unwrap();
    assert_eq!(queued, 0, "no copy queued while forwarding is off");

    domain::connectors::set_forwarding(&rig.db, &bot.pid, true)
        .await
        .unwrap();
    rig.fake
        .with(|w| w.post_message(SIGNALS, TRADER, "BTC long, forwarded"));
    let copied = eventually(30, "the copy in the customers' channel", || async {
        let made = rig.fake.with(|w| w.channel_messages(COPIES));
        (!made.is_empty()).then_some(made)
    })
    .await;
    assert_eq!(copied.len(), 1, "only the message captured with forwarding on");
    let text = copied[0].body.to_string();
    assert!(text.contains("BTC long, forwarded"), "{text}");
}

/// Discord refuses the Message Content intent (4014): one alert on the connector, nothing
/// captured empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withheld_message_content_intent_is_reported() {
    let rig = rig(Backend::Sqlite).await;
    rig.fake.with(|w| w.gateway.privileged_granted = 0);
    let _bot = rig.spawn_bot();
    let db = rig.db.clone();
    let alert = eventually(30, "the connector's alert", || async {
        connector::Entity::find()
            .filter(connector::Column::Kind.eq(capture::DISCORD_BOT))
            .one(&db)
            .await
            .unwrap()
            .and_then(|c| c.alert)
    })
    .await;
    assert!(alert.contains("Message Content Intent"), "{alert}");
}

/// What a session without the Message Content intent receives — messages with no content, embeds
/// or attachments — raises the same alert once five arrive in a row; fewer do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arriving_empty_raise_the_message_content_alert() {
    let rig = rig(Backend::Sqlite).await;
    let _bot = rig.spawn_bot();
    rig.discovered().await;
    let alert = || async { capture::bot_connector(&rig.db).await.unwrap().alert };
    for _ in 0..4 {
        rig.fake.with(|w| w.post_message(SIGNALS, TRADER, ""));
    }
    let real = rig.fake.with(|w| w.post_message(SIGNALS, TRADER, "ETH short"));
    rig.signal_where(real, "the message after four empty ones", |_| true)
        .await;
    assert_eq!(alert().await, None, "four empty messages are not yet a pattern");

    let mut last = 0;
    for _ in 0..5 {
        last = rig.fake.with(|w| w.post_message(SIGNALS, TRADER, ""));
    }
    rig.signal_where(last, "the fifth empty message", |_| true).await;
    let said = eventually(30, "the connector's alert", || async { alert().await }).await;
    assert!(said.contains("Message Content Intent"), "{said}");
}

/// Several bot processes on one PostgreSQL database: exactly one holds the capture; killed
/// (`kill -9`, no release), another takes it over within seconds and capture goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capture_lease_moves_when_its_holder_is_killed() {
    let rig = rig(Backend::Postgres).await;
    let mut bots: Vec<tokio::process::Child> = (0..3).map(|_| rig.spawn_bot()).collect();
    rig.discovered().await;
    let db = rig.db.clone();
    let holder = || {
        let db = db.clone();
        async move {
            capture_lease::Entity::find_by_id(domain::capture::lease::CAPTURE.to_owned())
                .one(&db)
                .await
                .unwrap()
                .filter(|l| l.lease_until > chrono::Utc::now())
                .map(|l| l.holder)
        }
    };
    let first = eventually(30, "one process holds the capture", holder).await;
    assert_eq!(
        rig.fake.with(|w| w.live_gateway_sessions()),
        1,
        "exactly one gateway session"
    );
    let m = rig.fake.with(|w| w.post_message(SIGNALS, TRADER, "before"));
    rig.signal_where(m, "captured by the first holder", |_| true).await;

    // The holder names its process (instance@pid…), as /admin/connectors shows it.
    let pid: u32 = first.rsplit_once("@pid").expect("instance@pid").1.parse().unwrap();
    let victim = bots.iter().position(|b| b.id() == Some(pid)).expect("a bot we started");
    let killed_at = tokio::time::Instant::now();
    bots[victim].start_kill().unwrap();
    let _ = bots[victim].wait().await;
    // Posted while nobody captures: the new holder's backfill must bring it in.
    let gap = rig.fake.with(|w| w.post_message(SIGNALS, TRADER, "in the gap"));
    let second = eventually(30, "another process takes the capture over", || async {
        holder().await.filter(|h| *h != first)
    })
    .await;
    let took = killed_at.elapsed();
    assert!(took < Duration::from_secs(15), "taken over in {took:?}");
    rig.signal_where(gap, "the message posted in the gap", |_| true).await;
    let m = rig.fake.with(|w| w.post_message(SIGNALS, TRADER, "after"));
    rig.signal_where(m, "captured by the new holder", |_| true).await;
    assert_ne!(first, second);
    println!("capture lease taken over {took:?} after kill -9");
}

/// Discord's message carries user objects for `<@id>` and only ids for `<@&id>`: the capture
/// stores the names readers see — users from the message, roles from the guild's GUILD_CREATE —
/// and an edit replaces them with the names of what the edited text mentions.
async fn mentions_are_captured_by_name(backend: Backend) {
    const VIP: u64 = 1_700_000_000_000_000_500;
    const ALICE: u64 = 1_700_000_000_000_000_501;
    let rig = rig(backend).await;
    rig.fake.with(|w| {
        w.add_role(GUILD, VIP, "VIP", 3);
        w.add_user(ALICE, "alice");
    });
    let _bot = rig.spawn_bot();
    rig.discovered().await;

    let text = format!("<@{ALICE}> <@&{VIP}> entry now; <@123> and <@&456> are unknown");
    let m = rig.fake.with(|w| w.post_message(SIGNALS, TRADER, &text));
    let s = rig.signal_where(m, "the post is captured", |s| s.content == text).await;
    let names: serde_json::Value = serde_json::from_str(&s.mentions_json).unwrap();
    assert_eq!(
        names,
        json!({"users": {ALICE.to_string(): "alice"}, "roles": {VIP.to_string(): "VIP"}})
    );

    rig.fake.with(|w| w.edit_message(SIGNALS, m, "no one mentioned now"));
    let s = rig
        .signal_where(m, "the edit is captured", |s| s.content == "no one mentioned now")
        .await;
    assert_eq!(s.mentions_json, "{}");
}

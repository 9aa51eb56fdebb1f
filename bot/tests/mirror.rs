//! Mirroring as it runs: signals ingested through the domain's own ingest (as the API does),
//! the real `bot` binary, a real database (SQLite and PostgreSQL), and the fake Discord, whose
//! target channel the tests read.

use std::time::Duration;

use entity::job::JobStatus;
use rand::Rng;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use testkit::database::Backend;
use testkit::discord::{Fault, Limits};

#[macro_use]
mod support;

use support::mirror::{TARGET, create, delete, rig, rig_with, source, target, update};

on_both_databases!(
    a_signal_is_copied_edited_and_deleted_in_the_target,
    forwarding_off_queues_nothing,
    updates_queued_while_the_bot_is_down_coalesce_into_one_post,
    a_delete_during_a_create_ends_deleted,
    j10_a_retry_after_a_lost_answer_posts_no_duplicate,
    long_content_is_split_and_follow_ups_go_when_it_shrinks,
    lost_access_to_the_target_is_dead_and_names_the_fix,
    a_copy_deleted_by_a_moderator_stays_deleted,
    random_interleavings_end_with_the_sources_final_state,
    a_burst_into_several_channels_stays_under_discords_limits,
    images_are_uploaded_from_our_store_and_follow_edits,
    messages_in_a_thread_are_mirrored_into_one_thread_of_the_target,
);

async fn a_signal_is_copied_edited_and_deleted_in_the_target(backend: Backend) {
    let mut rig = rig(backend, Limits::discord(), 60).await;
    rig.start_bot();
    rig.ingest(vec![create(1, "@everyone BTC long 97,000 <@123> <@&456>")])
        .await;
    rig.target_becomes(&["@everyone BTC long 97,000 <@123> <@&456>"]).await;
    let copy = rig.fake.with(|w| w.channel_messages(TARGET))[0].clone();
    let header = &copy.body["embeds"][0];
    assert_eq!(header["author"]["name"], "Head Trader");
    assert_eq!(
        header["author"]["icon_url"],
        "https://cdn.discordapp.com/avatars/1500000000000000050/0123456789abcdef0123456789abcdef.png"
    );
    assert_eq!(header["timestamp"], "2026-12-01T10:00:00+00:00");
    assert_eq!(rig.fake.with(|w| w.pings), 0, "the mention guard: a copy pings nobody");

    rig.ingest(vec![update(1, "BTC long 97,000 — TP hit", 1)]).await;
    rig.target_becomes(&["BTC long 97,000 — TP hit"]).await;
    assert_eq!(
        rig.fake.with(|w| w.channel_messages(TARGET)[0].id),
        copy.id,
        "edited in place"
    );

    rig.ingest(vec![delete(1)]).await;
    rig.target_becomes(&[]).await;
    rig.until_jobs_settle().await;
    let c = rig.copy(1).await;
    assert_eq!((c.state.as_str(), c.message_ids.as_str()), ("deleted", "[]"));
    assert!(c.claimed_at.is_some() && c.answered_at.is_some() && c.answered_at >= c.claimed_at);
    assert_eq!(rig.fake.with(|w| w.rate_limited()), 0);
    // The ledger keeps every operation with its hops, not only the latest.
    let history = domain::mirror::ledger::history(&rig.db, c.id).await.unwrap();
    assert_eq!(
        history.iter().map(|d| d.op.as_str()).collect::<Vec<_>>(),
        ["create", "update", "delete"]
    );
    for d in &history {
        let claimed = d.claimed_at.expect("claimed");
        assert!(d.accepted_at <= claimed && claimed <= d.answered_at, "{d:?}");
        assert!(d.source_at.is_some(), "{d:?}");
    }
}

async fn forwarding_off_queues_nothing(backend: Backend) {
    let mut rig = rig(backend, Limits::none(), 60).await;
    rig.connector = domain::connectors::set_forwarding(&rig.db, &rig.connector.pid, false)
        .await
        .unwrap();
    rig.ingest(vec![create(1, "hello")]).await;
    assert!(rig.mirror_jobs().await.is_empty());
}

async fn updates_queued_while_the_bot_is_down_coalesce_into_one_post(backend: Backend) {
    let mut rig = rig(backend, Limits::none(), 60).await;
    rig.ingest(vec![create(1, "v0")]).await;
    for n in 1..=5 {
        rig.ingest(vec![update(1, &format!("v{n}"), n)]).await;
    }
    let jobs = rig.mirror_jobs().await;
    assert_eq!(jobs.len(), 1, "one queued job per copy");
    rig.start_bot();
    rig.target_becomes(&["v5"]).await;
    rig.until_jobs_settle().await;
    let (posts, edits) = rig
        .fake
        .with(|w| (w.calls_to("POST", "/messages"), w.calls_to("PATCH", "/messages/")));
    assert_eq!((posts, edits), (1, 0), "only the newest content is sent, once");
}

async fn a_delete_during_a_create_ends_deleted(backend: Backend) {
    let mut rig = rig(backend, Limits::none(), 60).await;
    rig.fake
        .with(|w| w.fault("POST", "/messages", Fault::AnswerLate(Duration::from_millis(1500)), 1));
    rig.start_bot();
    rig.ingest(vec![create(1, "short-lived")]).await;
    // The post reached Discord; its answer is still on the way.
    assert!(
        rig.fake
            .wait_for(Duration::from_secs(10), |w| w.channel_messages(TARGET).len() == 1)
            .await
    );
    rig.ingest(vec![delete(1)]).await;
    rig.target_becomes(&[]).await;
    rig.until_jobs_settle().await;
    assert_eq!(rig.copy(1).await.state, "deleted");
}

async fn j10_a_retry_after_a_lost_answer_posts_no_duplicate(backend: Backend) {
    let mut rig = rig(backend, Limits::none(), 5).await;
    rig.fake
        .with(|w| w.fault("POST", "/messages", Fault::AnswerLate(Duration::from_secs(30)), 1));
    rig.start_bot();
    rig.ingest(vec![create(1, "once only")]).await;
    assert!(
        rig.fake
            .wait_for(Duration::from_secs(10), |w| w.channel_messages(TARGET).len() == 1)
            .await
    );
    // The bot dies between Discord making the message and learning its id.
    let mut first = rig.bot.take().unwrap();
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    rig.start_bot();
    rig.until_jobs_settle().await;
    let messages = rig.fake.with(|w| w.channel_messages(TARGET));
    assert_eq!(messages.len(), 1, "no duplicate copy");
    let c = rig.copy(1).await;
    assert_eq!(c.state, "live");
    // The retry's post carried the same nonce, so Discord answered with the message already made.
    assert_eq!(c.message_ids, format!("[\"{}\"]", messages[0].id));
}

async fn long_content_is_split_and_follow_ups_go_when_it_shrinks(backend: Backend) {
    let mut rig = rig(backend, Limits::none(), 60).await;
    rig.start_bot();
    // Ingest takes up to 4,000 characters (Discord's own limit with Nitro); a copy holds 2,000.
    let long = "word ".repeat(780); // 3,900 characters
    rig.ingest(vec![create(1, &long)]).await;
    assert!(
        rig.fake
            .wait_for(Duration::from_secs(15), |w| w.channel_messages(TARGET).len() == 2)
            .await
    );
    let parts = rig.target();
    assert!(parts.iter().all(|p| p.chars().count() <= 2000));
    assert_eq!(parts.join(" ").split_whitespace().count(), 780, "no word lost");
    rig.ingest(vec![update(1, "short now", 1)]).await;
    rig.target_becomes(&["short now"]).await;
    rig.until_jobs_settle().await;
    assert_eq!(
        rig.copy(1).await.message_ids.matches(',').count(),
        0,
        "one message left"
    );
}

async fn lost_access_to_the_target_is_dead_and_names_the_fix(backend: Backend) {
    let mut rig = rig(backend, Limits::none(), 60).await;
    rig.fake.with(|w| {
        w.fault(
            "POST",
            "/messages",
            Fault::Error {
                status: 403,
                code: 50013,
                message: "Missing Permissions".into(),
            },
            1,
        )
    });
    rig.start_bot();
    rig.ingest(vec![create(1, "x")]).await;
    let jobs = rig.until_jobs_settle().await;
    assert_eq!(jobs[0].status, JobStatus::Dead);
    assert!(
        jobs[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("lost access to the target channel")
    );
    assert_eq!(
        rig.fake.with(|w| w.calls_to("POST", "/messages")),
        1,
        "no retry burns the invalid-request budget"
    );
}

async fn a_copy_deleted_by_a_moderator_stays_deleted(backend: Backend) {
    let mut rig = rig(backend, Limits::none(), 60).await;
    rig.start_bot();
    rig.ingest(vec![create(1, "v1")]).await;
    rig.target_becomes(&["v1"]).await;
    rig.until_jobs_settle().await;
    let id = rig.fake.with(|w| w.channel_messages(TARGET)[0].id);
    rig.fake.with(|w| w.delete_message(TARGET, id));
    rig.ingest(vec![update(1, "v2", 1)]).await;
    rig.until_jobs_settle().await;
    assert_eq!(rig.copy(1).await.state, "removed");
    assert!(rig.target().is_empty(), "not posted again");
    assert_eq!(rig.fake.with(|w| w.calls_to("POST", "/messages")), 1);
}

/// 100 signals, each with a random life (create, edits, maybe a delete), reported in a random
/// order (an edit or a delete may arrive before its create) in random batches while the bot
/// works: every target ends with exactly the source's final state.
async fn random_interleavings_end_with_the_sources_final_state(backend: Backend) {
    let mut rig = rig(backend, Limits::none(), 60).await;
    rig.start_bot();
    let mut events: Vec<Value> = Vec::new();
    let mut rng = rand::thread_rng();
    for id in 1..=100u64 {
        events.push(create(id, &format!("s{id} v0")));
        for n in 1..=rng.gen_range(0..4u32) {
            events.push(update(id, &format!("s{id} v{n}"), n));
        }
        if rng.gen_bool(0.3) {
            events.push(delete(id));
        }
    }
    // Shuffle, then send in random batches.
    for i in (1..events.len()).rev() {
        events.swap(i, rng.gen_range(0..=i));
    }
    while !events.is_empty() {
        let n = rng.gen_range(1..=8).min(events.len());
        let batch: Vec<Value> = events.drain(..n).collect();
        rig.ingest(batch).await;
        if rng.gen_bool(0.2) {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(1..30))).await;
        }
    }
    rig.until_jobs_settle().await;
    let signals = entity::signal::Entity::find().all(&rig.db).await.unwrap();
    let mut want: Vec<String> = signals
        .iter()
        .filter(|s| s.deleted_at.is_none())
        .map(|s| s.content.clone())
        .collect();
    want.sort();
    let mut got = rig.target();
    got.sort();
    assert_eq!(got, want, "target and source differ");
    assert_eq!(rig.fake.with(|w| w.pings), 0);
}

/// 60 signals into 6 channels (10 per channel, twice a channel's 5 messages per 5 s) with the
/// fake enforcing Discord's limits: every copy arrives, and the bot's limiter waits instead of
/// being refused — not one 429.
async fn a_burst_into_several_channels_stays_under_discords_limits(backend: Backend) {
    let mut rig = rig_with(backend, Limits::discord(), 60, 6).await;
    rig.start_bot();
    let mut events = Vec::new();
    for n in 0..60u64 {
        let mut e = create(1000 + n, &format!("signal {n}"));
        e["channel_id"] = json!(source(n % 6).to_string());
        events.push(e);
    }
    rig.ingest(events).await;
    let all = rig
        .fake
        .wait_for(Duration::from_secs(60), |w| {
            (0..6).all(|i| w.channel_messages(target(i)).len() == 10)
        })
        .await;
    assert!(
        all,
        "{:?}",
        rig.fake
            .with(|w| (0..6).map(|i| w.channel_messages(target(i)).len()).collect::<Vec<_>>())
    );
    assert_eq!(rig.fake.with(|w| w.rate_limited()), 0, "no 429");
}

/// A post with `n` images on the fake's CDN.
fn with_images(mut event: Value, cdn: &str, n: usize) -> Value {
    event["attachments"] = Value::Array(
        (0..n)
            .map(|i| {
                json!({"id": (1_500_000_000_000_900_000u64 + i as u64).to_string(), "filename": format!("chart-{i}.png"),
                       "url": format!("{cdn}/attachments/1/{i}/chart-{i}.png"), "content_type": "image/png", "size": 68})
            })
            .collect(),
    );
    event
}

/// The files of each of the bot's messages in the target, oldest first.
fn files_in(w: &testkit::discord::World) -> Vec<Vec<String>> {
    w.channel_messages(TARGET)
        .iter()
        .map(|m| m.attachments.iter().map(|(name, _)| name.clone()).collect())
        .collect()
}

/// Waits until the target's messages carry `want` (content, files).
async fn target_carries(rig: &support::mirror::Rig, want: &[(&str, Vec<String>)]) {
    let ok = rig
        .fake
        .wait_for(Duration::from_secs(15), |w| {
            let contents: Vec<String> = w
                .channel_messages(TARGET)
                .iter()
                .map(|m| m.body["content"].as_str().unwrap_or("").to_owned())
                .collect();
            let files = files_in(w);
            contents.len() == want.len()
                && want
                    .iter()
                    .zip(contents.iter().zip(&files))
                    .all(|((c, f), (gc, gf))| c == gc && f == gf)
        })
        .await;
    assert!(
        ok,
        "target holds {:?} / {:?}",
        rig.target(),
        rig.fake.with(|w| files_in(w))
    );
}

/// Discord takes at most ten attachments per message, so a source message carries at most ten
/// (ingest holds to that); more files than ten in one copy — spread over follow-ups — are
/// covered by `render`'s unit test `twelve_images_go_ten_per_message_and_a_file_too_large_is_a_link`.
async fn images_are_uploaded_from_our_store_and_follow_edits(backend: Backend) {
    let mut rig = rig(backend, Limits::discord(), 60).await;
    let cdn = rig.fake.url();
    rig.start_bot();
    rig.ingest(vec![with_images(create(1, "charts"), &cdn, 10)]).await;
    // The copy waits for its attachments to be stored (the server fetches them).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(rig.target().is_empty(), "nothing goes out before the images are stored");
    assert_eq!(rig.run_attachment_fetches().await, 1);
    let names = |range: std::ops::Range<usize>| range.map(|i| format!("chart-{i}.png")).collect::<Vec<_>>();
    target_carries(&rig, &[("charts", vec![]), ("", names(0..10))]).await;
    let sizes: Vec<usize> = rig.fake.with(|w| {
        w.channel_messages(TARGET)[1]
            .attachments
            .iter()
            .map(|(_, n)| *n)
            .collect()
    });
    assert_eq!(sizes, [68; 10], "the stored bytes were uploaded");
    let first = rig.fake.with(|w| w.channel_messages(TARGET)[0].id);

    // An edit drops an image and changes the text: the text is edited in place, the uploads are
    // posted again with the nine left.
    rig.ingest(vec![with_images(update(1, "charts, v2", 1), &cdn, 9)]).await;
    target_carries(&rig, &[("charts, v2", vec![]), ("", names(0..9))]).await;
    assert_eq!(
        rig.fake.with(|w| w.channel_messages(TARGET)[0].id),
        first,
        "edited, not re-posted"
    );

    // A text-only edit leaves the uploads alone (no call for them).
    let uploads = rig.fake.with(|w| w.channel_messages(TARGET)[1].id);
    rig.ingest(vec![with_images(update(1, "charts, v3", 2), &cdn, 9)]).await;
    target_carries(&rig, &[("charts, v3", vec![]), ("", names(0..9))]).await;
    assert_eq!(rig.fake.with(|w| w.channel_messages(TARGET)[1].id), uploads);

    // No images left: the uploads message goes.
    rig.ingest(vec![update(1, "charts, v4", 3)]).await;
    rig.target_becomes(&["charts, v4"]).await;

    rig.ingest(vec![delete(1)]).await;
    rig.target_becomes(&[]).await;
    assert!(
        rig.until_jobs_settle()
            .await
            .iter()
            .all(|j| j.status == JobStatus::Done)
    );
    assert_eq!(rig.fake.with(|w| w.pings), 0);
}

const SOURCE_THREAD: u64 = 1_500_000_000_000_000_777;

fn in_thread(mut event: Value) -> Value {
    event["thread_id"] = json!(SOURCE_THREAD.to_string());
    event
}

/// Messages of one source thread, mirrored at once by several workers: one thread is made in the
/// target (with the source thread's name), every copy goes into it, edits and deletes follow
/// there, and nothing lands in the target channel itself.
async fn messages_in_a_thread_are_mirrored_into_one_thread_of_the_target(backend: Backend) {
    let mut rig = rig(backend, Limits::discord(), 60).await;
    rig.ingest(vec![json!({
        "type": "thread_create", "guild_id": support::mirror::SOURCE_GUILD.to_string(),
        "channel_id": support::mirror::SOURCE.to_string(), "thread_id": SOURCE_THREAD.to_string(),
        "name": "BTC plan", "created_at": "2026-12-01T09:59:00Z",
    })])
    .await;
    // Queued before the bot starts, so its workers take them together.
    rig.ingest((1..=4).map(|i| in_thread(create(i, &format!("step {i}")))).collect())
        .await;
    rig.start_bot();
    let ok = rig
        .fake
        .wait_for(Duration::from_secs(15), |w| {
            w.threads_of(TARGET).len() == 1 && w.channel_messages(w.threads_of(TARGET)[0].id).len() == 4
        })
        .await;
    assert!(ok, "threads: {:?}", rig.fake.with(|w| w.threads_of(TARGET)));
    let thread = rig.fake.with(|w| w.threads_of(TARGET))[0].clone();
    assert_eq!((thread.name.as_str(), thread.kind), ("BTC plan", 11));
    let contents = |rig: &support::mirror::Rig| {
        rig.fake.with(|w| {
            let mut c: Vec<String> = w
                .channel_messages(thread.id)
                .iter()
                .map(|m| m.body["content"].as_str().unwrap_or("").to_owned())
                .collect();
            c.sort();
            c
        })
    };
    assert_eq!(contents(&rig), ["step 1", "step 2", "step 3", "step 4"]);
    assert!(rig.target().is_empty(), "nothing in the target channel itself");

    rig.ingest(vec![in_thread(update(2, "step 2, revised", 1)), in_thread(delete(3))])
        .await;
    let ok = rig
        .fake
        .wait_for(Duration::from_secs(15), |w| {
            let mut c: Vec<String> = w
                .channel_messages(thread.id)
                .iter()
                .map(|m| m.body["content"].as_str().unwrap_or("").to_owned())
                .collect();
            c.sort();
            c == ["step 1", "step 2, revised", "step 4"]
        })
        .await;
    assert!(ok, "thread holds {:?}", contents(&rig));
    assert_eq!(rig.fake.with(|w| w.threads_of(TARGET)).len(), 1, "one thread, ever");
    assert!(
        rig.until_jobs_settle()
            .await
            .iter()
            .all(|j| j.status == JobStatus::Done)
    );
}

//! A connector acts only on what it owns (issue 11, item 2): with two connectors on one server,
//! B can neither edit nor delete what A captured, nor take A's guild or channels through a
//! discovery snapshot; reported times are bounded; an admin can move a guild, with a reason.

use serde_json::{Value, json};

use crate::capture::{GUILD, SIGNALS, Source, create, delete, error_of, update};
use crate::helpers::Backend;
use crate::helpers::PASSWORD;
use crate::on_both_databases;

on_both_databases!(
    another_connector_cannot_edit_or_delete_what_a_connector_captured,
    another_connector_cannot_take_a_guild_or_its_channels_by_snapshot,
    reported_times_far_in_the_future_are_refused,
    an_admin_reassigns_a_guild_with_a_reason_and_only_the_new_owner_acts,
    another_connector_cannot_suppress_a_message_by_reporting_its_id_first,
);

const OTHER_GUILD: &str = "1200000000000000001";
const OTHER_CHANNEL: &str = "1200000000000000010";

/// A second connector "B" with a guild of its own; `s` (connector "A") owns GUILD.
struct Intruder {
    token: String,
    pid: String,
}

impl Intruder {
    async fn join(s: &Source) -> Self {
        let (c, token) = domain::connectors::create(&s.app.ctx.db, "Other collector")
            .await
            .unwrap();
        let b = Intruder {
            token: token.expose().clone(),
            pid: c.pid,
        };
        let res = b
            .send(
                s,
                reqwest::Method::PUT,
                "/api/v1/discovery/guilds",
                json!({"guilds": [{"id": OTHER_GUILD, "name": "Beta"}]}),
            )
            .await;
        assert_eq!(res.status(), 200);
        b
    }

    async fn send(&self, s: &Source, method: reqwest::Method, path: &str, body: Value) -> reqwest::Response {
        s.app
            .client
            .request(method, s.app.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, s: &Source, path: &str, body: Value) -> reqwest::Response {
        self.send(s, reqwest::Method::POST, path, body).await
    }
}

async fn stored_content(s: &Source, id: u64) -> (String, bool) {
    let row = s
        .signals()
        .await
        .into_iter()
        .find(|r| r.message_id == id as i64)
        .expect("stored");
    (row.content, row.deleted_at.is_some())
}

async fn another_connector_cannot_edit_or_delete_what_a_connector_captured(backend: Backend) {
    let s = Source::start(backend).await;
    assert_eq!(s.event(create(1, "BTC long 91,000")).await["status"], "accepted");
    let b = Intruder::join(&s).await;
    let feed_before = s.feed_rows().await.len();

    let res = b
        .post(&s, "/api/v1/events", update(1, "BTC SHORT", "2026-11-27T12:05:00Z"))
        .await;
    let (status, code, message) = error_of(res).await;
    assert_eq!((status, code.as_str()), (403, "not_owner"), "{message}");
    assert!(message.contains(GUILD), "names the guild: {message}");
    let res = b.post(&s, "/api/v1/events", delete(1, "2026-11-27T12:06:00Z")).await;
    assert_eq!(error_of(res).await.0, 403);
    let res = b
        .post(
            &s,
            "/api/v1/events/batch",
            json!({"events": [update(1, "BTC SHORT", "2026-11-27T12:05:00Z"), delete(1, "2026-11-27T12:06:00Z"), create(2, "forged")]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["forbidden"], 3, "{v}");
    assert!(
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "forbidden"),
        "{v}"
    );

    assert_eq!(stored_content(&s, 1).await, ("BTC long 91,000".to_owned(), false));
    assert!(s.signals().await.iter().all(|r| r.message_id != 2), "no forged signal");
    assert_eq!(s.feed_rows().await.len(), feed_before, "nothing reached the feed");
    // The owner still edits its own message.
    assert_eq!(
        s.event(update(1, "BTC long 91,500", "2026-11-27T12:05:00Z")).await["status"],
        "accepted"
    );
}

async fn another_connector_cannot_take_a_guild_or_its_channels_by_snapshot(backend: Backend) {
    let s = Source::start(backend).await;
    let b = Intruder::join(&s).await;
    let res = b
        .send(
            &s,
            reqwest::Method::PUT,
            "/api/v1/discovery/guilds",
            json!({"guilds": [{"id": OTHER_GUILD, "name": "Beta"}, {"id": GUILD, "name": "Mine now"}]}),
        )
        .await;
    let (status, code, message) = error_of(res).await;
    assert_eq!((status, code.as_str()), (403, "not_owner"), "{message}");
    let guild = domain::discovery::guilds(&s.app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.id.to_string() == GUILD)
        .unwrap();
    assert_eq!(
        (guild.connector_id, guild.name.as_str()),
        (s.connector.id, "Alpha Signals")
    );

    // A's guild's channels.
    let res = b
        .send(
            &s,
            reqwest::Method::PUT,
            &format!("/api/v1/discovery/guilds/{GUILD}/channels"),
            json!({"channels": [{"id": SIGNALS, "name": "renamed", "type": 0}]}),
        )
        .await;
    assert_eq!(error_of(res).await.1, "not_owner");
    // A's channel reported under B's own guild.
    let res = b
        .send(
            &s,
            reqwest::Method::PUT,
            &format!("/api/v1/discovery/guilds/{OTHER_GUILD}/channels"),
            json!({"channels": [{"id": OTHER_CHANNEL, "name": "beta", "type": 0}, {"id": SIGNALS, "name": "stolen", "type": 0}]}),
        )
        .await;
    let (status, code, message) = error_of(res).await;
    assert_eq!((status, code.as_str()), (403, "not_owner"), "{message}");
    assert!(message.contains(SIGNALS), "{message}");
    let signals = domain::discovery::channels(&s.app.ctx.db, None)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.id.to_string() == SIGNALS)
        .unwrap();
    assert_eq!(
        (
            signals.guild_id.to_string().as_str(),
            signals.name.as_str(),
            signals.is_source
        ),
        (GUILD, "signals", true)
    );
    // B's own channels are fine.
    let res = b
        .send(
            &s,
            reqwest::Method::PUT,
            &format!("/api/v1/discovery/guilds/{OTHER_GUILD}/channels"),
            json!({"channels": [{"id": OTHER_CHANNEL, "name": "beta", "type": 0}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

async fn reported_times_far_in_the_future_are_refused(backend: Backend) {
    let s = Source::start(backend).await;
    assert_eq!(s.event(create(1, "BTC long")).await["status"], "accepted");
    let res = s
        .post("/api/v1/events", update(1, "pinned forever", "2100-01-01T00:00:00Z"))
        .await;
    let (status, code, message) = error_of(res).await;
    assert_eq!((status, code.as_str()), (400, "invalid_event"));
    assert!(message.contains("edited_at") && message.contains("future"), "{message}");
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc3339();
    assert_eq!(
        s.event(update(1, "slightly fast clock", &soon)).await["status"],
        "accepted"
    );
    // A real edit after that still wins once its time passes the skewed one.
    let later = (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc3339();
    assert_eq!(s.event(update(1, "real edit", &later)).await["status"], "accepted");
    assert_eq!(stored_content(&s, 1).await.0, "real edit");
}

async fn an_admin_reassigns_a_guild_with_a_reason_and_only_the_new_owner_acts(backend: Backend) {
    let s = Source::start(backend).await;
    assert_eq!(s.event(create(1, "BTC long")).await["status"], "accepted");
    let b = Intruder::join(&s).await;
    let admin = s.app.sign_up("ops@example.com", PASSWORD).await;
    s.app.make_admin("ops@example.com").await;

    let res = s
        .app
        .call(
            "/rpc/admin/guilds/reassign",
            &[("guild", GUILD), ("connector", &b.pid), ("reason", "  ")],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 422, "a reason is required");
    let res = s
        .app
        .call(
            "/rpc/admin/guilds/reassign",
            &[
                ("guild", GUILD),
                ("connector", &b.pid),
                ("reason", "collector replaced on the new VPS"),
            ],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 200);
    let view: Value = s
        .app
        .call("/rpc/admin/channels", &[("guild", GUILD)], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["owner"][1], "Other collector", "{view}");
    let note = view["reassigned"].as_str().unwrap();
    assert!(
        note.contains("collector replaced on the new VPS") && note.contains("ops@example.com"),
        "{note}"
    );

    let res = b
        .post(
            &s,
            "/api/v1/events",
            update(1, "BTC long, TP moved", "2026-11-27T12:05:00Z"),
        )
        .await;
    assert_eq!(res.status(), 200, "the new owner edits the guild's messages");
    let res = s.post("/api/v1/events", create(3, "from the old collector")).await;
    assert_eq!(error_of(res).await.1, "not_owner", "the old owner is refused");
    assert_eq!(stored_content(&s, 1).await.0, "BTC long, TP moved");
}

/// A message is known by its source channel and id together: connector B reporting a delete
/// (or a create) of message id X in its own channel first does not keep A's create of X in A's
/// guild from being stored, shown live and fed to followers.
async fn another_connector_cannot_suppress_a_message_by_reporting_its_id_first(backend: Backend) {
    let s = Source::start(backend).await;
    let b = Intruder::join(&s).await;
    let res = b
        .send(
            &s,
            reqwest::Method::PUT,
            &format!("/api/v1/discovery/guilds/{OTHER_GUILD}/channels"),
            json!({"channels": [{"id": OTHER_CHANNEL, "name": "beta-signals", "type": 0}]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    domain::discovery::set_flag(
        &s.app.ctx.db,
        OTHER_CHANNEL.parse().unwrap(),
        domain::discovery::Role::Source,
        true,
    )
    .await
    .unwrap();
    let in_b = |mut event: Value| {
        event["guild_id"] = json!(OTHER_GUILD);
        event["channel_id"] = json!(OTHER_CHANNEL);
        event
    };
    // B goes first with A's coming message ids: a delete of 77, a create of 78.
    let v: Value = b
        .post(&s, "/api/v1/events", in_b(delete(77, "2026-11-27T12:00:00Z")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "accepted", "{v}");
    let v: Value = b
        .post(&s, "/api/v1/events", in_b(create(78, "B's own words")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "accepted", "{v}");
    let feed_before = s.feed_rows().await.len();

    assert_eq!(s.event(create(77, "BTC long 91,000")).await["status"], "accepted");
    assert_eq!(s.event(create(78, "ETH short 3,100")).await["status"], "accepted");
    let mine: Vec<(i64, String, bool)> = s
        .signals()
        .await
        .into_iter()
        .filter(|r| r.channel_id.to_string() == SIGNALS)
        .map(|r| (r.message_id, r.content, r.deleted_at.is_some()))
        .collect();
    assert_eq!(
        mine,
        [
            (77, "BTC long 91,000".to_owned(), false),
            (78, "ETH short 3,100".to_owned(), false)
        ]
    );
    assert_eq!(s.feed_rows().await.len(), feed_before + 2, "both reached the feed");
    // B's later edit of "its" 78 stays in B's channel.
    let v: Value = b
        .post(
            &s,
            "/api/v1/events",
            in_b(update(78, "rewritten", "2026-11-27T12:05:00Z")),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "accepted", "{v}");
    assert_eq!(stored_in(&s, SIGNALS, 78).await, "ETH short 3,100");
}

async fn stored_in(s: &Source, channel: &str, id: u64) -> String {
    s.signals()
        .await
        .into_iter()
        .find(|r| r.channel_id.to_string() == channel && r.message_id == id as i64)
        .expect("stored")
        .content
}

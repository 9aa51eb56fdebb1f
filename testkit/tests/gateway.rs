//! The fake Discord's gateway: the raw protocol as Discord documents it, intents, and serenity's
//! own gateway client connecting, resuming and re-identifying against it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use testkit::discord::{BOT_TOKEN, FakeDiscord, GUILD_MESSAGES, GUILDS, MESSAGE_CONTENT};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const GUILD: u64 = 500;
const CHANNEL: u64 = 501;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn fake() -> FakeDiscord {
    let fake = FakeDiscord::start(0).await.unwrap();
    fake.with(|w| {
        w.add_guild(GUILD, "Source", 100);
        w.add_channel(GUILD, 502, "signals", 4, None);
        w.add_channel(GUILD, CHANNEL, "btc-calls", 0, Some(502));
        w.add_user(77, "trader");
    });
    fake
}

async fn connect(fake: &FakeDiscord) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(format!("{}?v=10&encoding=json", fake.gateway_url()))
        .await
        .unwrap();
    socket
}

/// The next frame: JSON, or the close code as `{"close": code}`.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s");
        match msg {
            Some(Ok(WsMessage::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(WsMessage::Close(frame))) => return json!({"close": frame.map(|f| u16::from(f.code))}),
            Some(Ok(_)) => continue,
            other => return json!({"ended": format!("{other:?}")}),
        }
    }
}

async fn send(socket: &mut Socket, v: Value) {
    socket.send(WsMessage::Text(v.to_string().into())).await.unwrap();
}

fn identify(intents: u64) -> Value {
    json!({"op": 2, "d": {"token": BOT_TOKEN, "intents": intents,
        "properties": {"os": "linux", "browser": "test", "device": "test"}}})
}

/// Connects and identifies; returns the socket, the session id and the last sequence.
async fn identified(fake: &FakeDiscord, intents: u64) -> (Socket, String, u64) {
    let mut s = connect(fake).await;
    assert_eq!(next(&mut s).await["op"], 10);
    send(&mut s, identify(intents)).await;
    let ready = next(&mut s).await;
    assert_eq!(ready["t"], "READY");
    let session = ready["d"]["session_id"].as_str().unwrap().to_owned();
    let mut seq = ready["s"].as_u64().unwrap();
    if intents & GUILDS != 0 {
        let guild = next(&mut s).await;
        assert_eq!(guild["t"], "GUILD_CREATE");
        seq = guild["s"].as_u64().unwrap();
    }
    (s, session, seq)
}

#[tokio::test]
async fn hello_heartbeat_identify_ready_guild_create_and_dispatches() {
    let fake = fake().await;
    fake.with(|w| w.gateway.heartbeat_interval = Duration::from_millis(1500));
    let mut s = connect(&fake).await;
    let hello = next(&mut s).await;
    assert_eq!(hello["op"], 10);
    assert_eq!(hello["d"]["heartbeat_interval"], 1500);

    send(&mut s, json!({"op": 1, "d": null})).await;
    assert_eq!(next(&mut s).await["op"], 11, "a heartbeat is acknowledged");

    send(&mut s, identify(GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT)).await;
    let ready = next(&mut s).await;
    assert_eq!(
        (ready["op"].clone(), ready["t"].clone(), ready["s"].clone()),
        (json!(0), json!("READY"), json!(1))
    );
    assert_eq!(ready["d"]["user"]["id"], testkit::discord::BOT_USER_ID.to_string());
    assert_eq!(ready["d"]["guilds"][0]["id"], GUILD.to_string());
    assert!(
        ready["d"]["resume_gateway_url"]
            .as_str()
            .unwrap()
            .starts_with("ws://127.0.0.1:")
    );

    let guild = next(&mut s).await;
    assert_eq!(
        (guild["t"].clone(), guild["s"].clone()),
        (json!("GUILD_CREATE"), json!(2))
    );
    let channels = guild["d"]["channels"].as_array().unwrap();
    assert!(channels.iter().any(|c| c["id"].as_str() == Some("501")
        && c["name"] == "btc-calls"
        && c["type"] == 0
        && c["parent_id"] == "502"));

    let id = fake.with(|w| w.post_message(CHANNEL, 77, "BTC long 97,000"));
    let created = next(&mut s).await;
    assert_eq!(
        (created["t"].clone(), created["s"].clone()),
        (json!("MESSAGE_CREATE"), json!(3))
    );
    assert_eq!(created["d"]["id"], id.to_string());
    assert_eq!(created["d"]["content"], "BTC long 97,000");
    assert_eq!(created["d"]["guild_id"], GUILD.to_string());
    assert_eq!(created["d"]["author"]["username"], "trader");

    assert!(fake.with(|w| w.edit_message(CHANNEL, id, "BTC long 97,500")));
    let updated = next(&mut s).await;
    assert_eq!(updated["t"], "MESSAGE_UPDATE");
    assert_eq!(updated["d"]["content"], "BTC long 97,500");
    assert!(updated["d"]["edited_timestamp"].is_string());

    assert!(fake.with(|w| w.delete_message(CHANNEL, id)));
    let deleted = next(&mut s).await;
    assert_eq!(deleted["t"], "MESSAGE_DELETE");
    assert_eq!(
        deleted["d"],
        json!({"id": id.to_string(), "channel_id": CHANNEL.to_string(), "guild_id": GUILD.to_string()})
    );

    fake.with(|w| {
        w.dispatch(
            "THREAD_CREATE",
            json!({"id": "600", "parent_id": CHANNEL.to_string(), "type": 11}),
        );
    });
    assert_eq!(next(&mut s).await["t"], "THREAD_CREATE", "tests push any dispatch");
    assert_eq!(fake.with(|w| (w.gateway.identifies, w.gateway.heartbeats)), (1, 1));
}

#[tokio::test]
async fn a_wrong_token_closes_with_4004_and_frames_before_identify_with_4003() {
    let fake = fake().await;
    let mut s = connect(&fake).await;
    next(&mut s).await;
    send(
        &mut s,
        json!({"op": 2, "d": {"token": "nope", "intents": 1, "properties": {}}}),
    )
    .await;
    assert_eq!(next(&mut s).await, json!({"close": 4004}));

    let mut s = connect(&fake).await;
    next(&mut s).await;
    send(&mut s, json!({"op": 8, "d": {"guild_id": "1"}})).await;
    assert_eq!(next(&mut s).await, json!({"close": 4003}));

    let mut s = connect(&fake).await;
    next(&mut s).await;
    send(&mut s, json!({"op": 99})).await;
    assert_eq!(next(&mut s).await, json!({"close": 4001}));
}

#[tokio::test]
async fn resume_replays_what_the_session_missed_then_says_resumed() {
    let fake = fake().await;
    let (mut s, session, seq) = identified(&fake, GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT).await;

    assert_eq!(fake.with(|w| w.close_gateway(4000)), 1);
    assert_eq!(next(&mut s).await, json!({"close": 4000}));
    let missed = fake.with(|w| w.post_message(CHANNEL, 77, "posted while we were away"));

    let mut s = connect(&fake).await;
    next(&mut s).await;
    send(
        &mut s,
        json!({"op": 6, "d": {"token": BOT_TOKEN, "session_id": session, "seq": seq}}),
    )
    .await;
    let replayed = next(&mut s).await;
    assert_eq!(replayed["t"], "MESSAGE_CREATE");
    assert_eq!(replayed["d"]["id"], missed.to_string());
    assert_eq!(replayed["s"], seq + 1);
    let resumed = next(&mut s).await;
    assert_eq!(
        (resumed["t"].clone(), resumed["s"].clone()),
        (json!("RESUMED"), json!(seq + 2))
    );
    assert_eq!(fake.with(|w| w.gateway.resumes), 1);

    // A RESUME from a sequence the session never reached is refused.
    let mut s2 = connect(&fake).await;
    next(&mut s2).await;
    send(
        &mut s2,
        json!({"op": 6, "d": {"token": BOT_TOKEN, "session_id": session, "seq": seq + 50}}),
    )
    .await;
    assert_eq!(next(&mut s2).await, json!({"close": 4007}));

    // After a long outage Discord no longer knows the session: INVALID_SESSION, not resumable.
    fake.with(|w| w.forget_gateway_sessions());
    let mut s3 = connect(&fake).await;
    next(&mut s3).await;
    send(
        &mut s3,
        json!({"op": 6, "d": {"token": BOT_TOKEN, "session_id": session, "seq": seq}}),
    )
    .await;
    assert_eq!(next(&mut s3).await, json!({"op": 9, "d": false, "s": null, "t": null}));
    drop(s);
}

#[tokio::test]
async fn reconnect_request_and_unanswered_heartbeats_on_demand() {
    let fake = fake().await;
    let (mut s, _, _) = identified(&fake, GUILDS).await;
    fake.with(|w| w.request_reconnect());
    assert_eq!(next(&mut s).await["op"], 7);

    fake.with(|w| w.gateway.ack_heartbeats = false);
    send(&mut s, json!({"op": 1, "d": 2})).await;
    let quiet = tokio::time::timeout(Duration::from_millis(300), s.next()).await;
    assert!(quiet.is_err(), "no ACK: the client must notice a zombie connection");
}

#[tokio::test]
async fn intents_filter_events_and_message_content_is_privileged() {
    let fake = fake().await;
    // Without MESSAGE_CONTENT, messages arrive with empty content, as Discord sends them.
    let (mut s, _, _) = identified(&fake, GUILDS | GUILD_MESSAGES).await;
    fake.with(|w| w.post_message(CHANNEL, 77, "secret entry 97,000"));
    let created = next(&mut s).await;
    assert_eq!(created["t"], "MESSAGE_CREATE");
    assert_eq!(created["d"]["content"], "");

    // Without GUILD_MESSAGES, no message events at all.
    let (mut quiet, _, _) = identified(&fake, GUILDS).await;
    assert_eq!(
        fake.with(|w| w.dispatch("MESSAGE_DELETE", json!({"id": "1", "channel_id": "2"}))),
        1
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), quiet.next())
            .await
            .is_err()
    );

    // A privileged intent the application was not granted closes the socket with 4014.
    fake.with(|w| w.gateway.privileged_granted = 0);
    let mut s = connect(&fake).await;
    next(&mut s).await;
    send(&mut s, identify(GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT)).await;
    assert_eq!(next(&mut s).await, json!({"close": 4014}));
}

mod with_serenity {
    //! serenity's gateway client, pointed at the fake through `HttpBuilder::proxy` (it reads the
    //! gateway URL from `GET /api/v10/gateway`), receives READY, GUILD_CREATE and messages,
    //! resumes after a close, and identifies again when the session is gone.

    use super::*;
    use serenity::all::{Context, EventHandler, GatewayIntents, Guild, Message, Ready, ResumedEvent};
    use serenity::http::HttpBuilder;
    use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

    struct Events(UnboundedSender<String>);

    #[serenity::async_trait]
    impl EventHandler for Events {
        async fn ready(&self, _: Context, ready: Ready) {
            let _ = self.0.send(format!("ready {}", ready.user.name));
        }
        async fn guild_create(&self, _: Context, guild: Guild, _: Option<bool>) {
            let _ = self
                .0
                .send(format!("guild {} channels {}", guild.name, guild.channels.len()));
        }
        async fn message(&self, _: Context, m: Message) {
            let _ = self.0.send(format!("message {}", m.content));
        }
        async fn resume(&self, _: Context, _: ResumedEvent) {
            let _ = self.0.send("resumed".into());
        }
    }

    async fn expect(events: &mut UnboundedReceiver<String>, what: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = tokio::time::timeout_at(deadline, events.recv())
                .await
                .unwrap_or_else(|_| panic!("serenity never reported {what:?}"))
                .expect("the client stopped");
            if got == what {
                return;
            }
        }
    }

    #[tokio::test]
    async fn serenity_identifies_receives_resumes_and_identifies_again() {
        let fake = fake().await;
        let http = HttpBuilder::new(BOT_TOKEN)
            .proxy(fake.url())
            .ratelimiter_disabled(true)
            .build();
        let (tx, mut events) = unbounded_channel();
        let intents = GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::MESSAGE_CONTENT;
        let mut client = serenity::client::ClientBuilder::new_with_http(http, intents)
            .event_handler(Events(tx))
            .await
            .unwrap();
        let task = tokio::spawn(async move { client.start().await });

        expect(&mut events, "ready SignalDesk Bot").await;
        expect(&mut events, "guild Source channels 2").await;
        fake.with(|w| w.post_message(CHANNEL, 77, "ETH short 3,150"));
        expect(&mut events, "message ETH short 3,150").await;

        // Closed with a resumable code: serenity resumes and gets what it missed.
        fake.with(|w| w.close_gateway(4000));
        fake.with(|w| w.post_message(CHANNEL, 77, "while resuming"));
        expect(&mut events, "message while resuming").await;
        expect(&mut events, "resumed").await;
        assert_eq!(fake.with(|w| (w.gateway.identifies, w.gateway.resumes)), (1, 1));

        // The session is gone: INVALID_SESSION, then a fresh IDENTIFY and READY.
        fake.with(|w| {
            w.close_gateway(4000);
            w.forget_gateway_sessions();
        });
        expect(&mut events, "ready SignalDesk Bot").await;
        assert_eq!(fake.with(|w| w.gateway.identifies), 2);
        task.abort();
    }
}

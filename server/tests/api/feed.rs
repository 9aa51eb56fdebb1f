//! The customer feed websocket (issue 6, server side): who may open it, replay after a
//! reconnect, live changes, the access cut-off at the second, and that only Source channels
//! are ever delivered. Real websockets against the real server, on SQLite and PostgreSQL.

use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::capture::{GUILD, SIGNALS, Source, create};
use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::on_both_databases;

on_both_databases!(
    s9_the_feed_needs_a_session_our_origin_and_access,
    replays_the_gap_after_a_reconnect_then_streams_live,
    access_ends_at_the_second_and_nothing_is_sent_after,
    signals_of_a_channel_no_longer_source_are_never_delivered,
    f3_a_client_that_stops_reading_never_delays_the_others,
    every_follower_gets_every_change_once_and_in_order_while_ingest_runs,
    s9_the_dashboard_lists_signals_only_for_customers_with_access,
    demo_mode_gives_a_newcomer_a_live_feed,
    open_feeds_are_capped_per_account_and_per_process,
    a_change_another_process_commits_reaches_open_feeds_at_once,
);

/// The bot captures from the gateway in its own process: what it commits reaches the server's
/// open feeds at once — through NOTIFY on PostgreSQL, through the watch on the write-ahead log on
/// SQLite.
async fn a_change_another_process_commits_reaches_open_feeds_at_once(backend: Backend) {
    let s = Source::start(backend).await;
    let session = customer_with_access(&s.app, "bot@example.com", chrono::Duration::hours(1)).await;
    let mut ws = connect(&s.app, Some(&session), &s.app.address, None).await.unwrap();
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"], "access");
    // "Another process": its own connection and its own notifier, nothing shared with the app.
    let settings = s.app.database_settings();
    let config =
        domain::Config::from_sources(&std::collections::BTreeMap::new(), |k| settings.get(k).cloned()).unwrap();
    let db = domain::database::connect(&config).await.unwrap();
    let feed = domain::feed::Feed::new();
    let item = domain::ingest::parse(create(7, "from the bot process"), Utc::now());
    domain::ingest::ingest(&db, &feed, &s.connector, vec![item])
        .await
        .unwrap();
    // Half a second is less than either engine's fallback poll (1 s, 2 s): only the wake-up
    // itself delivers the change in time.
    let e = next(&mut ws, Duration::from_millis(500))
        .await
        .expect("the change arrives within half a second");
    assert_eq!(e["signal"]["content"], "from the bot process");
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn customer_with_access(app: &TestApp, email: &str, ends_in: chrono::Duration) -> String {
    let session = app.sign_up_verified(email, PASSWORD).await;
    let uid = domain::accounts::id_for_email(&app.ctx.db, email)
        .await
        .unwrap()
        .unwrap();
    let tier = domain::entitlements::tiers(&app.ctx.db).await.unwrap()[0].id;
    domain::entitlements::grant(
        &app.ctx.db,
        domain::entitlements::NewGrant {
            user_id: Some(uid),
            email: email.into(),
            order_id: None,
            tier_id: tier,
            days: 1,
            // One day of access that ends `ends_in` from now.
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
    session
}

pub async fn connect(
    app: &TestApp,
    session: Option<&str>,
    origin: &str,
    after: Option<i64>,
) -> Result<Socket, WsError> {
    let ws_url = app.address.replace("http://", "ws://");
    let path = match after {
        Some(a) => format!("{ws_url}/api/v1/feed/ws?after={a}"),
        None => format!("{ws_url}/api/v1/feed/ws"),
    };
    let mut req = path.into_client_request().unwrap();
    req.headers_mut().insert("origin", origin.parse().unwrap());
    if let Some(s) = session {
        req.headers_mut()
            .insert("cookie", format!("sd_session={s}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(req).await.map(|(s, _)| s)
}

/// The next JSON message that is not a heartbeat, or None if nothing comes within `wait`.
pub async fn next(socket: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] != "heartbeat" {
                    return Some(v);
                }
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

fn status_of(err: WsError) -> u16 {
    match err {
        WsError::Http(res) => res.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

async fn s9_the_feed_needs_a_session_our_origin_and_access(backend: Backend) {
    let s = Source::start(backend).await;
    let app = &s.app;
    let paying = customer_with_access(app, "paying@example.com", chrono::Duration::hours(1)).await;
    let free = app.sign_up("free@example.com", PASSWORD).await;
    assert_eq!(
        status_of(connect(app, None, &app.address, None).await.unwrap_err()),
        401
    );
    assert_eq!(
        status_of(connect(app, Some("forged"), &app.address, None).await.unwrap_err()),
        401
    );
    assert_eq!(
        status_of(connect(app, Some(&free), &app.address, None).await.unwrap_err()),
        403
    );
    assert_eq!(
        status_of(
            connect(app, Some(&paying), "https://evil.example", None)
                .await
                .unwrap_err()
        ),
        403
    );
    let mut ok = connect(app, Some(&paying), &app.address, None).await.unwrap();
    assert_eq!(next(&mut ok, Duration::from_secs(5)).await.unwrap()["state"], "active");
}

async fn replays_the_gap_after_a_reconnect_then_streams_live(backend: Backend) {
    let s = Source::start(backend).await;
    let session = customer_with_access(&s.app, "live@example.com", chrono::Duration::hours(1)).await;
    s.batch(vec![create(1, "one"), create(2, "two"), create(3, "three")])
        .await;

    let mut ws = connect(&s.app, Some(&session), &s.app.address, Some(0)).await.unwrap();
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"], "access");
    let mut last = 0;
    for want in ["one", "two", "three"] {
        let e = next(&mut ws, Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            (e["type"].as_str(), e["signal"]["content"].as_str()),
            (Some("event"), Some(want))
        );
        assert!(e["seq"].as_i64().unwrap() > last);
        last = e["seq"].as_i64().unwrap();
        assert_eq!(e["signal"]["channel"], "signals");
    }
    // Live: an edit arrives as it commits.
    let mut edit = create(2, "two, edited");
    edit["type"] = json!("message_update");
    edit["edited_at"] = json!("2026-11-27T12:05:00Z");
    s.event(edit).await;
    let e = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (e["op"].as_str(), e["signal"]["content"].as_str()),
        (Some("message_updated"), Some("two, edited"))
    );
    last = e["seq"].as_i64().unwrap();
    drop(ws);

    // While away: a delete. Reconnecting from the last sequence replays exactly the gap.
    s.event(json!({"type": "message_delete", "guild_id": GUILD, "channel_id": SIGNALS, "message_id": "1"}))
        .await;
    let mut ws = connect(&s.app, Some(&session), &s.app.address, Some(last))
        .await
        .unwrap();
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"], "access");
    let e = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(e["op"], "message_deleted");
    assert_eq!(e["signal"]["content"], "", "deleted content is hidden");
    assert!(e["signal"]["deleted_at"].is_string());
    assert_eq!(next(&mut ws, Duration::from_millis(500)).await, None, "nothing twice");
}

async fn access_ends_at_the_second_and_nothing_is_sent_after(backend: Backend) {
    let s = Source::start(backend).await;
    // Five seconds: the socket and the first event must fit inside them even on a loaded machine.
    let session = customer_with_access(&s.app, "brief@example.com", chrono::Duration::seconds(5)).await;
    let mut ws = connect(&s.app, Some(&session), &s.app.address, None).await.unwrap();
    let hello = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    let ends: chrono::DateTime<Utc> = hello["ends_at"].as_str().unwrap().parse().unwrap();
    s.event(create(1, "inside the window")).await;
    assert_eq!(
        next(&mut ws, Duration::from_secs(2)).await.unwrap()["signal"]["content"],
        "inside the window"
    );
    let ended = next(&mut ws, Duration::from_secs(8)).await.unwrap();
    let at = Utc::now();
    assert_eq!(
        (ended["type"].as_str(), ended["state"].as_str()),
        (Some("access"), Some("ended"))
    );
    assert!(
        at >= ends && at - ends < chrono::Duration::milliseconds(2000),
        "ended at {at}, access ended {ends}"
    );
    s.event(create(2, "after the end")).await;
    assert_eq!(next(&mut ws, Duration::from_secs(1)).await, None);
    // And a new connection is refused.
    assert_eq!(
        status_of(connect(&s.app, Some(&session), &s.app.address, None).await.unwrap_err()),
        403
    );
}

async fn signals_of_a_channel_no_longer_source_are_never_delivered(backend: Backend) {
    let s = Source::start(backend).await;
    let session = customer_with_access(&s.app, "strict@example.com", chrono::Duration::hours(1)).await;
    s.event(create(1, "captured while Source")).await;
    domain::discovery::set_flag(
        &s.app.ctx.db,
        SIGNALS.parse().unwrap(),
        domain::discovery::Role::Source,
        false,
    )
    .await
    .unwrap();
    let mut ws = connect(&s.app, Some(&session), &s.app.address, Some(0)).await.unwrap();
    assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"], "access");
    assert_eq!(next(&mut ws, Duration::from_millis(800)).await, None);
}

/// F3: one client stops reading; the server drops it once its buffers are full, and the others
/// keep receiving everything without waiting for it.
async fn f3_a_client_that_stops_reading_never_delays_the_others(backend: Backend) {
    const EVENTS: u64 = 3_000;
    let s = Source::start(backend).await;
    let session = customer_with_access(&s.app, "fast@example.com", chrono::Duration::hours(1)).await;
    let mut stalled = connect(&s.app, Some(&session), &s.app.address, None).await.unwrap();
    let mut healthy = connect(&s.app, Some(&session), &s.app.address, None).await.unwrap();
    assert_eq!(
        next(&mut stalled, Duration::from_secs(5)).await.unwrap()["type"],
        "access"
    );
    assert_eq!(
        next(&mut healthy, Duration::from_secs(5)).await.unwrap()["type"],
        "access"
    );

    let reader = tokio::spawn(async move {
        let mut got = 0;
        while got < EVENTS {
            match next(&mut healthy, Duration::from_secs(20)).await {
                Some(e) if e["type"] == "event" => got += 1,
                Some(_) => {}
                None => break,
            }
        }
        got
    });
    let big = "x".repeat(3_900);
    for chunk in (1..=EVENTS).collect::<Vec<_>>().chunks(100) {
        s.batch(chunk.iter().map(|i| create(*i, &format!("{i} {big}"))).collect())
            .await;
    }
    assert_eq!(reader.await.unwrap(), EVENTS, "the healthy client got every event");

    // The stalled client was cut off: reading now ends before all events arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut delivered = 0;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), stalled.next()).await {
        if matches!(m, Message::Text(_)) {
            delivered += 1;
        }
    }
    assert!(
        delivered < EVENTS,
        "the stalled client was dropped (it had {delivered} of {EVENTS})"
    );
    let metrics = s.app.metrics().await;
    assert!(
        metrics.contains("signaldesk_feed_slow_clients_dropped_total 1\n"),
        "operators see the drop: {metrics}"
    );
}

/// The fan-out's core promise: followers that were connected before, that connect while
/// concurrent ingest is committing, and that resume from an old sequence all receive every
/// change exactly once, in sequence order — the live batches and their own replay of a gap
/// meet without a hole or an overlap.
async fn every_follower_gets_every_change_once_and_in_order_while_ingest_runs(backend: Backend) {
    // Sixteen writers, so ingest's commit queue groups requests into shared transactions.
    const WRITERS: u64 = 16;
    const PER_WRITER: u64 = 12;
    // Nine followers of one account: above the default per-account cap, which this test is not about.
    let s = Source::start_with(backend, &[("FEED_MAX_PER_USER", "20")]).await;
    let session = customer_with_access(&s.app, "many@example.com", chrono::Duration::hours(1)).await;
    s.event(create(999_999, "before anyone follows")).await;
    let first = domain::feed::view::head(&s.app.ctx.db).await.unwrap();

    let follow = |after: Option<i64>| {
        let (app, session) = (&s.app, session.clone());
        async move {
            let mut ws = connect(app, Some(&session), &app.address, after).await.unwrap();
            assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"], "access");
            ws
        }
    };
    let collect = |mut ws: Socket| {
        tokio::spawn(async move {
            let mut seqs = Vec::new();
            while let Some(e) = next(&mut ws, Duration::from_secs(3)).await {
                if e["type"] == "event" {
                    seqs.push(e["seq"].as_i64().unwrap());
                }
            }
            seqs
        })
    };
    let mut followers = Vec::new();
    for _ in 0..3 {
        followers.push((first, collect(follow(None).await)));
    }
    let source = &s;
    let writers = async {
        futures_util::future::join_all((0..WRITERS).map(|w| async move {
            for i in 0..PER_WRITER {
                source.event(create(w * 1_000 + i + 1, &format!("w{w} #{i}"))).await;
            }
        }))
        .await
    };
    let joiners = async {
        let mut joined = Vec::new();
        for k in 0..6 {
            tokio::time::sleep(Duration::from_millis(15 * k)).await;
            // Half resume from the very first change, half start from wherever the feed stands.
            if k % 2 == 0 {
                joined.push((first - 1, collect(follow(Some(first - 1)).await)));
            } else {
                let ws = follow(None).await;
                joined.push((i64::MIN, collect(ws)));
            }
        }
        joined
    };
    let ((), joined) = tokio::join!(
        async {
            writers.await;
        },
        joiners
    );
    followers.extend(joined);
    let head = domain::feed::view::head(&s.app.ctx.db).await.unwrap();
    let total = WRITERS * PER_WRITER + 1;
    assert_eq!(head - first + 1, total as i64, "one feed row per change");
    for (from, task) in followers {
        let seqs = task.await.unwrap();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order, never twice: {seqs:?}");
        if from != i64::MIN {
            // Followers with a known start must have every sequence after it, with no hole.
            let want: Vec<i64> = (from + 1..=head).collect();
            assert_eq!(seqs, want);
        } else if let Some(&start) = seqs.first() {
            // A follower that started "now" has a contiguous tail up to the head (or nothing,
            // if it joined after the last write).
            assert_eq!(seqs, (start..=head).collect::<Vec<_>>());
        }
    }
}

/// A TCP relay in front of PostgreSQL whose connections can all be cut at once, as a database
/// restart or a network blip does; new connections keep being accepted.
struct CuttableLink {
    addr: std::net::SocketAddr,
    open: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CuttableLink {
    async fn to(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Default::default();
        let conns = open.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                conns.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Self { addr, open }
    }

    /// Drops every open connection (both ends see it closed).
    fn cut(&self) {
        for relay in self.open.lock().unwrap().drain(..) {
            relay.abort();
        }
    }
}

/// Two server processes on one PostgreSQL database; B reaches it through a [`CuttableLink`].
struct TwoProcesses {
    a: String,
    b: String,
    link: CuttableLink,
    http: reqwest::Client,
    token: domain::Secret<String>,
    session: domain::Secret<String>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    db: sea_orm::DatabaseConnection,
    database: crate::helpers::TestDatabase,
}

impl TwoProcesses {
    async fn start() -> Self {
        use std::collections::BTreeMap;
        let database = crate::helpers::TestDatabase::create(Backend::Postgres).await;
        let mut settings = database.settings();
        settings.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
        let direct = url::Url::parse(&settings["DATABASE_URL"]).unwrap();
        let link = CuttableLink::to(format!(
            "{}:{}",
            direct.host_str().unwrap(),
            direct.port().unwrap_or(5432)
        ))
        .await;
        let mut through_link = direct.clone();
        through_link.set_host(Some("127.0.0.1")).unwrap();
        through_link.set_port(Some(link.addr.port())).unwrap();
        let mut stops = Vec::new();
        let mut addresses = Vec::new();
        for url in [direct.to_string(), through_link.to_string()] {
            let mut settings = settings.clone();
            settings.insert("DATABASE_URL".into(), url);
            let config = domain::Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).unwrap();
            let app = server::Application::build(config).await.unwrap();
            addresses.push(format!("http://127.0.0.1:{}", app.port()));
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(app.run_until(async move {
                let _ = rx.await;
            }));
            stops.push(tx);
        }
        let (a, b) = (addresses[0].clone(), addresses[1].clone());
        let db = sea_orm::Database::connect(settings["DATABASE_URL"].as_str())
            .await
            .unwrap();

        // Setup through the domain on the shared database: a connector, a source channel, a customer.
        let (_, token) = domain::connectors::create(&db, "Collector").await.unwrap();
        let http = reqwest::Client::new();
        let put = |url: String, body: Value| http.put(url).bearer_auth(token.expose()).json(&body).send();
        put(
            format!("{a}/api/v1/discovery/guilds"),
            json!({"guilds": [{"id": GUILD, "name": "G"}]}),
        )
        .await
        .unwrap();
        put(
            format!("{a}/api/v1/discovery/guilds/{GUILD}/channels"),
            json!({"channels": [{"id": SIGNALS, "name": "signals", "type": 0}]}),
        )
        .await
        .unwrap();
        domain::discovery::set_flag(&db, SIGNALS.parse().unwrap(), domain::discovery::Role::Source, true)
            .await
            .unwrap();
        let account = domain::accounts::sign_up(&db, "multi@example.com", domain::Secret::new(PASSWORD.into()))
            .await
            .unwrap();
        let tier = domain::entitlements::tiers(&db).await.unwrap()[0].id;
        domain::entitlements::grant(
            &db,
            domain::entitlements::NewGrant {
                user_id: Some(account.id),
                email: account.email.clone(),
                order_id: None,
                tier_id: tier,
                days: 30,
                starts_at: Utc::now(),
                cause: domain::entitlements::GrantCause::Admin,
                reason: "test".into(),
                actor: Some("test".into()),
                amount_minor: None,
                currency: None,
            },
        )
        .await
        .unwrap();
        let (session, _) = domain::sessions::start(&db, account.id, "test").await.unwrap();
        Self {
            a,
            b,
            link,
            http,
            token,
            session,
            stops,
            db,
            database,
        }
    }

    async fn follow_b(&self) -> Socket {
        let mut req = format!("{}/api/v1/feed/ws", self.b.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("origin", self.b.parse().unwrap());
        req.headers_mut().insert(
            "cookie",
            format!("sd_session={}", self.session.expose()).parse().unwrap(),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        assert_eq!(next(&mut ws, Duration::from_secs(5)).await.unwrap()["type"], "access");
        ws
    }

    async fn ingest_through(&self, base: &str, id: u64, content: &str) -> u16 {
        self.http
            .post(format!("{base}/api/v1/events"))
            .bearer_auth(self.token.expose())
            .json(&create(id, content))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn stop(self) {
        for s in self.stops {
            let _ = s.send(());
        }
        self.db.close().await.ok();
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(self.database);
    }
}

/// Two server processes on one PostgreSQL database: a signal ingested through A reaches a
/// websocket client of B (B's LISTEN connection turns A's NOTIFY into a wake-up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_ingested_through_one_process_reaches_a_client_of_another() {
    let both = TwoProcesses::start().await;
    let mut ws = both.follow_b().await;
    assert_eq!(both.ingest_through(&both.a, 1, "from process A").await, 200);
    let e = next(&mut ws, Duration::from_secs(5))
        .await
        .expect("B's client receives A's event");
    assert_eq!(e["signal"]["content"], "from process A");
    drop(ws);
    both.stop().await;
}

/// F2/J7: B loses every database connection (its pool, its LISTEN connection, the feed hub's
/// reads). Without a restart, B's follower still receives what A ingests next, and B's own
/// ingest keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_the_fan_out_recovers_when_its_database_connections_drop() {
    let both = TwoProcesses::start().await;
    let mut ws = both.follow_b().await;
    assert_eq!(both.ingest_through(&both.a, 1, "before the cut").await, 200);
    assert_eq!(
        next(&mut ws, Duration::from_secs(5)).await.unwrap()["signal"]["content"],
        "before the cut"
    );

    both.link.cut();
    assert_eq!(both.ingest_through(&both.a, 2, "after the cut").await, 200);
    let e = next(&mut ws, Duration::from_secs(10))
        .await
        .expect("B's follower receives A's event after B's connections dropped");
    assert_eq!(e["signal"]["content"], "after the cut");

    // B's ingest answers again too (a request that raced the cut may get a 503, never a loss).
    let mut status = 0;
    for _ in 0..20 {
        status = both.ingest_through(&both.b, 3, "through B after the cut").await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "only 'unavailable' while reconnecting");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status, 200);
    let e = next(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(e["signal"]["content"], "through B after the cut");
    drop(ws);
    both.stop().await;
}

/// S9: the dashboard's list is read only with access at the moment of the read.
async fn s9_the_dashboard_lists_signals_only_for_customers_with_access(backend: Backend) {
    let s = Source::start(backend).await;
    s.event(create(1, "paid content")).await;
    let paying = customer_with_access(&s.app, "reader@example.com", chrono::Duration::hours(1)).await;
    let free = s.app.sign_up("window-shopper@example.com", PASSWORD).await;
    let read = |session: String| {
        let app = &s.app;
        async move {
            let res = app.call("/rpc/dashboard", &[], Some(&session)).await;
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let with = read(paying).await;
    assert_eq!(with["signals"][0]["content"], "paid content");
    assert_eq!(with["access"]["tier"], "Basic");
    let without = read(free).await;
    assert_eq!(without["signals"], json!([]));
    assert_eq!(without["access"], Value::Null);
    assert!(!without["plans"].as_array().unwrap().is_empty());
    assert_eq!(s.app.call("/rpc/dashboard", &[], None).await.status(), 401);
    let page = s.app.get("/dashboard").await;
    assert_eq!(page.status(), 303, "visitors are sent to sign in");
}

/// Demo mode: accounts to sign in with, a customer with access, and signals that keep coming
/// (with edits and deletes) through the normal ingest path. Running it again reuses everything.
async fn demo_mode_gives_a_newcomer_a_live_feed(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let (admin, customer, connector) = server::demo::prepare(&app.ctx).await.unwrap();
    assert_eq!(admin.email, server::demo::ADMIN_EMAIL);
    let password = customer.password.expect("a new password is printed");
    let again = server::demo::prepare(&app.ctx).await.unwrap();
    assert!(again.1.password.is_none(), "the second run reuses the accounts");
    let feed = server::demo::spawn_feed(app.ctx.clone(), connector, Duration::from_millis(50));

    let res = app.sign_in(server::demo::CUSTOMER_EMAIL, &password).await;
    let session = crate::helpers::session_cookie(&res).expect("the printed password signs in");
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = app
            .call("/rpc/dashboard", &[], Some(&session))
            .await
            .json()
            .await
            .unwrap();
        if seen["signals"].as_array().is_some_and(|s| s.len() >= 5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    feed.abort();
    assert!(seen["access"]["tier"].is_string(), "{seen}");
    let first = seen["signals"][0]["content"].as_str().unwrap().to_owned();
    assert!(first.contains("/USDT"), "{first}");
}

async fn open_feeds_are_capped_per_account_and_per_process(backend: Backend) {
    let s = Source::start_with(backend, &[("FEED_MAX_PER_USER", "2"), ("FEED_MAX_CONNECTIONS", "3")]).await;
    let app = &s.app;
    let a = customer_with_access(app, "tabs@example.com", chrono::Duration::hours(1)).await;
    let b = customer_with_access(app, "other@example.com", chrono::Duration::hours(1)).await;
    let c = customer_with_access(app, "third@example.com", chrono::Duration::hours(1)).await;
    let first = connect(app, Some(&a), &app.address, None).await.unwrap();
    let _second = connect(app, Some(&a), &app.address, None).await.unwrap();
    assert_eq!(
        status_of(connect(app, Some(&a), &app.address, None).await.unwrap_err()),
        429
    );
    // Closing a tab frees its slot.
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        if let Ok(ws) = connect(app, Some(&a), &app.address, None).await {
            again = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "the slot came back");
    let _b = connect(app, Some(&b), &app.address, None).await.unwrap();
    assert_eq!(
        status_of(connect(app, Some(&c), &app.address, None).await.unwrap_err()),
        503
    );
}

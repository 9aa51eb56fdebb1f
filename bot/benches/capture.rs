//! `cargo bench -p bot --bench capture [-- --clients N --events E --rate R --backfill M
//! --engines sqlite,postgres --parts delivery,backfill]`: what capturing with our own bot costs
//! a customer, with the real bot process against the fake Discord's gateway.
//!
//! - **Delivery**: the real application in-process on port 0, the bot capturing the fake's
//!   source guild, and N dashboard clients in a second process (`testkit::feed_clients`). Events
//!   alternate between the two ways a signal arrives: a message posted in the fake (gateway
//!   dispatch → bot → database → the server's feed) and `POST /api/v1/events` to the server
//!   (an operator's own collector). Each carries the wall-clock time it was sent and its path, so
//!   both paths are measured under exactly the same load: p50/p95/p99 per path and the p95
//!   difference.
//! - **Backfill**: M messages posted while no bot runs, then a bot starts and reads them back
//!   (`GET /channels/{id}/messages?after=`, 100 a page) against a fake enforcing Discord's rate
//!   limits: messages per second, against what the limits allow, and how many 429s the bot caused.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "../../server/benches/support/setup.rs"]
mod setup;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sea_orm::{EntityTrait, PaginatorTrait};
use support::capture::{Rig, SIGNALS, TRADER, eventually, rig, rig_with};
use testkit::database::Backend;
use testkit::discord::Limits;
use testkit::feed_clients::{Clients, now_us};

struct Args {
    clients: usize,
    events: usize,
    rate: f64,
    backfill: usize,
    engines: Vec<Backend>,
    parts: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        clients: 1000,
        events: 400,
        rate: 20.0,
        backfill: 10_000,
        engines: vec![Backend::Sqlite, Backend::Postgres],
        parts: vec!["delivery".into(), "backfill".into()],
    };
    let argv: Vec<String> = std::env::args().collect();
    for w in argv.windows(2) {
        match w[0].as_str() {
            "--clients" => a.clients = w[1].parse().unwrap_or(a.clients),
            "--events" => a.events = w[1].parse().unwrap_or(a.events),
            "--rate" => a.rate = w[1].parse().unwrap_or(a.rate),
            "--backfill" => a.backfill = w[1].parse().unwrap_or(a.backfill),
            "--parts" => a.parts = w[1].split(',').map(str::to_owned).collect(),
            "--engines" => {
                a.engines = w[1]
                    .split(',')
                    .filter_map(|e| match e {
                        "sqlite" => Some(Backend::Sqlite),
                        "postgres" => Some(Backend::Postgres),
                        _ => None,
                    })
                    .collect()
            }
            _ => {}
        }
    }
    a
}

async fn stored(rig: &Rig) -> u64 {
    entity::signal::Entity::find().count(&rig.db).await.unwrap()
}

async fn delivery(backend: Backend, a: &Args) {
    let rig = rig(backend).await;
    let mut settings: BTreeMap<String, String> = rig.settings.clone();
    settings.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
    setup::lift_feed_caps(&mut settings);
    let config = domain::Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).expect("config");
    let app = server::Application::build(config).await.expect("app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let mut bot = rig.spawn_bot();
    rig.discovered().await;
    let api = setup::ApiSource::create(&rig.db, &base).await;
    let cookie = setup::customer_cookie(&rig.db).await;

    // Warm both paths (first query, first frame, the bot's first ingest).
    api.ingest(u64::MAX / 2, "warm-up").await;
    rig.fake.with(|w| w.post_message(SIGNALS, TRADER, "warm-up"));
    eventually(30, "both warm-up messages are stored", || async {
        (stored(&rig).await >= 2).then_some(())
    })
    .await;

    let ws_url = format!("{}/api/v1/feed/ws", base.replace("http://", "ws://"));
    let clients = Clients::connect(a.clients, &ws_url, Some(&base), Some(&cookie));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let gap = Duration::from_secs_f64(1.0 / a.rate);
    let mut next = tokio::time::Instant::now();
    for i in 0..a.events {
        let t0 = now_us();
        if i % 2 == 0 {
            api.ingest(i as u64, &format!("BTC long T0={t0}/api ")).await;
        } else {
            rig.fake
                .with(|w| w.post_message(SIGNALS, TRADER, &format!("BTC long T0={t0}/gateway ")));
        }
        next += gap;
        tokio::time::sleep_until(next).await;
    }
    // Let the last deliveries land.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let f = clients.finish();
    let _ = bot.kill().await;
    let _ = stop.send(());
    let _ = served.await;

    let ms = |path: &str, k: &str| f[path][k].as_u64().unwrap_or(0) as f64 / 1000.0;
    let each = a.events / 2;
    for path in ["api", "gateway"] {
        println!(
            "{:<9} {path:<7} {:>6} clients  delivered {:>7}/{:<7} p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
            backend.name(),
            a.clients,
            f[path]["count"],
            a.clients * each,
            ms(path, "p50"),
            ms(path, "p95"),
            ms(path, "p99"),
            ms(path, "max"),
        );
    }
    println!(
        "{:<9} gateway p95 − API p95: {:+.2} ms (goal: ≤ +2 ms)",
        backend.name(),
        ms("gateway", "p95") - ms("api", "p95")
    );
}

async fn backfill(backend: Backend, a: &Args) {
    let rig = rig_with(backend, Limits::discord()).await;
    let mut bot = rig.spawn_bot();
    rig.discovered().await;
    // The bot captures live: its cursor for #signals now exists.
    rig.fake.with(|w| w.post_message(SIGNALS, TRADER, "before the outage"));
    eventually(30, "the live message is stored", || async {
        (stored(&rig).await >= 1).then_some(())
    })
    .await;
    let _ = bot.kill().await;
    rig.fake.with(|w| {
        for n in 0..a.backfill {
            w.post_message(SIGNALS, TRADER, &format!("signal {n}"));
        }
    });
    // Past the dead holder's capture lease, so the time measured is the backfill's.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let before = rig.fake.with(|w| w.calls.len());
    let started = Instant::now();
    let mut bot = rig.spawn_bot();
    let want = a.backfill as u64 + 1;
    eventually(600, "every message is backfilled", || async {
        (stored(&rig).await >= want).then_some(())
    })
    .await;
    let done = Instant::now();
    let _ = bot.kill().await;
    let (first_read, reads, limited) = rig.fake.with(|w| {
        let calls = &w.calls[before..];
        let reads: Vec<_> = calls
            .iter()
            .filter(|c| c.method == "GET" && c.path.contains(&format!("/channels/{SIGNALS}/messages")))
            .collect();
        (
            reads.first().map(|c| c.at),
            reads.len(),
            calls.iter().filter(|c| c.status == 429).count(),
        )
    });
    let first_read = first_read.expect("the bot read the channel");
    let took = done.saturating_duration_since(first_read).as_secs_f64();
    // 100 messages a page; a route bucket allows 5 reads a second.
    let pages = a.backfill.div_ceil(100);
    let limits = Limits::discord();
    let least = (pages.saturating_sub(limits.per_bucket as usize) as f64 / limits.per_bucket as f64)
        * limits.bucket_window.as_secs_f64();
    println!(
        "{:<9} backfill {} messages: {took:.2} s from the first page read ({:.0} messages/s; the limits allow it in {least:.1} s); \
         {reads} page reads, 429s: {limited}; bot start → all stored {:.2} s",
        backend.name(),
        a.backfill,
        a.backfill as f64 / took,
        done.duration_since(started).as_secs_f64(),
    );
}

fn main() {
    if testkit::feed_clients::serve_if_asked() {
        return;
    }
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if a.parts.iter().any(|p| p == "delivery") {
            println!(
                "capture delivery: {} clients, {} events at {}/s, alternating gateway and ingest API (latency: sent → client receive)",
                a.clients, a.events, a.rate
            );
            for &backend in &a.engines {
                delivery(backend, &a).await;
            }
        }
        if a.parts.iter().any(|p| p == "backfill") {
            for &backend in &a.engines {
                backfill(backend, &a).await;
            }
        }
    });
}

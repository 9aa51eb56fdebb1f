//! `cargo bench -p bot --bench mirror [-- --samples N]`: how fast a signal reaches the
//! customers' server, with a real bot process against the fake Discord, on PostgreSQL and SQLite:
//! - ingest accepted → mirror job claimed (from the delivery ledger), and ingest call started →
//!   the copy made at the fake, p50/p95/p99, no rate limits (our own speed);
//! - one signal into 50 target channels, and a burst of 200 signals into 10 channels, with the
//!   fake enforcing 5 messages per 5 s per channel and 50 requests/s overall: the time taken
//!   against the least the limits allow, and how many 429s the bot caused.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use domain::discovery::{self, ChannelInfo, Role};
use domain::snowflake::Snowflake;
use sea_orm::EntityTrait;
use support::mirror::{CUSTOMERS, Rig, create, rig_with, source, target};
use testkit::database::Backend;
use testkit::discord::Limits;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(default)
}

fn discord_limits() -> Limits {
    Limits {
        global_per_second: 50,
        per_bucket: 5,
        bucket_window: Duration::from_secs(5),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn line(what: &str, backend: Backend, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{:<9} {what}: p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  ({} samples)",
        backend.name(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        percentile(&ms, 0.99),
        ms.len()
    );
}

async fn latency(backend: Backend, samples: usize) {
    let mut rig = rig_with(backend, Limits::none(), 60, 1).await;
    rig.start_bot();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut made = Vec::new();
    for n in 0..samples {
        let started = Instant::now();
        rig.ingest(vec![create(10_000 + n as u64, &format!("BTC long #{n}"))])
            .await;
        let at = loop {
            let at = rig.fake.with(|w| w.channel_messages(target(0)).len() > n).then(|| {
                rig.fake.with(|w| {
                    w.calls
                        .iter()
                        .filter(|c| c.method == "POST" && c.path.ends_with("/messages"))
                        .nth(n)
                        .map(|c| c.at)
                })
            });
            if let Some(Some(at)) = at {
                break at;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        made.push(at.saturating_duration_since(started).as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rig.until_jobs_settle().await;
    let claimed: Vec<f64> = entity::mirror_copy::Entity::find()
        .all(&rig.db)
        .await
        .unwrap()
        .iter()
        .filter_map(|c| Some((c.claimed_at? - c.accepted_at).num_microseconds()? as f64 / 1e3))
        .collect();
    line("ingest accepted → mirror job claimed", backend, claimed);
    line("ingest call → copy made at Discord  ", backend, made);
    if let Some(mut b) = rig.bot.take() {
        let _ = b.kill().await;
    }
}

/// Maps the first source channel to `extra` more target channels too.
async fn fan_out(rig: &Rig, extra: u64) {
    let channels: Vec<ChannelInfo> = (1..=extra)
        .map(|i| ChannelInfo {
            id: Snowflake::from_db(target(i) as i64),
            name: format!("t{i}"),
            kind: 0,
            parent_id: None,
            position: 0,
        })
        .collect();
    rig.fake.with(|w| {
        for i in 1..=extra {
            w.add_channel(CUSTOMERS, target(i), &format!("t{i}"), 0, None);
        }
    });
    discovery::record_channels(&rig.db, &rig.connector, Snowflake::from_db(CUSTOMERS as i64), &channels)
        .await
        .unwrap();
    for i in 1..=extra {
        let t = Snowflake::from_db(target(i) as i64);
        discovery::set_flag(&rig.db, t, Role::Target, true).await.unwrap();
        discovery::create_mapping(&rig.db, Snowflake::from_db(source(0) as i64), t)
            .await
            .unwrap();
    }
}

async fn wait_for_copies(rig: &Rig, channels: u64, each: usize) {
    while !rig
        .fake
        .with(|w| (0..channels).all(|i| w.channel_messages(target(i)).len() >= each))
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn one_into_fifty(backend: Backend) {
    let mut rig = rig_with(backend, discord_limits(), 60, 1).await;
    fan_out(&rig, 49).await;
    rig.start_bot();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rig.fake.with(|w| w.calls.len());
    let started = Instant::now();
    rig.ingest(vec![create(1, "ETH short 3,150")]).await;
    wait_for_copies(&rig, 50, 1).await;
    let took = started.elapsed().as_secs_f64();
    // 50 requests at 50/s, evenly spaced: the last may go 49/50 s after the first.
    let least = 49.0 / 50.0;
    let limited = rig
        .fake
        .with(|w| w.calls[before..].iter().filter(|c| c.status == 429).count());
    println!(
        "{:<9} 1 signal → 50 channels: {:.2} s; the limits allow it in {least:.2} s: ratio {:.2}; 429s: {limited}",
        backend.name(),
        took,
        took / least
    );
    if let Some(mut b) = rig.bot.take() {
        let _ = b.kill().await;
    }
}

async fn burst(backend: Backend) {
    let mut rig = rig_with(backend, discord_limits(), 60, 10).await;
    rig.start_bot();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let events = (0..200u64)
        .map(|n| {
            let mut e = create(100 + n, &format!("signal {n}"));
            e["channel_id"] = serde_json::json!(source(n % 10).to_string());
            e
        })
        .collect();
    rig.ingest(events).await;
    wait_for_copies(&rig, 10, 20).await;
    let took = started.elapsed().as_secs_f64();
    // 20 messages per channel at 5 per 5 s: the first 5 at once, the last 5 fifteen seconds on.
    let least = 15.0;
    println!(
        "{:<9} 200 signals → 10 channels: {:.2} s; the limits allow it in {least:.0} s: ratio {:.2}; 429s: {}",
        backend.name(),
        took,
        took / least,
        rig.fake.with(|w| w.rate_limited())
    );
    if let Some(mut b) = rig.bot.take() {
        let _ = b.kill().await;
    }
}

#[tokio::main]
async fn main() {
    let samples = arg("--samples", 200);
    for backend in [Backend::Postgres, Backend::Sqlite] {
        latency(backend, samples).await;
    }
    for backend in [Backend::Postgres, Backend::Sqlite] {
        one_into_fifty(backend).await;
        burst(backend).await;
    }
}

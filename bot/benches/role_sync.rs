//! `cargo bench -p bot --bench role_sync [-- --samples N --jobs M]`: what a paying customer
//! waits for, and what the queue sustains, with real bot processes against the fake Discord
//! (no rate limits, so the figures are ours, not Discord's):
//! - access change committed → the bot's first Discord call for that member (the job claimed,
//!   the ledger read), p50/p95/p99, one bot process idle and waiting, on PostgreSQL and SQLite;
//! - jobs per second with four bot processes working through a backlog.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::Config;
use domain::role_sync::RoleGuild;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use testkit::database::{Backend, TestDatabase};
use testkit::discord::{FakeDiscord, Limits};

const GUILD: u64 = 1_300_000_000_000_000_000;
const BASIC: u64 = 1_300_000_000_000_000_001;
const FIRST_MEMBER: u64 = 1_500_000_000_000_000_000;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(default)
}

struct Setup {
    db: DatabaseConnection,
    fake: FakeDiscord,
    settings: BTreeMap<String, String>,
    users: Vec<i64>,
    tier: i32,
    _database: TestDatabase,
}

async fn setup(backend: Backend, customers: usize) -> Setup {
    let database = TestDatabase::create(backend).await;
    let fake = FakeDiscord::start_with(0, Limits::none()).await.unwrap();
    fake.with(|w| {
        w.add_guild(GUILD, "Customers", 10);
        w.add_role(GUILD, BASIC, "Basic", 2);
        for i in 0..customers as u64 {
            w.add_member(GUILD, FIRST_MEMBER + i, &[]);
        }
    });
    let mut settings = database.settings();
    for (k, v) in [
        ("CUSTOMER_GUILD_ID", GUILD.to_string()),
        ("TIER_ROLES", format!("basic={BASIC}")),
        ("DISCORD_BOT_TOKEN", testkit::discord::BOT_TOKEN.to_owned()),
        ("DISCORD_API_URL", fake.url()),
    ] {
        settings.insert(k.into(), v);
    }
    let config = Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).unwrap();
    let db = domain::database::connect(&config).await.unwrap();
    domain::database::migrate(&db).await.unwrap();
    domain::role_sync::seed_from_config(&db, &config).await.unwrap();
    let users = support::linked_customers(&db, customers, FIRST_MEMBER).await;
    let tier = domain::entitlements::tiers(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.slug == "basic")
        .unwrap()
        .id;
    Setup {
        db,
        fake,
        settings,
        users,
        tier,
        _database: database,
    }
}

fn bot(settings: &BTreeMap<String, String>) -> tokio::process::Child {
    support::spawn_bot(settings, "error")
}

async fn grant(s: &Setup, user: i64) {
    domain::entitlements::admin_grant(
        &s.db,
        Some(&RoleGuild { guild_id: GUILD as i64 }),
        domain::entitlements::NewGrant {
            user_id: Some(user),
            email: format!("u{user}@example.com"),
            order_id: None,
            tier_id: s.tier,
            days: 30,
            starts_at: Utc::now(),
            cause: domain::entitlements::GrantCause::Admin,
            reason: "bench".into(),
            actor: Some("bench".into()),
            amount_minor: None,
            currency: None,
        },
    )
    .await
    .unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn latency(backend: Backend, samples: usize) {
    let s = setup(backend, samples).await;
    let mut b = bot(&s.settings);
    // Let the bot connect and settle before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut waits = Vec::new();
    for (i, user) in s.users.iter().enumerate() {
        let member = format!("/members/{}", FIRST_MEMBER + i as u64);
        grant(&s, *user).await;
        let committed = Instant::now();
        let seen = loop {
            let at = s.fake.with(|w| {
                w.calls
                    .iter()
                    .find(|c| c.method == "GET" && c.path.ends_with(&member))
                    .map(|c| c.at)
            });
            if let Some(at) = at {
                break at;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        waits.push(seen.saturating_duration_since(committed));
        // Idle between changes, as a real shop is (and under the bot's 50 requests/s).
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = b.kill().await;
    waits.sort();
    println!(
        "{:<9} access change committed → bot calls Discord: p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  ({} samples)",
        backend.name(),
        percentile(&waits, 0.5).as_secs_f64() * 1e3,
        percentile(&waits, 0.95).as_secs_f64() * 1e3,
        percentile(&waits, 0.99).as_secs_f64() * 1e3,
        waits.len()
    );
}

async fn throughput(backend: Backend, jobs: usize, per_second: u32) {
    let mut s = setup(backend, jobs).await;
    s.settings
        .insert("DISCORD_REQUESTS_PER_SECOND".into(), per_second.to_string());
    for user in &s.users {
        grant(&s, *user).await;
    }
    let started = Instant::now();
    let mut bots: Vec<_> = (0..4).map(|_| bot(&s.settings)).collect();
    loop {
        let left = entity::job::Entity::find()
            .filter(entity::job::Column::Kind.eq(entity::job::JobKind::RoleSync))
            .filter(entity::job::Column::Status.ne(entity::job::JobStatus::Done))
            .count(&s.db)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    for b in &mut bots {
        let _ = b.kill().await;
    }
    println!(
        "{:<9} 4 bot processes, DISCORD_REQUESTS_PER_SECOND={per_second}: {jobs} role-sync jobs (3 Discord calls each) in {:.2} s = {:.0} jobs/s (includes process start)",
        backend.name(),
        took.as_secs_f64(),
        jobs as f64 / took.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let samples = arg("--samples", 200);
    let jobs = arg("--jobs", 2000);
    for backend in [Backend::Postgres, Backend::Sqlite] {
        latency(backend, samples).await;
    }
    for backend in [Backend::Postgres, Backend::Sqlite] {
        // Discord's default (shared by the four processes), and no limit at all: the queue's own speed.
        throughput(backend, jobs, 50).await;
        throughput(backend, jobs, 10_000).await;
    }
}

//! The feed's rights backstop: `cargo bench -p server --bench sweep [-- --sockets N --engines
//! sqlite,postgres]`.
//!
//! N customers (default 10,000), each with a grant and a live session, each holding one open
//! socket on a [`FeedRoster`] under the rights the database gives. Prints the time of one
//! process-wide [`sweep`] (the batched read every `FEED_RECHECK_SECONDS`), and for comparison
//! what the per-socket re-check it replaced costs: a session read and an access read per socket,
//! timed on a sample and multiplied out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::Config;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use server::Application;
use server::feed_roster::{FeedRoster, Rights, sweep};
use testkit::database::{Backend, TestDatabase};

struct Args {
    sockets: usize,
    engines: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        sockets: 10_000,
        engines: vec!["sqlite".into(), "postgres".into()],
    };
    let argv: Vec<String> = std::env::args().collect();
    for w in argv.windows(2) {
        match w[0].as_str() {
            "--sockets" => a.sockets = w[1].parse().expect("--sockets N"),
            "--engines" => a.engines = w[1].split(',').map(str::to_owned).collect(),
            _ => {}
        }
    }
    a
}

/// `n` customers with 30 days of the first tier and one live session each, written in bulk:
/// (user id, session id) per customer.
async fn customers(db: &DatabaseConnection, n: usize) -> Vec<(i64, i64)> {
    let now = Utc::now();
    let tier = domain::entitlements::tiers(db).await.unwrap()[0].id;
    let emails: Vec<String> = (0..n).map(|i| format!("c{i}@bench.example")).collect();
    for chunk in emails.chunks(500) {
        entity::user_account::Entity::insert_many(chunk.iter().map(|e| entity::user_account::ActiveModel {
            pid: Set(uuid::Uuid::new_v4().to_string()),
            email: Set(e.clone()),
            password_hash: Set("-".into()),
            role: Set("customer".into()),
            created_at: Set(now),
            password_changed_at: Set(now),
            email_verified_at: Set(Some(now)),
            ..Default::default()
        }))
        .exec(db)
        .await
        .unwrap();
    }
    let accounts = entity::user_account::Entity::find()
        .filter(entity::user_account::Column::Email.like("%@bench.example"))
        .all(db)
        .await
        .unwrap();
    for chunk in accounts.chunks(500) {
        entity::entitlement_grant::Entity::insert_many(chunk.iter().map(|u| entity::entitlement_grant::ActiveModel {
            user_id: Set(Some(u.id)),
            email: Set(u.email.clone()),
            tier_id: Set(tier),
            days: Set(30),
            starts_at: Set(now),
            cause: Set("admin".into()),
            reason: Set("bench".into()),
            created_at: Set(now),
            ..Default::default()
        }))
        .exec(db)
        .await
        .unwrap();
        entity::session::Entity::insert_many(chunk.iter().map(|u| entity::session::ActiveModel {
            pid: Set(uuid::Uuid::new_v4().to_string()),
            token_hash: Set(format!("bench-{}", u.id)),
            user_id: Set(u.id),
            created_at: Set(now),
            last_seen_at: Set(now),
            expires_at: Set(now + chrono::Duration::days(30)),
            user_agent: Set("bench".into()),
            ..Default::default()
        }))
        .exec(db)
        .await
        .unwrap();
    }
    let sessions = entity::session::Entity::find()
        .filter(entity::session::Column::TokenHash.like("bench-%"))
        .all(db)
        .await
        .unwrap();
    sessions.into_iter().map(|s| (s.user_id, s.id)).collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn engine(name: &str, mut settings: BTreeMap<String, String>, a: &Args) {
    settings.insert("BIND_ADDR".to_owned(), "127.0.0.1:0".to_owned());
    let config = Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).expect("config");
    let app = Application::build(config).await.expect("app");
    let ctx = app.context().clone();
    let seated = customers(&ctx.db, a.sockets).await;
    let users: Vec<i64> = seated.iter().map(|(u, _)| *u).collect();
    let access = domain::entitlements::access_of_each(&ctx.db, &ctx.tiers, &users, Utc::now())
        .await
        .unwrap();
    let roster = FeedRoster::default();
    let _seats: Vec<_> = seated
        .iter()
        .map(|(user, session)| roster.seat(*user, *session, Rights::of(&access[user])))
        .collect();

    let mut runs = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let stale = sweep(&ctx, &roster).await.unwrap();
        runs.push(started.elapsed());
        assert!(stale.is_empty(), "steady state: no socket holds other rights");
    }
    runs.sort();
    // What the per-socket re-check cost: two reads per socket, on a sample.
    let sample = seated.len().min(1000);
    let started = Instant::now();
    for (user, session) in &seated[..sample] {
        let live = domain::sessions::is_live_by_id(&ctx.db, *session).await.unwrap();
        let access = domain::entitlements::access_at(&ctx.db, *user, Utc::now())
            .await
            .unwrap();
        assert!(live && access.is_some());
    }
    let per_socket = started.elapsed() / sample as u32;
    println!(
        "{name:<9} {} sockets  one batched sweep: p50 {:.1} ms  max {:.1} ms ({} reads)  |  per-socket re-checks: {:.2} ms each, {:.0} ms for all ({} reads)",
        seated.len(),
        ms(runs[runs.len() / 2]),
        ms(runs[runs.len() - 1]),
        2 * seated.len().div_ceil(1000),
        ms(per_socket),
        ms(per_socket * seated.len() as u32),
        2 * seated.len(),
    );
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for (name, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
            if a.engines.iter().any(|e| e == name) {
                let database = TestDatabase::create(backend).await;
                engine(name, database.settings(), &a).await;
            }
        }
    });
}

//! F1: four real bot processes share 1,000 role-sync jobs on one PostgreSQL database while one
//! of them is `kill -9`ed at random moments (and replaced). Every job completes; a job's
//! changes are never made by two claims at once (each change names its job and attempt in the
//! audit-log reason, and per job the attempts the fake Discord sees never go back); every
//! member ends with exactly the role the ledger gives; and no request is answered 429 although
//! the fake enforces a global limit the four processes must share.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::Utc;
use domain::Config;
use domain::role_sync::RoleGuild;
use entity::job::{self, JobKind, JobStatus};
use rand::Rng;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use testkit::database::{Backend, TestDatabase};
use testkit::discord::{FakeDiscord, Limits};

const GUILD: u64 = 1_300_000_000_000_000_000;
const BASIC: u64 = 1_300_000_000_000_000_001;
const CUSTOMERS: usize = 1000;
const BOTS: usize = 4;
const KILLS: usize = 4;
const FIRST_MEMBER: u64 = 1_500_000_000_000_000_000;
const GLOBAL: u32 = 200;

mod support;

fn bot(settings: &BTreeMap<String, String>) -> tokio::process::Child {
    support::spawn_bot(settings, "error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f1_four_bots_one_killed_at_random_every_job_done_once_and_roles_match_the_ledger() {
    let database = TestDatabase::create(Backend::Postgres).await;
    // Discord's global limit per bot token (raised here so the run is quick): the four processes
    // must share it, or the fake answers 429.
    let fake = FakeDiscord::start_with(
        0,
        Limits {
            global_per_second: GLOBAL,
            ..Limits::none()
        },
    )
    .await
    .unwrap();
    fake.with(|w| {
        w.add_guild(GUILD, "Customers", 10);
        w.add_role(GUILD, BASIC, "Basic", 2);
        for i in 0..CUSTOMERS as u64 {
            w.add_member(GUILD, FIRST_MEMBER + i, &[]);
        }
    });
    let mut settings = database.settings();
    for (k, v) in [
        ("CUSTOMER_GUILD_ID", GUILD.to_string()),
        ("TIER_ROLES", format!("basic={BASIC}")),
        ("DISCORD_BOT_TOKEN", testkit::discord::BOT_TOKEN.to_owned()),
        ("DISCORD_API_URL", fake.url()),
        // A killed process's job is taken over within seconds.
        ("JOB_LEASE_SECONDS", "5".to_owned()),
        ("DISCORD_REQUESTS_PER_SECOND", GLOBAL.to_string()),
    ] {
        settings.insert(k.into(), v);
    }
    let config = Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).unwrap();
    let db = domain::database::connect(&config).await.unwrap();
    domain::database::migrate(&db).await.unwrap();
    domain::role_sync::seed_from_config(&db, &config).await.unwrap();
    let guild = RoleGuild { guild_id: GUILD as i64 };
    let basic = entitlements_tier(&db, "basic").await;

    // A thousand linked customers, each granted basic: a thousand role-sync jobs.
    let now = Utc::now();
    let users = support::linked_customers(&db, CUSTOMERS, FIRST_MEMBER).await;
    for (i, user) in users.into_iter().enumerate() {
        domain::entitlements::admin_grant(
            &db,
            Some(&guild),
            domain::entitlements::NewGrant {
                user_id: Some(user),
                email: format!("c{i}@example.com"),
                order_id: None,
                tier_id: basic,
                days: 30,
                starts_at: now,
                cause: domain::entitlements::GrantCause::Admin,
                reason: "f1".into(),
                actor: Some("f1".into()),
                amount_minor: None,
                currency: None,
            },
        )
        .await
        .unwrap();
    }
    let role_jobs = || job::Entity::find().filter(job::Column::Kind.eq(JobKind::RoleSync));
    assert_eq!(role_jobs().count(&db).await.unwrap(), CUSTOMERS as u64);

    // Started as a deployment starts them, one after another: each counts the others before
    // its first request and takes its share of the global limit.
    let mut bots = Vec::new();
    for _ in 0..BOTS {
        bots.push(bot(&settings));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut killed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        // (The bots also schedule the hourly drift sweep, an hour from now: not ours to wait for.)
        let pending = role_jobs()
            .filter(job::Column::Status.ne(JobStatus::Done))
            .count(&db)
            .await
            .unwrap();
        if pending == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{pending} jobs never finished");
        if killed < KILLS {
            let pause = rand::thread_rng().gen_range(100..1500);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let victim = rand::thread_rng().gen_range(0..bots.len());
            let pid = bots[victim].id().expect("running") as i32;
            // kill -9: no shutdown, no lease release; its job is taken over when the lease runs out.
            std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .unwrap();
            let _ = bots[victim].wait().await;
            bots[victim] = bot(&settings);
            killed += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(killed, KILLS, "the run outlived every kill");

    // Every member holds exactly the basic role.
    let wrong: Vec<u64> = fake.with(|w| {
        (0..CUSTOMERS as u64)
            .map(|i| FIRST_MEMBER + i)
            .filter(|m| w.member_roles(GUILD, *m) != Some(vec![BASIC]))
            .collect()
    });
    assert!(
        wrong.is_empty(),
        "{} members differ from the ledger: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );

    // Per job, the attempts that made changes never go back: no earlier claim acted after a later one.
    let calls = fake.calls();
    let mut last_attempt: HashMap<u64, u64> = HashMap::new();
    for c in calls.iter().filter(|c| c.method == "PUT" || c.method == "DELETE") {
        let Some((job, attempt)) = parse_reason(&c.reason) else {
            panic!("a change without its job in the audit-log reason: {c:?}");
        };
        let seen = last_attempt.entry(job).or_insert(attempt);
        assert!(
            attempt >= *seen,
            "job {job}: attempt {attempt} acted after attempt {seen}"
        );
        *seen = attempt;
    }
    assert_eq!(last_attempt.len(), CUSTOMERS, "every job made its change");
    assert_eq!(fake.with(|w| w.rate_limited()), 0, "no 429");
    let taken_over = role_jobs()
        .filter(job::Column::Attempts.gt(1))
        .count(&db)
        .await
        .unwrap();
    println!(
        "F1: {CUSTOMERS} jobs, {KILLS} kill -9s, {taken_over} jobs claimed more than once, {} calls",
        calls.len()
    );
}

async fn entitlements_tier(db: &sea_orm::DatabaseConnection, slug: &str) -> i32 {
    domain::entitlements::tiers(db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.slug == slug)
        .unwrap()
        .id
}

/// "SignalDesk role sync (job 12, attempt 2)" → (12, 2).
fn parse_reason(reason: &str) -> Option<(u64, u64)> {
    let rest = reason.split("(job ").nth(1)?;
    let (job, rest) = rest.split_once(", attempt ")?;
    Some((job.parse().ok()?, rest.trim_end_matches(')').parse().ok()?))
}

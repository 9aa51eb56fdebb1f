//! The bot as it runs: the real `bot` binary, a real database (SQLite and PostgreSQL), and the
//! fake Discord it reaches through serenity's request code. The ledger is changed through the
//! domain's own functions (as the server does), and tests assert on what the fake Discord holds.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use domain::entitlements::{self, NewGrant};
use domain::role_sync::RoleGuild;
use domain::{Config, Secret};
use entity::job::{self, JobKind, JobStatus};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use testkit::database::{Backend, TestDatabase};
use testkit::discord::{FakeDiscord, Fault};

#[macro_use]
mod support;

const GUILD: u64 = 1_300_000_000_000_000_000;
const BASIC: u64 = 1_300_000_000_000_000_001;
const PRO: u64 = 1_300_000_000_000_000_002;
/// A role above the bot's own: it cannot be given.
const HIGH: u64 = 1_300_000_000_000_000_009;
/// A role the server's own moderators give: never ours to touch.
const OTHER: u64 = 1_300_000_000_000_000_050;
const BOT_TOP: i64 = 10;

on_both_databases!(
    a_linked_paying_customer_gets_the_tier_role,
    post_condition_a_204_that_changes_nothing_never_completes,
    missing_permissions_is_dead_at_once_and_names_the_fix,
    unknown_role_and_unknown_guild_are_dead_at_once,
    a_member_who_left_waits_without_spending_attempts,
    a_429_requeues_the_job_at_retry_after,
    server_errors_and_timeouts_retry_until_done,
    unlinking_takes_every_managed_role_and_only_those,
    a_role_taken_out_of_the_mapping_is_taken_from_members,
    the_bot_reports_who_it_is_and_which_roles_it_can_manage,
    a_drift_dry_run_reports_who_would_gain_or_lose_and_changes_nothing,
    a_drift_repair_queues_role_sync_for_the_drifted,
    the_hourly_sweep_is_scheduled_runs_when_due_and_schedules_the_next,
    paid_time_and_roles_reach_only_the_proven_owner,
    a_verification_or_a_denial_takes_the_squatters_roles,
);

struct Rig {
    db: DatabaseConnection,
    fake: FakeDiscord,
    settings: BTreeMap<String, String>,
    guild: RoleGuild,
    bot: Option<tokio::process::Child>,
    _database: TestDatabase,
}

async fn rig(backend: Backend, tier_roles: &str) -> Rig {
    let database = TestDatabase::create(backend).await;
    let fake = FakeDiscord::start(0).await.unwrap();
    fake.with(|w| {
        w.add_guild(GUILD, "Customers", BOT_TOP);
        w.add_role(GUILD, BASIC, "Basic", 2);
        w.add_role(GUILD, PRO, "Pro", 3);
        w.add_role(GUILD, HIGH, "Moderators", 20);
        w.add_role(GUILD, OTHER, "Helpers", 1);
    });
    let mut settings = database.settings();
    for (k, v) in [
        ("CUSTOMER_GUILD_ID", GUILD.to_string()),
        ("TIER_ROLES", tier_roles.to_owned()),
        ("DISCORD_BOT_TOKEN", testkit::discord::BOT_TOKEN.to_owned()),
        ("DISCORD_API_URL", fake.url()),
    ] {
        settings.insert(k.into(), v);
    }
    let config = Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).unwrap();
    let db = domain::database::connect(&config).await.unwrap();
    domain::database::migrate(&db).await.unwrap();
    domain::role_sync::seed_from_config(&db, &config).await.unwrap();
    Rig {
        db,
        fake,
        settings,
        guild: RoleGuild { guild_id: GUILD as i64 },
        bot: None,
        _database: database,
    }
}

const MAPPING: &str = "basic=1300000000000000001,pro=1300000000000000002";

impl Rig {
    fn start_bot(&mut self) {
        self.bot = Some(bot_process(&self.settings));
    }

    /// A customer with a linked Discord account (a member of the guild holding `roles`).
    async fn customer(&self, email: &str, discord: u64, roles: &[u64]) -> i64 {
        let account = support::proven_customer(&self.db, email).await;
        self.fake.with(|w| w.add_member(GUILD, discord, roles));
        domain::discord_link::link(&self.db, Some(&self.guild), account, discord as i64, "trader")
            .await
            .unwrap();
        account
    }

    async fn grant(&self, user_id: i64, email: &str, tier: &str, days: i32) -> i64 {
        let tier_id = entitlements::tiers(&self.db)
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.slug == tier)
            .unwrap()
            .id;
        entitlements::admin_grant(
            &self.db,
            Some(&self.guild),
            NewGrant {
                user_id: Some(user_id),
                email: email.into(),
                order_id: None,
                tier_id,
                days,
                starts_at: Utc::now(),
                cause: domain::entitlements::GrantCause::Admin,
                reason: "test".into(),
                actor: Some("test".into()),
                amount_minor: None,
                currency: None,
            },
        )
        .await
        .unwrap()
        .unwrap()
        .id
    }

    async fn jobs(&self) -> Vec<job::Model> {
        job::Entity::find()
            .filter(job::Column::Kind.eq(JobKind::RoleSync))
            .all(&self.db)
            .await
            .unwrap()
    }

    /// Waits until every role job satisfies `cond`.
    async fn until_jobs(&self, within: Duration, cond: impl Fn(&job::Model) -> bool) -> Vec<job::Model> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let jobs = self.jobs().await;
            if !jobs.is_empty() && jobs.iter().all(&cond) {
                return jobs;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "jobs never got there: {jobs:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to 30 s: one member's jobs run one at a time, each within Discord's per-route
    /// limit of 5 calls per 5 s) until the member holds exactly `want`.
    async fn roles_become(&self, user: u64, want: &[u64]) {
        let ok = self
            .fake
            .wait_for(Duration::from_secs(30), |w| {
                w.member_roles(GUILD, user).as_deref() == Some(want)
            })
            .await;
        assert!(
            ok,
            "member roles: {:?}, wanted {want:?}",
            self.fake.member_roles(GUILD, user)
        );
    }
}

fn bot_process(settings: &BTreeMap<String, String>) -> tokio::process::Child {
    support::spawn_bot(settings, "warn")
}

async fn a_linked_paying_customer_gets_the_tier_role(backend: Backend) {
    let mut rig = rig(backend, MAPPING).await;
    let user = rig.customer("pro@example.com", 501, &[OTHER]).await;
    rig.grant(user, "pro@example.com", "pro", 30).await;
    rig.start_bot();
    rig.roles_become(501, &[PRO, OTHER]).await;
    let jobs = rig
        .until_jobs(Duration::from_secs(5), |j| j.status == JobStatus::Done)
        .await;
    assert_eq!(jobs.len(), 1, "the link and the grant made one queued job");
    // It read the member back after changing it (the post-condition), with the bot's token.
    let calls = rig.fake.calls();
    let member = format!("/api/v10/guilds/{GUILD}/members/501");
    let put = calls
        .iter()
        .position(|c| c.method == "PUT" && c.path.contains("/roles/"))
        .unwrap();
    assert!(calls[put + 1..].iter().any(|c| c.method == "GET" && c.path == member));
    assert!(calls.iter().all(|c| c.status != 401), "serenity sent the bot token");
    assert!(
        calls.iter().all(|c| c.agent.starts_with("DiscordBot")),
        "requests come from serenity's request code"
    );
}

async fn post_condition_a_204_that_changes_nothing_never_completes(backend: Backend) {
    let mut rig = rig(backend, MAPPING).await;
    rig.fake.with(|w| w.fault("PUT", "/roles/", Fault::Ignore, 1000));
    let user = rig.customer("ignored@example.com", 502, &[]).await;
    rig.grant(user, "ignored@example.com", "basic", 30).await;
    rig.start_bot();
    let jobs = rig
        .until_jobs(Duration::from_secs(10), |j| {
            j.attempts >= 2 && j.status == JobStatus::Queued
        })
        .await;
    assert!(
        jobs[0].last_error.as_deref().unwrap_or("").contains("post-condition"),
        "{:?}",
        jobs[0].last_error
    );
    assert_eq!(rig.fake.member_roles(GUILD, 502), Some(vec![]));
}

async fn missing_permissions_is_dead_at_once_and_names_the_fix(backend: Backend) {
    // The pro tier is mapped to a role above the bot's own.
    let mut rig = rig(backend, "pro=1300000000000000009").await;
    let user = rig.customer("high@example.com", 503, &[]).await;
    rig.grant(user, "high@example.com", "pro", 30).await;
    rig.start_bot();
    let jobs = rig
        .until_jobs(Duration::from_secs(10), |j| j.status == JobStatus::Dead)
        .await;
    assert_eq!(jobs[0].attempts, 1, "no retry for a configuration fault");
    let error = jobs[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("50013") && error.contains("Manage Roles"), "{error}");
    assert_eq!(rig.fake.with(|w| w.calls_to("PUT", "/roles/")), 1);
}

async fn unknown_role_and_unknown_guild_are_dead_at_once(backend: Backend) {
    let mut rig = rig(backend, MAPPING).await;
    let a = rig.customer("a@example.com", 504, &[]).await;
    rig.fake.with(|w| w.remove_role(GUILD, PRO));
    rig.grant(a, "a@example.com", "pro", 30).await;
    rig.start_bot();
    let jobs = rig
        .until_jobs(Duration::from_secs(10), |j| j.status == JobStatus::Dead)
        .await;
    let error = jobs[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("10011") && error.contains("/admin/discord"), "{error}");

    rig.fake.with(|w| {
        w.fault(
            "GET",
            "/members/505",
            Fault::Error {
                status: 404,
                code: 10004,
                message: "Unknown Guild".into(),
            },
            1,
        )
    });
    // Linking alone queues the job that meets the fault.
    rig.customer("b@example.com", 505, &[]).await;
    let jobs = rig
        .until_jobs(Duration::from_secs(10), |j| j.status == JobStatus::Dead)
        .await;
    let error = jobs
        .iter()
        .find(|j| j.payload.contains("505"))
        .unwrap()
        .last_error
        .clone()
        .unwrap_or_default();
    assert!(
        error.contains("10004") && error.contains("CUSTOMER_GUILD_ID"),
        "{error}"
    );
}

async fn a_member_who_left_waits_without_spending_attempts(backend: Backend) {
    let mut rig = rig(backend, MAPPING).await;
    let user = rig.customer("gone@example.com", 506, &[]).await;
    rig.fake.with(|w| w.remove_member(GUILD, 506));
    rig.grant(user, "gone@example.com", "basic", 30).await;
    rig.start_bot();
    let jobs = rig
        .until_jobs(Duration::from_secs(10), |j| {
            j.status == JobStatus::Queued && j.attempts == 1
        })
        .await;
    let j = &jobs[0];
    assert!(
        j.run_at > Utc::now() + chrono::Duration::minutes(50),
        "waits about an hour"
    );
    assert_eq!(
        j.max_attempts,
        domain::jobs::DEFAULT_MAX_ATTEMPTS + 1,
        "the wait cost no attempt"
    );
    assert!(
        j.last_error
            .as_deref()
            .unwrap_or("")
            .contains("not in the customers' server")
    );
}

async fn a_429_requeues_the_job_at_retry_after(backend: Backend) {
    let mut rig = rig(backend, MAPPING).await;
    rig.fake.with(|w| {
        w.fault(
            "GET",
            "/members/507",
            Fault::RateLimited {
                retry_after: Duration::from_secs(30),
                global: false,
            },
            1,
        )
    });
    let user = rig.customer("limited@example.com", 507, &[]).await;
    rig.grant(user, "limited@example.com", "basic", 30).await;
    let before = Utc::now();
    rig.start_bot();
    let jobs = rig
        .until_jobs(Duration::from_secs(10), |j| {
            j.status == JobStatus::Queued && j.attempts == 1
        })
        .await;
    let wait = jobs[0].run_at - before;
    assert!(
        wait >= chrono::Duration::seconds(29) && wait <= chrono::Duration::seconds(40),
        "{wait}"
    );
    // Never a busy retry: one call, then silence.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rig.fake.with(|w| w.calls_to("GET", "/members/507")), 1);
}

async fn server_errors_and_timeouts_retry_until_done(backend: Backend) {
    let mut rig = rig(backend, MAPPING).await;
    rig.fake.with(|w| {
        w.fault("GET", "/members/508", Fault::Status(502), 1);
        w.fault("PUT", "/members/508/roles/", Fault::Delay(Duration::from_secs(12)), 1);
    });
    let user = rig.customer("flaky@example.com", 508, &[]).await;
    rig.grant(user, "flaky@example.com", "basic", 30).await;
    rig.start_bot();
    let jobs = rig
        .until_jobs(Duration::from_secs(40), |j| j.status == JobStatus::Done)
        .await;
    assert_eq!(jobs[0].attempts, 3, "a 502, a timeout, then success");
    assert_eq!(rig.fake.member_roles(GUILD, 508), Some(vec![BASIC]));
}

async fn unlinking_takes_every_managed_role_and_only_those(backend: Backend) {
    let mut rig = rig(backend, MAPPING).await;
    let user = rig.customer("leaver@example.com", 509, &[OTHER]).await;
    rig.grant(user, "leaver@example.com", "pro", 30).await;
    rig.start_bot();
    rig.roles_become(509, &[PRO, OTHER]).await;
    // Someone gave them the basic role by hand too: managed, so it goes as well.
    rig.fake.with(|w| w.add_member(GUILD, 509, &[BASIC, PRO, OTHER]));
    domain::discord_link::unlink(&rig.db, Some(&rig.guild), user)
        .await
        .unwrap();
    rig.roles_become(509, &[OTHER]).await;
}

async fn a_role_taken_out_of_the_mapping_is_taken_from_members(backend: Backend) {
    let mut rig = rig(backend, MAPPING).await;
    let user = rig.customer("moved@example.com", 511, &[OTHER]).await;
    rig.grant(user, "moved@example.com", "basic", 30).await;
    rig.start_bot();
    rig.roles_become(511, &[BASIC, OTHER]).await;
    // The admin maps basic to the Pro role instead: Basic leaves the mapping.
    let basic_tier = entitlements::tiers(&rig.db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.slug == "basic")
        .unwrap()
        .id;
    // As the admin page does: a write transaction from the start, so SQLite waits for the bot's
    // writes instead of failing to upgrade a read.
    let txn = domain::database::begin_write(&rig.db).await.unwrap();
    let queued = domain::role_sync::set_tier_roles(&txn, &rig.guild, basic_tier, &[PRO as i64])
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(queued, 1);
    rig.roles_become(511, &[PRO, OTHER]).await;
}

async fn the_bot_reports_who_it_is_and_which_roles_it_can_manage(backend: Backend) {
    let mut rig = rig(backend, MAPPING).await;
    rig.start_bot();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let row = loop {
        let rows = entity::bot_instance::Entity::find().all(&rig.db).await.unwrap();
        if let Some(r) = rows.into_iter().find(|r| r.state == "connected") {
            break r;
        }
        assert!(tokio::time::Instant::now() < deadline, "the bot never reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(row.bot_user.as_deref(), Some("SignalDesk Bot"));
    let guilds: serde_json::Value = serde_json::from_str(&row.guilds).unwrap();
    let roles = guilds[0]["roles"].as_array().unwrap();
    let role = |id: u64| {
        roles
            .iter()
            .find(|r| r["id"].as_str() == Some(id.to_string().as_str()))
            .unwrap()
            .clone()
    };
    assert_eq!(role(PRO)["manageable"], true);
    assert_eq!(role(HIGH)["manageable"], false);
    assert!(role(HIGH)["reason"].as_str().unwrap().contains("above the bot"));
    // Stopped by a signal, it says so.
    let mut bot = rig.bot.take().unwrap();
    let pid = bot.id().unwrap() as i32;
    std::process::Command::new("kill")
        .arg(pid.to_string())
        .status()
        .unwrap();
    bot.wait().await.unwrap();
    let row = entity::bot_instance::Entity::find_by_id(row.id)
        .one(&rig.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_the_bot_says_it_is_idle_and_why() {
    let mut rig = rig(Backend::Sqlite, MAPPING).await;
    rig.settings.remove("DISCORD_BOT_TOKEN");
    rig.start_bot();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows = entity::bot_instance::Entity::find().all(&rig.db).await.unwrap();
        if let Some(r) = rows.first() {
            assert_eq!(r.state, "idle");
            assert!(r.detail.contains("DISCORD_BOT_TOKEN"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the bot never reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rig.fake.calls().is_empty(), "an idle bot calls nobody");
}

impl Rig {
    /// Waits for a drift report to finish.
    async fn drift_report(&self, id: i64) -> entity::role_drift::Model {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let r = entity::role_drift::Entity::find_by_id(id)
                .one(&self.db)
                .await
                .unwrap()
                .unwrap();
            if matches!(r.state.as_str(), "done" | "failed") {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the sweep never finished: {r:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Four linked customers, converged, then drifted by hand in Discord: `a` (pro) lost Pro,
    /// `b` (no access) was given Basic, `c` (pro) left the server, `d` (basic) is fine.
    async fn drifted(&mut self) -> [i64; 4] {
        let a = self.customer("a@example.com", 601, &[OTHER]).await;
        let b = self.customer("b@example.com", 602, &[]).await;
        let c = self.customer("c@example.com", 603, &[]).await;
        let d = self.customer("d@example.com", 604, &[]).await;
        self.grant(a, "a@example.com", "pro", 30).await;
        self.grant(c, "c@example.com", "pro", 30).await;
        self.grant(d, "d@example.com", "basic", 30).await;
        self.start_bot();
        self.roles_become(601, &[PRO, OTHER]).await;
        self.roles_become(603, &[PRO]).await;
        self.roles_become(604, &[BASIC]).await;
        self.until_jobs(Duration::from_secs(10), |j| j.status == JobStatus::Done)
            .await;
        self.fake.with(|w| {
            w.add_member(GUILD, 601, &[OTHER]);
            w.add_member(GUILD, 602, &[BASIC]);
            w.remove_member(GUILD, 603);
        });
        [a, b, c, d]
    }
}

fn role_changes(fake: &FakeDiscord) -> usize {
    fake.with(|w| w.calls_to("PUT", "/roles/") + w.calls_to("DELETE", "/roles/"))
}

async fn a_drift_dry_run_reports_who_would_gain_or_lose_and_changes_nothing(backend: Backend) {
    let mut rig = rig(backend, MAPPING).await;
    let [a, b, c, _] = rig.drifted().await;
    let changes = role_changes(&rig.fake);
    let jobs_before = rig.jobs().await.len();

    let id = domain::role_drift::request(&rig.db, &rig.guild, true, "admin@example.com")
        .await
        .unwrap();
    let again = domain::role_drift::request(&rig.db, &rig.guild, true, "admin@example.com")
        .await
        .unwrap();
    assert_eq!(id, again, "a second click while one waits is the same sweep");
    let report = rig.drift_report(id).await;
    assert_eq!(
        (report.state.as_str(), report.checked, report.drifted),
        ("done", 4, 3),
        "{report:?}"
    );
    let entries = domain::role_drift::entries(&report);
    let of = |user: i64| entries.iter().find(|e| e.user_id == user).unwrap().clone();
    assert_eq!((of(a).gain, of(a).lose), (vec![PRO as i64], vec![]));
    assert_eq!(of(a).email, "a@example.com");
    assert_eq!((of(b).gain, of(b).lose), (vec![], vec![BASIC as i64]));
    assert_eq!(of(c).gain, vec![PRO as i64]);
    assert!(of(c).note.unwrap().contains("not a member"));

    // A dry run reads; it never changes a role nor queues a repair.
    assert_eq!(role_changes(&rig.fake), changes);
    assert_eq!(rig.jobs().await.len(), jobs_before);
    assert_eq!(rig.fake.member_roles(GUILD, 601), Some(vec![OTHER]));
    assert_eq!(rig.fake.member_roles(GUILD, 602), Some(vec![BASIC]));
}

async fn a_drift_repair_queues_role_sync_for_the_drifted(backend: Backend) {
    let mut rig = rig(backend, MAPPING).await;
    rig.drifted().await;
    let id = domain::role_drift::request(&rig.db, &rig.guild, false, "admin@example.com")
        .await
        .unwrap();
    let report = rig.drift_report(id).await;
    assert_eq!((report.state.as_str(), report.drifted), ("done", 3));
    rig.roles_become(601, &[PRO, OTHER]).await;
    rig.roles_become(602, &[]).await;
    // The one who left is not in the server: nothing to repair until they join.
    assert_eq!(rig.fake.member_roles(GUILD, 603), None);

    // Once repaired, a second sweep finds nothing but the departed member.
    rig.until_jobs(Duration::from_secs(10), |j| {
        j.status == JobStatus::Done || j.status == JobStatus::Queued
    })
    .await;
    let id = domain::role_drift::request(&rig.db, &rig.guild, true, "admin@example.com")
        .await
        .unwrap();
    let report = rig.drift_report(id).await;
    assert_eq!(report.drifted, 1, "{report:?}");
}

async fn the_hourly_sweep_is_scheduled_runs_when_due_and_schedules_the_next(backend: Backend) {
    use sea_orm::{ActiveModelTrait, Set};
    let mut rig = rig(backend, MAPPING).await;
    let hourly = |db: DatabaseConnection| async move {
        job::Entity::find()
            .filter(job::Column::Kind.eq(JobKind::RoleDrift))
            .filter(job::Column::Status.eq(JobStatus::Queued))
            .all(&db)
            .await
            .unwrap()
    };
    rig.start_bot();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let queued = loop {
        let q = hourly(rig.db.clone()).await;
        if !q.is_empty() {
            break q;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bot never scheduled the sweep"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(queued.len(), 1);
    let next = queued[0].run_at - Utc::now();
    assert!(
        next > chrono::Duration::minutes(59) && next <= chrono::Duration::minutes(60),
        "{next}"
    );
    assert_eq!(
        queued[0].unique_key.as_deref(),
        Some(format!("guild:{GUILD}/hourly").as_str())
    );

    // Its hour has come (as after every process was down for a while): it runs at once.
    let mut due: job::ActiveModel = queued[0].clone().into();
    due.run_at = Set(Utc::now() - chrono::Duration::seconds(1));
    due.update(&rig.db).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let report = loop {
        if let Some(r) = domain::role_drift::latest(&rig.db, GUILD as i64).await.unwrap()
            && r.state == "done"
        {
            break r;
        }
        assert!(tokio::time::Instant::now() < deadline, "the due sweep never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((report.requested_by.as_str(), report.dry_run), ("hourly", false));
    let queued = hourly(rig.db.clone()).await;
    assert_eq!(queued.len(), 1, "the next one is scheduled");
    assert!(queued[0].run_at - Utc::now() > chrono::Duration::minutes(59));
}

/// The token in a mailed link's text (`…?token=<token>`).
fn token_in(text: &str) -> String {
    let start = text.find("token=").expect("a link") + "token=".len();
    text[start..].split_whitespace().next().unwrap().to_owned()
}

/// Someone registers the owner's address first (unverified) and links their own Discord
/// account — as linking allowed before it needed a proven address. With the fake Discord's
/// member roles as the oracle: an admin grant to the unproven account gives the squatter
/// nothing; the owner's password reset drops the squatter's link, and every role the owner's
/// time implies reaches only the owner's own Discord account once they link it.
async fn paid_time_and_roles_reach_only_the_proven_owner(backend: Backend) {
    const SQUATTER: u64 = 601;
    const OWNER: u64 = 602;
    let email = "owner@example.com";
    let mut rig = rig(backend, MAPPING).await;
    let config = Config::from_sources(&BTreeMap::new(), |k| rig.settings.get(k).cloned()).unwrap();
    let squatted = domain::accounts::sign_up(&rig.db, email, Secret::new("the squatters password".into()))
        .await
        .unwrap();
    rig.fake.with(|w| {
        w.add_member(GUILD, SQUATTER, &[OTHER]);
        w.add_member(GUILD, OWNER, &[]);
    });
    domain::discord_link::link(&rig.db, Some(&rig.guild), squatted.id, SQUATTER as i64, "squatter")
        .await
        .unwrap();
    // An operator's gift to the address waits: the account has not proven it owns it.
    let gift = rig.grant(squatted.id, email, "pro", 30).await;
    let waiting = entity::entitlement_grant::Entity::find_by_id(gift)
        .one(&rig.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waiting.user_id, None, "held for the address");
    rig.start_bot();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        rig.fake.member_roles(GUILD, SQUATTER),
        Some(vec![OTHER]),
        "nothing reached the squatter"
    );

    // The owner resets the password from the mailbox: the proof drops the squatter's link.
    let mail = domain::email_proof::reset_mail(&rig.db, &config, email)
        .await
        .unwrap()
        .expect("a reset mail");
    domain::email_proof::reset_password(
        &rig.db,
        &token_in(&mail.text),
        Secret::new("the owners new passphrase".into()),
        Some(&rig.guild),
    )
    .await
    .unwrap();
    assert!(
        domain::discord_link::for_user(&rig.db, squatted.id)
            .await
            .unwrap()
            .is_none()
    );
    // The proof claimed the gift for the account: every job it queued runs, and none of them
    // gives the squatter's Discord account anything.
    rig.until_jobs(Duration::from_secs(30), |j| j.status == JobStatus::Done)
        .await;
    assert_eq!(rig.fake.member_roles(GUILD, SQUATTER), Some(vec![OTHER]));
    // The owner links their own Discord account: the gift's role reaches them, and only them.
    domain::discord_link::link(&rig.db, Some(&rig.guild), squatted.id, OWNER as i64, "owner")
        .await
        .unwrap();
    rig.roles_become(OWNER, &[PRO]).await;
    rig.roles_become(SQUATTER, &[OTHER]).await;
}

/// The other two proofs, with the fake Discord's member roles as the oracle: a squatter's
/// Discord account holding a managed role (given before this was fixed) loses it when the
/// address's owner confirms the address, and when the owner answers "This wasn't me"; roles
/// the server's own moderators gave stay.
async fn a_verification_or_a_denial_takes_the_squatters_roles(backend: Backend) {
    const CONFIRMED: u64 = 611;
    const DENIED: u64 = 612;
    let mut rig = rig(backend, MAPPING).await;
    let config = Config::from_sources(&BTreeMap::new(), |k| rig.settings.get(k).cloned()).unwrap();
    let mut tokens = Vec::new();
    for (email, discord) in [("confirmed@example.com", CONFIRMED), ("denied@example.com", DENIED)] {
        let squatted = domain::accounts::sign_up(&rig.db, email, Secret::new("the squatters password".into()))
            .await
            .unwrap();
        rig.fake.with(|w| w.add_member(GUILD, discord, &[PRO, OTHER]));
        domain::discord_link::link(&rig.db, None, squatted.id, discord as i64, "squatter")
            .await
            .unwrap();
        let mail = domain::email_proof::verification_mail(&rig.db, &config, squatted.id)
            .await
            .unwrap()
            .expect("a verification mail");
        tokens.push(token_in(&mail.text));
    }
    domain::email_proof::verify(&rig.db, &tokens[0], Some(&rig.guild))
        .await
        .unwrap();
    domain::email_proof::not_me(&rig.db, &tokens[1], Some(&rig.guild))
        .await
        .unwrap();
    rig.start_bot();
    rig.roles_become(CONFIRMED, &[OTHER]).await;
    rig.roles_become(DENIED, &[OTHER]).await;
}

//! Reminders before access ends as Discord direct messages: the real `bot` binary (two of them
//! at once) against the fake Discord through serenity's request code. The server's scan
//! (`domain::reminders::queue_due`, called here as the server calls it) claims each reminder
//! once; the bots deliver it once, with the renewal and unsubscribe links.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use domain::Config;
use domain::entitlements::{self, NewGrant};
use domain::reminders::{self, Channel};
use entity::job::{self, JobKind, JobStatus};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use testkit::database::{Backend, TestDatabase};
use testkit::discord::FakeDiscord;

#[macro_use]
mod support;

const GUILD: u64 = 1_400_000_000_000_000_000;
const STOREFRONT: &str = "https://shop.example.com/renew";
const DAYS: [u32; 2] = [7, 1];

on_both_databases!(
    a_linked_customer_gets_one_dm_from_two_bots_with_renewal_and_unsubscribe,
    a_customer_who_closed_dms_is_dead_at_once_and_the_e_mail_still_goes,
    turning_discord_reminders_off_stops_the_dm_but_not_the_e_mail,
);

struct Rig {
    db: DatabaseConnection,
    fake: FakeDiscord,
    settings: BTreeMap<String, String>,
    _database: TestDatabase,
}

async fn rig(backend: Backend) -> Rig {
    let database = TestDatabase::create(backend).await;
    let fake = FakeDiscord::start(0).await.unwrap();
    fake.with(|w| w.add_guild(GUILD, "Customers", 10));
    let mut settings = database.settings();
    for (k, v) in [
        ("DISCORD_BOT_TOKEN", testkit::discord::BOT_TOKEN.to_owned()),
        ("DISCORD_API_URL", fake.url()),
        ("STOREFRONT_URL", STOREFRONT.to_owned()),
        ("PUBLIC_URL", "https://signals.example.com".to_owned()),
    ] {
        settings.insert(k.into(), v);
    }
    let config = Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).unwrap();
    let db = domain::database::connect(&config).await.unwrap();
    domain::database::migrate(&db).await.unwrap();
    Rig {
        db,
        fake,
        settings,
        _database: database,
    }
}

impl Rig {
    /// A linked customer (a member of the customers' server) whose access ends in 3 days.
    async fn customer(&self, email: &str, discord: u64) -> i64 {
        let account = support::proven_customer(&self.db, email).await;
        self.fake.with(|w| {
            w.add_user(discord, "trader");
            w.add_member(GUILD, discord, &[]);
        });
        domain::discord_link::link(&self.db, None, account, discord as i64, "trader")
            .await
            .unwrap();
        let tier_id = entitlements::tiers(&self.db).await.unwrap()[0].id;
        entitlements::grant(
            &self.db,
            NewGrant {
                user_id: Some(account),
                email: email.into(),
                order_id: None,
                tier_id,
                days: 1,
                starts_at: Utc::now() + chrono::Duration::days(2),
                cause: domain::entitlements::GrantCause::Admin,
                reason: "test".into(),
                actor: Some("test".into()),
                amount_minor: None,
                currency: None,
            },
        )
        .await
        .unwrap();
        account
    }

    async fn jobs(&self, kind: JobKind) -> Vec<job::Model> {
        job::Entity::find()
            .filter(job::Column::Kind.eq(kind))
            .all(&self.db)
            .await
            .unwrap()
    }

    /// Waits until every job of `kind` is done or dead.
    async fn settle(&self, kind: JobKind) -> Vec<job::Model> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let jobs = self.jobs(kind).await;
            if !jobs.is_empty()
                && jobs
                    .iter()
                    .all(|j| matches!(j.status, JobStatus::Done | JobStatus::Dead))
            {
                return jobs;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "reminder jobs never finished: {jobs:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn a_linked_customer_gets_one_dm_from_two_bots_with_renewal_and_unsubscribe(backend: Backend) {
    let rig = rig(backend).await;
    let user = rig.customer("dm@example.com", 601).await;
    let _bots = [
        support::spawn_bot(&rig.settings, "info"),
        support::spawn_bot(&rig.settings, "info"),
    ];
    // Both channels are claimed (the customer is linked); the bots take the DM.
    assert_eq!(reminders::queue_due(&rig.db, &DAYS, Utc::now()).await.unwrap(), 2);
    assert_eq!(reminders::queue_due(&rig.db, &DAYS, Utc::now()).await.unwrap(), 0);
    let jobs = rig.settle(JobKind::ReminderDm).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, JobStatus::Done, "{:?}", jobs[0].last_error);
    let dms = rig.fake.with(|w| w.direct_messages(601));
    assert_eq!(dms.len(), 1, "one DM however many bots run");
    let content = dms[0].body["content"].as_str().unwrap().to_owned();
    assert!(content.contains("access ends in 3 days"), "{content}");
    assert!(content.contains(&format!("<{STOREFRONT}>")), "{content}");
    assert_eq!(dms[0].body["allowed_mentions"], serde_json::json!({"parse": []}));
    let token = content
        .split("/unsubscribe?token=")
        .nth(1)
        .and_then(|t| t.split('>').next())
        .expect("an unsubscribe link")
        .to_owned();
    // The mail job is the server's: the bots never took it.
    assert!(
        rig.jobs(JobKind::ReminderMail)
            .await
            .iter()
            .all(|j| j.status == JobStatus::Queued && j.attempts == 0)
    );
    // The DM's link turns Discord reminders off, and only those.
    assert_eq!(
        reminders::unsubscribe(&rig.db, &token).await.unwrap(),
        Some(Channel::Discord)
    );
    assert_eq!(reminders::preferences(&rig.db, user).await.unwrap(), (true, false));
    let calls = rig.fake.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.method == "POST" && c.path == "/api/v10/users/@me/channels")
    );
    assert!(
        calls.iter().all(|c| c.agent.starts_with("DiscordBot")),
        "requests come from serenity's request code"
    );
}

async fn a_customer_who_closed_dms_is_dead_at_once_and_the_e_mail_still_goes(backend: Backend) {
    let rig = rig(backend).await;
    rig.customer("closed@example.com", 602).await;
    rig.fake.with(|w| {
        w.closed_dms.insert(602);
    });
    let _bot = support::spawn_bot(&rig.settings, "info");
    assert_eq!(reminders::queue_due(&rig.db, &DAYS, Utc::now()).await.unwrap(), 2);
    let jobs = rig.settle(JobKind::ReminderDm).await;
    assert_eq!(jobs[0].status, JobStatus::Dead);
    assert_eq!(jobs[0].attempts, 1, "no retry can change a closed inbox");
    let why = jobs[0].last_error.clone().unwrap();
    assert!(
        why.contains("50007") && why.contains("e-mail reminder is unaffected"),
        "{why}"
    );
    assert!(rig.fake.with(|w| w.direct_messages(602)).is_empty());
    assert_eq!(
        rig.jobs(JobKind::ReminderMail).await.len(),
        1,
        "the e-mail is queued regardless"
    );
}

async fn turning_discord_reminders_off_stops_the_dm_but_not_the_e_mail(backend: Backend) {
    let rig = rig(backend).await;
    let user = rig.customer("quiet@example.com", 603).await;
    reminders::set_preference(&rig.db, user, Channel::Discord, false)
        .await
        .unwrap();
    assert_eq!(
        reminders::queue_due(&rig.db, &DAYS, Utc::now()).await.unwrap(),
        1,
        "only the e-mail"
    );
    assert!(rig.jobs(JobKind::ReminderDm).await.is_empty());
    // Turned off after it was queued: the bot sends nothing for it.
    reminders::set_preference(&rig.db, user, Channel::Discord, true)
        .await
        .unwrap();
    let later = Utc::now() + chrono::Duration::days(2) + chrono::Duration::hours(6);
    assert_eq!(
        reminders::queue_due(&rig.db, &DAYS, later).await.unwrap(),
        2,
        "the 1-day ones"
    );
    reminders::set_preference(&rig.db, user, Channel::Discord, false)
        .await
        .unwrap();
    let _bot = support::spawn_bot(&rig.settings, "info");
    let jobs = rig.settle(JobKind::ReminderDm).await;
    assert_eq!(jobs[0].status, JobStatus::Done);
    assert!(rig.fake.with(|w| w.direct_messages(603)).is_empty(), "nothing sent");
}

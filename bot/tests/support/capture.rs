//! The capture rig: a database, a fake Discord whose source guild has a Source-worthy channel,
//! a chat channel and a category, and the real bot on its gateway. `discovered` waits for the
//! bot to record the guild (from GUILD_CREATE) and flags the signals channel Source, as an
//! operator would on /admin/channels.

use std::collections::BTreeMap;
use std::time::Duration;

use domain::discovery::{self, Role};
use domain::snowflake::Snowflake;
use entity::{channel, signal};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use testkit::database::{Backend, TestDatabase};
use testkit::discord::{FakeDiscord, Limits};

pub const GUILD: u64 = 1_700_000_000_000_000_000;
pub const CATEGORY: u64 = 1_700_000_000_000_000_001;
pub const SIGNALS: u64 = 1_700_000_000_000_000_002;
pub const CHAT: u64 = 1_700_000_000_000_000_003;
pub const TRADER: u64 = 1_700_000_000_000_000_077;

pub struct Rig {
    pub db: DatabaseConnection,
    pub fake: FakeDiscord,
    pub settings: BTreeMap<String, String>,
    _database: TestDatabase,
}

pub async fn rig(backend: Backend) -> Rig {
    rig_with(backend, Limits::none()).await
}

/// The rig with the fake enforcing `limits`.
pub async fn rig_with(backend: Backend, limits: Limits) -> Rig {
    let database = TestDatabase::create(backend).await;
    let fake = FakeDiscord::start_with(0, limits).await.unwrap();
    fake.with(|w| {
        w.add_guild(GUILD, "Signals HQ", 10);
        w.add_channel(GUILD, CATEGORY, "Trading", 4, None);
        w.add_channel(GUILD, SIGNALS, "signals", 0, Some(CATEGORY));
        w.add_channel(GUILD, CHAT, "chat", 0, None);
        w.add_user(TRADER, "trader");
    });
    let mut settings = database.settings();
    for (k, v) in [
        ("DISCORD_BOT_TOKEN", testkit::discord::BOT_TOKEN.to_owned()),
        ("DISCORD_API_URL", fake.url()),
        ("ATTACHMENT_SOURCES", fake.url()),
        ("ATTACHMENT_ALLOW_PRIVATE", "true".to_owned()),
        ("CAPTURE_SWEEP_SECONDS", "10".to_owned()),
        ("CAPTURE_RECHECK_MESSAGES", "300".to_owned()),
    ] {
        settings.insert(k.into(), v);
    }
    let config = domain::Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).unwrap();
    let db = domain::database::connect(&config).await.unwrap();
    domain::database::migrate(&db).await.unwrap();
    Rig {
        db,
        fake,
        settings,
        _database: database,
    }
}

/// Polls `check` every 50 ms until it gives a value, for at most `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Rig {
    pub fn spawn_bot(&self) -> tokio::process::Child {
        super::spawn_bot(
            &self.settings,
            &std::env::var("BOT_LOG").unwrap_or_else(|_| "error".into()),
        )
    }

    /// Waits for the bot to record the guild's channels, then flags #signals Source.
    pub async fn discovered(&self) {
        let db = self.db.clone();
        eventually(30, "the bot records #signals from GUILD_CREATE", || {
            let db = db.clone();
            async move { channel::Entity::find_by_id(SIGNALS as i64).one(&db).await.unwrap() }
        })
        .await;
        discovery::set_flag(&self.db, Snowflake::from_db(SIGNALS as i64), Role::Source, true)
            .await
            .unwrap();
    }

    pub async fn signal(&self, message: u64) -> Option<signal::Model> {
        signal::Entity::find()
            .filter(signal::Column::MessageId.eq(message as i64))
            .one(&self.db)
            .await
            .unwrap()
    }

    /// Waits until the stored signal of `message` satisfies `ok`.
    pub async fn signal_where(&self, message: u64, what: &str, ok: impl Fn(&signal::Model) -> bool) -> signal::Model {
        eventually(30, what, || async { self.signal(message).await.filter(|s| ok(s)) }).await
    }

    pub async fn signals(&self) -> Vec<signal::Model> {
        signal::Entity::find()
            .order_by_asc(signal::Column::MessageId)
            .all(&self.db)
            .await
            .unwrap()
    }
}

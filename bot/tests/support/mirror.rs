//! The mirroring rig the bot's mirror tests and benchmark share: a database with a connector
//! that forwards, source channels each mapped to a target channel in the fake Discord's
//! customers' server, and helpers that ingest events through the domain's own ingest.

use std::collections::BTreeMap;
use std::time::Duration;

use domain::Config;
use domain::connectors::Connector;
use domain::discovery::{self, ChannelInfo, GuildInfo, Role};
use domain::feed::Feed;
use domain::snowflake::Snowflake;
use entity::job::{self, JobKind, JobStatus};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use testkit::database::{Backend, TestDatabase};
use testkit::discord::{FakeDiscord, Limits};

pub const SOURCE_GUILD: u64 = 1_500_000_000_000_000_000;
pub const SOURCE: u64 = 1_500_000_000_000_000_001;
pub const CUSTOMERS: u64 = 1_600_000_000_000_000_000;
pub const TARGET: u64 = 1_600_000_000_000_000_001;

pub struct Rig {
    pub db: DatabaseConnection,
    pub fake: FakeDiscord,
    pub settings: BTreeMap<String, String>,
    pub connector: Connector,
    pub feed: Feed,
    pub bot: Option<tokio::process::Child>,
    _database: TestDatabase,
}

pub async fn rig(backend: Backend, limits: Limits, lease_seconds: u32) -> Rig {
    rig_with(backend, limits, lease_seconds, 1).await
}

/// Source channel `i` of `pairs`, each mapped to its own target channel.
pub fn source(i: u64) -> u64 {
    SOURCE + 100 * i
}

pub fn target(i: u64) -> u64 {
    TARGET + 100 * i
}

pub async fn rig_with(backend: Backend, limits: Limits, lease_seconds: u32, pairs: u64) -> Rig {
    let database = TestDatabase::create(backend).await;
    let fake = FakeDiscord::start_with(0, limits).await.unwrap();
    fake.with(|w| {
        w.add_guild(CUSTOMERS, "Customers", 10);
        for i in 0..pairs {
            w.add_channel(CUSTOMERS, target(i), &format!("signals-{i}"), 0, None);
        }
    });
    let mut settings = database.settings();
    for (k, v) in [
        ("DISCORD_BOT_TOKEN", testkit::discord::BOT_TOKEN.to_owned()),
        ("DISCORD_API_URL", fake.url()),
        ("JOB_LEASE_SECONDS", lease_seconds.to_string()),
        // Attachments come from the fake's CDN routes.
        ("ATTACHMENT_SOURCES", fake.url()),
        // The fake listens on loopback, which real fetches never reach.
        ("ATTACHMENT_ALLOW_PRIVATE", "true".to_owned()),
    ] {
        settings.insert(k.into(), v);
    }
    let config = Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).unwrap();
    let db = domain::database::connect(&config).await.unwrap();
    domain::database::migrate(&db).await.unwrap();
    let (connector, _) = domain::connectors::create(&db, "Collector").await.unwrap();
    let guild = |id: u64, name: &str| GuildInfo {
        id: Snowflake::from_db(id as i64),
        name: name.into(),
        icon: None,
    };
    discovery::record_guilds(
        &db,
        &connector,
        &[guild(SOURCE_GUILD, "Source"), guild(CUSTOMERS, "Customers")],
    )
    .await
    .unwrap();
    let channel = |id: u64| ChannelInfo {
        id: Snowflake::from_db(id as i64),
        name: format!("c{id}"),
        kind: 0,
        parent_id: None,
        position: 0,
    };
    let sources: Vec<ChannelInfo> = (0..pairs).map(|i| channel(source(i))).collect();
    let targets: Vec<ChannelInfo> = (0..pairs).map(|i| channel(target(i))).collect();
    discovery::record_channels(&db, &connector, Snowflake::from_db(SOURCE_GUILD as i64), &sources)
        .await
        .unwrap();
    discovery::record_channels(&db, &connector, Snowflake::from_db(CUSTOMERS as i64), &targets)
        .await
        .unwrap();
    for i in 0..pairs {
        let (s, t) = (
            Snowflake::from_db(source(i) as i64),
            Snowflake::from_db(target(i) as i64),
        );
        discovery::set_flag(&db, s, Role::Source, true).await.unwrap();
        discovery::set_flag(&db, t, Role::Target, true).await.unwrap();
        discovery::create_mapping(&db, s, t).await.unwrap();
    }
    let connector = domain::connectors::set_forwarding(&db, &connector.pid, true)
        .await
        .unwrap();
    Rig {
        db,
        fake,
        settings,
        connector,
        feed: Feed::new(),
        bot: None,
        _database: database,
    }
}

pub fn message(kind: &str, id: u64, content: &str) -> Value {
    json!({
        "type": kind, "guild_id": SOURCE_GUILD.to_string(), "channel_id": SOURCE.to_string(),
        "message_id": id.to_string(),
        "author": {"id": "1500000000000000050", "name": "Head Trader", "avatar": "0123456789abcdef0123456789abcdef"},
        "content": content,
        "created_at": "2026-12-01T10:00:00Z",
        "edited_at": (kind == "message_update").then_some("2026-12-01T10:00:01Z"),
    })
}

pub fn create(id: u64, content: &str) -> Value {
    message("message_create", id, content)
}

/// An update `n` seconds after the post (later edits win).
pub fn update(id: u64, content: &str, n: u32) -> Value {
    let mut v = message("message_update", id, content);
    v["edited_at"] = json!(format!("2026-12-01T10:{:02}:{:02}Z", 1 + n / 60, n % 60));
    v
}

pub fn delete(id: u64) -> Value {
    json!({"type": "message_delete", "guild_id": SOURCE_GUILD.to_string(), "channel_id": SOURCE.to_string(),
           "message_id": id.to_string()})
}

impl Rig {
    pub fn start_bot(&mut self) {
        self.bot = Some(super::spawn_bot(&self.settings, "warn"));
    }

    pub async fn ingest(&self, events: Vec<Value>) {
        let now = chrono::Utc::now();
        let sources = self.config().attachment_sources;
        let items = events
            .into_iter()
            .map(|e| domain::ingest::parse_with(e, now, &sources))
            .collect();
        let done = domain::ingest::ingest(&self.db, &self.feed, &self.connector, items)
            .await
            .unwrap();
        for r in &done.results {
            // (An edit older than the stored one is ignored: that is the merge rule, not a failure.)
            assert!(
                !matches!(
                    r.status,
                    domain::ingest::Status::Rejected | domain::ingest::Status::Forbidden
                ),
                "{r:?}"
            );
        }
    }

    pub fn config(&self) -> Config {
        Config::from_sources(&BTreeMap::new(), |k| self.settings.get(k).cloned()).unwrap()
    }

    /// Runs the queued attachment fetches as a server process does (claim, fetch into the blob
    /// store under this rig's DATA_DIR, complete): the bot reads what they stored.
    pub async fn run_attachment_fetches(&self) -> usize {
        let config = self.config();
        let blobs = domain::blobs::BlobStore::open(&config.blob_store).unwrap();
        let fetcher = domain::attachment_store::fetch::Fetcher::from_config(&config);
        let jobs = domain::jobs::claim(
            &self.db,
            &[JobKind::AttachmentFetch],
            100,
            chrono::Duration::seconds(60),
        )
        .await
        .unwrap();
        for job in &jobs {
            let outcome = domain::attachment_store::run(&self.db, &self.feed, &blobs, &fetcher, job).await;
            assert_eq!(outcome, domain::jobs::worker::Outcome::Done);
            domain::jobs::complete(&self.db, job).await.unwrap();
        }
        jobs.len()
    }

    /// The contents of the bot's messages in the target channel, oldest first.
    pub fn target(&self) -> Vec<String> {
        self.fake.with(|w| {
            w.channel_messages(TARGET)
                .iter()
                .map(|m| m.body["content"].as_str().unwrap_or("").to_owned())
                .collect()
        })
    }

    pub async fn target_becomes(&self, want: &[&str]) {
        let ok = self
            .fake
            .wait_for(Duration::from_secs(15), |w| {
                let got: Vec<String> = w
                    .channel_messages(TARGET)
                    .iter()
                    .map(|m| m.body["content"].as_str().unwrap_or("").to_owned())
                    .collect();
                got == want
            })
            .await;
        assert!(ok, "target holds {:?}, wanted {want:?}", self.target());
    }

    pub async fn mirror_jobs(&self) -> Vec<job::Model> {
        job::Entity::find()
            .filter(job::Column::Kind.eq(JobKind::Mirror))
            .all(&self.db)
            .await
            .unwrap()
    }

    pub async fn until_jobs_settle(&self) -> Vec<job::Model> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let jobs = self.mirror_jobs().await;
            if jobs
                .iter()
                .all(|j| matches!(j.status, JobStatus::Done | JobStatus::Dead))
            {
                return jobs;
            }
            assert!(tokio::time::Instant::now() < deadline, "jobs never settled: {jobs:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn copy(&self, message_id: u64) -> entity::mirror_copy::Model {
        let signal = entity::signal::Entity::find()
            .filter(entity::signal::Column::MessageId.eq(message_id as i64))
            .one(&self.db)
            .await
            .unwrap()
            .unwrap();
        entity::mirror_copy::Entity::find()
            .filter(entity::mirror_copy::Column::SignalId.eq(signal.id))
            .one(&self.db)
            .await
            .unwrap()
            .unwrap()
    }
}

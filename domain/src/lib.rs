//! Rules shared by the `server` and `bot` binaries. Nothing here is compiled for the browser.
//! Each module owns one domain area and its typed error.

pub mod accounts;
pub mod alerts;
pub mod attachment_store;
pub mod blobs;
pub mod capture;
pub mod channel_tiers;
pub mod client_address;
pub mod config;
pub mod connectors;
pub mod database;
pub mod discord_link;
pub mod discovery;
pub mod email_proof;
pub mod entitlements;
pub mod feed;
pub mod import;
pub mod ingest;
pub mod jobs;
pub mod mail;
pub mod mailed_links;
pub mod metrics;
pub mod mirror;
pub mod overview;
pub mod payments;
pub mod reminders;
pub mod rights;
pub mod role_drift;
pub mod role_sync;
pub mod secret;
pub mod sessions;
pub mod snowflake;
pub mod sqlite_wal;
pub mod telemetry;
pub mod throttle;
pub mod tiers;
pub mod trade;

pub use config::{Config, ConfigError};
pub use database::{Backend, DatabaseError};
pub use secret::Secret;

/// What request handlers and server functions need from the process: the database and the
/// validated configuration. Cheap to clone (both are shared handles).
#[derive(Clone, Debug)]
pub struct AppContext {
    pub db: sea_orm::DatabaseConnection,
    pub config: std::sync::Arc<Config>,
    /// The change notifier every ingest in this process goes through.
    pub feed: feed::Feed,
    /// Wakes this process's payment processor when a webhook was stored.
    pub payment_events: std::sync::Arc<tokio::sync::Notify>,
    pub metrics: std::sync::Arc<metrics::Metrics>,
    /// Verification and password-reset mail (SMTP, or the log when none is configured).
    pub mailer: mail::Mailer,
    /// This process's copy of the tiers (read on first use).
    pub tiers: tiers::TierTable,
}

impl AppContext {
    pub fn new(db: sea_orm::DatabaseConnection, config: Config) -> Self {
        Self {
            mailer: mail::Mailer::from_config(&config),
            db,
            config: std::sync::Arc::new(config),
            feed: feed::Feed::new(),
            payment_events: std::sync::Arc::new(tokio::sync::Notify::new()),
            metrics: std::sync::Arc::new(metrics::Metrics::default()),
            tiers: tiers::TierTable::default(),
        }
    }
}

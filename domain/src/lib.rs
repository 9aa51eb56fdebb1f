//! Rules shared by the `server` and `bot` binaries. Nothing here is compiled for the browser.
//! Each module owns one domain area and its typed error.

pub mod accounts;
pub mod config;
pub mod database;
pub mod ingest;
pub mod secret;
pub mod sessions;
pub mod telemetry;
pub mod throttle;
pub mod tiers;

pub use config::{Config, ConfigError};
pub use database::{Backend, DatabaseError};
pub use secret::Secret;

/// What request handlers and server functions need from the process: the database and the
/// validated configuration. Cheap to clone (both are shared handles).
#[derive(Clone, Debug)]
pub struct AppContext {
    pub db: sea_orm::DatabaseConnection,
    pub config: std::sync::Arc<Config>,
}

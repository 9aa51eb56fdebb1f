//! The service status check a visitor can run from the landing page: one real database round trip.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// "sqlite" or "postgres".
    pub database: String,
    /// How long one `SELECT 1` took, in milliseconds.
    pub database_ms: f64,
    /// How many plans the database holds: proves the read went to our tables.
    pub plans: usize,
}

#[server(prefix = "/rpc", endpoint = "status")]
pub async fn check_status() -> Result<StatusReport, AppError> {
    let ctx = crate::error::app_context()?;
    let elapsed = domain::database::ping(&ctx.db)
        .await
        .map_err(|e| crate::error::unavailable("status ping", e))?;
    let plans = domain::tiers::list(&ctx.db)
        .await
        .map_err(|e| crate::error::unavailable("status tiers", e))?
        .len();
    Ok(StatusReport {
        database: domain::Backend::of(&ctx.db).as_str().to_owned(),
        database_ms: elapsed.as_secs_f64() * 1000.0,
        plans,
    })
}

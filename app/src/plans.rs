//! The plans shown to visitors: the tiers the operator sells, read from the database.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanView {
    pub slug: String,
    pub name: String,
    pub description: String,
    /// The source channels this tier opens, from the channel settings.
    pub channels: Vec<String>,
}

#[server(prefix = "/rpc", endpoint = "plans")]
pub async fn list_plans() -> Result<Vec<PlanView>, AppError> {
    let ctx = crate::error::app_context()?;
    let (tiers, gates) = domain::channel_tiers::gates(&ctx.db)
        .await
        .map_err(|e| crate::error::unavailable("listing tiers", e))?;
    Ok(tiers
        .into_iter()
        .map(|t| PlanView {
            channels: domain::channel_tiers::split(&gates, t.rank).0,
            slug: t.slug,
            name: t.name,
            description: t.description,
        })
        .collect())
}

//! The plans shown to visitors: the tiers the operator sells, read from the database.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanView {
    pub slug: String,
    pub name: String,
    pub description: String,
}

#[server(prefix = "/rpc", endpoint = "plans")]
pub async fn list_plans() -> Result<Vec<PlanView>, AppError> {
    let ctx = crate::error::app_context()?;
    let tiers = domain::tiers::list(&ctx.db)
        .await
        .map_err(|e| crate::error::unavailable("listing tiers", e))?;
    Ok(tiers
        .into_iter()
        .map(|t| PlanView {
            slug: t.slug,
            name: t.name,
            description: t.description,
        })
        .collect())
}

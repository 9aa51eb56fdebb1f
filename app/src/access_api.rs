//! The signed-in customer's own access: current tier, when it ends, and order history.
//! Computed from the ledger at the moment of the call.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRow {
    pub reference: String,
    pub tier: String,
    pub days: i32,
    /// What was paid, e.g. `49.99 EUR`, when the payment said so.
    pub paid: Option<String>,
    pub at: String,
    /// None while in force; the reason once taken back.
    pub revoked: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessView {
    pub tier: Option<String>,
    pub tier_ends: Option<String>,
    pub access_ends: Option<String>,
    /// Seconds of access left at `server_now` (0 without access); the page counts down from it.
    pub seconds_left: i64,
    pub orders: Vec<OrderRow>,
    pub storefront_url: Option<String>,
}

#[server(prefix = "/rpc", endpoint = "access")]
pub async fn my_access() -> Result<AccessView, AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_user().await?;
    let unavailable = |e| crate::error::unavailable("reading access", e);
    let now = chrono::Utc::now();
    let access = domain::entitlements::access_at(&ctx.db, me.account.id, now)
        .await
        .map_err(unavailable)?;
    let tiers = domain::entitlements::tiers(&ctx.db).await.map_err(unavailable)?;
    let grants = domain::entitlements::all_grants(&ctx.db, me.account.id)
        .await
        .map_err(unavailable)?;
    let tier_name = |id: i32| {
        tiers
            .iter()
            .find(|t| t.id == id)
            .map_or_else(|| "—".to_owned(), |t| t.name.clone())
    };
    Ok(AccessView {
        tier: access.as_ref().map(|a| a.tier.name.clone()),
        tier_ends: access.as_ref().map(|a| a.tier_ends.to_rfc3339()),
        access_ends: access.as_ref().map(|a| a.access_ends.to_rfc3339()),
        seconds_left: access
            .as_ref()
            .map_or(0, |a| (a.access_ends - now).num_seconds().max(0)),
        orders: grants
            .into_iter()
            .filter(|g| g.days > 0)
            .map(|g| OrderRow {
                reference: match (g.cause.as_str(), g.order_id) {
                    ("admin", _) | (_, None) => format!("Given by the operator: {}", g.reason),
                    (_, Some(o)) => format!("Order #{o}"),
                },
                tier: tier_name(g.tier_id),
                days: g.days,
                paid: g
                    .amount_minor
                    .zip(g.currency.as_deref())
                    .map(|(m, c)| domain::entitlements::format_amount(m, c)),
                at: g.created_at.to_rfc3339(),
                revoked: g
                    .revoked_at
                    .map(|_| g.revoke_reason.unwrap_or_else(|| "revoked".into())),
            })
            .collect(),
        storefront_url: ctx.config.storefront_url.as_ref().map(|u| u.to_string()),
    })
}

//! Admin server functions for payments: access policies and the webhook failure inbox.
//! Under `/rpc/admin/`, each starts with `require_admin`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRow {
    pub id: String,
    pub tier_id: String,
    pub product_id: String,
    pub variant_id: String,
    pub tier: String,
    pub days: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierOption {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoliciesView {
    pub policies: Vec<PolicyRow>,
    pub tiers: Vec<TierOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRow {
    pub id: String,
    pub event: String,
    pub resource_id: String,
    pub attempts: i32,
    pub last_error: String,
    pub received_at: String,
    pub payload: String,
}

#[cfg(feature = "ssr")]
use crate::auth::admin_context as admin;

#[server(prefix = "/rpc/admin", endpoint = "policies")]
pub async fn list_policies() -> Result<PoliciesView, AppError> {
    let ctx = admin().await?;
    let unavailable = |e| crate::error::unavailable("listing policies", e);
    let tiers = domain::entitlements::tiers(&ctx.db).await.map_err(unavailable)?;
    let policies = domain::payments::policies::list(&ctx.db).await.map_err(unavailable)?;
    Ok(PoliciesView {
        policies: policies
            .into_iter()
            .map(|p| PolicyRow {
                id: p.id.to_string(),
                tier_id: p.tier_id.to_string(),
                product_id: p.product_id,
                variant_id: p.variant_id,
                tier: tiers
                    .iter()
                    .find(|t| t.id == p.tier_id)
                    .map_or_else(String::new, |t| t.name.clone()),
                days: p.days,
            })
            .collect(),
        tiers: tiers
            .into_iter()
            .map(|t| TierOption {
                id: t.id.to_string(),
                name: t.name,
            })
            .collect(),
    })
}

#[server(prefix = "/rpc/admin", endpoint = "policies/create")]
pub async fn create_policy(product_id: String, variant_id: String, tier: String, days: String) -> Result<(), AppError> {
    use domain::payments::policies::{self, PolicyError};
    let ctx = admin().await?;
    let Ok(tier) = tier.parse::<i32>() else {
        return crate::error::fail(AppError::invalid("tier", "choose one of the tiers"));
    };
    let Ok(days) = days.trim().parse::<i32>() else {
        return crate::error::fail(AppError::invalid("days", "a whole number of days"));
    };
    match policies::create(&ctx.db, &product_id, &variant_id, tier, days).await {
        Ok(_) => Ok(()),
        Err(PolicyError::Invalid { field, message }) => crate::error::fail(AppError::invalid(field, message)),
        Err(e @ PolicyError::Exists) => crate::error::fail(AppError::invalid("variant_id", e.to_string())),
        Err(PolicyError::NotFound) => crate::error::fail(AppError::NotFound),
        Err(PolicyError::Db(e)) => Err(crate::error::unavailable("creating a policy", e)),
    }
}

#[server(prefix = "/rpc/admin", endpoint = "policies/update")]
pub async fn update_policy(id: String, tier: String, days: String) -> Result<(), AppError> {
    use domain::payments::policies::{self, PolicyError};
    let ctx = admin().await?;
    let (Ok(id), Ok(tier)) = (id.parse::<i64>(), tier.parse::<i32>()) else {
        return crate::error::fail(AppError::invalid("tier", "choose one of the tiers"));
    };
    let Ok(days) = days.trim().parse::<i32>() else {
        return crate::error::fail(AppError::invalid("days", "a whole number of days"));
    };
    match policies::update(&ctx.db, id, tier, days).await {
        Ok(_) => Ok(()),
        Err(PolicyError::Invalid { field, message }) => crate::error::fail(AppError::invalid(field, message)),
        Err(PolicyError::Db(e)) => Err(crate::error::unavailable("updating a policy", e)),
        Err(_) => crate::error::fail(AppError::NotFound),
    }
}

#[server(prefix = "/rpc/admin", endpoint = "policies/delete")]
pub async fn delete_policy(id: String) -> Result<(), AppError> {
    let ctx = admin().await?;
    let Ok(id) = id.parse::<i64>() else {
        return crate::error::fail(AppError::invalid("id", "not a policy id"));
    };
    match domain::payments::policies::delete(&ctx.db, id).await {
        Ok(()) => Ok(()),
        Err(domain::payments::policies::PolicyError::Db(e)) => Err(crate::error::unavailable("deleting a policy", e)),
        Err(_) => crate::error::fail(AppError::NotFound),
    }
}

/// The failure inbox lists at most this many, newest first.
pub const FAILURES_PAGE: u64 = 100;

#[server(prefix = "/rpc/admin", endpoint = "webhooks/failures")]
pub async fn list_failures() -> Result<Vec<FailureRow>, AppError> {
    let ctx = admin().await?;
    let failures = domain::payments::webhooks::failures(&ctx.db, FAILURES_PAGE)
        .await
        .map_err(|e| crate::error::unavailable("listing webhook failures", e))?;
    Ok(failures
        .into_iter()
        .map(|f| FailureRow {
            id: f.id.to_string(),
            event: f.event,
            resource_id: f.resource_id,
            attempts: f.attempts,
            last_error: f.last_error.unwrap_or_default(),
            received_at: f.received_at.to_rfc3339(),
            payload: serde_json::from_str::<serde_json::Value>(&f.body)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or(f.body),
        })
        .collect())
}

/// Replays one failed event (`id`), or all of them (`id` = `all`). Idempotent.
#[server(prefix = "/rpc/admin", endpoint = "webhooks/replay")]
pub async fn replay_failures(id: String) -> Result<u64, AppError> {
    let ctx = admin().await?;
    let queued = if id == "all" {
        domain::payments::webhooks::replay_all(&ctx.db).await
    } else {
        match id.parse::<i64>() {
            Ok(n) => domain::payments::webhooks::replay(&ctx.db, &[n]).await,
            Err(_) => return crate::error::fail(AppError::invalid("id", "not an event id")),
        }
    };
    let queued = queued.map_err(|e| crate::error::unavailable("replaying webhook events", e))?;
    ctx.payment_events.notify_one();
    tracing::info!(queued, "webhook events replayed by an admin");
    Ok(queued)
}

/// What every admin page shows on top: the payment failure-spike alert, and (apart from it:
/// forged requests must not raise the alert) the notice about rejected signatures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentBanners {
    pub alert: Option<String>,
    pub rejections: Option<String>,
}

#[server(prefix = "/rpc/admin", endpoint = "payments/alert")]
pub async fn payment_alert() -> Result<PaymentBanners, AppError> {
    let ctx = admin().await?;
    let now = chrono::Utc::now();
    let threshold = ctx.config.payment_alert_threshold;
    let spike = domain::payments::alert::check(&ctx.db, threshold, now)
        .await
        .map_err(|e| crate::error::unavailable("checking the payment alert", e))?;
    Ok(PaymentBanners {
        alert: spike.map(|s| format!("Payment alert: {s}. Check the webhook inbox.")),
        rejections: domain::payments::alert::rejection_notice(&ctx.metrics.recent_rejections, threshold, now),
    })
}

//! Admin server functions for customers: search (accounts and payers), one customer's access,
//! grants and timeline, and manual grant / revoke with a required reason.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantLine {
    pub id: String,
    pub what: String,
    pub tier: String,
    pub days: i32,
    pub at: String,
    pub revoked: Option<String>,
    /// In force but held for the address until an account proves it owns it.
    pub waiting: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeLine {
    pub kind: String,
    pub cause: String,
    pub detail: String,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerView {
    pub email: String,
    pub has_account: bool,
    /// The account proved it owns the address (only then does time reach it).
    pub verified: bool,
    pub tier: Option<String>,
    pub access_ends: Option<String>,
    pub grants: Vec<GrantLine>,
    pub timeline: Vec<ChangeLine>,
    pub tiers: Vec<(String, String)>,
    /// A fresh key for the grant form: submitting it twice grants once.
    pub grant_key: String,
}

#[server(prefix = "/rpc/admin", endpoint = "customers")]
pub async fn search_customers(query: String) -> Result<Vec<String>, AppError> {
    let ctx = crate::error::app_context()?;
    crate::auth::require_admin().await?;
    domain::entitlements::search_customers(&ctx.db, &query, 50)
        .await
        .map_err(|e| crate::error::unavailable("searching customers", e))
}

#[server(prefix = "/rpc/admin", endpoint = "customers/one")]
pub async fn customer(email: String) -> Result<CustomerView, AppError> {
    let ctx = crate::error::app_context()?;
    crate::auth::require_admin().await?;
    let unavailable = |e| crate::error::unavailable("reading a customer", e);
    let email = email.trim().to_lowercase();
    let account = domain::accounts::id_for_email(&ctx.db, &email)
        .await
        .map_err(unavailable)?;
    let verified = match account {
        Some(id) => domain::accounts::find(&ctx.db, id)
            .await
            .map_err(unavailable)?
            .is_some_and(|a| a.email_verified),
        None => false,
    };
    let tiers = domain::entitlements::tiers(&ctx.db).await.map_err(unavailable)?;
    let access = match account {
        Some(id) => domain::entitlements::access_at(&ctx.db, id, chrono::Utc::now())
            .await
            .map_err(unavailable)?,
        None => None,
    };
    let grants = domain::entitlements::grants_for_email(&ctx.db, &email)
        .await
        .map_err(unavailable)?;
    let timeline = domain::entitlements::history(&ctx.db, &email)
        .await
        .map_err(unavailable)?;
    let reminders = match account {
        Some(id) => domain::reminders::sent_to(&ctx.db, id).await.map_err(unavailable)?,
        None => Vec::new(),
    };
    let tier_name = |id: i32| {
        tiers
            .iter()
            .find(|t| t.id == id)
            .map_or_else(|| "—".to_owned(), |t| t.name.clone())
    };
    Ok(CustomerView {
        has_account: account.is_some(),
        verified,
        tier: access.as_ref().map(|a| a.tier.name.clone()),
        access_ends: access.as_ref().map(|a| a.access_ends.to_rfc3339()),
        grants: grants
            .into_iter()
            .filter(|g| g.days > 0)
            .map(|g| GrantLine {
                id: g.id.to_string(),
                what: match (g.cause.as_str(), g.order_id) {
                    ("admin", _) | (_, None) => format!("admin: {}", g.reason),
                    (_, Some(o)) => format!("order #{o}"),
                },
                tier: tier_name(g.tier_id),
                days: g.days,
                at: g.created_at.to_rfc3339(),
                waiting: g.user_id.is_none() && g.revoked_at.is_none(),
                revoked: g.revoked_at.map(|_| g.revoke_reason.unwrap_or_default()),
            })
            .collect(),
        timeline: merge_newest_first(
            timeline
                .into_iter()
                .map(|c| ChangeLine {
                    kind: c.kind,
                    cause: match c.actor {
                        Some(actor) => format!("{} by {actor}", c.cause),
                        None => c.cause,
                    },
                    detail: c.detail,
                    at: c.at.to_rfc3339(),
                })
                .collect(),
            reminders.into_iter().map(reminder_line).collect(),
        ),
        tiers: tiers.into_iter().map(|t| (t.id.to_string(), t.name)).collect(),
        grant_key: domain::entitlements::new_admin_request_key(),
        email,
    })
}

/// A reminder on the timeline: when it went out, by which channel, about which end.
#[cfg(feature = "ssr")]
fn reminder_line(r: entity::reminder::Model) -> ChangeLine {
    ChangeLine {
        kind: "reminder".into(),
        cause: match r.channel.as_str() {
            "discord" => "Discord DM".into(),
            _ => "e-mail".into(),
        },
        detail: format!(
            "{} day{} before the access end of {}",
            r.days_before,
            if r.days_before == 1 { "" } else { "s" },
            r.access_end.format("%Y-%m-%d %H:%M UTC")
        ),
        at: r.sent_at.to_rfc3339(),
    }
}

/// Two newest-first lists as one (times are RFC 3339 in UTC, so they sort as text).
#[cfg(feature = "ssr")]
fn merge_newest_first(mut a: Vec<ChangeLine>, b: Vec<ChangeLine>) -> Vec<ChangeLine> {
    a.extend(b);
    a.sort_by(|x, y| y.at.cmp(&x.at));
    a
}

/// Grants days of a tier (also how an admin extends: grant more of the current tier).
#[server(prefix = "/rpc/admin", endpoint = "customers/grant")]
pub async fn admin_grant(
    email: String,
    tier: String,
    days: String,
    reason: String,
    request: String,
) -> Result<(), AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_admin().await?;
    let key = match domain::entitlements::admin_request_key(&request) {
        Ok(k) => k,
        Err(m) => return crate::error::fail(AppError::invalid("request", m)),
    };
    let reason = match domain::entitlements::check_reason(&reason) {
        Ok(r) => r,
        Err(m) => return crate::error::fail(AppError::invalid("reason", m)),
    };
    let Ok(tier) = tier.parse::<i32>() else {
        return crate::error::fail(AppError::invalid("tier", "choose one of the tiers"));
    };
    let days = match days.trim().parse::<i32>() {
        Ok(d) if (1..=domain::payments::policies::DAYS_MAX).contains(&d) => d,
        _ => return crate::error::fail(AppError::invalid("days", "between 1 and 3650 days")),
    };
    let email = email.trim().to_lowercase();
    let unavailable = |e| crate::error::unavailable("granting access", e);
    let roles = domain::role_sync::RoleGuild::from_config(&ctx.config);
    let granted = domain::entitlements::admin_grant(
        &ctx.db,
        roles.as_ref(),
        domain::entitlements::NewGrant {
            // admin_grant gives it to the address's proven owner, or leaves it waiting.
            user_id: None,
            email,
            order_id: Some(key),
            tier_id: tier,
            days,
            starts_at: chrono::Utc::now(),
            cause: domain::entitlements::GrantCause::Admin,
            reason,
            actor: Some(me.account.email.clone()),
            amount_minor: None,
            currency: None,
        },
    )
    .await
    .map_err(unavailable)?;
    if granted.is_none() {
        tracing::info!(admin = %me.account.email, "admin grant submitted again: granted once");
    }
    Ok(())
}

#[server(prefix = "/rpc/admin", endpoint = "customers/revoke")]
pub async fn admin_revoke(id: String, reason: String) -> Result<(), AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_admin().await?;
    let reason = match domain::entitlements::check_reason(&reason) {
        Ok(r) => r,
        Err(m) => return crate::error::fail(AppError::invalid("reason", m)),
    };
    let Ok(id) = id.parse::<i64>() else {
        return crate::error::fail(AppError::invalid("id", "not a grant id"));
    };
    let roles = domain::role_sync::RoleGuild::from_config(&ctx.config);
    let revoked = domain::entitlements::admin_revoke(&ctx.db, roles.as_ref(), id, &reason, &me.account.email)
        .await
        .map_err(|e| crate::error::unavailable("revoking access", e))?;
    if revoked.is_none() {
        return crate::error::fail(AppError::NotFound);
    }
    Ok(())
}

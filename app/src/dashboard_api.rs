//! The customer dashboard's data: the latest signals (only with access at the moment of the
//! read, S9), the feed head the page continues from live, or the plans when there is no access.
//! The card types are also what the live feed's websocket events decode into.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

pub const PAGE_SIZE: u64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentCard {
    pub filename: String,
    #[serde(default)]
    pub content_type: Option<String>,
    pub size: u64,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    /// inline, link or blocked.
    pub display: String,
    #[serde(default)]
    pub url: Option<String>,
    /// stored, pending, unavailable, blocked, or source (kept before attachments were stored).
    #[serde(default)]
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalCard {
    pub id: i64,
    pub channel: String,
    #[serde(default)]
    pub thread: Option<String>,
    pub author: String,
    #[serde(default)]
    pub avatar_url: Option<String>,
    pub content: String,
    /// As stored: read field by field when shown (`crate::embed`), so one odd field never costs
    /// the signal its card.
    #[serde(default)]
    pub embeds: Vec<serde_json::Value>,
    #[serde(default)]
    pub mentions: crate::components::message_body::Names,
    #[serde(default)]
    pub attachments: Vec<AttachmentCard>,
    #[serde(default)]
    pub posted_at: Option<String>,
    #[serde(default)]
    pub edited_at: Option<String>,
    #[serde(default)]
    pub deleted_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessCard {
    pub tier: String,
    pub ends_at: String,
    pub seconds_left: i64,
    /// The source channels this tier opens.
    pub channels: Vec<String>,
    /// The ones it does not: (channel, the tier that opens it).
    pub locked: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCard {
    pub tier: String,
    pub days: i32,
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardView {
    pub access: Option<AccessCard>,
    pub signals: Vec<SignalCard>,
    /// The feed sequence this page is current to; the live feed continues from here.
    pub head: i64,
    /// The id to page back from, when there are older signals.
    pub older: Option<i64>,
    pub plans: Vec<PlanCard>,
    pub storefront_url: Option<String>,
}

#[server(prefix = "/rpc", endpoint = "dashboard")]
pub async fn dashboard(before: Option<i64>) -> Result<DashboardView, AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_user().await?;
    let unavailable = |e| crate::error::unavailable("reading the dashboard", e);
    let now = chrono::Utc::now();
    let access = domain::entitlements::access_at(&ctx.db, me.account.id, now)
        .await
        .map_err(unavailable)?;
    let storefront_url = ctx.config.storefront_url.as_ref().map(|u| u.to_string());
    let (tiers, gates) = domain::channel_tiers::gates(&ctx.db).await.map_err(unavailable)?;
    let Some(access) = access else {
        let policies = domain::payments::policies::list(&ctx.db).await.map_err(unavailable)?;
        let mut plans: Vec<PlanCard> = policies
            .into_iter()
            .filter_map(|p| {
                let t = tiers.iter().find(|t| t.id == p.tier_id)?;
                Some((
                    t.rank,
                    PlanCard {
                        tier: t.name.clone(),
                        days: p.days,
                        channels: domain::channel_tiers::split(&gates, t.rank).0,
                    },
                ))
            })
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_values()
            .collect();
        if plans.is_empty() {
            plans = tiers
                .into_iter()
                .map(|t| PlanCard {
                    channels: domain::channel_tiers::split(&gates, t.rank).0,
                    tier: t.name,
                    days: 30,
                })
                .collect();
        }
        return Ok(DashboardView {
            access: None,
            signals: Vec::new(),
            head: 0,
            older: None,
            plans,
            storefront_url,
        });
    };
    let head = domain::feed::view::head(&ctx.db).await.map_err(unavailable)?;
    let latest = domain::feed::view::latest(&ctx.db, access.tier.rank, before, PAGE_SIZE)
        .await
        .map_err(unavailable)?;
    let older = (latest.len() as u64 == PAGE_SIZE)
        .then(|| latest.last().map(|s| s.id))
        .flatten();
    let signals = latest
        .into_iter()
        .filter_map(|s| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| serde_json::from_value(v).ok())
        })
        .collect();
    let (channels, locked) = domain::channel_tiers::split(&gates, access.tier.rank);
    Ok(DashboardView {
        access: Some(AccessCard {
            channels,
            locked,
            tier: access.tier.name,
            ends_at: access.access_ends.to_rfc3339(),
            seconds_left: (access.access_ends - now).num_seconds().max(0),
        }),
        signals,
        head,
        older,
        plans: Vec::new(),
        storefront_url,
    })
}

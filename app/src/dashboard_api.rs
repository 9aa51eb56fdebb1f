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
    #[serde(default)]
    pub channel_id: String,
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
    #[serde(default)]
    pub trade: Option<TradeCard>,
    #[serde(default)]
    pub changes: Vec<ChangeCard>,
    /// Earlier versions, newest first.
    #[serde(default)]
    pub history: Vec<RevisionCard>,
}

/// A price as the signal wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelCard {
    pub text: String,
}

/// The trade a signal states (`domain::trade`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeCard {
    pub pair: String,
    /// long, short, buy or sell.
    pub side: String,
    #[serde(default)]
    pub entry: Vec<LevelCard>,
    #[serde(default)]
    pub targets: Vec<LevelCard>,
    #[serde(default)]
    pub stop: Option<LevelCard>,
}

/// A level an edit moved: "SL 3,150 → 3,200".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCard {
    pub label: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionCard {
    pub content: String,
    #[serde(default)]
    pub embeds: Vec<serde_json::Value>,
    #[serde(default)]
    pub edited_at: Option<String>,
    pub replaced_at: String,
}

/// A search over the history (`/dashboard?q=…&channel=…&pair=…&side=…`): every part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub pair: String,
    #[serde(default)]
    pub side: String,
}

impl SearchForm {
    pub fn is_empty(&self) -> bool {
        [&self.q, &self.channel, &self.pair, &self.side]
            .iter()
            .all(|v| v.trim().is_empty())
    }

    /// The query string that repeats this search (for "older results" and sharing).
    pub fn query_string(&self) -> String {
        [
            ("q", &self.q),
            ("channel", &self.channel),
            ("pair", &self.pair),
            ("side", &self.side),
        ]
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// Percent-encoding for a query-string value (everything but unreserved characters).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
    /// The channels the customer may search: (id, name).
    #[serde(default)]
    pub channels: Vec<(String, String)>,
    /// The search this page answers, when it is one (then it is not live).
    #[serde(default)]
    pub search: Option<SearchForm>,
}

#[server(prefix = "/rpc", endpoint = "dashboard")]
pub async fn dashboard(before: Option<i64>, search: Option<SearchForm>) -> Result<DashboardView, AppError> {
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
            channels: Vec::new(),
            search: None,
        });
    };
    let head = domain::feed::view::head(&ctx.db).await.map_err(unavailable)?;
    let search = search.filter(|s| !s.is_empty());
    let latest = match &search {
        None => domain::feed::view::latest(&ctx.db, access.tier.rank, before, PAGE_SIZE)
            .await
            .map_err(unavailable)?,
        Some(form) => {
            let query = search_query(form, before)?;
            domain::feed::view::search(&ctx.db, access.tier.rank, &query, PAGE_SIZE)
                .await
                .map_err(unavailable)?
        }
    };
    let searchable = domain::feed::view::readable_channels(&ctx.db, access.tier.rank)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect();
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
        channels: searchable,
        search,
    })
}

/// The form as a database query; a bad part gets a message naming it.
#[cfg(feature = "ssr")]
fn search_query(form: &SearchForm, before: Option<i64>) -> Result<domain::feed::search::Query, AppError> {
    use domain::feed::search::{QUERY_MAX_CHARS, Query, words};
    if form.q.chars().count() > QUERY_MAX_CHARS {
        return Err(AppError::invalid(
            "q",
            format!("Search for at most {QUERY_MAX_CHARS} characters."),
        ));
    }
    let channel_id = match form.channel.trim() {
        "" => None,
        c => Some(
            c.parse::<i64>()
                .map_err(|_| AppError::invalid("channel", "Pick a channel from the list."))?,
        ),
    };
    let side = match form.side.trim().to_ascii_lowercase().as_str() {
        "" => None,
        s @ ("long" | "short") => Some(s.to_owned()),
        _ => return Err(AppError::invalid("side", "Side is long or short.")),
    };
    let pair = match form.pair.trim() {
        "" => None,
        p => Some(
            domain::trade::normalise_pair(p)
                .ok_or_else(|| AppError::invalid("pair", "Write a pair like BTC/USDT or EURUSD."))?,
        ),
    };
    Ok(Query {
        words: words(&form.q),
        channel_id,
        pair,
        side,
        before,
    })
}

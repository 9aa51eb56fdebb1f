//! Admin server functions for capture: connectors, discovered guilds and channels, flags,
//! mappings, and the live event view. Under `/rpc/admin/`, each starts with `require_admin`.
//! Arguments are plain strings and booleans so forms post them before the wasm loads.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorRow {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub forwarding: bool,
    pub created_at: String,
    pub last_seen_at: Option<String>,
    pub version: Option<String>,
    /// While a rotation's grace runs: when the previous token stops working.
    pub previous_token_until: Option<String>,
    /// The latest feed entries this connector caused, newest first.
    pub events: Vec<EventRow>,
    /// "Discord bot" (the built-in gateway capture) or "API collector".
    pub kind: String,
    /// True for the built-in connector (no token: nothing to rotate).
    pub builtin: bool,
    /// A problem only the operator can fix (e.g. the Message Content intent withheld).
    pub alert: Option<String>,
    /// The gateway capture's state (the built-in connector only).
    pub capture: Option<CaptureView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureView {
    /// The bot process capturing now (instance@pid) and since when; `None`: none is.
    pub holder: Option<(String, String)>,
    /// Capture latency over the last hour: (p50 ms, p95 ms, messages).
    pub latency: Option<(f64, f64, usize)>,
    /// Where to add the bot to a server (needs DISCORD_CLIENT_ID).
    pub invite_url: Option<String>,
}

/// A token as shown once, right after it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub connector: String,
    pub token: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    pub seq: i64,
    pub op: String,
    pub at: String,
    pub message_id: Option<String>,
    pub channel: Option<String>,
    pub excerpt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildRow {
    pub id: String,
    pub name: String,
    pub present: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRow {
    pub id: String,
    pub guild_id: String,
    pub name: String,
    pub kind: String,
    pub is_source: bool,
    pub is_target: bool,
    pub present: bool,
    /// The lowest tier that opens the channel: its id, or "" for every tier.
    pub tier_id: String,
    /// "every tier", or e.g. "Pro and up".
    pub tier_label: String,
    /// Why the bot cannot capture this channel (it lacks a permission there).
    pub warning: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelsView {
    pub channels: Vec<ChannelRow>,
    /// The latest "Fetch channels" request for the guild: pending, answered or expired.
    pub request: Option<String>,
    /// The connector that owns the guild (only it may report or capture there): (id, name).
    pub owner: Option<(String, String)>,
    /// Every connector, for "Reassign to": (id, name).
    pub connectors: Vec<(String, String)>,
    /// The latest reassignment, e.g. "Moved from A to B by ops@… on …: reason".
    pub reassigned: Option<String>,
    /// The tiers a channel can be opened from: (id, name), lowest first.
    pub tiers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRow {
    pub id: String,
    pub source: String,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingsView {
    pub mappings: Vec<MappingRow>,
    /// Channels flagged Source / Target: the only choices the pickers offer.
    pub sources: Vec<ChannelRow>,
    pub targets: Vec<ChannelRow>,
}

/// How many of each connector's latest events the live view shows.
pub const RECENT_EVENTS: u64 = 20;

pub fn channel_kind_name(kind: i32) -> &'static str {
    match kind {
        0 => "text",
        2 => "voice",
        4 => "category",
        5 => "announcement",
        10..=12 => "thread",
        13 => "stage",
        15 => "forum",
        16 => "media",
        _ => "other",
    }
}

#[cfg(feature = "ssr")]
mod server {
    use domain::connectors::ConnectorError;
    use domain::discovery::DiscoveryError;
    use domain::snowflake::Snowflake;

    use super::*;

    pub use crate::auth::admin_context as admin;

    pub fn connector_error(e: ConnectorError) -> AppError {
        match e {
            ConnectorError::BadName => AppError::invalid("name", e.to_string()),
            ConnectorError::NotFound => AppError::NotFound,
            ConnectorError::BuiltIn => AppError::invalid("id", e.to_string()),
            ConnectorError::Db(e) => crate::error::unavailable("connector change", e),
        }
    }

    pub fn discovery_error(e: DiscoveryError) -> AppError {
        match e {
            DiscoveryError::Invalid { field, message } => AppError::invalid(&field, message),
            DiscoveryError::NotAllowed(m) => AppError::invalid("channel", m),
            DiscoveryError::NotOwner(_) => AppError::invalid("guild", e.to_string()),
            DiscoveryError::UnknownGuild(_) | DiscoveryError::UnknownChannel | DiscoveryError::UnknownMapping => {
                AppError::NotFound
            }
            DiscoveryError::Db(e) => crate::error::unavailable("discovery change", e),
        }
    }

    pub fn snowflake(field: &str, raw: &str) -> Result<Snowflake, AppError> {
        raw.trim()
            .parse()
            .map_err(|e: domain::snowflake::InvalidSnowflake| AppError::invalid(field, e.to_string()))
    }

    pub fn row(c: domain::connectors::Connector, events: Vec<EventRow>, capture: Option<CaptureView>) -> ConnectorRow {
        let now = chrono::Utc::now();
        let builtin = c.kind == domain::capture::DISCORD_BOT;
        ConnectorRow {
            events,
            kind: if builtin { "Discord bot" } else { "API collector" }.to_owned(),
            builtin,
            alert: c.alert,
            capture,
            id: c.pid,
            name: c.name,
            enabled: c.enabled,
            forwarding: c.forwarding,
            created_at: c.created_at.to_rfc3339(),
            last_seen_at: c.last_seen_at.map(|t| t.to_rfc3339()),
            version: c.version,
            previous_token_until: c.previous_token_expires_at.filter(|t| *t > now).map(|t| t.to_rfc3339()),
        }
    }

    pub fn channel_row(c: entity::channel::Model, tiers: &[entity::tier::Model]) -> ChannelRow {
        let tier = c.min_tier_id.map(|id| tiers.iter().find(|t| t.id == id));
        ChannelRow {
            tier_id: c.min_tier_id.map(|id| id.to_string()).unwrap_or_default(),
            tier_label: match tier {
                None => "every tier".to_owned(),
                Some(Some(t)) => format!("{} and up", t.name),
                Some(None) => "nobody (unknown tier)".to_owned(),
            },
            id: c.id.to_string(),
            guild_id: c.guild_id.to_string(),
            name: c.name,
            kind: channel_kind_name(c.kind).to_owned(),
            is_source: c.is_source,
            is_target: c.is_target,
            present: c.present,
            warning: c.capture_warning,
        }
    }
}

/// Every connector with its latest events (one call, so the live view refreshes as one piece).
#[server(prefix = "/rpc/admin", endpoint = "connectors")]
pub async fn list_connectors() -> Result<Vec<ConnectorRow>, AppError> {
    let ctx = server::admin().await?;
    let unavailable = |e| crate::error::unavailable("listing connectors", e);
    let all = domain::connectors::list(&ctx.db).await.map_err(unavailable)?;
    let capture = domain::capture::status(&ctx.db)
        .await
        .map_err(unavailable)?
        .map(|(_, s)| CaptureView {
            holder: s.holder.map(|(h, since)| (h, since.to_rfc3339())),
            latency: s.latency.map(|l| (l.p50_ms, l.p95_ms, l.samples)),
            invite_url: ctx
                .config
                .discord_oauth
                .as_ref()
                .map(|o| domain::capture::invite_url(&o.client_id)),
        });
    let mut rows = Vec::with_capacity(all.len());
    for c in all {
        let events = domain::ingest::recent::recent(&ctx.db, c.id, RECENT_EVENTS)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|e| EventRow {
                seq: e.seq,
                op: e.op,
                at: e.at.to_rfc3339(),
                message_id: e.message_id.map(|m| m.to_string()),
                channel: e.channel_id.map(|c| c.to_string()),
                excerpt: e.excerpt,
            })
            .collect();
        let builtin = c.kind == domain::capture::DISCORD_BOT;
        rows.push(server::row(c, events, if builtin { capture.clone() } else { None }));
    }
    Ok(rows)
}

#[server(prefix = "/rpc/admin", endpoint = "connectors/create")]
pub async fn create_connector(name: String) -> Result<IssuedToken, AppError> {
    let ctx = server::admin().await?;
    match domain::connectors::create(&ctx.db, &name).await {
        Ok((c, token)) => Ok(IssuedToken {
            connector: c.name,
            token: token.expose().clone(),
            note: "Copy it now: it is shown only once.".into(),
        }),
        Err(e) => crate::error::fail(server::connector_error(e)),
    }
}

#[server(prefix = "/rpc/admin", endpoint = "connectors/rotate")]
pub async fn rotate_connector(id: String) -> Result<IssuedToken, AppError> {
    let ctx = server::admin().await?;
    match domain::connectors::rotate(&ctx.db, &id).await {
        Ok((c, token)) => Ok(IssuedToken {
            connector: c.name,
            token: token.expose().clone(),
            note: format!(
                "Copy it now: it is shown only once. The previous token keeps working for {} hours.",
                domain::connectors::ROTATION_GRACE.num_hours()
            ),
        }),
        Err(e) => crate::error::fail(server::connector_error(e)),
    }
}

#[server(prefix = "/rpc/admin", endpoint = "connectors/enabled")]
pub async fn set_connector_enabled(id: String, enabled: bool) -> Result<(), AppError> {
    let ctx = server::admin().await?;
    match domain::connectors::set_enabled(&ctx.db, &id, enabled).await {
        Ok(_) => Ok(()),
        Err(e) => crate::error::fail(server::connector_error(e)),
    }
}

#[server(prefix = "/rpc/admin", endpoint = "connectors/forwarding")]
pub async fn set_connector_forwarding(id: String, forwarding: bool) -> Result<(), AppError> {
    let ctx = server::admin().await?;
    match domain::connectors::set_forwarding(&ctx.db, &id, forwarding).await {
        Ok(_) => Ok(()),
        Err(e) => crate::error::fail(server::connector_error(e)),
    }
}

#[server(prefix = "/rpc/admin", endpoint = "guilds")]
pub async fn list_guilds() -> Result<Vec<GuildRow>, AppError> {
    let ctx = server::admin().await?;
    let guilds = domain::discovery::guilds(&ctx.db)
        .await
        .map_err(|e| crate::error::unavailable("listing guilds", e))?;
    Ok(guilds
        .into_iter()
        .map(|g| GuildRow {
            id: g.id.to_string(),
            name: g.name,
            present: g.present,
        })
        .collect())
}

#[server(prefix = "/rpc/admin", endpoint = "channels")]
pub async fn list_channels(guild: String) -> Result<ChannelsView, AppError> {
    let ctx = server::admin().await?;
    let guild = server::snowflake("guild", &guild)?;
    let channels = domain::discovery::channels(&ctx.db, Some(guild))
        .await
        .map_err(|e| crate::error::unavailable("listing channels", e))?;
    let request = domain::discovery::latest_request(&ctx.db, guild)
        .await
        .map_err(|e| crate::error::unavailable("reading discovery requests", e))?;
    let unavailable = |e| crate::error::unavailable("reading the guild's owner", e);
    let connectors = domain::connectors::list(&ctx.db).await.map_err(unavailable)?;
    let owner_id = domain::discovery::guilds(&ctx.db)
        .await
        .map_err(unavailable)?
        .into_iter()
        .find(|g| g.id == guild.get())
        .map(|g| g.connector_id);
    let name_of = |id: i64| {
        connectors
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| format!("connector {id}"), |c| c.name.clone())
    };
    let reassigned = domain::discovery::last_reassignment(&ctx.db, guild)
        .await
        .map_err(unavailable)?
        .map(|r| {
            format!(
                "Moved from {} to {} by {} on {}: {}",
                name_of(r.from_connector_id),
                name_of(r.to_connector_id),
                r.by_email,
                r.at.format("%Y-%m-%d %H:%M UTC"),
                r.reason
            )
        });
    let tiers = domain::entitlements::tiers(&ctx.db).await.map_err(unavailable)?;
    Ok(ChannelsView {
        tiers: tiers.iter().map(|t| (t.id.to_string(), t.name.clone())).collect(),
        channels: channels.into_iter().map(|c| server::channel_row(c, &tiers)).collect(),
        request: request.map(|r| r.status),
        owner: owner_id
            .and_then(|id| connectors.iter().find(|c| c.id == id))
            .map(|c| (c.pid.clone(), c.name.clone())),
        connectors: connectors.iter().map(|c| (c.pid.clone(), c.name.clone())).collect(),
        reassigned,
    })
}

/// Moves a guild to another connector, with a reason kept for the record.
#[server(prefix = "/rpc/admin", endpoint = "guilds/reassign")]
pub async fn reassign_guild(guild: String, connector: String, reason: String) -> Result<(), AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_admin().await?;
    let guild = server::snowflake("guild", &guild)?;
    match domain::discovery::reassign_guild(&ctx.db, guild, &connector, &reason, &me.account.email).await {
        Ok(()) => Ok(()),
        Err(e) => crate::error::fail(server::discovery_error(e)),
    }
}

#[server(prefix = "/rpc/admin", endpoint = "channels/fetch")]
pub async fn fetch_channels(guild: String) -> Result<(), AppError> {
    let ctx = server::admin().await?;
    let guild = server::snowflake("guild", &guild)?;
    match domain::discovery::request_channels(&ctx.db, guild).await {
        Ok(_) => Ok(()),
        Err(e) => crate::error::fail(server::discovery_error(e)),
    }
}

/// `role` is `source` or `target`.
#[server(prefix = "/rpc/admin", endpoint = "channels/flag")]
pub async fn set_channel_flag(channel: String, role: String, on: bool) -> Result<(), AppError> {
    use domain::discovery::Role;
    let ctx = server::admin().await?;
    let channel = server::snowflake("channel", &channel)?;
    let role = match role.as_str() {
        "source" => Role::Source,
        "target" => Role::Target,
        _ => return crate::error::fail(AppError::invalid("role", "role must be source or target")),
    };
    match domain::discovery::set_flag(&ctx.db, channel, role, on).await {
        Ok(_) => Ok(()),
        Err(e) => crate::error::fail(server::discovery_error(e)),
    }
}

/// Sets the lowest tier that opens a channel; `tier` is a tier id, or empty for every tier.
#[server(prefix = "/rpc/admin", endpoint = "channels/tier")]
pub async fn set_channel_tier(channel: String, tier: String) -> Result<(), AppError> {
    let ctx = server::admin().await?;
    let channel = server::snowflake("channel", &channel)?;
    let tier = match tier.trim() {
        "" => None,
        t => match t.parse::<i32>() {
            Ok(id) => Some(id),
            Err(_) => return crate::error::fail(AppError::invalid("tier", "not a tier id")),
        },
    };
    match domain::channel_tiers::set_min_tier(&ctx.db, channel, tier).await {
        Ok(_) => Ok(()),
        Err(e) => crate::error::fail(server::discovery_error(e)),
    }
}

#[server(prefix = "/rpc/admin", endpoint = "mappings")]
pub async fn list_mappings() -> Result<MappingsView, AppError> {
    let ctx = server::admin().await?;
    let unavailable = |e| crate::error::unavailable("listing mappings", e);
    let channels = domain::discovery::channels(&ctx.db, None).await.map_err(unavailable)?;
    let mappings = domain::discovery::mappings(&ctx.db).await.map_err(unavailable)?;
    let tiers = domain::entitlements::tiers(&ctx.db).await.map_err(unavailable)?;
    let rows: Vec<ChannelRow> = channels.into_iter().map(|c| server::channel_row(c, &tiers)).collect();
    let label = |id: i64| {
        rows.iter().find(|c| c.id == id.to_string()).map_or_else(
            || id.to_string(),
            |c| format!("#{} ({}, {})", c.name, c.id, c.tier_label),
        )
    };
    let mappings = mappings
        .into_iter()
        .map(|m| MappingRow {
            id: m.id.to_string(),
            source: label(m.source_channel_id),
            target: label(m.target_channel_id),
        })
        .collect();
    Ok(MappingsView {
        mappings,
        sources: rows.iter().filter(|c| c.is_source).cloned().collect(),
        targets: rows.into_iter().filter(|c| c.is_target).collect(),
    })
}

#[server(prefix = "/rpc/admin", endpoint = "mappings/create")]
pub async fn create_mapping(source: String, target: String) -> Result<(), AppError> {
    let ctx = server::admin().await?;
    let source = server::snowflake("source", &source)?;
    let target = server::snowflake("target", &target)?;
    match domain::discovery::create_mapping(&ctx.db, source, target).await {
        Ok(_) => Ok(()),
        Err(e) => crate::error::fail(server::discovery_error(e)),
    }
}

#[server(prefix = "/rpc/admin", endpoint = "mappings/delete")]
pub async fn delete_mapping(id: String) -> Result<(), AppError> {
    let ctx = server::admin().await?;
    let Ok(id) = id.parse::<i64>() else {
        return crate::error::fail(AppError::invalid("id", "not a mapping id"));
    };
    match domain::discovery::delete_mapping(&ctx.db, id).await {
        Ok(()) => Ok(()),
        Err(e) => crate::error::fail(server::discovery_error(e)),
    }
}

//! What connectors tell us about the Discord side (guild and channel snapshots), what the
//! operator decides about it (Source/Target flags, mappings), and the runtime config a connector
//! polls: its source channels and pending discovery requests, with a version for cheap polling.

use chrono::{DateTime, Utc};
use entity::{channel, channel_mapping, discovery_request, guild};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::connectors::Connector;
use crate::snowflake::Snowflake;

pub const GUILDS_MAX: usize = 200;
pub const CHANNELS_MAX: usize = 500;
const NAME_MAX_CHARS: usize = 100;

/// Discord channel types that carry messages we can capture: text, announcement, forum, media.
const SOURCE_KINDS: &[i32] = &[0, 5, 15, 16];
/// Discord channel types our bot can post copies into: text and announcement.
const TARGET_KINDS: &[i32] = &[0, 5];

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("unknown guild {0}: post a guild snapshot that lists it first")]
    UnknownGuild(Snowflake),
    #[error("no such channel")]
    UnknownChannel,
    #[error("no such mapping")]
    UnknownMapping,
    #[error("{0}")]
    NotAllowed(String),
    /// The guild (or a channel) is another connector's; only an admin can move it.
    #[error("{0} belongs to another connector (an admin can reassign it on /admin/channels)")]
    NotOwner(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> DiscoveryError {
    DiscoveryError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct GuildInfo {
    pub id: Snowflake,
    pub name: String,
    #[serde(default)]
    pub icon: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ChannelInfo {
    pub id: Snowflake,
    pub name: String,
    /// Discord's channel type number (0 text, 2 voice, 4 category, 5 announcement, 15 forum…).
    #[serde(rename = "type")]
    pub kind: i32,
    #[serde(default)]
    pub parent_id: Option<Snowflake>,
    #[serde(default)]
    pub position: i32,
}

fn clean_name(raw: &str, field: &str) -> Result<String, DiscoveryError> {
    let name: String = raw
        .chars()
        .filter(|c| !c.is_control() && !crate::ingest::attachment::is_bidi_control(*c))
        .collect();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        return Err(invalid(field, format!("must be 1 to {NAME_MAX_CHARS} characters")));
    }
    Ok(name.to_owned())
}

/// Replaces what this connector reported about its guilds. Guilds it no longer lists stay (with
/// their flags) but are marked absent.
pub async fn record_guilds(
    db: &DatabaseConnection,
    connector: &Connector,
    guilds: &[GuildInfo],
) -> Result<usize, DiscoveryError> {
    if guilds.len() > GUILDS_MAX {
        return Err(invalid("guilds", format!("at most {GUILDS_MAX} guilds per snapshot")));
    }
    let mut rows = Vec::with_capacity(guilds.len());
    for (i, g) in guilds.iter().enumerate() {
        let icon = match &g.icon {
            Some(icon) if icon.len() > 64 || !icon.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                return Err(invalid(format!("guilds[{i}].icon"), "must be a Discord icon hash"));
            }
            other => other.clone(),
        };
        rows.push(guild::ActiveModel {
            id: Set(g.id.get()),
            connector_id: Set(connector.id),
            name: Set(clean_name(&g.name, &format!("guilds[{i}].name"))?),
            icon: Set(icon),
            present: Set(true),
            updated_at: Set(Utc::now()),
        });
    }
    let ids: Vec<i64> = guilds.iter().map(|g| g.id.get()).collect();
    let txn = crate::database::begin_write(db).await?;
    // A snapshot never takes a guild away from the connector that owns it.
    if let Some(taken) = guild::Entity::find()
        .filter(guild::Column::Id.is_in(ids.clone()))
        .filter(guild::Column::ConnectorId.ne(connector.id))
        .one(&txn)
        .await?
    {
        return Err(DiscoveryError::NotOwner(format!("guild {}", taken.id)));
    }
    guild::Entity::update_many()
        .col_expr(guild::Column::Present, Expr::value(false))
        .filter(guild::Column::ConnectorId.eq(connector.id))
        .filter(guild::Column::Id.is_not_in(ids))
        .exec(&txn)
        .await?;
    for row in rows {
        guild::Entity::insert(row)
            .on_conflict(
                OnConflict::column(guild::Column::Id)
                    .update_columns([
                        guild::Column::Name,
                        guild::Column::Icon,
                        guild::Column::Present,
                        guild::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(guilds.len())
}

/// Replaces what we know about one guild's channels (flags are kept) and marks this connector's
/// pending requests for that guild answered.
pub async fn record_channels(
    db: &DatabaseConnection,
    connector: &Connector,
    guild_id: Snowflake,
    channels: &[ChannelInfo],
) -> Result<usize, DiscoveryError> {
    if channels.len() > CHANNELS_MAX {
        return Err(invalid(
            "channels",
            format!("at most {CHANNELS_MAX} channels per snapshot"),
        ));
    }
    let mut rows = Vec::with_capacity(channels.len());
    for (i, c) in channels.iter().enumerate() {
        if !(0..=255).contains(&c.kind) {
            return Err(invalid(
                format!("channels[{i}].type"),
                "must be a Discord channel type (0-255)",
            ));
        }
        rows.push(channel::ActiveModel {
            id: Set(c.id.get()),
            guild_id: Set(guild_id.get()),
            name: Set(clean_name(&c.name, &format!("channels[{i}].name"))?),
            kind: Set(c.kind),
            parent_id: Set(c.parent_id.map(Snowflake::get)),
            position: Set(c.position),
            is_source: Set(false),
            is_target: Set(false),
            present: Set(true),
            min_tier_id: Set(None),
            capture_warning: Set(None),
            updated_at: Set(Utc::now()),
        });
    }
    let txn = crate::database::begin_write(db).await?;
    let known = guild::Entity::find_by_id(guild_id.get()).one(&txn).await?;
    match known {
        Some(g) if g.connector_id != connector.id => {
            return Err(DiscoveryError::NotOwner(format!("guild {guild_id}")));
        }
        Some(_) => {}
        None => return Err(DiscoveryError::UnknownGuild(guild_id)),
    }
    let ids: Vec<i64> = channels.iter().map(|c| c.id.get()).collect();
    // A channel id already known under another guild cannot be moved into this one.
    if let Some(moved) = channel::Entity::find()
        .filter(channel::Column::Id.is_in(ids.clone()))
        .filter(channel::Column::GuildId.ne(guild_id.get()))
        .one(&txn)
        .await?
    {
        return Err(DiscoveryError::NotOwner(format!("channel {}", moved.id)));
    }
    channel::Entity::update_many()
        .col_expr(channel::Column::Present, Expr::value(false))
        .filter(channel::Column::GuildId.eq(guild_id.get()))
        .filter(channel::Column::Id.is_not_in(ids))
        .exec(&txn)
        .await?;
    for row in rows {
        channel::Entity::insert(row)
            .on_conflict(
                OnConflict::column(channel::Column::Id)
                    .update_columns([
                        channel::Column::Name,
                        channel::Column::Kind,
                        channel::Column::ParentId,
                        channel::Column::Position,
                        channel::Column::Present,
                        channel::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(&txn)
            .await?;
    }
    discovery_request::Entity::update_many()
        .col_expr(discovery_request::Column::Status, Expr::value("answered"))
        .col_expr(discovery_request::Column::AnsweredAt, Expr::value(Utc::now()))
        .filter(discovery_request::Column::ConnectorId.eq(connector.id))
        .filter(discovery_request::Column::GuildId.eq(guild_id.get()))
        .filter(discovery_request::Column::Status.eq("pending"))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(channels.len())
}

/// The operator's "Fetch channels": asks the guild's connector for its channels. One pending
/// request per guild at a time.
pub async fn request_channels(
    db: &impl ConnectionTrait,
    guild_id: Snowflake,
) -> Result<discovery_request::Model, DiscoveryError> {
    let Some(g) = guild::Entity::find_by_id(guild_id.get()).one(db).await? else {
        return Err(DiscoveryError::UnknownGuild(guild_id));
    };
    if let Some(pending) = discovery_request::Entity::find()
        .filter(discovery_request::Column::ConnectorId.eq(g.connector_id))
        .filter(discovery_request::Column::GuildId.eq(g.id))
        .filter(discovery_request::Column::Status.eq("pending"))
        .one(db)
        .await?
    {
        return Ok(pending);
    }
    Ok(discovery_request::ActiveModel {
        connector_id: Set(g.connector_id),
        guild_id: Set(g.id),
        status: Set("pending".into()),
        requested_at: Set(Utc::now()),
        answered_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// A restarted connector never sees requests made before it started: they are marked expired
/// (the operator presses "Fetch channels" again if still needed).
pub async fn expire_requests_before(
    db: &impl ConnectionTrait,
    connector_id: i64,
    started: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let res = discovery_request::Entity::update_many()
        .col_expr(discovery_request::Column::Status, Expr::value("expired"))
        .filter(discovery_request::Column::ConnectorId.eq(connector_id))
        .filter(discovery_request::Column::Status.eq("pending"))
        .filter(discovery_request::Column::RequestedAt.lt(started))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// An admin moves a guild to another connector (say, a collector was replaced): from then on
/// only that connector reports the guild's channels and captures, edits and deletes its
/// messages. The reason and who did it are kept. Pending "Fetch channels" requests move along.
pub async fn reassign_guild(
    db: &DatabaseConnection,
    guild_id: Snowflake,
    to_connector: &str,
    reason: &str,
    by: &str,
) -> Result<(), DiscoveryError> {
    let reason = crate::entitlements::check_reason(reason).map_err(|m| invalid("reason", m))?;
    let to = crate::connectors::find(db, to_connector).await.map_err(|e| match e {
        crate::connectors::ConnectorError::Db(e) => DiscoveryError::Db(e),
        _ => invalid("connector", "choose one of the connectors"),
    })?;
    let txn = crate::database::begin_write(db).await?;
    let g = guild::Entity::find_by_id(guild_id.get())
        .one(&txn)
        .await?
        .ok_or(DiscoveryError::UnknownGuild(guild_id))?;
    if g.connector_id == to.id {
        return Err(invalid("connector", "the guild already belongs to this connector"));
    }
    guild::Entity::update_many()
        .col_expr(guild::Column::ConnectorId, Expr::value(to.id))
        .filter(guild::Column::Id.eq(g.id))
        .exec(&txn)
        .await?;
    discovery_request::Entity::update_many()
        .col_expr(discovery_request::Column::ConnectorId, Expr::value(to.id))
        .filter(discovery_request::Column::GuildId.eq(g.id))
        .filter(discovery_request::Column::Status.eq("pending"))
        .exec(&txn)
        .await?;
    entity::guild_reassignment::ActiveModel {
        guild_id: Set(g.id),
        from_connector_id: Set(g.connector_id),
        to_connector_id: Set(to.id),
        reason: Set(reason),
        by_email: Set(by.to_owned()),
        at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    tracing::info!(guild = g.id, from = g.connector_id, to = to.id, by, "guild reassigned");
    Ok(())
}

/// The latest reassignment of a guild, if an admin ever moved it.
pub async fn last_reassignment(
    db: &impl ConnectionTrait,
    guild_id: Snowflake,
) -> Result<Option<entity::guild_reassignment::Model>, DbErr> {
    entity::guild_reassignment::Entity::find()
        .filter(entity::guild_reassignment::Column::GuildId.eq(guild_id.get()))
        .order_by_desc(entity::guild_reassignment::Column::Id)
        .one(db)
        .await
}

pub async fn guilds(db: &impl ConnectionTrait) -> Result<Vec<guild::Model>, DbErr> {
    guild::Entity::find()
        .order_by_desc(guild::Column::Present)
        .order_by_asc(guild::Column::Name)
        .all(db)
        .await
}

pub async fn channels(db: &impl ConnectionTrait, guild_id: Option<Snowflake>) -> Result<Vec<channel::Model>, DbErr> {
    let mut q = channel::Entity::find();
    if let Some(g) = guild_id {
        q = q.filter(channel::Column::GuildId.eq(g.get()));
    }
    q.order_by_asc(channel::Column::GuildId)
        .order_by_asc(channel::Column::Position)
        .order_by_asc(channel::Column::Id)
        .all(db)
        .await
}

pub async fn latest_request(
    db: &impl ConnectionTrait,
    guild_id: Snowflake,
) -> Result<Option<discovery_request::Model>, DbErr> {
    discovery_request::Entity::find()
        .filter(discovery_request::Column::GuildId.eq(guild_id.get()))
        .order_by_desc(discovery_request::Column::Id)
        .one(db)
        .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Target,
}

/// Sets or clears one flag. Clearing it removes the mappings that depended on it.
pub async fn set_flag(
    db: &DatabaseConnection,
    channel_id: Snowflake,
    role: Role,
    on: bool,
) -> Result<channel::Model, DiscoveryError> {
    let txn = crate::database::begin_write(db).await?;
    let Some(ch) = channel::Entity::find_by_id(channel_id.get()).one(&txn).await? else {
        return Err(DiscoveryError::UnknownChannel);
    };
    let kinds = match role {
        Role::Source => SOURCE_KINDS,
        Role::Target => TARGET_KINDS,
    };
    if on && !kinds.contains(&ch.kind) {
        let what = match role {
            Role::Source => "a source (only text, announcement, forum and media channels carry signals)",
            Role::Target => "a target (the bot can only post into text and announcement channels)",
        };
        return Err(DiscoveryError::NotAllowed(format!("#{} cannot be {what}", ch.name)));
    }
    let ch_was_source = ch.is_source;
    let mut active: channel::ActiveModel = ch.into();
    match role {
        Role::Source => active.is_source = Set(on),
        Role::Target => active.is_target = Set(on),
    }
    let model = active.update(&txn).await?;
    if on && role == Role::Source && !ch_was_source {
        // The gateway capture starts from now (a backfill reads nothing from before).
        crate::capture::cursor::start(&txn, channel_id.get(), Utc::now()).await?;
    }
    if !on {
        let column = match role {
            Role::Source => channel_mapping::Column::SourceChannelId,
            Role::Target => channel_mapping::Column::TargetChannelId,
        };
        channel_mapping::Entity::delete_many()
            .filter(column.eq(channel_id.get()))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    tracing::info!(channel = %channel_id, ?role, on, "channel flag changed");
    Ok(model)
}

pub async fn mappings(db: &impl ConnectionTrait) -> Result<Vec<channel_mapping::Model>, DbErr> {
    channel_mapping::Entity::find()
        .order_by_asc(channel_mapping::Column::Id)
        .all(db)
        .await
}

pub async fn create_mapping(
    db: &impl ConnectionTrait,
    source: Snowflake,
    target: Snowflake,
) -> Result<channel_mapping::Model, DiscoveryError> {
    if source == target {
        return Err(invalid("target", "a channel cannot be mapped onto itself"));
    }
    let src = channel::Entity::find_by_id(source.get()).one(db).await?;
    if !src.as_ref().is_some_and(|c| c.is_source) {
        return Err(invalid("source", "choose a channel flagged Source"));
    }
    let dst = channel::Entity::find_by_id(target.get()).one(db).await?;
    if !dst.as_ref().is_some_and(|c| c.is_target) {
        return Err(invalid("target", "choose a channel flagged Target"));
    }
    if let (Some(src), Some(dst)) = (&src, &dst) {
        let tiers = crate::entitlements::tiers(db).await?;
        let (s, t) = (
            crate::channel_tiers::required(src, &tiers),
            crate::channel_tiers::required(dst, &tiers),
        );
        if !crate::channel_tiers::may_mirror(s, t) {
            return Err(invalid("target", crate::channel_tiers::leak_message(src, dst, &tiers)));
        }
    }
    let exists = channel_mapping::Entity::find()
        .filter(channel_mapping::Column::SourceChannelId.eq(source.get()))
        .filter(channel_mapping::Column::TargetChannelId.eq(target.get()))
        .one(db)
        .await?;
    if exists.is_some() {
        return Err(invalid("target", "this mapping already exists"));
    }
    Ok(channel_mapping::ActiveModel {
        source_channel_id: Set(source.get()),
        target_channel_id: Set(target.get()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub async fn delete_mapping(db: &impl ConnectionTrait, id: i64) -> Result<(), DiscoveryError> {
    let res = channel_mapping::Entity::delete_by_id(id).exec(db).await?;
    if res.rows_affected == 0 {
        return Err(DiscoveryError::UnknownMapping);
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SourceChannel {
    pub guild_id: Snowflake,
    pub channel_id: Snowflake,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PendingRequest {
    pub id: i64,
    pub guild_id: Snowflake,
    pub requested_at: DateTime<Utc>,
}

/// What a connector needs to run: which channels to capture, what it has been asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RuntimeConfig {
    /// Changes whenever anything below changes; also the ETag.
    pub version: String,
    pub forwarding: bool,
    pub source_channels: Vec<SourceChannel>,
    pub discovery_requests: Vec<PendingRequest>,
}

pub async fn runtime_config(db: &impl ConnectionTrait, connector: &Connector) -> Result<RuntimeConfig, DbErr> {
    let guild_ids: Vec<i64> = guild::Entity::find()
        .filter(guild::Column::ConnectorId.eq(connector.id))
        .all(db)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect();
    let source_channels = channel::Entity::find()
        .filter(channel::Column::GuildId.is_in(guild_ids))
        .filter(channel::Column::IsSource.eq(true))
        .filter(channel::Column::Present.eq(true))
        .order_by_asc(channel::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|c| SourceChannel {
            guild_id: Snowflake::from_db(c.guild_id),
            channel_id: Snowflake::from_db(c.id),
            name: c.name,
        })
        .collect::<Vec<_>>();
    let mut pending = discovery_request::Entity::find()
        .filter(discovery_request::Column::ConnectorId.eq(connector.id))
        .filter(discovery_request::Column::Status.eq("pending"))
        .order_by_asc(discovery_request::Column::Id);
    if let Some(started) = connector.started_at {
        pending = pending.filter(discovery_request::Column::RequestedAt.gte(started));
    }
    let discovery_requests = pending
        .all(db)
        .await?
        .into_iter()
        .map(|r| PendingRequest {
            id: r.id,
            guild_id: Snowflake::from_db(r.guild_id),
            requested_at: r.requested_at,
        })
        .collect::<Vec<_>>();
    let mut hasher = Sha256::new();
    hasher.update([u8::from(connector.forwarding), u8::from(connector.enabled)]);
    for c in &source_channels {
        hasher.update(format!("c{}:{}:{}\n", c.guild_id, c.channel_id, c.name));
    }
    for r in &discovery_requests {
        hasher.update(format!("r{}:{}\n", r.id, r.guild_id));
    }
    Ok(RuntimeConfig {
        version: hex::encode(&hasher.finalize()[..8]),
        forwarding: connector.forwarding,
        source_channels,
        discovery_requests,
    })
}

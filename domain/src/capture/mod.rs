//! Capture through our own bot on the Discord gateway: a built-in connector (kind
//! `discord_bot`) whose events the bot turns into the ingest wire format ([`discord`]) and hands
//! to the same `ingest` the API uses, in-process. Across disconnects nothing is lost: per
//! channel a [`cursor`] remembers the newest message seen, a backfill after every new session
//! reads what was missed, and a bounded [`recheck`] finds messages deleted while nobody listened.
//! One bot process captures at a time ([`lease`]).

pub mod cursor;
pub mod discord;
pub mod latency;
pub mod lease;
pub mod recheck;

use chrono::Utc;
use entity::{channel, connector};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, Set};

use crate::connectors::{self, Connector, ConnectorError};

/// `connector.kind` of a collector posting to the ingest API.
pub const API: &str = "api";
/// `connector.kind` of the bot's own gateway capture.
pub const DISCORD_BOT: &str = "discord_bot";
/// The built-in connector's name (the operator may rename it).
pub const BOT_CONNECTOR_NAME: &str = "Discord bot";

/// The alert shown when Discord refuses (or withholds) the Message Content intent.
pub const NO_MESSAGE_CONTENT: &str = "Discord does not give the bot message content: turn on \"Message Content Intent\" \
     under Bot in the Discord Developer Portal. Until then nothing is captured (signals would arrive empty).";

/// The warning on a source channel the bot cannot read.
pub const CANNOT_READ: &str = "the bot lacks View Channel / Read Message History here: give its role both permissions \
     in this channel (or its category)";

/// The bot's connector, made on first use. Its ingest-API token is thrown away at once: nobody
/// can post as the bot over HTTP.
pub async fn bot_connector(db: &impl ConnectionTrait) -> Result<Connector, ConnectorError> {
    if let Some(c) = connector::Entity::find()
        .filter(connector::Column::Kind.eq(DISCORD_BOT))
        .one(db)
        .await?
    {
        return Ok(c);
    }
    let (made, _token_dropped) = connectors::create(db, BOT_CONNECTOR_NAME).await?;
    let mut active = made.into_active_model();
    active.kind = Set(DISCORD_BOT.into());
    Ok(active.update(db).await?)
}

/// Sets or clears the connector's alert (written only when it changes).
pub async fn set_alert(db: &impl ConnectionTrait, connector: &Connector, alert: Option<&str>) -> Result<(), DbErr> {
    if connector.alert.as_deref() == alert {
        return Ok(());
    }
    connector::Entity::update_many()
        .col_expr(connector::Column::Alert, Expr::value(alert.map(str::to_owned)))
        .filter(connector::Column::Id.eq(connector.id))
        .exec(db)
        .await?;
    match alert {
        Some(a) => tracing::warn!(connector = %connector.pid, alert = a, "capture alert"),
        None => tracing::info!(connector = %connector.pid, "capture alert cleared"),
    }
    Ok(())
}

/// Sets or clears the "cannot read" warning of a channel; returns whether it changed.
pub async fn set_channel_warning(
    db: &impl ConnectionTrait,
    channel_id: i64,
    warning: Option<&str>,
) -> Result<bool, DbErr> {
    let res = channel::Entity::update_many()
        .col_expr(channel::Column::CaptureWarning, Expr::value(warning.map(str::to_owned)))
        .col_expr(channel::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(channel::Column::Id.eq(channel_id))
        .filter(match warning {
            Some(w) => channel::Column::CaptureWarning
                .ne(w)
                .or(channel::Column::CaptureWarning.is_null()),
            None => channel::Column::CaptureWarning.is_not_null(),
        })
        .exec(db)
        .await?;
    if res.rows_affected > 0 {
        match warning {
            Some(w) => tracing::warn!(
                channel = channel_id,
                warning = w,
                "capture cannot read a source channel"
            ),
            None => tracing::info!(channel = channel_id, "capture reads the channel again"),
        }
    }
    Ok(res.rows_affected > 0)
}

/// What /admin/connectors and /metrics say about the gateway capture.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureStatus {
    /// The bot process holding the capture (instance@pid) and since when; `None`: nobody does.
    pub holder: Option<(String, chrono::DateTime<Utc>)>,
    pub latency: Option<latency::Latency>,
}

/// The built-in connector and its capture's state, if the bot has ever run with a token.
pub async fn status(db: &impl ConnectionTrait) -> Result<Option<(Connector, CaptureStatus)>, DbErr> {
    let Some(c) = connector::Entity::find()
        .filter(connector::Column::Kind.eq(DISCORD_BOT))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let status = CaptureStatus {
        holder: lease::holder(db, lease::CAPTURE).await?,
        latency: latency::last_hour(db, c.id, Utc::now()).await?,
    };
    Ok(Some((c, status)))
}

/// The invite link the operator opens to add the bot to a server, with the permissions capture,
/// mirroring and role sync need. (Intents are not part of a link: Message Content is switched on
/// in the Developer Portal.)
pub fn invite_url(client_id: &str) -> String {
    format!("https://discord.com/oauth2/authorize?client_id={client_id}&scope=bot&permissions={BOT_PERMISSIONS}")
}

/// View Channel, Send Messages, Embed Links, Attach Files, Read Message History, Manage Roles,
/// Create Public Threads, Send Messages in Threads.
pub const BOT_PERMISSIONS: u64 =
    (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 28) | (1 << 35) | (1 << 38);

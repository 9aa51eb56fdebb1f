//! Connectors: collectors that post what happens in the source server. Each has a bearer token
//! shown once at creation or rotation; only its SHA-256 is stored. A rotation keeps the previous
//! token working for [`ROTATION_GRACE`], long enough to roll the new one out to a running
//! collector without dropping a single event, short enough that a leaked token dies the same day.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use entity::connector;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

pub const ROTATION_GRACE: Duration = Duration::hours(24);
pub const NAME_MAX_CHARS: usize = 80;
const TOKEN_PREFIX: &str = "sdc_";
/// `last_seen_at` is written at most this often per connector.
const SEEN_INTERVAL: Duration = Duration::seconds(5);
const VERSION_MAX: usize = 64;

pub type Connector = connector::Model;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("name must be 1 to {NAME_MAX_CHARS} characters")]
    BadName,
    #[error("no such connector")]
    NotFound,
    /// The bot's built-in connector captures in-process: it has no token to rotate.
    #[error("the Discord bot captures through the gateway and has no token to rotate")]
    BuiltIn,
    #[error(transparent)]
    Db(#[from] DbErr),
}

#[derive(Debug)]
pub enum Authenticated {
    Active(Connector),
    Disabled(Connector),
    Unknown,
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> Secret<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

fn clean_name(name: &str) -> Result<String, ConnectorError> {
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        return Err(ConnectorError::BadName);
    }
    Ok(name.to_owned())
}

/// Creates a connector; the token in the answer is the only copy there will ever be.
pub async fn create(db: &impl ConnectionTrait, name: &str) -> Result<(Connector, Secret<String>), ConnectorError> {
    let name = clean_name(name)?;
    let token = new_token();
    let model = connector::ActiveModel {
        pid: Set(uuid::Uuid::new_v4().to_string()),
        name: Set(name),
        token_hash: Set(hash_token(token.expose())),
        previous_token_hash: Set(None),
        previous_token_expires_at: Set(None),
        enabled: Set(true),
        forwarding: Set(false),
        created_at: Set(Utc::now()),
        last_seen_at: Set(None),
        version: Set(None),
        started_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    tracing::info!(connector = %model.pid, name = %model.name, "connector created");
    Ok((model, token))
}

pub async fn find(db: &impl ConnectionTrait, pid: &str) -> Result<Connector, ConnectorError> {
    connector::Entity::find()
        .filter(connector::Column::Pid.eq(pid))
        .one(db)
        .await?
        .ok_or(ConnectorError::NotFound)
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<Connector>, DbErr> {
    connector::Entity::find()
        .order_by_asc(connector::Column::Id)
        .all(db)
        .await
}

/// Issues a new token; the old one keeps working until `now + ROTATION_GRACE`.
pub async fn rotate(db: &impl ConnectionTrait, pid: &str) -> Result<(Connector, Secret<String>), ConnectorError> {
    let current = find(db, pid).await?;
    if current.kind == crate::capture::DISCORD_BOT {
        return Err(ConnectorError::BuiltIn);
    }
    let token = new_token();
    let mut active = current.clone().into_active_model();
    active.previous_token_hash = Set(Some(current.token_hash));
    active.previous_token_expires_at = Set(Some(Utc::now() + ROTATION_GRACE));
    active.token_hash = Set(hash_token(token.expose()));
    let model = active.update(db).await?;
    tracing::info!(connector = %model.pid, "connector token rotated");
    Ok((model, token))
}

pub async fn set_enabled(db: &impl ConnectionTrait, pid: &str, enabled: bool) -> Result<Connector, ConnectorError> {
    let mut active = find(db, pid).await?.into_active_model();
    active.enabled = Set(enabled);
    let model = active.update(db).await?;
    tracing::info!(connector = %model.pid, enabled, "connector switched");
    Ok(model)
}

pub async fn set_forwarding(
    db: &impl ConnectionTrait,
    pid: &str,
    forwarding: bool,
) -> Result<Connector, ConnectorError> {
    let mut active = find(db, pid).await?.into_active_model();
    active.forwarding = Set(forwarding);
    Ok(active.update(db).await?)
}

/// The connector a bearer token belongs to: its current token, or the previous one within the
/// rotation grace.
pub async fn authenticate(db: &impl ConnectionTrait, token: &str) -> Result<Authenticated, DbErr> {
    let hash = hash_token(token);
    let now = Utc::now();
    let found = connector::Entity::find()
        .filter(
            Condition::any().add(connector::Column::TokenHash.eq(&hash)).add(
                Condition::all()
                    .add(connector::Column::PreviousTokenHash.eq(&hash))
                    .add(connector::Column::PreviousTokenExpiresAt.gt(now)),
            ),
        )
        .one(db)
        .await?;
    Ok(match found {
        Some(c) if c.enabled => Authenticated::Active(c),
        Some(c) => Authenticated::Disabled(c),
        None => Authenticated::Unknown,
    })
}

/// Records that the connector was heard from (at most every few seconds) and the version it
/// reports; returns whether anything was written.
pub async fn touch(db: &impl ConnectionTrait, connector: &Connector, version: Option<&str>) -> Result<bool, DbErr> {
    let now = Utc::now();
    let version: Option<String> = version.map(|v| v.chars().filter(|c| !c.is_control()).take(VERSION_MAX).collect());
    let stale = connector.last_seen_at.is_none_or(|t| now - t >= SEEN_INTERVAL);
    let new_version = version.is_some() && version != connector.version;
    if !stale && !new_version {
        return Ok(false);
    }
    let mut active = connector.clone().into_active_model();
    active.last_seen_at = Set(Some(now));
    if new_version {
        active.version = Set(version);
    }
    active.update(db).await?;
    Ok(true)
}

/// The connector (re)started: remember when, so discovery requests from before are not replayed.
pub async fn hello(
    db: &impl ConnectionTrait,
    connector: &Connector,
    version: Option<&str>,
) -> Result<DateTime<Utc>, DbErr> {
    let now = Utc::now();
    let mut active = connector.clone().into_active_model();
    active.started_at = Set(Some(now));
    active.last_seen_at = Set(Some(now));
    if let Some(v) = version {
        active.version = Set(Some(v.chars().filter(|c| !c.is_control()).take(VERSION_MAX).collect()));
    }
    active.update(db).await?;
    crate::discovery::expire_requests_before(db, connector.id, now).await?;
    tracing::info!(connector = %connector.pid, version = version.unwrap_or("-"), "connector started");
    Ok(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let a = new_token();
        let b = new_token();
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        assert!(a.expose().len() >= TOKEN_PREFIX.len() + 43, "256 bits of base64");
        assert_ne!(a.expose(), b.expose());
        assert_eq!(hash_token(a.expose()).len(), 64);
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Source collector\n").unwrap(), "Source collector");
        assert!(clean_name("   ").is_err());
        assert!(clean_name(&"x".repeat(81)).is_err());
    }
}

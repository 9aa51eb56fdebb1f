//! The role-sync outbox: after any change to a customer's access, the Discord roles they should
//! hold are queued as jobs in the same transaction (J1), at most one queued job per
//! (user, guild, role) — a newer decision replaces the queued one's action (J10). The bot
//! executes them (role PUT/DELETE are idempotent on Discord's side).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::Config;
use crate::entitlements;

/// Which guild and which role per tier; `None` when role sync is not configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMap {
    pub guild_id: i64,
    /// Tier slug → role id.
    pub roles: Vec<(String, i64)>,
}

impl RoleMap {
    pub fn from_config(config: &Config) -> Option<Self> {
        let guild_id = config.customer_guild_id?;
        (!config.tier_roles.is_empty()).then(|| RoleMap {
            guild_id,
            roles: config.tier_roles.clone(),
        })
    }
}

pub async fn enqueue(
    db: &impl ConnectionTrait,
    user_id: i64,
    guild_id: i64,
    role_id: i64,
    action: &str,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO role_sync_job (user_id, guild_id, role_id, action, status, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'queued', 0, $5, $5) \
             ON CONFLICT (user_id, guild_id, role_id) WHERE status = 'queued' \
             DO UPDATE SET action = excluded.action, updated_at = excluded.updated_at"
        }
        _ => {
            "INSERT INTO role_sync_job (user_id, guild_id, role_id, action, status, attempts, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?5) \
             ON CONFLICT (user_id, guild_id, role_id) WHERE status = 'queued' \
             DO UPDATE SET action = excluded.action, updated_at = excluded.updated_at"
        }
    };
    let now: DateTime<Utc> = Utc::now();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [
            user_id.into(),
            guild_id.into(),
            role_id.into(),
            action.into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Queues the roles a user should hold now: their current tier's role granted, every other
/// tier's role revoked. Returns how many jobs were queued or updated.
pub async fn sync_user(
    db: &impl ConnectionTrait,
    map: &RoleMap,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let current = entitlements::access_at(db, user_id, now).await?.map(|a| a.tier.slug);
    for (slug, role) in &map.roles {
        let action = if current.as_deref() == Some(slug.as_str()) {
            "grant"
        } else {
            "revoke"
        };
        enqueue(db, user_id, map.guild_id, *role, action).await?;
    }
    Ok(map.roles.len())
}

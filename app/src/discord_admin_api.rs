//! `/rpc/admin/discord/*`: the bot's status, the customers' server and its roles as the bot
//! reads them, and the tier → roles mapping (a role the bot cannot manage is refused, with why).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotRow {
    pub id: String,
    pub state: String,
    pub detail: String,
    pub bot_user: String,
    pub jobs_done: i64,
    pub seen_at: String,
    /// Reported within the last two minutes.
    pub online: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleOption {
    pub id: String,
    pub name: String,
    pub position: i64,
    pub manageable: bool,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierMapping {
    pub tier_id: String,
    pub tier: String,
    /// Mapped role ids, comma-separated (the form's value).
    pub roles: String,
    /// Their names, for reading.
    pub names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DiscordAdminView {
    /// Empty when `CUSTOMER_GUILD_ID` is unset.
    pub guild_id: String,
    pub guild_name: String,
    pub bots: Vec<BotRow>,
    pub roles: Vec<RoleOption>,
    pub tiers: Vec<TierMapping>,
    pub linked_customers: u64,
}

#[cfg(feature = "ssr")]
mod server {
    use super::*;

    /// The roles of `guild` from the freshest report of a connected bot.
    pub async fn guild_roles(
        db: &sea_orm::DatabaseConnection,
        guild: i64,
    ) -> Result<(String, Vec<RoleOption>), sea_orm::DbErr> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        let row = entity::bot_instance::Entity::find()
            .filter(entity::bot_instance::Column::State.eq("connected"))
            .order_by_desc(entity::bot_instance::Column::SeenAt)
            .one(db)
            .await?;
        let guilds: serde_json::Value = row
            .and_then(|r| serde_json::from_str(&r.guilds).ok())
            .unwrap_or_default();
        let Some(g) = guilds
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["id"].as_str() == Some(guild.to_string().as_str()))
        else {
            return Ok((String::new(), Vec::new()));
        };
        let roles = g["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| RoleOption {
                id: r["id"].as_str().unwrap_or_default().to_owned(),
                name: r["name"].as_str().unwrap_or_default().to_owned(),
                position: r["position"].as_i64().unwrap_or_default(),
                manageable: r["manageable"].as_bool().unwrap_or(false),
                reason: r["reason"].as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        Ok((g["name"].as_str().unwrap_or_default().to_owned(), roles))
    }
}

#[server(prefix = "/rpc/admin", endpoint = "discord")]
pub async fn discord_admin() -> Result<DiscordAdminView, AppError> {
    use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder, QuerySelect};
    let ctx = crate::auth::admin_context().await?;
    let unavailable = |e| crate::error::unavailable("reading the Discord settings", e);
    let now = chrono::Utc::now();
    let bots = entity::bot_instance::Entity::find()
        .order_by_desc(entity::bot_instance::Column::SeenAt)
        .limit(20)
        .all(&ctx.db)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|b| BotRow {
            online: now - b.seen_at < chrono::Duration::minutes(2) && b.state != "stopped",
            id: b.id,
            state: b.state,
            detail: b.detail,
            bot_user: b.bot_user.unwrap_or_default(),
            jobs_done: b.jobs_done,
            seen_at: b.seen_at.to_rfc3339(),
        })
        .collect();
    let linked_customers = entity::discord_link::Entity::find()
        .count(&ctx.db)
        .await
        .map_err(unavailable)?;
    let Some(guild) = domain::role_sync::RoleGuild::from_config(&ctx.config) else {
        return Ok(DiscordAdminView {
            bots,
            linked_customers,
            ..Default::default()
        });
    };
    let (guild_name, roles) = server::guild_roles(&ctx.db, guild.guild_id)
        .await
        .map_err(unavailable)?;
    let mapping = domain::role_sync::mapping(&ctx.db, guild.guild_id)
        .await
        .map_err(unavailable)?;
    let tiers = domain::entitlements::tiers(&ctx.db)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|t| {
            let ids: Vec<String> = mapping
                .iter()
                .filter(|m| m.tier_id == t.id)
                .map(|m| m.role_id.to_string())
                .collect();
            let names = ids
                .iter()
                .map(|id| {
                    roles
                        .iter()
                        .find(|r| &r.id == id)
                        .map(|r| r.name.clone())
                        .unwrap_or_else(|| format!("unknown role {id}"))
                })
                .collect();
            TierMapping {
                tier_id: t.id.to_string(),
                tier: t.name,
                roles: ids.join(", "),
                names,
            }
        })
        .collect();
    Ok(DiscordAdminView {
        guild_id: guild.guild_id.to_string(),
        guild_name,
        bots,
        roles,
        tiers,
        linked_customers,
    })
}

/// Maps a tier to the roles listed (ids, separated by commas or spaces; empty = no role), and
/// queues role sync for every linked customer in the same transaction. Returns how many.
#[server(prefix = "/rpc/admin", endpoint = "discord/tier-roles")]
pub async fn set_tier_roles(tier: String, roles: String) -> Result<usize, AppError> {
    let ctx = crate::auth::admin_context().await?;
    let Some(guild) = domain::role_sync::RoleGuild::from_config(&ctx.config) else {
        return crate::error::fail(AppError::invalid(
            "roles",
            "set CUSTOMER_GUILD_ID first: there is no customers' server",
        ));
    };
    let Ok(tier_id) = tier.parse::<i32>() else {
        return crate::error::fail(AppError::invalid("tier", "not a tier"));
    };
    let unavailable = |e| crate::error::unavailable("changing the tier roles", e);
    let (_, known) = server::guild_roles(&ctx.db, guild.guild_id)
        .await
        .map_err(unavailable)?;
    let mut ids = Vec::new();
    for raw in roles.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
        let Some(role) = known.iter().find(|r| r.id == raw) else {
            let why = if known.is_empty() {
                "no bot has reported the server's roles yet: start the bot (DISCORD_BOT_TOKEN), then try again"
                    .to_owned()
            } else {
                format!("{raw} is not a role of the customers' server")
            };
            return crate::error::fail(AppError::invalid("roles", why));
        };
        if !role.manageable {
            return crate::error::fail(AppError::invalid(
                "roles",
                format!("the bot cannot manage “{}”: {}", role.name, role.reason),
            ));
        }
        ids.push(
            raw.parse::<i64>()
                .map_err(|_| AppError::invalid("roles", "role ids are digits"))?,
        );
    }
    let txn = domain::database::begin_write(&ctx.db).await.map_err(unavailable)?;
    let queued = domain::role_sync::set_tier_roles(&txn, &guild, tier_id, &ids)
        .await
        .map_err(unavailable)?;
    txn.commit().await.map_err(unavailable)?;
    tracing::info!(tier = tier_id, roles = ?ids, queued, "tier roles changed");
    Ok(queued)
}

/// Queues role sync for every linked customer (repairs any drift: each job converges the
/// member's roles on the ledger). Returns how many.
#[server(prefix = "/rpc/admin", endpoint = "discord/resync")]
pub async fn resync_everyone() -> Result<usize, AppError> {
    let ctx = crate::auth::admin_context().await?;
    let Some(guild) = domain::role_sync::RoleGuild::from_config(&ctx.config) else {
        return crate::error::fail(AppError::invalid("guild", "set CUSTOMER_GUILD_ID first"));
    };
    domain::role_sync::sync_everyone(&ctx.db, &guild)
        .await
        .map_err(|e| crate::error::unavailable("queueing role sync", e))
}

/// One customer whose roles differ from the ledger, as the sweep found them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftRow {
    pub email: String,
    pub discord: String,
    pub gain: Vec<String>,
    pub lose: Vec<String>,
    pub note: String,
}

/// The newest role-drift sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftReport {
    pub id: i64,
    /// `queued`, `running`, `done`, `failed`.
    pub state: String,
    pub dry_run: bool,
    pub requested_by: String,
    pub created_at: String,
    pub finished_at: String,
    pub checked: i32,
    pub drifted: i32,
    pub error: String,
    pub rows: Vec<DriftRow>,
}

impl DriftReport {
    /// Still waiting for (or being worked on by) a bot.
    pub fn pending(&self) -> bool {
        matches!(self.state.as_str(), "queued" | "running")
    }
}

/// The newest role-drift report (none yet: `None`).
#[server(prefix = "/rpc/admin", endpoint = "discord/drift")]
pub async fn role_drift_report() -> Result<Option<DriftReport>, AppError> {
    let ctx = crate::auth::admin_context().await?;
    let Some(guild) = domain::role_sync::RoleGuild::from_config(&ctx.config) else {
        return Ok(None);
    };
    let unavailable = |e| crate::error::unavailable("reading the role-drift report", e);
    let Some(report) = domain::role_drift::latest(&ctx.db, guild.guild_id)
        .await
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    let (_, roles) = server::guild_roles(&ctx.db, guild.guild_id)
        .await
        .map_err(unavailable)?;
    let name = |id: &i64| {
        roles
            .iter()
            .find(|r| r.id == id.to_string())
            .map(|r| r.name.clone())
            .unwrap_or_else(|| format!("role {id}"))
    };
    let rows = domain::role_drift::entries(&report)
        .into_iter()
        .map(|e| DriftRow {
            email: e.email,
            discord: format!("{} ({})", e.discord_username, e.discord_user_id),
            gain: e.gain.iter().map(name).collect(),
            lose: e.lose.iter().map(name).collect(),
            note: e.note.unwrap_or_default(),
        })
        .collect();
    Ok(Some(DriftReport {
        id: report.id,
        state: report.state,
        dry_run: report.dry_run,
        requested_by: report.requested_by,
        created_at: report.created_at.to_rfc3339(),
        finished_at: report.finished_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        checked: report.checked,
        drifted: report.drifted,
        error: report.error.unwrap_or_default(),
        rows,
    }))
}

/// Queues a role-drift sweep: `mode` is `dry_run` (report only) or `repair` (also queue role
/// sync for everyone who drifted). Returns the report's id.
#[server(prefix = "/rpc/admin", endpoint = "discord/drift/check")]
pub async fn check_role_drift(mode: String) -> Result<i64, AppError> {
    let ctx = crate::auth::admin_context().await?;
    let admin = crate::auth::require_admin().await?;
    let Some(guild) = domain::role_sync::RoleGuild::from_config(&ctx.config) else {
        return crate::error::fail(AppError::invalid("mode", "set CUSTOMER_GUILD_ID first"));
    };
    let dry_run = match mode.as_str() {
        "dry_run" => true,
        "repair" => false,
        _ => return crate::error::fail(AppError::invalid("mode", "choose a dry run or a repair")),
    };
    let unavailable = |e| crate::error::unavailable("queueing the role-drift sweep", e);
    let txn = domain::database::begin_write(&ctx.db).await.map_err(unavailable)?;
    let id = domain::role_drift::request(&txn, &guild, dry_run, &admin.account.email)
        .await
        .map_err(unavailable)?;
    txn.commit().await.map_err(unavailable)?;
    tracing::info!(report = id, dry_run, "role-drift sweep requested");
    Ok(id)
}
